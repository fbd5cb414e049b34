"""Errors specific to the dataset registry and downloads."""

from __future__ import annotations

from voxelwise.errors import VoxelwiseError

__all__ = ["DownloadError", "UnknownDatasetError"]


class UnknownDatasetError(VoxelwiseError, ValueError):
    """No dataset of that name is in the registry (the message lists the known names)."""


class DownloadError(VoxelwiseError, OSError):
    """A dataset file could not be downloaded (network, HTTP error, or server unreachable)."""
