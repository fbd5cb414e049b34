"""Array-level voxel and supervoxel classification: sampling, training, chunked prediction."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from voxelwise.data import synthetic_em
from voxelwise.learn import (
    FeatureMismatchError,
    TrainingDataError,
    confidence_maps,
    fit_supervoxels,
    fit_voxels,
    labels_from_probabilities,
    majority_labels,
    paint,
    predict_supervoxels,
    predict_voxels,
)
from voxelwise.learn._sampling import PointCache, annotated_voxels, balanced_sample, read_points


@pytest.fixture(scope="module")
def volume():
    vol = synthetic_em((8, 48, 48), rng=3)
    image = vol.image.astype(np.float32)
    from scipy import ndimage as ndi

    features = {
        "raw": image,
        "smooth": ndi.gaussian_filter(image, 1.5),
        "edges": ndi.gaussian_gradient_magnitude(image, 1.0),
    }
    truth = vol.labels.astype(np.uint8) + 1  # 1 cytoplasm, 2 membrane, 3 mitochondria
    gen = np.random.default_rng(0)
    scribbles = np.where(gen.random(truth.shape) < 0.03, truth, 0).astype(np.uint8)
    return features, truth, scribbles


def test_annotated_voxels_and_points_chunked():
    labels = np.zeros((5, 9, 11), np.uint16)
    labels[1, 2, 3] = 4
    labels[4, 8, 10] = 2
    labels[0, 0, 0] = 1
    flat, values = annotated_voxels(da.from_array(labels, chunks=(2, 4, 5)))
    np.testing.assert_array_equal(flat, np.flatnonzero(labels))
    np.testing.assert_array_equal(values, labels.ravel()[flat])
    image = np.arange(labels.size, dtype=np.float32).reshape(labels.shape)
    rows = read_points([da.from_array(image, chunks=(3, 3, 4)), image * 2], flat, labels.shape)
    np.testing.assert_array_equal(rows[:, 0], flat)
    np.testing.assert_array_equal(rows[:, 1], 2 * flat)


def test_balanced_sample_is_capped_and_stable():
    gen = np.random.default_rng(1)
    flat = np.sort(gen.choice(10**6, size=5000, replace=False))
    classes = (gen.random(5000) < 0.1).astype(int)  # class 1 is rare
    keep = balanced_sample(flat, classes, max_per_class=300, seed=5)
    assert np.bincount(classes[keep]).tolist() == [300, 300]
    # Adding voxels never evicts a kept voxel unless a new one wins its place.
    more = np.sort(np.r_[flat, np.arange(10**6, 10**6 + 50)])
    more_classes = np.r_[classes, np.zeros(50, int)][
        np.argsort(np.r_[flat, np.arange(10**6, 10**6 + 50)])
    ]
    kept_before = set(flat[keep][classes[keep] == 1].tolist())
    keep2 = balanced_sample(more, more_classes, max_per_class=300, seed=5)
    assert set(more[keep2][more_classes[keep2] == 1].tolist()) == kept_before
    np.testing.assert_array_equal(keep, balanced_sample(flat, classes, max_per_class=300, seed=5))


def test_point_cache_reads_only_new_voxels():
    image = np.arange(1000, dtype=np.float32).reshape(10, 10, 10)
    cache = PointCache()
    rows, read = cache.read("k", [image], np.array([5, 50, 500]), image.shape)
    assert read == 3 and rows[:, 0].tolist() == [5, 50, 500]
    rows, read = cache.read("k", [image], np.array([5, 7, 500, 999]), image.shape)
    assert read == 2 and rows[:, 0].tolist() == [5, 7, 500, 999]
    _, read = cache.read("other", [image], np.array([5]), image.shape)
    assert read == 1


def test_fit_and_predict_voxels_chunk_invariant(volume):
    features, truth, scribbles = volume
    model = fit_voxels(features, scribbles, params={"n_estimators": 30}, rng=0)
    assert model.mode == "voxel" and model.classes == (1, 2, 3)
    assert model.features == ("raw", "smooth", "edges")
    assert sum(model.training["samples_per_class"]) == int((scribbles > 0).sum())
    whole = predict_voxels(model, features, chunks=(8, 48, 48)).compute()
    chunked = predict_voxels(model, features, chunks=(3, 20, 17)).compute()
    assert whole.shape == (3, *truth.shape) and whole.dtype == np.float32
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
    other = fit_voxels(features, scribbles, params={"n_estimators": 3}, rng=1)
    both = da.compute(predict_voxels(model, features), predict_voxels(other, features))
    np.testing.assert_allclose(both[0], whole, atol=1e-6)  # two models in one graph stay apart
    assert not np.allclose(both[1], whole)
    labels = labels_from_probabilities(whole, model.classes).compute()
    assert (labels == truth).mean() > 0.85
    conf = confidence_maps(whole).compute()
    np.testing.assert_allclose(conf[0], whole.max(axis=0), atol=1e-6)
    assert (conf[1] >= 0).all() and (conf[1] <= 1).all()
    certain = conf[0] > 0.99
    assert certain.any() and (conf[1][certain] < 0.1).all()


def test_confidence_of_uniform_and_empty():
    p = np.zeros((4, 1, 1, 2), np.float32)
    p[:, 0, 0, 0] = 0.25  # uniform: entropy 1
    conf = confidence_maps(p).compute()
    np.testing.assert_allclose(conf[:, 0, 0, 0], [0.25, 1.0], atol=1e-6)
    np.testing.assert_allclose(conf[:, 0, 0, 1], [0.0, 0.0])  # no probability (outside a region)
    assert labels_from_probabilities(p, [3, 5, 7, 9]).compute()[0, 0, 1] == 0


def test_fit_voxels_bad_input(volume):
    features, _truth, scribbles = volume
    with pytest.raises(TrainingDataError, match="no annotated voxels"):
        fit_voxels(features, np.zeros_like(scribbles))
    with pytest.raises(TrainingDataError, match="only one class"):
        fit_voxels(features, np.where(scribbles == 1, 1, 0).astype(np.uint8))
    with pytest.raises(FeatureMismatchError, match="shape"):
        fit_voxels({"raw": features["raw"][:4]}, scribbles)
    model = fit_voxels(features, scribbles, params={"n_estimators": 5})
    with pytest.raises(FeatureMismatchError, match="'edges'"):
        predict_voxels(model, {"raw": features["raw"], "smooth": features["smooth"]})
    with pytest.raises(FeatureMismatchError, match="3 features"):
        predict_voxels(model, [features["raw"]])


def test_supervoxel_arrays(volume):
    features, truth, scribbles = volume
    from voxelwise.supervoxels import slic

    sv, n = slic(features["raw"], size=4, chunks=(8, 24, 24))
    sv = sv.compute()
    ids, y, votes = majority_labels(sv, scribbles, [1, 2, 3])
    assert ids.size == np.unique(sv[scribbles > 0]).size
    one = ids[0]
    counts = np.bincount(scribbles[(sv == one) & (scribbles > 0)], minlength=4)[1:]
    assert votes[0].tolist() == counts.tolist() and y[0] == counts.argmax()
    model = fit_supervoxels(sv, features, scribbles, statistics=("mean", "std", "max"))
    assert model.mode == "supervoxel" and len(model.inputs) == 9
    result = predict_supervoxels(model, sv, features)
    assert result.ids.size == n and result.probabilities.shape == (n, 3)
    painted = paint(sv, result.ids, np.asarray(model.classes)[result.labels]).compute()
    assert (painted == truth).mean() > 0.75
    probs = paint(sv, result.ids, result.probabilities).compute()
    assert probs.shape == (3, *sv.shape)
    refined = predict_supervoxels(model, sv, features, refine=True, smoothness=1.0)
    assert refined.refined and (refined.labels != result.labels).any()
