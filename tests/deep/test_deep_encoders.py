"""ResNet encoders under a U-Net: shapes, loading timm/torchvision weights (local files, the
Hugging Face cache offline), clear errors, frozen-then-unfrozen training, the model file, CLI.

Everything runs offline: the "pretrained" weights are random tensors written in timm's key
format, and the Hugging Face Hub is put in offline mode with an empty cache in tmp_path.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from voxelwise.cli import main  # noqa: E402
from voxelwise.data import synthetic_em  # noqa: E402
from voxelwise.deep import (  # noqa: E402
    EncoderWeightsError,
    PretrainedWeightsError,
    ResNetUNet,
    TrainConfig,
    _encoders,
    _train,
    load_encoder_weights,
    load_model,
    predict_proba,
    train,
)
from voxelwise.deep._config import ENCODER_NAMES  # noqa: E402
from voxelwise.deep._encoders import ENCODERS, ResNetEncoder, set_encoder_frozen  # noqa: E402
from voxelwise.deep._nets import build_network  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def timm_state(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random ResNet checkpoint as timm/torchvision write it: RGB conv1, a 1000-class fc,
    no ``num_batches_tracked`` (as in torchvision's original files)."""
    gen = torch.Generator().manual_seed(seed)
    ref = ResNetEncoder(name, in_channels=3).state_dict()
    state = {}
    for k, v in ref.items():
        if v.ndim == 4:  # convolutions: He-scaled, so activations stay finite
            state[k] = torch.randn(v.shape, generator=gen) * (2 / v[0].numel()) ** 0.5
        elif k.endswith(("weight", "running_var")):
            state[k] = torch.rand(v.shape, generator=gen) + 0.5
        elif not k.endswith("num_batches_tracked"):  # biases and running means
            state[k] = torch.randn(v.shape, generator=gen) * 0.1
    state["fc.weight"] = torch.randn(1000, 512, generator=gen)
    state["fc.bias"] = torch.randn(1000, generator=gen)
    return state


def encoder_params(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.encoder.state_dict().items()}


# --------------------------------------------------------------------------- network
@pytest.mark.parametrize("name", ["resnet18", "resnet34"])
@pytest.mark.parametrize("channels", [1, 2])
def test_resnet_unet_forward_backward_any_size(name, channels):
    net = build_network("unet2d", 3, {"encoder": name, "in_channels": channels})
    assert isinstance(net, ResNetUNet) and net.encoder.conv1.in_channels == channels
    x = torch.randn(2, channels, 40, 36)  # not multiples of 32: padded and cropped back
    y = net(x)
    assert y.shape == (2, 3, 40, 36)
    y.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert net.encoder.conv1.weight.grad.abs().sum() > 0
    assert net.embed(x).shape == (2, 512)


def test_encoders_have_the_torchvision_layout():
    # parameter counts of torchvision's resnet18/resnet34 (with their 1000-class fc layer)
    for name, total in (("resnet18", 11_689_512), ("resnet34", 21_797_672)):
        enc = ResNetEncoder(name, in_channels=3)
        assert sum(p.numel() for p in enc.parameters()) + 512 * 1000 + 1000 == total
    keys = set(ResNetEncoder("resnet34", in_channels=3).state_dict())
    assert {"conv1.weight", "bn1.running_var", "layer1.2.conv2.weight"} <= keys
    assert {"layer2.0.downsample.0.weight", "layer4.0.downsample.1.bias"} <= keys
    assert "layer1.0.downsample.0.weight" not in keys  # no projection at stride 1, 64 -> 64
    assert set(ENCODER_NAMES) == set(ENCODERS)


def test_network_options_are_checked():
    with pytest.raises(ValueError, match=r"Unknown network options \['depth'\]"):
        build_network("unet2d", 2, {"encoder": "resnet18", "depth": 3})
    with pytest.raises(ValueError, match="Expected encoder as one of"):
        build_network("unet2d", 2, {"encoder": "resnet50"})
    with pytest.raises(ValueError, match="decoder_channels as 5"):
        build_network("unet2d", 2, {"encoder": "resnet18", "decoder_channels": [8, 8]})


