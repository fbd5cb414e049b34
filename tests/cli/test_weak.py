"""CLI for weak annotation: `voxelwise deep from-shallow WS --prediction LAYER`."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from voxelwise import annotate, learn  # noqa: E402
from voxelwise.cli import main  # noqa: E402
from voxelwise.data import synthetic_em  # noqa: E402
from voxelwise.models import list_models  # noqa: E402
from voxelwise.workflows import export_workflow  # noqa: E402
from voxelwise.workflows._scribbles import scribbles_from_truth  # noqa: E402
from voxelwise.workspace import Workspace  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("torch_one_thread"),
]  # trains a tiny network (about 5 s with torch's import)

SHAPE = (6, 32, 32)
TINY = {
    "patch_size": [16, 16],
    "network": {"width": 4, "depth": 2, "blocks": 1},
    "epochs": 1,
    "steps_per_epoch": 2,
    "batch_size": 2,
    "val_patches": 2,
}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["-q", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def shallow(tmp_path_factory):
    """A workspace with a shallow prediction ('shallow' and 'shallow_confidence')."""
    root = tmp_path_factory.mktemp("weak_cli")
    vol = synthetic_em(SHAPE, spacing=(2.0, 1.0, 1.0), rng=5)
    truth = vol.labels.astype(np.uint16) + 1
    ws = Workspace.create(root / "ws.vw", vol.image, spacing=(2.0, 1.0, 1.0), chunks=(3, 16, 16))
    for value, name in enumerate(("cytoplasm", "membrane", "mitochondria"), start=1):
        ws.add_label("classes", name, value=value)
    strokes = scribbles_from_truth(truth, every=2, strokes=4, length=10, rng=5)
    annotate.import_labels(ws, strokes, name="scribbles", label_set="classes")
    learn.train(
        ws,
        annotations="scribbles",
        features=["gaussian:sigma=1.0", "gaussian:sigma=2.0"],
        params={"n_estimators": 10},
        save=root / "rf.npz",
    )
    learn.predict(ws, root / "rf.npz", name="shallow", probabilities=False)
    (root / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    return root


def test_from_shallow_writes_layers_registers_and_records(shallow, capsys):
    ws_path = shallow / "ws.vw"
    code, out, err = run(
        capsys,
        "deep",
        "from-shallow",
        ws_path,
        "--prediction",
        "shallow",
        "--roi",
        "0:4,:,:",
        "--min-confidence",
        "0.5",
        "--max-minutes",
        "1",
        "--out-layer",
        "weak",
        "--config",
        shallow / "tiny.yaml",
        "--results",
        shallow / "models",
        "--device",
        "cpu",
        "--seed",
        "0",
    )
    assert code == 0, err
    assert "training labels weak_training:" in out and "model    weak (registry" in out
    ws = Workspace.open(ws_path)
    assert ws.layer("weak").shape == SHAPE and ws.layer("weak").kind == "prediction"
    assert ws.layer("weak_confidence").kind == "confidence"
    assert not np.asarray(ws.get("weak_training"))[4:].any()
    models = [m for m in list_models(ws) if m["kind"] == "deep"]
    assert [m["name"] for m in models] == ["weak"]
    assert (shallow / "models").is_dir()
    step = export_workflow(ws)["steps"][-1]
    assert step["step"] == "deep_from_shallow"
    assert step["params"]["roi"] == "0:4,0:32,0:32" and step["params"]["rng"] == 0
    # the same again refuses to overwrite, before any work
    code, _, err = run(capsys, "deep", "from-shallow", ws_path, "--prediction", "shallow",
                       "--out-layer", "weak", "--config", shallow / "tiny.yaml")  # fmt: skip
    assert code == 2 and "exist already" in err and "--overwrite" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prediction", "nope"], "nope"),
        (["--prediction", "shallow_confidence"], "label layer of a shallow prediction"),
        (["--prediction", "scribbles"], "no confidence layer 'scribbles_confidence'"),
        (["--prediction", "shallow", "--min-confidence", "2"], "--min-confidence"),
        (["--prediction", "shallow", "--max-minutes", "0"], "--max-minutes"),
        (["--prediction", "shallow", "--roi", "0:99,:,:"], "ROI"),
    ],
)
def test_bad_input_is_a_one_line_error(shallow, capsys, args, message):
    code, _, err = run(capsys, "deep", "from-shallow", shallow / "ws.vw", *args)
    assert code == 2 and message in err and err.startswith("voxelwise: error:")


def test_everything_below_the_threshold_is_a_clear_error(shallow, capsys, tmp_path):
    ws = Workspace.open(shallow / "ws.vw")
    ws.add_layer("unsure", np.full(SHAPE, 0.3, np.float32), kind="confidence", overwrite=True)
    code, _, err = run(capsys, "deep", "from-shallow", shallow / "ws.vw", "--prediction",
                       "shallow", "--confidence", "unsure", "--out-layer", "never")  # fmt: skip
    assert code == 2 and "No voxel of 'shallow'" in err and "--min-confidence" in err
    assert "never_training" not in Workspace.open(shallow / "ws.vw")


def test_help_lists_the_group_without_torch_work(capsys):
    with pytest.raises(SystemExit):
        main(["deep", "from-shallow", "--help"])
    assert "--min-confidence" in capsys.readouterr().out
