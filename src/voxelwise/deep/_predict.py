"""Tiled prediction over volumes of any size, multi-axis fusion, ensembles, zarr outputs.

A 2D model runs over the slices along each chosen axis (the volume is viewed transposed, never
copied), slab by slab (see :mod:`voxelwise.deep._tiles`: overlapping patches blended with a
cosine window, exactly as if the whole grid were blended at once); per-axis probabilities are
fused by weights learned from the model's per-axis validation scores (axes that validate
clearly worse than the best get no vote, so fusing is never worse than the best axis), by their
per-class maximum (renormalised to sum 1, as Volume Segmantics) or by their mean; ensemble
members are averaged. :func:`predict` keeps per-axis results of large volumes in
float16 zarr arrays inside the (hidden, partial) output and fuses them chunk by chunk in one
final pass, so memory stays at one slab, one batch of patches and a few output chunks.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import torch
import zarr

from voxelwise.deep._data import as_image, channels_of, context_view
from voxelwise.deep._device import parse_device
from voxelwise.deep._model import DeepModel, load_model
from voxelwise.deep._nets import set_mc_dropout
from voxelwise.deep._plan import axis_weights
from voxelwise.deep._tiles import SlabPlan, auto_batch_size, forward, plan_slabs, predict_slabs
from voxelwise.errors import InvalidVolumeError, OutputExistsError

__all__ = [
    "FUSIONS",
    "choose_axes",
    "fuse_probabilities",
    "member_axes",
    "predict",
    "predict_proba",
]

_ORDER = {"z": (0, 1, 2), "y": (1, 0, 2), "x": (2, 0, 1)}
_BACK = {"z": (0, 1, 2, 3), "y": (0, 2, 1, 3), "x": (0, 2, 3, 1)}
ModelLike = str | os.PathLike[str] | DeepModel


def choose_axes(axes: str, shape: Sequence[int], model: DeepModel) -> str:
    """Resolve ``axes`` for a volume of ``shape``: 'auto' = the model's training axes, skipping
    any whose slices are thinner than half the patch (e.g. XZ slices of a 20-section stack)."""
    if model.ndim == 3:
        return "z"
    if axes != "auto":
        if not axes or set(axes) - set("zyx"):
            raise ValueError(f"Expected axes as 'auto' or letters from 'zyx', got {axes!r}")
        return axes
    patch = min(model.metadata["patch_size"])
    keep = ""
    for a in model.metadata.get("axes", "z"):
        plane = [s for i, s in enumerate(shape) if i != "zyx".index(a)]
        if min(plane) >= patch // 2:
            keep += a
    return keep or "z"


FUSIONS = ("auto", "weighted", "max", "mean")


def _check_fusion(fusion: str) -> None:
    if fusion not in FUSIONS:
        raise ValueError(f"Expected fusion as one of {FUSIONS}, got {fusion!r} instead")


def member_axes(
    model: DeepModel, axes: str, shape: Sequence[int], fusion: str = "auto"
) -> tuple[str, list[float] | None]:
    """The axes a model predicts along and their fusion weights (``None``: unweighted).

    With ``fusion`` 'auto' or 'weighted' and per-axis validation scores stored in the model
    (``axis_scores``, written by :func:`~voxelwise.deep.train`), the weights come from
    :func:`~voxelwise.deep.axis_weights` and axes without a vote are not predicted at all.
    """
    chosen = choose_axes(axes, shape, model)
    if fusion in ("auto", "weighted") and len(chosen) > 1:
        weights = axis_weights(chosen, model.metadata.get("axis_scores"))
        if weights is not None:
            kept = "".join(a for a in chosen if weights[a] > 0)
            return kept, [weights[a] for a in kept]
    return chosen, None


def fuse_probabilities(
    probs: Sequence[Any], *, fusion: str = "max", weights: Sequence[float] | None = None
) -> Any:
    """Fuse per-axis (C, Z, Y, X) class probabilities.

    ``fusion``: 'max' (per-class maximum renormalised to sum 1, as Volume Segmantics), 'mean',
    or 'weighted' (the mean weighted by ``weights``, one per axis; equal weights when
    ``None``). 'auto' is 'weighted' when ``weights`` are given, else 'max'.
    """
    _check_fusion(fusion)
    lib = da if any(isinstance(p, da.Array) for p in probs) else np
    if fusion == "auto":
        fusion = "weighted" if weights is not None else "max"
    if fusion == "weighted":
        w = [1.0] * len(probs) if weights is None else [float(v) for v in weights]
        if len(w) != len(probs) or sum(w) <= 0:
            raise ValueError(
                f"Expected one non-negative weight per axis ({len(probs)}), got {weights!r}"
            )
        total = None
        for p, wi in zip(probs, w):
            total = p * (wi / sum(w)) if total is None else total + p * (wi / sum(w))
        return total
    stack = lib.stack(list(probs))
    if fusion == "mean":
        return stack.mean(axis=0)
    top = stack.max(axis=0)
    return top / lib.maximum(top.sum(axis=0, keepdims=True), 1e-12)


def _models(
    model: ModelLike | Sequence[ModelLike], ensemble: int | None, device: torch.device
) -> list[DeepModel]:
    items = list(model) if isinstance(model, list | tuple) else [model]
    loaded = [m if isinstance(m, DeepModel) else load_model(m) for m in items]  # type: ignore[arg-type]
    if ensemble is not None:
        loaded.sort(key=lambda m: -float(m.metadata.get("val_miou", 0.0)))
        loaded = loaded[: int(ensemble)]
    classes = {m.classes for m in loaded}
    if len(classes) != 1:
        raise ValueError(f"Expected ensemble members with the same classes, got {sorted(classes)}")
    channels = {m.channels for m in loaded}
    if len(channels) != 1:
        raise ValueError(
            f"Expected ensemble members with the same input channels, got {sorted(channels)}"
        )
    for m in loaded:
        m.network.to(device).eval()
    return loaded


def _check_channels(members: list[DeepModel], image: da.Array) -> None:
    """A clear error when the image has another number of channels than the model."""
    have, want = channels_of(image), members[0].channels
    if have != want:
        raise InvalidVolumeError(
            f"The model takes {want} input channel(s) ({', '.join(members[0].channel_names)}), "
            f"the image has {have}; give the same image layers it was trained on, as one "
            "(C, Z, Y, X) stack (voxelwise.deep.stack_channels) when there are several"
        )


Sink = Callable[[int, DeepModel, str, tuple[int, ...], SlabPlan], Any]


def _predict_members(
    members: list[DeepModel],
    image: da.Array,
    axes: str,
    sink: Sink,
    *,
    device: torch.device,
    tta: bool,
    overlap: Any,
    batch_size: int | None,
    memory_mb: float,
    fusion: str = "auto",
    mc_dropout: bool = False,
    progress: Callable[[int, int], None] | None,
) -> list[list[tuple[str, Any]]]:
    """Run every member along each of its axes into ``sink(...)`` arrays (C, Z', Y', X')."""
    shape = tuple(int(s) for s in image.shape[:3])
    batch = [int(batch_size) if batch_size else auto_batch_size(members[0], device)]
    jobs = []
    for k, m in enumerate(members):
        for a in member_axes(m, axes, shape, fusion)[0]:
            view = image.transpose(_ORDER[a] + tuple(range(3, image.ndim)))  # channels last
            if m.ndim == 2 and m.context:  # 2.5D: neighbouring slices along `a` as channels
                view = context_view(view, m.context)
            plan = plan_slabs(
                m, view.shape[:3], overlap=overlap, memory_mb=memory_mb, batch=batch[0]
            )
            jobs.append((k, m, a, view, plan))
    total = sum(plan.patches for *_, plan in jobs)
    done = [0]

    def step(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0], total)

    results: list[list[tuple[str, Any]]] = [[] for _ in members]
    for k, m, a, view, plan in jobs:
        target = sink(k, m, a, view.shape[:3], plan)
        set_mc_dropout(m.network, mc_dropout)
        try:
            run = forward(m, device, tta)
            for z0, z1, probs in predict_slabs(m, view, plan, run=run, batch=batch, step=step):
                target[:, z0:z1] = probs
        finally:
            set_mc_dropout(m.network, False)
        results[k].append((a, target))
    return results


