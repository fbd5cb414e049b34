"""Moving the viewer to a place of the open workspace: centre the camera on a (z, y, x) voxel
position and show its slice. Shared by the Points, Objects and Active-learning tabs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["centre_on", "layer_scale"]


def layer_scale(viewer: Any, prefer: Sequence[str] = ("raw",)) -> tuple[float, float, float]:
    """The (z, y, x) voxel size of the first of ``prefer`` shown in the viewer (else 1, 1, 1)."""
    for name in prefer:
        if name and name in viewer.layers:
            scale = [float(s) for s in viewer.layers[name].scale[-3:]]
            if len(scale) == 3:
                return scale[0], scale[1], scale[2]
    return 1.0, 1.0, 1.0


def centre_on(
    viewer: Any, zyx: Sequence[float], *, prefer: Sequence[str] = ("raw",)
) -> tuple[float, float, float]:
    """Centre the camera on voxel position ``zyx`` and step the dims to its slice.

    Parameters
    ----------
    viewer : napari.Viewer
    zyx : (3,) floats
        A position in voxels of the workspace.
    prefer : names
        Layers whose scale turns voxels into world coordinates (the first one shown).

    Returns
    -------
    (3,) floats
        The world position the view is centred on.
    """
    if len(zyx) != 3:
        raise ValueError(f"Expected a (z, y, x) position, got {list(zyx)!r} instead")
    scale = layer_scale(viewer, prefer)
    world = (
        float(zyx[0]) * scale[0],
        float(zyx[1]) * scale[1],
        float(zyx[2]) * scale[2],
    )
    if viewer.dims.ndim >= 3:
        viewer.dims.set_point(range(viewer.dims.ndim - 3, viewer.dims.ndim), world)
    viewer.camera.center = world
    return world
