"""CLI: workspace roi / pull-back / relink, labels export, models list/export/import/apply."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from voxelwise.cli import main
from voxelwise.workspace import Workspace


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["-q", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def parent(tmp_path):
    image = np.zeros((8, 40, 40), np.float32)
    image[:, 8:24, 8:24] = 100
    ws = Workspace.create(tmp_path / "p.vw", image, chunks=(4, 20, 20))
    ws.add_label("tissue", "cell")
    ws.add_label("tissue", "background")
    ann = np.zeros(image.shape, np.uint8)
    ann[2:5, 12:20, 12:20] = 1
    ann[2:5, 30:38, 30:38] = 2
    ws.add_layer("ann", ann, kind="annotation", label_set="tissue")
    return ws


def test_roi_pull_back_relink(capsys, parent, tmp_path):
    child = tmp_path / "c.vw"
    code, out, _ = run(
        capsys,
        "workspace",
        "roi",
        str(parent.path),
        str(child),
        "--roi",
        "2:6,10:30,10:30",
        "--layer",
        "ann",
    )
    assert code == 0 and "offset (2, 10, 10)" in out
    Workspace(child).open_array("ann", mode="r+")[0, 0, 0] = 2
    moved = tmp_path / "moved.vw"
    shutil.move(parent.path, moved)
    code, _, err = run(capsys, "workspace", "pull-back", str(child), "ann")
    assert code == 2 and "relink" in err
    code, out, _ = run(capsys, "workspace", "relink", str(child), str(moved))
    assert code == 0 and str(moved) in out
    code, out, _ = run(capsys, "workspace", "pull-back", str(child), "ann", "--mode", "overwrite")
    assert code == 0 and "1 voxel(s) changed" in out
    assert Workspace(moved).get("ann")[2, 10, 10].compute() == 2


@pytest.mark.slow
def test_labels_export_and_models_commands(capsys, parent, tmp_path):
    ws = parent
    code, out, _ = run(capsys, "labels", "export", str(ws.path), "ann", str(tmp_path / "a.nrrd"))
    assert code == 0 and (tmp_path / "a.nrrd").read_bytes().startswith(b"NRRD0004\n")
    code, _, err = run(capsys, "labels", "export", str(ws.path), "raw", str(tmp_path / "r.tif"))
    assert code == 2 and "not labels" in err

    code, out, _ = run(
        capsys,
        "models",
        "train-pooled",
        "--kind",
        "shallow",
        "--features",
        "raw",
        "--source",
        f"{ws.path}:raw:ann",
        "--name",
        "rf",
    )
    assert code == 0 and "registered shallow model 'rf'" in out
    code, out, _ = run(capsys, "models", "list", str(ws.path), "--json")
    (record,) = json.loads(out)
    assert record["name"] == "rf" and record["provenance"]["workspaces"] == [str(ws.path)]
    code, out, _ = run(capsys, "models", "list", str(ws.path))
    assert code == 0 and out.startswith("rf: shallow rf/voxel  classes [cell, background]")

    code, out, _ = run(capsys, "models", "export", str(ws.path), "rf", str(tmp_path / "rf"))
    assert code == 0 and (tmp_path / "rf.npz").is_file()
    other = Workspace.create(tmp_path / "o.vw", np.asarray(ws.get("raw")), chunks=(4, 20, 20))
    code, out, _ = run(capsys, "models", "import", str(other.path), str(tmp_path / "rf.npz"))
    assert code == 0 and "imported shallow model 'rf'" in out
    code, out, _ = run(capsys, "models", "apply", str(other.path), "rf", "--name", "seg")
    assert code == 0 and "seg" in out
    assert other.get("seg")[3, 16, 16].compute() == 1

    (tmp_path / "junk.pt").write_bytes(b"not a model")
    code, _, err = run(capsys, "models", "import", str(other.path), str(tmp_path / "junk.pt"))
    assert code == 2 and "not a voxelwise model file" in err
    code, out, _ = run(capsys, "models", "delete", str(other.path), "rf")
    assert code == 0 and other.models == {}
