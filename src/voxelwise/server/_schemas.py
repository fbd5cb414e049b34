"""Request and response models of the REST API (the OpenAPI document is generated from these)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AnnotationLayerCreate",
    "Coordinate",
    "EditOut",
    "ErrorOut",
    "FileEntry",
    "FilesOut",
    "FillRequest",
    "HealthOut",
    "InterpolateRequest",
    "JobLogOut",
    "JobOut",
    "LabelCreate",
    "LabelOut",
    "LabelUpdate",
    "LayerName",
    "LayerOut",
    "MemberOut",
    "MemberSet",
    "Name",
    "ResubmitRequest",
    "StrokeRequest",
    "TokenOut",
    "UserCreate",
    "UserOut",
    "WorkspaceCreate",
    "WorkspaceInfo",
    "WorkspaceSummary",
]

NAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,128}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=128, examples=["membranes"])]
LayerName = Name
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-1e9, le=1e9)]
Coordinate = Annotated[list[Finite], Field(min_length=3, max_length=3)]
Radius = Annotated[float, Field(ge=0, le=512, allow_inf_nan=False)]
Int3 = Annotated[list[Annotated[int, Field(ge=1, le=65536)]], Field(min_length=3, max_length=3)]
Color = Annotated[
    str | list[Annotated[float, Field(ge=0, le=255, allow_inf_nan=False)]],
    Field(examples=["#ff8800"]),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    """Every error answer: what is wrong and how to fix it."""

    detail: str
    type: str | None = None
    errors: list[dict[str, Any]] | None = None


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str


class UserOut(BaseModel):
    name: str
    admin: bool
    disabled: bool = False
    created: str | None = None
    roles: dict[str, str] = {}
    tokens: list[dict[str, str]] = []


class UserCreate(_In):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")]
    admin: bool = False


class TokenOut(BaseModel):
    user: str
    token: str = Field(description="The API token; shown once, only its hash is stored")


class FileEntry(BaseModel):
    name: str
    path: str = Field(description="Relative to the data root")
    type: Literal["file", "dir"]
    size: int | None = None


class FilesOut(BaseModel):
    path: str
    entries: list[FileEntry]


class WorkspaceCreate(_In):
    """A new workspace from a volume file under the data root."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-.]{0,127}$")]
    image: Annotated[str, Field(min_length=1, max_length=4096)] = Field(
        description="Path of the volume relative to the data root", examples=["vnc/stack.tif"]
    )
    roi: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="Region 'z0:z1,y0:y1,x0:x1' of the image to keep"
    )
    bin: (
        Annotated[int, Field(ge=1, le=64)]
        | Annotated[list[Annotated[int, Field(ge=1, le=64)]], Field(min_length=3, max_length=3)]
    ) = 1
    key: Annotated[str, Field(max_length=256)] | None = None
    spacing: (
        Annotated[float, Field(gt=0, le=1e9)]
        | Annotated[list[Annotated[float, Field(gt=0, le=1e9)]], Field(min_length=3, max_length=3)]
        | None
    ) = None
    unit: Annotated[str, Field(max_length=32)] | None = None
    chunks: Int3 | None = None
    overwrite: bool = False


class WorkspaceSummary(BaseModel):
    name: str
    shape: list[int]
    dtype: str
    role: str | None


class WorkspaceInfo(BaseModel):
    name: str
    title: str
    shape: list[int]
    dtype: str
    spacing: list[float]
    unit: str | None
    chunks: list[int]
    created: str | None
    software_version: str | None
    source: dict[str, Any] | None
    layers: dict[str, dict[str, Any]]
    label_sets: dict[str, int]
    runs: int
    role: str | None


class MemberOut(BaseModel):
    user: str
    role: Literal["viewer", "annotator", "owner"]


class MemberSet(_In):
    role: Literal["viewer", "annotator", "owner"]


