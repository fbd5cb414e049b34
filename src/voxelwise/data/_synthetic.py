"""A seeded EM-like synthetic volume with exact ground truth, for demos and property tests.

Cells are the Voronoi tessellation of random seeds (nearest seed in physical distance, so an
anisotropic ``spacing`` stretches them correctly in voxel terms), warped by a smooth random
displacement so membranes curve. Membranes are dark bands along the cell faces; mitochondria are
dark ellipsoids with a darker envelope and cristae-like stripes, placed wholly inside one cell
without touching its membrane or each other. The image gets per-cell gray levels, fine cytoplasm
texture, a smooth illumination field, blur, and Poisson plus Gaussian noise.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxelwise._validate import as_volume_shape, parse_rng, parse_spacing
from voxelwise.data import _synthetic_geometry as g
from voxelwise.errors import VoxelwiseWarning

__all__ = ["SyntheticVolume", "synthetic_em"]

CLASS_NAMES = {0: "cytoplasm", 1: "membrane", 2: "mitochondria"}


@dataclass(frozen=True, eq=False)
class SyntheticVolume:
    """An EM-like volume and its ground truth.

    Attributes
    ----------
    image : (Z, Y, X) ndarray of uint8
        The synthetic micrograph: bright cytoplasm, dark membranes, dark textured mitochondria.
    labels : (Z, Y, X) ndarray of uint8
        Semantic ground truth: 0 cytoplasm, 1 membrane, 2 mitochondria (see ``class_names``).
    cells : (Z, Y, X) ndarray of int32
        Cell instance ids 1..n on cytoplasm and mitochondria; 0 on membranes. Each id is one
        6-connected region.
    mitochondria : (Z, Y, X) ndarray of int32
        Mitochondrion instance ids 1..m; 0 elsewhere.
    spacing : (3,) tuple of float
        Voxel size (z, y, x) the volume was generated for.
    class_names : dict of int to str
        ``{0: "cytoplasm", 1: "membrane", 2: "mitochondria"}``.
    """

    image: np.ndarray
    labels: np.ndarray
    cells: np.ndarray
    mitochondria: np.ndarray
    spacing: tuple[float, float, float]
    class_names: dict[int, str]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape (z, y, x) of every array."""
        z, y, x = self.image.shape
        return (z, y, x)


def _count(value: Any, name: str, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"Expected {name} as a whole number, got {value!r} instead")
    if value < minimum:
        raise ValueError(f"Expected {name} >= {minimum}, got {value} instead")
    return int(value)


def _length(value: Any, name: str, *, positive: bool) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"Expected {name} as a number, got {value!r} instead")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"Expected a finite {name} {bound}, got {value!r} instead")
    return v


