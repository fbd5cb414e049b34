"""Patches at points: descriptors, HDBSCAN clusters, 2D embeddings, scatter PNG, workspace, CLI."""

from __future__ import annotations

import doctest
import importlib
import importlib.util

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import adjusted_rand_score, homogeneity_score

from voxelwise._optional import MissingDependencyError
from voxelwise.cli import main
from voxelwise.data import balls_and_shells
from voxelwise.points import (
    Points,
    PointsError,
    add_points,
    cluster_features,
    cluster_points,
    embed_features,
    patch_features,
    sample_patches,
    scatter_png,
)
from voxelwise.workspace import Workspace


def two_kinds(n: int = 60, rng: int = 0) -> tuple[np.ndarray, Points]:
    """Solid balls (class 1) and hollow shells (class 2) of radius 4.5-5.5, in noise."""
    image, centres, classes = balls_and_shells(n, columns=6, rng=rng)
    return image, Points.from_arrays(centres, classes)


def test_balls_and_shells_are_two_seeded_classes():
    image, centres, classes = balls_and_shells(13, columns=6, rng=3)
    assert image.shape == (32, 64, 160) and image.dtype == np.float32
    assert centres.shape == (13, 3) and classes.tolist().count(2) == 6
    assert len({tuple(c) for c in centres}) == 13
    again, centres2, _ = balls_and_shells(13, columns=6, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(again, image)
    np.testing.assert_array_equal(centres2, centres)
    z, y, x = centres.astype(int).T
    ball, shell = classes == 1, classes == 2
    assert image[z, y, x][ball].min() > 150 > image[z, y, x][shell].max()  # solid vs hollow
    on_shell = image[z, y, x + 5]  # the shell's wall (radius 4.5-5.5, 2.4 voxels thick)
    assert on_shell[shell].min() > 130
    assert not np.array_equal(balls_and_shells(13, columns=6, rng=4)[0], image)
    with pytest.raises(ValueError, match="n >= 1"):
        balls_and_shells(0)
    with pytest.raises(TypeError, match="columns"):
        balls_and_shells(4, columns=2.5)  # type: ignore[arg-type]
    result = doctest.testmod(importlib.import_module("voxelwise.data._synthetic_objects"))
    assert result.attempted >= 3 and result.failed == 0


def test_patches_are_centred_and_padded():
    image = np.arange(5 * 6 * 7, dtype=np.float32).reshape(5, 6, 7)
    pts = Points.from_arrays([[2, 3, 3], [0, 0, 0]])
    p = sample_patches(image, pts, 3)
    assert p.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(p[0], image[1:4, 2:5, 2:5])
    assert p[1, 0, 0, 0] == image[0, 0, 0]  # edge padding
    binned = sample_patches(image, pts, (1, 4, 4), bin=(1, 2, 2))
    assert binned.shape == (2, 1, 2, 2)
    assert binned[0, 0, 0, 0] == image[2, 1:3, 1:3].mean()
    with pytest.raises(PointsError, match="divide"):
        sample_patches(image, pts, 3, bin=2)
    with pytest.raises(PointsError, match="outside the image"):
        sample_patches(image, Points.from_arrays([[9, 0, 0]]), 3)


def test_handcrafted_features_describe_the_pattern_not_the_brightness():
    image, pts = two_kinds(12)
    patches = sample_patches(image, pts, 16)
    x, names = patch_features(patches)
    assert x.shape == (12, len(names))
    assert np.isfinite(x).all()
    x2, _ = patch_features(patches * 3 + 50)  # brighter, more contrast: same pattern
    keep = [i for i, n in enumerate(names) if n not in ("mean", "std")]
    np.testing.assert_allclose(x2[:, keep], x[:, keep], rtol=1e-3, atol=1e-3)
    ring0 = x[:, names.index("ring_0")]
    solid = pts.classes == 1
    assert ring0[solid].min() > ring0[~solid].max()  # bright centres vs dark centres


def test_clustering_separates_two_synthetic_classes(tmp_path):
    image, pts = two_kinds(60)
    x, _ = patch_features(sample_patches(image, pts, 16))
    xy = embed_features(x, rng=0)
    assert xy.shape == (60, 2)
    clusters = cluster_features(xy, min_cluster_size=10, components=None)
    assert adjusted_rand_score(pts.classes, clusters) >= 0.9
    # on the descriptors themselves: pure clusters (each holds one class), some noise
    direct = cluster_features(x, min_cluster_size=10)
    kept = direct >= 0
    assert kept.mean() >= 0.6
    assert homogeneity_score(pts.classes[kept], direct[kept]) >= 0.95
    path = scatter_png(xy, clusters, tmp_path / "s.png", classes=pts.classes.tolist(), title="t")
    with Image.open(path) as im:
        pixels = np.asarray(im.convert("RGB"))
    assert (pixels == [31, 119, 180]).all(axis=2).sum() > 50  # cluster 0 dots drawn
    assert (pixels == [255, 127, 14]).all(axis=2).sum() > 50  # cluster 1 dots drawn


def test_embeddings_and_their_errors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 5))
    assert embed_features(x, method="pca").shape == (20, 2)
    assert embed_features(x[:3]).shape == (3, 2)
    if importlib.util.find_spec("umap") is None:
        with pytest.raises(MissingDependencyError, match="umap"):
            embed_features(x, method="umap")
    with pytest.raises(PointsError, match="method"):
        embed_features(x, method="mds")
    with pytest.raises(PointsError, match="finite"):
        cluster_features(np.full((10, 2), np.nan))
    with pytest.raises(PointsError, match="at least min_cluster_size"):
        cluster_features(x[:3], min_cluster_size=5)


def test_cluster_points_on_a_workspace_and_cli(tmp_path, capsys):
    image, pts = two_kinds(40)
    ws = Workspace.create(tmp_path / "c.vw", image, chunks=(16, 64, 80))
    add_points(ws, "spots", pts.to_records())
    table = cluster_points(ws, "spots", size=16, min_cluster_size=8, png=tmp_path / "a.png")
    assert table.names == ("id", "z", "y", "x", "class", "cluster", "embed_x", "embed_y")
    assert adjusted_rand_score(table["class"], table["cluster"]) >= 0.8
    assert (tmp_path / "a.png").is_file()
    assert (ws.path / "points" / "spots.clusters.csv").is_file()
    assert ws.runs(step="points.cluster")[0].params["clusters"] >= 2

    def mean_and_centre(patches: np.ndarray) -> np.ndarray:
        return np.stack([patches.mean(axis=(1, 2, 3)), patches[:, 8, 8, 8]], axis=1)

    custom = cluster_points(ws, "spots", size=16, features=mean_and_centre, min_cluster_size=8)
    assert custom.meta["features"] == "mean_and_centre"
    with pytest.raises(PointsError, match="returned shape"):
        cluster_points(ws, "spots", size=16, features=lambda p: p[:3, 0, 0])

    code = main(
        [
            "-q",
            "points",
            "cluster",
            str(ws.path),
            "spots",
            "--patch-size",
            "16",
            "--min-cluster-size",
            "8",
            "--png",
            str(tmp_path / "b.png"),
            "--out",
            str(tmp_path / "b.csv"),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "40 points in" in out.out
    assert (tmp_path / "b.png").is_file()
