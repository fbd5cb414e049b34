"""The catalog: label sets, runs, jobs, and two processes writing to one workspace."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import numpy as np
import pytest

from voxelwise.workspace import (
    JobError,
    JobNotFoundError,
    LabelError,
    LabelInfo,
    LabelNotFoundError,
    Workspace,
)


@pytest.fixture
def ws(tmp_path, rng):
    image = rng.integers(0, 255, size=(6, 32, 40), dtype=np.uint8)
    return Workspace.create(tmp_path / "c.vw", image, chunks=(3, 16, 20))


def test_label_set_crud(ws):
    cell = ws.add_label("cells", "cell")
    assert cell == LabelInfo("cells", "cell", 1, cell.color, None)
    assert len(cell.color) == 4
    nucleus = ws.add_label("cells", "nucleus", parent="cell", color="#11223380")
    assert nucleus.value == 2
    assert nucleus.color == (0x11, 0x22, 0x33, 0x80)
    ws.add_label("cells", "vesicle", value=10, color=(0.0, 0.5, 1.0), parent="cell")
    ws.add_label("tissue", "bg")
    sets = ws.label_sets()
    assert list(sets) == ["cells", "tissue"]
    assert [(lab.name, lab.value, lab.parent) for lab in sets["cells"]] == [
        ("cell", 1, None),
        ("nucleus", 2, "cell"),
        ("vesicle", 10, "cell"),
    ]
    assert sets["cells"][2].color == (0, 128, 255, 255)
    assert ws.add_label("cells", "next").value == 11  # next free value
    # rename cascades to children
    ws.update_label("cells", "cell", name="cell_body", color="#ffffff")
    assert {lab.name: lab.parent for lab in ws.label_set("cells")}["nucleus"] == "cell_body"
    ws.update_label("cells", "nucleus", parent=None)
    assert ws.label_set("cells")[1].parent is None
    ws.delete_label("cells", "next")
    assert [lab.name for lab in ws.label_set("cells")] == ["cell_body", "nucleus", "vesicle"]
    # survives reopening
    assert Workspace.open(ws.path).label_sets() == ws.label_sets()


def test_label_validation(ws):
    ws.add_label("s", "a")
    ws.add_label("s", "b", parent="a")
    with pytest.raises(LabelNotFoundError, match=r"No label 'zzz' in label set 's'.*a, b"):
        ws.add_label("s", "c", parent="zzz")
    with pytest.raises(LabelError, match="exists already"):
        ws.add_label("s", "a")
    with pytest.raises(LabelError, match=r"Value 1 is used by label 'a'.*next free one \(3\)"):
        ws.add_label("s", "c", value=1)
    with pytest.raises(LabelError, match="0 means unlabelled"):
        ws.add_label("s", "c", value=0)
    with pytest.raises(LabelError, match="colour"):
        ws.add_label("s", "c", color="reddish")
    with pytest.raises(LabelError, match="0 and 255"):
        ws.add_label("s", "c", color=(300, 0, 0))
    with pytest.raises(LabelError, match="descendants"):
        ws.update_label("s", "a", parent="b")
    with pytest.raises(LabelError, match="parent of b"):
        ws.delete_label("s", "a")
    with pytest.raises(LabelNotFoundError, match="No label set named 'nope'"):
        ws.label_set("nope")
    with pytest.raises(LabelNotFoundError):
        ws.update_label("nope", "a")
    with pytest.raises(KeyError):
        ws.delete_label("s", "zzz")
    assert [lab.name for lab in ws.label_set("s")] == ["a", "b"]


def test_record_and_list_runs(ws):
    started = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    run = ws.record_run(
        "features",
        params={"sigma": np.float64(1.5), "sizes": np.array([1, 2])},
        inputs="raw",
        outputs=["gauss", "dog"],
        versions={"scikit-image": "0.24"},
        started=started,
        duration=2.5,
    )
    assert run.id == 1
    assert run.params == {"sigma": 1.5, "sizes": [1, 2]}
    assert run.inputs == ("raw",)
    assert run.outputs == ("gauss", "dog")
    assert run.versions["scikit-image"] == "0.24"
    assert run.versions["voxelwise"]
    assert run.started == started
    ws.record_run("train", params={"n": 3})
    assert [r.step for r in ws.runs()] == ["features", "train"]
    assert ws.runs(step="train")[0].duration is None
    with pytest.raises(TypeError, match="JSON-serialisable"):
        ws.record_run("bad", params={"x": object()})
    assert len(ws.runs()) == 2
    assert ws.info()["runs"] == 2


def test_job_crud(ws):
    job = ws.add_job("train")
    assert job.state == "queued"
    assert job.progress == 0.0
    updated = ws.update_job(job.id, state="running", progress=0.5, message="epoch 3")
    assert (updated.state, updated.progress, updated.message) == ("running", 0.5, "epoch 3")
    assert updated.updated >= job.updated
    done = ws.update_job(job.id, state="succeeded", progress=1, result={"layer": "pred"})
    assert done.result == {"layer": "pred"}
    ws.add_job("export", job_id="fixed-id", state="failed")
    ws.update_job("fixed-id", error="disk full")
    assert ws.get_job("fixed-id").error == "disk full"
    assert [j.id for j in ws.jobs(state="succeeded")] == [job.id]
    assert [j.kind for j in ws.jobs(kind="export")] == ["export"]
    assert len(ws.jobs()) == 2
    with pytest.raises(JobError, match="exists already"):
        ws.add_job("x", job_id="fixed-id")
    with pytest.raises(JobError, match="state"):
        ws.update_job(job.id, state="exploded")
    with pytest.raises(JobError, match="0 to 1"):
        ws.update_job(job.id, progress=1.5)
    with pytest.raises(JobNotFoundError, match="No job"):
        ws.get_job("missing")
    with pytest.raises(JobNotFoundError):
        ws.update_job("missing", state="running")
    ws.delete_job("fixed-id")
    with pytest.raises(JobNotFoundError):
        ws.delete_job("fixed-id")
    assert [j.id for j in ws.jobs()] == [job.id]


def test_catalog_schema(ws):
    with sqlite3.connect(ws.path / "catalog.sqlite") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        cols = {r[1] for r in conn.execute("PRAGMA table_info(layers)")}
    assert {"meta", "layers", "labels", "runs", "jobs", "pending"} <= tables
    assert {
        "name",
        "kind",
        "dtype",
        "shape",
        "chunks",
        "directory",
        "sources",
        "params",
        "software_version",
        "created",
        "duration",
        "stats",
    } <= cols


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    import dask.array as da
    from voxelwise.workspace import Workspace

    path, tag = sys.argv[1], sys.argv[2]
    go = Path(path).parent / "go"
    while not go.exists():
        time.sleep(0.01)
    ws = Workspace.open(path)
    value = 1 if tag == "a" else 2
    for i in range(3):
        data = da.full(ws.shape, value * 10 + i, dtype="uint16", chunks=(2, 16, 20))
        kind = "labels" if i == 1 else "feature"
        ws.add_layer(f"{tag}{i}", data, kind=kind)
        ws.add_label(f"set_{tag}", f"label{i}")
        ws.record_run(f"step_{tag}", params={"i": i})
        job = ws.add_job(f"job_{tag}")
        ws.update_job(job.id, state="succeeded", progress=1.0)
    print("ok")
    """
)


@pytest.mark.slow
def test_two_processes_add_layers_concurrently(ws):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(ws.path), tag],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    (ws.path.parent / "go").touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    reopened = Workspace.open(ws.path)
    assert set(reopened.layers) == {"raw", "a0", "a1", "a2", "b0", "b1", "b2"}
    for tag, value in (("a", 1), ("b", 2)):
        for i in range(3):
            block = reopened.get(f"{tag}{i}").compute()
            assert (block == value * 10 + i).all()
        assert [lab.value for lab in reopened.label_set(f"set_{tag}")] == [1, 2, 3]
    assert len(reopened.runs()) == 6
    assert len(reopened.jobs(state="succeeded")) == 6
    labels_json = ws.path / "data.ome.zarr" / "labels" / "zarr.json"
    listed = json.loads(labels_json.read_text())["attributes"]["ome"]["labels"]
    expected = [reopened.layers[n].directory.split("/")[1] for n in ("a1", "b1")]
    assert sorted(listed) == sorted(expected)
    with sqlite3.connect(ws.path / "catalog.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0] == 0
