"""Two classes of synthetic objects (solid balls, hollow shells) in noise, for clustering."""

from __future__ import annotations

import numpy as np

from voxelwise._validate import parse_rng
from voxelwise.data._synthetic import _count

__all__ = ["balls_and_shells"]

_PITCH = 24  # voxels between neighbouring object centres in y and x
_HALF = (7, 11, 11)  # half-extent (z, y, x) of the box each object is drawn in


def balls_and_shells(
    n: int,
    *,
    columns: int = 8,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solid balls and hollow shells of the same size and brightness, in Gaussian noise.

    Two object classes that differ only in their pattern: class 1 is a solid ball, class 2 a
    hollow shell (a 2.4 voxel thick spherical shell) of the same radius (drawn uniformly from
    4.5-5.5 voxels per object), both 80 gray levels above a background of mean 100 and standard
    deviation 12. Objects sit on a grid (two planes in z, ``columns`` per row, 24 voxels apart)
    in random order, alternating classes, so ``n`` objects give ``n // 2`` shells. For tests and
    benchmarks of patch descriptors and clustering at points.

    Parameters
    ----------
    n : int
        Number of objects, at least 1.
    columns : int, optional
        Objects per grid row; the image is ``16 + 24 * columns`` voxels wide.
    rng : numpy.random.Generator or int or None, optional
        Random generator or seed; the same seed gives the same volume.

    Returns
    -------
    image : (32, Y, X) ndarray of float32
        The volume, ``Y = 16 + 24 * rows`` with ``rows = ceil(n / (2 * columns))``.
    centres : (n, 3) ndarray of float64
        The objects' centres (z, y, x) in voxels.
    classes : (n,) ndarray of int64
        1 for a solid ball, 2 for a hollow shell.

    Raises
    ------
    TypeError
        If ``n`` or ``columns`` is not a whole number, or ``rng`` is not a generator, an int or
        None.
    ValueError
        If ``n`` or ``columns`` is below 1.

    Examples
    --------
    >>> from voxelwise.data import balls_and_shells
    >>> image, centres, classes = balls_and_shells(10, columns=4, rng=0)
    >>> image.shape, image.dtype.name, centres.shape, classes.tolist().count(2)
    ((32, 64, 112), 'float32', (10, 3), 5)
    >>> z, y, x = centres[0].astype(int)
    >>> bool(image[z, y, x] > image.mean())  # object 0 is a ball: its centre is bright
    True
    """
    n = _count(n, "n", 1)
    columns = _count(columns, "columns", 1)
    gen = parse_rng(rng)
    rows = -(-n // (2 * columns))
    shape = (32, 16 + _PITCH * rows, 16 + _PITCH * columns)
    image = gen.normal(100, 12, shape).astype(np.float32)
    grid = [
        (z, y, x)
        for z in (8, 24)
        for y in range(12, shape[1] - 11, _PITCH)
        for x in range(12, shape[2] - 11, _PITCH)
    ]
    grid = [grid[i] for i in gen.permutation(len(grid))][:n]
    hz, hy, hx = _HALF
    classes = []
    for k, (z, y, x) in enumerate(grid):
        box = (slice(z - hz, z + hz + 1), slice(y - hy, y + hy + 1), slice(x - hx, x + hx + 1))
        zz, yy, xx = np.ogrid[box]
        r = np.sqrt((zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2)
        radius = gen.uniform(4.5, 5.5)
        blob = r <= radius if k % 2 == 0 else np.abs(r - radius) <= 1.2
        image[box] += 80 * blob
        classes.append(1 + k % 2)
    return image, np.array(grid, dtype=np.float64), np.array(classes, dtype=np.int64)