# --------------------------------------------------------------------------- weights
def test_safetensors_in_timm_format_load_exactly(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    state = timm_state("resnet18")
    path = tmp_path / "model.safetensors"
    st.save_file(state, str(path))
    for channels in (3, 1, 2):
        net = ResNetUNet(2, encoder="resnet18", in_channels=channels)
        assert load_encoder_weights(net, str(path)) == path
        got = net.encoder.state_dict()
        for k, v in state.items():
            if not k.startswith("fc.") and k != "conv1.weight":
                torch.testing.assert_close(got[k], v, rtol=0, atol=0)
        rgb = state["conv1.weight"]
        want = {
            3: rgb,
            1: rgb.sum(1, keepdim=True),  # one channel: the sum over RGB
            2: rgb[:, [0, 1]] * 1.5,  # repeated over the channels, scaled by 3 / channels
        }[channels]
        torch.testing.assert_close(got["conv1.weight"], want, rtol=0, atol=0)


def test_pth_state_dict_loads_without_optional_packages(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    state = timm_state("resnet34", seed=1)
    path = tmp_path / "resnet34.pth"
    torch.save({"state_dict": state, "epoch": 90}, path)  # a wrapped training checkpoint
    net = ResNetUNet(2, encoder="resnet34")
    load_encoder_weights(net, path)
    torch.testing.assert_close(
        net.encoder.layer3[5].bn2.running_mean, state["layer3.5.bn2.running_mean"]
    )
    (tmp_path / "x.safetensors").write_bytes(b"")
    with pytest.raises(PretrainedWeightsError, match=r"voxelwise\[pretrained\]"):
        load_encoder_weights(net, tmp_path / "x.safetensors")


def test_wrong_weights_give_clear_errors(tmp_path):
    net = ResNetUNet(2, encoder="resnet34")
    with pytest.raises(PretrainedWeightsError, match="No encoder weights file"):
        load_encoder_weights(net, tmp_path / "missing.pth")
    state = timm_state("resnet18")
    torch.save(state, tmp_path / "r18.pth")
    with pytest.raises(EncoderWeightsError, match=r"missing keys \(\d+\): layer1\.2\."):
        load_encoder_weights(net, tmp_path / "r18.pth")  # resnet18 weights, resnet34 net
    state = timm_state("resnet34")
    del state["layer2.0.bn1.weight"]
    state["head.weight"] = torch.zeros(3)
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    torch.save(state, tmp_path / "bad.pth")
    before = encoder_params(net)
    with pytest.raises(EncoderWeightsError) as info:
        load_encoder_weights(net, tmp_path / "bad.pth")
    msg = str(info.value)
    assert "missing keys (1): layer2.0.bn1.weight" in msg
    assert "unexpected keys (1): head.weight" in msg
    assert "layer1.0.conv1.weight: (64, 64, 1, 1) (expected (64, 64, 3, 3))" in msg
    for k, v in net.encoder.state_dict().items():  # nothing half-loaded
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(EncoderWeightsError, match="Cannot read"):
        load_encoder_weights(net, tmp_path / "junk.pth")


@pytest.fixture
def hf_offline(tmp_path, monkeypatch):
    """huggingface_hub in offline mode with an empty cache folder under tmp_path."""
    constants = pytest.importorskip("huggingface_hub.constants")
    pytest.importorskip("safetensors")
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # huggingface_hub reads its environment once at import: set its constants too
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_imagenet_offline_and_not_cached_says_how_to_fix(hf_offline):
    net = ResNetUNet(2, encoder="resnet34")
    with pytest.raises(PretrainedWeightsError) as info:
        load_encoder_weights(net, "imagenet")
    msg = str(info.value)
    assert "timm/resnet34.a1_in1k" in msg
    assert "voxelwise[pretrained]" in msg and "encoder_weights='/path/model.safetensors'" in msg
    assert "Hugging Face cache" in msg


def test_imagenet_from_the_cache_offline(hf_offline):
    """A file downloaded earlier (the Hugging Face cache layout) loads with no network."""
    st = pytest.importorskip("safetensors.torch")
    repo, file = _encoders.imagenet_source("resnet18")
    commit = "0123456789abcdef0123456789abcdef01234567"
    folder = hf_offline / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    (folder / "snapshots" / commit).mkdir(parents=True)
    state = timm_state("resnet18", seed=4)
    st.save_file(state, str(folder / "snapshots" / commit / file))
    net = ResNetUNet(2, encoder="resnet18")
    path = load_encoder_weights(net, "imagenet")
    assert path.name == file
    torch.testing.assert_close(net.encoder.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])


def test_imagenet_without_huggingface_hub(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(PretrainedWeightsError, match=r"pip install .*voxelwise\[pretrained\]"):
        load_encoder_weights(ResNetUNet(2, encoder="resnet18"), "imagenet")


# --------------------------------------------------------------------------- configuration
def test_config_checks_encoder_settings():
    cfg = TrainConfig(encoder="resnet34", encoder_weights="imagenet")
    assert cfg.freeze_epochs == 2 and TrainConfig().encoder is None
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="arch='unet2d'"):
        TrainConfig(arch="unet3d", encoder="resnet18")
    with pytest.raises(ValueError, match="Expected encoder as one of"):
        TrainConfig(encoder="vgg16")
    with pytest.raises(ValueError, match=r"Unknown network options \['depth', 'width'\]"):
        TrainConfig(encoder="resnet18", network={"depth": 3, "width": 8, "dropout": 0.2})
    with pytest.raises(ValueError, match="Expected an encoder"):
        TrainConfig(encoder_weights="imagenet")
    with pytest.raises(ValueError, match="freeze_epochs >= 0"):
        TrainConfig(encoder="resnet18", freeze_epochs=-1)
    with pytest.raises(ValueError, match="freeze_epochs as an integer"):
        TrainConfig(encoder="resnet18", freeze_epochs=1.5)  # type: ignore[arg-type]


def test_set_encoder_frozen_keeps_batch_norm_statistics():
    net = ResNetUNet(2, encoder="resnet18").train()
    before = encoder_params(net)
    set_encoder_frozen(net, True)
    assert not any(p.requires_grad for p in net.encoder.parameters())
    assert all(p.requires_grad for p in net.ups.parameters())
    net(torch.randn(2, 1, 32, 32)).mean().backward()
    for k, v in net.encoder.state_dict().items():  # running statistics unchanged
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    assert net.ups[0][0][1].training  # the decoder's batch norm still trains
    set_encoder_frozen(net, False)
    assert all(p.requires_grad for p in net.encoder.parameters()) and net.encoder.bn1.training
    with pytest.raises(ValueError, match="pretrained encoder"):
        set_encoder_frozen(build_network("unet2d", 2, {"depth": 2, "width": 4}), True)


# --------------------------------------------------------------------------- training
TINY = {
    "arch": "unet2d",
    "encoder": "resnet18",
    "network": {"decoder_channels": [32, 16, 8, 8, 4]},
    "patch_size": (32, 32),
    "axes": "z",
    "epochs": 2,
    "steps_per_epoch": 2,
    "batch_size": 2,
    "val_patches": 1,
}


@pytest.fixture(scope="module")
def synthetic():
    vol = synthetic_em((4, 40, 40), rng=3)
    return vol.image, (vol.labels + 1).astype(np.uint8)


def test_train_freezes_then_unfreezes_and_the_model_file_round_trips(
    tmp_path, synthetic, monkeypatch
):
    state = timm_state("resnet18", seed=2)
    weights = tmp_path / "resnet18.pth"
    torch.save(state, weights)
    seen: list[dict[str, torch.Tensor]] = []
    validate = _train._validate

    def record(net, *args, **kwargs):  # the encoder after each epoch
        seen.append(encoder_params(net))
        return validate(net, *args, **kwargs)

    monkeypatch.setattr(_train, "_validate", record)
    cfg = {**TINY, "encoder_weights": str(weights), "freeze_epochs": 1}
    result = train(*synthetic, out=tmp_path / "run", config=cfg, rng=0, device="cpu")
    assert len(seen) >= 2  # two epochs (then the axis scores of the best model)
    for k, v in state.items():  # epoch 1: frozen, weights and BN statistics as loaded
        if not k.startswith("fc."):
            want = v.sum(1, keepdim=True) if k == "conv1.weight" else v
            torch.testing.assert_close(seen[0][k], want, rtol=0, atol=0)
    changed = [k for k in seen[0] if not torch.equal(seen[0][k], seen[1][k])]
    assert "conv1.weight" in changed and "layer4.1.bn2.running_mean" in changed  # epoch 2

    # the model file: architecture by name and options, weights in the state dict
    monkeypatch.setattr(_encoders, "_download", pytest.fail)  # never downloads again
    model = load_model(result.model_path)
    assert isinstance(model.network, ResNetUNet)
    assert model.metadata["network"] == {
        "encoder": "resnet18",
        "decoder_channels": [32, 16, 8, 8, 4],
    }
    assert model.metadata["provenance"]["encoder_weights"] == str(weights)
    assert model.metadata["provenance"]["freeze_epochs"] == 1
    raw = torch.load(result.model_path, weights_only=True)
    for k, v in model.network.state_dict().items():
        torch.testing.assert_close(v, raw["state_dict"][k], rtol=0, atol=0)
    x = torch.rand(1, 1, 40, 40)
    with torch.no_grad():
        again = load_model(result.model_path).network(x)
        torch.testing.assert_close(model.network(x), again)
    probs = predict_proba(result.model_path, synthetic[0], axes="z", device="cpu")
    assert probs.shape == (model.classes, *synthetic[0].shape)
    np.testing.assert_allclose(probs.sum(0), 1.0, rtol=1e-4)

    # fine-tuning the model keeps its encoder network and loads no weights
    seen.clear()
    tuned = train(
        *synthetic,
        out=tmp_path / "tuned.pt",
        config={**TINY, "epochs": 1},
        init_model=result.model_path,
        rng=0,
        device="cpu",
    )
    assert isinstance(load_model(tuned.model_path).network, ResNetUNet)
    assert load_model(tuned.model_path).metadata["provenance"]["freeze_epochs"] == 0


def test_train_without_freezing_updates_the_encoder_at_once(tmp_path, synthetic, monkeypatch):
    state = timm_state("resnet18", seed=3)
    torch.save(state, tmp_path / "w.pth")
    seen: list[dict[str, torch.Tensor]] = []
    validate = _train._validate

    def record(net, *args, **kwargs):
        seen.append(encoder_params(net))
        return validate(net, *args, **kwargs)

    monkeypatch.setattr(_train, "_validate", record)
    cfg = {**TINY, "epochs": 1, "encoder_weights": str(tmp_path / "w.pth"), "freeze_epochs": 0}
    train(*synthetic, out=tmp_path / "run.pt", config=cfg, rng=0, device="cpu")
    assert not torch.equal(seen[0]["layer1.0.conv1.weight"], state["layer1.0.conv1.weight"])


def test_train_with_unreachable_imagenet_fails_before_writing(tmp_path, synthetic, hf_offline):
    cfg = {**TINY, "encoder_weights": "imagenet"}
    with pytest.raises(PretrainedWeightsError, match=r"voxelwise\[pretrained\]"):
        train(*synthetic, out=tmp_path / "run", config=cfg, rng=0, device="cpu")
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- command line
def test_cli_train_with_encoder_options(tmp_path, synthetic, capsys):
    import tifffile

    image, labels = synthetic
    tifffile.imwrite(tmp_path / "img.tif", image, photometric="minisblack")
    tifffile.imwrite(tmp_path / "lab.tif", labels, photometric="minisblack")
    tiny = {k: v for k, v in TINY.items() if k != "encoder"}
    tiny.update(patch_size=[32, 32], epochs=1)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    torch.save(timm_state("resnet18"), tmp_path / "w.pth")
    common = ["-q", "train", "--image", str(tmp_path / "img.tif"), "--labels"]
    common += [str(tmp_path / "lab.tif"), "--config", str(tmp_path / "tiny.yaml")]
    args = [*common, "--encoder", "resnet18", "--encoder-weights", str(tmp_path / "w.pth")]
    args += ["--freeze-epochs", "1", "--device", "cpu", "--seed", "0"]
    code = main([*args, "--out", str(tmp_path / "m.pt")])
    out = capsys.readouterr()
    assert code == 0, out.err
    model = load_model(tmp_path / "m.pt")
    assert model.metadata["network"]["encoder"] == "resnet18"
    assert model.metadata["config"]["freeze_epochs"] == 1
    bad = ["-q", "train", "--image", str(tmp_path / "img.tif"), "--labels"]
    bad += [str(tmp_path / "lab.tif"), "--arch", "unet3d", "--encoder", "resnet18"]
    code = main([*bad, "--out", str(tmp_path / "x.pt")])
    err = capsys.readouterr().err
    assert code == 2 and "arch='unet2d'" in err
