"""Object classification on VNC: mitochondria, synapses and glia/extracellular from 50 labels.

The objects are the connected components of the ground-truth classes glia/extracellular,
mitochondria and synapse of the Drosophila VNC stack (20 x 1024 x 1024, 3D 6-connectivity),
each class kept apart (``connected_components(classes, value=[2, 3, 4], by_value=True)``), so
every object has one true class. Objects under ``--min-size`` voxels (specks of extracellular
space a patch cannot show) are left out and counted. 50 objects are drawn at random (seeded,
not stratified: the labelling queue shows random objects the same way) and labelled with their
true class; both classifiers are trained on them and tested on all the other objects:

- the CNN (SVETLANA's minimalist network, 2D on each object's largest plane, image + mask
  channels, flips/rotations, automatic patch size 1.4 x the bounding boxes);
- the random forest on the object measurements (sizes, shape, surface, intensities).

Run from the repository root (reads ``../shared/data``)::

    python benchmarks/objects.py            # seeds 0, 1, 2
    python benchmarks/objects.py --seeds 1  # one split, a quick run

Prints ``accuracy_cnn`` and ``accuracy_forest`` (seed 0), their mean over the seeds, object
counts and timings. Goal: accuracy >= 0.9.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from _harness import machine_line

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
CLASSES = {2: "glia_extracellular", 3: "mitochondria", 4: "synapse"}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="number of random splits (0, 1, ...)")
    parser.add_argument("--labelled", type=int, default=50, help="objects labelled per split")
    parser.add_argument("--min-size", type=int, default=100, help="smallest object, voxels")
    parser.add_argument("--epochs", type=int, default=60, help="CNN epochs")
    parser.add_argument("--arch", default="minimal", choices=["minimal", "deep"])
    parser.add_argument("--ndim", type=int, default=2, choices=[2, 3])
    args = parser.parse_args()

    import torch

    from voxelwise.analysis import connected_components
    from voxelwise.data import load_vnc
    from voxelwise.objects import (
        classify_objects,
        extract_patches,
        majority_classes,
        object_table,
        plan_patches,
        train_cnn,
        train_forest,
    )

    torch.set_num_threads(1)  # two busy shared cores: a second torch thread only adds contention
    print(machine_line())
    print(f"load_average_start: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    t0 = time.perf_counter()
    image, classes, meta = load_vnc(DATA)
    image, classes = image.compute(), classes.compute()
    labels, n_all = connected_components(classes, value=list(CLASSES), by_value=True)
    labels = labels.compute()
    table_all = object_table(labels, image, spacing=meta.spacing, surface=True)
    keep = np.asarray(table_all["volume_voxels"]) >= args.min_size
    table = table_all.select(keep)
    truth_value = majority_classes(labels, classes)
    ids = np.asarray(table["id"], dtype=np.int64)
    truth = np.array([CLASSES[truth_value[int(i)]] for i in ids])
    prep = time.perf_counter() - t0
    print(f"objects_all: {n_all}")
    print(f"objects_too_small: {int((~keep).sum())}")
    print(f"objects: {ids.size}")
    for name in CLASSES.values():
        print(f"objects_{name}: {int((truth == name).sum())}")
    print(f"prepare_seconds: {prep:.1f}")

    plan = plan_patches(table, ndim=args.ndim)
    print(
        f"patch_size: {'x'.join(map(str, plan.size))} voxels, bin {plan.bin[1]}, "
        f"input {'x'.join(map(str, plan.input_shape))}"
    )
    t0 = time.perf_counter()
    patches = extract_patches(image, labels, plan, ids=ids, table=table)
    print(f"patch_seconds: {time.perf_counter() - t0:.1f}")

    results: dict[str, list[float]] = {"cnn": [], "forest": []}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        train = np.sort(rng.choice(ids.size, size=args.labelled, replace=False))
        test = np.setdiff1d(np.arange(ids.size), train)
        per_class = {c: int((truth[train] == c).sum()) for c in CLASSES.values()}

        t0 = time.perf_counter()
        sub = type(patches)(
            patches.ids[train], patches.patches[train], plan, patches.origins[train]
        )
        model = train_cnn(
            sub, truth[train].tolist(), arch=args.arch, epochs=args.epochs, rng=seed, device="cpu"
        )
        cnn_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        proba = model.predict_proba(patches.patches[test])
        cnn_pred = np.asarray(model.class_names)[proba.argmax(axis=1)]
        cnn_predict = time.perf_counter() - t0
        acc_cnn = float((cnn_pred == truth[test]).mean())

        t0 = time.perf_counter()
        forest = train_forest(table, truth[train].tolist(), ids=ids[train], rng=seed)
        forest_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = classify_objects(forest, image, labels, table=table, ids=ids[test])
        forest_predict = time.perf_counter() - t0
        acc_forest = float((result["class_name"] == truth[test]).mean())
        results["cnn"].append(acc_cnn)
        results["forest"].append(acc_forest)
        suffix = "" if seed == 0 else f"_seed{seed}"
        if seed == 0:
            print(f"labelled_per_class: {per_class}")
            print(f"test_objects: {test.size}")
        print(f"accuracy_cnn{suffix}: {acc_cnn:.3f}")
        print(f"accuracy_forest{suffix}: {acc_forest:.3f}")
        print(f"cnn_train_seconds{suffix}: {cnn_train:.1f}")
        print(f"cnn_predict_seconds{suffix}: {cnn_predict:.1f}")
        print(f"forest_train_seconds{suffix}: {forest_train:.2f}")
        print(f"forest_predict_seconds{suffix}: {forest_predict:.2f}")
        for c in CLASSES.values():
            inside = truth[test] == c
            print(
                f"recall_{c}{suffix}: cnn {float((cnn_pred[inside] == c).mean()):.3f}, "
                f"forest {float((result['class_name'][inside] == c).mean()):.3f}"
            )
    if args.seeds > 1:
        for k, v in results.items():
            print(f"accuracy_{k}_mean: {np.mean(v):.3f} (sd {np.std(v):.3f}, {len(v)} splits)")
    print(f"load_average_end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
