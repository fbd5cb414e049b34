"""Training: AdamW, one-cycle schedule, validation mean IoU, early stopping, wall-time budget."""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from voxelwise._validate import parse_rng, parse_roi
from voxelwise.deep._augment import Augment, augment
from voxelwise.deep._config import TrainConfig
from voxelwise.deep._data import (
    Region,
    as_dask,
    as_image,
    channels_of,
    label_counts,
    sample_patch,
    split_regions,
)
from voxelwise.deep._device import parse_device
from voxelwise.deep._encoders import load_encoder_weights, set_encoder_frozen
from voxelwise.deep._losses import class_weights, compute_loss
from voxelwise.deep._lr import batch_loss, find_lr, one_cycle
from voxelwise.deep._model import DeepModel, apply_normalization, load_model, save_model
from voxelwise.deep._nets import build_network, pools_for
from voxelwise.deep._plan import plan_axes
from voxelwise.deep._plot import line_plot, montage
from voxelwise.deep._plugins import network_ndim
from voxelwise.errors import InvalidVolumeError, VoxelwiseError

__all__ = ["TrainResult", "find_lr", "one_cycle", "train"]


@dataclass
class TrainResult:
    """What :func:`train` produced.

    Attributes
    ----------
    model_path : Path
        The best checkpoint (by validation mean IoU), one model file.
    best_val_miou : float
    epochs : int
        Epochs run.
    stopped : str
        'epochs', 'early_stopping' or 'max_minutes'.
    seconds : float
    metrics_csv, plot_png : Path
        Per-epoch metrics and their plot; ``lr_plot_png`` when the learning-rate finder ran;
        ``montage_png``: validation patches, their labels and the best model's prediction.
    history : list of dict
    """

    model_path: Path
    best_val_miou: float
    epochs: int
    stopped: str
    seconds: float
    metrics_csv: Path
    plot_png: Path
    lr: float
    lr_plot_png: Path | None = None
    montage_png: Path | None = None
    history: list[dict[str, float]] = field(default_factory=list)


_MAX_CLASSES = 64


def _normalization(
    images: Sequence[Any], boxes: Sequence[tuple[slice, ...]], cfg: TrainConfig
) -> dict[str, Any] | list[dict[str, Any]]:
    """Normalisation parameters from the training regions: one set, or one per channel."""
    channels = channels_of(images[0])
    samples = []
    for image, box in zip(images, boxes):
        region = image[box]
        step = max(1, round((region.size / channels / 2_000_000) ** (1 / 3)))
        sample = np.asarray(region[::step, ::step, ::step].compute(), dtype=np.float32)
        samples.append(sample.reshape(-1, channels))
    values = np.concatenate(samples)
    if channels > 1:
        return [_stats(values[:, k], cfg) for k in range(channels)]
    return _stats(values[:, 0], cfg)


def _stats(values: np.ndarray, cfg: TrainConfig) -> dict[str, Any]:
    if cfg.normalization == "percentile":
        low, high = np.percentile(values, cfg.percentiles)
        return {"kind": "percentile", "low": float(low), "high": float(high)}
    return {"kind": "meanstd", "mean": float(values.mean()), "std": float(values.std())}


