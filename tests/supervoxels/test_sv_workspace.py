"""Supervoxel layers, feature tables and graphs on a workspace; boundary recall on real VNC data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from voxelwise.data import load_vnc, synthetic_em
from voxelwise.errors import CancelledError, LayerExistsError, LayerNotFoundError
from voxelwise.supervoxels import (
    compute_supervoxels,
    region_features,
    slic,
    supervoxel_features,
    supervoxel_graph,
)
from voxelwise.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    vol = synthetic_em((12, 64, 72), spacing=(2, 1, 1), rng=7)
    ws = Workspace.create(tmp_path / "sv.vw", vol.image, chunks=(6, 32, 36), spacing=(8, 4, 4))
    ws.add_layer("cellmask", vol.cells > 0, kind="labels")
    return ws


@pytest.mark.parametrize("method", ["slic", "watershed"])
def test_compute_supervoxels_layer(ws, method):
    calls = []
    info = compute_supervoxels(
        ws, method=method, size=8, progress=lambda d, t: calls.append((d, t))
    )
    assert info.kind == "supervoxels"
    assert info.sources == ("raw",)
    assert info.chunks == ws.chunks
    n = info.params["n_supervoxels"]
    assert info.params["method"] == method
    assert info.params["slab"] == 4  # z step 8 * 4 / 8 = 4 sections, half the in-plane 8
    labels = ws.get("supervoxels").compute()
    assert labels.dtype == np.uint32
    np.testing.assert_array_equal(np.unique(labels), np.arange(1, n + 1))
    assert info.stats["max"] == n
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1]
    assert not list(ws.path.glob(".supervoxels-*"))  # temporary per-chunk ids removed


def test_mask_layer_features_and_graph(ws):
    info = compute_supervoxels(ws, name="sv", size=8, mask="cellmask")
    assert info.sources == ("raw", "cellmask")
    labels = ws.get("sv").compute()
    mask = ws.get("cellmask").compute() > 0
    assert not labels[~mask].any() and labels[mask].all()

    table = supervoxel_features(ws, ["raw"], supervoxels="sv")
    assert len(table) == info.params["n_supervoxels"]
    direct = region_features(labels, {"raw": ws.get("raw").compute()})
    np.testing.assert_allclose(table["raw_mean"], direct["raw_mean"])

    rag = supervoxel_graph(ws, supervoxels="sv", image="raw")
    assert rag.spacing == (8.0, 4.0, 4.0)
    z_faces = np.count_nonzero((labels[1:] != labels[:-1]) & (labels[1:] > 0) & (labels[:-1] > 0))
    y_faces = np.count_nonzero(
        (labels[:, 1:] != labels[:, :-1]) & (labels[:, 1:] > 0) & (labels[:, :-1] > 0)
    )
    x_faces = np.count_nonzero(
        (labels[..., 1:] != labels[..., :-1]) & (labels[..., 1:] > 0) & (labels[..., :-1] > 0)
    )
    assert rag.contact.sum() == z_faces + y_faces + x_faces
    assert rag.area.sum() == pytest.approx(16 * z_faces + 32 * (y_faces + x_faces))


def test_existing_missing_and_cancel(ws):
    compute_supervoxels(ws, size=8)
    with pytest.raises(LayerExistsError, match="overwrite=True"):
        compute_supervoxels(ws, size=8)
    again = compute_supervoxels(ws, size=6, overwrite=True)
    assert again.params["size"] == 6.0
    with pytest.raises(LayerNotFoundError, match="existing layers"):
        compute_supervoxels(ws, source="nope", name="x")
    with pytest.raises(LayerNotFoundError, match="mask layer"):
        compute_supervoxels(ws, name="x", mask="nope")
    with pytest.raises(ValueError, match="method"):
        compute_supervoxels(ws, name="x", method="quickshift")

    def cancel(done, total):
        raise CancelledError("stop")

    with pytest.raises(CancelledError):
        compute_supervoxels(ws, name="x", size=8, progress=cancel)
    assert "x" not in ws
    assert not list(ws.path.glob(".supervoxels-*"))


def boundary_recall(labels: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of in-plane truth boundary voxels with a supervoxel boundary within 1 voxel."""
    plane4 = ndi.generate_binary_structure(2, 1)[None]
    edge = truth & ~ndi.binary_erosion(truth, plane4, border_value=1)
    b = np.zeros(labels.shape, bool)
    dy = labels[:, 1:] != labels[:, :-1]
    dx = labels[:, :, 1:] != labels[:, :, :-1]
    b[:, 1:] |= dy
    b[:, :-1] |= dy
    b[:, :, 1:] |= dx
    b[:, :, :-1] |= dx
    near = ndi.binary_dilation(b, ndi.generate_binary_structure(2, 2)[None])
    return float((near & edge).sum() / edge.sum())


def test_boundary_recall_on_vnc_mitochondria(shared_data):
    image, mito, meta = load_vnc(shared_data, labels="mitochondria")
    crop = (slice(0, 3), slice(256, 768), slice(256, 768))
    image, mito = image[crop].compute(), mito[crop].compute()
    assert mito.sum() > 5000
    labels, n = slic(image, spacing=meta.spacing, chunks=(3, 256, 256), intensity_range=(0, 255))
    out = labels.compute()
    recall = boundary_recall(out, mito)
    zz, yy, xx = np.indices(image.shape)
    grid = boundary_recall(zz * 10**6 + (yy // 10) * 1000 + xx // 10, mito)  # no image
    assert recall > 0.88, recall
    assert recall > grid + 0.15, (recall, grid)
    assert 70 < out.size / n < 130  # about 10 x 10 voxels per section
