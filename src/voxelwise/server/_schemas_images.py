"""Request and response models of the image-layer routes (multimodal workspaces)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from voxelwise.server._schemas import Name

__all__ = ["AddImageRequest", "Channels", "ImageLayerOut"]

Channels = Annotated[
    list[Name],
    Field(
        min_length=1,
        max_length=64,
        description="Image layers as input channels, in this order (e.g. ['raw', 'fluo'])",
        examples=[["raw", "fluo"]],
    ),
]


class AddImageRequest(BaseModel):
    """Another image (modality or channel) of the workspace's grid, from a volume file under
    the data root, added as a layer of kind ``"image"``."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="Name of the new image layer", examples=["fluo"])
    path: Annotated[str, Field(min_length=1, max_length=4096)] = Field(
        description="Path of the volume relative to the data root", examples=["sim/fluo.tif"]
    )
    key: Annotated[str, Field(max_length=256)] | None = Field(
        None, description="Dataset inside a container file (HDF5, Zarr)"
    )
    roi: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="Region 'z0:z1,y0:y1,x0:x1' of the file to take"
    )
    spacing: (
        Annotated[float, Field(gt=0, le=1e9)]
        | Annotated[list[Annotated[float, Field(gt=0, le=1e9)]], Field(min_length=3, max_length=3)]
        | None
    ) = Field(None, description="The image's voxel size (z, y, x); default from the file")
    resample: bool = Field(
        False,
        description="Resample an image of another voxel size onto the workspace's grid (its "
        "field of view must match to within one voxel per axis)",
    )
    order: Annotated[int, Field(ge=0, le=5)] = Field(
        1, description="Spline order of the resampling (0 nearest, 1 linear, 3 cubic)"
    )
    overwrite: bool = Field(False, description="Replace an existing image layer of that name")


class ImageLayerOut(BaseModel):
    """An image layer of a workspace (``raw`` or one added with POST .../images)."""

    name: str
    shape: list[int]
    dtype: str
    source: dict[str, Any] = {}
