"""Export a workspace built with library calls as a workflow, write it as YAML, replay it on a
second volume: the same layers (names and kinds) come out, and the new workspace exports the
same workflow again."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import yaml

from voxelwise import annotate, learn
from voxelwise.analysis import (
    SplitRules,
    analyze_layer,
    edit_instances,
    find_instances,
    layer_metrics,
    split_layer,
)
from voxelwise.cli import main
from voxelwise.data import synthetic_em
from voxelwise.filters import compute_features
from voxelwise.supervoxels import compute_supervoxels
from voxelwise.workflows import (
    WorkflowInputError,
    export_workflow,
    load_workflow,
    run_workflow,
    save_workflow,
)
from voxelwise.workflows._scribbles import scribbles_from_truth
from voxelwise.workspace import Workspace

pytestmark = pytest.mark.slow  # each test builds or replays a pipeline (5-15 s on 2 cores)

SHAPE = (12, 48, 48)
SPACING = (2.0, 1.0, 1.0)
NAMES = ("cytoplasm", "membrane", "mitochondria")


def _volume(rng: int):
    vol = synthetic_em(SHAPE, spacing=SPACING, rng=rng)
    truth = vol.labels.astype(np.uint16) + 1
    return vol.image, truth, scribbles_from_truth(truth, every=3, strokes=6, length=16, rng=rng)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A workspace processed the way a person would with the library (or the CLI)."""
    folder = tmp_path_factory.mktemp("source")
    image, truth, strokes = _volume(0)
    ws = Workspace.create(folder / "a.vw", image, spacing=SPACING, chunks=(6, 24, 24))
    for value, name in enumerate(NAMES, start=1):
        ws.add_label("classes", name, value=value)
    annotate.import_labels(ws, strokes, name="scribbles", label_set="classes")
    ws.add_layer("ground_truth", truth, kind="labels", label_set="classes")
    compute_features(ws, ["tv_denoise:weight=10"])
    compute_features(
        ws, ["gaussian:sigma=1.0", "hessian_eigenvalues:sigma=1.0"], source="tv_denoise_w10.0"
    )
    compute_supervoxels(ws, source="tv_denoise_w10.0", size=4)
    feats = ["gaussian_s1.0", "hessian_eig1_s1.0", "hessian_eig2_s1.0", "tv_denoise_w10.0"]
    learn.train(
        ws,
        annotations="scribbles",
        features=feats,
        mode="supervoxel",
        params={"n_estimators": 20},
        save=folder / "rf.npz",
    )
    learn.predict(ws, folder / "rf.npz", name="seg", confidence=False)
    find_instances(ws, "seg", name="mito", value=3, min_size=3)
    edit_instances(ws, "mito", delete=[1], name="mito_edited")  # ids do not carry over
    table = analyze_layer(ws, "mito", intensity="raw", out=folder / "mito.csv")
    rules = SplitRules.from_dict(
        {"rules": [{"class": "big", "measurement": "volume_voxels", "op": ">=", "value": 40}],
         "default": "small"}
    )  # fmt: skip
    split_layer(ws, table, rules, name="mito_size")
    layer_metrics(ws, "seg", "ground_truth")
    return ws


@pytest.fixture(scope="module")
def workflow_file(source, tmp_path_factory):
    path = tmp_path_factory.mktemp("wf") / "wf.yaml"
    save_workflow(export_workflow(source), path)
    return path


def test_export_names_inputs_by_role_and_steps_in_order(source, workflow_file):
    wf = load_workflow(workflow_file)
    assert [s["step"] for s in wf["steps"]] == [
        "features",
        "features",
        "supervoxels",
        "shallow_train",
        "shallow_predict",
        "instances",
        "measure",
        "split",
        "metrics",
    ]
    assert wf["inputs"]["image"]["layer"] == "raw"
    assert wf["inputs"]["scribbles"] == {
        "kind": "annotation",
        "layer": "scribbles",
        "required": False,
        "label_set": "classes",
    }
    assert wf["inputs"]["ground_truth"]["required"] is False
    assert [lab["name"] for lab in wf["label_sets"]["classes"]] == list(NAMES)
    text = workflow_file.read_text()
    assert str(source.path) not in text  # inputs by role, never the source workspace's path
    features = wf["steps"][1]["params"]["features"]
    assert features == [
        {"filter": "gaussian", "params": {"sigma": 1.0, "truncate": 4.0}},
        {"filter": "hessian_eigenvalues", "params": {"sigma": 1.0, "truncate": 4.0}},
    ]
    train = wf["steps"][3]
    assert train["params"]["statistics"] == ["mean", "std"]
    assert "random_state" not in train["params"]["params"]
    assert train["model_file"].endswith("rf.npz")
    assert wf["steps"][4]["params"]["model"] == train["id"]
    assert wf["steps"][7]["params"]["table"] == wf["steps"][6]["id"]
    assert [s["record"] for s in wf["skipped"]] == [
        next(f"run {r.id} (analysis.edit)" for r in source.runs() if r.step == "analysis.edit")
    ]


def _kinds(ws: Workspace) -> dict[str, str]:
    return {name: info.kind for name, info in ws.layers.items()}


