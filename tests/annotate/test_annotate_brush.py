"""Voxel brushes: discs, balls, strokes, clipping, the eraser, label checks, chunk-local writes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from voxelwise import annotate
from voxelwise.annotate import AnnotationError, OutsideVolumeError
from voxelwise.workspace import InvalidLayerError, LabelNotFoundError, Workspace

SHAPE = (20, 64, 80)
CHUNKS = (8, 32, 32)


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.create(tmp_path / "b.vw", np.zeros(SHAPE, np.uint8), chunks=CHUNKS)
    ws.add_label("tissue", "membrane")
    ws.add_label("tissue", "mito", color="#00ff00")
    annotate.create_layer(ws, "s", label_set="tissue")
    return ws


def grid() -> tuple[np.ndarray, ...]:
    return np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]


def ball(center, radius) -> np.ndarray:
    z, y, x = grid()
    r = np.broadcast_to(np.asarray(radius, float), (3,))
    return ((z - center[0]) / r[0]) ** 2 + ((y - center[1]) / r[1]) ** 2 + (
        (x - center[2]) / r[2]
    ) ** 2 <= 1 + 1e-9


def test_ball_matches_reference_and_is_recorded(ws):
    edit = annotate.paint(ws, "s", "membrane", center=(10, 30, 40), radius=5, author="ana")
    got = ws.get("s").compute()
    want = ball((10, 30, 40), 5)
    np.testing.assert_array_equal(got == 1, want)
    assert got[~want].max() == 0
    assert edit.voxels == want.sum() == 515
    assert edit.bbox == ((5, 16), (25, 36), (35, 46))
    assert (edit.kind, edit.label, edit.value, edit.author) == ("paint", "membrane", 1, "ana")
    assert got[edit.roi].sum() == got.sum()


@pytest.mark.parametrize(("plane", "axis"), [("z", 0), ("y", 1), ("x", 2)])
def test_disc_stays_in_its_plane(ws, plane, axis):
    center = (10, 30, 40)
    annotate.paint(ws, "s", 2, center=center, radius=4, plane=plane)
    got = ws.get("s").compute() == 2
    z, y, x = grid()
    coords = [z, y, x]
    in_plane = coords[axis] == center[axis]
    dist2 = sum((c - center[i]) ** 2 for i, c in enumerate(coords) if i != axis)
    np.testing.assert_array_equal(got, in_plane & (dist2 <= 16))
    assert got.sum() == 49  # lattice points in a radius-4 disc


def test_ellipsoidal_ball(ws):
    annotate.paint(ws, "s", 1, center=(10, 30, 40), radius=(2, 6, 9))
    np.testing.assert_array_equal(ws.get("s").compute() == 1, ball((10, 30, 40), (2, 6, 9)))


def test_stroke_is_a_swept_capsule(ws):
    pts = [(10, 10, 10), (10, 40, 60), (12, 50, 20)]
    edit = annotate.paint_stroke(ws, "s", "mito", pts, 2.5)
    got = ws.get("s").compute() == 2
    z, y, x = (c.astype(float) for c in grid())
    want = np.zeros(SHAPE, bool)
    for a, b in itertools.pairwise(pts):
        a, b = np.asarray(a, float), np.asarray(b, float)
        d = b - a
        t = np.clip(((z - a[0]) * d[0] + (y - a[1]) * d[1] + (x - a[2]) * d[2]) / (d @ d), 0, 1)
        dist2 = (z - a[0] - t * d[0]) ** 2 + (y - a[1] - t * d[1]) ** 2 + (x - a[2] - t * d[2]) ** 2
        want |= dist2 <= 2.5**2 + 1e-9
    np.testing.assert_array_equal(got, want)
    assert edit.voxels == want.sum()
    assert len(annotate.history(ws, "s")) == 1  # one edit for the whole stroke


def test_zero_radius_draws_a_connected_line(ws):
    annotate.paint_stroke(ws, "s", 1, [(5, 3, 3), (5, 3, 30)], 0, plane="z")
    got = ws.get("s").compute()
    assert got[5, 3, 3:31].tolist() == [1] * 28
    assert got.sum() == 28


def test_plane_stroke_must_stay_in_one_slice(ws):
    with pytest.raises(AnnotationError, match="one z slice"):
        annotate.paint_stroke(ws, "s", 1, [(5, 3, 3), (6, 3, 30)], 2, plane="z")


def test_stroke_partly_outside_is_clipped(ws):
    edit = annotate.paint(ws, "s", 1, center=(0, 0, 79), radius=4)
    want = ball((0, 0, 79), 4)
    np.testing.assert_array_equal(ws.get("s").compute() == 1, want)
    assert edit.voxels == want.sum()
    assert edit.bbox == ((0, 5), (0, 5), (75, 80))


@pytest.mark.parametrize("center", [(-10, 30, 30), (10, 70, 30), (10, 30, 85), (25, 100, 200)])
def test_stroke_entirely_outside_is_refused(ws, center):
    with pytest.raises(
        OutsideVolumeError, match=r"entirely outside the volume of shape \(20, 64, 80\)"
    ):
        annotate.paint(ws, "s", 1, center=center, radius=3)
    assert annotate.history(ws, "s") == []
    assert ws.get("s").compute().max() == 0


def test_disc_in_a_slice_outside_is_refused(ws):
    with pytest.raises(OutsideVolumeError):
        annotate.paint(ws, "s", 1, center=(20, 30, 30), radius=30, plane="z")


def test_unknown_labels_are_refused(ws):
    with pytest.raises(LabelNotFoundError, match=r"No label 'nucleus'.*membrane=1, mito=2"):
        annotate.paint(ws, "s", "nucleus", center=(5, 5, 5), radius=1)
    with pytest.raises(LabelNotFoundError, match="No label 7"):
        annotate.paint(ws, "s", 7, center=(5, 5, 5), radius=1)
    with pytest.raises(TypeError, match="label as a name or a whole-number value"):
        annotate.paint(ws, "s", 1.5, center=(5, 5, 5), radius=1)
    with pytest.raises(AnnotationError, match=">= 0"):
        annotate.paint(ws, "s", -1, center=(5, 5, 5), radius=1)
    assert ws.get("s").compute().max() == 0


def test_bad_brush_arguments(ws):
    with pytest.raises(ValueError, match="plane"):
        annotate.paint(ws, "s", 1, center=(5, 5, 5), radius=1, plane="xy")
    with pytest.raises(ValueError, match="radius >= 0"):
        annotate.paint(ws, "s", 1, center=(5, 5, 5), radius=-1)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        annotate.paint_stroke(ws, "s", 1, [(5, 5)], 1)
    with pytest.raises(ValueError, match="finite"):
        annotate.paint(ws, "s", 1, center=(5, np.nan, 5), radius=1)


def test_layer_without_label_set_takes_values(ws):
    annotate.create_layer(ws, "plain")
    annotate.paint(ws, "plain", 300, center=(5, 5, 5), radius=1)
    assert ws.get("plain").compute().max() == 300
    with pytest.raises(LabelNotFoundError, match="no label set"):
        annotate.paint(ws, "plain", "membrane", center=(5, 5, 5), radius=1)
    with pytest.raises(AnnotationError, match="does not fit"):
        annotate.paint(ws, "plain", 70000, center=(5, 5, 5), radius=1)


def test_many_labels_in_a_wide_layer(ws):
    for i in range(40):
        ws.add_label("many", f"l{i}", value=70000 + i)
    info = annotate.create_layer(ws, "wide", label_set="many")
    assert info.dtype == "uint32"
    annotate.paint(ws, "wide", "l39", center=(5, 5, 5), radius=1)
    assert ws.get("wide").compute().max() == 70039


def test_only_editable_layers(ws):
    ws.add_layer("feat", ws.get("raw").astype("float32"))
    with pytest.raises(InvalidLayerError, match="annotation"):
        annotate.paint(ws, "feat", 1, center=(5, 5, 5), radius=1)
    with pytest.raises(InvalidLayerError):
        annotate.paint(ws, "raw", 1, center=(5, 5, 5), radius=1)


def test_overwrite_false_paints_only_unlabelled(ws):
    annotate.paint(ws, "s", "membrane", center=(10, 30, 30), radius=4)
    before = ws.get("s").compute()
    annotate.paint(ws, "s", "mito", center=(10, 30, 36), radius=4, overwrite=False)
    after = ws.get("s").compute()
    assert (after[before == 1] == 1).all()
    assert ((after == 2) == (ball((10, 30, 36), 4) & (before == 0))).all()


def test_eraser(ws):
    annotate.paint(ws, "s", "membrane", center=(10, 30, 30), radius=4)
    annotate.paint(ws, "s", "mito", center=(10, 30, 38), radius=4)
    before = ws.get("s").compute()
    edit = annotate.erase(ws, "s", (10, 30, 34), 3, label="mito")
    after = ws.get("s").compute()
    gone = ball((10, 30, 34), 3) & (before == 2)
    assert edit.kind == "erase"
    assert edit.voxels == gone.sum() > 0
    assert (after[gone] == 0).all()
    np.testing.assert_array_equal(after[~gone], before[~gone])
    annotate.erase(ws, "s", [(10, 30, 20), (10, 30, 50)], 6, plane="z")
    assert ws.get("s").compute()[10].max() == 0


def test_repainting_the_same_label_records_nothing(ws):
    annotate.paint(ws, "s", 1, center=(10, 30, 30), radius=3)
    again = annotate.paint(ws, "s", 1, center=(10, 30, 30), radius=3)
    assert again.id is None
    assert again.voxels == 0
    assert len(annotate.history(ws, "s")) == 1


def _chunk_files(ws, name):
    root = ws.path / "data.ome.zarr" / ws.layer(name).directory / "0" / "c"
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()
    }


def test_only_touched_chunks_are_written(ws):
    annotate.import_labels(ws, np.full(SHAPE, 1, np.uint16), name="full", label_set="tissue")
    before = _chunk_files(ws, "full")
    assert len(before) == 3 * 2 * 3  # every chunk is stored
    # a ball across the corner of chunks (0..1, 0..1, 1..2) in chunk units (8, 32, 32)
    annotate.paint(ws, "full", "mito", center=(7.5, 31.5, 63.5), radius=2)
    after = _chunk_files(ws, "full")
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {f"{z}/{y}/{x}" for z in (0, 1) for y in (0, 1) for x in (1, 2)}
    # an empty layer stores only the chunks painted
    annotate.paint(ws, "s", 1, center=(2, 2, 2), radius=1)
    assert set(_chunk_files(ws, "s")) == {"0/0/0"}


def test_erasing_a_whole_chunk_removes_its_file(ws):
    annotate.paint(ws, "s", 1, center=(2, 2, 2), radius=1)
    annotate.erase(ws, "s", (2, 2, 2), 2)
    assert _chunk_files(ws, "s") == {}


def test_pyramid_levels_follow_edits(tmp_path):
    ws = Workspace.create(tmp_path / "p.vw", np.zeros((8, 256, 256), np.uint8), chunks=(8, 64, 64))
    ws.add_layer("lab", np.zeros((8, 256, 256), np.uint16), kind="annotation", pyramid=True)
    levels = ws.layer("lab").levels
    assert levels == 3  # (1, 2, 2) twice: z is thin

    def check():
        full = ws.get("lab").compute()
        for level in range(1, levels):
            step = 2**level
            np.testing.assert_array_equal(
                ws.get("lab", level=level).compute(), full[:, ::step, ::step]
            )
        return full

    annotate.paint(ws, "lab", 5, center=(4, 101, 99), radius=(3, 21, 20))
    annotate.erase(ws, "lab", (4, 100, 110), (3, 5, 5))
    assert (check() == 5).sum() > 1000
    annotate.undo(ws, "lab")
    annotate.undo(ws, "lab")
    assert check().max() == 0
