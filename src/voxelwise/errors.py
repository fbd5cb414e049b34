"""Exceptions and warnings raised by voxelwise.

Every exception voxelwise raises on purpose derives from :class:`VoxelwiseError`, and also from
the builtin exception a Python user would expect (``FileNotFoundError``, ``ValueError``, ...), so
``except ValueError`` keeps working while front-ends can map the whole family at once (the CLI
prints one line and exits with 2; the server maps each class to an HTTP status).

Messages say what is wrong and how to fix it: "Expected ..., got ... instead; use ...".
"""

from __future__ import annotations

__all__ = [
    "CancelledError",
    "ChunkingError",
    "CorruptFileError",
    "FormatNotSupportedError",
    "InvalidVolumeError",
    "KeyRequiredError",
    "LayerExistsError",
    "LayerNotFoundError",
    "NotAVolumeFileError",
    "OutputExistsError",
    "RoiError",
    "VoxelwiseError",
    "VoxelwiseWarning",
    "WorkspaceError",
    "WorkspaceExistsError",
    "WorkspaceNotFoundError",
]


class VoxelwiseError(Exception):
    """Root of every error voxelwise raises on purpose."""


class VoxelwiseWarning(UserWarning):
    """Root of every warning voxelwise emits (tests turn these into errors)."""


class NotAVolumeFileError(VoxelwiseError, FileNotFoundError):
    """A path that should hold a volume does not exist."""


class OutputExistsError(VoxelwiseError, FileExistsError):
    """An output file or folder exists already (pass ``overwrite=True`` to replace it)."""


class FormatNotSupportedError(VoxelwiseError, ValueError):
    """The file's format is not one voxelwise reads or writes."""


class CorruptFileError(VoxelwiseError, OSError):
    """A file exists and claims a supported format but cannot be decoded (truncated, damaged)."""


class KeyRequiredError(VoxelwiseError, KeyError):
    """A container (HDF5, Zarr) holds several arrays and none was chosen.

    ``keys`` lists the choices.
    """

    def __init__(self, message: str, keys: list[str] | None = None) -> None:
        super().__init__(message)
        self.keys = list(keys or [])

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class InvalidVolumeError(VoxelwiseError, ValueError):
    """The data is not a 3D grayscale volume (wrong dimensionality, channels, zero size, dtype)."""


class RoiError(VoxelwiseError, ValueError):
    """A region of interest is malformed, empty or outside the volume."""


class ChunkingError(VoxelwiseError, ValueError):
    """Chunks are malformed or too small for the requested halo."""


class WorkspaceError(VoxelwiseError):
    """Base class for workspace problems."""


class WorkspaceNotFoundError(WorkspaceError, FileNotFoundError):
    """The folder is not a voxelwise workspace."""


class WorkspaceExistsError(WorkspaceError, FileExistsError):
    """A workspace already exists where a new one was asked for (use ``overwrite=True``)."""


class LayerNotFoundError(WorkspaceError, KeyError):
    """No layer of that name in the workspace."""

    def __str__(self) -> str:
        return str(self.args[0])


class LayerExistsError(WorkspaceError, FileExistsError):
    """A layer of that name exists already (use ``overwrite=True`` to replace it)."""


class CancelledError(VoxelwiseError):
    """Long work was cancelled by its progress callback; nothing half-written is left visible."""