def test_replay_on_a_new_volume_gives_the_same_layers(source, workflow_file, tmp_path):
    image, truth, strokes = _volume(1)
    files = {}
    for name, data in (("image", image), ("scribbles", strokes), ("truth", truth)):
        files[name] = tmp_path / f"{name}.tif"
        tifffile.imwrite(files[name], data)
    report = run_workflow(
        workflow_file,
        files["image"],
        workspace=tmp_path / "b.vw",
        inputs={"scribbles": files["scribbles"], "ground_truth": files["truth"]},
        spacing=SPACING,
    )
    new = Workspace.open(tmp_path / "b.vw")
    expected = {k: v for k, v in _kinds(source).items() if k != "mito_edited"}
    assert _kinds(new) == expected
    assert [s.status for s in report.steps].count("ran") == len(report.steps)
    assert new.spacing == SPACING
    assert (report.results / "shallow_train_1.npz").is_file()
    assert (report.results / "mito.csv").is_file()
    assert report.outcome("metrics_1").result["metrics"]["mean_iou"] > 0.3
    assert new.layer("seg").label_set == "classes"
    assert "workflow 'a'" in report.summary()

    again = export_workflow(new)
    original = load_workflow(workflow_file)
    assert [(s["id"], s["step"], s["params"]) for s in again["steps"]] == [
        (s["id"], s["step"], s["params"]) for s in original["steps"]
    ]
    assert again["inputs"] == original["inputs"]


def test_replay_without_scribbles_applies_the_recorded_model(workflow_file, tmp_path):
    image, _, _ = _volume(2)
    report = run_workflow(workflow_file, image, workspace=tmp_path / "c.vw", spacing=SPACING)
    train = report.outcome("shallow_train_1")
    assert train.status == "reused"
    assert train.result["model_file"].endswith("rf.npz")
    assert report.outcome("metrics_1").status == "skipped"  # no ground truth given
    ws = Workspace.open(tmp_path / "c.vw")
    assert "seg" in ws and "mito_size" in ws
    assert "scribbles" not in ws


def test_train_policies(workflow_file, tmp_path):
    image, _, strokes = _volume(2)
    with pytest.raises(WorkflowInputError, match="train='always'"):
        run_workflow(workflow_file, image, workspace=tmp_path / "d.vw", train="always")
    report = run_workflow(
        workflow_file,
        image,
        workspace=tmp_path / "e.vw",
        inputs={"scribbles": strokes},
        train="never",
    )
    assert report.outcome("shallow_train_1").status == "reused"
    with pytest.raises(WorkflowInputError, match="train as one of"):
        run_workflow(workflow_file, image, workspace=tmp_path / "f.vw", train="sometimes")


def test_missing_model_and_unknown_role_are_clear_errors(workflow_file, tmp_path):
    wf = load_workflow(workflow_file)
    image, _, _ = _volume(3)
    with pytest.raises(WorkflowInputError, match=r"no input role 'labels'.*scribbles"):
        run_workflow(wf, image, workspace=tmp_path / "g.vw", inputs={"labels": image})
    wf["steps"][3]["model_file"] = str(tmp_path / "gone.npz")
    with pytest.raises(WorkflowInputError, match=r"gone.npz does not exist.*--input"):
        run_workflow(wf, image, workspace=tmp_path / "h.vw")
    with pytest.raises(WorkflowInputError, match="workspace="):
        run_workflow(wf, image)
    wf["inputs"]["scribbles"]["required"] = True
    with pytest.raises(WorkflowInputError, match=r"needs the input role.*'scribbles'"):
        run_workflow(wf, image, workspace=tmp_path / "i.vw")


def test_cli_export_validate_run(source, tmp_path, capsys):
    out = tmp_path / "cli.yaml"
    assert main(["-q", "workflow", "export", str(source.path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "9 steps" in printed and "scribbles (optional)" in printed
    assert "not replayable" in printed and "analysis.edit" in printed
    assert main(["-q", "workflow", "export", str(source.path), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["-q", "workflow", "validate", str(out)]) == 0
    assert "valid" in capsys.readouterr().out

    image, _, strokes = _volume(4)
    tifffile.imwrite(tmp_path / "new.tif", image)
    tifffile.imwrite(tmp_path / "s.tif", strokes)
    argv = ["-q", "run", str(out), "--image", str(tmp_path / "new.tif"), "--spacing", "2,1,1"]
    argv += ["--workspace", str(tmp_path / "new.vw"), "--input", f"scribbles={tmp_path / 's.tif'}"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "shallow_train_1" in printed and "ran" in printed
    assert "mito_size" in Workspace.open(tmp_path / "new.vw")

    # replay again on the workspace just made, applying the recorded models only
    assert main(["-q", "run", str(out), "--workspace", str(tmp_path / "new.vw"), "--no-train",
                 "--overwrite"]) == 0  # fmt: skip
    assert "reused" in capsys.readouterr().out


def test_cli_bad_workflow_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    wf = {
        "voxelwise_workflow": 1,
        "inputs": {"image": {}},
        "steps": [{"id": "sv", "step": "supervoxels", "params": {"source": "denoised"}}],
    }
    bad.write_text(yaml.safe_dump(wf))
    code = main(["-q", "run", str(bad), "--image", str(tmp_path / "x.tif")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "'denoised'" in err and "no earlier step makes" in err
    assert main(["-q", "workflow", "validate", str(tmp_path / "missing.yaml")]) == 2
    assert "No workflow file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["-q", "run", str(bad), "--input", "scribbles"])
    assert "ROLE=FILE" in capsys.readouterr().err
