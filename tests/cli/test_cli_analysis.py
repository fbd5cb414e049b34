"""CLI for analysis: analyze, split and metrics."""

from __future__ import annotations

import json

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
def objects_ws(tmp_path):
    """A workspace with two boxes (512 and 64 voxels) as an instance layer."""
    image = np.zeros((12, 40, 40), np.uint8)
    labels = np.zeros(image.shape, np.uint16)
    labels[1:9, 2:10, 2:10] = 1
    labels[2:6, 20:24, 20:24] = 2
    image[labels > 0] = 200
    path = tmp_path / "o.vw"
    ws = Workspace.create(path, image, chunks=(6, 20, 20))
    ws.add_layer("objects", labels, kind="instances")
    return path


def test_analyze_then_split(capsys, objects_ws, tmp_path):
    table = tmp_path / "t.csv"
    code, out, err = run(
        capsys, "analyze", str(objects_ws), "objects", "--intensity", "raw", "--out", str(table)
    )
    assert code == 0, err
    assert "2 objects" in out
    text = table.read_text()
    assert "volume_voxels" in text
    assert "raw_mean" in text

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - {class: big, measurement: volume_voxels, op: '>=', value: 100}\n"
        "default: small\n"
    )
    code, out, err = run(capsys, "split", str(objects_ws), str(table), "--rules", str(rules))
    assert code == 0, err
    assert "big: 1" in out
    assert "small: 1" in out


def test_split_unknown_measurement_lists_valid_ones(capsys, objects_ws, tmp_path):
    table = tmp_path / "t.csv"
    run(capsys, "analyze", str(objects_ws), "objects", "--out", str(table))
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {class: big, measurement: bigness, op: '>', value: 1}\n")
    code, _, err = run(capsys, "split", str(objects_ws), str(table), "--rules", str(rules))
    assert code == 2
    assert "bigness" in err
    assert "volume_voxels" in err


def test_metrics_on_files_and_layers(capsys, tmp_path, objects_ws):
    truth = np.zeros((4, 8, 8), np.uint8)
    truth[:, :4] = 1
    pred = truth.copy()
    pred[:, 3] = 0  # one row of four wrong per section: IoU of class 1 = 3/4
    tifffile.imwrite(tmp_path / "p.tif", pred, photometric="minisblack")
    tifffile.imwrite(tmp_path / "t.tif", truth, photometric="minisblack")
    code, out, err = run(
        capsys, "metrics", str(tmp_path / "p.tif"), str(tmp_path / "t.tif"), "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["per_class"]["1"]["iou"] == pytest.approx(0.75) or "0.75" in out

    code, out, err = run(
        capsys, "metrics", "objects", "objects", "--workspace", str(objects_ws), "--instances"
    )
    assert code == 0, err

    tifffile.imwrite(tmp_path / "small.tif", pred[:, :4], photometric="minisblack")
    code, _, err = run(capsys, "metrics", str(tmp_path / "small.tif"), str(tmp_path / "t.tif"))
    assert code == 2
    assert "(4, 4, 8)" in err
