"""Object classification networks in plain PyTorch, 2D or 3D.

Both take ``(N, C, Y, X)`` or ``(N, C, Z, Y, X)`` patches of any size (C = 2: image and object
mask), pool every axis that is still at least 2 voxels long (so thin anisotropic stacks keep
their few planes), average the last feature map into one vector per object (:meth:`embed`) and
map it to class logits.

- :class:`MinimalNet`: SVETLANA's minimalist network, three convolution blocks (16, 32, 64
  channels) with max pooling, for few labelled objects and fast CPU training.
- :class:`DeepNet`: a deeper residual network (four stages of two residual blocks, 32 to 256
  channels, as in a small ResNet-18), for many labelled objects or subtle classes.
"""

from __future__ import annotations

import abc
import itertools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ARCHITECTURES", "DeepNet", "MinimalNet", "build_object_net"]

ARCHITECTURES = ("minimal", "deep")


def _conv(ndim: int) -> type[nn.Module]:
    return nn.Conv2d if ndim == 2 else nn.Conv3d


def _norm(ndim: int) -> type[nn.Module]:
    return nn.BatchNorm2d if ndim == 2 else nn.BatchNorm3d


def _pool(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """Max-pool by 2 along every spatial axis still at least 2 long."""
    kernel = tuple(2 if s >= 2 else 1 for s in x.shape[2:])
    if all(k == 1 for k in kernel):
        return x
    if ndim == 2:
        return F.max_pool2d(x, kernel, kernel)
    return F.max_pool3d(x, kernel, kernel)


class _ObjectNet(nn.Module, abc.ABC):
    """Shared head: global average pooling, dropout, linear classifier on ``features`` inputs."""

    def __init__(
        self, ndim: int, in_channels: int, classes: int, width: int, dropout: float, features: int
    ) -> None:
        super().__init__()
        if ndim not in (2, 3):
            raise ValueError(f"Expected ndim 2 or 3, got {ndim!r} instead")
        self.ndim = ndim
        self.options = {
            "ndim": ndim,
            "in_channels": in_channels,
            "classes": classes,
            "width": width,
            "dropout": dropout,
        }
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(features, classes)

    @abc.abstractmethod
    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map, (N, features, ...)."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, F) features: the last feature map averaged over space."""
        return self._trunk(x).flatten(2).mean(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.embed(x)))


class MinimalNet(_ObjectNet):
    """Three conv-BN-ReLU-maxpool blocks (``width``, 2x, 4x channels) and a linear head."""

    def __init__(
        self,
        ndim: int = 2,
        in_channels: int = 2,
        classes: int = 2,
        *,
        width: int = 16,
        dropout: float = 0.25,
    ) -> None:
        super().__init__(ndim, in_channels, classes, width, dropout, 4 * width)
        conv, norm = _conv(ndim), _norm(ndim)
        chans = [in_channels, width, 2 * width, 4 * width]
        self.blocks = nn.ModuleList(
            nn.Sequential(conv(a, b, 3, padding=1, bias=False), norm(b), nn.ReLU(inplace=True))
            for a, b in itertools.pairwise(chans)
        )

    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = _pool(block(x), self.ndim)
        return x


class _Residual(nn.Module):
    def __init__(self, ndim: int, cin: int, cout: int) -> None:
        super().__init__()
        conv, norm = _conv(ndim), _norm(ndim)
        self.body = nn.Sequential(
            conv(cin, cout, 3, padding=1, bias=False),
            norm(cout),
            nn.ReLU(inplace=True),
            conv(cout, cout, 3, padding=1, bias=False),
            norm(cout),
        )
        self.skip = (
            nn.Identity()
            if cin == cout
            else nn.Sequential(conv(cin, cout, 1, bias=False), norm(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.skip(x))


class DeepNet(_ObjectNet):
    """A stem and four stages of two residual blocks (``width`` to 8x channels)."""

    def __init__(
        self,
        ndim: int = 2,
        in_channels: int = 2,
        classes: int = 2,
        *,
        width: int = 32,
        dropout: float = 0.25,
    ) -> None:
        super().__init__(ndim, in_channels, classes, width, dropout, 8 * width)
        conv, norm = _conv(ndim), _norm(ndim)
        self.stem = nn.Sequential(
            conv(in_channels, width, 3, padding=1, bias=False), norm(width), nn.ReLU(inplace=True)
        )
        widths = [width, 2 * width, 4 * width, 8 * width]
        stages = []
        cin = width
        for w in widths:
            stages.append(nn.Sequential(_Residual(ndim, cin, w), _Residual(ndim, w, w)))
            cin = w
        self.stages = nn.ModuleList(stages)

    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for i, stage in enumerate(self.stages):
            if i:
                x = _pool(x, self.ndim)
            x = stage(x)
        return x


def build_object_net(arch: str, options: dict[str, Any]) -> _ObjectNet:
    """A network by name (``"minimal"`` or ``"deep"``) with its stored options."""
    opts = dict(options)
    ndim, cin, classes = (
        int(opts.pop("ndim")),
        int(opts.pop("in_channels")),
        int(opts.pop("classes")),
    )
    if arch == "minimal":
        return MinimalNet(ndim, cin, classes, **opts)
    if arch == "deep":
        return DeepNet(ndim, cin, classes, **opts)
    raise ValueError(f"Expected arch as one of {', '.join(ARCHITECTURES)}, got {arch!r} instead")
