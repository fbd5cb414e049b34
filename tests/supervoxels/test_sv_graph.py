"""Region adjacency graphs: exactly the face-adjacent id pairs, whatever the chunking."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from voxelwise.supervoxels import region_adjacency, slic


def brute_force(labels, image=None, spacing=(1.0, 1.0, 1.0)):
    """{(a, b): [contact, area, value sum]} over all face-adjacent voxel pairs, with numpy."""
    out = {}
    face_area = (spacing[1] * spacing[2], spacing[0] * spacing[2], spacing[0] * spacing[1])
    for axis in range(3):
        n = labels.shape[axis]
        a = np.take(labels, range(n - 1), axis=axis).ravel()
        b = np.take(labels, range(1, n), axis=axis).ravel()
        wa = wb = np.zeros(a.size)
        if image is not None:
            wa = np.take(image, range(n - 1), axis=axis).ravel()
            wb = np.take(image, range(1, n), axis=axis).ravel()
        for x, y, u, v in zip(a, b, wa, wb):
            if x != y and x and y:
                key = (min(x, y), max(x, y))
                entry = out.setdefault(key, [0, 0.0, 0.0])
                entry[0] += 1
                entry[1] += face_area[axis]
                entry[2] += (u + v) / 2
    return out


@pytest.fixture
def labels(rng):
    coarse = rng.integers(0, 30, size=(4, 4, 5))
    return np.kron(coarse, np.ones((2, 3, 3), dtype=np.int64)).astype(np.uint32)


@pytest.mark.parametrize("chunks", [(8, 12, 15), (3, 5, 4), (1, 12, 7), (2, 2, 2)])
def test_edges_equal_face_adjacent_pairs(labels, rng, chunks):
    image = rng.random(labels.shape)
    spacing = (4.0, 1.0, 2.0)
    rag = region_adjacency(da.from_array(labels, chunks=chunks), image=image, spacing=spacing)
    want = brute_force(labels, image, spacing)
    assert [tuple(e) for e in rag.edges.tolist()] == sorted(want)
    assert rag.edges.dtype == np.uint32
    np.testing.assert_array_equal(rag.contact, [want[k][0] for k in sorted(want)])
    np.testing.assert_allclose(rag.area, [want[k][1] for k in sorted(want)])
    np.testing.assert_allclose(rag.mean, [want[k][2] / want[k][0] for k in sorted(want)])


def test_graph_of_supervoxels(rng):
    from voxelwise.data import synthetic_em

    vol = synthetic_em((8, 48, 48), rng=5)
    labels, n = slic(vol.image, size=6, chunks=(4, 24, 24))
    out = labels.compute()
    rag = region_adjacency(labels)
    assert len(rag) == len(brute_force(out))
    np.testing.assert_array_equal(rag.nodes, np.arange(1, n + 1))  # every supervoxel touches
    # supervoxels on both sides of a chunk face are neighbours
    left, right = out[:, :, 23], out[:, :, 24]
    pairs = {tuple(sorted(p)) for p in zip(left.ravel().tolist(), right.ravel().tolist())}
    edges = {tuple(e) for e in rag.edges.tolist()}
    assert pairs <= edges


def test_background_signed_ids_and_helpers():
    labels = np.array([[[1, 1, 0, 2], [3, 3, -4, 2]]], dtype=np.int32)
    rag = region_adjacency(labels)
    assert rag.edges.tolist() == [[-4, 2], [-4, 3], [1, 3]]
    assert rag.mean is None
    assert rag.neighbors(3).tolist() == [-4, 1]
    pos = region_adjacency(np.abs(labels))
    m = pos.to_sparse()
    assert m.shape == (5, 5)
    assert (m != m.T).nnz == 0
    assert m[1, 3] == 2  # two faces between 1 and 3
    table = pos.to_table()
    assert table.names == ("a", "b", "contact", "area")


def test_empty_and_single_region():
    assert len(region_adjacency(np.zeros((2, 3, 3), np.uint32))) == 0
    assert len(region_adjacency(np.ones((2, 3, 3), np.uint32))) == 0


def test_csv(tmp_path, labels, rng):
    rag = region_adjacency(labels, image=rng.random(labels.shape))
    path = rag.to_csv(tmp_path / "rag.csv")
    back = np.genfromtxt(path, delimiter=",", names=True)
    np.testing.assert_array_equal(back["a"], rag.edges[:, 0])
    np.testing.assert_allclose(back["mean"], rag.mean, rtol=1e-8)


def test_bad_inputs(labels):
    with pytest.raises(ValueError, match="labels' shape"):
        region_adjacency(labels, image=np.zeros((1, 1, 1)))
    with pytest.raises(TypeError, match="integer labels"):
        region_adjacency(labels.astype(float))
    with pytest.raises(ValueError, match="spacing"):
        region_adjacency(labels, spacing=(0, 1, 1))
    with pytest.raises(ValueError, match="weight"):
        region_adjacency(labels).to_sparse(weight="mean")
