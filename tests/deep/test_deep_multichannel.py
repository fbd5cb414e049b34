"""Several image layers as input channels of deep networks (issue 10, part 2)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from voxelwise.deep import (  # noqa: E402
    load_model,
    predict,
    predict_proba,
    predict_workspace,
    stack_channels,
    train,
    train_workspace,
)
from voxelwise.errors import InvalidVolumeError  # noqa: E402


def _volume(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first channel, second channel, labels): the target shows only in the second channel.

    The first channel is texture of the same statistics inside and outside the target; the
    second holds the target's disks (bright, on a weak texture), on a very different scale.
    """
    rng = np.random.default_rng(seed)
    shape = (6, 64, 64)
    _, yy, xx = np.indices(shape)
    target = np.zeros(shape, dtype=bool)
    for _ in range(10):
        cy, cx = rng.integers(6, 58, size=2)
        target |= (yy - cy) ** 2 + (xx - cx) ** 2 < rng.integers(16, 49)
    first = rng.normal(100.0, 20.0, shape).astype(np.float32)
    second = (1000.0 * target + rng.normal(0, 150.0, shape)).astype(np.float32)
    return first, second, target.astype(np.uint8) + 1


def _iou(pred: np.ndarray, truth: np.ndarray) -> float:
    p, t = pred == 2, truth == 2
    return float((p & t).sum() / max((p | t).sum(), 1))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_unet2d):
    root = tmp_path_factory.mktemp("deep_mc")
    first, second, labels = _volume()
    both = train(
        np.stack([first, second]),
        labels,
        out=root / "both.pt",
        config=tiny_unet2d,
        device="cpu",
        rng=1,
        channel_names=["sxt", "fluo"],
    )
    one = train(first, labels, out=root / "one.pt", config=tiny_unet2d, device="cpu", rng=1)
    return root, both.model_path, one.model_path


def test_second_channel_gives_clearly_higher_iou(trained):
    _, both, one = trained
    first, second, labels = _volume(seed=7)  # an unseen volume of the same kind
    p_both = predict_proba(both, np.stack([first, second]), device="cpu")
    p_one = predict_proba(one, first, device="cpu")
    iou_both = _iou(p_both.argmax(0) + 1, labels)
    iou_one = _iou(p_one.argmax(0) + 1, labels)
    assert p_both.shape == (2, *labels.shape)
    assert iou_both >= 0.8, iou_both
    assert iou_both > iou_one + 0.3, (iou_both, iou_one)


def test_model_stores_channels_names_and_per_channel_normalisation(trained):
    _, both, one = trained
    model = load_model(both)
    assert model.channels == 2
    assert model.channel_names == ["sxt", "fluo"]
    norm = model.metadata["normalization"]
    assert isinstance(norm, list) and len(norm) == 2
    assert norm[0]["high"] < 300 < norm[1]["high"]  # each channel's own range
    assert model.metadata["network"]["in_channels"] == 2
    single = load_model(one)
    assert single.channels == 1 and isinstance(single.metadata["normalization"], dict)
    assert "in_channels" not in single.metadata["network"]


def test_stack_channels_is_lazy_and_equals_an_array_stack(trained, tmp_path):
    import zarr

    _, both, _ = trained
    first, second, _ = _volume(seed=3)
    stores = []
    for name, data in (("a", first), ("b", second)):
        arr = zarr.open_array(
            tmp_path / f"{name}.zarr",
            mode="w",
            shape=data.shape,
            chunks=(2, 32, 32),
            dtype=data.dtype,
        )
        arr[:] = data
        stores.append(arr)
    stacked = stack_channels(stores)
    assert stacked.shape == (2, *first.shape)
    streamed = predict(both, stacked, tmp_path / "out.zarr", device="cpu", memory_mb=0.05)
    in_memory = predict_proba(both, np.stack([first, second]), device="cpu")
    got = zarr.open_group(streamed, mode="r")["probabilities"][:].astype(np.float32)
    np.testing.assert_allclose(got, in_memory, atol=2e-3)  # float16 storage


