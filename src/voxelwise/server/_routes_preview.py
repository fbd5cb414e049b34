"""A downsampled slice of a volume file under the data root, to choose the ROI and binning of a
new workspace on it (``GET /files/preview``)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from voxelwise.errors import RoiError, VoxelwiseError
from voxelwise.server._auth import CurrentUser, StateDep
from voxelwise.server._errors import ApiError
from voxelwise.server._paths import confine
from voxelwise.server._submit import ERRORS

__all__ = ["MAX_PREVIEW", "PreviewOut", "preview_plane", "router"]

router = APIRouter(tags=["files"], responses=ERRORS)

MAX_PREVIEW = 256
"""Largest side of a preview image, in pixels."""


class PreviewOut(BaseModel):
    path: str = Field(description="The file, relative to the data root")
    shape: list[int] = Field(description="(Z, Y, X) of the whole volume, before any ROI")
    dtype: str
    axis: Literal["z", "y", "x"]
    index: int = Field(description="The slice shown, along axis, in volume voxels")
    step: int = Field(description="Every step-th voxel of the slice is shown (downsampling)")
    image: list[list[float | None]] = Field(
        description="The downsampled slice, at most 256 x 256 values (rows first); NaN and "
        "infinities are null"
    )


def preview_plane(
    data: Any, *, axis: str = "z", index: int | None = None, size: int = MAX_PREVIEW
) -> tuple[np.ndarray, int, int]:
    """``(plane, index, step)``: slice ``index`` (default the middle one) of a lazy (Z, Y, X)
    array normal to ``axis``, keeping every ``step``-th voxel so no side exceeds ``size``.

    Only the chunks that hold that slice are read.

    Raises
    ------
    RoiError
        ``index`` lies outside the volume.
    """
    a = "zyx".index(axis)
    n = int(data.shape[a])
    if index is None:
        index = n // 2
    if not 0 <= index < n:
        raise RoiError(
            f"Expected a slice index from 0 to {n - 1} along {axis}, got {index}; leave index "
            "out for the middle slice"
        )
    rest = [int(s) for i, s in enumerate(data.shape) if i != a]
    step = max(1, math.ceil(max(rest) / size))
    box: list[Any] = [slice(None, None, step)] * 3
    box[a] = index
    plane = np.asarray(data[tuple(box)].compute() if hasattr(data, "compute") else data[tuple(box)])
    return plane, index, step


def _jsonable_plane(plane: np.ndarray) -> list[list[float | None]]:
    if plane.dtype.kind in "fc":
        values = plane.real.astype(np.float64)
        finite = np.isfinite(values)
        return [
            [float(v) if ok else None for v, ok in zip(row, oks)]
            for row, oks in zip(values.tolist(), finite.tolist())
        ]
    return plane.astype(np.float64).tolist()


@router.get(
    "/files/preview",
    response_model=PreviewOut,
    summary="A downsampled slice of a volume file (to choose a workspace's ROI and binning)",
)
def preview(
    user: CurrentUser,
    state: StateDep,
    path: Annotated[str, Query(min_length=1, max_length=4096, description="Relative to the root")],
    axis: Annotated[Literal["z", "y", "x"], Query(description="Normal of the slice")] = "z",
    index: Annotated[
        int | None, Query(ge=0, le=2**31, description="Slice number; default the middle one")
    ] = None,
    key: Annotated[
        str | None, Query(max_length=256, description="Dataset in HDF5/Zarr files")
    ] = None,
    size: Annotated[int, Query(ge=16, le=MAX_PREVIEW, description="Largest side")] = MAX_PREVIEW,
) -> dict[str, Any]:
    """The slice (default the middle one) of the file's full-resolution volume, every
    ``step``-th voxel, as a JSON array: only the chunks holding that slice are read."""
    from voxelwise.io import open_volume

    root = state.settings.data_root
    target = confine(root, path, what="image path", user=user.name, must_exist=True)
    try:
        volume = open_volume(target, key=key)
        plane, index, step = preview_plane(volume.data, axis=axis, index=index, size=size)
    except VoxelwiseError:
        raise
    except (OSError, ValueError, TypeError) as e:  # e.g. a folder or a file of another kind
        raise ApiError(
            422,
            f"Cannot preview {path!r}: {e}; choose a volume file (TIFF, HDF5, MRC, Zarr, NumPy)",
            type="FormatNotSupportedError",
        ) from e
    return {
        "path": target.relative_to(root.resolve()).as_posix(),
        "shape": [int(s) for s in volume.data.shape],
        "dtype": str(volume.data.dtype),
        "axis": axis,
        "index": int(index),
        "step": int(step),
        "image": _jsonable_plane(plane),
    }
