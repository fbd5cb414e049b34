"""Streaming prediction: slabs, out-of-core multi-axis fusion, failure safety, batch sizing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


from voxelwise.deep import DeepModel, predict, predict_proba, save_model  # noqa: E402
from voxelwise.deep._nets import build_network  # noqa: E402
from voxelwise.deep._tiles import _run_batches, auto_batch_size, plan_slabs  # noqa: E402
from voxelwise.errors import CancelledError, OutputExistsError, VoxelwiseError  # noqa: E402


def _model(arch: str = "unet2d", patch=(32, 32), classes: int = 2) -> DeepModel:
    options = (
        {"depth": 2, "width": 4, "blocks": 1} if arch == "unet2d" else {"depth": 2, "width": 4}
    )
    torch.manual_seed(3)
    net = build_network(arch, classes, options).eval()
    meta = {
        "arch": arch,
        "classes": classes,
        "network": options,
        "patch_size": list(patch),
        "axes": "zyx",
        "normalization": {"kind": "percentile", "low": 0.0, "high": 255.0},
        "label_names": [f"c{i}" for i in range(classes)],
        "label_values": list(range(1, classes + 1)),
    }
    return DeepModel(net, meta)


def _image(shape) -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.random(shape) * 255).astype(np.uint8)


@pytest.mark.parametrize(("arch", "patch"), [("unet2d", (32, 32)), ("hybrid", (4, 32, 32))])
def test_thin_slabs_equal_one_slab(arch, patch):
    image = _image((11, 40, 44))
    model = _model(arch, patch)
    thin = plan_slabs(model, image.shape, overlap=None, memory_mb=0.02)
    assert len(thin.slabs) > 2  # the tiny budget really splits the volume
    one = predict_proba(model, image, axes="z", device="cpu")
    import dask.array as da

    from voxelwise.deep._predict import _predict_members

    def sink(k, m, a, shape, plan):
        return np.zeros((m.classes, *shape), dtype=np.float32)

    (((_, streamed),),) = _predict_members(
        [model],
        da.from_array(image),
        "z",
        sink,
        device=torch.device("cpu"),
        tta=False,
        overlap=None,
        batch_size=3,
        memory_mb=0.02,
        progress=None,
    )
    np.testing.assert_allclose(streamed, one, atol=1e-5)


@pytest.mark.slow
def test_out_of_core_multi_axis_equals_in_memory(tmp_path):
    import zarr

    image = _image((36, 40, 44))
    model = _model()
    path = save_model(model, tmp_path / "m.pt")
    seen = []
    out = predict(
        path,
        image,
        tmp_path / "p.zarr",
        axes="zyx",
        chunks=(16, 16, 32),
        memory_mb=0.05,  # per-axis results in float16 zarr arrays, slabs of a few planes
        device="cpu",
        progress=lambda done, total: seen.append((done, total)),
    )
    expected = predict_proba(model, image, axes="zyx", device="cpu")
    group = zarr.open_group(out, mode="r")
    probs = np.asarray(group["probabilities"][:], dtype=np.float32)
    np.testing.assert_allclose(probs, expected, atol=3e-3)
    agree = (group["labels"][:] == expected.argmax(0) + 1).mean()
    assert agree > 0.995  # float16 intermediates may flip exact ties only
    assert group.attrs["axes"] == "zyx" and "_work" not in group
    assert seen[-1][0] == seen[-1][1] and all(a <= b for (a, _), (b, _) in itertools.pairwise(seen))
    assert not list(tmp_path.glob(".p.zarr.partial-*"))


def test_failed_prediction_leaves_no_partial_output_and_keeps_the_old_one(tmp_path):
    import zarr

    image = _image((4, 32, 32))
    model = _model()
    out = predict(model, image, tmp_path / "p.zarr", axes="z", device="cpu")
    before = zarr.open_group(out, mode="r")["labels"][:]

    def cancel(done, total):
        raise CancelledError("stopped by the user")

    with pytest.raises(CancelledError):
        predict(model, image, out, axes="z", device="cpu", overwrite=True, progress=cancel)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.zarr"]
    np.testing.assert_array_equal(zarr.open_group(out, mode="r")["labels"][:], before)
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        predict(model, image, out, axes="z", device="cpu")


def test_tta_is_rotation_invariant():
    image = _image((2, 32, 32))
    model = _model()
    tta = predict_proba(model, image, tta=True, axes="z", device="cpu")
    rotated = np.rot90(image, 1, axes=(1, 2)).copy()
    back = np.rot90(predict_proba(model, rotated, tta=True, axes="z", device="cpu"), -1, (2, 3))
    np.testing.assert_allclose(tta, back, atol=1e-4)
    plain = predict_proba(model, image, axes="z", device="cpu")
    assert np.abs(plain - tta).max() > 1e-4  # an untrained net is not rotation invariant


def test_batch_size_from_free_memory_and_halving_on_out_of_memory():
    model = _model()
    assert 1 <= auto_batch_size(model, torch.device("cpu")) <= 8
    calls = []

    def run(batch):
        calls.append(len(batch))
        if len(batch) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return batch[:, None].astype(np.float32)

    blocks = np.arange(7 * 4, dtype=np.float32).reshape(7, 2, 2)
    size = [8]
    out = _run_batches(run, blocks, size)
    np.testing.assert_array_equal(out[:, 0], blocks)
    assert size == [2] and calls[:3] == [7, 4, 2]

    def never(batch):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(VoxelwiseError, match="single patch"):
        _run_batches(never, blocks, [1])