def test_bad_channel_inputs(trained, tmp_path, tiny_unet2d):
    _, both, one = trained
    first, second, labels = _volume()
    with pytest.raises(InvalidVolumeError, match=r"\(6, 64, 64\).*\(6, 32, 64\)"):
        stack_channels([first, second[:, :32]])
    with pytest.raises(InvalidVolumeError, match="non-empty list"):
        stack_channels([])
    with pytest.raises(
        InvalidVolumeError, match=r"takes 2 input channel\(s\) \(sxt, fluo\).*has 1"
    ):
        predict_proba(both, first, device="cpu")
    with pytest.raises(InvalidVolumeError, match=r"takes 1 input channel.*has 3"):
        predict_proba(one, np.stack([first, second, first]), device="cpu")
    with pytest.raises(InvalidVolumeError, match="takes 2 input channel"):
        predict(both, np.stack([first] * 3), tmp_path / "bad.zarr", device="cpu")
    assert not (tmp_path / "bad.zarr").exists()
    with pytest.raises(ValueError, match="Expected 2 channel name"):
        train(
            np.stack([first, second]),
            labels,
            out=tmp_path / "m.pt",
            config=tiny_unet2d,
            channel_names=["only one"],
            device="cpu",
        )
    with pytest.raises(
        InvalidVolumeError, match=r"same shape, got \(6, 64, 64\) and \(6, 64, 32\)"
    ):
        train(
            np.stack([first, second]),
            labels[..., :32],
            out=tmp_path / "m.pt",
            config=tiny_unet2d,
            device="cpu",
        )
    with pytest.raises(InvalidVolumeError, match="takes 1 input channel"):
        train(
            np.stack([first, second]),
            labels,
            out=tmp_path / "m.pt",
            config=tiny_unet2d,
            init_model=one,
            device="cpu",
        )
    assert not (tmp_path / "m.pt").exists()


def test_workspace_trains_and_predicts_on_the_same_layers(tmp_path, tiny_unet2d):
    from voxelwise.workspace import InvalidLayerError, LayerNotFoundError, Workspace, add_image

    first, second, labels = _volume()
    ws = Workspace.create(tmp_path / "ws.vw", first, chunks=(3, 32, 32))
    add_image(ws, "fluo", second)
    ws.add_layer("truth", labels, kind="annotation")
    cfg = {**tiny_unet2d, "epochs": 1, "steps_per_epoch": 4}
    result = train_workspace(
        ws, "truth", images=["raw", "fluo"], out=tmp_path / "m.pt", config=cfg, device="cpu", rng=0
    )
    model = load_model(result.model_path)
    assert model.channels == 2 and model.channel_names == ["raw", "fluo"]
    pred = predict_workspace(ws, result.model_path, outputs=("labels",), device="cpu")
    expected = predict_proba(model, np.stack([first, second]), device="cpu").argmax(0) + 1
    np.testing.assert_array_equal(np.asarray(ws.get(pred.labels)), expected)
    runs = [r for r in ws.runs() if r.step == "deep.predict"]
    assert runs[-1].params["images"] == ["raw", "fluo"]
    with pytest.raises(InvalidVolumeError, match="takes 2 input channel"):
        predict_workspace(ws, result.model_path, images=["raw"], name="p2", device="cpu")
    with pytest.raises(InvalidLayerError, match="twice"):
        train_workspace(ws, "truth", images=["raw", "raw"], out=tmp_path / "x.pt", config=cfg)
    with pytest.raises(InvalidLayerError, match="label values"):
        train_workspace(ws, "truth", images=["raw", "truth"], out=tmp_path / "x.pt", config=cfg)
    with pytest.raises(LayerNotFoundError):
        train_workspace(ws, "truth", images=["raw", "dapi"], out=tmp_path / "x.pt", config=cfg)


@pytest.mark.parametrize("arch", ["unet2d", "unet3d", "hybrid"])
def test_every_network_takes_several_channels(arch):
    from voxelwise.deep._nets import build_network

    net = build_network(arch, 3, {"width": 4, "in_channels": 2}).eval()
    shape = (1, 2, 16, 16) if arch == "unet2d" else (1, 2, 4, 16, 16)
    with torch.no_grad():
        out = net(torch.zeros(shape))
        out = out[0] if isinstance(out, tuple) else out
    assert out.shape == (1, 3, *shape[2:])
    with pytest.raises(RuntimeError):
        net(torch.zeros((1, 1, *shape[2:])))


def test_elastic_augmentation_moves_all_channels_with_the_labels():
    from voxelwise.deep._augment import Augment, augment

    rng = np.random.default_rng(0)
    target = np.zeros((24, 24), dtype=np.int64)
    target[6:18, 8:16] = 1
    image = np.stack([target, 1 - target]).astype(np.float32)  # channels mirror the labels
    aug = Augment(flips=True, rot90=True, intensity=0.0, noise=0.0, elastic=1.0)
    out, tgt = augment(image, target, rng, aug)
    assert out.shape == image.shape and tgt.shape == target.shape
    assert not np.array_equal(tgt, target)
    np.testing.assert_array_equal(out[0] > 0.5, tgt == 1)
    np.testing.assert_array_equal(out[1] > 0.5, tgt == 0)
