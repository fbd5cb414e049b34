"""2.5D input: neighbouring slices as extra channels of 2D networks (issue 11, part 1)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from voxelwise.active import Pool  # noqa: E402
from voxelwise.active._settings import train_settings  # noqa: E402
from voxelwise.deep import TrainConfig, load_model, predict, predict_proba, train  # noqa: E402
from voxelwise.deep._data import Region, context_view, sample_patch  # noqa: E402
from voxelwise.deep._tiles import forward  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _shifted(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An image whose plane z shows the disks labelled on plane z - 1 (and nothing of its own
    plane's): only the next slice tells where plane z's disks are."""
    rng = np.random.default_rng(seed)
    shape = (8, 64, 64)
    yy, xx = np.indices(shape[1:])
    target = np.zeros(shape, dtype=bool)
    for z in range(shape[0]):
        for _ in range(6):
            cy, cx = rng.integers(6, 58, size=2)
            target[z] |= (yy - cy) ** 2 + (xx - cx) ** 2 < rng.integers(16, 49)
    image = rng.normal(0.0, 150.0, shape).astype(np.float32)
    image[1:] += 1000.0 * target[:-1]
    return image, target.astype(np.uint8) + 1


def _iou(pred: np.ndarray, truth: np.ndarray) -> float:
    p, t = pred == 2, truth == 2
    return float((p & t).sum() / max((p | t).sum(), 1))


def test_context_view_stacks_neighbouring_planes_with_repeated_edges():
    vol = np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3)
    view = context_view(da.from_array(vol, chunks=(2, 2, 3)), 1)
    assert isinstance(view, da.Array) and view.shape == (4, 2, 3, 3)
    got = view.compute()
    for i in range(4):
        for k, j in enumerate((max(i - 1, 0), i, min(i + 1, 3))):
            np.testing.assert_array_equal(got[i, ..., k], vol[j])
    # several channels: plane-major, channel k C + c is channel c of plane i + k - 1
    two = np.stack([vol, -vol], axis=-1)
    got2 = context_view(da.from_array(two), 1).compute()
    assert got2.shape == (4, 2, 3, 6)
    np.testing.assert_array_equal(got2[2, ..., 0], vol[1])
    np.testing.assert_array_equal(got2[2, ..., 1], -vol[1])
    np.testing.assert_array_equal(got2[2, ..., 5], -vol[3])
    assert context_view(da.from_array(vol), 0).shape == vol.shape


@pytest.mark.parametrize("axis", ["z", "y", "x"])
def test_sample_patch_with_context_holds_the_neighbouring_slices(axis):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(6, 10, 12)).astype(np.float32)
    labels = rng.integers(1, 3, size=image.shape).astype(np.uint8)
    region = Region(image, labels)
    centre = np.array([0, 4, 5])  # on the first plane of each axis' edge
    centre[{"z": 0, "y": 1, "x": 2}[axis]] = 0
    flat_img, flat_lab = sample_patch(region, (4, 4), axis, np.random.default_rng(1), centre=centre)
    img, lab = sample_patch(
        region, (4, 4), axis, np.random.default_rng(1), centre=centre, context=2
    )
    assert img.shape == (5, 4, 4) and lab.shape == (4, 4)
    np.testing.assert_array_equal(img[2], flat_img)  # the middle plane is the plain slice
    np.testing.assert_array_equal(lab, flat_lab)  # labels of the middle plane only
    np.testing.assert_array_equal(img[0], img[2])  # before the first plane: repeated edge
    assert not np.array_equal(img[3], img[2])


def test_context_settings_are_checked():
    assert TrainConfig().context == 0
    assert TrainConfig(context=1).to_dict()["context"] == 1
    with pytest.raises(ValueError, match="context=0 for the 3D network"):
        TrainConfig(arch="unet3d", context=1)
    with pytest.raises(ValueError, match="0 <= context <= 8"):
        TrainConfig(context=-1)
    with pytest.raises(ValueError, match="context as an integer"):
        TrainConfig(context=True)
    with pytest.raises(ValueError, match="context=0 for an active-learning campaign"):
        train_settings({"context": 1}, Pool((4, 64, 64), (32, 32), axis="z"))


@pytest.fixture(scope="module")
def shifted_models(tmp_path_factory, tiny_unet2d):
    root = tmp_path_factory.mktemp("deep_context")
    image, labels = _shifted(0)
    config = {
        **tiny_unet2d,
        "axes": "z",
        "epochs": 6,
    }  # measured: IoU 0.56 with context, 0.09 without
    with_context = train(
        image, labels, out=root / "c1.pt", config={**config, "context": 1}, device="cpu", rng=1
    )
    plain = train(image, labels, out=root / "c0.pt", config=config, device="cpu", rng=1)
    return root, with_context.model_path, plain.model_path


