"""Train and apply an object-classification CNN; its model file (loaded with weights_only).

File layout (as :mod:`voxelwise.deep._model`): ``{"voxelwise_object_model": 1, "metadata":
"<json>", "state_dict": {name: tensor}}``, read with ``torch.load(..., weights_only=True)``,
so opening a model runs no code. Metadata: architecture and options, class names and label
values, the patch plan, the image normalisation, and training provenance.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from voxelwise import __version__
from voxelwise._validate import parse_rng
from voxelwise.errors import CorruptFileError, FormatNotSupportedError, OutputExistsError
from voxelwise.objects._augment import augment_patches
from voxelwise.objects._classes import class_plan
from voxelwise.objects._errors import ObjectLabelsError, ObjectsError
from voxelwise.objects._nets import ARCHITECTURES, build_object_net
from voxelwise.objects._patches import ObjectPatches, PatchPlan

__all__ = ["FORMAT_KEY", "ObjectCNN", "load_cnn", "train_cnn"]

FORMAT_KEY = "voxelwise_object_model"
FORMAT_VERSION = 1
_MIN_STEPS = 4  # batches per epoch at least, so a few labelled objects still train
_CALIBRATION_PASSES = 4  # augmented passes that re-estimate the batch-norm statistics


def _recalibrate(
    net: torch.nn.Module,
    x: np.ndarray,
    weights: np.ndarray,
    gen: np.random.Generator,
    batch: int,
    steps: int,
    dev: Any,
) -> None:
    """Re-estimate every batch norm's running mean and variance as a plain average over
    augmented batches drawn as in training (class-balanced), with the final weights: the
    running averages kept during training lag behind the weights, badly so after few steps."""
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    net.train()
    with torch.no_grad():
        for _ in range(_CALIBRATION_PASSES * steps):
            idx = gen.choice(len(weights), size=batch, p=weights)
            net(torch.from_numpy(augment_patches(x[idx], gen)).to(dev))
    for m in norms:
        m.momentum = 0.1


def _dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th of the 8 in-plane flips/rotations of (N, C, ..., Y, X) patches (k in 0..7)."""
    if k >= 4:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, k % 4, dims=(-2, -1))


