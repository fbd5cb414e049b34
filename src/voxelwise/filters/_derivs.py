"""Separable Gaussian derivatives shared within a block, and 3x3 symmetric eigenvalues.

:class:`GaussianStack` computes images ``d^(a+b+c) / dz^a dy^b dx^c (G_sigma * image)`` on one
block by three 1D passes (z, then y, then x) and keeps every intermediate pass, so a bank of
features at one scale (smoothing, gradient, Hessian, Laplacian) shares most of the work: the
three z passes feed six y passes, which feed the ten x passes of the smoothed image, its
gradient and its Hessian. After each pass the rows the next pass will not read are cropped off
("valid" filtering), so the context margin shrinks as the passes proceed.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from voxelwise.filters._params import Spacing, axis_scale, gauss_radius

__all__ = ["GaussianStack", "crop_margin", "derivative_radius", "eigvalsh3", "gaussian_kernel"]

Margin = tuple[int, int, int]


def derivative_radius(sigma_axis: float, truncate: float, order: int) -> int:
    """Kernel radius of a Gaussian (derivative) along one axis; at least ``order`` voxels."""
    return max(gauss_radius(sigma_axis, truncate), order)


def gaussian_kernel(sigma: float, order: int, radius: int) -> np.ndarray:
    """A sampled 1D Gaussian (``order=0``) or Gaussian derivative (``order`` 1 or 2).

    Derivative kernels are normalised to be exact on polynomials of their order (a ramp of
    slope ``a`` gives ``a``; ``x**2`` gives 2), so small sigmas (e.g. along thick z sections)
    stay meaningful: as sigma goes to 0 they become the central differences ``[1, 0, -1] / 2``
    and ``[1, -2, 1]``. Returned as convolution weights (apply with ``ndi.convolve1d``).
    """
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 * (x / sigma) ** 2)
    phi /= phi.sum()
    if order == 0:
        return phi
    if order == 1:
        k = -x / sigma**2 * phi
        moment = -float(np.sum(x * k))
        if not moment > 1e-300:
            k = np.where(np.abs(x) == 1, -x, 0.0)
            moment = 2.0
        return k / moment
    if order == 2:
        k = (x**2 / sigma**4 - 1 / sigma**2) * phi
        centre = radius
        k[centre] = 0.0
        k[centre] = -k.sum()  # exactly zero response to a constant
        moment = float(np.sum(x**2 * k)) / 2
        if not moment > 1e-300:
            k = np.where(np.abs(x) == 1, 1.0, np.where(x == 0, -2.0, 0.0))
            moment = 1.0
        return k / moment
    raise ValueError(f"Expected a derivative order of 0, 1 or 2, got {order} instead")


def crop_margin(arr: np.ndarray, have: Margin, want: Margin) -> np.ndarray:
    """View of ``arr`` (margins ``have`` around a core region) with only ``want`` left."""
    index = tuple(
        slice(h - w, n - (h - w)) if h != w else slice(None)
        for h, w, n in zip(have, want, arr.shape[-3:])
    )
    return arr[(..., *index)]


class GaussianStack:
    """Memo of separable Gaussian-derivative images of one block.

    Derivatives are taken per voxel of the finest axis (physical length divided by
    ``min(spacing)``), so a ramp rising by ``a`` per finest-voxel length has gradient ``a``
    along every axis, whatever the anisotropy.

    Parameters
    ----------
    block : (Z, Y, X) ndarray
        The block, converted to float32; it extends ``margin`` voxels beyond its core region.
    margin : (int, int, int)
        Context on each side of the core region.
    spacing : (z, y, x) or None
        Voxel size: sigmas are in voxels of the finest axis (see :mod:`voxelwise.filters`).
    truncate : float
        Kernel radius in standard deviations.
    """

    def __init__(
        self, block: np.ndarray, margin: Margin, *, spacing: Spacing, truncate: float
    ) -> None:
        self.block = np.asarray(block, dtype=np.float32)
        self.margin: Margin = tuple(int(m) for m in margin)  # type: ignore[assignment]
        self.scale = axis_scale(spacing)
        self.truncate = float(truncate)
        self._memo: dict[tuple[object, ...], tuple[np.ndarray, Margin]] = {}
        self._parent: GaussianStack | None = None
        self._start = 0

    def slab(self, start: int, stop: int) -> GaussianStack:
        """A stack over the core rows ``start:stop`` (along z) of this one.

        It takes its z passes from this stack (computed once for the whole block) and does
        its own y and x passes on the slab only, so the temporaries of a bank evaluated slab by
        slab stay small and in cache. Derivatives requested from a slab must not extend along z.
        """
        child = self.like(self.block[start : stop + 2 * self.margin[0]], self.margin)
        child._parent = self
        child._start = start
        return child

    def like(self, block: np.ndarray, margin: Margin) -> GaussianStack:
        """A new, empty stack over ``block`` with the same spacing and truncation."""
        new = GaussianStack(block, margin, spacing=None, truncate=self.truncate)
        new.scale = self.scale
        return new

    @property
    def core_shape(self) -> tuple[int, int, int]:
        z, y, x = (n - 2 * m for n, m in zip(self.block.shape, self.margin))
        return (z, y, x)

    def radii(self, sigma: float, order: tuple[int, int, int]) -> Margin:
        """Kernel radius per axis for ``sigma`` and derivative orders ``order``."""
        return tuple(  # type: ignore[return-value]
            derivative_radius(sigma * f, self.truncate, o) for f, o in zip(self.scale, order)
        )

    def derivative(
        self, sigma: float, order: tuple[int, int, int], extend: Margin = (0, 0, 0)
    ) -> np.ndarray:
        """The Gaussian derivative of orders (z, y, x) at ``sigma``, exact on the core region
        grown by ``extend`` voxels per side (a view; do not modify it)."""
        r = self.radii(sigma, order)
        e = extend
        m_x = (e[0], e[1], e[2] + r[2])
        m_y = (e[0], e[1] + r[1], e[2] + r[2])
        m_z = (e[0] + r[0], e[1] + r[1], e[2] + r[2])
        if any(m > have for m, have in zip(m_z, self.margin)):
            raise ValueError(
                f"The block's margin {self.margin} is too small for sigma={sigma} with "
                f"extend={extend}: it needs {m_z}"
            )
        sig = tuple(sigma * f for f in self.scale)
        steps = [
            ((sig[0], order[0]), m_y, 0),
            ((sig[0], order[0], sig[1], order[1]), m_x, 1),
            ((sig[0], order[0], sig[1], order[1], sig[2], order[2]), e, 2),
        ]
        src, src_margin = self.block, self.margin
        for key, want, axis in steps:
            if axis == 0 and self._parent is not None:
                if e[0] != 0:
                    raise ValueError("a slab cannot give derivatives extended along z")
                full = self._parent.derivative_stage((sig[0], order[0]), want, r, order)
                n = self.core_shape[0]
                src, src_margin = full[self._start : self._start + n], want
                continue
            hit = self._memo.get(key)
            if hit is not None and all(h >= w for h, w in zip(hit[1], want)):
                src, src_margin = crop_margin(hit[0], hit[1], want), want
                continue
            need = tuple(w + (r[axis] if a == axis else 0) for a, w in enumerate(want))
            inp = crop_margin(src, src_margin, (need[0], need[1], need[2]))
            unit = self.scale[axis] ** order[axis]  # derivatives per voxel of the finest axis
            out = self._pass(inp, sig[axis], order[axis], r[axis], axis, unit)
            self._memo[key] = (out, want)
            src, src_margin = out, want
        return src

    def derivative_stage(
        self, key: tuple[float, int], want: Margin, r: Margin, order: tuple[int, int, int]
    ) -> np.ndarray:
        """The z pass ``key = (sigma_z, order_z)`` with margins ``want`` (memoised)."""
        hit = self._memo.get(key)
        if hit is not None and all(h >= w for h, w in zip(hit[1], want)):
            return crop_margin(hit[0], hit[1], want)
        need = (want[0] + r[0], want[1], want[2])
        inp = crop_margin(self.block, self.margin, need)
        unit = self.scale[0] ** order[0]
        out = self._pass(inp, key[0], key[1], r[0], 0, unit)
        self._memo[key] = (out, want)
        return out

    def smoothed(self, sigma: float, extend: Margin = (0, 0, 0)) -> np.ndarray:
        return self.derivative(sigma, (0, 0, 0), extend)

    @staticmethod
    def _pass(
        arr: np.ndarray, sigma: float, order: int, radius: int, axis: int, unit: float = 1.0
    ) -> np.ndarray:
        """One 1D pass along ``axis`` (kernel times ``unit``); ``radius`` voxels at both ends
        are cropped off."""
        n = arr.shape[axis]
        keep = tuple(slice(radius, n - radius) if a == axis else slice(None) for a in range(3))
        if radius == 0 and order == 0:
            return arr
        weights = gaussian_kernel(sigma, order, radius) * unit
        out = ndi.convolve1d(arr, weights, axis=axis, output=np.float32, mode="reflect")
        return out[keep]

    def forget(self, keep_smoothed: bool = True) -> None:
        """Drop intermediate images (keep the fully smoothed ones when ``keep_smoothed``)."""
        self._memo = {
            k: v
            for k, v in self._memo.items()
            if keep_smoothed and len(k) == 6 and k[1] == k[3] == k[5] == 0
        }

    def hessian(self, sigma: float, extend: Margin = (0, 0, 0)) -> list[np.ndarray]:
        """The six Hessian components (zz, yy, xx, zy, zx, yx)."""
        orders = [(2, 0, 0), (0, 2, 0), (0, 0, 2), (1, 1, 0), (1, 0, 1), (0, 1, 1)]
        return [self.derivative(sigma, o, extend) for o in orders]

    def gradient(self, sigma: float, extend: Margin = (0, 0, 0)) -> list[np.ndarray]:
        """The three gradient components (z, y, x)."""
        orders = [(1, 0, 0), (0, 1, 0), (0, 0, 1)]
        return [self.derivative(sigma, o, extend) for o in orders]


def eigvalsh3(
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    e: np.ndarray,
    f: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Eigenvalues of the symmetric 3x3 matrices ``[[a, d, e], [d, b, f], [e, f, c]]``.

    Closed form (trigonometric solution of the characteristic cubic), vectorised over slabs of
    about 64k voxels in float32 (float64 where two eigenvalues nearly coincide), sorted in decreasing order: ``out[0] >= out[1] >= out[2]``.
    Accurate to about 1e-6 of the matrix norm, repeated eigenvalues included (scale-free: the
    matrix is normalised before the determinant is taken).

    Returns
    -------
    (3, ...) float32 ndarray
    """
    shape = np.broadcast_shapes(a.shape, b.shape, c.shape, d.shape, e.shape, f.shape)
    if out is None:
        out = np.empty((3, *shape), dtype=np.float32)
    if len(shape) == 0 or shape[0] <= 1:
        full = [np.broadcast_to(x, shape) for x in (a, b, c, d, e, f)]
        _eigvalsh3(full[0], full[1], full[2], full[3], full[4], full[5], out)
        return out
    # Slabs of about 64k voxels keep the temporaries in cache (several times faster).
    step = max(1, _SLAB // max(1, math.prod(shape[1:])))
    for i in range(0, shape[0], step):
        sl = slice(i, i + step)
        p = [np.broadcast_to(x, shape)[sl] for x in (a, b, c, d, e, f)]
        _eigvalsh3(p[0], p[1], p[2], p[3], p[4], p[5], out[:, sl])
    return out


_SLAB = 1 << 16


def _eigvalsh3(
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    e: np.ndarray,
    f: np.ndarray,
    out: np.ndarray,
) -> None:
    """One slab: float32, then the nearly repeated eigenvalues again in float64."""
    r = _cubic(a, b, c, d, e, f, out, np.float32)
    # With two (nearly) equal eigenvalues |r| -> 1, where the angle's rounding error grows like
    # sqrt(eps): ~1e-4 in float32. Those voxels are rare; redo them in float64.
    near = np.abs(r) > 0.999
    if near.any():
        redo = np.empty((3, int(near.sum())), dtype=np.float32)
        p = [np.broadcast_to(x, near.shape)[near] for x in (a, b, c, d, e, f)]
        _cubic(p[0], p[1], p[2], p[3], p[4], p[5], redo, np.float64)
        for k in range(3):
            out[k][near] = redo[k]


def _cubic(
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    e: np.ndarray,
    f: np.ndarray,
    out: np.ndarray,
    dtype: type[np.floating],
) -> np.ndarray:
    """Eigenvalues into ``out`` computed in ``dtype``; returns det(B)/2 (``r``)."""
    ft = dtype
    a, b, c, d, e, f = (np.asarray(x, dtype=ft) for x in (a, b, c, d, e, f))
    q = (a + b + c) / ft(3)
    aq, bq, cq = a - q, b - q, c - q
    p1 = d * d + e * e + f * f
    p = np.sqrt((aq * aq + bq * bq + cq * cq + ft(2) * p1) / ft(6))
    inv = np.divide(ft(1), p, out=np.zeros_like(p), where=p > 0)
    aq *= inv
    bq *= inv
    cq *= inv
    dn, en, fn = d * inv, e * inv, f * inv
    # det(B) / 2 with B = (A - qI) / p
    r = aq * (bq * cq - fn * fn) - dn * (dn * cq - fn * en) + en * (dn * fn - bq * en)
    r *= ft(0.5)
    np.clip(r, -1, 1, out=r)
    phi = np.arccos(r)
    phi /= ft(3)
    p *= ft(2)
    big = np.cos(phi)
    big *= p
    big += q
    phi += ft(2 * math.pi / 3)
    small = np.cos(phi)
    small *= p
    small += q
    out[0] = big
    out[2] = small
    q *= ft(3)
    q -= big
    q -= small
    out[1] = q
    return r
