"""The workflow format: validation errors that name the step and the fix, YAML round trips,
and feature steps rebuilt from layer records."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from voxelwise.errors import VoxelwiseError
from voxelwise.filters import FeatureSpec, compute_features
from voxelwise.workflows import (
    STEP_KINDS,
    WorkflowError,
    WorkflowNotFoundError,
    export_workflow,
    load_workflow,
    save_workflow,
    validate_workflow,
)
from voxelwise.workspace import Workspace

BASE = {
    "voxelwise_workflow": 1,
    "inputs": {"image": {}, "scribbles": {"label_set": "cls"}},
    "label_sets": {"cls": [{"name": "a", "value": 1}, {"name": "b", "value": 2}]},
    "steps": [
        {
            "id": "feat",
            "step": "features",
            "params": {"features": [{"filter": "gaussian", "params": {"sigma": 1.0}}]},
        },
        {"id": "sv", "step": "supervoxels", "params": {"source": "gaussian_s1.0", "size": 4}},
        {
            "id": "rf",
            "step": "shallow_train",
            "params": {
                "annotations": "scribbles",
                "features": ["gaussian_s1.0"],
                "mode": "supervoxel",
            },
        },
        {"id": "pred", "step": "shallow_predict", "params": {"model": "rf", "name": "seg"}},
        {"id": "obj", "step": "instances", "params": {"source": "seg", "value": 2}},
        {"id": "m", "step": "measure", "params": {"labels": "seg_instances"}},
        {"id": "s", "step": "split", "params": {"table": "m", "rules": {"rules": []}}},
    ],
}


def _with(change) -> dict:
    wf = copy.deepcopy(BASE)
    change(wf)
    return wf


def test_a_valid_workflow_is_normalised_not_changed():
    original = copy.deepcopy(BASE)
    wf = validate_workflow(BASE)
    assert original == BASE
    assert wf["inputs"]["image"] == {"kind": "image", "layer": "raw", "required": True}
    assert wf["inputs"]["scribbles"]["kind"] == "annotation"
    assert wf["inputs"]["scribbles"]["required"] is False
    assert set(STEP_KINDS) >= {s["step"] for s in wf["steps"]}


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (
            lambda wf: wf["steps"][1]["params"].update(source="denoised"),
            ["Step 'sv'", "'source'", "layer 'denoised'", "no earlier step makes", "gaussian_s1.0"],
        ),
        (
            lambda wf: wf["steps"][2]["params"].update(annotations="strokes"),
            ["Step 'rf'", "layer 'strokes'", "no input provides"],
        ),
        (
            lambda wf: wf["steps"].insert(0, {"id": "x", "step": "segment"}),
            ["Step 'x'", "unknown step 'segment'", "known steps: features"],
        ),
        (
            lambda wf: wf["steps"][3]["params"].update(model="forest"),
            ["Step 'pred'", "step 'forest'", "does not exist", "earlier steps: feat, sv, rf"],
        ),
        (
            lambda wf: wf["steps"][3]["params"].update(model="sv"),
            ["Step 'pred'", "a supervoxels step", "needs a shallow_train step"],
        ),
        (
            lambda wf: wf["steps"][6]["params"].update(table="later"),
            ["Step 's'", "step 'later'"],
        ),
        (
            lambda wf: wf["steps"][1]["params"].update(radius=3),
            ["Step 'sv'", "no parameter 'radius'", "compactness"],
        ),
        (lambda wf: wf["steps"][3]["params"].pop("model"), ["needs model"]),
        (lambda wf: wf["steps"][1].update(id="feat"), ["Step 'feat'", "used twice"]),
        (lambda wf: wf.pop("voxelwise_workflow"), ["voxelwise_workflow: 1"]),
        (lambda wf: wf.update(steps=[]), ["non-empty list"]),
        (lambda wf: wf["inputs"].pop("image"), ["'image'"]),
        (lambda wf: wf["inputs"]["scribbles"].update(label_set="other"), ["'other'"]),
        (lambda wf: wf["inputs"]["scribbles"].update(kind="thing"), ["kind among"]),
        (lambda wf: wf["steps"][0].update(params=[1]), ["params as a mapping"]),
    ],
)
def test_bad_workflows_raise_naming_the_problem(change, fragments):
    with pytest.raises(WorkflowError) as info:
        validate_workflow(_with(change))
    assert isinstance(info.value, VoxelwiseError) and isinstance(info.value, ValueError)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_not_a_mapping():
    with pytest.raises(WorkflowError, match="Expected a workflow mapping"):
        validate_workflow([1, 2])  # type: ignore[arg-type]


def test_yaml_round_trip_and_file_errors(tmp_path):
    path = save_workflow(BASE, tmp_path / "wf.yaml")
    assert load_workflow(path) == validate_workflow(BASE)
    with pytest.raises(WorkflowNotFoundError, match="No workflow file") as info:
        load_workflow(tmp_path / "none.yaml")
    assert isinstance(info.value, FileNotFoundError)
    (tmp_path / "bad.yaml").write_text("steps: [unclosed")
    with pytest.raises(WorkflowError, match="not valid YAML"):
        load_workflow(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(WorkflowError, match="Expected a workflow mapping"):
        load_workflow(tmp_path / "list.yaml")


@pytest.fixture
def ws(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (4, 24, 24)).astype(np.uint8)
    return Workspace.create(tmp_path / "w.vw", image, spacing=(2, 1, 1))


def test_export_of_a_fresh_workspace_says_there_is_nothing(ws):
    with pytest.raises(WorkflowError, match="no replayable step"):
        export_workflow(ws)


def test_feature_steps_from_layer_records(ws):
    compute_features(ws, [FeatureSpec("hessian_eigenvalues", {"sigma": 1.0}, name="hess")])
    compute_features(ws, ["wavelet_denoise:levels=2", "gaussian:sigma=2"], source="hess_eig1")
    wf = export_workflow(ws)
    first, second = wf["steps"]
    assert first["params"] == {
        "source": "raw",
        "features": [
            {
                "filter": "hessian_eigenvalues",
                "params": {"sigma": 1.0, "truncate": 4.0},
                "name": "hess",
            }
        ],
    }
    assert first["outputs"] == ["hess_eig1", "hess_eig2", "hess_eig3"]
    assert second["params"]["source"] == "hess_eig1"
    wavelet, gauss = second["params"]["features"]
    # the noise level was estimated from the data: estimated afresh on replay, not copied
    assert "noise_std" not in wavelet["params"] and wavelet["params"]["levels"] == 2
    assert "spacing" not in wavelet["params"] and "name" not in wavelet
    assert gauss == {"filter": "gaussian", "params": {"sigma": 2.0, "truncate": 4.0}}
    assert wf["inputs"] == {"image": {"kind": "image", "layer": "raw", "required": True}}
