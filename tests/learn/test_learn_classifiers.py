"""Classifiers: fitting, probabilities, array export round trips, parameters and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from voxelwise.learn import CLASSIFIERS, LearnError, TrainingDataError, parse_classifier
from voxelwise.learn._estimators import fit_estimator
from voxelwise.learn._predictors import (
    BoostingPredictor,
    ForestPredictor,
    predictor_from_arrays,
)


def blobs(n_classes: int, n: int = 600, rng: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Separable Gaussian clusters in 5 dimensions (2 informative)."""
    gen = np.random.default_rng(rng)
    y = np.arange(n) % n_classes
    centers = np.array([[0, 0], [4, 0], [0, 4], [4, 4]])[:n_classes]
    x = gen.normal(size=(n, 5))
    x[:, :2] += centers[y]
    return x.astype(np.float32), y


@pytest.mark.parametrize("classifier", list(CLASSIFIERS))
@pytest.mark.parametrize("n_classes", [2, 3])
def test_fit_predict_and_round_trip(classifier, n_classes):
    x, y = blobs(n_classes)
    params = {"n_estimators": 20} if classifier in ("rf", "extra_trees") else None
    predictor, used = fit_estimator(
        x, y, n_classes=n_classes, classifier=classifier, params=params, rng=0
    )
    proba = predictor.predict_proba(x)
    assert proba.shape == (len(y), n_classes) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert (proba >= 0).all()
    assert (proba.argmax(axis=1) == y).mean() > 0.9
    assert "random_state" in used and "fit_seconds" in used
    meta, arrays = predictor.to_arrays()
    assert all(isinstance(a, np.ndarray) and a.dtype != object for a in arrays.values())
    again = predictor_from_arrays(predictor.kind, 5, n_classes, meta, arrays)
    np.testing.assert_array_equal(again.predict_proba(x), proba)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_forest_and_boosting_equal_sklearn(n_classes):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    x, y = blobs(n_classes, rng=1)
    x[::7, 2] = np.nan  # missing values follow the learnt side
    rf = RandomForestClassifier(n_estimators=15, random_state=0).fit(x, y)
    ours = ForestPredictor.from_sklearn(rf).predict_proba(x)
    np.testing.assert_allclose(ours, rf.predict_proba(x), atol=1e-6)
    hgb = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)
    ours = BoostingPredictor.from_sklearn(hgb).predict_proba(x)
    np.testing.assert_allclose(ours, hgb.predict_proba(x), atol=1e-6)


def test_class_weight_shifts_decisions():
    gen = np.random.default_rng(3)
    x = gen.normal(size=(400, 3))
    y = (x[:, 0] + 0.8 * gen.normal(size=400) > 1.0).astype(int)  # rare, noisy class 1
    plain, _ = fit_estimator(x, y, n_classes=2, classifier="logistic", class_weight=None)
    heavy, _ = fit_estimator(
        x, y, n_classes=2, classifier="logistic", class_weight={0: 1.0, 1: 10.0}
    )
    assert (heavy.predict_proba(x)[:, 1] > 0.5).sum() > (plain.predict_proba(x)[:, 1] > 0.5).sum()


def test_aliases_and_errors():
    assert parse_classifier("Random-Forest") == "rf"
    assert parse_classifier("gradient_boosting") == "hgb"
    with pytest.raises(LearnError, match="Unknown classifier 'knn'"):
        parse_classifier("knn")
    x, y = blobs(2)
    with pytest.raises(LearnError, match="no parameter 'depth'"):
        fit_estimator(x, y, n_classes=2, classifier="rf", params={"depth": 3})
    with pytest.raises(TrainingDataError, match="at least two classes"):
        fit_estimator(x, np.zeros(len(y), int), n_classes=1)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(LearnError, match="NaN or infinite"):
        fit_estimator(bad, y, n_classes=2, classifier="svm")
    predictor, _ = fit_estimator(x, y, n_classes=2, classifier="logistic")
    with pytest.raises(LearnError, match="trained on 5 features"):
        predictor.predict_proba(x[:, :3])
