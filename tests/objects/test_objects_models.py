"""Object classifiers: the CNNs (2D, 3D, minimal, deep), the forest, model files, prediction."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from voxelwise.errors import CorruptFileError, FormatNotSupportedError  # noqa: E402
from voxelwise.objects import (  # noqa: E402
    DeepNet,
    MinimalNet,
    ModelNotFoundError,
    ObjectLabelsError,
    ObjectPatches,
    ObjectsError,
    classify_objects,
    extract_patches,
    feature_matrix,
    load_object_model,
    object_table,
    plan_patches,
    train_cnn,
    train_forest,
)
from voxelwise.objects._augment import augment_patches  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def synthetic_objects(seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Balls and rods of random size and orientation, equally bright, in noise (32 objects)."""
    rng = np.random.default_rng(seed)
    shape = (16, 128, 128)
    image = rng.normal(60, 12, shape)
    labels = np.zeros(shape, np.uint16)
    classes = {}
    k = 0
    for zc in (4, 12):
        for yc in range(16, 128, 32):
            for xc in range(16, 128, 32):
                k += 1
                zz, yy, xx = np.ogrid[zc - 3 : zc + 4, yc - 15 : yc + 16, xc - 15 : xc + 16]
                dz, dy, dx = zz - zc, yy - yc, xx - xc
                if rng.random() < 0.5:
                    r = rng.uniform(4.5, 7.0)
                    mask = (2 * dz) ** 2 + dy**2 + dx**2 <= r**2
                    classes[k] = "ball"
                else:
                    t = rng.uniform(0, np.pi)
                    along = dy * np.cos(t) + dx * np.sin(t)
                    across = -dy * np.sin(t) + dx * np.cos(t)
                    length, width = rng.uniform(18, 26), rng.uniform(2.0, 3.0)
                    mask = (
                        (np.abs(along) <= length / 2) & (np.abs(across) <= width) & (abs(dz) <= 2)
                    )
                    classes[k] = "rod"
                region = labels[zc - 3 : zc + 4, yc - 15 : yc + 16, xc - 15 : xc + 16]
                region[mask] = k
                image[zc - 3 : zc + 4, yc - 15 : yc + 16, xc - 15 : xc + 16][mask] += 110
    return np.clip(image, 0, 255).astype(np.uint8), labels, classes


@pytest.fixture(scope="module")
def data():
    image, labels, classes = synthetic_objects()
    table = object_table(labels, image, surface=True)
    ids = np.asarray(table["id"])
    y = np.array([classes[int(i)] for i in ids])
    return image, labels, table, ids, y


def test_augmentation_moves_image_and_mask_together():
    rng = np.random.default_rng(0)
    x = np.zeros((6, 2, 12, 12), np.float32)
    x[:, 0, 2:5, 7:11] = 1.0
    x[:, 1, 2:5, 7:11] = 1.0
    out = augment_patches(x, rng, intensity=0.0, noise=0.0)
    for a in out:
        np.testing.assert_array_equal(a[0] > 0.5, a[1] > 0.5)
    assert len({a[1].tobytes() for a in out}) > 1  # geometry changed
    x3 = np.zeros((4, 2, 5, 12, 12), np.float32)
    x3[:, :, 0, 2:5, 7:11] = 1.0
    out3 = augment_patches(x3, rng, intensity=1.0, noise=0.0)
    for a in out3:
        assert (a[1] > 0.5).sum() == 12
        assert np.isclose(a[1].sum(), 12)  # the mask is never jittered


@pytest.mark.parametrize(
    ("cls", "ndim", "shape"), [(MinimalNet, 2, (37, 29)), (DeepNet, 3, (5, 24, 24))]
)
def test_networks_take_any_patch_size_and_embed(cls, ndim, shape):
    net = cls(ndim, 2, 3, width=4)
    x = torch.zeros((2, 2, *shape))
    assert net(x).shape == (2, 3)
    assert net.embed(x).shape[0] == 2


