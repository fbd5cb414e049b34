"""Several image layers on one grid: adding them from files, shape and voxel-size checks,
resampling onto the grid, and features / supervoxels from any image layer."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from voxelwise.cli._main import main
from voxelwise.filters import compute_features
from voxelwise.io import write_volume
from voxelwise.supervoxels import compute_supervoxels
from voxelwise.workspace import (
    InvalidLayerError,
    Workspace,
    add_image,
    image_layers,
    resample_to_grid,
)

SHAPE = (12, 40, 36)


@pytest.fixture
def ws(tmp_path):
    image = np.random.default_rng(0).random(SHAPE).astype(np.float32)
    return Workspace.create(tmp_path / "ws.vw", image, spacing=(2.0, 1.0, 1.0), chunks=(5, 16, 16))


def test_add_image_from_file(ws, tmp_path):
    fluo = np.random.default_rng(1).integers(0, 4000, SHAPE).astype(np.uint16)
    path = write_volume(fluo, tmp_path / "fluo.tif", spacing=(2.0, 1.0, 1.0))
    info = add_image(ws, "fluo", path)
    assert info.kind == "image" and info.dtype == "uint16"
    assert info.levels == ws.layer("raw").levels  # a pyramid like raw's, for viewing
    assert info.params["file"] == str(path) and info.params["resampled"] is False
    assert image_layers(ws) == ["raw", "fluo"]
    np.testing.assert_array_equal(ws.get("fluo").compute(), fluo)


def test_add_image_roi_and_array(ws):
    big = np.random.default_rng(2).random((20, 50, 50)).astype(np.float32)
    add_image(ws, "xray2", big, roi="3:15,5:45,7:43")
    np.testing.assert_array_equal(ws.get("xray2").compute(), big[3:15, 5:45, 7:43])


def test_shape_mismatch_names_both_shapes(ws):
    with pytest.raises(InvalidLayerError, match=r"shape \(12, 40, 30\).*shape \(12, 40, 36\)"):
        add_image(ws, "fluo", np.zeros((12, 40, 30), np.float32))
    assert "fluo" not in ws


def test_other_voxel_size_needs_resample(ws, tmp_path):
    coarse = np.random.default_rng(3).random((6, 20, 18)).astype(np.float32)
    path = write_volume(coarse, tmp_path / "coarse.tif", spacing=(4.0, 2.0, 2.0))
    with pytest.raises(InvalidLayerError, match=r"voxel size \(4, 2, 2\).*\(2, 1, 1\).*resample"):
        add_image(ws, "fluo", path)
    info = add_image(ws, "fluo", path, resample=True)
    assert info.params["resampled"] is True and info.dtype == "float32"
    got = ws.get("fluo").compute()
    assert got.shape == SHAPE
    # the chunked resampling equals one affine transform of the whole volume
    f = np.array([0.5, 0.5, 0.5])
    expected = ndimage.affine_transform(
        coarse, f, offset=0.5 * f - 0.5, output_shape=SHAPE, order=1, mode="nearest"
    )
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # and voxel centres line up: every second voxel (shifted by half) is near the source value
    assert abs(float(got.mean()) - float(coarse.mean())) < 0.02


def test_resampled_ramp_is_exact_inside():
    import dask.array as da

    z, y, x = np.meshgrid(np.arange(8), np.arange(10), np.arange(12), indexing="ij")
    ramp = (z * 3.0 + y * 2.0 + x).astype(np.float32)
    out = resample_to_grid(
        da.from_array(ramp, chunks=(3, 4, 5)),
        (2.0, 2.0, 2.0),
        shape=(16, 20, 24),
        grid_spacing=(1.0, 1.0, 1.0),
        chunks=(5, 7, 6),
    ).compute()
    zz, yy, xx = np.meshgrid(
        (np.arange(16) + 0.5) / 2 - 0.5,
        (np.arange(20) + 0.5) / 2 - 0.5,
        (np.arange(24) + 0.5) / 2 - 0.5,
        indexing="ij",
    )
    expected = zz * 3 + yy * 2 + xx
    inner = (slice(1, -1),) * 3
    np.testing.assert_allclose(out[inner], expected[inner], atol=1e-4)


def test_resample_field_of_view_mismatch(ws):
    with pytest.raises(InvalidLayerError, match=r"covers .* covers"):
        add_image(ws, "fluo", np.zeros((6, 10, 18), np.float32), spacing=(4, 2, 2), resample=True)


def test_features_and_supervoxels_from_second_image(ws):
    fluo = np.random.default_rng(4).random(SHAPE).astype(np.float32)
    add_image(ws, "fluo", fluo)
    names = compute_features(
        ws, {"filter": "gaussian", "params": {"sigma": 1.0}, "name": "fg"}, source="fluo"
    )
    assert names == ["fg"] and ws.layer("fg").sources == ("fluo",)
    from voxelwise.filters import gaussian

    expected = gaussian(fluo, 1.0, spacing=(2.0, 1.0, 1.0))
    np.testing.assert_allclose(ws.get("fg").compute(), expected, atol=1e-5)
    compute_supervoxels(ws, size=6, source="fluo", name="sv_fluo")
    assert ws.layer("sv_fluo").kind == "supervoxels"


def test_cli_add_image(ws, tmp_path, capsys):
    coarse = np.random.default_rng(5).random((6, 20, 18)).astype(np.float32)
    path = write_volume(coarse, tmp_path / "c.tif", spacing=(4.0, 2.0, 2.0))
    assert main(["-q", "workspace", "add-image", str(ws.path), "fluo", str(path)]) == 2
    err = capsys.readouterr().err
    assert "voxel size (4, 2, 2)" in err and "--resample" in err
    assert (
        main(["-q", "workspace", "add-image", str(ws.path), "fluo", str(path), "--resample"]) == 0
    )
    assert "added image layer 'fluo' (resampled)" in capsys.readouterr().out
    assert Workspace.open(ws.path).layer("fluo").kind == "image"
