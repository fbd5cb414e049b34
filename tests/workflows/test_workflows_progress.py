"""Progress of multi-stage runs: each stage fills its share of one callback without going
back, the front-end learns each stage's name, and the CLI shows one labelled bar."""

from __future__ import annotations

import numpy as np

from voxelwise.cli._progress import StageBar
from voxelwise.workflows import run_workflow
from voxelwise.workflows._progress import Stages


def test_stages_share_one_monotonic_progress():
    calls: list[tuple[int, int]] = []
    names: list[tuple[str, int, int]] = []
    stages = Stages(lambda d, t: calls.append((d, t)), 3, lambda *a: names.append(a))
    with stages("load") as p:
        assert p is not None
        p(5, 10)
        p(1, 4)  # a second pass counting from zero
        p(4, 4)
    with stages("train") as p:
        p(0, 0)  # nothing to count
    with stages("report"):
        pass
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == 3000 and {t for _, t in calls} == {3000}
    assert calls[:3] == [(500, 3000), (500, 3000), (1000, 3000)]
    assert names == [("load", 0, 3), ("train", 1, 3), ("report", 2, 3)]
    assert list(stages.times) == ["load", "train", "report"]
    quiet = Stages(None, 2)
    with quiet("a") as p:
        assert p is None


def test_stage_bar_labels_the_bar_and_logs_each_stage(capsys):
    with StageBar("demo") as bar:
        bar.on_stage("load sample", 0, 2)
        bar.progress(500, 2000)
        assert bar.bar.n == 25 and "demo [1/2] load sample" in bar.bar.desc
        bar.on_stage("features", 1, 2)
        bar.progress(2000, 2000)
    err = capsys.readouterr().err
    assert "demo [1/2] load sample: done in" in err and "demo [2/2] features: done in" in err
    with StageBar("demo", enabled=False) as bar:
        bar.on_stage("x", 0, 1)
        bar.progress(1, 1)
    assert capsys.readouterr().err == ""


def test_run_workflow_names_each_step(tmp_path):
    workflow = {
        "voxelwise_workflow": 1,
        "inputs": {"image": {"kind": "image", "layer": "raw", "required": True}},
        "steps": [
            {
                "id": "smooth",
                "step": "features",
                "params": {"source": "raw", "features": [{"filter": "gaussian", "params": {}}]},
            },
            {"id": "sv", "step": "supervoxels", "params": {"source": "raw", "size": 4}},
        ],
    }
    image = np.random.default_rng(0).normal(100, 10, (8, 24, 24)).astype(np.float32)
    calls: list[tuple[int, int]] = []
    names: list[tuple[str, int, int]] = []
    report = run_workflow(
        workflow,
        image,
        workspace=tmp_path / "w.vw",
        progress=lambda d, t: calls.append((d, t)),
        on_stage=lambda *a: names.append(a),
    )
    assert [s.status for s in report.steps] == ["ran", "ran"]
    assert names == [("smooth (features)", 0, 2), ("sv (supervoxels)", 1, 2)]
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1] == (2000, 2000)
