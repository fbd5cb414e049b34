"""Large-scale features computed on the first pyramid level and interpolated back."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from voxelwise import annotate
from voxelwise.data import synthetic_em
from voxelwise.learn import LearnError, Trainer, apply_model, load_model, predict
from voxelwise.learn._multiscale import downsampled, upsample
from voxelwise.learn._sampling import read_points
from voxelwise.workspace import Workspace

FEATURES = ["gaussian:sigma=1.0", "gaussian:sigma=4.0", "hessian_eigenvalues:sigma=4.0"]


def test_upsample_is_exact_for_linear_ramps_and_chunk_invariant():
    z, y, x = np.meshgrid(np.arange(5), np.arange(40), np.arange(36), indexing="ij")
    fine = (0.5 * y - 0.25 * x + z).astype(np.float32)
    coarse = downsampled(da.from_array(fine, chunks=(5, 16, 12)), (1, 2, 2))
    assert coarse.shape == (5, 20, 18)
    up = upsample(coarse, (1, 2, 2), fine.shape, (5, 13, 17)).compute()
    np.testing.assert_allclose(up[:, 1:-1, 1:-1], fine[:, 1:-1, 1:-1], atol=1e-5)
    other = upsample(coarse.rechunk((2, 7, 5)), (1, 2, 2), fine.shape, (5, 40, 36)).compute()
    np.testing.assert_array_equal(other, up)
    odd = upsample(coarse, (1, 2, 2), (5, 39, 35), (5, 20, 20))
    assert odd.shape == (5, 39, 35)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    vol = synthetic_em((4, 128, 128), spacing=(4, 1, 1), rng=2)
    ws = Workspace.create(
        tmp_path_factory.mktemp("ms") / "ms.vw", vol.image, spacing=(4, 1, 1), chunks=(4, 64, 64)
    )
    assert ws.layer("raw").levels > 1
    ws.add_label("c", "cyto", value=1)
    ws.add_label("c", "membrane", value=2)
    ws.add_label("c", "mito", value=3)
    truth = vol.labels.astype(np.uint16) + 1
    gen = np.random.default_rng(0)
    annotate.import_labels(
        ws, np.where(gen.random(truth.shape) < 0.02, truth, 0), name="s", label_set="c"
    )
    return ws, vol, truth


def test_multiscale_features_and_application(ws, tmp_path):
    ws, vol, truth = ws
    full = Trainer(ws, FEATURES, store_features=False)
    coarse = Trainer(ws, FEATURES, store_features=False, multiscale=True)
    assert [e.get("level", 0) for e in coarse.recipe] == [0, 1, 1, 1, 1]
    assert coarse.features[1] == "gaussian_s4.0_l1"
    assert coarse.recipe[1]["params"]["sigma"] == 2.0  # same physical extent, coarser voxels
    arrays = coarse.feature_arrays()
    for a, b in zip(full.feature_arrays()[1:], arrays[1:]):
        a, b = a.compute(), b.compute()
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.98
    # Several interpolated features in one graph keep their own values (distinct task names).
    flat = np.random.default_rng(1).choice(int(np.prod(ws.shape)), 300, replace=False)
    flat.sort()
    rows = read_points(arrays, flat, ws.shape)
    for j, a in enumerate(arrays):
        np.testing.assert_allclose(rows[:, j], a.compute().ravel()[flat], rtol=1e-6)
    model = coarse.train("s", params={"n_estimators": 20})
    predict(ws, model, name="p", confidence=False)
    assert (ws.get("p").compute() == truth).mean() > 0.8
    path = model.save(tmp_path / "ms.npz")
    probs = apply_model(load_model(path), vol.image).compute()
    np.testing.assert_allclose(probs[2], ws.get("p_p_mito").compute(), atol=1e-5)
    with pytest.raises(LearnError, match="store_features=False"):
        Trainer(ws, FEATURES, multiscale=True)
