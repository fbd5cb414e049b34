"""Mitochondria from scribbles on a crop of the real VNC ssTEM stack: IoU above a floor."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from voxelwise import annotate, learn
from voxelwise.data import load_vnc
from voxelwise.supervoxels import compute_supervoxels
from voxelwise.workspace import Workspace

CROP = (slice(0, 6), slice(256, 640), slice(256, 640))
FEATURES = [
    "gaussian:sigma=1",
    "gaussian:sigma=4",
    "gaussian:sigma=8",
    "gradient_magnitude:sigma=2",
    "hessian_eigenvalues:sigma=2",
    "hessian_eigenvalues:sigma=4",
]


def strokes(mask: np.ndarray, sections: range) -> np.ndarray:
    """Skeleton strokes inside every object and a grid of short background strokes."""
    from skimage.morphology import skeletonize

    out = np.zeros(mask.shape, np.uint8)
    for z in sections:
        inner = ndi.binary_erosion(mask[z], iterations=2)
        out[z][ndi.binary_dilation(skeletonize(inner)) & inner] = 2
        free = ndi.distance_transform_edt(~mask[z]) > 6
        rows = np.zeros_like(free)
        rows[16::64, :] = True
        rows &= (np.arange(free.shape[1]) % 64) < 24  # 24-pixel dashes
        out[z][ndi.binary_dilation(rows) & free] = 1
    return out


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    return float((pred & truth).sum() / max((pred | truth).sum(), 1))


@pytest.mark.slow
def test_vnc_mitochondria_from_scribbles(shared_data, tmp_path):
    image, labels, meta = load_vnc(shared_data, labels="mitochondria")
    image, truth = np.asarray(image[CROP]), np.asarray(labels[CROP], dtype=bool)
    scribbles = strokes(truth, range(4))
    assert (scribbles[:4] > 0).mean() < 0.02
    ws = Workspace.create(tmp_path / "vnc.vw", image, spacing=meta.spacing)
    ws.add_label("m", "background", value=1)
    ws.add_label("m", "mito", value=2)
    annotate.import_labels(ws, scribbles, name="s", label_set="m")
    compute_supervoxels(ws)
    test = np.s_[4:]
    scores = {}
    for mode in ("voxel", "supervoxel"):
        model = learn.train(
            ws,
            annotations="s",
            features=FEATURES,
            mode=mode,
            store_features=False,
            params={"n_estimators": 50},
        )
        for refine in (False, True) if mode == "supervoxel" else (False,):
            learn.predict(
                ws,
                model,
                name="p",
                refine=refine,
                overwrite=True,
                probabilities=False,
                confidence=False,
            )
            scores[mode, refine] = iou(ws.get("p").compute()[test] == 2, truth[test])
    assert scores["voxel", False] > 0.25, scores
    assert scores["supervoxel", False] > 0.3, scores
    assert scores["supervoxel", True] > 0.4, scores
    assert scores["supervoxel", True] >= scores["supervoxel", False]
