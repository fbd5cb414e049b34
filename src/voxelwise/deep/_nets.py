"""Networks in plain PyTorch: residual 2D U-Net, anisotropic 3D U-Net, Guay hybrid 2D-3D net.

Every network takes ``(N, C, Y, X)`` (2D) or ``(N, C, Z, Y, X)`` (3D) float input (``C`` =
``in_channels``, default 1) of any spatial size (padded internally to a multiple of
:attr:`divisor` and cropped back) and returns class logits of the same spatial shape. Dropout is :class:`MCDropout`: off in ``eval()`` unless
:func:`set_mc_dropout` turns it on for Monte-Carlo sampling. :meth:`embed` returns the bottleneck
features, average-pooled to ``(N, C)`` (for k-means or core-set sampling).
"""

from __future__ import annotations

import abc
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "HybridNet",
    "MCDropout",
    "PluginNet",
    "UNet2D",
    "UNet3D",
    "build_network",
    "pools_for",
    "set_mc_dropout",
]

ARCHITECTURES = ("unet2d", "unet3d", "hybrid")


class MCDropout(nn.Module):
    """Dropout that can stay active in ``eval()`` mode (Monte-Carlo dropout)."""

    def __init__(self, p: float, *, ndim: int) -> None:
        super().__init__()
        self.p = float(p)
        self.ndim = ndim
        self.always_on = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0:
            return x
        active = self.training or self.always_on
        if self.ndim == 2:
            return F.dropout2d(x, self.p, training=active)
        return F.dropout3d(x, self.p, training=active)


def set_mc_dropout(net: nn.Module, on: bool = True) -> None:
    """Keep every :class:`MCDropout` of ``net`` active at inference (``on=True``) or not."""
    for m in net.modules():
        if isinstance(m, MCDropout):
            m.always_on = bool(on)