class _Batches:
    """Draws normalised, augmented batches from training regions."""

    def __init__(
        self,
        regions: list[Region],
        cfg: TrainConfig,
        norm: dict[str, Any] | list[dict[str, Any]],
        rng: np.random.Generator,
        *,
        aug: bool,
    ) -> None:
        self.regions, self.cfg, self.norm, self.rng = regions, cfg, norm, rng
        self.aug = (
            Augment(cfg.flips, cfg.rot90, cfg.intensity, cfg.noise, cfg.elastic) if aug else None
        )
        self.axes: list[str | None] = list(cfg.axes) if network_ndim(cfg.arch) == 2 else [None]
        # several channels per patch (image layers, or the planes of 2.5D input): no unsqueeze
        self.stacked = isinstance(norm, list) or cfg.context > 0

    def patch(self, axis: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        region = self.regions[int(self.rng.integers(len(self.regions)))]
        if axis is None:
            axis = self.axes[int(self.rng.integers(len(self.axes)))]
        centre = None
        if region.centres and self.rng.random() < self.cfg.oversample:
            kinds = sorted(region.centres, key=str)
            points = region.centres[kinds[int(self.rng.integers(len(kinds)))]]
            centre = points[int(self.rng.integers(len(points)))]
        image, target = sample_patch(
            region,
            tuple(self.cfg.patch_size or ()),
            axis,
            self.rng,
            centre=centre,
            context=self.cfg.context,
        )
        image = apply_normalization(image, self.norm)
        if isinstance(self.norm, list):  # channels-last patch: channels first for the net
            image = np.moveaxis(image, -1, 0)
            if self.cfg.context:  # (C, planes, ...) -> plane-major channels k C + c
                image = np.swapaxes(image, 0, 1).reshape(-1, *image.shape[2:])
        if self.aug is not None:
            image, target = augment(image, target, self.rng, self.aug)
        return image, target

    def batch(self, size: int, axis: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = [self.patch(axis) for _ in range(size)]
        images = np.stack([p[0] for p in pairs])
        x = torch.from_numpy(images if self.stacked else images[:, None])
        y = torch.from_numpy(np.stack([p[1] for p in pairs]))
        return x, y


def _validate(
    net: torch.nn.Module,
    val: list[tuple[torch.Tensor, torch.Tensor]],
    classes: int,
    device: torch.device,
) -> tuple[float, float]:
    net.eval()
    inter = np.zeros(classes)
    union = np.zeros(classes)
    losses = []
    with torch.no_grad():
        for x, y in val:
            logits = net(x.to(device)).float().cpu()
            losses.append(float(compute_loss(logits, y, kind="ce")))
            pred = logits.argmax(1)
            valid = y >= 0
            for c in range(classes):
                p, t = (pred == c) & valid, y == c
                inter[c] += float((p & t).sum())
                union[c] += float((p | t).sum())
    net.train()
    present = union > 0
    miou = float((inter[present] / union[present]).mean()) if present.any() else 0.0
    return float(np.mean(losses)) if losses else math.nan, miou


def _pairs(image: Any, labels: Any) -> list[tuple[Any, Any]]:
    if isinstance(image, list):
        if not isinstance(labels, list | tuple) or len(labels) != len(image):
            raise ValueError(
                "Expected as many label volumes as images when training on several pairs"
            )
        return list(zip(image, labels))
    return [(image, labels)]


def train(
    image: Any,
    labels: Any,
    *,
    out: str | Path,
    config: TrainConfig | dict[str, Any] | str | Path | None = None,
    roi: Any = None,
    epochs: int | None = None,
    max_minutes: float | None = None,
    init_model: str | Path | None = None,
    device: str = "auto",
    rng: np.random.Generator | int | None = None,
    progress: Callable[[int, int], None] | None = None,
    channel_names: Sequence[str] | None = None,
) -> TrainResult:
    """Train a segmentation network on one or more (image, labels) pairs.

    Parameters
    ----------
    image : (Z, Y, X) array, path, Volume or ``(workspace, layer)``, or a list of them
        Raw intensities (NumPy, dask, zarr; a file path is opened lazily; a workspace layer is
        read from its zarr array). Several registered images of the same grid are input
        channels when given as one (C, Z, Y, X) stack: an array, or
        :func:`~voxelwise.deep.stack_channels` of the volumes (lazy; shapes checked). Every
        pair must have the same number of channels; each channel is normalised on its own.
    labels : (Z, Y, X) integer array, path, Volume or ``(workspace, layer)``, or a list of them
        0 = unlabelled (ignored), class c stored as c + 1; dense or sparse.
    out : str or Path
        Folder for ``model.pt`` (best checkpoint), ``metrics.csv``, ``metrics.png``,
        ``config.yaml`` and ``lr_finder.png``. A path ending in ``.pt`` (``runs/mito.pt``)
        is the model file itself, and the reports go to the folder beside it named after its
        stem (``runs/mito.train/``).
    config : TrainConfig, dict or YAML path, optional
    roi : str or slices, optional
        Region of every pair to use (``"z0:z1,y0:y1,x0:x1"``).
    epochs, max_minutes : optional
        Override the config's values; ``max_minutes`` is a wall-time budget.
    init_model : path, optional
        Fine-tune or resume from a model file (its architecture and normalisation are kept).
    device : {'auto', 'cpu', 'cuda'}
    rng : Generator or int, optional
        Seeds patch sampling, augmentation and weight initialisation (reproducible on CPU).
    progress : callable, optional
        ``progress(epoch, epochs)`` after each epoch; may raise CancelledError to stop (the
        best checkpoint so far stays in the model file).
    channel_names : sequence of str, optional
        A name per input channel, stored in the model (default ``["image"]`` for one channel,
        ``["channel 0", ...]`` for several).

    Returns
    -------
    TrainResult
    """
    t0 = time.monotonic()
    if isinstance(config, str | Path):
        config = TrainConfig.from_yaml(config)
    elif isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    cfg = dataclasses.replace(config) if config is not None else TrainConfig()  # a copy
    if epochs is not None:
        cfg.epochs = int(epochs)
    if max_minutes is not None:
        cfg.max_minutes = float(max_minutes)
    gen = parse_rng(rng)
    torch.manual_seed(int(gen.integers(2**31)))
    dev = parse_device(device)
    out, model_path = _out_paths(out)

    raw_pairs = _pairs(image, labels)
    if cfg.spacing is None:
        cfg.spacing = _spacing_of(raw_pairs[0][0])
    pairs = [(as_image(i, what="image"), as_dask(lab, what="labels")) for i, lab in raw_pairs]
    channels = channels_of(pairs[0][0])
    for img, _ in pairs[1:]:
        if channels_of(img) != channels:
            raise InvalidVolumeError(
                f"Expected every training image with {channels} channel(s), got one with "
                f"{channels_of(img)}; give each pair the same image layers"
            )
    names = _channel_names(channel_names, channels)
    counts = np.zeros(1, dtype=np.int64)
    for img, lab in pairs:
        if img.shape[:3] != lab.shape:
            raise InvalidVolumeError(
                f"Expected image and labels of the same shape, got {img.shape[:3]} and "
                f"{lab.shape}; "
                "crop both to the same region (roi=) or check that the right files were given"
            )
        c = label_counts(lab[parse_roi(roi, lab.shape)])
        counts = np.pad(counts, (0, max(0, len(c) - len(counts)))) + np.pad(
            c, (0, max(0, len(counts) - len(c)))
        )
    present = int((counts[1:] > 0).sum())
    if present < 2:
        raise InvalidVolumeError(
            f"The labels hold {present} class(es) (label values > 0: {np.flatnonzero(counts[1:]) + 1}); "
            "training needs at least two, e.g. background stored as 1 and foreground as 2 "
            "(0 means unlabelled). For a binary mask pass mask.astype('uint8') + 1"
        )
    if present > _MAX_CLASSES and not cfg.classes:
        raise InvalidVolumeError(
            f"The labels hold {present} distinct classes; that looks like an image given as "
            "labels (check that image and labels are not swapped), or set classes= in the "
            f"config when more than {_MAX_CLASSES} classes are really meant"
        )
    base = None
    weights_file = None
    if init_model is not None:
        base = load_model(init_model)
        cfg.arch = base.metadata["arch"]
        # its network (and encoder weights) are the starting point
        cfg.encoder = (base.metadata.get("network") or {}).get("encoder")
        cfg.encoder_weights = None
        cfg.context = base.context  # fine-tuning keeps the model's 2.5D input
        if base.channels != channels:
            raise InvalidVolumeError(
                f"The model {init_model} takes {base.channels} input channel(s) "
                f"({base.channel_names}), the training image has {channels}; fine-tune it on "
                "the same number of image layers"
            )
    classes = int(cfg.classes or len(counts) - 1)
    if base is not None:
        classes = base.classes
    psize = tuple(cfg.patch_size or ())
    min_size = (1, *psize) if network_ndim(cfg.arch) == 2 else psize
    boxes = [split_regions(img.shape[:3], roi, cfg.val_fraction, min_size) for img, _ in pairs]  # type: ignore[arg-type]
    if base is not None and cfg.axes == "auto":
        cfg.axes = str(base.metadata.get("axes", "z"))
    elif cfg.axes == "auto":
        train_shape = [s.stop - s.start for s in boxes[0][0]]
        cfg.axes = (
            plan_axes(train_shape, psize, cfg.spacing) if network_ndim(cfg.arch) == 2 else "z"
        )
    norm = (
        base.metadata["normalization"]
        if base
        else _normalization([p[0] for p in pairs], [b[0] for b in boxes], cfg)
    )
    train_regions = [
        Region.from_box(i, lab, b[0], cfg.cache_mb) for (i, lab), b in zip(pairs, boxes)
    ]
    val_regions = [Region.from_box(i, lab, b[1], cfg.cache_mb) for (i, lab), b in zip(pairs, boxes)]
    if cfg.oversample > 0:
        for region in train_regions + val_regions:
            region.with_centres(gen)

    if base is not None:
        net = base.network
        options = base.metadata["network"]
    else:
        options = dict(cfg.network)
        if cfg.encoder is not None:
            options["encoder"] = cfg.encoder
        elif dev.type == "cuda" and cfg.arch == "unet2d":
            options.setdefault("width", 32)  # a GPU affords twice the features per level
        if channels * (2 * cfg.context + 1) > 1:
            options["in_channels"] = channels * (2 * cfg.context + 1)
        if cfg.arch == "unet3d" and "pools" not in options:
            options["pools"] = pools_for(options.pop("depth", 3), cfg.spacing, psize)
        net = build_network(cfg.arch, classes, options)
        if cfg.encoder_weights is not None:
            weights_file = load_encoder_weights(net, cfg.encoder_weights)
    freeze = cfg.freeze_epochs if weights_file is not None else 0
    net.to(dev).train()
    # Not channels-last: its CPU backward (torch 2.13, oneDNN) crashes on narrow U-Nets
    # (segfault / double free, e.g. width 8); inference uses it safely (see _tiles.forward).
    weights = None
    if cfg.class_balance:
        weights = class_weights(torch.from_numpy(counts[1 : classes + 1].astype(np.float64))).to(
            dev
        )

    batches = _Batches(train_regions, cfg, norm, gen, aug=True)
    val_draw = _Batches(
        val_regions, cfg, norm, np.random.default_rng(int(gen.integers(2**31))), aug=False
    )
    val = [val_draw.batch(1) for _ in range(cfg.val_patches)]

    out.mkdir(parents=True, exist_ok=True)  # once the input is known to be usable
    lr_plot = None
    lr = cfg.lr
    if lr == "auto":
        lr_plot = out / "lr_finder.png"
        lr = find_lr(
            net,
            lambda: batches.batch(cfg.batch_size),
            cfg,
            device=dev,
            weights=weights,
            plot=lr_plot,
        )
    lr = float(lr)
    opt = torch.optim.AdamW(net.parameters(), lr=one_cycle(lr, 0.0), weight_decay=cfg.weight_decay)
    total = cfg.epochs * cfg.steps_per_epoch
    amp = cfg.amp and dev.type == "cuda"
    meta = {
        "arch": cfg.arch,
        "classes": classes,
        "network": options,
        "patch_size": list(psize),
        "axes": cfg.axes if network_ndim(cfg.arch) == 2 else "z",
        "normalization": norm,
        "channels": channels,
        "context": cfg.context,
        "channel_names": names,
        "label_names": list(cfg.label_names or [f"class {c}" for c in range(classes)]),
        "label_values": [c + 1 for c in range(classes)],
        "config": cfg.to_dict(),
        "provenance": {
            "torch": torch.__version__,
            "init_model": str(init_model) if init_model else None,
            "encoder_weights": str(weights_file) if weights_file else None,
            "freeze_epochs": freeze,
        },
    }
    cfg.to_yaml(out / "config.yaml")
    history: list[dict[str, float]] = []
    best, stale, stopped, epoch = -1.0, 0, "epochs", 0
    budget = None if cfg.max_minutes is None else cfg.max_minutes * 60
    step = 0
    for epoch in range(1, cfg.epochs + 1):
        if freeze:  # pretrained encoder: decoder alone first (again after _validate's train())
            set_encoder_frozen(net, epoch <= freeze)
        losses = []
        for _ in range(cfg.steps_per_epoch):
            x, y = batches.batch(cfg.batch_size)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                loss = batch_loss(net, x.to(dev), y.to(dev), cfg, weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            done = step / max(total, 1)
            if budget is not None:  # the schedule follows whichever runs out first
                done = max(done, (time.monotonic() - t0) / budget)
            for group in opt.param_groups:
                group["lr"] = one_cycle(lr, done)
            losses.append(float(loss.detach()))
            if budget is not None and time.monotonic() - t0 > budget:
                break
        val_loss, miou = _validate(net, val, classes, dev)
        history.append(
            {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)),
                "val_loss": val_loss,
                "val_miou": miou,
                "lr": float(opt.param_groups[0]["lr"]),
                "seconds": time.monotonic() - t0,
            }
        )
        if miou > best:
            best, stale = miou, 0
            meta["val_miou"] = miou
            meta["provenance"].update(epoch=epoch, seconds=round(time.monotonic() - t0, 1))
            save_model(DeepModel(net, meta), model_path)
        else:
            stale += 1
        _write_metrics(out, history)
        if progress is not None:
            progress(epoch, cfg.epochs)  # may raise CancelledError; the best model is kept
        if budget is not None and time.monotonic() - t0 > budget:
            stopped = "max_minutes"
            break
        if stale >= cfg.patience:
            stopped = "early_stopping"
            break
    if model_path.exists() and network_ndim(cfg.arch) == 2:
        _score_axes(model_path, val_regions, cfg, norm, gen, classes, dev)
    montage_png = _write_montage(out / "montage.png", model_path, val, dev)
    return TrainResult(
        model_path=model_path,
        best_val_miou=best,
        epochs=epoch,
        stopped=stopped,
        seconds=time.monotonic() - t0,
        metrics_csv=out / "metrics.csv",
        plot_png=out / "metrics.png",
        lr=lr,
        lr_plot_png=lr_plot,
        montage_png=montage_png,
        history=history,
    )


def _score_axes(
    model_path: Path,
    regions: list[Region],
    cfg: TrainConfig,
    norm: dict[str, Any] | list[dict[str, Any]],
    gen: np.random.Generator,
    classes: int,
    dev: torch.device,
) -> None:
    """Store the best checkpoint's validation mean IoU along every slice axis whose
    validation slices are at least a sixteenth of a patch wide (``axis_scores``: the weights of
    multi-axis fusion at prediction, see :func:`voxelwise.deep.axis_weights`)."""
    model = load_model(model_path, device=str(dev))
    draw = _Batches(regions, cfg, norm, np.random.default_rng(int(gen.integers(2**31))), aug=False)
    need = max(4, min(cfg.patch_size or (16,)) // 16)
    scores: dict[str, float] = {}
    for i, axis in enumerate("zyx"):
        planes = [[s for j, s in enumerate(r.shape) if j != i] for r in regions]
        if not any(min(p) >= need for p in planes):
            continue
        val = [draw.batch(1, axis) for _ in range(cfg.val_patches)]
        scores[axis] = round(_validate(model.network, val, classes, dev)[1], 4)
    model.metadata["axis_scores"] = scores
    save_model(model, model_path)


def _spacing_of(item: Any) -> tuple[float, float, float] | None:
    """The voxel size of a Volume, a volume file or a workspace layer ``(workspace, name)``,
    if known (opening a file reads only its header)."""
    if isinstance(item, tuple) and len(item) == 2 and hasattr(item[0], "spacing"):
        item = item[0]
    if isinstance(item, str | os.PathLike):
        from voxelwise.io import open_volume

        try:
            item = open_volume(Path(item))
        except (VoxelwiseError, OSError, ValueError):  # fails later with its own clear error
            return None
    spacing = getattr(item, "spacing", None)
    if spacing is None or isinstance(item, np.ndarray):
        return None
    try:
        values = tuple(float(v) for v in spacing)
    except TypeError:
        return None
    return values if len(values) == 3 else None


def _write_montage(
    path: Path, model_path: Path, val: list[tuple[torch.Tensor, torch.Tensor]], dev: torch.device
) -> Path | None:
    """Up to four validation patches with labels and the best checkpoint's prediction."""
    if not val or not model_path.exists():
        return None
    model = load_model(model_path, device=str(dev))
    net = model.network
    shown = model.context * model.channels  # 2.5D input: the middle plane's first channel
    rows = []
    with torch.no_grad():
        for x, y in val[:4]:
            pred = net(x.to(dev)).float().argmax(1).cpu().numpy()[0]
            image, labels = x.numpy()[0, shown], y.numpy()[0]
            if image.ndim == 3:  # 3D patches: the middle plane
                mid = image.shape[0] // 2
                image, labels, pred = image[mid], labels[mid], pred[mid]
            rows.append((image, labels, pred))
    return montage(path, rows)


def _channel_names(names: Sequence[str] | None, channels: int) -> list[str]:
    if names is None:
        return ["image"] if channels == 1 else [f"channel {k}" for k in range(channels)]
    if isinstance(names, str) or len(names) != channels:
        raise ValueError(
            f"Expected {channels} channel name(s), one per input channel, got {names!r}"
        )
    return [str(n) for n in names]


def _out_paths(out: str | Path) -> tuple[Path, Path]:
    """(reports folder, model file) for ``out``: a folder, or a ``.pt`` model path whose
    reports go to ``<stem>.train/`` beside it."""
    out = Path(out)
    if out.suffix == ".pt":
        return out.with_name(f"{out.stem}.train"), out
    return out, out / "model.pt"


def _write_metrics(out: Path, history: list[dict[str, float]]) -> None:
    with open(out / "metrics.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    epochs = [h["epoch"] for h in history]
    line_plot(
        out / "metrics.png",
        epochs,
        {k: [h[k] for h in history] for k in ("train_loss", "val_loss", "val_miou")},
        title="training",
        xlabel="epoch",
    )
