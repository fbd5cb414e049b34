"""The plugin's reader: workspaces (``*.vw``), OME-Zarr and every format of :mod:`voxelwise.io`.

Everything is opened lazily: layers are dask arrays read chunk by chunk when napari draws them.
A path the reader cannot open gives None, so napari shows its usual "no reader" message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voxelwise.napari._session import LABEL_KINDS, image_display

__all__ = ["get_reader", "read_volume", "read_workspace"]

LayerData = tuple[Any, dict[str, Any], str]
ReaderFunction = Callable[[Any], list[LayerData]]


def _single(path: Any) -> str | None:
    if isinstance(path, list | tuple):
        if len(path) != 1:
            return None
        path = path[0]
    if not isinstance(path, str | os.PathLike):
        return None
    return os.fspath(path)


def _is_workspace(path: Path) -> bool:
    return path.is_dir() and (path.suffix == ".vw" or (path / "catalog.sqlite").is_file())


def get_reader(path: Any) -> ReaderFunction | None:
    """The reader for ``path`` (a napari ``get_reader`` hook), or None if it cannot be opened.

    Opening reads headers only: the check costs milliseconds, never the whole volume.
    """
    one = _single(path)
    if one is None:
        return None
    p = Path(one)
    if p.suffix == ".vw" or _is_workspace(p):
        try:
            from voxelwise.workspace import Workspace

            Workspace.open(p)
        except Exception:
            return None
        return read_workspace
    try:
        from voxelwise.io import open_volume

        open_volume(p)
    except Exception:
        return None
    return read_volume


def read_workspace(path: Any) -> list[LayerData]:
    """Every layer of a workspace folder: the raw image as a multiscale pyramid first."""
    from voxelwise.workspace import Workspace

    one = _single(path)
    if one is None:
        raise ValueError(f"Expected one workspace folder, got {path!r}")
    from voxelwise.workspace import image_layers

    ws = Workspace.open(one)
    images = image_layers(ws)
    out: list[LayerData] = []
    for name, info in ws.layers.items():
        levels = [ws.get(name, level=i) for i in range(info.levels)]
        scale = list(ws.level_spacing(name, 0))
        kwargs: dict[str, Any] = {
            "name": name,
            "scale": scale,
            "visible": info.kind in ("image", "annotation"),
            "metadata": {"voxelwise": {"layer": name, "kind": info.kind, "workspace": one}},
        }
        kind = "labels" if info.kind in LABEL_KINDS else "image"
        if kind == "image" and info.stats:
            pct = info.stats.get("percentiles") or {}
            low = pct.get("0.1", info.stats.get("min"))
            high = pct.get("99.9", info.stats.get("max"))
            if low is not None and high is not None and float(high) > float(low):
                kwargs["contrast_limits"] = [float(low), float(high)]
        if info.kind == "image":  # modalities and channels: each its own colormap
            kwargs.update(image_display({"params": info.params}, images.index(name)))
        if kind == "labels" and info.label_set:
            colors = {
                lab.value: tuple(c / 255.0 for c in lab.color)
                for lab in ws.label_set(info.label_set)
            }
            kwargs["colormap"] = {**colors, None: (0.0, 0.0, 0.0, 0.0)}
        data: Any = levels if len(levels) > 1 else levels[0]
        if len(levels) > 1:
            kwargs["multiscale"] = True
        out.append((data, kwargs, kind))
    return out


def read_volume(path: Any) -> list[LayerData]:
    """A volume file as one image layer (all pyramid levels of an OME-Zarr or pyramidal TIFF)."""
    from voxelwise.io import open_volume

    one = _single(path)
    if one is None:
        raise ValueError(f"Expected one file or folder, got {path!r}")
    first = open_volume(one)
    levels = [first.data] + [open_volume(one, level=i).data for i in range(1, first.levels)]
    kwargs: dict[str, Any] = {"name": Path(one).name.removesuffix(".zarr").removesuffix(".ome")}
    if first.spacing is not None:
        kwargs["scale"] = list(first.spacing)
    if len(levels) > 1:
        kwargs["multiscale"] = True
        return [(levels, kwargs, "image")]
    return [(levels[0], kwargs, "image")]
