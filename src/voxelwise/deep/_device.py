"""Device choice: 'auto' picks CUDA when present; CUDA asked for where none exists falls back."""

from __future__ import annotations

import warnings

import torch

from voxelwise.errors import VoxelwiseWarning

__all__ = ["parse_device"]


def parse_device(device: str | torch.device = "auto") -> torch.device:
    """Return a torch device for ``'auto'``, ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.

    CUDA requested where none is available gives the CPU and a :class:`VoxelwiseWarning`.
    """
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            warnings.warn(
                f"device={name!r} was requested but no CUDA GPU is available; running on the "
                "CPU instead (use device='cpu' or 'auto' to silence this)",
                VoxelwiseWarning,
                stacklevel=3,
            )
            return torch.device("cpu")
        return torch.device(name)
    raise ValueError(f"Expected device as 'auto', 'cpu' or 'cuda[:N]', got {device!r} instead")
