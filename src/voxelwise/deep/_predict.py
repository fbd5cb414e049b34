"""Tiled prediction over volumes of any size, multi-axis fusion, ensembles, zarr outputs.

Patches come from :class:`~voxelwise.blockwise.PatchGrid` and are blended by
:class:`~voxelwise.blockwise.Stitcher` (cosine window). A 2D model runs over slices along each
chosen axis (the volume is viewed transposed, never copied); per-axis probabilities are fused
by their per-class maximum (renormalised to sum 1) or their mean. For :func:`predict`, the
accumulators are zarr arrays beside the outputs, so memory stays at a few patches and chunks.
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

from voxelwise.blockwise import PatchGrid, Stitcher
from voxelwise.deep._data import as_dask
from voxelwise.deep._device import parse_device
from voxelwise.deep._model import DeepModel, load_model
from voxelwise.deep._nets import set_mc_dropout
from voxelwise.errors import OutputExistsError

__all__ = ["choose_axes", "fuse_probabilities", "predict", "predict_proba"]

_ORDER = {"z": (0, 1, 2), "y": (1, 0, 2), "x": (2, 0, 1)}
_BACK = {"z": (0, 1, 2, 3), "y": (0, 2, 1, 3), "x": (0, 2, 3, 1)}
ModelLike = str | os.PathLike[str] | DeepModel


def _store(lazy: Any, target: Any) -> None:
    da.store(lazy, target, lock=False)


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


def fuse_probabilities(probs: Sequence[Any], *, fusion: str = "max") -> Any:
    """Fuse per-axis (C, Z, Y, X) class probabilities: per-class max renormalised, or mean."""
    if fusion not in ("max", "mean"):
        raise ValueError(f"Expected fusion 'max' or 'mean', got {fusion!r} instead")
    lib = da if any(isinstance(p, da.Array) for p in probs) else np
    stack = lib.stack(list(probs))
    if fusion == "mean":
        return stack.mean(axis=0)
    top = stack.max(axis=0)
    return top / lib.maximum(top.sum(axis=0, keepdims=True), 1e-12)


def _forward(
    model: DeepModel, device: torch.device, tta: bool
) -> Callable[[np.ndarray], np.ndarray]:
    net = model.network

    def run(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(model.normalize(batch)).unsqueeze(1).to(device)
        flips: list[tuple[int, ...]] = [()]
        if tta:
            flips += [(-1,), (-2,), (-2, -1)]
        total = None
        with torch.no_grad():
            for dims in flips:
                xi = x.flip(dims) if dims else x
                p = net(xi).float().softmax(1)
                p = p.flip(dims) if dims else p
                total = p if total is None else total + p
        assert total is not None
        return (total / len(flips)).cpu().numpy()

    return run


class _SlabReader:
    """Reads patches of a lazy (Z', Y', X') view through one cached slab along its first axis.

    Patches are visited in C order, so the slab (as thick as the storage chunks along that
    axis, at least one patch) moves forward monotonically and every stored chunk is read once
    per axis, however thin the patches are. Padding follows ``PatchGrid.read`` ('reflect').
    """

    def __init__(self, view: da.Array, depth: int, *, max_mb: float = 64.0) -> None:
        self.view = view
        plane = max(1, int(np.prod(view.shape[1:])) * view.dtype.itemsize)
        cap = max(1, int(max_mb * 2**20 // plane))  # thinner slabs re-read chunks, but bound memory
        self.depth = max(int(depth), min(int(view.chunks[0][0]), cap))
        self.lo = self.hi = 0
        self.slab = np.zeros((0, *view.shape[1:]), dtype=view.dtype)

    def __call__(self, patch: Any) -> np.ndarray:
        start, stop = patch.start[0], patch.stop[0]
        if not (self.lo <= start and stop <= self.hi):
            self.lo = start
            self.hi = min(max(stop, start + self.depth), self.view.shape[0])
            self.slab = np.asarray(self.view[self.lo : self.hi].compute())
        region = self.slab[(slice(start - self.lo, stop - self.lo), *patch.slices[1:])]
        if all(p == (0, 0) for p in patch.padding):
            return region
        return np.pad(region, patch.padding, mode="symmetric")


def _run_grid(
    model: DeepModel,
    view: da.Array,
    out: Any,
    *,
    axis: str,
    device: torch.device,
    tta: bool,
    overlap: Any,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
) -> Any:
    """Predict ``view`` (Z', Y', X') patch by patch into ``out`` ((C, Z', Y', X'))."""
    psize = tuple(model.metadata["patch_size"])
    if model.ndim == 2:
        patch = (1, *psize)
        ov = overlap if overlap is not None else (0, psize[0] // 4, psize[1] // 4)
    else:
        patch = psize
        ov = overlap if overlap is not None else tuple(p // 4 for p in psize)
    grid = PatchGrid(view.shape, patch, overlap=ov)
    stitcher = Stitcher(grid, channels=model.classes, out=out)
    run = _forward(model, device, tta)
    read = _SlabReader(view, patch[0])
    patches = list(grid)
    for start in range(0, len(patches), batch_size):
        chunk = patches[start : start + batch_size]
        blocks = np.stack([read(p) for p in chunk])
        if model.ndim == 2:
            blocks = blocks[:, 0]
        probs = run(blocks)
        for p, prob in zip(chunk, probs):
            stitcher.add(p, prob[:, None] if model.ndim == 2 else prob)
        if progress is not None:
            progress(start + len(chunk), len(patches))
    return stitcher.result()


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
    for m in loaded:
        m.network.to(device).eval()
    return loaded


def predict_proba(
    model: ModelLike | Sequence[ModelLike],
    image: Any,
    *,
    axes: str = "auto",
    fusion: str = "max",
    tta: bool = False,
    ensemble: int | None = None,
    mc_dropout: bool = False,
    overlap: Any = None,
    batch_size: int = 4,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Class probabilities for a volume that fits in memory: (C, Z, Y, X) float32.

    Same options as :func:`predict` (which streams to zarr for volumes of any size);
    ``mc_dropout=True`` keeps dropout active (one stochastic pass; call repeatedly for
    Monte-Carlo samples).
    """
    dev = parse_device(device)
    members = _models(model, ensemble, dev)
    image = as_dask(image, what="image")
    total = None
    for m in members:
        set_mc_dropout(m.network, mc_dropout)
        per_axis = []
        for a in choose_axes(axes, image.shape, m):
            view = image.transpose(_ORDER[a])
            acc = np.zeros((m.classes, *view.shape), dtype=np.float32)
            _run_grid(
                m,
                view,
                acc,
                axis=a,
                device=dev,
                tta=tta,
                overlap=overlap,
                batch_size=batch_size,
                progress=progress,
            )
            per_axis.append(acc.transpose(_BACK[a]))
        fused = fuse_probabilities(per_axis, fusion=fusion) if len(per_axis) > 1 else per_axis[0]
        total = fused if total is None else total + fused
        set_mc_dropout(m.network, False)
    assert total is not None
    return np.ascontiguousarray(total / len(members), dtype=np.float32)


