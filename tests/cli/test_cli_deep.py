"""CLI for deep learning: `voxelwise train` and `voxelwise predict` on files and workspaces."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tifffile
import yaml

torch = pytest.importorskip("torch")

from voxelwise.cli import main  # noqa: E402
from voxelwise.workspace import Workspace  # noqa: E402

TINY = {
    "arch": "unet2d",
    "network": {"depth": 2, "width": 4, "blocks": 1},
    "patch_size": [32, 32],
    "epochs": 2,
    "steps_per_epoch": 2,
    "batch_size": 2,
    "val_patches": 2,
}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["-q", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Seeded synthetic EM (3 classes stored as 1..3) as TIFF files, and a tiny config."""
    from voxelwise.data import synthetic_em

    root = tmp_path_factory.mktemp("deep_cli")
    vol = synthetic_em((8, 48, 48), rng=3)
    tifffile.imwrite(root / "img.tif", vol.image)
    tifffile.imwrite(root / "lab.tif", (vol.labels + 1).astype(np.uint8))
    (root / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    return root


@pytest.fixture(scope="module")
def vnc(shared_data, tmp_path_factory):
    """A 6 x 96 x 96 crop of the VNC stack (26 % mitochondria): background 1, mitochondria 2."""
    from voxelwise.data import load_vnc

    root = tmp_path_factory.mktemp("vnc")
    image, mito, _ = load_vnc(shared_data, labels="mitochondria")
    crop = (slice(0, 6), slice(768, 864), slice(512, 608))
    tifffile.imwrite(root / "img.tif", np.asarray(image[crop]))
    tifffile.imwrite(root / "mito.tif", np.asarray(mito[crop]).astype(np.uint8) + 1)
    (root / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    return root


def test_train_then_predict_real_data_and_ensemble(capsys, vnc, tmp_path):
    import zarr

    from voxelwise.deep import load_model

    img, lab, cfg = vnc / "img.tif", vnc / "mito.tif", vnc / "tiny.yaml"
    model_a = tmp_path / "models" / "a.pt"
    code, out, err = run(
        capsys, "train", "--image", img, "--labels", lab, "--config", cfg, "--seed", "0",
        "--device", "cpu", "--max-minutes", "5", "--out", model_a,
    )  # fmt: skip
    assert code == 0, err
    assert "best validation mIoU" in out and "2 epoch(s)" in out and str(model_a) in out
    assert model_a.is_file()
    reports = tmp_path / "models" / "a.train"
    assert {"metrics.csv", "metrics.png", "config.yaml"} <= {p.name for p in reports.iterdir()}
    meta = load_model(model_a).metadata
    assert meta["classes"] == 2 and meta["label_values"] == [1, 2]

    # a second model: fine-tuned from the first for one epoch, on two pairs at once
    model_b = tmp_path / "models" / "b.pt"
    code, out, err = run(
        capsys, "train", "--image", img, "--labels", lab, "--image", img, "--labels", lab,
        "--config", cfg, "--epochs", "1", "--init-model", model_a, "--seed", "1",
        "--out", model_b,
    )  # fmt: skip
    assert code == 0, err
    assert "1 epoch(s)" in out
    assert load_model(model_b).metadata["provenance"]["init_model"] == str(model_a)

    pred = tmp_path / "pred.zarr"
    code, out, err = run(capsys, "predict", model_a, img, pred, "--device", "cpu")
    assert code == 0, err
    assert "labels" in out and "6 x 96 x 96" in out and "2 x 6 x 96 x 96" in out
    group = zarr.open_group(pred, mode="r")
    labels = np.asarray(group["labels"])
    assert labels.shape == (6, 96, 96) and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {1, 2}
    probs = np.asarray(group["probabilities"])
    assert probs.shape == (2, 6, 96, 96) and probs.dtype == np.float16
    np.testing.assert_allclose(probs.astype(np.float32).sum(0), 1.0, atol=5e-3)
    assert group["confidence"].dtype == np.float16 and group["entropy"].shape == (6, 96, 96)

    # ensemble of the two model files, some outputs only, uint8 probabilities, a region
    ens = tmp_path / "ens.zarr"
    code, out, err = run(
        capsys, "predict", model_a, img, ens, "--ensemble", model_b, "--roi", "1:5,:64,:",
        "--outputs", "labels,probabilities", "--probability-dtype", "uint8", "--tta",
    )  # fmt: skip
    assert code == 0, err
    assert "ensemble of 2 models" in out
    group = zarr.open_group(ens, mode="r")
    assert sorted(group.array_keys()) == ["labels", "probabilities"]
    assert group.attrs["models"] == 2
    assert group["labels"].shape == (4, 64, 96)
    uint8 = np.asarray(group["probabilities"])
    assert uint8.dtype == np.uint8 and uint8.shape == (2, 4, 64, 96)
    assert np.abs(uint8.astype(int).sum(0) - 255).max() <= 2
    assert set(np.unique(np.asarray(group["labels"]))) <= {1, 2}

    # --top-k 1 keeps the better model alone; an existing output is refused, then replaced
    code, _, err = run(capsys, "predict", model_a, img, ens, "--ensemble", model_b)
    assert code == 2 and "--overwrite" in err
    code, _, err = run(
        capsys, "predict", model_a, img, ens, "--ensemble", model_b, "--top-k", "1", "--overwrite"
    )
    assert code == 0, err
    assert zarr.open_group(ens, mode="r").attrs["models"] == 1


def test_workspace_layers_end_to_end(capsys, files, tmp_path):
    from voxelwise.deep import load_model

    path = tmp_path / "em.vw"
    ws = Workspace.create(path, tifffile.imread(files / "img.tif"))
    for name in ("cytoplasm", "membrane", "mitochondria"):
        ws.add_label("classes", name)
    truth = tifffile.imread(files / "lab.tif")
    sparse = np.zeros_like(truth)
    sparse[:, ::3] = truth[:, ::3]  # scribble-like: 0 = unlabelled
    ws.add_layer("scribbles", sparse, kind="annotation", label_set="classes")

    model = tmp_path / "ws.pt"
    code, _, err = run(
        capsys, "train", "--workspace", path, "--labels-layer", "raw", "--out", model
    )
    assert code == 2 and "labels or annotation layer" in err
    code, out, err = run(
        capsys, "train", "--workspace", path, "--labels-layer", "scribbles",
        "--config", files / "tiny.yaml", "--seed", "0", "--out", model,
    )  # fmt: skip
    assert code == 0, err
    meta = load_model(model).metadata
    assert meta["label_names"] == ["cytoplasm", "membrane", "mitochondria"]
    assert meta["label_set"] == "classes"

    code, out, err = run(capsys, "predict", model, "--workspace", path, "--name", "seg")
    assert code == 0, err
    assert "seg_p_mitochondria" in out
    ws = Workspace.open(path)
    layers = ws.layers
    assert layers["seg"].kind == "prediction" and layers["seg"].label_set == "classes"
    assert layers["seg"].dtype == "uint8"
    assert set(np.unique(np.asarray(ws.get("seg")))) <= {1, 2, 3}
    probs = [f"seg_p_{n}" for n in ("cytoplasm", "membrane", "mitochondria")]
    assert all(layers[p].kind == "probabilities" for p in probs)
    total = sum(np.asarray(ws.get(p), dtype=np.float32) for p in probs)
    np.testing.assert_allclose(total, 1.0, atol=5e-3)
    assert layers["seg_confidence"].kind == layers["seg_entropy"].kind == "confidence"
    assert [r.step for r in ws.runs()] == ["deep.train", "deep.predict"]
    assert ws.runs()[1].outputs[0] == "seg"

    # outputs already there: refused without --overwrite; a subset replaces only its layers
    code, _, err = run(capsys, "predict", model, "--workspace", path, "--name", "seg")
    assert code == 2 and "--overwrite" in err
    code, out, err = run(
        capsys, "predict", model, "--workspace", path, "--name", "seg", "--outputs", "labels",
        "--overwrite", "--label-set", "fresh",
    )  # fmt: skip
    assert code == 0, err
    assert "wrote 1 layer " in out
    ws = Workspace.open(path)
    assert ws.layer("seg").label_set == "fresh"  # created from the model's classes
    fresh = [(lab.value, lab.name) for lab in ws.label_set("fresh")]
    assert fresh == [(1, "cytoplasm"), (2, "membrane"), (3, "mitochondria")]


def test_workspace_image_layers_as_channels(capsys, files, tmp_path):
    from voxelwise.deep import load_model
    from voxelwise.workspace import add_image

    path = tmp_path / "two.vw"
    image = tifffile.imread(files / "img.tif")
    ws = Workspace.create(path, image)
    add_image(ws, "second", image[:, ::-1].copy())
    ws.add_layer("truth", tifffile.imread(files / "lab.tif"), kind="annotation")
    model = tmp_path / "two.pt"
    code, _, err = run(
        capsys, "train", "--workspace", path, "--labels-layer", "truth",
        "--images", "raw", "second", "--config", files / "tiny.yaml", "--out", model,
    )  # fmt: skip
    assert code == 0, err
    loaded = load_model(model)
    assert loaded.channels == 2 and loaded.channel_names == ["raw", "second"]
    code, _, err = run(capsys, "predict", model, "--workspace", path, "--name", "seg")
    assert code == 0, err
    assert "seg" in Workspace.open(path).layers
    code, _, err = run(
        capsys, "train", "--workspace", path, "--labels-layer", "truth",
        "--images", "raw", "nope", "--out", tmp_path / "bad.pt",
    )  # fmt: skip
    assert code == 2 and "nope" in err
    code, _, err = run(
        capsys, "train", "--image", files / "img.tif", "--labels", files / "lab.tif",
        "--images", "raw", "--out", tmp_path / "bad2.pt",
    )  # fmt: skip
    assert code == 2 and "--images with --workspace" in err


def test_wall_time_budget_stops_training(capsys, files, tmp_path):
    model = tmp_path / "budget.pt"
    code, out, err = run(
        capsys, "train", "--image", files / "img.tif", "--labels", files / "lab.tif",
        "--config", files / "tiny.yaml", "--epochs", "50", "--max-minutes", "0.0001",
        "--out", model,
    )  # fmt: skip
    assert code == 0, err
    assert "1 epoch(s)" in out and "wall-time budget" in out
    assert model.is_file() and (tmp_path / "budget.train" / "metrics.csv").is_file()


def test_arch_option_overrides_the_config(files, tmp_path):
    import voxelwise.deep as deep
    from voxelwise.cli._deep import _train_config
    from voxelwise.errors import VoxelwiseError

    cfg = _train_config(deep, None, "unet3d")
    assert cfg.arch == "unet3d" and len(cfg.patch_size) == 3
    loose = tmp_path / "loose.yaml"
    loose.write_text(yaml.safe_dump({"epochs": 3, "network": {"width": 4}}))
    cfg = _train_config(deep, str(loose), "hybrid")  # the config's default patch follows
    assert (cfg.arch, cfg.patch_size, cfg.epochs) == ("hybrid", (5, 128, 128), 3)
    with pytest.raises(VoxelwiseError, match="patch_size with 3 values"):
        _train_config(deep, str(files / "tiny.yaml"), "unet3d")  # a 2D patch given explicitly


def _model_files(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    (tmp_path / "damaged.pt").write_bytes(b"\x80\x02not a model at all")
    np.save(tmp_path / "short.npy", np.ones((6, 48, 48), np.uint8))
    np.save(tmp_path / "one_class.npy", np.ones((8, 48, 48), np.uint8))
    (tmp_path / "exists.pt").write_bytes(b"")
    (tmp_path / "exists.zarr").mkdir()
    (tmp_path / "bad.yaml").write_text("epoch: 3\n")


CUDA = torch.cuda.is_available()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["train", "--image", "{t}/nope.tif", "--labels", "{d}/lab.tif", "--out", "{t}/m.pt"],
         "nope.tif"),
        (["train", "--image", "{d}/img.tif", "--labels", "{t}/short.npy", "--out", "{t}/m.pt"],
         "same shape"),
        (["train", "--image", "{d}/img.tif", "--labels", "{t}/one_class.npy",
          "--out", "{t}/m.pt"], "at least two"),
        (["train", "--image", "{d}/img.tif", "--out", "{t}/m.pt"], "one --labels per --image"),
        (["train", "--image", "{d}/img.tif", "--labels", "{d}/lab.tif", "--out", "{t}/m.pth"],
         "ending in .pt"),
        (["train", "--image", "{d}/img.tif", "--labels", "{d}/lab.tif",
          "--out", "{t}/exists.pt"], "--overwrite"),
        (["train", "--image", "{d}/img.tif", "--labels", "{d}/lab.tif", "--config",
          "{t}/none.yaml", "--out", "{t}/m.pt"], "none.yaml"),
        (["train", "--image", "{d}/img.tif", "--labels", "{d}/lab.tif", "--config",
          "{t}/bad.yaml", "--out", "{t}/m.pt"], "Unknown training settings"),
        (["train", "--image", "{d}/img.tif", "--labels", "{d}/lab.tif", "--epochs", "0",
          "--out", "{t}/m.pt"], "--epochs"),
        (["train", "--workspace", "{t}", "--labels-layer", "x", "--out", "{t}/m.pt"],
         "not a voxelwise workspace"),
        (["train", "--workspace", "{t}", "--image", "{d}/img.tif", "--out", "{t}/m.pt"],
         "not both"),
        (["train", "--image", "{d}/img.tif", "--labels", "{d}/lab.tif", "--device", "gpu",
          "--out", "{t}/m.pt"], "device"),
        pytest.param(
            ["train", "--image", "{d}/img.tif", "--labels", "{d}/lab.tif", "--device", "cuda",
             "--out", "{t}/m.pt"], "CUDA",
            marks=pytest.mark.skipif(CUDA, reason="needs a machine without CUDA"),
        ),
        (["predict", "{t}/nope.pt", "{d}/img.tif", "{t}/o.zarr"], "no model file"),
        (["predict", "{t}/foreign.pt", "{d}/img.tif", "{t}/o.zarr"], "not a voxelwise model"),
        (["predict", "{t}/damaged.pt", "{d}/img.tif", "{t}/o.zarr"], "damaged"),
        (["predict", "{t}/foreign.pt", "{d}/img.tif", "{t}/o.tif"], "ending in .zarr"),
        (["predict", "{t}/foreign.pt", "{d}/img.tif", "{t}/exists.zarr"], "--overwrite"),
        (["predict", "{t}/foreign.pt", "{d}/img.tif"], "MODEL IMAGE OUT"),
        (["predict", "{t}/foreign.pt", "{d}/img.tif", "{t}/o.zarr", "--outputs", "labels,x"],
         "--outputs"),
        (["predict", "{t}/foreign.pt", "{d}/img.tif", "--workspace", "{t}"], "no IMAGE/OUT"),
        pytest.param(
            ["predict", "{t}/foreign.pt", "{d}/img.tif", "{t}/o.zarr", "--device", "cuda"],
            "CUDA",
            marks=pytest.mark.skipif(CUDA, reason="needs a machine without CUDA"),
        ),
    ],
)  # fmt: skip
def test_user_errors_are_one_line_with_exit_2(capsys, files, tmp_path, argv, fragment):
    _model_files(tmp_path)
    argv = [a.format(d=files, t=tmp_path) for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("voxelwise: error:")
    assert fragment.lower() in lines[0].lower()
    assert not (tmp_path / "m.train").exists()  # nothing written for a refused run
    assert not (tmp_path / "o.zarr").exists()


def test_help_and_other_commands_do_not_import_torch(files):
    code = (
        "import sys\n"
        "from voxelwise.cli import main\n"
        "for argv in (['--help'], ['train', '--help'], ['predict', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"main(['info', r'{files / 'img.tif'}'])\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("False")
    assert "torch" not in out.stderr
