"""voxelwise: segment and measure large 3D microscopy volumes with little annotation.

Importing :mod:`voxelwise` is cheap: subpackages load on first attribute access, and the heavy
optional stacks (torch, Qt, napari, FastAPI) load only inside the functions that need them.

>>> import voxelwise as vw
>>> vol = vw.io.open_volume("stack.tif")          # doctest: +SKIP
>>> ws = vw.Workspace.create("cells.vw", "stack.tif")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_SUBPACKAGES = (
    "analysis",
    "annotate",
    "blockwise",
    "cli",
    "data",
    "errors",
    "filters",
    "io",
    "learn",
    "supervoxels",
    "workflows",
    "workspace",
)
_SHORTCUTS = {
    "open_volume": "voxelwise.io",
    "write_volume": "voxelwise.io",
    "Workspace": "voxelwise.workspace",
}

__all__ = [
    "Workspace",
    "__version__",
    "analysis",
    "annotate",
    "blockwise",
    "cli",
    "data",
    "errors",
    "filters",
    "io",
    "learn",
    "open_volume",
    "supervoxels",
    "workflows",
    "workspace",
    "write_volume",
]

if TYPE_CHECKING:  # pragma: no cover
    from voxelwise import (
        analysis,
        annotate,
        blockwise,
        cli,
        data,
        errors,
        filters,
        io,
        learn,
        supervoxels,
        workflows,
        workspace,
    )
    from voxelwise.io import open_volume, write_volume
    from voxelwise.workspace import Workspace


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"voxelwise.{name}")
    if name in _SHORTCUTS:
        return getattr(importlib.import_module(_SHORTCUTS[name]), name)
    raise AttributeError(f"module 'voxelwise' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
