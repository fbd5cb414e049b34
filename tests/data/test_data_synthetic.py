"""synthetic_em: deterministic, consistent ground truth, EM-like contrast, correct anisotropy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from voxelwise.data import SyntheticVolume, synthetic_em
from voxelwise.errors import InvalidVolumeError, VoxelwiseWarning


@pytest.fixture(scope="module")
def vol() -> SyntheticVolume:
    return synthetic_em((48, 96, 96), rng=7)


def test_types_and_shapes(vol):
    assert vol.shape == (48, 96, 96)
    assert vol.image.dtype == np.uint8
    assert vol.labels.dtype == np.uint8
    assert vol.cells.dtype == np.int32
    assert vol.mitochondria.dtype == np.int32
    assert vol.spacing == (1.0, 1.0, 1.0)
    assert vol.class_names == {0: "cytoplasm", 1: "membrane", 2: "mitochondria"}
    assert set(np.unique(vol.labels)) == {0, 1, 2}


def test_same_seed_same_volume_and_other_seed_differs():
    a = synthetic_em((16, 48, 48), rng=3)
    b = synthetic_em((16, 48, 48), rng=3)
    c = synthetic_em((16, 48, 48), rng=4)
    for name in ("image", "labels", "cells", "mitochondria"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.labels, c.labels)
    assert (a.image != c.image).mean() > 0.5
    d = synthetic_em((16, 48, 48), rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a.image, d.image)


def test_ground_truth_is_consistent(vol):
    membrane = vol.labels == 1
    np.testing.assert_array_equal(membrane, vol.cells == 0)
    np.testing.assert_array_equal(vol.labels == 2, vol.mitochondria > 0)
    ids = np.unique(vol.cells[vol.cells > 0])
    np.testing.assert_array_equal(ids, np.arange(1, ids.size + 1))
    # each cell is one 6-connected region
    _, n = ndimage.label(vol.cells > 0)
    assert n == ids.size


def test_mitochondria_lie_inside_one_cell_off_the_membrane(vol):
    n = int(vol.mitochondria.max())
    assert n > 10
    for box, mid in zip(ndimage.find_objects(vol.mitochondria), range(1, n + 1)):
        inside = vol.mitochondria[box] == mid
        assert np.unique(vol.cells[box][inside]).size == 1
    grown = ndimage.binary_dilation(vol.mitochondria > 0)
    assert not (grown & (vol.labels == 1)).any()


def test_class_fractions_are_em_like(vol):
    fractions = np.bincount(vol.labels.ravel(), minlength=3) / vol.labels.size
    assert 0.6 < fractions[0] < 0.9
    assert 0.08 < fractions[1] < 0.25
    assert 0.02 < fractions[2] < 0.08


def test_membranes_and_mitochondria_are_darker_than_cytoplasm(vol):
    mean = [float(vol.image[vol.labels == k].mean()) for k in range(3)]
    assert mean[1] < mean[0] - 40
    assert mean[2] < mean[0] - 30
    # Cristae and envelope texture the mitochondria: away from their edges (blur) they vary more
    # than cytoplasm away from membranes does.
    clean = synthetic_em((24, 64, 64), noise=0.0, rng=1)
    image = clean.image.astype(float)
    core = ndimage.binary_erosion(clean.labels == 2)
    cyto = ndimage.binary_erosion(clean.labels == 0, iterations=2)

    def spread(mask, ids):
        parts = [image[mask & (ids == i)] for i in range(1, int(ids.max()) + 1)]
        return float(np.median([p.std() for p in parts if p.size > 20]))

    assert spread(core, clean.mitochondria) > 1.3 * spread(cyto, clean.cells)


def test_noise_level_controls_noise():
    quiet = synthetic_em((16, 48, 48), noise=0.0, rng=5)
    loud = synthetic_em((16, 48, 48), noise=0.15, rng=5)
    np.testing.assert_array_equal(quiet.labels, loud.labels)
    lap = [np.abs(ndimage.laplace(v.image.astype(float))).mean() for v in (quiet, loud)]
    assert lap[1] > 3 * lap[0]


def _median_extent(cells: np.ndarray, axis: int) -> float:
    boxes = [b for b in ndimage.find_objects(cells) if b is not None]
    return float(np.median([b[axis].stop - b[axis].start for b in boxes]))


def test_anisotropic_spacing_shortens_structures_in_z():
    iso = synthetic_em((64, 96, 96), spacing=1.0, rng=2)
    aniso = synthetic_em((16, 96, 96), spacing=(4.0, 1.0, 1.0), rng=2)
    assert aniso.spacing == (4.0, 1.0, 1.0)
    z_iso, z_aniso = _median_extent(iso.cells, 0), _median_extent(aniso.cells, 0)
    assert z_aniso < 0.5 * z_iso
    assert 0.6 < 4 * z_aniso / z_iso < 1.6  # about the same physical size
    y_iso, y_aniso = _median_extent(iso.cells, 1), _median_extent(aniso.cells, 1)
    assert 0.7 < y_aniso / y_iso < 1.4
    mz = _median_extent(aniso.mitochondria, 0)
    assert mz < 0.5 * _median_extent(iso.mitochondria, 0)


def test_cell_count_follows_n_cells():
    few = synthetic_em((32, 64, 64), n_cells=6, rng=0)
    many = synthetic_em((32, 64, 64), n_cells=60, rng=0)
    assert 6 <= few.cells.max() <= 10
    assert 50 <= many.cells.max() <= 75


def test_membrane_width_thickens_membranes():
    thin = synthetic_em((24, 64, 64), n_mitochondria=0, rng=0)
    thick = synthetic_em((24, 64, 64), membrane_width=4.0, n_mitochondria=0, rng=0)
    assert (thick.labels == 1).mean() > 1.5 * (thin.labels == 1).mean()
    assert thin.mitochondria.max() == 0


def test_2d_shape_gives_one_section():
    sec = synthetic_em((128, 128), rng=0)
    assert sec.image.shape == (1, 128, 128)
    assert sec.cells.max() > 5


def test_too_many_mitochondria_warns():
    with pytest.warns(VoxelwiseWarning, match="fit"):
        vol = synthetic_em((16, 32, 32), n_mitochondria=500, rng=0)
    assert 0 < vol.mitochondria.max() < 500


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n_cells": 0}, ValueError),
        ({"n_cells": 2.5}, TypeError),
        ({"n_mitochondria": -1}, ValueError),
        ({"membrane_width": 0}, ValueError),
        ({"noise": -0.1}, ValueError),
        ({"blur": float("nan")}, ValueError),
        ({"spacing": (1, 0, 1)}, ValueError),
        ({"rng": "seed"}, TypeError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        synthetic_em((8, 16, 16), **kwargs)


def test_bad_shape():
    with pytest.raises(InvalidVolumeError):
        synthetic_em((4, 8, 8, 3))
