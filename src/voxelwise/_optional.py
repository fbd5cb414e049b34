"""Import optional dependencies lazily, with an install hint when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from voxelwise.errors import VoxelwiseError

__all__ = ["MissingDependencyError", "optional_import"]

_EXTRA_OF = {
    "distributed": "distributed",
    "torch": "deep",
    "fastapi": "server",
    "uvicorn": "server",
    "httpx": "server",
    "napari": "napari",
    "pyarrow": "parquet",
}


class MissingDependencyError(VoxelwiseError, ImportError):
    """An optional dependency needed for this feature is not installed."""


def optional_import(name: str, *, feature: str | None = None) -> ModuleType:
    """Import module ``name`` or raise :class:`MissingDependencyError` with an install hint.

    Parameters
    ----------
    name : str
        Module to import, e.g. ``"distributed"``.
    feature : str, optional
        What the user was trying to do, used in the message.
    """
    try:
        return importlib.import_module(name)
    except ImportError as e:
        top = name.split(".")[0]
        extra = _EXTRA_OF.get(top)
        hint = (
            f"pip install -c constraints.txt 'voxelwise[{extra}]'"
            if extra
            else f"pip install {top}"
        )
        what = f" for {feature}" if feature else ""
        raise MissingDependencyError(
            f"The optional dependency {top!r} is needed{what} but is not installed; "
            f"install it with: {hint}"
        ) from e
