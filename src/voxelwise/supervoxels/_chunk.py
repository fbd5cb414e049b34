"""Chunk functions: SLIC or seeded watershed on one block, then connected, consecutive ids.

Each function works on one chunk extended by its halo and numbers its regions from 1; the
caller trims the halo (:func:`voxelwise.blockwise.map_chunks`), runs :func:`finish_block` on the
trimmed chunk (split regions cut by the trim into connected pieces, merge slivers), and offsets
the ids per chunk so they are unique over the volume.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from voxelwise.errors import InvalidVolumeError

__all__ = ["finish_block", "normalise", "slic_block", "watershed_block"]

SCALE = 100.0  # intensities are scaled to 0..SCALE, like CIELAB lightness in the SLIC paper


def normalise(
    block: np.ndarray, lo: float, hi: float, mask: np.ndarray | None = None
) -> np.ndarray:
    """``block`` mapped linearly from ``lo..hi`` to 0..1 and clipped, as float32.

    NaN and infinite values are allowed outside ``mask`` (they become 0) and refused inside.
    """
    out = np.asarray(block, dtype=np.float32).copy()
    finite = np.isfinite(out)
    if not finite.all():
        if mask is None or not finite[np.asarray(mask, dtype=bool)].all():
            raise InvalidVolumeError(
                "The image holds NaN or infinite values; supervoxels need finite intensities. "
                "Replace them first (e.g. numpy.nan_to_num or a filled layer) or exclude them "
                "with mask="
            )
        out[~finite] = np.float32(lo)
    out -= np.float32(lo)
    if hi > lo:
        out *= np.float32(1.0 / (hi - lo))
    else:
        out[...] = 0
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _slabs(depth: int, slab: int) -> Iterator[tuple[int, int]]:
    step = slab if slab else depth
    for z0 in range(0, depth, step):
        yield z0, min(z0 + step, depth)


def slic_block(
    block: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    steps: tuple[float, float, float],
    spacing: tuple[float, float, float],
    slab: int,
    compactness: float,
    sigma: float,
    max_num_iter: int,
    min_size_factor: float,
    lo: float,
    hi: float,
) -> np.ndarray:
    """SLIC supervoxels of one block (ids 1..n, 0 outside ``mask``), as uint32.

    Intensities are normalised with the volume-wide ``lo..hi`` and, for the distance, scaled to
    0..100; :func:`skimage.segmentation.slic` rescales every call to its own min..max, which the
    compactness passed to it undoes, so ``compactness`` means the same in every chunk.
    """
    from skimage.segmentation import slic

    image = normalise(block, lo, hi, mask)
    keep = None if mask is None else np.asarray(mask, dtype=bool)
    out = np.zeros(image.shape, dtype=np.uint32)
    offset = 0
    for z0, z1 in _slabs(image.shape[0], slab):
        sub = image[z0:z1]
        m = None if keep is None else np.ascontiguousarray(keep[z0:z1])
        values = sub if m is None else sub[m]
        if values.size == 0:
            continue
        depth = min(steps[0], z1 - z0) if slab else steps[0]
        n = max(1, round(values.size / (depth * steps[1] * steps[2])))
        span = float(values.max() - values.min())
        # slic divides intensities by (max - min) and then by its compactness
        c = compactness / SCALE / span if span > 0 else max(compactness, 1e-6) / SCALE
        seg = slic(
            sub,
            n_segments=n,
            compactness=max(c, 1e-12),
            max_num_iter=max_num_iter,
            sigma=sigma,
            spacing=np.asarray(spacing, dtype=np.float64),
            min_size_factor=min_size_factor,
            start_label=1,
            mask=m,
            channel_axis=None,
        )
        seg = seg.astype(np.uint32, copy=False)
        top = int(seg.max())
        if top:
            seg[seg > 0] += np.uint32(offset)
            offset += top
        out[z0:z1] = seg
    return out


def _grid_seeds(elevation: np.ndarray, steps: tuple[int, int, int]) -> np.ndarray:
    """Markers 1..n at the lowest point of each grid cell (cells without finite values: none)."""
    shape = elevation.shape
    n_cells = [-(-s // t) for s, t in zip(shape, steps)]
    padded_shape = [n * t for n, t in zip(n_cells, steps)]
    padded = np.full(padded_shape, np.inf, dtype=np.float32)
    padded[: shape[0], : shape[1], : shape[2]] = elevation
    cells = padded.reshape(n_cells[0], steps[0], n_cells[1], steps[1], n_cells[2], steps[2])
    cells = cells.transpose(0, 2, 4, 1, 3, 5).reshape(*n_cells, -1)
    best = cells.argmin(axis=-1)
    found = np.isfinite(np.take_along_axis(cells, best[..., None], axis=-1)[..., 0])
    dz, dy, dx = np.unravel_index(best, steps)
    cz, cy, cx = np.indices(n_cells)
    z = (cz * steps[0] + dz)[found]
    y = (cy * steps[1] + dy)[found]
    x = (cx * steps[2] + dx)[found]
    markers = np.zeros(shape, dtype=np.int32)
    markers[z, y, x] = np.arange(1, z.size + 1, dtype=np.int32)
    return markers


def _gradient(
    image: np.ndarray, spacing: tuple[float, float, float], sigma: float, *, in_plane: bool
) -> np.ndarray:
    """Gaussian gradient magnitude per unit of the finest axis (in-plane only for slabs)."""
    from scipy import ndimage as ndi

    sig = [0.0 if (in_plane and axis == 0) else sigma / s for axis, s in enumerate(spacing)]
    total = np.zeros(image.shape, dtype=np.float32)
    for axis in range(1 if in_plane else 0, 3):
        if image.shape[axis] < 2:
            continue
        order = [0, 0, 0]
        order[axis] = 1
        d = ndi.gaussian_filter(image, sig, order=order, mode="nearest")
        d /= np.float32(spacing[axis])
        total += d * d
    return np.sqrt(total, out=total)


def watershed_block(
    block: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    steps: tuple[float, float, float],
    spacing: tuple[float, float, float],
    slab: int,
    compactness: float,
    sigma: float,
    gradient: bool,
    lo: float,
    hi: float,
) -> np.ndarray:
    """Compact watershed from one seed per grid cell (its lowest point), as uint32 ids 1..n.

    The elevation is the Gaussian gradient magnitude of the normalised image (0..100 units;
    ``sigma`` in voxels of the finest axis), or the normalised image itself when ``gradient``
    is False (a precomputed edge map: a gradient or membrane-probability layer).
    """
    from skimage.segmentation import watershed

    image = normalise(block, lo, hi, mask) * np.float32(SCALE)
    elevation = _gradient(image, spacing, sigma, in_plane=bool(slab)) if gradient else image
    keep = None if mask is None else np.asarray(mask, dtype=bool)
    grid = tuple(max(1, round(s)) for s in steps)
    out = np.zeros(image.shape, dtype=np.uint32)
    offset = 0
    for z0, z1 in _slabs(image.shape[0], slab):
        elev = elevation[z0:z1]
        m = None if keep is None else keep[z0:z1]
        seeds_on = elev if m is None else np.where(m, elev, np.inf)
        markers = _grid_seeds(seeds_on, grid)  # type: ignore[arg-type]
        if not markers.any():
            continue
        seg = watershed(elev, markers, mask=m, compactness=compactness)
        seg = seg.astype(np.uint32, copy=False)
        top = int(seg.max())
        if top:
            seg[seg > 0] += np.uint32(offset)
            offset += top
        out[z0:z1] = seg
    return out


def finish_block(labels: np.ndarray, *, min_size: float, slab: int = 0) -> np.ndarray:
    """Connected components of equal ids, slivers merged, numbered 1..k consecutively (uint32).

    Regions cut by trimming a halo can fall apart or leave slivers at the chunk's faces: every
    6-connected piece gets its own id, and a piece smaller than ``min_size`` voxels joins the
    face-adjacent piece it shares most faces with (a larger one first), never across the faces
    between slabs of ``slab`` sections (counted from the block's first section). 0 stays 0.
    """
    from skimage.measure import label

    pieces = label(labels, background=0, connectivity=1)
    k = int(pieces.max())
    table = _merge_table(pieces, k, min_size, slab)
    return table[pieces]


def _face_pairs(pieces: np.ndarray, small: np.ndarray, slab: int) -> tuple[np.ndarray, np.ndarray]:
    """Directed (small piece, neighbour) pairs, one per shared voxel face (within slabs)."""
    src, dst = [], []
    for axis in range(3):
        n = pieces.shape[axis]
        lower = np.arange(n - 1)
        if axis == 0 and slab:
            lower = lower[(lower + 1) % slab != 0]
        if lower.size == 0:
            continue
        a = np.take(pieces, lower, axis=axis).ravel()
        b = np.take(pieces, lower + 1, axis=axis).ravel()
        sel = (a != b) & (a > 0) & (b > 0)
        a, b = a[sel], b[sel]
        sel = small[a] | small[b]
        a, b = a[sel], b[sel]
        src += [a, b]
        dst += [b, a]
    if not src:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    s = np.concatenate(src).astype(np.int64)
    t = np.concatenate(dst).astype(np.int64)
    keep = small[s]
    return s[keep], t[keep]


def _merge_table(pieces: np.ndarray, k: int, min_size: float, slab: int) -> np.ndarray:
    """Lookup table piece id -> final id (consecutive from 1; 0 stays 0)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    sizes = np.bincount(pieces.ravel(), minlength=k + 1)
    small = sizes < min_size
    small[0] = False
    rep = np.arange(k + 1, dtype=np.int64)
    if small.any():
        s, t = _face_pairs(pieces, small, slab)
        if s.size:
            key = s * (k + 1) + t
            ukey, count = np.unique(key, return_counts=True)
            us, ut = ukey // (k + 1), ukey % (k + 1)
            # per small piece: a large neighbour first, then the longest contact
            order = np.lexsort((-count, small[ut], us))
            us, ut = us[order], ut[order]
            first = np.r_[True, us[1:] != us[:-1]]
            us, ut = us[first], ut[first]
            # each small piece points at one neighbour: every group holds at most one large piece
            graph = coo_matrix((np.ones(us.size), (us, ut)), shape=(k + 1, k + 1))
            n_groups, group = connected_components(graph, directed=True, connection="weak")
            head = np.full(n_groups, k + 1, dtype=np.int64)
            np.minimum.at(head, group, np.arange(k + 1))
            large = np.flatnonzero(~small)
            head[group[large]] = large
            rep = head[group]
    rep[0] = 0
    used = np.unique(rep[1:])
    table = np.zeros(k + 1, dtype=np.uint32)
    table[1:] = (np.searchsorted(used, rep[1:]) + 1).astype(np.uint32)
    return table
