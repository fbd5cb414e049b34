"""voxelwise.deep: networks, losses, model files, config, tiled prediction and fusion."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from voxelwise.deep import (  # noqa: E402
    DeepModel,
    HybridNet,
    TrainConfig,
    UNet2D,
    UNet3D,
    choose_axes,
    compute_loss,
    fuse_probabilities,
    load_model,
    parse_device,
    pools_for,
    predict,
    predict_proba,
    save_model,
    set_mc_dropout,
)
from voxelwise.errors import (  # noqa: E402
    CorruptFileError,
    FormatNotSupportedError,
    OutputExistsError,
    VoxelwiseWarning,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def _model(classes: int = 2, *, arch: str = "unet2d", patch=(32, 32), axes: str = "z") -> DeepModel:
    options = {"depth": 2, "width": 4, "blocks": 1} if arch == "unet2d" else {"width": 4}
    if arch == "unet3d":
        options = {"pools": [(1, 2, 2), (1, 2, 2)], "width": 4}
    if arch == "hybrid":
        options = {"depth": 2, "width": 4}
    from voxelwise.deep._nets import build_network

    net = build_network(arch, classes, options).eval()
    meta = {
        "arch": arch,
        "classes": classes,
        "network": options,
        "patch_size": list(patch),
        "axes": axes,
        "normalization": {"kind": "percentile", "low": 0.0, "high": 255.0},
        "label_names": [f"c{i}" for i in range(classes)],
        "label_values": [i + 1 for i in range(classes)],
        "val_miou": 0.5,
    }
    return DeepModel(net, meta)


def test_import_deep_does_not_load_torch():
    code = "import sys, voxelwise.deep; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("net", "shape"),
    [
        (UNet2D(3, depth=3, width=4, blocks=2), (2, 1, 37, 50)),
        (UNet3D(3, pools=[(1, 2, 2), (2, 2, 2)], width=4), (1, 1, 6, 20, 28)),
        (HybridNet(3, depth=2, width=4), (1, 1, 3, 24, 20)),
    ],
)
def test_forward_backward_shapes(net, shape):
    x = torch.randn(*shape, requires_grad=True)
    main, aux = net.forward_all(x)
    assert main.shape == (shape[0], 3, *shape[2:])
    if isinstance(net, HybridNet):
        assert aux is not None and aux.shape == main.shape
    else:
        assert aux is None
    target = torch.randint(-1, 3, (shape[0], *shape[2:]))
    loss = compute_loss(main, target, kind="ce_dice")
    if aux is not None:
        loss = loss + 0.33 * compute_loss(aux, target, kind="ce")
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    emb = net.embed(x.detach())
    assert emb.ndim == 2 and emb.shape[0] == shape[0]


def test_pools_for_thick_sections():
    assert pools_for(3, (50.0, 4.6, 4.6), (16, 128, 128)) == [(1, 2, 2)] * 3
    assert pools_for(2, (1.0, 1.0, 1.0), (16, 64, 64)) == [(2, 2, 2)] * 2
    # a thin patch stops pooling z once it would shrink below 4 voxels
    assert [p[0] for p in pools_for(3, None, (8, 64, 64))] == [2, 1, 1]


def test_mc_dropout_varies_only_when_on():
    net = UNet2D(2, depth=2, width=4, blocks=1, dropout=0.5).eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        a, b = net(x), net(x)
        assert torch.equal(a, b)
        set_mc_dropout(net, True)
        c, d = net(x), net(x)
        assert not torch.allclose(c, d)
        set_mc_dropout(net, False)
        assert torch.equal(net(x), a)


@pytest.mark.parametrize("kind", ["ce", "dice", "ce_dice", "edge_ce"])
def test_losses_ignore_unlabelled(kind):
    logits = torch.randn(2, 3, 8, 8)
    target = torch.randint(0, 3, (2, 8, 8))
    masked = target.clone()
    masked[:, :4] = -1
    changed = logits.clone()
    changed[:, :, :4] += 100 * torch.randn(2, 3, 4, 8)  # only unlabelled voxels differ
    a = compute_loss(logits, masked, kind=kind)
    b = compute_loss(changed, masked, kind=kind)
    assert torch.allclose(a, b, atol=1e-5)
    perfect = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float() * 50
    assert compute_loss(perfect, target, kind=kind) < 0.05 < compute_loss(logits, target, kind=kind)
    assert compute_loss(logits, torch.full_like(target, -1), kind=kind) == 0


def test_model_file_round_trip(tmp_path):
    model = _model(3)
    path = save_model(model, tmp_path / "m.pt")
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"voxelwise_model", "metadata", "state_dict"}
    back = load_model(path)
    assert back.metadata == model.metadata
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(back.network(x), model.network(x))


def test_foreign_and_corrupt_model_files(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": torch.zeros(3)}, foreign)
    with pytest.raises(FormatNotSupportedError, match="not a voxelwise model"):
        load_model(foreign)
    path = save_model(_model(), tmp_path / "m.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CorruptFileError, match="damaged"):
        load_model(broken)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CorruptFileError):
        load_model(text)


def test_config_yaml_round_trip_and_validation(tmp_path):
    cfg = TrainConfig(arch="unet3d", patch_size=(8, 64, 64), epochs=3, lr="auto")
    back = TrainConfig.from_yaml(cfg.to_yaml(tmp_path / "c.yaml"))
    assert back == cfg
    assert TrainConfig().patch_size == (256, 256)
    with pytest.raises(ValueError, match="Unknown training settings"):
        TrainConfig.from_dict({"epochz": 3})
    with pytest.raises(ValueError, match="patch_size"):
        TrainConfig(arch="unet2d", patch_size=(8, 64, 64))
    with pytest.raises(ValueError, match="axes"):
        TrainConfig(axes="zq")


def test_cuda_request_without_gpu_warns():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.warns(VoxelwiseWarning, match="no CUDA"):
        assert parse_device("cuda").type == "cpu"
    assert parse_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="device"):
        parse_device("tpu")


def test_fusion_on_constructed_probabilities():
    z = np.zeros((2, 2, 2, 2), np.float32)
    z[0], z[1] = 0.8, 0.2
    y = np.zeros_like(z)
    y[0], y[1] = 0.4, 0.6
    mean = fuse_probabilities([z, y], fusion="mean")
    np.testing.assert_allclose(mean[0], 0.6)
    top = fuse_probabilities([z, y], fusion="max")
    np.testing.assert_allclose(top[0], 0.8 / 1.4, rtol=1e-6)
    np.testing.assert_allclose(top.sum(0), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="fusion"):
        fuse_probabilities([z], fusion="vote")


def test_choose_axes_is_anisotropy_aware():
    model = _model(patch=(64, 64), axes="zyx")
    assert choose_axes("auto", (20, 256, 256), model) == "z"  # XZ/YZ slices only 20 thick
    assert choose_axes("auto", (128, 128, 128), model) == "zyx"
    assert choose_axes("zx", (20, 256, 256), model) == "zx"
    assert choose_axes("auto", (20, 256, 256), _model(arch="unet3d", patch=(4, 32, 32))) == "z"


def _blob_volume(shape=(6, 70, 90)):
    rng = np.random.default_rng(1)
    return (rng.random(shape) * 255).astype(np.uint8)


@pytest.mark.parametrize("arch", ["unet2d", "hybrid"])
def test_tiled_equals_untiled(arch):
    image = _blob_volume()
    if arch == "unet2d":
        small, whole = _model(arch=arch, patch=(32, 32)), _model(arch=arch, patch=(96, 96))
    else:
        small, whole = _model(arch=arch, patch=(6, 32, 32)), _model(arch=arch, patch=(6, 96, 96))
    whole.network.load_state_dict(small.network.state_dict())
    tiled = predict_proba(
        small,
        image,
        axes="z",
        overlap=(0, 16, 16),
        device="cpu",
    )
    full = predict_proba(whole, image, axes="z", device="cpu")
    assert tiled.shape == full.shape == (2, *image.shape)
    np.testing.assert_allclose(tiled.sum(0), 1.0, atol=1e-5)
    # blending differs only near patch borders (zero padding of convolutions)
    assert np.abs(tiled - full).mean() < 0.02
    assert (tiled.argmax(0) == full.argmax(0)).mean() > 0.97


def test_volume_smaller_than_patch_is_padded():
    image = _blob_volume((2, 20, 24))
    probs = predict_proba(_model(patch=(64, 64)), image, device="cpu")
    assert probs.shape == (2, 2, 20, 24)
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("memory_mb", [0, 512])
def test_predict_writes_zarr_outputs(tmp_path, memory_mb):
    import zarr

    image = _blob_volume((12, 36, 40))
    model = _model(3, patch=(32, 32), axes="zyx")
    path = tmp_path / "m.pt"
    save_model(model, path)
    out = predict(
        path,
        image,
        tmp_path / "pred.zarr",
        fusion="mean",
        chunks=(12, 32, 32),
        device="cpu",
        memory_mb=memory_mb,
    )
    group = zarr.open_group(out, mode="r")
    expected = predict_proba(model, image, fusion="mean", device="cpu")
    probs = np.asarray(group["probabilities"][:], dtype=np.float32)
    assert probs.shape == (3, 12, 36, 40) and group["probabilities"].dtype == np.float16
    np.testing.assert_allclose(probs, expected, atol=2e-3)
    labels = group["labels"][:]
    assert labels.dtype == np.uint8 and set(np.unique(labels)) <= {1, 2, 3}
    np.testing.assert_array_equal(labels, expected.argmax(0) + 1)
    conf = np.asarray(group["confidence"][:], dtype=np.float32)
    np.testing.assert_allclose(conf, expected.max(0), atol=2e-3)
    ent = np.asarray(group["entropy"][:], dtype=np.float32)
    assert ent.min() >= 0 and ent.max() <= 1.001
    assert group.attrs["axes"] == "z" and "_work" not in group  # 12 sections: too thin
    with pytest.raises(OutputExistsError):
        predict(path, image, out, device="cpu")
    out8 = predict(
        [path, path],
        image,
        tmp_path / "p8.zarr",
        ensemble=1,
        outputs=("probabilities",),
        probability_dtype="uint8",
        fusion="mean",
        device="cpu",
    )
    p8 = zarr.open_group(out8, mode="r")["probabilities"][:]
    assert p8.dtype == np.uint8
    np.testing.assert_allclose(p8 / 255.0, expected, atol=3 / 255)


def test_tta_and_ensemble_average():
    image = _blob_volume((3, 32, 32))
    a, b = _model(), _model()
    pa = predict_proba(a, image, device="cpu")
    pb = predict_proba(b, image, device="cpu")
    both = predict_proba([a, b], image, device="cpu")
    np.testing.assert_allclose(both, (pa + pb) / 2, atol=1e-5)
    b.metadata["val_miou"] = 0.9
    np.testing.assert_allclose(
        predict_proba([a, b], image, ensemble=1, device="cpu"), pb, atol=1e-6
    )
    tta = predict_proba(a, image, tta=True, device="cpu")
    flipped = predict_proba(a, image[:, ::-1, ::-1].copy(), tta=True, device="cpu")[
        :, :, ::-1, ::-1
    ]
    np.testing.assert_allclose(tta, flipped, atol=1e-4)
