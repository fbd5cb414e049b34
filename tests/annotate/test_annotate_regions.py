"""2D fill, slice interpolation and the supervoxel brush."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from voxelwise import annotate
from voxelwise.annotate import AnnotationError, OutsideVolumeError
from voxelwise.workspace import InvalidLayerError, Workspace

SHAPE = (16, 60, 70)
CHUNKS = (4, 16, 16)


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.create(tmp_path / "r.vw", np.zeros(SHAPE, np.uint8), chunks=CHUNKS)
    ws.add_label("t", "wall")  # 1
    ws.add_label("t", "inside")  # 2
    ws.add_label("t", "other")  # 3
    annotate.create_layer(ws, "s", label_set="t")
    return ws


def ring(ws, z, center, radius, *, plane="z"):
    """A closed polygon of label 'wall' in one slice."""
    angles = np.linspace(0, 2 * np.pi, 33)
    pts = []
    for a in angles:
        p = list(center)
        axes = [i for i in range(3) if i != "zyx".index(plane)]
        p[axes[0]] += radius * np.sin(a)
        p[axes[1]] += radius * np.cos(a)
        p["zyx".index(plane)] = z
        pts.append(p)
    annotate.paint_stroke(ws, "s", "wall", pts, 0.8, plane=plane)


def test_fill_inside_a_contour_stays_in_the_slice(ws):
    ring(ws, 5, (5, 30, 35), 12)
    before = ws.get("s").compute()
    edit = annotate.fill_2d(ws, "s", "inside", (5, 30, 35))
    after = ws.get("s").compute()
    hole = ndimage.binary_fill_holes(before[5] == 1) & (before[5] == 0)
    np.testing.assert_array_equal(after[5] == 2, hole)
    np.testing.assert_array_equal(np.delete(after, 5, axis=0), np.delete(before, 5, axis=0))
    assert edit.kind == "fill"
    assert edit.voxels == hole.sum()
    assert edit.bbox[0] == (5, 6)
    # filling the outside background reaches the whole slice but not the inside
    annotate.fill_2d(ws, "s", "other", (5, 0, 0))
    got = ws.get("s").compute()[5]
    assert ((got == 3) == (before[5] == 0) & ~hole).all()


@pytest.mark.parametrize("plane", ["y", "x"])
def test_fill_in_other_planes(ws, plane):
    axis = "zyx".index(plane)
    center = [8, 30, 35]
    center[axis] = 33
    ring(ws, 33, center, 6, plane=plane)
    before = np.take(ws.get("s").compute(), 33, axis=axis)
    annotate.fill_2d(ws, "s", 2, center, plane=plane)
    got = ws.get("s").compute()
    assert set(np.argwhere(got == 2)[:, axis]) == {33}
    hole = ndimage.binary_fill_holes(before == 1) & (before == 0)
    np.testing.assert_array_equal(np.take(got, 33, axis=axis) == 2, hole)
    assert hole.sum() > 50


def test_fill_connectivity_and_source_layer(ws):
    diag = np.zeros(SHAPE, np.uint16)
    diag[3, 10, 10] = diag[3, 11, 11] = 3
    ws.add_layer("pred", diag, kind="prediction", label_set="t")
    annotate.fill_2d(ws, "s", "other", (3, 10, 10), source="pred")
    assert (ws.get("s").compute() == 3).sum() == 1
    annotate.fill_2d(ws, "s", "other", (3, 10, 10), source="pred", connectivity=2)
    assert (ws.get("s").compute() == 3).sum() == 2
    with pytest.raises(OutsideVolumeError, match="seed"):
        annotate.fill_2d(ws, "s", 1, (3, 60, 10))
    with pytest.raises(ValueError, match="connectivity"):
        annotate.fill_2d(ws, "s", 1, (3, 10, 10), connectivity=3)


def _disc(shape2, center, radius):
    y, x = np.ogrid[: shape2[0], : shape2[1]]
    return (y - center[0]) ** 2 + (x - center[1]) ** 2 <= radius**2


def test_interpolation_between_two_discs(ws):
    annotate.paint(ws, "s", "wall", center=(2, 30, 30), radius=5, plane="z")
    annotate.paint(ws, "s", "wall", center=(12, 30, 30), radius=15, plane="z")
    edit = annotate.interpolate(ws, "s", "wall", 12, 2)
    got = ws.get("s").compute() == 1
    areas = got.sum(axis=(1, 2))
    assert edit.kind == "interpolate"
    assert edit.bbox[0] == (3, 12)
    assert edit.voxels == areas[3:12].sum()
    assert (np.diff(areas[2:13]) > 0).all()  # grows monotonically from r=5 to r=15
    for k in range(3, 12):  # a disc of the linearly interpolated radius
        r = 5 + (k - 2)
        expected = _disc(SHAPE[1:], (30, 30), r)
        assert (got[k] ^ expected).sum() <= 0.08 * expected.sum()
    assert not got[:2].any()
    assert not got[13:].any()


def test_interpolation_keeps_other_labels_unless_overwrite(ws):
    annotate.paint(ws, "s", "wall", center=(2, 30, 30), radius=8, plane="z")
    annotate.paint(ws, "s", "wall", center=(8, 30, 30), radius=8, plane="z")
    annotate.paint(ws, "s", "other", center=(5, 30, 30), radius=2, plane="z")
    annotate.interpolate(ws, "s", "wall", 2, 8)
    got = ws.get("s").compute()
    assert (got[5] == 3).sum() == 13
    assert (got[3] == 1).sum() == _disc(SHAPE[1:], (30, 30), 8).sum()
    annotate.interpolate(ws, "s", "wall", 2, 8, overwrite=True)
    assert (ws.get("s").compute()[5] == 3).sum() == 0


def test_interpolation_along_x(ws):
    annotate.paint(ws, "s", 2, center=(8, 30, 10), radius=4, plane="x")
    annotate.paint(ws, "s", 2, center=(8, 30, 20), radius=4, plane="x")
    annotate.interpolate(ws, "s", 2, 10, 20, plane="x")
    got = ws.get("s").compute() == 2
    for k in range(10, 21):
        np.testing.assert_array_equal(got[:, :, k], got[:, :, 10])


def test_interpolation_errors(ws):
    annotate.paint(ws, "s", "wall", center=(2, 30, 30), radius=5, plane="z")
    with pytest.raises(AnnotationError, match=r"Slice 9 along z .* holds no voxel of label 'wall'"):
        annotate.interpolate(ws, "s", "wall", 2, 9)
    with pytest.raises(AnnotationError, match="no slice between"):
        annotate.interpolate(ws, "s", "wall", 2, 3)
    with pytest.raises(OutsideVolumeError):
        annotate.interpolate(ws, "s", "wall", 2, 16)
    with pytest.raises(AnnotationError, match="not 0"):
        annotate.interpolate(ws, "s", 0, 2, 9)
    with pytest.raises(ValueError, match="plane"):
        annotate.interpolate(ws, "s", "wall", 2, 9, plane=None)


def _blocks_supervoxels() -> np.ndarray:
    """Supervoxels spanning several chunks: a grid of 10 x 25 x 30 boxes, plus one thin
    L-shaped supervoxel running through many chunks."""
    z, y, x = np.indices(SHAPE)
    sv = (z // 10) * 100 + (y // 25) * 10 + (x // 30) + 1
    sv[0:2, 50:60, :] = 999
    sv[0:2, :, 60:70] = 999
    return sv.astype(np.int32)


def test_supervoxel_brush_paints_whole_supervoxels(ws):
    sv = _blocks_supervoxels()
    ws.add_layer("sv", sv, kind="supervoxels")
    edit = annotate.paint_supervoxels(ws, "s", "other", "sv", [(3, 5, 5), (3, 5, 35)], radius=1)
    got = ws.get("s").compute() == 3
    touched = np.unique(sv[3, 4:7, 4:37])
    np.testing.assert_array_equal(got, np.isin(sv, touched))
    assert edit.kind == "supervoxels"
    assert edit.voxels == got.sum()
    # a click in the L-shaped supervoxel paints all of it, across chunks
    annotate.paint_supervoxels(ws, "s", "wall", sv, (1, 55, 5))
    np.testing.assert_array_equal(ws.get("s").compute() == 1, sv == 999)


def test_supervoxel_brush_on_real_slic_supervoxels(ws, shared_data):
    from skimage.segmentation import slic

    from voxelwise.io import open_volume

    raw = open_volume(shared_data / "isbi2012_em_membranes" / "train-volume_png" / "*.png")
    crop = raw.data[: SHAPE[0], : SHAPE[1], : SHAPE[2]].compute()
    sv = slic(crop, n_segments=60, compactness=0.1, channel_axis=None, start_label=1)
    sv = sv.astype(np.int32)
    clicks = [(8, 30, 35), (2, 5, 60)]
    annotate.paint_supervoxels(ws, "s", 3, sv, clicks[0])
    annotate.paint_supervoxels(ws, "s", 2, sv, clicks[1])
    got = ws.get("s").compute()
    for value, (z, y, x) in zip((3, 2), clicks):
        np.testing.assert_array_equal(got == value, sv == sv[z, y, x])


def test_supervoxel_brush_errors(ws):
    with pytest.raises(AnnotationError, match="touches no supervoxel"):
        annotate.paint_supervoxels(ws, "s", 1, np.zeros(SHAPE, np.int32), (3, 3, 3))
    with pytest.raises(InvalidLayerError, match="shape"):
        annotate.paint_supervoxels(ws, "s", 1, np.zeros((3, 3, 3), np.int32), (1, 1, 1))
    with pytest.raises(InvalidLayerError, match="integer"):
        annotate.paint_supervoxels(ws, "s", 1, np.zeros(SHAPE, np.float32), (3, 3, 3))
    ws.add_layer("feat", np.zeros(SHAPE, np.float32))
    with pytest.raises(InvalidLayerError, match="integer label layer"):
        annotate.paint_supervoxels(ws, "s", 1, "feat", (3, 3, 3))
    with pytest.raises(OutsideVolumeError):
        annotate.paint_supervoxels(ws, "s", 1, np.ones(SHAPE, np.int32), (30, 3, 3))
