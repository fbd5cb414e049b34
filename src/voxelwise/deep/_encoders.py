"""ResNet encoders (optionally ImageNet-pretrained) under a 2D U-Net decoder, in plain PyTorch.

:class:`ResNetUNet` is a U-Net whose encoder is a ResNet-18 or ResNet-34 with the module names of
torchvision and timm (``conv1``, ``bn1``, ``layer1`` .. ``layer4`` of basic blocks with ``conv1``,
``bn1``, ``conv2``, ``bn2`` and ``downsample.0`` / ``downsample.1``), so their checkpoints load
as they are. The decoder follows segmentation-models-pytorch's U-Net (decoder channels 256,
128, 64, 32, 16).

:func:`load_encoder_weights` fills an encoder from ``"imagenet"`` (timm's safetensors file from
the Hugging Face Hub, needing ``pip install 'voxelwise[pretrained]'``; ``huggingface_hub`` keeps
its cache and honours ``HF_HUB_OFFLINE``) or from a local ``.safetensors`` / ``.pth`` file. The
classifier (``fc``) is dropped; every other key must match exactly. For an input with other
than 3 channels the RGB weights of ``conv1`` are adapted as segmentation-models-pytorch does:
summed over RGB for one channel, else repeated over the channels and scaled by 3 / channels.
The weights become part of the network's state dict, so a trained model file never needs the
download again.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from voxelwise.deep._nets import MCDropout, _conv_bn, _Net
from voxelwise.errors import VoxelwiseError

__all__ = [
    "ENCODERS",
    "EncoderWeightsError",
    "PretrainedWeightsError",
    "ResNetEncoder",
    "ResNetUNet",
    "imagenet_source",
    "load_encoder_weights",
    "set_encoder_frozen",
]

#: Basic blocks per stage of each ResNet encoder.
ENCODERS: dict[str, tuple[int, int, int, int]] = {
    "resnet18": (2, 2, 2, 2),
    "resnet34": (3, 4, 6, 3),
}

#: Hugging Face Hub repository and file of the ImageNet weights (timm) of each encoder.
_IMAGENET = {
    "resnet18": ("timm/resnet18.a1_in1k", "model.safetensors"),
    "resnet34": ("timm/resnet34.a1_in1k", "model.safetensors"),
}

_HOW_TO_FIX = (
    "install the optional dependencies (pip install -c constraints.txt 'voxelwise[pretrained]') "
    "on a machine with internet access; or download the file once elsewhere "
    "(hf download {repo} {file}) and copy the Hugging Face cache (~/.cache/huggingface/hub, or "
    "$HF_HUB_CACHE) here; or pass the file itself: encoder_weights='/path/model.safetensors'"
)


class PretrainedWeightsError(VoxelwiseError, OSError):
    """Pretrained encoder weights cannot be obtained: offline, not cached, a missing file, or
    the optional packages (``voxelwise[pretrained]``) are not installed."""


class EncoderWeightsError(VoxelwiseError, ValueError):
    """A weights file does not fit the encoder (missing or unexpected keys, other shapes)."""


def parse_encoder(name: Any) -> str:
    """Check an encoder name; returns it."""
    if name not in ENCODERS:
        raise ValueError(f"Expected encoder as one of {tuple(ENCODERS)}, got {name!r} instead")
    return str(name)


class _BasicBlock(nn.Module):
    """ResNet basic block with torchvision/timm names."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        short = x if self.downsample is None else self.downsample(x)
        return F.relu(y + short)


