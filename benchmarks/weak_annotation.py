"""Weak annotation on VNC mitochondria: a U-Net trained on a shallow prediction, not on truth.

SuRVoS2's headline pipeline, measured. Data: the Drosophila VNC ssTEM stack (20 x 1024 x 1024,
50 x 4.6 x 4.6 nm) with its binary mitochondria ground truth, read from ``../shared/data``
(background stored as 1, mitochondria as 2).

1. Scribbles drawn from the ground truth of sections 0-15 only, by the demo's generator
   (:func:`voxelwise.workflows._scribbles.scribbles_from_truth`: short strokes along the
   skeleton of each class, three voxels wide) on every second section; the script refuses to
   run if they cover more than 1 % of the voxels of sections 0-15 (``labelled_fraction``).
2. Shallow learning with the project's defaults: :func:`voxelwise.learn.train` in voxel mode
   with a random forest on the ``default`` feature bank (29 ilastik-like features, stored as
   layers), then :func:`voxelwise.learn.predict` of sections 0-19 (labels and confidence).
3. :func:`voxelwise.workflows.deep_from_shallow`: the shallow labels of sections 0-15 whose
   confidence is at least ``--min-confidence`` (default 0.7) become training labels (the rest
   unlabelled); a network is trained with the library's default
   :class:`~voxelwise.deep.TrainConfig` (nothing tuned here) within ``--minutes`` and
   predicts sections 16-19.

Both are scored on sections 16-19 (never scribbled, never trained on) by the mitochondria IoU
of :func:`voxelwise.analysis.segmentation_metrics`: ``iou_shallow``, ``iou_unet_from_shallow``
and ``gain`` (U-Net minus shallow). Times: ``shallow_train_s`` (features and forest),
``shallow_predict_s`` (sections 0-19), ``unet_train_s`` (training within the budget),
``unet_predict_s`` (sections 16-19), ``labels_s`` (the confident training labels). Torch uses
``--threads`` CPU threads (default 2).

Run from the repository root::

    python benchmarks/weak_annotation.py              # full sections, 20-minute budget
    python benchmarks/weak_annotation.py --quick      # smoke run on a 256 x 256 crop (~2 min)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _harness import machine_line

from voxelwise import annotate, learn
from voxelwise.analysis import segmentation_metrics
from voxelwise.data import load_vnc
from voxelwise.workflows import deep_from_shallow
from voxelwise.workflows._scribbles import scribbles_from_truth
from voxelwise.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data").resolve()
TRAIN = slice(0, 16)
TEST = slice(16, 20)
BACKGROUND, MITO = 1, 2
MAX_SCRIBBLED = 0.01


def line(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def mito_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU of the mitochondria voxels (True) of two boolean (Z, Y, X) masks."""
    report = segmentation_metrics(pred.astype(np.uint8), truth.astype(np.uint8), classes=[1])
    return float(report.iou[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on a 256 x 256 crop")
    parser.add_argument(
        "--minutes", type=float, default=None, help="U-Net budget (default 20, --quick 0.5)"
    )
    parser.add_argument("--min-confidence", type=float, default=0.7)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    minutes = args.minutes or (0.5 if args.quick else 20.0)
    print(machine_line())
    line("load_at_start", " ".join(f"{v:.2f}" for v in os.getloadavg()))
    image, mito, meta = load_vnc(DATA, labels="mitochondria")
    assert mito is not None
    crop = (slice(None), slice(256, 512), slice(256, 512)) if args.quick else (slice(None),) * 3
    img = np.asarray(image[crop])
    truth = np.asarray(mito[crop]).astype(bool)
    line("shape", img.shape)
    line("minutes", minutes)
    line("threads", args.threads)
    line("min_confidence", args.min_confidence)

    classes = truth.astype(np.uint8) + 1  # background 1, mitochondria 2
    strokes = np.zeros(classes.shape, np.uint16)
    strokes[TRAIN] = scribbles_from_truth(classes[TRAIN], every=2, strokes=6, length=20, rng=0)
    fraction = float((strokes[TRAIN] > 0).mean())
    line("labelled_fraction", f"{fraction:.5f}")
    line("scribbled_voxels", int((strokes > 0).sum()))
    if fraction > MAX_SCRIBBLED:
        raise SystemExit(f"scribbles cover {fraction:.2%} of sections 0-15, more than 1 %")

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.create(Path(tmp) / "vnc.vw", img, spacing=meta.spacing, unit=meta.unit)
        ws.add_label("classes", "background", value=BACKGROUND)
        ws.add_label("classes", "mitochondria", value=MITO)
        annotate.import_labels(ws, strokes, name="scribbles", label_set="classes")

        t0 = time.perf_counter()
        model = learn.train(ws, annotations="scribbles", features="default", rng=0)
        shallow_train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        learn.predict(ws, model, name="shallow", probabilities=False)
        shallow_predict_s = time.perf_counter() - t0
        shallow = np.asarray(ws.get("shallow")[TEST]) == MITO
        iou_shallow = mito_iou(shallow, truth[TEST])
        line("iou_shallow", f"{iou_shallow:.4f}")
        line("shallow_train_s", f"{shallow_train_s:.1f}")
        line("shallow_predict_s", f"{shallow_predict_s:.1f}")
        line(
            "iou_shallow_train_sections",
            f"{mito_iou(np.asarray(ws.get('shallow')[TRAIN]) == MITO, truth[TRAIN]):.4f}",
        )

        out = deep_from_shallow(
            ws,
            "shallow",
            roi=f"{TRAIN.start}:{TRAIN.stop},:,:",
            predict_roi=f"{TEST.start}:{TEST.stop},:,:",
            min_confidence=args.min_confidence,
            max_minutes=minutes,
            out_layer="unet",
            results=Path(tmp) / "models",
            rng=0,
        )
        unet = np.asarray(ws.get("unet")[TEST]) == MITO
        iou_unet = mito_iou(unet, truth[TEST])
        line("iou_unet_from_shallow", f"{iou_unet:.4f}")
        line("gain", f"{iou_unet - iou_shallow:.4f}")
        line("training_label_fraction", f"{out.labelled_fraction:.4f}")
        line("training_labels", out.labelled)
        line("labels_s", f"{out.timings.get('training labels', float('nan')):.1f}")
        line("unet_train_s", f"{out.timings.get('training', float('nan')):.1f}")
        line("unet_predict_s", f"{out.timings.get('prediction', float('nan')):.1f}")
        line("unet_epochs", out.epochs)
        line("unet_stopped", out.stopped)
        line("unet_val_miou", f"{out.best_val_miou:.4f}")
        line("registered_model", out.model_name)
    line("load_at_end", " ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
