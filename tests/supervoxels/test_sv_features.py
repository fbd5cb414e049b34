"""Per-region feature tables against NumPy, across chunk borders."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from voxelwise.supervoxels import RegionTable, region_features


@pytest.fixture
def labels(rng):
    """Random blocky labels (ids up to 40, some absent, background 0) spanning chunk borders."""
    coarse = rng.integers(0, 41, size=(4, 5, 6))
    coarse[coarse == 17] = 0
    return np.kron(coarse, np.ones((3, 4, 5), dtype=np.int64)).astype(np.uint32)


def expected_table(labels, features):
    ids = np.unique(labels)
    ids = ids[ids != 0]
    rows = {"id": ids, "size": [], "centroid_z": [], "centroid_y": [], "centroid_x": []}
    coords = np.indices(labels.shape)
    for i in ids:
        sel = labels == i
        rows["size"].append(sel.sum())
        for axis, name in enumerate("zyx"):
            rows[f"centroid_{name}"].append(coords[axis][sel].mean())
        for fname, f in features.items():
            v = f[sel].astype(np.float64)
            for stat in ("mean", "std", "min", "max"):
                rows.setdefault(f"{fname}_{stat}", []).append(getattr(np, stat)(v))
    return {k: np.asarray(v) for k, v in rows.items()}


def test_feature_table_matches_numpy(labels, rng):
    features = {
        "raw": rng.integers(0, 255, size=labels.shape, dtype=np.uint8),
        "smooth": (rng.normal(size=labels.shape) * 100 + 1e4).astype(np.float32),
    }
    lazy = {k: da.from_array(v, chunks=(5, 7, 9)) for k, v in features.items()}
    table = region_features(da.from_array(labels, chunks=(5, 7, 9)), lazy)
    want = expected_table(labels, features)
    assert table.names[:5] == ("id", "size", "centroid_z", "centroid_y", "centroid_x")
    assert set(table.names) == set(want)
    assert table["id"].dtype == np.uint32
    np.testing.assert_array_equal(table["id"], want["id"])
    np.testing.assert_array_equal(table["size"], want["size"])
    for name in want:
        np.testing.assert_allclose(table[name], want[name], rtol=1e-9, atol=1e-9, err_msg=name)


def test_one_array_feature_and_chunking_invariance(labels, rng):
    image = rng.random(labels.shape).astype(np.float32)
    a = region_features(labels, image)
    b = region_features(da.from_array(labels, chunks=(2, 3, 4)), image)
    assert "image_mean" in a
    for name in a.names:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-9, err_msg=name)


def test_sparse_large_ids_and_signed_labels():
    labels = np.zeros((2, 3, 4), dtype=np.int64)
    labels[0, 0, :2] = 10**12
    labels[1, 2, 3] = -5
    table = region_features(labels, {"v": np.arange(24, dtype=np.float32).reshape(2, 3, 4)})
    assert table["id"].tolist() == [-5, 10**12]
    assert table["size"].tolist() == [1, 2]
    assert table["v_mean"].tolist() == [23.0, 0.5]


def test_empty_labels_give_an_empty_table():
    table = region_features(np.zeros((2, 4, 4), np.uint32), {"raw": np.ones((2, 4, 4))})
    assert len(table) == 0
    assert "raw_std" in table


def test_csv_roundtrip(tmp_path, labels, rng):
    table = region_features(labels, {"raw": rng.random(labels.shape)})
    path = table.to_csv(tmp_path / "features.csv")
    text = path.read_text().splitlines()
    assert text[0] == ",".join(table.names)
    assert len(text) == len(table) + 1
    back = np.genfromtxt(path, delimiter=",", names=True)
    np.testing.assert_array_equal(back["id"], table["id"])
    np.testing.assert_allclose(back["raw_mean"], table["raw_mean"], rtol=1e-8)


def test_bad_inputs(labels):
    with pytest.raises(ValueError, match="labels' shape"):
        region_features(labels, {"raw": np.zeros((1, 2, 3))})
    with pytest.raises(TypeError, match="integer labels"):
        region_features(labels.astype(np.float32))
    with pytest.raises(TypeError, match="non-empty strings"):
        region_features(labels, {3: np.zeros(labels.shape)})
    with pytest.raises(KeyError, match="the columns are"):
        region_features(labels)["nope"]
    with pytest.raises(ValueError, match="equal length"):
        RegionTable({"a": np.zeros(2), "b": np.zeros(3)})