class ResNetEncoder(nn.Module):
    """ResNet-18/34 feature extractor (no pooling head, no classifier).

    Parameters
    ----------
    name : {'resnet18', 'resnet34'}
    in_channels : int
        Input channels (3 for RGB; images here have 1 or a few).

    ``forward(x)`` returns the features at strides 2, 4, 8, 16 and 32 with 64, 64, 128, 256 and
    512 channels.
    """

    channels = (64, 64, 128, 256, 512)

    def __init__(self, name: str = "resnet34", *, in_channels: int = 1) -> None:
        super().__init__()
        self.name = parse_encoder(name)
        self.in_channels = int(in_channels)
        self.conv1 = nn.Conv2d(self.in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = 64
        for i, (blocks, cout) in enumerate(zip(ENCODERS[self.name], (64, 128, 256, 512))):
            stride = 1 if i == 0 else 2
            layers = [_BasicBlock(cin, cout, stride)]
            layers += [_BasicBlock(cout, cout, 1) for _ in range(blocks - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layers))
            cin = cout

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.relu(self.bn1(self.conv1(x)))
        features = [x]
        x = self.maxpool(x)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            features.append(x)
        return features


class ResNetUNet(_Net):
    """2D U-Net with a ResNet-18/34 encoder (the segmentation-models-pytorch U-Net layout).

    Parameters
    ----------
    classes : int
        Output channels (class logits).
    encoder : {'resnet18', 'resnet34'}
    in_channels : int
        Input channels (image layers given side by side).
    decoder_channels : sequence of 5 int
        Channels of the decoder blocks, coarse to fine.
    dropout : float
        Channel dropout at the bottleneck and in the decoder (see :class:`MCDropout`).

    The network is randomly initialised; :func:`load_encoder_weights` fills ``encoder`` with
    pretrained weights. Spatial sizes are padded to a multiple of 32 and cropped back.
    """

    ndim = 2
    divisor = (32, 32)

    def __init__(
        self,
        classes: int,
        *,
        encoder: str = "resnet34",
        in_channels: int = 1,
        decoder_channels: Sequence[int] = (256, 128, 64, 32, 16),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        dec = [int(c) for c in decoder_channels]
        if len(dec) != 5 or min(dec) < 1:
            raise ValueError(
                f"Expected decoder_channels as 5 positive numbers, got {list(decoder_channels)}"
            )
        self.encoder = ResNetEncoder(encoder, in_channels=in_channels)
        self.drop = MCDropout(dropout, ndim=2)
        enc = ResNetEncoder.channels  # strides 2 .. 32
        skips = [enc[3], enc[2], enc[1], enc[0], 0]  # the finest block has no skip
        cin = enc[4]
        self.ups = nn.ModuleList()
        for skip, cout in zip(skips, dec):
            self.ups.append(nn.Sequential(_conv_bn(cin + skip, cout, 2), _conv_bn(cout, cout, 2)))
            cin = cout
        self.head = nn.Conv2d(dec[-1], classes, 3, padding=1)

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = self.encoder(x)
        return self.drop(features.pop()), features

    def _decode(self, x: torch.Tensor, skips: list[torch.Tensor]) -> Any:
        for i, up in enumerate(self.ups):
            if i < len(skips):
                skip = skips[-1 - i]
                x = F.interpolate(x, size=skip.shape[2:], mode="nearest")
                x = torch.cat([x, skip], 1)
            else:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = self.drop(up(x))
        return self.head(x), None


def set_encoder_frozen(net: nn.Module, frozen: bool) -> None:
    """Freeze (no gradients, batch norm in eval mode: running statistics kept) or unfreeze the
    ``encoder`` of ``net``. The caller's ``net.train()`` puts batch norm back in training mode,
    so call this again after it."""
    encoder = getattr(net, "encoder", None)
    if not isinstance(encoder, nn.Module):
        raise ValueError(
            f"Expected a network with a pretrained encoder (ResNetUNet), got "
            f"{type(net).__name__}; freeze_epochs needs TrainConfig(encoder=...)"
        )
    for p in encoder.parameters():
        p.requires_grad_(not frozen)
    if frozen:
        encoder.eval()
    elif net.training:
        encoder.train()


def imagenet_source(name: str) -> tuple[str, str]:
    """(Hugging Face Hub repository, file name) of the ImageNet weights of encoder ``name``."""
    return _IMAGENET[parse_encoder(name)]


def _download(name: str) -> Path:
    repo, file = imagenet_source(name)
    fix = _HOW_TO_FIX.format(repo=repo, file=file)
    try:
        hub = importlib.import_module("huggingface_hub")
        importlib.import_module("safetensors.torch")
    except ImportError as e:
        raise PretrainedWeightsError(
            f"ImageNet weights for {name} ({repo}) need the optional packages huggingface_hub "
            f"and safetensors, which are not installed ({e}); {fix}"
        ) from e
    try:
        return Path(hub.hf_hub_download(repo, file))
    except Exception as e:  # offline, no network, not cached: huggingface_hub raises many kinds
        first = str(e).splitlines()[0].rstrip(". ") if str(e) else ""
        raise PretrainedWeightsError(
            f"Cannot get the ImageNet weights for {name} ({repo}/{file}; offline mode, no "
            f"network, and not in the Hugging Face cache?): {type(e).__name__}: {first}. To fix: "
            f"{fix}"
        ) from e


def _read(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or of a PyTorch state dict file."""
    if not path.is_file():
        raise PretrainedWeightsError(
            f"No encoder weights file at {path}; give encoder_weights='imagenet' or the path of "
            "a .safetensors or .pth file of the encoder (timm or torchvision key names)"
        )
    if path.suffix == ".safetensors":
        try:
            st = importlib.import_module("safetensors.torch")
        except ImportError as e:
            raise PretrainedWeightsError(
                f"Reading {path} needs the optional package safetensors, which is not installed; "
                "install it with pip install -c constraints.txt 'voxelwise[pretrained]', or give "
                "a PyTorch state dict (.pth) instead"
            ) from e
        try:
            return dict(st.load_file(str(path)))
        except Exception as e:  # safetensors raises its own error types for damaged files
            raise EncoderWeightsError(
                f"Cannot read {path} as a safetensors file ({type(e).__name__}: {e}); "
                "download it again"
            ) from e
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for damaged or foreign files
        raise EncoderWeightsError(
            f"Cannot read {path} as encoder weights ({type(e).__name__}); give a .safetensors "
            "file or a PyTorch state dict (.pth) saved with torch.save(model.state_dict())"
        ) from e
    for key in ("state_dict", "model"):  # training checkpoints wrap the state dict
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise EncoderWeightsError(
            f"{path} holds no state dict of tensors; save the encoder's weights with "
            "torch.save(model.state_dict(), path)"
        )
    return dict(state)


def _adapt_conv1(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """RGB first-layer weights for ``channels`` input channels (as segmentation-models-pytorch
    adapts them): summed for one channel, else repeated cyclically and scaled by 3 / channels."""
    if weight.shape[1] == channels:
        return weight
    if channels == 1:
        return weight.sum(1, keepdim=True)
    index = torch.arange(channels) % weight.shape[1]
    return weight[:, index] * (weight.shape[1] / channels)


def load_encoder_weights(encoder: nn.Module, weights: str | os.PathLike[str]) -> Path:
    """Load pretrained weights into a ResNet encoder (or the encoder of a :class:`ResNetUNet`).

    Parameters
    ----------
    encoder : ResNetEncoder or ResNetUNet
    weights : 'imagenet' or path
        ``'imagenet'``: timm's ImageNet weights of the encoder from the Hugging Face Hub (cached
        by huggingface_hub; needs ``voxelwise[pretrained]``). A path: a ``.safetensors`` file or
        a PyTorch state dict (``.pth``) with timm/torchvision key names (a ``fc.`` classifier is
        dropped; the first convolution may have 3 (RGB) or the encoder's own input channels).

    Returns
    -------
    Path
        The file the weights came from.

    Raises
    ------
    PretrainedWeightsError
        The weights cannot be obtained (offline and not cached, a missing file, missing
        optional packages); the message says how to fix it.
    EncoderWeightsError
        The file's keys or shapes do not fit the encoder (the message lists them).
    """
    if isinstance(encoder, ResNetUNet):
        encoder = encoder.encoder
    if not isinstance(encoder, ResNetEncoder):
        raise TypeError(
            f"Expected a ResNetEncoder or ResNetUNet, got {type(encoder).__name__}; pretrained "
            "weights are for networks built with an encoder (TrainConfig(encoder='resnet34'))"
        )
    path = _download(encoder.name) if weights == "imagenet" else Path(weights).expanduser()
    state = _read(path)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    if "conv1.weight" in state and state["conv1.weight"].ndim == 4:
        state["conv1.weight"] = _adapt_conv1(state["conv1.weight"], encoder.in_channels)
    own = encoder.state_dict()
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in state if k not in own)
    shapes = sorted(
        f"{k}: {tuple(state[k].shape)} (expected {tuple(own[k].shape)})"
        for k in own
        if k in state and state[k].shape != own[k].shape
    )
    if missing or unexpected or shapes:
        parts = [
            f"{what} ({len(keys)}): {', '.join(keys[:8])}{', ...' if len(keys) > 8 else ''}"
            for what, keys in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("other shapes", shapes),
            )
            if keys
        ]
        raise EncoderWeightsError(
            f"The weights in {path} do not fit the {encoder.name} encoder: {'; '.join(parts)}. "
            f"Give a {encoder.name} checkpoint with timm/torchvision key names (conv1, bn1, "
            "layer1..layer4)"
        )
    merged = {**own, **{k: v.to(own[k].dtype) for k, v in state.items()}}
    encoder.load_state_dict(merged, strict=True)
    return path
