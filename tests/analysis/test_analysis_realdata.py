"""Real data: VNC mitochondria components and their tables do not depend on the chunking."""

from __future__ import annotations

import numpy as np
import pytest

from voxelwise.analysis import (
    Table,
    connected_components,
    measure,
    segmentation_metrics,
    volume_fractions,
)
from voxelwise.data import load_vnc

SORT_KEYS = ["bbox_z0", "bbox_y0", "bbox_x0", "volume_voxels"]


def assert_same_table(a: Table, b: Table) -> None:
    """Equal up to a permutation of ids: same rows once sorted by position and size."""
    assert a.names == b.names and len(a) == len(b)
    a, b = a.sort(SORT_KEYS), b.sort(SORT_KEYS)
    for name in a.names:
        if name == "id":
            continue
        np.testing.assert_allclose(a[name], b[name], rtol=1e-7, atol=1e-9, err_msg=name)


@pytest.fixture(scope="module")
def vnc(shared_data):
    image, mito, meta = load_vnc(shared_data, labels="mitochondria")
    return image, mito, meta


def test_vnc_mitochondria_have_48_components_for_any_chunking(vnc):
    image, mito, meta = vnc
    tables = []
    for chunks in ((20, 512, 512), (7, 300, 400), (1, 1024, 1024)):
        labels, n = connected_components(mito, chunks=chunks)
        assert n == 48  # the data README's count of 3D-connected components
        tables.append(measure(labels, {"raw": image}, spacing=meta.spacing, surface=False))
    assert_same_table(tables[0], tables[1])
    assert_same_table(tables[0], tables[2])
    t = tables[0]
    assert int(t["volume_voxels"].sum()) == int(mito.sum().compute())
    # mitochondria are darker than the average of the section
    assert float(np.average(t["raw_mean"], weights=t["volume_voxels"])) < float(image.mean())


def test_vnc_surfaces_are_chunk_invariant_and_plausible(vnc):
    _, mito, meta = vnc
    crop = mito[:, :384, :384]
    first, _ = connected_components(crop, chunks=(20, 384, 384))
    second, _ = connected_components(crop, chunks=(8, 150, 200))
    a = measure(first, spacing=meta.spacing)
    b = measure(second, spacing=meta.spacing)
    assert_same_table(a, b)
    big = a.select(a["volume_voxels"] > 200)
    assert len(big) >= 5
    assert (big["sphericity"] > 0.3).all() and (big["sphericity"] <= 1.0).all()


def test_vnc_class_map_metrics_and_fractions(shared_data):
    _, classes, meta = load_vnc(shared_data, labels="classes")
    crop = classes[:4, :256, :256]
    # a prediction that misses every synapse voxel (4 -> 0)
    pred = crop.map_blocks(lambda b: np.where(b == 4, 0, b), dtype=crop.dtype)
    r = segmentation_metrics(pred, crop, classes=[0, 1, 2, 3, 4])
    assert r.iou[1] == pytest.approx(1.0) and r.iou[3] == pytest.approx(1.0)
    assert r.scores(4)["truth_voxels"] > 0 and r.iou[4] == 0.0
    assert r.scores(0)["precision"] < 1.0  # the missed synapses became false background
    t = volume_fractions(crop, names=dict(enumerate(meta.class_names)), values=[0, 1, 2, 3, 4])
    fractions = [t[n][0] for n in t.names if n.startswith("fraction_")]
    assert sum(fractions) == pytest.approx(1.0)
