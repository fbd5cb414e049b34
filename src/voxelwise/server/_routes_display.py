"""Display settings of a layer (colormap, opacity, contrast limits, blending, gamma), kept in its
metadata (``params["display"]``) so every viewer opening the workspace shows it the same way."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from voxelwise.errors import LayerNotFoundError
from voxelwise.server._auth import Annotator
from voxelwise.server._errors import ApiError
from voxelwise.server._schemas import Finite, Name
from voxelwise.server._submit import ERRORS

__all__ = ["DisplayOut", "DisplaySettings", "router"]

router = APIRouter(prefix="/workspaces/{ws}/layers", tags=["layers"], responses=ERRORS)


class DisplaySettings(BaseModel):
    """The settings to change; a field set to null removes the stored value (the viewer's
    default applies again), a field left out keeps it."""

    model_config = ConfigDict(extra="forbid")

    colormap: (
        Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\- ]{0,63}$", examples=["magma"])]
        | None
    ) = None
    opacity: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    contrast_limits: Annotated[list[Finite], Field(min_length=2, max_length=2)] | None = None
    blending: (
        Literal["translucent", "translucent_no_depth", "additive", "minimum", "opaque"] | None
    ) = None
    gamma: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] | None = None

    @field_validator("contrast_limits")
    @classmethod
    def _ordered(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError(f"Expected contrast limits [low, high] with low < high, got {value}")
        return value


class DisplayOut(BaseModel):
    layer: str
    display: dict[str, Any] = Field(description="The layer's stored display settings")


@router.patch(
    "/{layer}/display",
    response_model=DisplayOut,
    summary="Store a layer's display settings (colormap, opacity, contrast limits, ...)",
)
def set_display(layer: Name, body: DisplaySettings, access: Annotator) -> dict[str, Any]:
    """Merged into the layer's ``params["display"]``; ``GET .../layers/{layer}`` returns them
    and the napari plugin applies them when it shows the layer. Label layers take their colours
    from their label set instead (422)."""
    from voxelwise.workspace import LABEL_KINDS

    ws = access.ws
    info = ws.layer(layer)  # 404 naming the layer when missing
    if info.kind in LABEL_KINDS:
        raise ApiError(
            422,
            f"Layer {layer!r} is a {info.kind} layer: its colours come from its label set "
            "(PATCH .../label-sets/... changes them)",
            type="InvalidLayerError",
        )
    changes = body.model_dump(exclude_unset=True)
    try:
        display = ws.update_display(layer, changes)
    except LayerNotFoundError as e:
        raise LayerNotFoundError(f"The layer {layer!r} was deleted meanwhile") from e
    return {"layer": layer, "display": display}
