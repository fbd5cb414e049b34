"""MRF refinement: exact binary cuts, alpha-expansion, graph and grid refinement."""

from __future__ import annotations

import builtins
import itertools

import numpy as np
import pytest

from voxelwise._optional import MissingDependencyError
from voxelwise.learn import LearnError, alpha_expansion, edge_weights, refine_graph, refine_grid
from voxelwise.learn._mrf import grid_edges, mrf_energy

pytest.importorskip("maxflow")


def brute_force(unary, edges, weights):
    n, k = unary.shape
    return min(
        mrf_energy(np.array(lab), unary, edges, weights)
        for lab in itertools.product(range(k), repeat=n)
    )


@pytest.mark.parametrize("k", [2, 3, 4])
def test_alpha_expansion_against_brute_force(k):
    gen = np.random.default_rng(k)
    worst = 1.0
    for _ in range(25):
        n = 6
        unary = gen.random((n, k)) * 2
        edges = np.array([(i, j) for i in range(n) for j in range(i + 1, n) if gen.random() < 0.5])
        edges = edges.reshape(-1, 2)
        weights = gen.random(len(edges)) * 1.5
        labels = alpha_expansion(unary, edges, weights)
        energy = mrf_energy(labels, unary, edges, weights)
        best = brute_force(unary, edges, weights)
        assert energy <= mrf_energy(unary.argmin(axis=1), unary, edges, weights) + 1e-9
        if k == 2:
            assert energy == pytest.approx(best)  # one cut is exact for two labels
        assert energy <= 2 * best + 1e-9  # the expansion-move bound for Potts
        worst = max(worst, energy / best)
    assert worst < 1.2


def test_refine_graph_smooths_a_chain():
    # A chain of 9 nodes, confidently class 0 except one uncertain outlier in the middle.
    p = np.tile([[0.9, 0.1]], (9, 1))
    p[4] = [0.4, 0.6]
    edges = np.stack([np.arange(8), np.arange(1, 9)], axis=1)
    assert refine_graph(p, edges, smoothness=0.0)[4] == 1
    assert (refine_graph(p, edges, smoothness=0.5) == 0).all()
    # A confident outlier survives a small smoothness.
    p[4] = [0.01, 0.99]
    assert refine_graph(p, edges, smoothness=0.5)[4] == 1
    with pytest.raises(LearnError, match="smoothness >= 0"):
        refine_graph(p, edges, smoothness=-1)


def test_edge_weights_favour_similar_neighbours():
    x = np.array([[0.0], [0.1], [5.0]])
    w = edge_weights(x, np.array([[0, 1], [1, 2]]))
    assert 0 < w[1] < w[0] <= 1
    w2 = edge_weights(x, np.array([[0, 1], [1, 2]]), contact=np.array([10, 1]))
    assert w2[0] / w2[1] > w[0] / w[1]


def test_refine_grid_removes_speckle():
    gen = np.random.default_rng(0)
    truth = np.zeros((4, 32, 32), int)
    truth[:, 8:24, 8:24] = 1
    noisy = np.where(gen.random(truth.shape) < 0.15, 1 - truth, truth)
    p = np.where(noisy == 1, 0.7, 0.3).astype(np.float32)
    probs = np.stack([1 - p, p])
    refined = refine_grid(probs, smoothness=1.0, spacing=(2, 1, 1))
    assert (refined != truth).mean() < 0.25 * (noisy != truth).mean()
    # Contrast-sensitive weights follow the image; zero smoothness keeps the argmax.
    np.testing.assert_array_equal(refine_grid(probs, smoothness=0), noisy)
    refined_img = refine_grid(probs, smoothness=1.0, image=truth.astype(float))
    assert (refined_img != truth).mean() < (noisy != truth).mean()
    with pytest.raises(LearnError, match="max_voxels"):
        refine_grid(probs, max_voxels=100)


def test_grid_edges_count_and_weights():
    edges, w = grid_edges((2, 3, 4), spacing=(4, 1, 1))
    assert len(edges) == 1 * 3 * 4 + 2 * 2 * 4 + 2 * 3 * 3
    assert sorted(set(np.round(w, 6))) == [0.25, 1.0]


def test_missing_pymaxflow_says_how_to_install(monkeypatch):
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "maxflow":
            raise ImportError("no maxflow")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(MissingDependencyError, match="pip install PyMaxflow"):
        alpha_expansion(np.zeros((3, 2)), np.array([[0, 1]]), np.ones(1))
