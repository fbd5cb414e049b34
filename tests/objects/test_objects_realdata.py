"""Object classification on a real VNC crop: glia/extracellular, mitochondria, synapse objects."""

from __future__ import annotations

import numpy as np
import pytest

from voxelwise.analysis import connected_components
from voxelwise.data import load_vnc
from voxelwise.objects import (
    classify_objects,
    extract_patches,
    majority_classes,
    object_table,
    plan_patches,
    train_forest,
)

NAMES = {2: "glia", 3: "mitochondria", 4: "synapse"}


@pytest.fixture(scope="module")
def vnc(shared_data):
    image, classes, meta = load_vnc(shared_data)
    image = image[:, :512, :512].compute()
    classes = classes[:, :512, :512].compute()
    labels, _ = connected_components(classes, value=[2, 3, 4], by_value=True)
    labels = labels.compute()
    table = object_table(labels, image, spacing=meta.spacing, surface=True)
    table = table.select(np.asarray(table["volume_voxels"]) >= 100)
    truth = majority_classes(labels, classes)
    y = np.array([NAMES[truth[int(i)]] for i in table["id"]])
    return image, labels, table, y


@pytest.mark.slow
def test_forest_classifies_real_objects(vnc):
    image, labels, table, y = vnc
    assert set(y) == set(NAMES.values())
    ids = np.asarray(table["id"])
    rng = np.random.default_rng(0)
    train = np.sort(rng.choice(ids.size, size=ids.size // 2, replace=False))
    test = np.setdiff1d(np.arange(ids.size), train)
    forest = train_forest(table, y[train].tolist(), ids=ids[train], rng=0)
    result = classify_objects(forest, image, labels, table=table, ids=ids[test])
    assert (result["class_name"] == y[test]).mean() >= 0.8


@pytest.mark.slow
def test_patches_of_real_objects_hold_their_masks(vnc):
    image, labels, table, y = vnc
    plan = plan_patches(table)
    assert 1 <= plan.bin[1] <= 4
    assert plan.input_shape[0] <= 64
    mito = np.asarray(table["id"])[y == "mitochondria"][:5]
    patches = extract_patches(image, labels, plan, ids=mito, table=table)
    for k, oid in enumerate(mito):
        z = patches.origins[k, 0]
        plane_area = (labels[z] == oid).sum()
        assert plane_area == (labels == oid).sum(axis=(1, 2)).max()  # the largest plane
        covered = patches.patches[k, 1].sum() * plan.bin[1] * plan.bin[2]
        assert covered <= plane_area + 1e-3
        assert covered >= 0.5 * plane_area
        # mitochondria are darker than their surroundings
        inside = patches.patches[k, 0][patches.patches[k, 1] > 0.99]
        assert inside.mean() < patches.patches[k, 0].mean()