class LevelOut(BaseModel):
    shape: list[int]
    chunks: list[int]
    spacing: list[float]


class LayerOut(BaseModel):
    name: str
    kind: str
    dtype: str
    shape: list[int]
    chunks: list[int]
    levels: list[LevelOut]
    version: str = Field(description="Changes whenever the layer is replaced")
    sources: list[str]
    params: dict[str, Any]
    label_set: str | None
    created: str
    stats: dict[str, Any] | None


class ExportRequest(_In):
    path: Annotated[str, Field(min_length=1, max_length=1024)] = Field(
        description="Output path relative to the data root's exports/ folder; the format follows "
        "the suffix (.tif, .h5, .mrc, .zarr, .ome.zarr, .npy)",
        examples=["cells/membranes.tif"],
    )
    level: Annotated[int, Field(ge=0, le=32)] = 0
    overwrite: bool = False


class LabelOut(BaseModel):
    label_set: str
    name: str
    value: int
    color: list[int]
    parent: str | None


class LabelCreate(_In):
    name: Name
    value: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    color: Color | None = None
    parent: Name | None = None


class LabelUpdate(_In):
    name: Name | None = None
    color: Color | None = None
    parent: Name | None = Field(
        None, description="New parent; send null explicitly to make the label a root"
    )


class AnnotationLayerCreate(_In):
    name: Name
    label_set: Name | None = None
    dtype: Literal["uint8", "uint16", "uint32", "uint64", "int32", "int64"] | None = None
    chunks: Int3 | None = None
    overwrite: bool = False


class StrokeRequest(_In):
    """One brush stroke: points joined by a swept disc (``plane``) or ball (no plane)."""

    tool: Literal["paint", "erase", "supervoxels"] = "paint"
    label: Name | Annotated[int, Field(ge=0, le=2**31 - 1)] | None = Field(
        None, description="Label name or value (required to paint; erase: only this label)"
    )
    points: Annotated[list[Coordinate], Field(min_length=1, max_length=4096)]
    radius: Radius | Annotated[list[Radius], Field(min_length=3, max_length=3)] = 1.0
    plane: Literal["z", "y", "x"] | None = None
    overwrite: bool = True
    parent_layer: Name | None = None
    supervoxels: Name | None = Field(None, description="Supervoxel layer (tool 'supervoxels')")


class FillRequest(_In):
    label: Name | Annotated[int, Field(ge=0, le=2**31 - 1)]
    seed: Coordinate
    plane: Literal["z", "y", "x"] = "z"
    source: Name | None = None
    connectivity: Literal[1, 2] = 1
    overwrite: bool = True
    parent_layer: Name | None = None


class InterpolateRequest(_In):
    label: Name | Annotated[int, Field(ge=0, le=2**31 - 1)]
    start: Annotated[int, Field(ge=0, le=2**31 - 1)]
    stop: Annotated[int, Field(ge=0, le=2**31 - 1)]
    plane: Literal["z", "y", "x"] = "z"
    overwrite: bool = False
    parent_layer: Name | None = None


class EditOut(BaseModel):
    id: int | None
    layer: str
    kind: str
    label: str | None
    value: int | None
    bbox: list[list[int]] | None
    voxels: int
    time: str
    author: str | None
    target: int | None = None
    applied: bool = True
    params: dict[str, Any] = {}


class JobOut(BaseModel):
    id: str
    workspace: str | None
    kind: str
    state: Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
    progress: float
    message: str
    params: dict[str, Any]
    owner: str
    gpu: bool
    created: str
    started: str | None
    updated: str
    finished: str | None
    result: dict[str, Any] | None
    error: str | None
    cancel_requested: bool
    attempt: int
    worker: str | None
    resubmitted_from: str | None


class JobLogOut(BaseModel):
    id: int
    time: str
    level: str
    message: str


class ResubmitRequest(_In):
    params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters to change, e.g. {'overwrite': true}"
    )
