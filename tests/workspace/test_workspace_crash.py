"""A process killed (SIGKILL) in the middle of writing a layer leaves the workspace consistent."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from voxelwise.workspace import Workspace

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

# Writes a lazy layer whose chunks are slow to compute; prints WRITING once a few chunks are
# stored (from the progress callback), then would take seconds more to finish.
_CHILD = textwrap.dedent(
    """
    import sys, time
    import dask.array as da
    import numpy as np
    from voxelwise.workspace import Workspace

    path, name, kind, overwrite = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    ws = Workspace.open(path)

    def slow(block):
        time.sleep(0.1)
        return block

    data = da.full(ws.shape, 99, dtype="uint16", chunks=(1, 16, 16)).map_blocks(slow)

    def progress(done, total):
        if done == 3:
            print("WRITING", flush=True)

    ws.add_layer(name, data, kind=kind, overwrite=overwrite, chunks=(1, 16, 16),
                 progress=progress, scheduler="sync")
    print("FINISHED", flush=True)
    """
)


@pytest.fixture
def ws(tmp_path, rng):
    image = rng.integers(0, 255, size=(8, 48, 48), dtype=np.uint8)
    ws = Workspace.create(tmp_path / "k.vw", image, chunks=(4, 16, 16))
    ws.add_layer("feat", image.astype(np.float32) * 0.5)
    ws.add_label("cls", "a")
    ws.add_layer("seg", (image > 100).astype(np.uint8), kind="labels", label_set="cls")
    return ws


def _kill_midway(ws, name, kind="feature", overwrite=False):
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(ws.path), name, kind, "1" if overwrite else "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "WRITING", proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _layer_dirs(ws, parent):
    return sorted(p.name for p in (ws.path / "data.ome.zarr" / parent).iterdir() if p.is_dir())


def _labels_list(ws):
    text = (ws.path / "data.ome.zarr" / "labels" / "zarr.json").read_text()
    return json.loads(text)["attributes"]["ome"]["labels"]


def _snapshot(ws):
    return {name: ws.get(name).compute() for name in ws.layers}, dict(ws.layers)


def _assert_intact(ws, before):
    data, layers = before
    assert ws.layers == layers
    for name, values in data.items():
        np.testing.assert_array_equal(ws.get(name).compute(), values)
    with sqlite3.connect(ws.path / "catalog.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0] == 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["feature", "labels"])
def test_sigkill_while_adding_a_layer(ws, kind):
    before = _snapshot(ws)
    parent = "labels" if kind == "labels" else "layers"
    dirs_before = _layer_dirs(ws, parent)
    labels_before = _labels_list(ws)
    _kill_midway(ws, "new", kind=kind)
    # the half-written directory is on disk, but nothing points at it
    partial = [d for d in _layer_dirs(ws, parent) if d not in dirs_before]
    assert len(partial) == 1
    assert partial[0].startswith("new-")
    assert (ws.path / "data.ome.zarr" / parent / partial[0] / "0" / "c").is_dir()
    reopened = Workspace.open(ws.path)
    assert "new" not in reopened.layers
    assert _layer_dirs(reopened, parent) == dirs_before
    assert _labels_list(reopened) == labels_before
    _assert_intact(reopened, before)
    # the name is free again
    reopened.add_layer("new", np.ones(reopened.shape, np.uint8), kind=kind)
    assert (reopened.get("new").compute() == 1).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["feat", "seg"])
def test_sigkill_while_replacing_keeps_the_old_layer(ws, name):
    before = _snapshot(ws)
    old_directory = ws.layers[name].directory
    kind = ws.layers[name].kind
    _kill_midway(ws, name, kind=kind, overwrite=True)
    reopened = Workspace.open(ws.path)
    assert reopened.layers[name].directory == old_directory
    assert _layer_dirs(reopened, "layers") == [ws.layers["feat"].directory.split("/")[1]]
    assert _layer_dirs(reopened, "labels") == [ws.layers["seg"].directory.split("/")[1]]
    assert _labels_list(reopened) == [ws.layers["seg"].directory.split("/")[1]]
    _assert_intact(reopened, before)


def test_live_pending_write_is_not_removed_by_open(ws):
    """A directory registered by a running writer (here: this process) survives another open."""
    directory = "layers/inflight-0123abcd"
    ws._catalog.add_pending(directory, "inflight")
    (ws.path / "data.ome.zarr" / directory).mkdir()
    (ws.path / "data.ome.zarr" / "layers" / "stray-89abcdef").mkdir()
    reopened = Workspace.open(ws.path)
    assert (ws.path / "data.ome.zarr" / directory).is_dir()
    assert not (ws.path / "data.ome.zarr" / "layers" / "stray-89abcdef").exists()
    assert "inflight" not in reopened.layers
    ws._catalog.drop_pending(directory)
    Workspace.open(ws.path)
    assert not (ws.path / "data.ome.zarr" / directory).exists()


def test_labels_list_is_repaired_on_open(ws):
    """If a writer died between its commit and the NGFF list update, open repairs the list."""
    zarr_json = ws.path / "data.ome.zarr" / "labels" / "zarr.json"
    meta = json.loads(zarr_json.read_text())
    listed = meta["attributes"]["ome"]["labels"]
    meta["attributes"]["ome"]["labels"] = ["ghost-00000000"]
    zarr_json.write_text(json.dumps(meta))
    Workspace.open(ws.path)
    assert _labels_list(ws) == listed
