"""Network plugins: the example plugin's 3D network named as ``arch``, trained, saved by name and
options, loaded and used by predict; a 2D plugin network predicting slice by slice; bad plugins
(no ndim, wrong logits shape, raising, missing at load) give clear errors."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
zarr = pytest.importorskip("zarr")

from voxelwise import deep, plugins  # noqa: E402
from voxelwise.deep._model import DeepModel, ModelPluginError, save_model  # noqa: E402
from voxelwise.deep._nets import PluginNet, build_network  # noqa: E402

TINYNET = "voxelwise_example_plugin.tinynet"


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture
def nets(tmp_path, monkeypatch):
    """An installed distribution (a bare .dist-info) with a 2D network and broken ones."""
    dist = tmp_path / "nets_pkg-0.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nets-pkg\nVersion: 0.2\n")
    (dist / "entry_points.txt").write_text(
        "[voxelwise.networks]\n"
        "flat = nets_pkg:Flat\n"
        "nondim = nets_pkg:NoDim\n"
        "badshape = nets_pkg:BadShape\n"
        "explode = nets_pkg:Explode\n"
    )
    (tmp_path / "nets_pkg.py").write_text(
        textwrap.dedent(
            '''
            from torch import nn

            class Flat(nn.Module):
                """A per-pixel 2D network."""
                ndim = 2

                def __init__(self, classes: int, *, width: int = 4, in_channels: int = 1):
                    super().__init__()
                    self.body = nn.Sequential(
                        nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(width, classes, 1),
                    )

                def forward(self, x):
                    return self.body(x)

            class NoDim(Flat):
                """Forgets to say whether it is 2D or 3D."""
                ndim = None

            class BadShape(Flat):
                """Returns logits of half the size."""
                def forward(self, x):
                    return self.body(x)[..., ::2, ::2]

            class Explode(Flat):
                """Raises in forward."""
                def forward(self, x):
                    raise RuntimeError("kaboom")
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.refresh()
    yield
    monkeypatch.undo()
    sys.modules.pop("nets_pkg", None)
    plugins.refresh()


def _cubes() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.normal(100, 10, (8, 64, 64)).astype(np.float32)
    labels = np.ones(image.shape, np.uint8)
    for z0, y0, x0 in [(0, 5, 5), (2, 30, 36), (4, 40, 8)]:
        image[z0 : z0 + 4, y0 : y0 + 16, x0 : x0 + 16] += 40
        labels[z0 : z0 + 4, y0 : y0 + 16, x0 : x0 + 16] = 2
    return image, labels


@pytest.mark.slow
def test_plugin_network_trains_saves_loads_predicts(example_plugin, tmp_path):
    image, labels = _cubes()
    cfg = deep.TrainConfig(
        arch=TINYNET,
        network={"width": 4},
        epochs=4,
        steps_per_epoch=10,
        batch_size=4,
        val_patches=2,
        amp=False,
        lr=3e-2,
        loss="ce",
        class_balance=True,
    )
    assert cfg.patch_size == (4, 32, 32)  # the plugin's declared default
    result = deep.train(image, labels, out=tmp_path / "run", config=cfg, device="cpu", rng=0)
    model = deep.load_model(result.model_path)
    assert isinstance(model.network, PluginNet) and model.ndim == 3
    meta = model.metadata
    assert meta["arch"] == TINYNET and meta["network"] == {"width": 4}
    assert meta["plugin"] == {"name": TINYNET, "distribution": "voxelwise-example-plugin 0.1.0"}
    payload = torch.load(result.model_path, weights_only=True)  # tensors and JSON, no code
    assert all(k.startswith("inner.") for k in payload["state_dict"])
    out = deep.predict(result.model_path, image, tmp_path / "pred.zarr", device="cpu")
    group = zarr.open_group(str(out), mode="r")
    seg = np.asarray(group["labels"])
    assert seg.shape == image.shape and set(np.unique(seg)) <= {1, 2}
    iou = ((seg == 2) & (labels == 2)).sum() / ((seg == 2) | (labels == 2)).sum()
    assert iou > 0.3  # it learned the bright cubes (about 0.5 after 40 steps)
    emb = model.network.embed(torch.zeros(2, 1, 4, 32, 32))
    assert emb.shape == (2, 8)  # the plugin's embed(x): 2 * width bottleneck channels


def test_model_without_its_plugin_names_the_package(example_plugin, tmp_path, monkeypatch):
    net = build_network(TINYNET, 2, {"width": 2})
    meta = {"arch": TINYNET, "classes": 2, "network": {"width": 2}}
    path = save_model(DeepModel(net, meta), tmp_path / "m.pt")
    assert deep.load_model(path).network.inner.head.out_channels == 2
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(example_plugin)])
    for name in [m for m in sys.modules if m.startswith("voxelwise_example_plugin")]:
        monkeypatch.delitem(sys.modules, name)
    plugins.refresh()
    with pytest.raises(ModelPluginError) as info:
        deep.load_model(path)
    message = str(info.value)
    assert f"network plugin {TINYNET!r}" in message
    assert "trained with voxelwise-example-plugin 0.1.0" in message
    assert "pip install voxelwise-example-plugin" in message
    assert isinstance(info.value, plugins.PluginError)


def test_2d_plugin_network_config_and_predict(nets, tmp_path):
    cfg = deep.TrainConfig(arch="nets_pkg.flat", axes="zyx")
    assert cfg.patch_size == (256, 256)  # 2D default: the plugin's ndim decides
    with pytest.raises(ValueError, match="patch_size with 2 values"):
        deep.TrainConfig(arch="nets_pkg.flat", patch_size=(4, 32, 32))
    net = build_network("nets_pkg.flat", 3, {"width": 2})
    assert net.ndim == 2 and net.forward(torch.zeros(2, 1, 9, 7)).shape == (2, 3, 9, 7)
    meta = {
        "arch": "nets_pkg.flat",
        "classes": 3,
        "network": {"width": 2},
        "patch_size": [32, 32],
        "axes": "z",
        "normalization": {"kind": "meanstd", "mean": 0.0, "std": 1.0},
        "label_names": ["a", "b", "c"],
        "label_values": [1, 2, 3],
    }
    path = save_model(DeepModel(net, meta), tmp_path / "flat.pt")
    image = np.random.default_rng(2).normal(0, 1, (3, 32, 32)).astype(np.float32)
    out = deep.predict(path, image, tmp_path / "p.zarr", device="cpu", outputs=("labels",))
    seg = np.asarray(zarr.open_group(str(out), mode="r")["labels"])
    with torch.no_grad():  # each z slice through the network is the whole prediction
        logits = net.eval()(torch.from_numpy(image[:, None]))
    np.testing.assert_array_equal(seg, logits.argmax(1).numpy() + 1)


def test_bad_plugin_networks(nets, example_plugin):
    with pytest.raises(plugins.PluginError, match=r"declares ndim=None; it must set ndim = 2"):
        deep.TrainConfig(arch="nets_pkg.nondim")
    with pytest.raises(plugins.PluginNotFoundError, match=r"No network plugin named .*nets_pkg"):
        deep.TrainConfig(arch="nets_pkg.nope")
    with pytest.raises(ValueError, match="or a plugin network"):
        deep.TrainConfig(arch="unet4d")
    with pytest.raises(ValueError, match="axes='z' for 3D networks"):
        deep.TrainConfig(arch=TINYNET, axes="zyx")
    x = torch.zeros(1, 1, 16, 16)
    with pytest.raises(
        plugins.PluginError, match=r"logits of shape \(1, 2, 8, 8\).*\(1, 2, 16, 16\)"
    ):
        build_network("nets_pkg.badshape", 2)(x)
    with pytest.raises(plugins.PluginError, match=r"raised in forward .*RuntimeError: kaboom"):
        build_network("nets_pkg.explode", 2)(x)
    with pytest.raises(plugins.PluginError, match=r"failed to build .*width >= 1"):
        build_network(TINYNET, 2, {"width": 0})
    with pytest.raises(plugins.PluginParameterError, match=r"has no parameter 'depth'"):
        build_network(TINYNET, 2, {"depth": 3})
    with pytest.raises(plugins.PluginError, match="no embed"):
        build_network("nets_pkg.flat", 2).embed(x)