def predict(
    model: ModelLike | Sequence[ModelLike],
    image: Any,
    out: str | os.PathLike[str],
    *,
    axes: str = "auto",
    fusion: str = "max",
    tta: bool = False,
    ensemble: int | None = None,
    outputs: Sequence[str] = ("labels", "probabilities", "confidence", "entropy"),
    probability_dtype: str = "float16",
    chunks: tuple[int, int, int] = (32, 256, 256),
    overlap: Any = None,
    batch_size: int = 4,
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
    image : (Z, Y, X) array, path or Volume
        Read patch by patch (zarr/dask stay lazy).
    out : path
        A ``.zarr`` folder; arrays ``labels`` (uint8, class c written as c + 1),
        ``probabilities`` ((C, Z, Y, X), ``probability_dtype`` float16, or uint8 scaled to
        0-255), ``confidence`` (max probability, float16) and ``entropy`` (normalised to 0-1,
        float16), as listed in ``outputs``. Attributes hold label names and values.
    axes : 'auto' or letters of 'zyx'
        Slice directions for a 2D model; 'auto' takes the model's training axes that are thick
        enough for its patch (see :func:`choose_axes`).
    fusion : {'max', 'mean'}
        How per-axis probabilities combine (see :func:`fuse_probabilities`).
    tta : bool
        Average over in-plane flips.
    device : {'auto', 'cpu', 'cuda'}
    memory_mb : float
        Volumes needing at most this much to blend in memory (about 50 bytes per voxel and
        class) are blended in memory (faster); larger ones in uncompressed zarr arrays inside
        ``out`` (removed at the end), so memory stays at one input slab (at most 64 MB), a few
        patches and chunks, whatever the volume's size.
    progress : callable, optional
        ``progress(done, total)`` per batch of patches; may raise CancelledError.

    Returns
    -------
    Path
        The output zarr group.
    """
    if probability_dtype not in ("float16", "uint8"):
        raise ValueError(
            f"Expected probability_dtype 'float16' or 'uint8', got {probability_dtype!r}"
        )
    unknown = set(outputs) - {"labels", "probabilities", "confidence", "entropy"}
    if unknown:
        raise ValueError(
            f"Unknown outputs {sorted(unknown)}; choose from labels, probabilities, confidence, entropy"
        )
    out = Path(out)
    if out.exists():
        if not overwrite:
            raise OutputExistsError(f"{out} exists already; pass overwrite=True to replace it")
        shutil.rmtree(out)
    dev = parse_device(device)
    members = _models(model, ensemble, dev)
    image = as_dask(image, what="image")
    shape = tuple(int(s) for s in image.shape)
    classes = members[0].classes
    store = zarr.open_group(out, mode="w")
    cz = tuple(min(c, s) for c, s in zip(chunks, shape))
    work = store.require_group("_work")
    # the in-memory path peaks at about 50 bytes per voxel and class (accumulators and dask
    # temporaries of the fusion and output steps)
    in_memory = 50 * classes * int(np.prod(shape)) <= memory_mb * 2**20

    def alloc(name: str, full: tuple[int, ...], chunks: tuple[int, ...]) -> Any:
        if in_memory:
            return np.zeros(full, dtype=np.float32)
        return work.create_array(
            name, shape=full, chunks=chunks, dtype="float32", compressors=None, overwrite=True
        )

    def lazy(array: Any) -> da.Array:
        if in_memory:  # modest dask chunks keep the temporaries of the output step small
            return da.from_array(array, chunks=(1, "auto", "auto", "auto"))
        return da.from_array(array, chunks=array.chunks)

    total = alloc("total", (classes, *shape), (1, *cz))
    for k, m in enumerate(members):
        fused = alloc("fused", (classes, *shape), (1, *cz))
        chosen = choose_axes(axes, shape, m)
        for i, a in enumerate(chosen):
            view = image.transpose(_ORDER[a])
            vchunks = tuple(cz[j] for j in _ORDER[a])
            # thin chunks along the slicing axis: a 2D patch rewrites only its own slice
            thin = (1, 1, *vchunks[1:]) if m.ndim == 2 else (1, *vchunks)
            acc = alloc(f"axis_{a}", (classes, *view.shape), thin)
            _run_grid(
                m,
                view,
                acc,
                axis=a,
                device=dev,
                tta=tta,
                overlap=overlap,
                batch_size=batch_size,
                progress=progress,
            )
            back = lazy(acc).transpose(_BACK[a])
            if i == 0:
                _store(back.rechunk((1, *cz)), fused)
            else:
                cur = lazy(fused)
                new = da.maximum(cur, back) if fusion == "max" else cur + back
                _store(new.rechunk((1, *cz)), fused)
            if not in_memory:
                del work[f"axis_{a}"]
        f = lazy(fused)
        if fusion == "max" and len(chosen) > 1:
            f = f / da.maximum(f.sum(axis=0, keepdims=True), 1e-12)
        elif len(chosen) > 1:
            f = f / len(chosen)
        if k > 0:
            f = f + lazy(total)
        _store(f.rechunk((1, *cz)), total)
    probs = lazy(total) / len(members)
    targets: list[tuple[da.Array, Any]] = []
    if "labels" in outputs:
        arr = store.create_array("labels", shape=shape, chunks=cz, dtype="uint8")
        targets.append(((probs.argmax(axis=0) + 1).astype(np.uint8), arr))
    if "probabilities" in outputs:
        arr = store.create_array(
            "probabilities", shape=(classes, *shape), chunks=(1, *cz), dtype=probability_dtype
        )
        scaled = probs if probability_dtype == "float16" else da.round(probs * 255)
        targets.append((scaled.astype(probability_dtype), arr))
    if "confidence" in outputs:
        arr = store.create_array("confidence", shape=shape, chunks=cz, dtype="float16")
        targets.append((probs.max(axis=0).astype(np.float16), arr))
    if "entropy" in outputs:
        arr = store.create_array("entropy", shape=shape, chunks=cz, dtype="float16")
        ent = -(probs * da.log(da.maximum(probs, 1e-12))).sum(axis=0) / np.log(max(classes, 2))
        targets.append((ent.astype(np.float16), arr))
    for result, arr in targets:
        _store(result.rechunk(arr.chunks), arr)
    del store["_work"]
    meta = members[0].metadata
    store.attrs.update(
        {
            "voxelwise_prediction": 1,
            "label_names": meta["label_names"],
            "label_values": meta["label_values"],
            "axes": choose_axes(axes, shape, members[0]),
            "fusion": fusion,
            "models": len(members),
        }
    )
    return out