def synthetic_em(
    shape: tuple[int, ...] = (64, 128, 128),
    *,
    spacing: float | tuple[float, float, float] = (1.0, 1.0, 1.0),
    n_cells: int | None = None,
    n_mitochondria: int | None = None,
    membrane_width: float | None = None,
    noise: float = 0.06,
    blur: float | None = None,
    rng: np.random.Generator | int | None = None,
) -> SyntheticVolume:
    """Generate an EM-like volume of cells, membranes and mitochondria with exact ground truth.

    Sizes are physical: lengths are in the unit of ``spacing`` and default to multiples of the
    finest voxel size, so with ``spacing=(5, 1, 1)`` the same structures span a fifth as many
    sections as with isotropic voxels.

    Parameters
    ----------
    shape : tuple of int, optional
        Volume shape (z, y, x); a 2D shape gives one section.
    spacing : float or (3,) tuple of float, optional
        Voxel size (z, y, x).
    n_cells : int, optional
        Number of Voronoi seeds. Default: one per cube of about 28 finest voxels on a side.
    n_mitochondria : int, optional
        Mitochondria to place (each wholly inside one cell, not touching membranes or each other).
        Default: enough for about 5 % of the volume. If fewer fit, a
        :class:`~voxelwise.errors.VoxelwiseWarning` says so (only when given explicitly).
    membrane_width : float, optional
        Membrane thickness in physical units, rounded to whole voxels (an even number across
        fine axes; one section across axes coarser than the membrane). Default: 2 finest voxels.
    noise : float, optional
        Noise level: standard deviation of the noise at mid-gray, as a fraction of the 0-255
        range (half Poisson-like shot noise, half Gaussian). ``0`` gives a clean image.
    blur : float, optional
        Standard deviation of the Gaussian blur in physical units. Default: 0.7 finest voxels.
    rng : numpy.random.Generator or int, optional
        Random source or seed; the same seed gives the same volume.

    Returns
    -------
    SyntheticVolume
        ``image`` (uint8), ``labels`` (uint8: 0 cytoplasm, 1 membrane, 2 mitochondria),
        ``cells`` and ``mitochondria`` (int32 instance ids), ``spacing``, ``class_names``.

    Examples
    --------
    >>> from voxelwise.data import synthetic_em
    >>> vol = synthetic_em((16, 64, 64), spacing=(4, 1, 1), rng=1)
    >>> vol.image.dtype, vol.labels.max(), vol.cells.dtype
    (dtype('uint8'), np.uint8(2), dtype('int32'))
    >>> bool(vol.image[vol.labels == 1].mean() < vol.image[vol.labels == 0].mean())
    True
    """
    from scipy import ndimage

    shape3 = as_volume_shape(shape, what="synthetic volume")
    sp = np.asarray(parse_spacing(spacing), dtype=np.float64)
    s0 = float(sp.min())
    gen = parse_rng(rng)
    extent = np.asarray(shape3) * sp
    volume = float(np.prod(extent))
    if n_cells is None:  # one cell per cell-sized cube; thin axes (a single section) count once
        cells_wanted = max(1, round(float(np.prod(np.maximum(extent / (g.CELL_SIZE * s0), 1.0)))))
    else:
        cells_wanted = _count(n_cells, "n_cells", 1)
    cells_wanted = min(cells_wanted, int(np.prod(shape3)))
    width = (
        2.0 * s0
        if membrane_width is None
        else _length(membrane_width, "membrane_width", positive=True)
    )
    noise = _length(noise, "noise", positive=False)
    sigma = 0.7 * s0 if blur is None else _length(blur, "blur", positive=False)
    mean_mito = 4 / 3 * np.pi * np.mean(g.MITO_LONG) * np.mean(g.MITO_SHORT) ** 2 * 0.875 * s0**3
    explicit_mito = n_mitochondria is not None
    mito_wanted = (
        round(g.MITO_FRACTION * volume / mean_mito)
        if n_mitochondria is None
        else _count(n_mitochondria, "n_mitochondria", 0)
    )

    # Cells and membranes.
    seeds = g.seeds(shape3, sp, cells_wanted, 0.6 * g.CELL_SIZE * s0, gen)
    voronoi = g.voronoi_cells(shape3, sp, seeds, g.WARP * g.CELL_SIZE * s0, gen)
    membrane = g.faces(voronoi, (width >= 1.5 * sp[0], width >= 1.5 * sp[1], width >= 1.5 * sp[2]))
    del voronoi
    grow = width / 2 - s0  # faces marked on both sides are two voxels thick already
    if grow >= s0:
        membrane = ndimage.binary_dilation(membrane, structure=g.structuring_ball(grow, sp))
    cells = g.cell_regions(membrane, min_size=max(2, int(0.01 * np.prod(shape3) / cells_wanted)))
    labels = (cells == 0).astype(np.uint8)
    del membrane

    # Base image: per-cell gray level, membranes dark (cells == 0 there), then mitochondria.
    tones = np.concatenate(
        [[gen.uniform(0.18, 0.26)], gen.uniform(0.62, 0.78, size=int(cells.max()))]
    )
    image = tones.astype(np.float32)[cells]
    mito = np.zeros(shape3, dtype=np.int32)
    placed = g.place_mitochondria(
        mito_wanted, image=image, labels=labels, cells=cells, mito=mito, spacing=sp, rng=gen
    )
    if explicit_mito and placed < mito_wanted:
        warnings.warn(
            f"Only {placed} of n_mitochondria={mito_wanted} fit without touching membranes or "
            "each other; use a larger shape, fewer mitochondria or fewer cells",
            VoxelwiseWarning,
            stacklevel=2,
        )

    # Cytoplasm grain, smooth illumination, blur, shot and read noise.
    grain = ndimage.gaussian_filter(
        gen.standard_normal(shape3, dtype=np.float32), sigma=0.8 * s0 / sp
    )
    grain *= np.float32(0.035 / (grain.std() + 1e-6))
    image += grain
    del grain
    illumination = g.SmoothField(shape3, sp, 3 * g.CELL_SIZE * s0, gen)
    for zs in g.slabs(shape3):
        image[zs] *= 1 + np.float32(0.06) * illumination[zs]
    if sigma > 0:
        ndimage.gaussian_filter(image, sigma=sigma / sp, output=image)
    if noise > 0:
        part = noise / math.sqrt(2)
        photons = np.float32(0.5 / part**2)
        np.clip(image, 0, None, out=image)
        for zs in g.slabs(shape3):
            shot = gen.poisson(image[zs] * photons).astype(np.float32) / photons
            image[zs] = shot + gen.standard_normal(shot.shape, dtype=np.float32) * np.float32(part)
    out = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    return SyntheticVolume(
        image=out,
        labels=labels,
        cells=cells,
        mitochondria=mito,
        spacing=(float(sp[0]), float(sp[1]), float(sp[2])),
        class_names=dict(CLASS_NAMES),
    )
