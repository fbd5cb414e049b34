"""Edit log, undo and redo: exact round trips for every kind of edit, editor semantics."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from voxelwise import annotate
from voxelwise.annotate import EDIT_KINDS
from voxelwise.workspace import Workspace

SHAPE = (12, 40, 48)


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.create(tmp_path / "u.vw", np.zeros(SHAPE, np.uint8), chunks=(5, 16, 16))
    ws.add_label("t", "a")  # 1
    ws.add_label("t", "b")  # 2
    ws.add_label("t", "c", parent="a")  # 3
    rng = np.random.default_rng(1)
    start = rng.choice(np.array([0, 0, 0, 1, 2], np.uint16), size=SHAPE)
    annotate.import_labels(ws, start, name="s", label_set="t")
    return ws


def state(ws):
    return ws.get("s").compute()


def _edits(ws):
    sv = (np.indices(SHAPE).sum(axis=0) // 7).astype(np.int32) + 1
    annotate.paint(ws, "s", "a", center=(4, 10, 10), radius=6, plane="z")
    return [
        lambda: annotate.paint(ws, "s", "b", center=(6, 20, 24), radius=5),
        lambda: annotate.paint_stroke(ws, "s", "a", [(3, 2, 2), (3, 30, 40)], 2, plane="z"),
        lambda: annotate.erase(ws, "s", (6, 20, 20), 4),
        lambda: annotate.erase(ws, "s", (6, 20, 20), 8, label="a"),
        lambda: annotate.paint_supervoxels(ws, "s", "b", sv, (2, 3, 4)),
        lambda: annotate.fill_2d(ws, "s", "b", (8, 39, 0)),
        lambda: annotate.paint(ws, "s", "c", center=(4, 10, 10), radius=3, plane="z"),
        lambda: annotate.interpolate(ws, "s", "b", 0, 11, overwrite=True),
    ]


def test_undo_redo_round_trip_of_every_edit_kind(ws):
    annotate.paint(ws, "s", "b", center=(0, 20, 20), radius=4, plane="z")
    annotate.paint(ws, "s", "b", center=(11, 20, 20), radius=4, plane="z")
    edits = _edits(ws)
    kinds = set()
    for make in edits:
        before = state(ws)
        edit = make()
        after = state(ws)
        kinds.add(edit.kind)
        assert edit.voxels == (before != after).sum() > 0, edit.kind
        undone = annotate.undo(ws, "s")
        assert undone.kind == "undo"
        assert undone.target == edit.id
        assert undone.voxels == edit.voxels
        np.testing.assert_array_equal(state(ws), before)
        redone = annotate.redo(ws, "s")
        assert (redone.kind, redone.target) == ("redo", edit.id)
        np.testing.assert_array_equal(state(ws), after)
    assert kinds == set(EDIT_KINDS)


def test_undo_everything_then_redo_everything(ws):
    initial = state(ws)
    edits = _edits(ws)
    states = [state(ws)]
    for make in edits:
        make()
        states.append(state(ws))
    for expected in reversed(states[:-1]):
        annotate.undo(ws, "s")
        np.testing.assert_array_equal(state(ws), expected)
    assert annotate.undo(ws, "s")  # the paint made inside _edits
    np.testing.assert_array_equal(state(ws), initial)
    assert annotate.undo(ws, "s") is None  # the import is the base of the history
    np.testing.assert_array_equal(state(ws), initial)
    annotate.redo(ws, "s")
    for expected in states[1:]:
        annotate.redo(ws, "s")
        np.testing.assert_array_equal(state(ws), expected)
    assert annotate.redo(ws, "s") is None


def test_a_new_edit_clears_redo(ws):
    annotate.paint(ws, "s", "a", center=(5, 5, 5), radius=2)
    annotate.undo(ws, "s")
    annotate.paint(ws, "s", "b", center=(5, 30, 30), radius=2)
    assert annotate.redo(ws, "s") is None
    undone = annotate.undo(ws, "s")
    assert undone.label == "b"
    assert annotate.undo(ws, "s") is None


def test_history_lists_every_entry(ws):
    e1 = annotate.paint(ws, "s", "a", center=(5, 5, 5), radius=2, author="ana")
    e2 = annotate.paint(ws, "s", "b", center=(5, 30, 30), radius=2, author="bo")
    annotate.undo(ws, "s", author="bo")
    log = annotate.history(ws, "s")
    assert [(e.kind, e.label, e.author) for e in log] == [
        ("import", None, None),
        ("paint", "a", "ana"),
        ("paint", "b", "bo"),
        ("undo", "b", "bo"),
    ]
    assert [e.applied for e in log] == [True, True, False, True]
    assert log[1].id == e1.id
    assert log[1].bbox == e1.bbox
    assert log[1].voxels == e1.voxels
    assert log[1].params["radius"] == 2.0
    assert log[3].target == e2.id
    assert log[1].time <= log[2].time <= log[3].time
    assert [e.kind for e in annotate.history(ws, "s", limit=2)] == ["paint", "undo"]
    # the log is in the catalog and survives reopening
    assert annotate.history(Workspace.open(ws.path), "s") == log


def test_log_is_append_only(ws):
    catalog = ws.path / "catalog.sqlite"

    def count():
        with sqlite3.connect(catalog) as conn:
            return conn.execute("SELECT COUNT(*) FROM annotation_edits").fetchone()[0]

    n = count()
    annotate.paint(ws, "s", "a", center=(5, 5, 5), radius=2)
    annotate.undo(ws, "s")
    annotate.redo(ws, "s")
    annotate.undo(ws, "s")
    assert count() == n + 4
    # the workspace's own tables keep working next to the log
    ws.add_label("t", "d")
    assert "s" in ws.layers
    assert ws.info()["label_sets"] == {"t": 4}


def test_undo_leaves_later_foreign_changes_alone(ws):
    edit = annotate.paint(ws, "s", "a", center=(6, 20, 24), radius=4)
    arr = ws.open_array("s")  # someone writes outside the edit log
    arr[6, 20, 24] = 2
    before = state(ws)
    undone = annotate.undo(ws, "s")
    assert undone.params["conflicts"] == 1
    assert undone.voxels == edit.voxels - 1
    after = state(ws)
    assert after[6, 20, 24] == 2
    changed = before != after
    assert changed.sum() == edit.voxels - 1


def test_replacing_a_layer_starts_a_fresh_history(ws):
    annotate.paint(ws, "s", "a", center=(5, 5, 5), radius=2)
    annotate.create_layer(ws, "s", label_set="t", overwrite=True)
    assert annotate.history(ws, "s") == []
    assert annotate.undo(ws, "s") is None


def test_annotator_binds_layer_and_author(ws):
    ann = annotate.Annotator(ws, "s", author="cy")
    assert "author='cy'" in repr(ann)
    ann.paint("a", center=(5, 5, 5), radius=2)
    ann.paint_stroke("b", [(5, 20, 20), (5, 20, 30)], 1, plane="z")
    ann.erase((5, 20, 25), 1)
    ann.fill_2d("b", (11, 0, 0))
    ann.paint_supervoxels("a", np.ones(SHAPE, np.int32), (0, 0, 0))
    assert np.all(state(ws) == 1)
    ann.undo()
    ann.redo()
    assert {e.author for e in ann.history()} == {"cy", None}
    assert len(ann.history(limit=3)) == 3


def test_a_failing_edit_leaves_layer_and_log_unchanged(ws, monkeypatch):
    from voxelwise.annotate import _engine

    before = state(ws)
    n = len(annotate.history(ws, "s"))
    real_write = _engine._write
    calls = []

    def failing_write(*args):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        real_write(*args)

    monkeypatch.setattr(_engine, "_write", failing_write)
    with pytest.raises(OSError, match="disk full"):  # the stroke spans 8 chunks
        annotate.paint(ws, "s", "b", center=(5, 16, 16), radius=3)
    monkeypatch.setattr(_engine, "_write", real_write)
    np.testing.assert_array_equal(state(ws), before)
    assert len(annotate.history(ws, "s")) == n