def test_context_lets_a_2d_net_use_the_next_slice(shifted_models):
    _, c1, c0 = shifted_models
    image, labels = _shifted(7)  # unseen, same kind
    inner = slice(0, 7)  # the last plane has no next slice to read its disks from
    iou1 = _iou(predict_proba(c1, image, device="cpu").argmax(0)[inner] + 1, labels[inner])
    iou0 = _iou(predict_proba(c0, image, device="cpu").argmax(0)[inner] + 1, labels[inner])
    assert iou1 >= 0.45 and iou1 > iou0 + 0.3, (iou1, iou0)


def test_context_model_stores_it_and_predicts_like_its_forward_pass(shifted_models, tmp_path):
    _, c1, _ = shifted_models
    model = load_model(c1)
    assert model.context == 1 and model.channels == 1 and model.net_channels == 3
    assert model.metadata["network"]["in_channels"] == 3
    image, _ = _shifted(3)
    image = image[:, :32, :32]  # one patch per plane: the prediction is one forward pass
    probs = predict_proba(model, image, axes="z", device="cpu")
    run = forward(model, torch.device("cpu"), False)
    z = 4
    manual = run(np.stack([image[z - 1], image[z], image[z + 1]], axis=-1)[None])[0]
    np.testing.assert_allclose(probs[:, z], manual, atol=1e-5)
    # streamed to zarr: the same probabilities as in memory
    out = predict(
        model, image, tmp_path / "pred.zarr", axes="z", device="cpu", outputs=("probabilities",)
    )
    import zarr

    stored = np.asarray(zarr.open_group(str(out), mode="r")["probabilities"][:], dtype=np.float32)
    np.testing.assert_allclose(stored, probs, atol=2e-3)


def test_fine_tuning_keeps_the_context(shifted_models, tmp_path, tiny_unet2d):
    _, c1, _ = shifted_models
    image, labels = _shifted(1)
    tuned = train(
        image,
        labels,
        out=tmp_path / "tuned.pt",
        config={**tiny_unet2d, "axes": "z", "epochs": 1, "steps_per_epoch": 2},
        init_model=c1,
        device="cpu",
        rng=0,
    )
    assert load_model(tuned.model_path).context == 1


def test_context_with_several_image_channels(tmp_path, tiny_unet2d):
    image, labels = _shifted(0)
    stack = np.stack([image, np.zeros_like(image)])
    result = train(
        stack,
        labels,
        out=tmp_path / "mc.pt",
        config={**tiny_unet2d, "axes": "z", "context": 1, "epochs": 1, "steps_per_epoch": 2},
        device="cpu",
        rng=0,
    )
    model = load_model(result.model_path)
    assert model.channels == 2 and model.net_channels == 6
    probs = predict_proba(model, stack, device="cpu")
    assert probs.shape == (2, *labels.shape) and np.isfinite(probs).all()


def test_active_learning_refuses_a_context_model(shifted_models):
    from voxelwise.active import StrategyError, score_with_model

    _, c1, _ = shifted_models
    image, _ = _shifted(2)
    with pytest.raises(StrategyError, match=r"2\.5D input"):
        score_with_model(c1, image, Pool(image.shape, (32, 32), axis="z"), device="cpu")


def test_cli_train_with_context(tmp_path, capsys, tiny_unet2d):
    import tifffile
    import yaml

    from voxelwise.cli import main

    image, labels = _shifted(0)
    tifffile.imwrite(tmp_path / "img.tif", image, photometric="minisblack")
    tifffile.imwrite(tmp_path / "lab.tif", labels, photometric="minisblack")
    tiny = {**tiny_unet2d, "axes": "z", "patch_size": [32, 32], "epochs": 1, "steps_per_epoch": 2}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    common = ["-q", "train", "--image", str(tmp_path / "img.tif"), "--labels"]
    common += [str(tmp_path / "lab.tif"), "--device", "cpu", "--context", "1"]
    code = main([*common, "--config", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "m.pt")])
    assert code == 0, capsys.readouterr().err
    assert load_model(tmp_path / "m.pt").context == 1
    code = main([*common, "--arch", "unet3d", "--out", str(tmp_path / "x.pt")])
    err = capsys.readouterr().err
    assert code == 2 and "context=0 for the 3D network" in err
    assert not (tmp_path / "x.pt").exists()