@dataclass
class ObjectCNN:
    """A trained object classifier network with its metadata.

    Attributes
    ----------
    network : torch.nn.Module
    metadata : dict
        JSON-able: ``arch``, ``network`` (options), ``class_names``, ``values`` (label value
        of each class), ``plan`` (:class:`PatchPlan` as a dict), ``normalization`` (``low``,
        ``high``: image values mapped to 0 and 1), ``training`` (provenance), ``version``.
    """

    network: torch.nn.Module
    metadata: dict[str, Any]
    method: ClassVar[str] = "cnn"

    @property
    def class_names(self) -> list[str]:
        return list(self.metadata["class_names"])

    @property
    def values(self) -> list[int]:
        return [int(v) for v in self.metadata["values"]]

    @property
    def plan(self) -> PatchPlan:
        return PatchPlan.from_dict(self.metadata["plan"])

    def _inputs(self, patches: Any) -> np.ndarray:
        x = patches.patches if isinstance(patches, ObjectPatches) else np.asarray(patches)
        want = (2, *self.plan.input_shape)
        if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want:
            raise ObjectsError(
                f"Expected patches of shape (N, {', '.join(map(str, want))}) for this model, got "
                f"{x.shape} instead; cut them with the model's plan (extract_patches(..., "
                "model.plan))"
            )
        x = x.astype(np.float32, copy=True)
        norm = self.metadata["normalization"]
        low, high = float(norm["low"]), float(norm["high"])
        x[:, 0] = (x[:, 0] - low) / max(high - low, 1e-6)
        return x

    def _run(
        self, patches: Any, fn: Callable[[torch.Tensor], torch.Tensor], batch_size: int
    ) -> list[torch.Tensor]:
        x = self._inputs(patches)
        device = next(self.network.parameters()).device
        self.network.eval()
        out = []
        with torch.inference_mode():
            for start in range(0, x.shape[0], batch_size):
                xb = torch.from_numpy(x[start : start + batch_size]).to(device)
                out.append(fn(xb).float().cpu())
        return out

    def predict_proba(self, patches: Any, *, tta: bool = True, batch_size: int = 64) -> np.ndarray:
        """Class probabilities (N, K) float32 of patches cut with :attr:`plan`.

        ``tta`` averages the 8 in-plane flips and rotations (square patches only).
        """
        square = self.plan.input_shape[-1] == self.plan.input_shape[-2]
        views = range(8) if tta and square else range(1)

        def proba(xb: torch.Tensor) -> torch.Tensor:
            return torch.stack(
                [F.softmax(self.network(_dihedral(xb, k)), dim=1) for k in views]
            ).mean(0)

        parts = self._run(patches, proba, batch_size)
        k = len(self.class_names)
        return torch.cat(parts).numpy() if parts else np.zeros((0, k), np.float32)

    def embed(self, patches: Any, *, batch_size: int = 64) -> np.ndarray:
        """(N, F) float32 embeddings: the network's pooled last feature map."""
        parts = self._run(patches, self.network.embed, batch_size)  # type: ignore[arg-type]
        return torch.cat(parts).numpy() if parts else np.zeros((0, 0), np.float32)

    def embed_images(self, images: Any, *, batch_size: int = 64) -> np.ndarray:
        """(N, F) embeddings of image patches that have no object mask (e.g. at points).

        ``images`` are (N, Z, Y, X) patches cut with the model's plan size and binning (Z = 1
        in 2D); the mask channel is a centred disc (ball in 3D) as wide as the patch over the
        1.4 context factor of the automatic size, standing in for an object of typical size.
        """
        x = np.asarray(images, dtype=np.float32)
        want = (1, *self.plan.input_shape) if self.plan.ndim == 2 else self.plan.input_shape
        if x.ndim != 4 or tuple(x.shape[1:]) != tuple(want):
            raise ObjectsError(
                f"Expected image patches of shape (N, {', '.join(map(str, want))}) (the model's "
                f"size {self.plan.size} binned by {self.plan.bin}), got {x.shape} instead"
            )
        grids = np.ogrid[tuple(slice(0, n) for n in x.shape[1:])]
        r2 = sum(((g - (n - 1) / 2) / (n / 2.8)) ** 2 for g, n in zip(grids, x.shape[1:]) if n > 1)
        disc = np.broadcast_to(np.asarray(r2 <= 1.0, dtype=np.float32), x.shape[1:])
        stacked = np.stack([x, np.broadcast_to(disc, x.shape)], axis=1)
        if self.plan.ndim == 2:
            stacked = stacked[:, :, 0]
        return self.embed(stacked, batch_size=batch_size)

    def summary(self) -> dict[str, Any]:
        """A JSON-able description (method, classes, plan, training figures)."""
        meta = self.metadata
        return {
            "method": self.method,
            "arch": meta["arch"],
            "class_names": self.class_names,
            "values": self.values,
            "plan": meta["plan"],
            "training": meta.get("training", {}),
        }

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write one ``.pt`` file (renamed into place, never half-written)."""
        target = Path(path).expanduser()
        if target.suffix == ".npz":
            raise ObjectsError(
                f"A CNN model is a .pt file (.npz is the random forest's format), got {target}; "
                "use a name ending in .pt"
            )
        if target.exists() and not overwrite:
            raise OutputExistsError(f"{target} exists already; pass overwrite=True to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in self.network.state_dict().items()}
        payload = {
            FORMAT_KEY: FORMAT_VERSION,
            "metadata": json.dumps(self.metadata),
            "state_dict": state,
        }
        tmp = target.with_name(f".{target.name}.partial")
        try:
            torch.save(payload, tmp)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target


def load_cnn(path: str | os.PathLike[str], *, device: str = "cpu") -> ObjectCNN:
    """Read a model written by :meth:`ObjectCNN.save` (``weights_only=True``: no code runs).

    Raises
    ------
    CorruptFileError
        The file is damaged or not a PyTorch file.
    FormatNotSupportedError
        A PyTorch file that is not a voxelwise object model, or of a newer format.
    """
    source = Path(path).expanduser()
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for damaged or foreign files
        raise CorruptFileError(
            f"Cannot read {source} as an object model ({type(e).__name__}); it is damaged or "
            "not a model written by voxelwise.objects; retrain it"
        ) from e
    if not isinstance(payload, dict) or FORMAT_KEY not in payload:
        raise FormatNotSupportedError(
            f"{source} is a PyTorch file but not a voxelwise object model (no {FORMAT_KEY!r}); "
            "train one with voxelwise.objects.train_cnn"
        )
    if payload[FORMAT_KEY] > FORMAT_VERSION:
        raise FormatNotSupportedError(
            f"{source} is an object model of format {payload[FORMAT_KEY]}; this voxelwise reads "
            f"format {FORMAT_VERSION}: upgrade voxelwise"
        )
    try:
        meta = json.loads(payload["metadata"])
        net = build_object_net(meta["arch"], meta["network"])
        net.load_state_dict(payload["state_dict"])
    except Exception as e:
        raise CorruptFileError(f"The object model {source} is damaged ({e}); retrain it") from e
    from voxelwise.deep import parse_device

    net.to(parse_device(device)).eval()
    return ObjectCNN(net, meta)


def train_cnn(
    patches: ObjectPatches,
    y: Sequence[str],
    *,
    arch: str = "minimal",
    epochs: int = 60,
    batch_size: int = 16,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    width: int | None = None,
    class_names: Sequence[str] | None = None,
    values: Sequence[int] | None = None,
    rng: np.random.Generator | int | None = 0,
    device: str = "auto",
    max_minutes: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ObjectCNN:
    """Train a CNN on labelled object patches, with flips, rotations and intensity jitter.

    Parameters
    ----------
    patches : ObjectPatches
        From :func:`extract_patches`; its plan is stored in the model.
    y : sequence of str
        The class name of each patch.
    arch : {"minimal", "deep"}
        :class:`MinimalNet` (SVETLANA's minimalist network) or :class:`DeepNet` (residual).
    epochs : int
        Passes over the labelled objects (at least 4 batches each; batches are drawn
        class-balanced, so rare classes count as much as common ones); the learning rate
        follows a cosine schedule, and the batch-norm statistics are re-estimated at the end.
    width : int, optional
        Channels of the first block (default 16 minimal, 32 deep).
    class_names, values : optional
        The classes in order and their label values (default: the names in ``y`` sorted,
        values 1..K).
    rng : Generator, int or None
        Seeds sampling, augmentation and the initial weights.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``...
    max_minutes : float, optional
        Stop after this much time (the model of that moment is returned).
    progress : callable, optional
        ``progress(epoch, epochs)`` after each epoch; may raise CancelledError.
    """
    if arch not in ARCHITECTURES:
        raise ObjectsError(f"Expected arch as one of {', '.join(ARCHITECTURES)}, got {arch!r}")
    if len(y) != len(patches):
        raise ObjectLabelsError(
            f"Expected {len(patches)} class names (one per patch), got {len(y)}"
        )
    names, vals, target = class_plan(y, class_names, values)
    if not 1 <= int(epochs) <= 100_000:
        raise ObjectsError(f"Expected epochs from 1 to 100000, got {epochs!r}")
    from voxelwise.deep import parse_device

    gen = parse_rng(rng)
    seed = int(gen.integers(2**31 - 1))
    torch.manual_seed(seed)
    x = patches.patches.astype(np.float32, copy=True)
    low, high = (float(v) for v in np.percentile(x[:, 0], (1.0, 99.0)))
    x[:, 0] = (x[:, 0] - low) / max(high - low, 1e-6)
    options = {
        "ndim": patches.plan.ndim,
        "in_channels": 2,
        "classes": len(names),
        "width": int(width or (16 if arch == "minimal" else 32)),
        "dropout": 0.25,
    }
    dev = parse_device(device)
    net = build_object_net(arch, options).to(dev)
    counts = np.bincount(target, minlength=len(names)).astype(np.float64)
    weights = 1.0 / counts[target]
    weights /= weights.sum()
    batch = max(2, min(int(batch_size), len(target)))
    steps = max(_MIN_STEPS, math.ceil(len(target) / batch))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=int(epochs) * steps)
    start = time.perf_counter()
    history: list[float] = []
    ran = 0
    for epoch in range(int(epochs)):
        net.train()
        total = 0.0
        for _ in range(steps):
            idx = gen.choice(len(target), size=batch, p=weights)
            xb = torch.from_numpy(augment_patches(x[idx], gen)).to(dev)
            loss = F.cross_entropy(net(xb), torch.from_numpy(target[idx]).to(dev))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        history.append(round(total / steps, 4))
        ran = epoch + 1
        if progress is not None:
            progress(ran, int(epochs))
        if max_minutes is not None and time.perf_counter() - start > 60 * max_minutes:
            break
    _recalibrate(net, x, weights, gen, batch, steps, dev)
    net.eval()
    meta = {
        "arch": arch,
        "network": options,
        "class_names": names,
        "values": vals,
        "plan": patches.plan.to_dict(),
        "normalization": {"low": low, "high": high},
        "version": __version__,
        "training": {
            "objects": len(target),
            "per_class": {n: int(c) for n, c in zip(names, counts)},
            "epochs": ran,
            "batch_size": batch,
            "lr": lr,
            "seed": seed,
            "seconds": round(time.perf_counter() - start, 2),
            "loss": history[-10:],
        },
    }
    return ObjectCNN(net, meta)
