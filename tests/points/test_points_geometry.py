"""Ellipsoids at points: size, spacing, orientation, overlaps, chunk invariance; refinement."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from voxelwise.points import (
    Points,
    PointsError,
    add_points,
    ellipsoids,
    paint,
    parse_orientation,
    rasterize_layer,
    refine_points,
)
from voxelwise.workspace import Workspace


def test_ball_volume_and_anisotropic_spacing():
    pts = Points.from_arrays([[20, 20, 20]])
    ball = paint(ellipsoids(pts, size=20), (40, 40, 40)).compute()
    assert abs(ball.sum() - 4 / 3 * np.pi * 10**3) / (4 / 3 * np.pi * 10**3) < 0.02
    # z voxels 4x thicker: a 20-unit ball spans 5 planes but has the same physical volume
    thick = paint(
        ellipsoids(Points.from_arrays([[5, 20, 20]]), size=20, spacing=(4, 1, 1)), (10, 40, 40)
    )
    t = thick.compute()
    assert np.flatnonzero(t.any(axis=(1, 2))).tolist() == [3, 4, 5, 6, 7]
    assert abs(t.sum() * 4 - 4 / 3 * np.pi * 10**3) / (4 / 3 * np.pi * 10**3) < 0.1


def test_orientation_points_the_long_axis():
    pts = Points.from_arrays([[30, 30, 30]])
    shape = (60, 60, 60)
    along_x = paint(ellipsoids(pts, size=(40, 10, 10), orientation=(0, 0, 1)), shape).compute()
    extent = [
        np.ptp(np.flatnonzero(along_x.any(axis=tuple(a for a in range(3) if a != k))))
        for k in range(3)
    ]
    assert extent[2] > 35 and extent[0] < 12 and extent[1] < 12
    diagonal = paint(ellipsoids(pts, size=(40, 10, 10), orientation=(0, 1, 1)), shape).compute()
    assert diagonal[30, 40, 40] and not diagonal[30, 40, 20]
    rot = parse_orientation((0, 1, 1))
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-12)
    with pytest.raises(PointsError, match="orientation"):
        parse_orientation((0, 0, 0))
    with pytest.raises(PointsError, match="rotation"):
        parse_orientation(np.ones((3, 3)))


def test_per_point_sizes_aspect_and_values():
    pts = Points.from_arrays([[10, 12, 12], [10, 30, 30]], classes=[2, 3], sizes=[10, 20])
    out = paint(ellipsoids(pts, aspect=(1, 1, 2)), (20, 40, 40)).compute()
    assert set(np.unique(out).tolist()) == {0, 2, 3}
    small, big = (out == 2).sum(), (out == 3).sum()
    assert 6 < big / small < 10  # 8x the volume
    ids = paint(ellipsoids(pts, values="id"), (20, 40, 40)).compute()
    assert set(np.unique(ids).tolist()) == {0, 1, 2}
    with pytest.raises(PointsError, match="no size column"):
        ellipsoids(Points.from_arrays([[1, 1, 1]]))
    with pytest.raises(PointsError, match="class 0"):
        ellipsoids(Points.from_arrays([[1, 1, 1]], classes=[0]), size=3)
    with pytest.raises(PointsError, match="values"):
        ellipsoids(pts, values="colour")


def test_overlaps_go_to_the_nearest_centre_and_chunks_do_not_matter():
    rng = np.random.default_rng(0)
    pts = Points.from_arrays(rng.uniform(0, 30, (25, 3)), sizes=rng.uniform(4, 14, 25))
    ell = ellipsoids(pts, values="id")
    whole = paint(ell, (30, 30, 30), chunks=30).compute()
    chunked = paint(ell, (30, 30, 30), chunks=(7, 11, 13)).compute()
    np.testing.assert_array_equal(whole, chunked)
    # a voxel between two overlapping balls goes to the nearer centre
    two = Points.from_arrays([[10, 10, 8], [10, 10, 14]], sizes=[12, 12])
    out = paint(ellipsoids(two, values="id"), (20, 20, 24)).compute()
    assert out[10, 10, 10] == 1
    assert out[10, 10, 12] == 2


def blobs(seed: int = 0):
    """Bright ellipsoids of various sizes in noise, and their exact masks."""
    rng = np.random.default_rng(seed)
    shape = (40, 80, 80)
    truth = np.zeros(shape, np.uint8)
    centres = []
    for k, (z, y, x) in enumerate([(12, 20, 20), (12, 20, 60), (28, 60, 20), (28, 60, 58)]):
        zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
        r = rng.uniform(6, 10, 3)
        inside = ((zz - z) / r[0]) ** 2 + ((yy - y) / r[1]) ** 2 + ((xx - x) / r[2]) ** 2 <= 1
        truth[inside] = k + 1
        centres.append((z, y, x))
    image = 60 + 100 * (truth > 0) + rng.normal(0, 15, shape)
    return ndimage.gaussian_filter(image, 1.0).astype(np.float32), truth, np.array(centres, float)


def _iou(a, b):
    return ((a > 0) & (b > 0)).sum() / ((a > 0) | (b > 0)).sum()


@pytest.mark.parametrize(("method", "balloon"), [("chan_vese", 0.0), ("geodesic", -1.0)])
def test_refinement_recovers_objects_better_than_balls(method, balloon):
    image, truth, centres = blobs()
    pts = Points.from_arrays(centres, classes=[1, 1, 1, 1])
    ball = paint(ellipsoids(pts, size=22), image.shape).compute()  # a typical size, too big
    refined = refine_points(
        pts, image, size=22, method=method, iterations=40, balloon=balloon, chunks=(20, 40, 40)
    ).compute()
    assert _iou(refined, truth) > _iou(ball, truth) + 0.3
    assert _iou(refined, truth) > (0.8 if method == "chan_vese" else 0.7)


def test_refinement_runs_per_slice_on_thick_sections_and_checks_input():
    image, _truth, centres = blobs(1)
    pts = Points.from_arrays(centres)
    refined = refine_points(
        pts, image, size=(16, 16, 16), spacing=(4, 1, 1), iterations=20, values="id"
    ).compute()
    assert set(np.unique(refined).tolist()) <= {0, 1, 2, 3, 4}
    with pytest.raises(PointsError, match="method"):
        refine_points(pts, image, size=10, method="snake")
    with pytest.raises(PointsError, match=r"\(Z, Y, X\)"):
        refine_points(pts, image[0], size=10)


def test_rasterize_layer_on_a_workspace(tmp_path):
    image, truth, centres = blobs()
    ws = Workspace.create(tmp_path / "g.vw", image, chunks=(20, 40, 40), spacing=(2, 1, 1))
    add_points(ws, "blobs", [{"z": z, "y": y, "x": x, "class": 1} for z, y, x in centres])
    info = rasterize_layer(ws, "blobs", size=20)
    assert info.name == "blobs_objects"
    assert info.kind == "labels"
    plain = ws.get(info.name).compute()
    assert plain.any()
    refined = rasterize_layer(
        ws, "blobs", name="refined", size=20, refine="chan_vese", iterations=30
    )
    assert _iou(ws.get(refined.name).compute(), truth) > _iou(plain, truth)
    assert [r.step for r in ws.runs()].count("points.rasterize") == 2
