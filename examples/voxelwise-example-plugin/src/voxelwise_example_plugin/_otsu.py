"""A workflow step: a plugin step is one function of a workspace with typed keyword parameters.

``layers`` names the parameters that refer to layers it reads and ``outputs`` those naming the
layers it writes, so voxelwise checks a workflow's references before running it and replays it
in order. Inputs after the workspace (``overwrite``, ``progress``) are given by voxelwise.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np


def otsu_threshold(hist: np.ndarray, edges: np.ndarray) -> float:
    """The threshold maximising the between-class variance of a histogram."""
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m = np.cumsum(hist * centers)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu0 = m / w0
        mu1 = (m[-1] - m) / w1
        between = w0 * w1 * (mu0 - mu1) ** 2
    between = np.nan_to_num(between[:-1], nan=-1.0)
    return float(edges[int(np.argmax(between)) + 1])


def otsu(
    ws: Any,
    overwrite: bool,
    progress: Any,
    *,
    source: str = "raw",
    name: str = "foreground",
    bins: int = 256,
) -> list[str]:
    """Otsu threshold of a layer: a labels layer, 1 below the threshold and 2 above.

    Parameters
    ----------
    ws : Workspace
    overwrite : bool
        Replace an existing layer ``name`` (given by voxelwise).
    progress : callable or None
        ``progress(done, total)`` (given by voxelwise).
    source : str
        The layer to threshold.
    name : str
        The labels layer written.
    bins : int
        Histogram bins.

    Returns
    -------
    list of str
        The layers written.
    """
    if bins < 2:
        raise ValueError(f"Expected bins >= 2, got {bins!r} instead")
    image = ws.get(source)
    low, high = da.compute(image.min(), image.max())
    hist, edges = da.histogram(image, bins=bins, range=(float(low), float(high)))
    threshold = otsu_threshold(np.asarray(hist.compute(), dtype=np.float64), np.asarray(edges))
    labels = (image > threshold).astype(np.uint8) + 1
    ws.add_layer(
        name,
        labels,
        kind="labels",
        sources=source,
        params={"threshold": threshold},
        overwrite=overwrite,
        progress=progress,
    )
    return [name]


otsu.layers = ("source",)  # type: ignore[attr-defined]
otsu.outputs = ("name",)  # type: ignore[attr-defined]
