"""napari plugin of voxelwise (``pip install voxelwise[napari]``).

The plugin is declared in the npe2 manifest ``napari.yaml``: napari imports a module of this
package only when its contribution is used. It contributes

- a **reader** for workspaces (``*.vw`` folders, opened read-only and lazily), OME-Zarr, and
  every format of :mod:`voxelwise.io`; it returns None for paths it cannot open, so napari
  falls back to its normal "no reader" message;
- a **writer** of image and labels layers to the formats of :func:`voxelwise.io.write_volume`;
- **sample data**: the synthetic EM volume of :func:`voxelwise.data.synthetic_em`;
- the **voxelwise** dock widget: connect to a server (or start a local one on 127.0.0.1),
  create and open workspaces whose layers stream chunk by chunk, compute features and
  supervoxels, paint scribbles synced to the workspace as stroke edits, train and predict,
  measure and split objects, and follow jobs. Every request goes through
  :class:`voxelwise.client.Client`; long work runs in worker threads so the GUI never freezes.

The Qt-free parts (:class:`Session`, :class:`LocalServer`, the reader, writer and sample data)
import neither napari nor Qt and are usable and testable on their own.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "LocalServer",
    "Session",
    "VoxelwiseWidget",
    "get_reader",
    "make_sample_data",
    "write_image",
    "write_labels",
]

_WHERE = {
    "LocalServer": "_local",
    "Session": "_session",
    "VoxelwiseWidget": "_widget",
    "get_reader": "_reader",
    "make_sample_data": "_sample",
    "write_image": "_writer",
    "write_labels": "_writer",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"voxelwise.napari.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'voxelwise.napari' has no attribute {name!r}")
