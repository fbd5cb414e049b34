"""Training settings: :class:`TrainConfig`, read from and written to YAML."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TrainConfig"]

#: The ResNet encoders of :class:`voxelwise.deep._encoders.ResNetUNet` (torch-free list).
ENCODER_NAMES = ("resnet18", "resnet34")

_DEFAULT_PATCH = {"unet2d": (256, 256), "unet3d": (16, 128, 128), "hybrid": (5, 128, 128)}


@dataclass
class TrainConfig:
    """Settings for :func:`train`; the defaults work without tuning.

    Attributes
    ----------
    arch : {'unet2d', 'unet3d', 'hybrid'}
        Network: residual 2D U-Net, anisotropic 3D U-Net or the Guay hybrid 2D-3D net.
    network : dict
        Extra network options (``depth``, ``width``, ``blocks``, ``dropout``; ``pools`` for
        the 3D U-Net, else planned from ``spacing`` and the patch size; ``decoder_channels``
        and ``dropout`` with an ``encoder``).
    encoder : {'resnet18', 'resnet34'}, optional
        With ``arch='unet2d'``: a U-Net on a ResNet encoder (the segmentation-models-pytorch
        layout, see :class:`voxelwise.deep._encoders.ResNetUNet`) instead of the residual U-Net.
    encoder_weights : str, optional
        Pretrained weights for the ``encoder``: ``'imagenet'`` (downloaded once from the Hugging
        Face Hub and cached; needs ``pip install 'voxelwise[pretrained]'``) or the path of a
        ``.safetensors`` / ``.pth`` file with timm/torchvision key names. Default: random
        initialisation. The model file holds the weights, so it never downloads them again.
    freeze_epochs : int
        With ``encoder_weights``: train the decoder alone (encoder frozen, its batch norm in
        eval mode) for this many epochs, then the whole network.
    patch_size : tuple of int, optional
        (y, x) in-plane size for 'unet2d', (z, y, x) for the 3D nets. Default (256, 256),
        (16, 128, 128) and (5, 128, 128). Patches are cut at native resolution.
    axes : str
        2D nets: slice directions to train on, e.g. ``"z"`` or ``"zyx"`` (multi-axis), or
        ``"auto"`` (default): every axis whose slices are at least half a patch wide in both
        directions and (when ``spacing`` is known) no more than 2x anisotropic in-plane, so a
        thin stack of sections trains on Z only and an isotropic volume on all three axes
        (see :func:`voxelwise.deep.plan_axes`).
    context : int
        2D nets: 2.5D input. Each slice is given with ``context`` neighbouring slices on
        either side as extra input channels (``2 * context + 1`` planes per image channel,
        repeated at the volume's edges), so a network trained on the sections of a thin
        anisotropic stack sees the sections above and below. Stored in the model and applied
        the same way at prediction along every axis. Default 0 (plain 2D).
    spacing : (float, float, float), optional
        Voxel size (z, y, x); plans anisotropic pooling of the 3D U-Net and the axes of
        ``axes="auto"``. Default: the image's own voxel size when it has one (a Volume or a
        workspace layer).
    oversample : float
        Share of training patches centred on a voxel of a randomly chosen class or on a class
        boundary (each kind equally likely), so rare classes such as mitochondria and the
        boundaries that decide the IoU are seen often; the rest are placed uniformly.
    normalization : {'percentile', 'meanstd'}
        Intensity normalisation, estimated on the training data, stored in the model and
        applied identically at prediction: percentiles ``percentiles`` mapped to [0, 1] and
        clipped, or zero mean and unit variance.
    loss : {'ce', 'dice', 'ce_dice', 'edge_ce'}
    class_balance : bool
        Weight the cross-entropy by inverse class frequency (counted on the training labels).
    edge_weight : float
        Extra weight on class boundaries for ``loss='edge_ce'``.
    aux_weight : float
        Weight of the hybrid net's auxiliary 2D prediction in the loss.
    epochs, steps_per_epoch, batch_size : int
    lr : float or 'auto'
        Peak learning rate of the one-cycle schedule; 'auto' runs the learning-rate finder.
    weight_decay : float
        AdamW weight decay.
    val_fraction : float
        Share of the (largest axis of the) training region held out for validation.
    val_patches : int
        Fixed validation patches scored (mean IoU) after each epoch.
    patience : int
        Stop after this many epochs without a better validation mean IoU.
    max_minutes : float, optional
        Wall-time budget for training; the best checkpoint so far is kept.
    amp : bool
        Mixed precision (bfloat16 autocast) on CUDA; ignored on CPU.
    flips, rot90, intensity, noise, elastic
        Augmentation (see :class:`voxelwise.deep._augment.Augment`): booleans or probabilities.
    classes : int, optional
        Number of classes; default: the largest label value (class c is stored as c + 1).
    label_names : list of str, optional
        A name per class, stored in the model.
    cache_mb : float
        Training volumes up to this size are read into memory once; larger ones are streamed
        patch by patch from their zarr/dask source.
    """

    arch: str = "unet2d"
    network: dict[str, Any] = field(default_factory=dict)
    encoder: str | None = None
    encoder_weights: str | None = None
    freeze_epochs: int = 2
    patch_size: tuple[int, ...] | None = None
    axes: str = "auto"
    context: int = 0
    spacing: tuple[float, float, float] | None = None
    normalization: str = "percentile"
    percentiles: tuple[float, float] = (0.5, 99.5)
    oversample: float = 0.5
    loss: str = "ce_dice"
    class_balance: bool = False
    edge_weight: float = 5.0
    aux_weight: float = 0.33
    epochs: int = 30
    steps_per_epoch: int = 50
    batch_size: int = 8
    lr: float | str = 3e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.15
    val_patches: int = 16
    patience: int = 8
    max_minutes: float | None = None
    amp: bool = True
    flips: bool = True
    rot90: bool = True
    intensity: float = 0.5
    noise: float = 0.2
    elastic: float = 0.0
    classes: int | None = None
    label_names: list[str] | None = None
    cache_mb: float = 512.0

    def __post_init__(self) -> None:
        plugin = isinstance(self.arch, str) and "." in self.arch  # 'package.name'
        if self.arch not in _DEFAULT_PATCH and not plugin:
            raise ValueError(
                f"Expected arch as one of {tuple(_DEFAULT_PATCH)} or a plugin network "
                f"('package.name', see voxelwise.plugins), got {self.arch!r} instead"
            )
        if plugin:  # its ndim and default patch come from the plugin (loaded here)
            from voxelwise.deep._plugins import default_patch, network_ndim

            want = network_ndim(self.arch)
            if self.patch_size is None:
                self.patch_size = default_patch(self.arch)
        else:
            want = 2 if self.arch == "unet2d" else 3
            if self.patch_size is None:
                self.patch_size = _DEFAULT_PATCH[self.arch]
        self.patch_size = tuple(int(v) for v in self.patch_size)
        if len(self.patch_size) != want:
            raise ValueError(
                f"Expected patch_size with {want} values for arch={self.arch!r}, got "
                f"{self.patch_size} instead"
            )
        if self.axes != "auto" and (
            not self.axes or set(self.axes) - set("zyx") or len(set(self.axes)) != len(self.axes)
        ):
            raise ValueError(
                f"Expected axes as 'auto' or letters from 'zyx' (e.g. 'zyx'), got {self.axes!r}"
            )
        if isinstance(self.context, bool) or not isinstance(self.context, int):
            raise ValueError(f"Expected context as an integer (0 to 8), got {self.context!r}")
        if not 0 <= self.context <= 8:
            raise ValueError(
                f"Expected 0 <= context <= 8 neighbouring slices on each side, got {self.context}"
            )
        if want == 3 and self.context:
            raise ValueError(
                f"Expected context=0 for the 3D network {self.arch!r}; 2.5D input (neighbouring "
                "slices as channels) is for 2D networks, a 3D network already sees them"
            )
        if not 0 <= self.oversample <= 1:
            raise ValueError(f"Expected 0 <= oversample <= 1, got {self.oversample} instead")
        if want == 3 and self.axes not in ("z", "auto"):
            raise ValueError(
                "Expected axes='z' for 3D networks; multi-axis slicing is for 2D networks"
            )
        if self.normalization not in ("percentile", "meanstd"):
            raise ValueError(
                f"Expected normalization 'percentile' or 'meanstd', got {self.normalization!r}"
            )
        if isinstance(self.lr, str) and self.lr != "auto":
            raise ValueError(f"Expected lr as a number or 'auto', got {self.lr!r} instead")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"Expected 0 < val_fraction < 1, got {self.val_fraction} instead")
        self._check_encoder()
        if self.spacing is not None:
            self.spacing = tuple(float(v) for v in self.spacing)  # type: ignore[assignment]
        self.percentiles = tuple(float(v) for v in self.percentiles)  # type: ignore[assignment]

    def _check_encoder(self) -> None:
        if self.encoder is not None:
            if self.encoder not in ENCODER_NAMES:
                raise ValueError(
                    f"Expected encoder as one of {ENCODER_NAMES} or None, got "
                    f"{self.encoder!r} instead"
                )
            if self.arch != "unet2d":
                raise ValueError(
                    f"Expected arch='unet2d' with encoder={self.encoder!r} (a 2D ResNet "
                    f"encoder), got arch={self.arch!r}; drop the encoder for 3D networks"
                )
            unknown = sorted(set(self.network) - {"decoder_channels", "dropout", "in_channels"})
            if unknown:
                raise ValueError(
                    f"Unknown network options {unknown} with encoder={self.encoder!r}; a U-Net "
                    "on a ResNet encoder takes 'decoder_channels' and 'dropout'"
                )
        if self.encoder_weights is not None:
            if self.encoder is None:
                raise ValueError(
                    f"Expected an encoder (e.g. encoder='resnet34') with "
                    f"encoder_weights={self.encoder_weights!r}; pretrained weights are for the "
                    "ResNet encoders"
                )
            if not isinstance(self.encoder_weights, str) or not self.encoder_weights:
                raise ValueError(
                    f"Expected encoder_weights as 'imagenet' or a file path, got "
                    f"{self.encoder_weights!r} instead"
                )
        if isinstance(self.freeze_epochs, bool) or not isinstance(self.freeze_epochs, int):
            raise ValueError(f"Expected freeze_epochs as an integer, got {self.freeze_epochs!r}")
        if self.freeze_epochs < 0:
            raise ValueError(f"Expected freeze_epochs >= 0, got {self.freeze_epochs} instead")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys raise a ValueError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"Unknown training settings {unknown}; valid settings are {sorted(names)}"
            )
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Read settings from a YAML file (missing keys take their defaults)."""
        import yaml

        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"Expected a mapping of settings in {path}, got {type(data).__name__}")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able settings (tuples as lists)."""
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    def to_yaml(self, path: str | Path) -> Path:
        """Write the settings as YAML and return the path."""
        import yaml

        path = Path(path)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path
