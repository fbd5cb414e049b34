"""Streaming a network over one orientation of a volume, slab by slab.

A :class:`~voxelwise.blockwise.PatchGrid` covers the whole view (Z', Y', X'); slabs of ``T``
planes along its first axis are predicted one after another. A slab takes every patch that
touches it, blends them in a NumPy buffer with the grid's separable window weights and keeps its
own planes, so the result equals blending the whole grid at once (patches thicker than one plane
are recomputed in the two slabs they straddle). Memory is one input slab, one buffer of
``classes x T x Y' x X'`` floats (with its float16 copy) and a batch of patches, whatever the number of planes.
A multi-channel view is channels-last (Z', Y', X', C): a slab read takes each channel's slab.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import dask.array as da
import numpy as np
import psutil
import torch

from voxelwise.blockwise import Patch, PatchGrid, window
from voxelwise.deep._model import DeepModel
from voxelwise.errors import VoxelwiseError

__all__ = ["Forward", "SlabPlan", "auto_batch_size", "forward", "plan_slabs", "predict_slabs"]

Forward = Callable[[np.ndarray], np.ndarray]


def forward(model: DeepModel, device: torch.device, tta: bool) -> Forward:
    """Class probabilities (B, C, *patch) for a batch of raw patches (B, *patch), or
    (B, *patch, channels) for a model of several input channels (image channels x 2.5D
    planes, see :func:`voxelwise.deep._data.context_view`).

    ``tta`` averages the four in-plane 90-degree rotations (flips for non-square patches);
    over three slicing axes that is the 12-way test-time augmentation of Volume Segmantics.
    """
    net = model.network
    # channels-last runs 2D convolutions ~1.6x faster on CPU (oneDNN); same numbers
    layout = torch.channels_last if model.ndim == 2 else torch.contiguous_format
    net.to(memory_format=layout)  # type: ignore[call-overload]

    def run(batch: np.ndarray) -> np.ndarray:
        normed = model.normalize(batch)
        if model.net_channels > 1:  # channels-last patches: channels first for the net
            x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(normed, -1, 1))).to(device)
        else:
            x = torch.from_numpy(normed).unsqueeze(1).to(device)
        x = x.contiguous(memory_format=layout)
        square = x.shape[-1] == x.shape[-2]
        views: list[tuple[str, Any]] = [("rot", 0)]
        if tta and square:
            views += [("rot", 1), ("rot", 2), ("rot", 3)]
        elif tta:
            views += [("flip", (-1,)), ("flip", (-2,)), ("flip", (-2, -1))]
        total = None
        with torch.inference_mode():
            for kind, arg in views:
                if kind == "rot":
                    xi = torch.rot90(x, arg, dims=(-2, -1)) if arg else x
                    p = net(xi).float().softmax(1)
                    p = torch.rot90(p, -arg, dims=(-2, -1)) if arg else p
                else:
                    p = net(x.flip(arg)).float().softmax(1).flip(arg)
                total = p if total is None else total + p
        assert total is not None
        return (total / len(views)).cpu().contiguous().numpy()

    return run


def auto_batch_size(model: DeepModel, device: torch.device) -> int:
    """A batch size that fits in a quarter of the free memory of ``device``.

    Activation memory is estimated from the patch size and network width (about 24 floats per
    feature-map voxel of the first level, covering the decoder and skip connections); CPU
    batches stay at most 8 (larger ones are not faster there), GPU batches at most 64.
    """
    patch = int(np.prod(model.metadata["patch_size"]))
    width = int((model.metadata.get("network") or {}).get("width", 16))
    per_sample = patch * width * 4 * 24
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
        cap = 64
    else:
        free = psutil.virtual_memory().available
        cap = 8
    return int(max(1, min(cap, free // 4 // max(per_sample, 1))))


def _run_batches(run: Forward, blocks: np.ndarray, batch: list[int]) -> np.ndarray:
    """Run ``blocks`` through ``run`` ``batch[0]`` at a time, halving it on GPU out-of-memory."""
    out = []
    i = 0
    while i < len(blocks):
        size = batch[0]
        try:
            out.append(run(blocks[i : i + size]))
        except torch.cuda.OutOfMemoryError as e:
            torch.cuda.empty_cache()
            if size == 1:
                raise VoxelwiseError(
                    "The GPU ran out of memory predicting a single patch; use a model with a "
                    "smaller patch_size or width, or predict with device='cpu'"
                ) from e
            batch[0] = max(1, size // 2)
            continue
        i += size
    return np.concatenate(out)


class _SlabReader:
    """Reads ranges of planes of a lazy view through a cache as thick as its storage chunks
    (bounded by ``max_mb``), so every stored chunk is read about once per orientation."""

    def __init__(self, view: da.Array, *, max_mb: float = 64.0) -> None:
        self.view = view
        plane = max(1, int(np.prod(view.shape[1:])) * view.dtype.itemsize)
        self.depth = max(1, min(int(view.chunks[0][0]), int(max_mb * 2**20 // plane)))
        self.lo = self.hi = 0
        self.cache = np.zeros((0, *view.shape[1:]), dtype=view.dtype)

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        if not (self.lo <= lo and hi <= self.hi):
            self.lo, self.hi = lo, min(max(hi, lo + self.depth), self.view.shape[0])
            self.cache = np.asarray(self.view[self.lo : self.hi].compute())
        return self.cache[lo - self.lo : hi - self.lo]


class SlabPlan:
    """The patch grid of one view and its split into slabs of ``thickness`` planes."""

    def __init__(
        self, shape: tuple[int, ...], patch: tuple[int, int, int], overlap: Any, thickness: int
    ) -> None:
        self.grid = PatchGrid(shape, patch, overlap=overlap)
        self.thickness = max(1, int(thickness))
        depth, n = self.grid.patch_size[0], self.grid.shape[0]
        per_plane = self.grid.counts[1] * self.grid.counts[2]
        self.slabs: list[tuple[int, int, list[int]]] = []
        for z0 in range(0, n, self.thickness):
            z1 = min(z0 + self.thickness, n)
            rows = [
                i
                for i, start in enumerate(self.grid.positions[0])
                if start < z1 and min(start + depth, n) > z0
            ]
            idx = [r * per_plane + k for r in rows for k in range(per_plane)]
            self.slabs.append((z0, z1, idx))

    @property
    def patches(self) -> int:
        """Patch predictions the plan runs (patches straddling two slabs count twice)."""
        return sum(len(idx) for _, _, idx in self.slabs)

    def profiles(self, kind: str = "cosine") -> list[np.ndarray]:
        """Per axis, the sum of the 1D windows of all patches over each voxel (all > 0)."""
        grid = self.grid
        out = []
        for size, patch, positions in zip(grid.shape, grid.patch_size, grid.positions):
            w = window(kind, patch)
            total = np.zeros(size, dtype=np.float64)
            for start in positions:
                stop = min(start + patch, size)
                before = (patch - (stop - start)) // 2
                total[start:stop] += w[before : before + stop - start]
            out.append(total.astype(np.float32))
        return out


def plan_slabs(
    model: DeepModel, shape: tuple[int, ...], *, overlap: Any, memory_mb: float, batch: int = 8
) -> SlabPlan:
    """Plan the patches of a view of ``shape``: slabs as thick as ``memory_mb`` allows (but
    holding at least ``batch`` patches, so forward passes stay batched)."""
    psize = tuple(int(p) for p in model.metadata["patch_size"])
    if model.ndim == 2:
        patch = (1, *psize)
        ov = overlap if overlap is not None else (0, psize[0] // 4, psize[1] // 4)
    else:
        patch = psize
        ov = overlap if overlap is not None else tuple(p // 4 for p in psize)
    plane = int(np.prod(shape[1:]))
    # per voxel of a slab: the float32 blending buffer, its float16 copy on the way into a
    # zarr store and the codec's working copy
    planes = int(memory_mb * 2**20 // ((12 * model.classes + 4) * plane))
    thickness = max(1, planes - (patch[0] - 1) if model.ndim == 3 else planes)
    if model.ndim == 3:  # slabs much thinner than a patch would recompute most patches
        thickness = max(thickness, patch[0])
    else:
        per_plane = PatchGrid((1, *shape[1:]), patch, overlap=ov)
        thickness = max(thickness, -(-int(batch) // len(per_plane)))
    return SlabPlan(shape, patch, ov, min(thickness, shape[0]))  # type: ignore[arg-type]


def _weights(windows: list[np.ndarray], patch: Patch) -> np.ndarray:
    parts = [w[b : len(w) - a] for w, (b, a) in zip(windows, patch.padding)]
    return parts[0][:, None, None] * parts[1][None, :, None] * parts[2][None, None, :]


def predict_slabs(
    model: DeepModel,
    view: da.Array,
    plan: SlabPlan,
    *,
    run: Forward,
    batch: list[int],
    step: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(z0, z1, probabilities)`` for each slab of ``plan``: (C, z1 - z0, Y', X') float32.

    ``batch`` is a one-item list holding the batch size (lowered in place after a GPU
    out-of-memory error); ``step(n)`` is called after every ``n`` patches.
    """
    grid = plan.grid
    windows = [window("cosine", p).astype(np.float32) for p in grid.patch_size]
    pz, py, px = plan.profiles()
    norm_yx = py[:, None] * px[None, :]
    read = _SlabReader(view)
    for z0, z1, idx in plan.slabs:
        patches = [grid[i] for i in idx]
        bz0 = min(p.start[0] for p in patches)
        bz1 = max(p.stop[0] for p in patches)
        source = read(bz0, bz1)
        acc = np.zeros((model.classes, bz1 - bz0, *grid.shape[1:]), dtype=np.float32)
        for k in range(0, len(patches), 4 * batch[0]):
            chunk = patches[k : k + 4 * batch[0]]
            blocks = []
            for p in chunk:
                region = source[(slice(p.start[0] - bz0, p.stop[0] - bz0), *p.slices[1:])]
                if any(pad != (0, 0) for pad in p.padding):
                    pads = list(p.padding) + [(0, 0)] * (region.ndim - 3)  # channels
                    region = np.pad(region, pads, mode="symmetric")
                blocks.append(region)
            stacked = np.stack(blocks)
            probs = _run_batches(run, stacked[:, 0] if model.ndim == 2 else stacked, batch)
            for p, prob in zip(chunk, probs):
                if model.ndim == 2:
                    prob = prob[:, None]
                crop = tuple(slice(b, n - a) for (b, a), n in zip(p.padding, grid.patch_size))
                target = (
                    slice(None),
                    slice(p.start[0] - bz0, p.stop[0] - bz0),
                    *p.slices[1:],
                )
                acc[target] += prob[(slice(None), *crop)] * _weights(windows, p)
            if step is not None:
                step(len(chunk))
        keep = acc[:, z0 - bz0 : z1 - bz0]
        for i in range(z1 - z0):  # plane by plane: no slab-sized temporary
            keep[:, i] /= pz[z0 + i] * norm_yx
        yield z0, z1, keep