@pytest.mark.slow
def test_cnn_learns_shapes_from_16_objects(data, tmp_path):
    image, labels, table, ids, y = data
    plan = plan_patches(table)
    patches = extract_patches(image, labels, plan, table=table)
    train = np.arange(16)
    sub = ObjectPatches(patches.ids[train], patches.patches[train], plan, patches.origins[train])
    model = train_cnn(sub, y[train].tolist(), epochs=15, rng=0, device="cpu")
    assert model.class_names == ["ball", "rod"]
    assert model.values == [1, 2]
    assert model.metadata["training"]["per_class"] == {
        c: int((y[train] == c).sum()) for c in ("ball", "rod")
    }
    proba = model.predict_proba(patches.patches[16:])
    assert proba.shape == (16, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    accuracy = (np.asarray(model.class_names)[proba.argmax(1)] == y[16:]).mean()
    assert accuracy >= 0.9

    path = model.save(tmp_path / "m.pt")
    again = load_object_model(path)
    np.testing.assert_allclose(again.predict_proba(patches.patches[16:]), proba, atol=1e-5)
    assert again.embed(patches).shape == (32, 64)

    table_out = classify_objects(again, image, labels, table=table, ids=ids[16:])
    assert table_out.names[:4] == ("id", "class", "class_name", "confidence")
    assert (table_out["class_name"] == np.asarray(model.class_names)[proba.argmax(1)]).all()
    np.testing.assert_allclose(table_out["confidence"], proba.max(1), atol=1e-5)

    with pytest.raises(ObjectsError, match="shape"):
        model.predict_proba(patches.patches[:, :, :10])
    emb = model.embed_images(patches.patches[:, :1])
    assert emb.shape == (32, 64)


def test_3d_deep_cnn_trains_and_predicts(data):
    image, labels, table, ids, y = data
    plan = plan_patches(table, ndim=3, max_input=16)
    patches = extract_patches(image, labels, plan, table=table, ids=ids[:8])
    model = train_cnn(patches, y[:8].tolist(), arch="deep", width=4, epochs=1, rng=0, device="cpu")
    proba = model.predict_proba(patches)
    assert proba.shape == (8, 2)
    assert model.metadata["network"]["ndim"] == 3


def test_training_needs_two_classes_and_matching_labels(data):
    image, labels, table, ids, _y = data
    plan = plan_patches(table)
    patches = extract_patches(image, labels, plan, table=table, ids=ids[:4])
    with pytest.raises(ObjectLabelsError, match="at least 2 classes"):
        train_cnn(patches, ["ball"] * 4, epochs=1, device="cpu")
    with pytest.raises(ObjectLabelsError, match="one per patch"):
        train_cnn(patches, ["ball", "rod"], epochs=1, device="cpu")
    with pytest.raises(ObjectsError, match="arch"):
        train_cnn(patches, ["ball", "rod"] * 2, arch="resnet", device="cpu")


def test_forest_on_measurements(data, tmp_path):
    image, labels, table, ids, y = data
    forest = train_forest(table, y[:16].tolist(), ids=ids[:16], rng=0)
    result = classify_objects(forest, image, labels, table=table, ids=ids[16:])
    assert (result["class_name"] == y[16:]).mean() >= 0.9
    path = forest.save(tmp_path / "forest")
    assert path.suffix == ".npz"
    again = load_object_model(path)
    np.testing.assert_array_equal(again.predict_proba(table), forest.predict_proba(table))
    assert again.summary()["features"] == forest.features
    x = feature_matrix(table, ["elongation", "volume"])
    assert x.shape == (32, 2)
    shapes_only = object_table(labels)
    with pytest.raises(ObjectsError, match="lacks"):
        train_forest(shapes_only, y.tolist())


def test_small_objects_are_not_classified(data):
    image, labels, table, _ids, y = data
    forest = train_forest(table, y.tolist(), rng=0)
    result = classify_objects(forest, image, labels, table=table, min_size=300)
    small = np.asarray(table["volume_voxels"]) < 300
    assert small.any()
    assert (result["class"][small] == 0).all()
    assert np.isnan(result["confidence"][small]).all()
    assert (result["class_name"][~small] != "").all()


def test_model_files_are_checked(tmp_path):
    with pytest.raises(ModelNotFoundError, match="No object model"):
        load_object_model(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(CorruptFileError):
        load_object_model(bad)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(FormatNotSupportedError, match="not a voxelwise object model"):
        load_object_model(other)
    npz = tmp_path / "x.npz"
    np.savez(npz, a=np.zeros(2))
    with pytest.raises(CorruptFileError):
        load_object_model(npz)


def test_import_loads_no_torch():
    code = (
        "import sys, voxelwise.objects as o; o.ObjectForest; o.classify_objects; "
        "o.train_objects; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
