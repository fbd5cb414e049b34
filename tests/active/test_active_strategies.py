"""voxelwise.active strategies: each picks the right item on constructed inputs (pure NumPy)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from voxelwise.active import (
    STRATEGIES,
    EmptyPoolError,
    PoolSizeError,
    StrategyError,
    bald_scores,
    coreset_selection,
    hybrid_selection,
    kmeans_selection,
    parse_strategy,
    pixel_uncertainty,
    random_selection,
    rank,
    select,
    select_from_probabilities,
    uncertainty_scores,
)


def maps(*pixel_probs: tuple[float, ...], size: int = 4) -> np.ndarray:
    """(N, C, size, size) maps, each patch uniform with the given class probabilities."""
    out = np.stack(
        [np.broadcast_to(np.asarray(p)[:, None, None], (len(p), size, size)) for p in pixel_probs]
    )
    return out.astype(np.float32)


def test_entropy_sums_pixel_entropy_and_picks_the_most_uncertain_patch():
    probs = maps((0.99, 0.01), (0.5, 0.5), (0.8, 0.2))
    scores = uncertainty_scores(probs)
    assert scores[1] == pytest.approx(16 * np.log(2), rel=1e-5)  # summed over 4 x 4 pixels
    assert uncertainty_scores(probs, reduce="mean")[1] == pytest.approx(np.log(2), rel=1e-5)
    sel = select_from_probabilities("entropy", probs, 2)
    assert sel.indices.tolist() == [1, 2]
    assert sel.scores[0] > sel.scores[1]


def test_entropy_of_one_uncertain_pixel_outweighs_a_confident_patch():
    confident = np.zeros((1, 2, 8, 8), np.float32)
    confident[:, 0] = 1.0
    spot = confident.copy()
    spot[0, :, 3, 3] = 0.5
    probs = np.concatenate([confident, spot])
    assert select_from_probabilities("entropy", probs, 1).indices.tolist() == [1]
    assert uncertainty_scores(confident)[0] == 0.0  # 0 log 0 = 0, no NaN


def test_least_confidence_and_margin_differ_on_constructed_maps():
    # A: two classes tie (margin 0, max 0.5); B: max 0.4 but a clear margin of 0.1
    probs = maps((0.5, 0.5, 0.0), (0.4, 0.3, 0.3))
    assert select_from_probabilities("least_confidence", probs, 1).indices.tolist() == [1]
    assert select_from_probabilities("margin", probs, 1).indices.tolist() == [0]
    assert select_from_probabilities("entropy", probs, 1).indices.tolist() == [1]
    lc = pixel_uncertainty(probs, method="least_confidence")
    mg = pixel_uncertainty(probs, method="margin")
    assert lc[0, 0, 0] == pytest.approx(0.5) and lc[1, 0, 0] == pytest.approx(0.6)
    assert mg[0, 0, 0] == pytest.approx(1.0) and mg[1, 0, 0] == pytest.approx(0.9)


def test_bald_is_zero_when_mc_samples_agree():
    agree = np.stack([maps((0.5, 0.5), (0.9, 0.1))] * 6)  # uncertain, but every pass agrees
    assert np.allclose(bald_scores(agree), 0.0, atol=1e-5)


def test_bald_picks_the_patch_where_samples_disagree():
    t = 6
    samples = np.zeros((t, 3, 2, 4, 4), np.float32)
    samples[:, 0] = maps((0.5, 0.5))[0]  # uncertain but consistent: aleatoric
    for i in range(t):  # confident passes that contradict each other: epistemic
        p = 0.95 if i % 2 else 0.05
        samples[i, 1] = maps((p, 1 - p))[0]
    samples[:, 2] = maps((0.9, 0.1))[0]
    scores = bald_scores(samples)
    assert scores[0] == pytest.approx(0.0, abs=1e-5)
    assert scores[1] > 1.0
    sel = select_from_probabilities("bald", samples, 1)
    assert sel.indices.tolist() == [1]
    # entropy of the mean would rank the aleatoric patch as high: BALD separates them
    assert uncertainty_scores(samples.mean(0))[0] == pytest.approx(scores[1] + 0, rel=0.6)


def blobs(rng: np.random.Generator, centres: list[tuple[float, float]], n: int = 20) -> np.ndarray:
    return np.concatenate([rng.normal(c, 0.1, size=(n, 2)) for c in centres])


def test_kmeans_takes_the_candidate_nearest_each_centroid(rng):
    centres = np.array([(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)])
    offsets = rng.normal(0, 0.3, size=(4, 2))
    ring = np.concatenate([offsets, -offsets])  # symmetric: each cluster's mean is its centre
    x = np.concatenate([np.concatenate([c + ring[:4], [c], c + ring[4:]]) for c in centres])
    idx, scores = kmeans_selection(x, 3, rng=0)
    assert sorted(idx.tolist()) == [4, 13, 22]  # the candidates at the centres
    assert scores.sum() == pytest.approx(1.0)  # each pick represents a third of the pool
    assert select("kmeans", 3, embeddings=x, rng=0).indices.tolist() == idx.tolist()


def test_coreset_maximises_the_minimum_distance():
    square = np.array([[0, 0], [0, 10], [10, 0], [10, 10]], float)
    inner = np.array([[5, 5], [4, 6], [6, 4], [5.5, 5.5]], float)
    x = np.concatenate([inner, square])
    idx, scores = coreset_selection(x, 4, labelled=[[5.0, 5.0]])
    assert sorted(idx.tolist()) == [4, 5, 6, 7]  # the corners
    assert np.all(np.diff(scores) <= 1e-9)


def test_coreset_is_greedy_k_center_and_within_twice_the_optimum(rng):
    x = rng.normal(size=(12, 2))
    labelled = rng.normal(size=(2, 2))
    idx, scores = coreset_selection(x, 3, labelled=labelled)
    ref = list(labelled)
    for i, s in zip(idx, scores):  # each pick is the farthest from everything so far
        d = np.min(np.linalg.norm(x[:, None] - np.asarray(ref)[None], axis=-1), axis=1)
        assert d[i] == pytest.approx(d.max()) and s == pytest.approx(d.max())
        ref.append(x[i])

    def cover(chosen):
        centres = np.concatenate([labelled, x[list(chosen)]])
        return np.linalg.norm(x[:, None] - centres[None], axis=-1).min(axis=1).max()

    best = min(cover(c) for c in itertools.combinations(range(12), 3))
    assert cover(idx) <= 2 * best + 1e-9


def test_hybrid_spreads_the_most_uncertain_over_clusters(rng):
    x = blobs(rng, [(0.0, 0.0), (10.0, 10.0)], n=10)
    scores = np.concatenate([np.full(10, 5.0), np.full(10, 4.0)]) + rng.uniform(0, 0.01, 20)
    assert set(rank(scores, 2).tolist()) <= set(range(10))  # entropy alone: one cluster
    idx, s = hybrid_selection(scores, x, 2, factor=10, rng=0)
    assert {int(i) // 10 for i in idx} == {0, 1}  # one from each cluster
    assert idx[0] == int(np.argmax(scores))  # the most uncertain overall comes first
    assert s[0] >= s[1]


def test_batches_avoid_near_duplicates_and_relax_when_needed():
    scores = np.array([5.0, 4.9, 1.0, 0.5])

    def dup(candidate, chosen):  # 0 and 1 are the same patch
        return {candidate, *chosen} >= {0, 1}

    assert rank(scores, 2, is_duplicate=dup).tolist() == [0, 2]
    assert rank(scores, 4, is_duplicate=dup).tolist() == [0, 2, 3, 1]  # filled when too few
    picks = random_selection(4, 3, rng=1, is_duplicate=dup)
    assert len(set(picks.tolist())) == 3 and not {0, 1} <= set(picks.tolist())
    emb = np.array([[0, 0], [0, 0.01], [5, 5], [9, 9]], float)
    assert 1 not in coreset_selection(emb, 2, labelled=[[9, 9]], is_duplicate=dup)[0].tolist()


def test_random_selection_is_reproducible_and_uniform():
    a = random_selection(100, 10, rng=3)
    assert a.tolist() == random_selection(100, 10, rng=3).tolist()
    assert len(set(a.tolist())) == 10
    assert select("random", 5, n=7, rng=0).scores.tolist() == [0.0] * 5


def test_bad_input_k_larger_than_pool_and_empty_pool():
    with pytest.raises(PoolSizeError, match="k <= 3"):
        rank([1.0, 2.0, 3.0], 5)
    with pytest.raises(EmptyPoolError, match="no candidate"):
        rank([], 1)
    with pytest.raises(ValueError, match="C >= 2"):
        uncertainty_scores(np.ones((3, 1, 4, 4)))
    with pytest.raises(ValueError, match="T >= 2"):
        bald_scores(np.ones((1, 2, 2, 4)))
    with pytest.raises(StrategyError, match="needs embeddings"):
        select("coreset", 1, scores=[1.0])
    with pytest.raises(StrategyError, match="Expected a strategy"):
        parse_strategy("surprise")
    assert parse_strategy("Max-Entropy") == "entropy"
    assert parse_strategy("core-set") == "coreset"
    assert set(STRATEGIES) >= {"random", "entropy", "bald", "coreset", "kmeans", "hybrid"}


def test_supervoxel_probabilities_from_a_shallow_classifier():
    # (N, C) probabilities, e.g. voxelwise.learn.predict_supervoxels(...).probabilities
    proba = np.array([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8], [0.5, 0.5]])
    assert select_from_probabilities("entropy", proba, 2).indices.tolist() == [3, 1]
    assert select_from_probabilities("margin", proba, 1).indices.tolist() == [3]
