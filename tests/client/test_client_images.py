"""Multimodal workspaces through the client and a real server: add an image layer from a file
under the data root, train a network on two image layers as channels, predict with it."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from voxelwise.client import ConflictError, InvalidRequestError, NotFoundError


@pytest.fixture(scope="module")
def multi(server, volume):
    """Workspace 'multi' (the synthetic EM as raw, its ground truth as annotation layer
    'truth') with a second modality 'fluo' added by the client (bright on class 2)."""
    from voxelwise.client import Client

    rng = np.random.default_rng(5)
    fluo = ((volume.labels == 2) * 150 + rng.normal(40, 8, volume.labels.shape)).clip(0, 255)
    tifffile.imwrite(server.data_root / "fluo.tif", fluo.astype(np.uint8))
    tifffile.imwrite(server.data_root / "fluo_crop.tif", fluo[:, :, :50].astype(np.uint8))
    with Client(server.url, server.token) as c:
        c.create_workspace("multi", "em.tif", chunks=[8, 32, 32]).wait(timeout=120)
        c.import_labels("multi", "truth.tif", "truth", label_set="truth", add_missing=True).wait(
            timeout=120
        )
        result = c.add_image("multi", "fluo", "fluo.tif").wait(timeout=120)
        assert result == {
            "layer": "fluo",
            "path": "fluo.tif",
            "shape": [16, 64, 64],
            "dtype": "uint8",
            "resampled": False,
        }
    return fluo.astype(np.uint8)


def test_add_image_through_the_client(client, multi):
    assert client.image_layers("multi") == ["raw", "fluo"]
    info = client.layer("multi", "fluo")
    assert info["kind"] == "image" and info["shape"] == [16, 64, 64]
    np.testing.assert_array_equal(client.get("multi", "fluo").compute(), multi)


def test_add_image_errors(client, multi):
    with pytest.raises(InvalidRequestError, match=r"\(16, 64, 50\).*\(16, 64, 64\)"):
        client.add_image("multi", "crop", "fluo_crop.tif")
    with pytest.raises(InvalidRequestError, match="refused"):
        client.add_image("multi", "out", "../fluo.tif")
    with pytest.raises(InvalidRequestError, match="refused"):
        client.add_image("multi", "out", "/etc/hostname")
    with pytest.raises(NotFoundError):
        client.add_image("multi", "gone", "no_such.tif")
    with pytest.raises(ConflictError, match="overwrite"):
        client.add_image("multi", "fluo", "fluo.tif")
    with pytest.raises(NotFoundError, match="nope"):
        client.deep_train("multi", annotations="truth", images=["raw", "nope"])
    with pytest.raises(InvalidRequestError, match="label"):
        client.deep_train("multi", annotations="truth", images=["raw", "truth"])
    assert client.image_layers("multi") == ["raw", "fluo"]


@pytest.mark.slow
def test_deep_train_and_predict_on_two_channels(client, multi, server):
    pytest.importorskip("torch")
    from voxelwise.deep import load_model

    config = {
        "arch": "unet2d",
        "network": {"depth": 2, "width": 4, "blocks": 1},
        "patch_size": [32, 32],
        "epochs": 1,
        "steps_per_epoch": 2,
        "batch_size": 2,
        "val_patches": 2,
    }
    job = client.deep_train(
        "multi",
        annotations="truth",
        images=["raw", "fluo"],
        model="mm",
        config=config,
        device="cpu",
    )
    result = job.wait(timeout=180)
    assert result["model"] == "mm" and result["images"] == ["raw", "fluo"]
    path = server.data_root / "workspaces" / "multi.vw" / "models" / "mm" / "model.pt"
    model = load_model(path)
    assert model.channels == 2 and model.channel_names == ["raw", "fluo"]

    with pytest.raises(InvalidRequestError, match="2 input channel"):
        client.deep_predict("multi", model="mm", images=["fluo"])
    result = client.deep_predict("multi", model="mm", name="mmseg", device="cpu").wait(timeout=180)
    assert result["images"] == ["raw", "fluo"] and result["layers"][0] == "mmseg"
    info = client.layer("multi", "mmseg")
    assert info["kind"] == "prediction" and info["sources"] == ["raw", "fluo"]
    assert info["shape"] == [16, 64, 64] and info["label_set"] == "truth"
    values = set(np.unique(client.get("multi", "mmseg").compute()).tolist())
    assert values and values <= {1, 2, 3}
