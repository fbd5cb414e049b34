"""Parameters of the workflow job (``POST /workspaces/{ws}/workflow/run``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from voxelwise.server._schemas import Name

__all__ = [
    "ApplyModelOptions",
    "ApplyModelRequest",
    "Workflow",
    "WorkflowCheck",
    "WorkflowRunRequest",
]

Role = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")]
FilePath = Annotated[str, Field(min_length=1, max_length=1024)]
Workflow = Annotated[
    dict[str, Any] | Annotated[str, Field(max_length=1_000_000)],
    Field(description="The workflow: a mapping (as exported) or its YAML text"),
]


class WorkflowCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow: Workflow


class WorkflowRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow: Workflow
    inputs: Annotated[dict[Role, FilePath], Field(max_length=64)] = Field(
        default_factory=dict,
        description="Files under the data root for the workflow's input roles other than "
        "'image' (the workspace's raw layer), e.g. {'scribbles': 'new/scribbles.tif'}",
    )
    train: Literal["auto", "always", "never"] = Field(
        "auto",
        description="auto: train where the training inputs are given, else apply the "
        "recorded models; always; never",
    )
    overwrite: bool = False


class ApplyModelOptions(BaseModel):
    """Apply a registered model to a workspace (a job)."""

    model_config = ConfigDict(extra="forbid")

    registry: Name | None = Field(
        None, description="Workspace whose registry holds the model (default: this one)"
    )
    name: Name = Field("prediction", description="Output layer")
    image: Name = Field("raw", description="Deep models: the layer to segment")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    overwrite: bool = False


class ApplyModelRequest(ApplyModelOptions):
    model: Name = Field(description="Registered model name")