def _pad_to(x: torch.Tensor, divisor: tuple[int, ...]) -> tuple[torch.Tensor, list[int]]:
    sizes = x.shape[2:]
    pads: list[int] = []
    for s, d in zip(reversed(sizes), reversed(divisor)):
        extra = (-s) % d
        pads += [extra // 2, extra - extra // 2]
    if any(pads):
        mode = "reflect" if all(p < s for p, s in zip(pads[::2], reversed(sizes))) else "replicate"
        x = F.pad(x, pads, mode=mode)
    return x, pads


def _crop(x: torch.Tensor, pads: list[int]) -> torch.Tensor:
    if not any(pads):
        return x
    index: list[slice] = [slice(None), slice(None)]
    dims = x.shape[2:]
    for i, n in enumerate(dims):
        before, after = pads[2 * (len(dims) - 1 - i)], pads[2 * (len(dims) - 1 - i) + 1]
        index.append(slice(before, n - after))
    return x[tuple(index)]


class _Net(nn.Module, abc.ABC):
    """Shared padding, embedding and MC-dropout plumbing."""

    ndim: int = 2
    divisor: tuple[int, ...] = (1, 1)

    @abc.abstractmethod
    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Bottleneck features and the skip connections of the encoder."""

    @abc.abstractmethod
    def _decode(self, x: torch.Tensor, skips: list[torch.Tensor]) -> Any:
        """Logits (and any auxiliary output) from the bottleneck and the skips."""

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Main logits and the auxiliary logits (or None for nets without one)."""
        x, pads = _pad_to(x, self.divisor)
        bottom, skips = self._encode(x)
        main, aux = self._decode(bottom, skips)
        return _crop(main, pads), None if aux is None else _crop(aux, pads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[0]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Bottleneck features average-pooled over space: ``(N, C)``."""
        x, _ = _pad_to(x, self.divisor)
        bottom, _ = self._encode(x)
        return bottom.flatten(2).mean(-1)


# --------------------------------------------------------------------------- 2D residual U-Net
class _ResBlock2d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.short(x))


def _conv_bn(cin: int, cout: int, ndim: int, kernel: tuple[int, ...] | int = 3) -> nn.Sequential:
    conv = nn.Conv2d if ndim == 2 else nn.Conv3d
    bn = nn.BatchNorm2d if ndim == 2 else nn.BatchNorm3d
    k: Any = (kernel,) * ndim if isinstance(kernel, int) else kernel
    pad: Any = tuple(v // 2 for v in k)
    return nn.Sequential(conv(cin, cout, k, padding=pad, bias=False), bn(cout), nn.ReLU(True))


class UNet2D(_Net):
    """2D U-Net with a residual (ResNet basic-block) encoder.

    Parameters
    ----------
    classes : int
        Output channels (class logits).
    depth : int
        Number of downsamplings (encoder stages after the stem).
    width : int
        Channels of the first stage; doubled at each stage (capped at ``16 * width``).
    blocks : int
        Residual blocks per encoder stage.
    dropout : float
        Channel dropout at the bottleneck and in the decoder (see :class:`MCDropout`).
    in_channels : int
        Input channels (image layers given side by side).
    """

    ndim = 2

    def __init__(
        self,
        classes: int,
        *,
        depth: int = 4,
        width: int = 16,
        blocks: int = 2,
        dropout: float = 0.1,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        self.divisor = (2**depth, 2**depth)
        chans = [min(width * 2**i, width * 16) for i in range(depth + 1)]
        self.stem = _conv_bn(int(in_channels), chans[0], 2)
        self.stages = nn.ModuleList()
        for i in range(1, depth + 1):
            layers = [_ResBlock2d(chans[i - 1], chans[i], 2)]
            layers += [_ResBlock2d(chans[i], chans[i], 1) for _ in range(blocks - 1)]
            self.stages.append(nn.Sequential(*layers))
        self.drop = MCDropout(dropout, ndim=2)
        self.ups = nn.ModuleList()
        for i in range(depth, 0, -1):
            self.ups.append(
                nn.Sequential(
                    _conv_bn(chans[i] + chans[i - 1], chans[i - 1], 2),
                    _conv_bn(chans[i - 1], chans[i - 1], 2),
                )
            )
        self.head = nn.Conv2d(chans[0], classes, 1)

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.stem(x)
        skips = [x]
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        return self.drop(skips.pop()), skips

    def _decode(self, x: torch.Tensor, skips: list[torch.Tensor]) -> Any:
        for up, skip in zip(self.ups, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False)
            x = self.drop(up(torch.cat([x, skip], 1)))
        return self.head(x), None


# --------------------------------------------------------------------------- 3D U-Net
def pools_for(
    depth: int, spacing: Any = None, patch_size: Any = None
) -> list[tuple[int, int, int]]:
    """Pooling factors per level for a 3D U-Net, anisotropy-aware (as nnU-Net plans them).

    An axis is pooled by 2 at a level while its current voxel size is at most twice the finest
    one and the patch stays at least 4 voxels along it; e.g. 50 x 4.6 x 4.6 nm sections give
    ``(1, 2, 2)`` at every level of a 4-level net.
    """
    current = [1.0, 1.0, 1.0] if spacing is None else [float(s) for s in spacing]
    size = [math.inf] * 3 if patch_size is None else [float(s) for s in patch_size]
    pools = []
    for _ in range(depth):
        finest = min(current)
        level = tuple(2 if c <= 2 * finest and s / 2 >= 4 else 1 for c, s in zip(current, size))
        pools.append(level)
        current = [c * p for c, p in zip(current, level)]
        size = [s / p for s, p in zip(size, level)]
    return pools  # type: ignore[return-value]


class UNet3D(_Net):
    """3D U-Net with anisotropy-aware pooling (``pools``, e.g. ``(1, 2, 2)`` for thick sections).

    Parameters
    ----------
    classes : int
    pools : list of (int, int, int)
        Pooling factor per level; its length is the depth (see :func:`pools_for`).
    width : int
        Channels of the first level, doubled per level (capped at ``8 * width``).
    dropout : float
        Channel dropout at the bottleneck and in the decoder.
    in_channels : int
        Input channels (image layers given side by side).
    """

    ndim = 3

    def __init__(
        self,
        classes: int,
        *,
        pools: Any = ((1, 2, 2),) * 3,
        width: int = 8,
        dropout: float = 0.1,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        self.pools = [tuple(int(v) for v in p) for p in pools]
        self.divisor = tuple(math.prod(p[a] for p in self.pools) for a in range(3))
        depth = len(self.pools)
        chans = [min(width * 2**i, width * 8) for i in range(depth + 1)]
        self.downs = nn.ModuleList()
        cin = int(in_channels)
        for i in range(depth + 1):
            k = (1, 3, 3) if i < depth and self.pools[i][0] == 1 and i == 0 else 3
            self.downs.append(
                nn.Sequential(_conv_bn(cin, chans[i], 3, k), _conv_bn(chans[i], chans[i], 3))
            )
            cin = chans[i]
        self.drop = MCDropout(dropout, ndim=3)
        self.ups = nn.ModuleList(
            nn.Sequential(
                _conv_bn(chans[i] + chans[i - 1], chans[i - 1], 3),
                _conv_bn(chans[i - 1], chans[i - 1], 3),
            )
            for i in range(depth, 0, -1)
        )
        self.head = nn.Conv3d(chans[0], classes, 1)

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for i, down in enumerate(self.downs):
            x = down(x)
            if i < len(self.pools):
                skips.append(x)
                x = F.max_pool3d(x, self.pools[i])
        return self.drop(x), skips

    def _decode(self, x: torch.Tensor, skips: list[torch.Tensor]) -> Any:
        for up, skip in zip(self.ups, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[2:], mode="trilinear", align_corners=False)
            x = self.drop(up(torch.cat([x, skip], 1)))
        return self.head(x), None


# --------------------------------------------------------------------------- Guay hybrid 2D-3D
class _HybridBlock(nn.Module):
    """A 3x3x3 convolution at the start of the block, then 1x3x3 (in-plane) convolutions."""

    def __init__(self, cin: int, cout: int, convs: int = 2) -> None:
        super().__init__()
        layers = [_conv_bn(cin, cout, 3, 3)]
        layers += [_conv_bn(cout, cout, 3, (1, 3, 3)) for _ in range(convs - 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class HybridNet(_Net):
    """The hybrid 2D-3D network of Guay et al. (2021, Sci. Rep. 11:2561).

    A 2D encoder-decoder over a thin stack of sections (pooling 1 x 2 x 2, in-plane 1 x 3 x 3
    convolutions with a 3 x 3 x 3 convolution at the start of each block), an auxiliary 2D
    prediction from the decoder (used in the loss with weight ``aux_weight`` by the trainer),
    and a 3D spatial pyramid pooling head that mixes context across scales and sections.

    Parameters
    ----------
    classes : int
    depth : int
        Number of 1 x 2 x 2 poolings.
    width : int
        Channels of the first level, doubled per level (capped at ``8 * width``).
    dropout : float
    in_channels : int
        Input channels (image layers given side by side).
    """

    ndim = 3

    def __init__(
        self,
        classes: int,
        *,
        depth: int = 3,
        width: int = 16,
        dropout: float = 0.1,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        self.divisor = (1, 2**depth, 2**depth)
        chans = [min(width * 2**i, width * 8) for i in range(depth + 1)]
        self.downs = nn.ModuleList()
        cin = int(in_channels)
        for c in chans:
            self.downs.append(_HybridBlock(cin, c))
            cin = c
        self.drop = MCDropout(dropout, ndim=3)
        self.ups = nn.ModuleList(
            _HybridBlock(chans[i] + chans[i - 1], chans[i - 1]) for i in range(depth, 0, -1)
        )
        self.aux_head = nn.Conv3d(chans[0], classes, 1)
        c0 = chans[0]
        self.pyramid_scales = (1, 2, 4)
        self.pyramid = nn.ModuleList(
            nn.Sequential(nn.Conv3d(c0, c0 // 2, 1), nn.ReLU(True)) for _ in self.pyramid_scales
        )
        self.fuse = _conv_bn(c0 + len(self.pyramid_scales) * (c0 // 2), c0, 3, 3)
        self.head = nn.Conv3d(c0, classes, 1)

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for i, down in enumerate(self.downs):
            x = down(x)
            if i < len(self.downs) - 1:
                skips.append(x)
                x = F.max_pool3d(x, (1, 2, 2))
        return self.drop(x), skips

    def _decode(self, x: torch.Tensor, skips: list[torch.Tensor]) -> Any:
        for up, skip in zip(self.ups, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[2:], mode="trilinear", align_corners=False)
            x = self.drop(up(torch.cat([x, skip], 1)))
        aux = self.aux_head(x)
        size = x.shape[2:]
        branches = [x]
        for scale, conv in zip(self.pyramid_scales, self.pyramid):
            pooled = F.adaptive_avg_pool3d(
                x,
                (
                    max(1, size[0] // scale),
                    max(1, size[1] // (4 * scale)),
                    max(1, size[2] // (4 * scale)),
                ),
            )
            branches.append(
                F.interpolate(conv(pooled), size=size, mode="trilinear", align_corners=False)
            )
        return self.head(self.fuse(torch.cat(branches, 1))), aux


class PluginNet(_Net):
    """A plugin's network (see :mod:`voxelwise.deep._plugins`) with the plumbing of the built-in
    ones: padding to its ``divisor``, a check of the logits' shape, and ``embed``.

    Its state dict holds the plugin module's weights under ``inner.``; the model file stores
    the plugin's name and options, never its code.
    """

    def __init__(self, arch: str, classes: int, options: dict[str, Any] | None = None) -> None:
        super().__init__()
        from voxelwise.deep._plugins import divisor_of, network_ndim, network_plugin
        from voxelwise.plugins import PluginError, check_params

        info = network_plugin(arch)
        self.arch = arch
        self.classes = int(classes)
        self.ndim = network_ndim(arch)
        self.divisor = divisor_of(arch, info.obj, self.ndim)
        self.distribution = info.distribution
        params = check_params(info.schema or {}, dict(options or {}), plugin=arch)
        try:
            inner = info.obj(self.classes, **params)
        except Exception as e:  # a plugin's constructor may raise anything
            raise PluginError(
                f"The network plugin {arch!r} failed to build with options {params}: "
                f"{type(e).__name__}: {e}"
            ) from e
        if not isinstance(inner, nn.Module):
            raise PluginError(
                f"The network plugin {arch!r} returned {type(inner).__name__}; it must return a "
                "torch.nn.Module"
            )
        self.inner = inner

    def _call(self, what: str, func: Any, x: torch.Tensor) -> torch.Tensor:
        from voxelwise.plugins import PluginError

        try:
            out = func(x)
        except torch.cuda.OutOfMemoryError:
            raise  # the tiled predictor halves its batch on this
        except Exception as e:  # a plugin's forward may raise anything
            raise PluginError(
                f"The network plugin {self.arch!r} raised in {what} on input of shape "
                f"{tuple(x.shape)}: {type(e).__name__}: {e}"
            ) from e
        if not isinstance(out, torch.Tensor):
            raise PluginError(
                f"The network plugin {self.arch!r} returned {type(out).__name__} from {what}; "
                "it must return a torch.Tensor"
            )
        return out

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return x, []

    def _decode(self, x: torch.Tensor, skips: list[torch.Tensor]) -> Any:
        from voxelwise.plugins import PluginError

        out = self._call("forward", self.inner, x)
        want = (x.shape[0], self.classes, *x.shape[2:])
        if tuple(out.shape) != want:
            raise PluginError(
                f"The network plugin {self.arch!r} returned logits of shape {tuple(out.shape)} "
                f"for input of shape {tuple(x.shape)}; it must return (N, classes, *spatial) = "
                f"{want}"
            )
        return out, None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The plugin module's ``embed(x)``: ``(N, D)`` features."""
        from voxelwise.plugins import PluginError

        func = getattr(self.inner, "embed", None)
        if not callable(func):
            raise PluginError(
                f"The network plugin {self.arch!r} has no embed(x) method; strategies that use "
                "embeddings ('kmeans', 'coreset', 'hybrid') need one, choose another strategy "
                "such as 'entropy'"
            )
        x, _ = _pad_to(x, self.divisor)
        out = self._call("embed", func, x)
        if out.ndim != 2 or out.shape[0] != x.shape[0]:
            raise PluginError(
                f"The network plugin {self.arch!r} returned embeddings of shape "
                f"{tuple(out.shape)} for {x.shape[0]} inputs; embed(x) must return (N, D)"
            )
        return out


def build_network(arch: str, classes: int, options: dict[str, Any] | None = None) -> _Net:
    """Build a network by name from plain options: ``'unet2d'``, ``'unet3d'``, ``'hybrid'``, or
    a plugin network ``'package.name'`` (see :mod:`voxelwise.deep._plugins`).

    ``'unet2d'`` with an ``encoder`` option (``'resnet18'``, ``'resnet34'``) is a
    :class:`~voxelwise.deep._encoders.ResNetUNet` (randomly initialised; pretrained weights are
    loaded by the trainer and then live in the state dict)."""
    options = dict(options or {})
    if arch == "unet2d" and options.get("encoder") is not None:
        from voxelwise.deep._encoders import ResNetUNet

        allowed = {"encoder", "in_channels", "decoder_channels", "dropout"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ValueError(
                f"Unknown network options {unknown} for a U-Net with a ResNet encoder; valid "
                f"options are {sorted(allowed)}"
            )
        return ResNetUNet(classes, **options)
    if arch == "unet2d":
        options.pop("encoder", None)
        return UNet2D(classes, **options)
    if arch == "unet3d":
        return UNet3D(classes, **options)
    if arch == "hybrid":
        return HybridNet(classes, **options)
    if isinstance(arch, str) and "." in arch:
        return PluginNet(arch, classes, options)
    raise ValueError(
        f"Expected arch as one of {ARCHITECTURES} or a plugin network ('package.name'), got "
        f"{arch!r} instead"
    )