def predict_proba(
    model: ModelLike | Sequence[ModelLike],
    image: Any,
    *,
    axes: str = "auto",
    fusion: str = "auto",
    tta: bool = False,
    ensemble: int | None = None,
    mc_dropout: bool = False,
    overlap: Any = None,
    batch_size: int | None = None,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Class probabilities for a volume that fits in memory: (classes, Z, Y, X) float32.

    Same options as :func:`predict` (which streams to zarr for volumes of any size), the
    image as there (a (C, Z, Y, X) stack for a model of several input channels);
    ``mc_dropout=True`` keeps dropout active (one stochastic pass; call repeatedly for
    Monte-Carlo samples).
    """
    _check_fusion(fusion)
    dev = parse_device(device)
    members = _models(model, ensemble, dev)
    image = as_image(image, what="image")
    _check_channels(members, image)
    shape = tuple(int(s) for s in image.shape[:3])

    def sink(k: int, m: DeepModel, a: str, shape: tuple[int, ...], plan: SlabPlan) -> np.ndarray:
        return np.zeros((m.classes, *shape), dtype=np.float32)

    results = _predict_members(
        members,
        image,
        axes,
        sink,
        device=dev,
        tta=tta,
        overlap=overlap,
        batch_size=batch_size,
        memory_mb=256.0,
        fusion=fusion,
        mc_dropout=mc_dropout,
        progress=progress,
    )
    total = None
    for m, per_axis in zip(members, results):
        back = [acc.transpose(_BACK[a]) for a, acc in per_axis]
        weights = member_axes(m, axes, shape, fusion)[1]
        fused = (
            fuse_probabilities(back, fusion=fusion, weights=weights) if len(back) > 1 else back[0]
        )
        total = fused if total is None else total + fused
    assert total is not None
    return np.ascontiguousarray(total / len(members), dtype=np.float32)


def _check_options(probability_dtype: str, outputs: Sequence[str], fusion: str) -> None:
    if probability_dtype not in ("float16", "uint8"):
        raise ValueError(
            f"Expected probability_dtype 'float16' or 'uint8', got {probability_dtype!r}"
        )
    unknown = set(outputs) - {"labels", "probabilities", "confidence", "entropy"}
    if unknown or not outputs:
        raise ValueError(
            f"Expected outputs among labels, probabilities, confidence, entropy, got "
            f"{list(outputs)!r}"
        )
    _check_fusion(fusion)


def predict(
    model: ModelLike | Sequence[ModelLike],
    image: Any,
    out: str | os.PathLike[str],
    *,
    axes: str = "auto",
    fusion: str = "auto",
    tta: bool = False,
    ensemble: int | None = None,
    outputs: Sequence[str] = ("labels", "probabilities", "confidence", "entropy"),
    probability_dtype: str = "float16",
    chunks: tuple[int, int, int] = (32, 256, 256),
    overlap: Any = None,
    batch_size: int | None = None,
    device: str = "auto",
    overwrite: bool = False,
    memory_mb: float = 512.0,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Segment a volume of any size tile by tile and write the results to a zarr group.

    Parameters
    ----------
    model : path or DeepModel, or a list of them
        A list is an ensemble: probabilities are averaged (the top ``ensemble`` by their
        stored validation mean IoU when ``ensemble`` is given).
    image : (Z, Y, X) array, path or Volume, or a (C, Z, Y, X) stack of channels
        Read slab by slab (zarr/dask stay lazy). A model trained on several image layers
        takes the same layers, in the same order, as a (C, Z, Y, X) stack: an array or
        :func:`~voxelwise.deep.stack_channels` of the volumes (each channel's slab is read).
    out : path
        A ``.zarr`` folder; arrays ``labels`` (uint8, class c written as c + 1),
        ``probabilities`` ((C, Z, Y, X), ``probability_dtype`` float16, or uint8 scaled to
        0-255), ``confidence`` (max probability, float16) and ``entropy`` (normalised to 0-1,
        float16), as listed in ``outputs``. Attributes hold label names and values. The group
        is written under a hidden name beside ``out`` and renamed when complete: a failed or
        cancelled run leaves no partial output (and an existing ``out`` untouched).
    axes : 'auto' or letters of 'zyx'
        Slice directions for a 2D model; 'auto' takes the model's training axes that are thick
        enough for its patch (see :func:`choose_axes`).
    fusion : {'auto', 'weighted', 'max', 'mean'}
        How per-axis probabilities combine (see :func:`fuse_probabilities`). 'auto' (default)
        weights the axes by the model's per-axis validation scores, leaving out axes that
        validate clearly worse (they are then not predicted at all), and falls back to 'max'
        for models without scores.
    tta : bool
        Average the four in-plane 90-degree rotations of every patch (with three axes, the
        12-way test-time augmentation of Volume Segmantics).
    batch_size : int, optional
        Patches per forward pass; default: chosen from the device's free memory (and halved
        automatically if the GPU runs out of memory).
    device : {'auto', 'cpu', 'cuda'}
    memory_mb : float
        Working memory for blending: slabs of planes are as thick as this allows, and
        per-axis results of volumes needing at most this much (about 8 bytes per voxel, class
        and axis) stay in memory; larger ones go to float16 zarr arrays inside the partial
        output (removed at the end). Peak memory is then about ``memory_mb`` plus one input
        slab (at most 64 MB), a batch of patches and a few output chunks, whatever the size.
    progress : callable, optional
        ``progress(done, total)`` in patches; may raise CancelledError.

    Returns
    -------
    Path
        The output zarr group.
    """
    _check_options(probability_dtype, outputs, fusion)
    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists already; pass overwrite=True to replace it")
    dev = parse_device(device)
    members = _models(model, ensemble, dev)
    image = as_image(image, what="image")
    _check_channels(members, image)
    shape = tuple(int(s) for s in image.shape[:3])
    classes = members[0].classes
    cz = tuple(min(int(c), s) for c, s in zip(chunks, shape))
    axes_used = {a for m in members for a in member_axes(m, axes, shape, fusion)[0]}
    in_memory = 8 * classes * len(axes_used) * len(members) * int(np.prod(shape)) <= (
        memory_mb * 2**20
    )
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    if partial.exists():
        shutil.rmtree(partial)
    try:
        store = zarr.open_group(partial, mode="w")
        work = store.require_group("_work")

        def sink(k: int, m: DeepModel, a: str, vshape: tuple[int, ...], plan: SlabPlan) -> Any:
            if in_memory:
                return np.zeros((m.classes, *vshape), dtype=np.float32)
            order = _ORDER[a]
            return work.create_array(
                f"member{k}_{a}",
                shape=(m.classes, *vshape),
                chunks=(1, plan.thickness, cz[order[1]], cz[order[2]]),
                dtype="float16",
                compressors=None,
            )

        results = _predict_members(
            members,
            image,
            axes,
            sink,
            device=dev,
            tta=tta,
            overlap=overlap,
            batch_size=batch_size,
            memory_mb=memory_mb,
            fusion=fusion,
            progress=progress,
        )
        weights = [member_axes(m, axes, shape, fusion)[1] for m in members]
        _write_outputs(
            store, results, classes, shape, cz, outputs, probability_dtype, fusion, weights
        )
        shutil.rmtree(partial / "_work")
        meta = members[0].metadata
        store = zarr.open_group(partial, mode="r+")
        store.attrs.update(
            {
                "voxelwise_prediction": 1,
                "label_names": meta["label_names"],
                "label_values": meta["label_values"],
                "axes": member_axes(members[0], axes, shape, fusion)[0],
                "fusion": fusion,
                "models": len(members),
            }
        )
        _swap_in(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return out


def _write_outputs(
    store: Any,
    results: list[list[tuple[str, Any]]],
    classes: int,
    shape: tuple[int, ...],
    cz: tuple[int, ...],
    outputs: Sequence[str],
    probability_dtype: str,
    fusion: str,
    weights: Sequence[list[float] | None],
) -> None:
    """Fuse axes and members chunk by chunk and store every requested output in one pass."""
    total = None
    for per_axis, w in zip(results, weights):
        back = []
        for a, acc in per_axis:
            order = _ORDER[a]
            lazy = da.from_array(
                acc, chunks=(classes, *(cz[i] for i in order)), asarray=True, lock=False
            )
            back.append(lazy.transpose(_BACK[a]).astype(np.float32))
        fused = fuse_probabilities(back, fusion=fusion, weights=w) if len(back) > 1 else back[0]
        total = fused if total is None else total + fused
    assert total is not None
    probs = (total / len(results)).rechunk((classes, *cz))
    sources: list[da.Array] = []
    targets: list[Any] = []
    if "labels" in outputs:
        targets.append(store.create_array("labels", shape=shape, chunks=cz, dtype="uint8"))
        sources.append((probs.argmax(axis=0) + 1).astype(np.uint8))
    if "probabilities" in outputs:
        targets.append(
            store.create_array(
                "probabilities", shape=(classes, *shape), chunks=(1, *cz), dtype=probability_dtype
            )
        )
        scaled = probs if probability_dtype == "float16" else da.round(probs * 255)
        sources.append(scaled.astype(probability_dtype).rechunk((1, *cz)))
    if "confidence" in outputs:
        targets.append(store.create_array("confidence", shape=shape, chunks=cz, dtype="float16"))
        sources.append(probs.max(axis=0).astype(np.float16))
    if "entropy" in outputs:
        targets.append(store.create_array("entropy", shape=shape, chunks=cz, dtype="float16"))
        ent = -(probs * da.log(da.maximum(probs, 1e-12))).sum(axis=0) / np.log(max(classes, 2))
        sources.append(ent.astype(np.float16))
    da.store(sources, targets, lock=False)


def _swap_in(partial: Path, out: Path) -> None:
    """Rename the finished ``partial`` group to ``out``, replacing an old one only now."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(partial, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
