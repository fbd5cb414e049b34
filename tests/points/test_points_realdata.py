"""Points on real data: VNC mitochondria from their centroids, rasterised then refined."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from voxelwise.analysis import measure
from voxelwise.cli import main
from voxelwise.data import load_vnc
from voxelwise.points import Points, ellipsoids, paint, refine_points, save_points
from voxelwise.workspace import Workspace


@pytest.fixture(scope="module")
def mito(shared_data):
    image, mask, meta = load_vnc(shared_data, labels="mitochondria")
    image = image[:, :384, :384].compute()
    truth, _ = ndimage.label(mask[:, :384, :384].compute())
    sizes = np.bincount(truth.ravel())
    truth[sizes[truth] < 200] = 0
    table = measure(truth, spacing=meta.spacing, surface=False)
    diameters = (6 * np.asarray(table["volume"]) / np.pi) ** (1 / 3)
    zyx = np.stack([table[f"centroid_{a}"] for a in "zyx"], axis=1)
    pts = Points.from_arrays(zyx, np.ones(len(table)), sizes=diameters)
    return image, truth, pts, np.asarray(meta.spacing)


def _iou(a, b):
    return ((a > 0) & (b > 0)).sum() / ((a > 0) | (b > 0)).sum()


@pytest.mark.slow
def test_refined_ellipsoids_match_real_mitochondria_better(mito):
    image, truth, pts, spacing = mito
    assert len(pts) >= 5
    raster = paint(ellipsoids(pts, spacing=spacing), truth.shape).compute()
    feature = ndimage.gaussian_filter(image.astype(np.float32), (0.2, 2, 2))
    refined = refine_points(pts, feature, spacing=spacing, chunks=(20, 128, 128)).compute()
    before, after = _iou(raster, truth), _iou(refined, truth)
    assert before > 0.25
    assert after > before + 0.03


@pytest.mark.slow
def test_cli_rasterize_and_refine(mito, tmp_path, capsys):
    image, truth, pts, spacing = mito
    ws = Workspace.create(tmp_path / "m.vw", image, spacing=spacing, chunks=(20, 192, 192))
    save_points(ws, "mito", pts)
    w = str(ws.path)
    assert main(["-q", "points", "rasterize", w, "mito"]) == 0
    assert (
        main(["-q", "points", "rasterize", w, "mito", "--refine", "chan_vese", "--layer-name", "r"])
        == 0
    )
    out = capsys.readouterr().out
    assert "'mito_objects'" in out and "'r'" in out
    assert _iou(ws.get("r").compute(), truth) > _iou(ws.get("mito_objects").compute(), truth)
    assert (
        main(["-q", "points", "rasterize", w, "mito", "--size", "300,200", "--layer-name", "x"])
        == 2
    )
    assert "one diameter or three" in capsys.readouterr().err
