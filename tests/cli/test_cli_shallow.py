"""CLI for shallow learning: train from scribbles, predict, refine."""

from __future__ import annotations

import numpy as np
import pytest

from voxelwise.cli import main
from voxelwise.workspace import Workspace


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["-q", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def scribbled(tmp_path):
    """Synthetic EM with scribbles (every 4th section of the ground truth, thinned)."""
    from voxelwise.data import synthetic_em

    vol = synthetic_em((16, 64, 64), rng=3)
    path = tmp_path / "s.vw"
    ws = Workspace.create(path, vol.image, chunks=(8, 32, 32))
    scribbles = np.zeros(vol.shape, np.uint8)
    keep = np.zeros(vol.shape, bool)
    keep[::4, ::3, :] = True
    scribbles[keep] = vol.labels[keep] + 1
    for name in ("cytoplasm", "membrane", "mitochondria"):
        ws.add_label("classes", name)
    ws.add_layer("scribbles", scribbles, kind="annotation", label_set="classes")
    return path, vol


def test_shallow_train_predict_refine(capsys, scribbled, tmp_path):
    path, vol = scribbled
    model = tmp_path / "m.npz"
    code, _, err = run(
        capsys,
        "shallow",
        "train",
        str(path),
        "--annotations",
        "scribbles",
        "--features",
        "small",
        "--save",
        str(model),
    )
    assert code == 0, err
    assert model.is_file()
    code, _out, err = run(capsys, "shallow", "predict", str(path), "--refine")
    assert code == 0, err
    ws = Workspace.open(path)
    assert "prediction" in ws.layers
    assert "prediction_confidence" in ws.layers
    pred = np.asarray(ws.get("prediction"))
    accuracy = float((pred == vol.labels + 1).mean())
    assert accuracy > 0.8


def test_shallow_predict_without_model_is_a_clear_error(capsys, scribbled):
    path, _ = scribbled
    code, _, err = run(capsys, "shallow", "predict", str(path))
    assert code == 2
    assert "shallow train" in err


def test_shallow_train_single_class_refused(capsys, tmp_path):
    ws = Workspace.create(tmp_path / "one.vw", np.zeros((4, 16, 16), np.uint8))
    ws.add_label("c", "a")
    marks = np.zeros((4, 16, 16), np.uint8)
    marks[1, 2:5, 2:5] = 1
    ws.add_layer("s", marks, kind="annotation", label_set="c")
    code, _, err = run(
        capsys,
        "shallow",
        "train",
        str(tmp_path / "one.vw"),
        "--annotations",
        "s",
        "--features",
        "raw",
    )
    assert code == 2
    assert "two classes" in err
