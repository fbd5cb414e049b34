"""Writing a campaign's answers: one patch's labels, or a whole label volume."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from voxelwise.active._labels import check_values, write_labels
from voxelwise.active._pool import Pool

if TYPE_CHECKING:
    from voxelwise.active._campaign import Campaign

__all__ = ["allowed_values", "write_patch", "write_volume"]


def allowed_values(c: Campaign) -> set[int] | range:
    if c.params.get("label_set"):
        return {lab.value for lab in c.ws.label_set(c.params["label_set"])}
    if c.params.get("classes"):
        return range(1, int(c.params["classes"]) + 1)
    return range(1, int(np.iinfo(np.dtype(c.ws.layer(c.labels_layer).dtype)).max) + 1)


def write_patch(c: Campaign, pool: Pool, index: int, values: np.ndarray, author: str | None) -> int:
    box = tuple(int(b - a) for a, b in zip(pool.starts([index])[0], pool.stops([index])[0]))
    full = tuple(pool.box_size)
    if values.shape in (tuple(pool.patch_size), full) and box != full:
        raise ValueError(
            f"Patch {index} is clipped to {box} by the volume's edge; give labels of that "
            "shape (z, y, x)"
        )
    if values.shape == tuple(pool.patch_size) or values.shape == box:
        values = values.reshape(box)
    else:
        raise ValueError(
            f"Expected labels of the patch's shape {tuple(pool.patch_size)} (or its box "
            f"{box}), got {values.shape} instead"
        )
    check_values(values, allowed_values(c))
    start = tuple(int(v) for v in pool.starts([index])[0])
    return write_labels(
        c.ws,
        c.labels_layer,
        values,
        offset=start,  # type: ignore[arg-type]
        author=author,
        params={"campaign": c.name, "patch": index},
    )


def write_volume(c: Campaign, labels: Any, author: str | None) -> int:
    import dask.array as da

    if isinstance(labels, str | os.PathLike):
        from voxelwise.io import open_volume

        labels = open_volume(labels).data
    arr = labels if isinstance(labels, da.Array) else da.asarray(labels)
    if tuple(arr.shape) != c.ws.shape:
        raise ValueError(
            f"Expected a label volume of the workspace's shape {c.ws.shape}, got "
            f"{tuple(arr.shape)} instead; for one patch pass patch=INDEX"
        )
    check_values(np.asarray(da.unique(arr).compute()), allowed_values(c))
    return write_labels(c.ws, c.labels_layer, arr, author=author, params={"campaign": c.name})
