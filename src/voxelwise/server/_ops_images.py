"""Image layers of multimodal workspaces: the ``add_image`` job operation, and the checks of
image layers named as input channels (``images=``) shared by the routes and the jobs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voxelwise.server._errors import hide_root
from voxelwise.server._ops_common import open_workspace
from voxelwise.server._paths import confine, relative_to_root
from voxelwise.server._tasks import JobContext

__all__ = ["add_image", "channel_source", "check_channels"]


def check_channels(ws: Any, images: Sequence[str]) -> list[str]:
    """The layers of ``images`` as a list, each checked as an input channel.

    Raises
    ------
    LayerNotFoundError
        A layer is missing (the message lists the workspace's layers).
    InvalidLayerError
        A layer is listed twice, or several are listed and one holds label values.
    """
    from voxelwise.workspace import InvalidLayerError

    layers = list(images)
    twice = sorted({n for n in layers if layers.count(n) > 1})
    if twice:
        raise InvalidLayerError(
            f"Image layer(s) {', '.join(map(repr, twice))} given twice in images={layers}; "
            "list each channel once"
        )
    for name in layers:
        info = ws.layer(name)
        if len(layers) > 1 and info.is_label:
            raise InvalidLayerError(
                f"Layer {name!r} in images={layers} is a {info.kind!r} layer of label values; "
                "input channels are image layers (raw, or those added with POST "
                ".../images), or feature layers"
            )
    return layers


def channel_source(ws: Any, layers: Sequence[str]) -> Any:
    """The image to train on or segment: one layer's zarr array, or several layers as a lazy
    (C, Z, Y, X) stack of channels (see :func:`voxelwise.deep.stack_channels`)."""
    from voxelwise.deep import stack_channels

    arrays = [ws.open_array(n, mode="r") for n in layers]
    return arrays[0] if len(arrays) == 1 else stack_channels(arrays, what="image layer")


def add_image(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.workspace import InvalidLayerError
    from voxelwise.workspace import add_image as _add

    ws = open_workspace(root, name)
    source = confine(root, p["path"], what="image path", user=ctx.owner, must_exist=True)
    try:
        info = _add(
            ws,
            p["name"],
            source,
            key=p.get("key"),
            roi=p.get("roi"),
            spacing=p.get("spacing"),
            resample=bool(p.get("resample", False)),
            order=int(p.get("order", 1)),
            overwrite=bool(p.get("overwrite", False)),
            scheduler=ctx.scheduler,
            progress=ctx.stage(0.0, 1.0, f"adding image {p['name']}"),
        )
    except InvalidLayerError as e:  # shape, voxel size or field of view: no server paths shown
        text = hide_root(hide_root(str(e), root.resolve()), root)
        raise InvalidLayerError(text) from e
    return {
        "layer": info.name,
        "path": relative_to_root(root, source),
        "shape": list(info.shape),
        "dtype": info.dtype,
        "resampled": bool(info.params.get("resampled")),
    }
