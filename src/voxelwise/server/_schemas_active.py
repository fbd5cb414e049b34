"""Request and answer bodies of the active-learning routes (and the parameters of their jobs:
``active_propose`` is :class:`ProposeJobRequest`, ``active_update`` :class:`UpdateJobRequest`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from voxelwise.server._schemas import Name

__all__ = [
    "CAMPAIGN_PATTERN",
    "CampaignCreate",
    "LabelsSubmit",
    "ProposalOut",
    "ProposeJobRequest",
    "ProposeOut",
    "ProposeRequest",
    "UpdateJobRequest",
    "UpdateRequest",
]

CAMPAIGN_PATTERN = r"^[A-Za-z0-9_.\-]{1,100}$"
Size = Annotated[int, Field(ge=1, le=4096)]
Count = Annotated[int, Field(ge=1, le=1_000_000)]
Steps = Annotated[int, Field(ge=1, le=1_000_000)]
Strategy = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="random, entropy, least_confidence, margin, bald, kmeans, coreset, hybrid, "
        "or a plugin strategy's 'package.name'",
        examples=["entropy"],
    ),
]

StrategyParams = Annotated[
    dict[str, Any],
    Field(
        max_length=64,
        description="Keyword parameters of a plugin strategy (its schema: GET "
        "/registry/plugins); built-in strategies take none",
        examples=[{"weight": 0.3}],
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CampaignCreate(_Body):
    name: Annotated[str, Field(pattern=CAMPAIGN_PATTERN, examples=["mito"])]
    image: Name = "raw"
    labels: Name | None = Field(
        None, description="Annotation layer receiving the answers (default '<name>_labels')"
    )
    label_set: Name | None = None
    classes: Annotated[int, Field(ge=1, le=255)] | None = None
    model: Name | None = Field(
        None, description="A deep model of this workspace to start from (POST .../deep/train)"
    )
    config: dict[str, Any] | None = Field(None, description="Training settings (TrainConfig)")
    strategy: Strategy = "entropy"
    strategy_params: StrategyParams | None = None
    patch_size: Annotated[list[Size], Field(min_length=2, max_length=3)] = [128, 128]
    axis: Literal["z", "y", "x", "3d"] = "z"
    stride: Annotated[list[Size], Field(min_length=2, max_length=3)] | None = None
    roi: Annotated[str, Field(max_length=200)] | None = None
    steps: Steps = 100
    initial_steps: Steps = 300
    mc_samples: Annotated[int, Field(ge=2, le=256)] = 8
    candidates: Count | None = None
    max_overlap: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.5
    plane_gap: Annotated[int, Field(ge=0, le=100_000)] = 1
    val_fraction: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.0
    budget: Count | None = None
    patience: Annotated[int, Field(ge=1, le=10_000)] | None = None
    min_delta: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.005
    metric: Annotated[str, Field(min_length=1, max_length=64)] = "val_miou"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    rng: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    overwrite: bool = False


class ProposeRequest(_Body):
    k: Annotated[int, Field(ge=1, le=10_000)] = Field(8, description="Patches wanted")
    strategy: Strategy | None = Field(None, description="Default: the campaign's strategy")
    strategy_params: StrategyParams | None = Field(
        None, description="Default: the campaign's, when the strategy is the campaign's"
    )
    preview: bool = Field(True, description="A PNG (base64) of each patch and its prediction")


class ProposeJobRequest(ProposeRequest):
    campaign: Annotated[str, Field(pattern=CAMPAIGN_PATTERN)]
    preview: bool = False


class ProposalOut(BaseModel):
    index: int = Field(description="The patch's index in the campaign's pool (its id)")
    round: int
    rank: int
    strategy: str
    score: float | None
    axis: str | None
    start: list[int] = Field(description="(z, y, x) start of the patch")
    stop: list[int] = Field(description="(z, y, x) stop of the patch (half-open)")
    roi: str
    preview: str | None = None


class ProposeOut(BaseModel):
    campaign: str
    asked: int
    proposals: list[ProposalOut]
    note: str = Field("", description="Set when fewer candidates than asked were left")
    stop: bool = Field(description="Whether a stopping rule (budget, plateau) holds")
    stop_reason: str


class LabelsSubmit(_Body):
    patch: Annotated[int, Field(ge=0, le=2**62)] | None = Field(
        None, description="The patch answered (a proposal's index; any pool patch is accepted)"
    )
    labels: list[Any] | None = Field(
        None,
        description="With patch: the patch's labels as nested lists of its shape (0 = no answer, "
        "class c as c + 1)",
    )
    layer: Name | None = Field(
        None,
        description="Take the answers from this label layer of the workspace (with patch: only "
        "that patch's region)",
    )


class UpdateRequest(_Body):
    steps: Steps | None = Field(None, description="Default: the campaign's steps")
    max_minutes: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)] | None = None


class UpdateJobRequest(UpdateRequest):
    campaign: Annotated[str, Field(pattern=CAMPAIGN_PATTERN)]
