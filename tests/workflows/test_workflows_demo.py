"""``voxelwise demo``: the pipeline end to end (a reduced run), its report and figures, its
recorded workflow replayed with the trained models; and the pieces it is built from."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest
from PIL import Image

from voxelwise.cli import main
from voxelwise.data import synthetic_em
from voxelwise.workflows import load_workflow, run_demo, run_workflow
from voxelwise.workflows._figures import histogram_png, panels_png, stretch_axis
from voxelwise.workflows._report import Document
from voxelwise.workflows._scribbles import scribbles_from_truth
from voxelwise.workspace import Workspace

HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One reduced demo through the command line: (exit code, printed text, output folder)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("demo")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["-q", "demo", "--quick", "--out", str(out), "--threads", "2"])
    return code, buffer.getvalue(), out


@pytest.mark.slow
def test_demo_runs_the_pipeline_and_prints_where_the_report_is(demo):
    code, printed, out = demo
    assert code == 0
    assert printed.strip().splitlines()[-1].startswith("  report       ")
    assert str(out / "report.md") in printed
    assert "shallow (ROI)" in printed and "mean IoU" in printed
    roi = Workspace.open(out / "synthetic-roi.vw")
    assert {"raw", "ground_truth", "denoised", "supervoxels", "scribbles", "shallow"} <= set(
        roi.layers
    )
    assert roi.layer("denoised").params["filter"] == "tv_denoise"
    whole = Workspace.open(out / "synthetic.vw")
    pred = "unet" if HAS_TORCH else "shallow"
    assert {pred, "mitochondria_objects", "ground_truth", "truth_instances"} <= set(whole.layers)
    steps = [r.params["step"] for r in whole.runs(step="workflow.step")]
    assert steps[:3] == ["deep_predict" if HAS_TORCH else "shallow_predict", "instances", "measure"]
    assert whole.runs()[-1].step == "demo"


@pytest.mark.slow
def test_demo_report_and_figures(demo):
    _, _, out = demo
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for name in ("roi.png", "volume.png") + (("learning_curve.png",) if HAS_TORCH else ()):
        assert f"]({name})" in md and f'src="{name}"' in html
        with Image.open(out / name) as img:
            assert img.width >= 192 and img.height >= 100
            assert np.asarray(img).std() > 5  # something is drawn
    for heading in ("Pipeline", "Scores against the ground truth", "Replay on new data"):
        assert f"## {heading}" in md
    scores = re.search(r"\| mean \| ([0-9.]+) \| ([0-9.]+) \|", md)
    assert scores is not None and 0 < float(scores.group(1)) <= 1
    assert "<table>" in html and "</html>" in html


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TORCH, reason="needs the deep extra")
def test_demo_workflow_replays_with_the_trained_models(demo, tmp_path):
    _, _, out = demo
    wf = load_workflow(out / "workflow.yaml")
    assert [s["id"] for s in wf["steps"]] == [
        "denoise",
        "features",
        "supervoxels",
        "random_forest",
        "shallow_predict",
        "roi_metrics",
        "unet_train",
    ]
    assert wf["inputs"]["scribbles"]["required"] is False
    image = synthetic_em((12, 32, 32), spacing=(20, 10, 10), rng=5).image
    report = run_workflow(wf, image, workspace=tmp_path / "new.vw", train="never")
    assert report.outcome("random_forest").status == "reused"
    assert report.outcome("unet_train").status == "reused"
    assert report.outcome("roi_metrics").status == "skipped"
    assert "shallow" in Workspace.open(tmp_path / "new.vw")


@pytest.mark.slow
def test_demo_without_torch_says_how_to_install(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    report = run_demo(tmp_path, quick=True)
    assert "voxelwise[deep]" in report.deep_note
    assert "voxelwise[deep]" in report.summary()
    assert "voxelwise[deep]" in report.report.read_text()
    assert set(report.metrics) >= {"shallow (ROI)", "shallow (volume)"}
    assert "learning_curve" not in report.figures


def test_demo_bad_data_is_a_one_line_error(tmp_path, capsys):
    assert main(["-q", "demo", "--data", str(tmp_path / "none.tif"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "neither a registered dataset" in err
    (tmp_path / "img.npy").write_bytes(b"")
    np.save(tmp_path / "img.npy", np.zeros((4, 16, 16), np.uint8))
    assert main(["-q", "demo", "--data", str(tmp_path / "img.npy"), "--out", str(tmp_path)]) == 2
    assert "--truth" in capsys.readouterr().err


def test_scribbles_follow_the_truth_and_the_seed():
    vol = synthetic_em((8, 48, 48), rng=0)
    truth = vol.labels.astype(np.uint16) + 1
    a = scribbles_from_truth(truth, every=3, rng=1)
    b = scribbles_from_truth(truth, every=3, rng=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, scribbles_from_truth(truth, every=3, rng=2))
    marked = a > 0
    assert set(np.unique(a[marked]).tolist()) == {1, 2, 3}
    np.testing.assert_array_equal(a[marked], truth[marked])
    assert 0 < marked.mean() < 0.1  # sparse, like strokes
    assert sorted(np.flatnonzero(marked.any(axis=(1, 2))).tolist()) == [1, 4, 7]
    with pytest.raises(TypeError, match="integer label array"):
        scribbles_from_truth(truth.astype(float))
    with pytest.raises(ValueError, match=">= 1"):
        scribbles_from_truth(truth, every=0)


def test_figures_and_document(tmp_path):
    panel = np.zeros((10, 20, 3), np.uint8)
    panel[:, :10] = 200
    path = panels_png(tmp_path / "p.png", [[("a", panel), ("b", panel)], [("c", panel)]])
    with Image.open(path) as img:
        assert img.width >= 2 * 192  # small panels enlarged
    assert stretch_axis(panel, 2.0).shape == (20, 20, 3)
    hist = histogram_png(tmp_path / "h.png", {"small": [1, 2, 2, 3], "large": [8, 9]}, bins=5)
    with Image.open(hist) as img:
        assert len(img.getcolors(maxcolors=4096) or []) > 3
    skewed = {"objects": [1e2, 2e2, 1e3, 1e4, 1e6]}
    columns = []
    for name, log in (("lin.png", False), ("log.png", True)):
        with Image.open(histogram_png(tmp_path / name, skewed, bins=4, log=log)) as img:
            rgb = np.asarray(img.convert("RGB"))
        columns.append(int((rgb == (31, 119, 180)).all(-1).any(0).sum()))
    assert columns[1] > 1.5 * columns[0]  # geometric bins: 4 bars instead of 2
    histogram_png(tmp_path / "neg.png", {"x": [-1.0, 2.0]}, log=True)  # falls back to linear
    doc = Document("T")
    doc.para("x < y")
    doc.table(["k", "v"], [["a", 0.5], ["b", float("nan")]])
    doc.figure(path, "cap")
    md, page = doc.write(tmp_path)
    assert "| a | 0.500 |" in md.read_text() and "| b | – |" in md.read_text()
    assert "x &lt; y" in page.read_text() and 'src="p.png"' in page.read_text()
