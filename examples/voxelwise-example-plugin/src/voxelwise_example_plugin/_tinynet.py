"""A tiny 3D network: a plugin network is a factory of a torch module plus its ``ndim``.

voxelwise calls ``TinyNet(classes, width=..., in_channels=...)`` and trains, saves (the name
``voxelwise_example_plugin.tinynet``, the options and the weights, never this code), loads and
predicts with it like its own networks. ``ndim = 3``: it takes ``(N, C, Z, Y, X)`` patches;
``divisor``: the input is padded to a multiple of it (one in-plane pooling);
``embed(x)`` gives features for the diversity strategies of active learning.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TinyNet(nn.Module):
    """Two-level 3D encoder-decoder with in-plane pooling (a few thousand weights).

    Parameters
    ----------
    classes : int
        Output channels (class logits).
    width : int
        Channels of the first level (doubled at the second).
    in_channels : int
        Input channels (image layers given side by side).
    """

    ndim = 3
    divisor = (1, 2, 2)
    patch_size = (4, 32, 32)

    def __init__(self, classes: int, *, width: int = 8, in_channels: int = 1) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"Expected width >= 1, got {width!r} instead")
        self.down = nn.Sequential(
            nn.Conv3d(in_channels, width, 3, padding=1), nn.BatchNorm3d(width), nn.ReLU()
        )
        self.bottom = nn.Sequential(
            nn.Conv3d(width, 2 * width, 3, padding=1), nn.BatchNorm3d(2 * width), nn.ReLU()
        )
        self.up = nn.Sequential(
            nn.Conv3d(3 * width, width, 3, padding=1), nn.BatchNorm3d(width), nn.ReLU()
        )
        self.head = nn.Conv3d(width, classes, 1)

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.down(x)
        return self.bottom(F.max_pool3d(skip, (1, 2, 2))), skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bottom, skip = self._encode(x)
        up = F.interpolate(bottom, size=skip.shape[2:], mode="trilinear", align_corners=False)
        return self.head(self.up(torch.cat([up, skip], 1)))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Bottleneck features averaged over space: ``(N, 2 * width)``."""
        return self._encode(x)[0].flatten(2).mean(-1)
