"""Layer statistics are computed chunk by chunk and match the in-memory NumPy result."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from voxelwise.workspace import PERCENTILES, Workspace, compute_stats
from voxelwise.workspace._stats import FLOAT_BINS

SHAPE = (9, 40, 52)
CHUNKS = (4, 16, 24)


@pytest.fixture
def ws(tmp_path):
    return Workspace.create(tmp_path / "s.vw", np.zeros(SHAPE, np.uint8), chunks=CHUNKS)


def _reference(values: np.ndarray) -> dict:
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values.ravel()
    return {
        "count": finite.size,
        "min": finite.min(),
        "max": finite.max(),
        "mean": finite.astype(np.float64).mean(),
        "std": finite.astype(np.float64).std(),
        "percentiles": np.percentile(finite, PERCENTILES),
    }


def _percentiles(stats: dict) -> np.ndarray:
    return np.array([stats["percentiles"][f"{q:g}"] for q in PERCENTILES])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_stats_are_exact(ws, rng, dtype):
    high = 256 if dtype == np.uint8 else 4000
    values = rng.integers(0, high, size=SHAPE).astype(dtype)
    values[0, 0, 0] = 0  # make sure the extremes sit in one chunk only
    stats = ws.stats(ws.add_layer("v", values).name)
    ref = _reference(values)
    assert stats["exact_percentiles"] is True
    assert stats["count"] == ref["count"] == values.size
    assert stats["min"] == ref["min"]
    assert stats["max"] == ref["max"]
    np.testing.assert_array_equal(_percentiles(stats), ref["percentiles"])
    assert stats["mean"] == pytest.approx(ref["mean"], rel=1e-12)
    assert stats["std"] == pytest.approx(ref["std"], rel=1e-9)
    assert stats["nan_count"] == stats["inf_count"] == 0


@pytest.mark.parametrize(
    ("dtype", "low", "high"),
    [(np.int16, -3000, 3000), (np.int32, -70000, 200000), (np.int64, -(2**40), 2**40)],
)
def test_wider_integers(ws, rng, dtype, low, high):
    values = rng.integers(low, high, size=SHAPE).astype(dtype)
    stats = ws.stats(ws.add_layer("v", values).name)
    ref = _reference(values)
    assert stats["min"] == ref["min"]
    assert stats["max"] == ref["max"]
    assert isinstance(stats["min"], int)
    assert stats["mean"] == pytest.approx(ref["mean"], rel=1e-9)
    assert stats["std"] == pytest.approx(ref["std"], rel=1e-9)
    if stats["exact_percentiles"]:
        np.testing.assert_array_equal(_percentiles(stats), ref["percentiles"])
    else:  # range wider than EXACT_INT_RANGE: binned like floats
        width = (ref["max"] - ref["min"]) / FLOAT_BINS
        np.testing.assert_allclose(_percentiles(stats), ref["percentiles"], atol=width)
    assert stats["exact_percentiles"] == (dtype != np.int64)


def test_float_stats_with_nan_and_inf(ws, rng):
    values = rng.normal(100.0, 15.0, size=SHAPE).astype(np.float32)
    values[1, 2, 3:9] = np.nan
    values[4, 5, 6] = np.inf
    values[8, 39, 51] = -np.inf
    info = ws.add_layer("f", values)
    stats = ws.stats("f")
    ref = _reference(values)
    assert stats["nan_count"] == 6
    assert stats["inf_count"] == 2
    assert stats["count"] == values.size - 8
    assert stats["min"] == float(ref["min"])
    assert stats["max"] == float(ref["max"])
    assert stats["mean"] == pytest.approx(ref["mean"], rel=1e-9)
    assert stats["std"] == pytest.approx(ref["std"], rel=1e-9)
    assert stats["exact_percentiles"] is False
    width = (float(ref["max"]) - float(ref["min"])) / FLOAT_BINS
    np.testing.assert_allclose(_percentiles(stats), ref["percentiles"], rtol=0, atol=width)
    # exposed in info(), not warned about
    summary = ws.info()
    assert summary["nonfinite"] == {"f": {"nan_count": 6, "inf_count": 2}}
    assert summary["layers"]["f"]["nan_count"] == 6
    assert info.stats == stats


def test_all_nan_layer(ws):
    stats = ws.stats(ws.add_layer("n", np.full(SHAPE, np.nan, np.float32)).name)
    assert stats["count"] == 0
    assert stats["nan_count"] == np.prod(SHAPE)
    assert stats["mean"] is None
    assert stats["percentiles"]["50"] is None


def test_constant_float_and_bool(ws):
    stats = ws.stats(ws.add_layer("c", np.full(SHAPE, 2.5, np.float64)).name)
    assert stats["min"] == stats["max"] == stats["percentiles"]["0.1"] == 2.5
    assert stats["std"] == 0.0
    mask = np.zeros(SHAPE, bool)
    mask[:3] = True
    stats = ws.stats(ws.add_layer("m", mask, kind="labels").name)
    assert stats["mean"] == pytest.approx(3 / SHAPE[0])
    assert stats["percentiles"]["50"] == 0.0


@pytest.mark.parametrize("chunks", [(1, 7, 52), (9, 40, 52), (3, 9, 13)])
def test_stats_do_not_depend_on_chunking(rng, chunks):
    values = rng.integers(0, 1000, size=SHAPE).astype(np.uint16)
    floats = rng.random(SHAPE).astype(np.float32)
    ref_int = compute_stats(da.from_array(values, chunks=SHAPE))
    ref_float = compute_stats(da.from_array(floats, chunks=SHAPE))
    assert compute_stats(da.from_array(values, chunks=chunks)) == ref_int
    out = compute_stats(da.from_array(floats, chunks=chunks))
    assert out["percentiles"] == pytest.approx(ref_float["percentiles"], abs=1e-12)
    assert out["std"] == pytest.approx(ref_float["std"], rel=1e-12)


def test_stats_of_raw_is_stored_at_creation(tmp_path, rng):
    image = rng.integers(0, 60000, size=SHAPE).astype(np.uint16)
    ws = Workspace.create(tmp_path / "r.vw", image, chunks=CHUNKS)
    stats = ws.layers["raw"].stats
    np.testing.assert_array_equal(_percentiles(stats), _reference(image)["percentiles"])
    assert ws.stats("raw") == stats
