"""CLI for the workbench: features, supervoxels, label sets and annotation import."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from voxelwise.cli import main
from voxelwise.workspace import Workspace


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["-q", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def ws_path(tmp_path):
    from voxelwise.data import synthetic_em

    vol = synthetic_em((16, 64, 64), rng=1)
    path = tmp_path / "w.vw"
    Workspace.create(path, vol.image, chunks=(8, 32, 32))
    return path


def test_labels_add_list_and_hierarchy(capsys, ws_path):
    assert run(capsys, "labels", "add", str(ws_path), "--set", "cells", "--label", "cell")[0] == 0
    code, out, err = run(
        capsys,
        "labels",
        "add",
        str(ws_path),
        "--set",
        "cells",
        "--label",
        "mito",
        "--parent",
        "cell",
        "--color",
        "#ff8800",
    )
    assert code == 0, err
    assert "parent cell" in out
    code, out, _ = run(capsys, "labels", "list", str(ws_path))
    assert "#ff8800" in out
    assert "(in cell)" in out
    code, _, err = run(
        capsys, "labels", "add", str(ws_path), "--set", "cells", "--label", "x", "--parent", "nope"
    )
    assert code == 2
    assert "nope" in err


def test_annotate_import_checks_shape(capsys, ws_path, tmp_path):
    scribbles = np.zeros((16, 64, 64), np.uint8)
    scribbles[4, 10:20, 10:20] = 1
    scribbles[9, 30:40, 30:40] = 2
    good = tmp_path / "scribbles.tif"
    tifffile.imwrite(good, scribbles)
    code, _out, err = run(
        capsys, "annotate", "import", str(ws_path), str(good), "--name", "s", "--add-missing"
    )
    assert code == 0, err
    np.testing.assert_array_equal(np.asarray(Workspace.open(ws_path).get("s")), scribbles)

    bad = tmp_path / "bad.tif"
    tifffile.imwrite(bad, scribbles[:, :32])
    code, _, err = run(capsys, "annotate", "import", str(ws_path), str(bad), "--name", "b")
    assert code == 2
    assert "(16, 32, 64)" in err
    assert "(16, 64, 64)" in err


def test_features_from_filter_args(capsys, ws_path):
    code, _out, err = run(
        capsys,
        "features",
        str(ws_path),
        "--filter",
        "gaussian:sigma=1.5",
        "--filter",
        "gradient_magnitude:sigma=1",
    )
    assert code == 0, err
    layers = Workspace.open(ws_path).layers
    assert sum(1 for info in layers.values() if info.kind == "feature") == 2
    code, _, err = run(capsys, "features", str(ws_path), "--filter", "gaussian:sigma=-1")
    assert code == 2
    assert "sigma" in err


def test_features_list(capsys):
    code, out, _ = run(capsys, "features", "unused", "--list")
    assert code == 0
    assert "gaussian" in out
    assert "default" in out


def test_supervoxels_command(capsys, ws_path):
    code, _out, err = run(capsys, "supervoxels", str(ws_path), "--size", "8")
    assert code == 0, err
    sv = np.asarray(Workspace.open(ws_path).get("supervoxels"))
    assert sv.min() >= 1
    assert len(np.unique(sv)) > 10
