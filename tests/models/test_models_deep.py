"""The model registry with deep models: pooled training on two workspaces, runs, foreign files."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from voxelwise import models  # noqa: E402
from voxelwise.data import synthetic_em  # noqa: E402
from voxelwise.errors import FormatNotSupportedError  # noqa: E402
from voxelwise.workspace import Workspace  # noqa: E402

TINY = {
    "arch": "unet2d",
    "network": {"depth": 2, "width": 4, "blocks": 1},
    "patch_size": (32, 32),
    "epochs": 2,
    "steps_per_epoch": 2,
    "batch_size": 2,
    "val_patches": 2,
}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _workspace(path, seed):
    vol = synthetic_em((6, 48, 48), rng=seed)
    ws = Workspace.create(path, vol.image, chunks=(6, 48, 48))
    for name in ("cytoplasm", "membrane", "mitochondria"):
        ws.add_label("classes", name)
    ws.add_layer("truth", (vol.labels + 1).astype(np.uint8), kind="labels", label_set="classes")
    return ws


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("deep-registry")
    return _workspace(root / "a.vw", 3), _workspace(root / "b.vw", 4)


@pytest.mark.slow
def test_deep_model_trained_on_two_workspaces(pair, tmp_path):
    a, b = pair
    record = models.train_pooled(
        [(a, "raw", "truth"), (b, "raw", "truth")],
        kind="deep",
        config=TINY,
        device="cpu",
        rng=0,
        name="pooled-unet",
    )
    assert record["kind"] == "deep" and record["architecture"] == "unet2d"
    assert record["provenance"]["workspaces"] == [str(a.path), str(b.path)]
    assert record["label_set"] == "classes"
    assert [c["name"] for c in record["classes"]] == ["cytoplasm", "membrane", "mitochondria"]
    assert 0.0 <= record["metrics"]["val_miou"] <= 1.0 and record["metrics"]["epochs"] == 2
    listed = {r["name"]: r for r in models.list_models(a)}
    assert listed["pooled-unet"]["metrics"]["val_miou"] == record["metrics"]["val_miou"]
    assert b.models == {}  # registered in the first source's workspace only
    # the exported file carries the provenance; fine-tuning starts from the registered model
    exported = models.export_model(a, "pooled-unet", tmp_path / "unet")
    assert exported.suffix == ".pt"
    imported = models.import_model(b, exported)
    assert imported["provenance"]["training_data"][1]["workspace"] == str(b.path)
    tuned = models.train_pooled(
        [(b, "raw", "truth")],
        kind="deep",
        config={**TINY, "epochs": 1},
        device="cpu",
        init_model="unet",
        rng=1,
    )
    assert tuned["provenance"]["fine_tuned_from"] == "unet"
    result = models.apply_model(b, tuned["name"], name="seg", device="cpu", outputs=("labels",))
    assert result["layers"] == ["seg"] and b.layer("seg").label_set == "classes"
    assert set(np.unique(np.asarray(b.get("seg")))) <= {1, 2, 3}


def test_train_workspace_runs_are_registered_with_val_miou(pair, tmp_path):
    from voxelwise.deep import train_workspace

    a, _ = pair
    result = train_workspace(a, "truth", out=tmp_path / "run.pt", config=TINY, device="cpu", rng=0)
    added = models.sync_models(a)
    assert added == ["run"]
    info = a.model("run")
    assert info.kind == "deep" and info.metrics["val_miou"] == pytest.approx(result.best_val_miou)
    assert info.provenance["layers"] == ["raw", "truth"]


def test_foreign_pytorch_file_is_refused(pair, tmp_path):
    a, _ = pair
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(FormatNotSupportedError, match="not a voxelwise model"):
        models.import_model(a, path)
    assert "other" not in a.models
