"""Top-3 ensemble vs the best single voxelwise.deep model on the VNC 5-class map, CPU.

Data: the Drosophila VNC ssTEM stack (20 x 1024 x 1024, 50 x 4.6 x 4.6 nm) with its dense
5-class map (intracellular, membrane, glia/extracellular, mitochondria, synapse), read from
``../shared/data``. VNC's map uses 0 for a real class (intracellular); voxelwise labels store
class c as c + 1, so the map is trained and scored as values 1-5 (nothing is unlabelled).

Five models train on sections 0-15, each within the same wall-time budget (``--minutes``,
default 6, so the whole script takes about 35 minutes on 2 threads), differing in architecture,
seed and hyperparameters as in Guay et al.'s ensembles of 2D-3D nets:

- ``unet2d_a``: 2D U-Net (Z slices, 256 x 256, CE + Dice, lr 3e-3), seed 0;
- ``unet2d_b``: the same with class-balanced cross-entropy, seed 1;
- ``unet2d_c``: cross-entropy only, class-balanced, peak lr 1e-3, seed 2;
- ``hybrid``: Guay et al.'s hybrid 2D-3D net (5 x 128 x 128, boundary-weighted CE), seed 3;
- ``unet3d``: anisotropic 3D U-Net (8 x 128 x 128, CE + Dice), seed 4.

Each model is scored on sections 16-19 (never seen in training) by the mean IoU over the five
classes (:func:`voxelwise.analysis.segmentation_metrics`, Guay et al.'s MIoU). The ensemble is
:func:`voxelwise.deep.predict_proba` with the list of all five models and ``ensemble=3``: the
three with the best stored validation mean IoU (scored on the held-out part of sections 0-15
during training), probabilities averaged. Guay et al. report +7 % MIoU from ensembling.

Run from the repository root::

    python benchmarks/deep_ensemble.py                # 6 minutes per model, full sections
    python benchmarks/deep_ensemble.py --minutes 2    # shorter budget
    python benchmarks/deep_ensemble.py --quick        # smoke run on a 256 x 256 crop (~2 min)

Prints ``miou_<name>`` per model, ``miou_best_single`` (the best test mean IoU of the five:
the strongest single model, chosen with hindsight), ``miou_top3_ensemble``,
``miou_gain_top3`` (ensemble minus best single) and informative lines (``ensemble_members``,
``miou_top1_by_val``: the single model the validation score would have picked, per-class IoU,
training and prediction times).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _harness import machine_line

from voxelwise.analysis import segmentation_metrics
from voxelwise.data import load_vnc
from voxelwise.deep import TrainConfig, load_model, predict_proba, train

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data").resolve()
TRAIN = slice(0, 16)
TEST = slice(16, 20)
CLASSES = [1, 2, 3, 4, 5]  # class c stored as c + 1
NAMES = ["intracellular", "membrane", "glia_extracellular", "mitochondria", "synapse"]


def line(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def mean_iou(pred: np.ndarray, truth: np.ndarray) -> tuple[float, dict[int, float]]:
    """Mean IoU over the five classes (values 1-5) and the per-class IoU."""
    report = segmentation_metrics(pred, truth, classes=CLASSES)
    return report.mean_iou(), report.iou


def configs(quick: bool) -> dict[str, tuple[TrainConfig, int]]:
    """(config, seed) per ensemble member."""
    common: dict[str, Any] = {"patience": 1000, "epochs": 1000 if not quick else 6, "classes": 5}
    steps = 50 if not quick else 8
    p2 = (256, 256) if not quick else (96, 96)
    b2 = 8 if not quick else 4
    width = 16 if not quick else 4
    net2d = {"depth": 4, "width": 16 if not quick else 8, "blocks": 2}

    def unet2d(**kw: Any) -> TrainConfig:
        opts = {"lr": 3e-3, **common, **kw}
        return TrainConfig(
            arch="unet2d",
            axes="z",
            network=net2d,
            patch_size=p2,
            steps_per_epoch=steps,
            batch_size=b2,
            label_names=NAMES,
            **opts,
        )

    return {
        "unet2d_a": (unet2d(), 0),
        "unet2d_b": (unet2d(class_balance=True), 1),
        "unet2d_c": (unet2d(loss="ce", class_balance=True, lr=1e-3), 2),
        "hybrid": (
            TrainConfig(
                arch="hybrid",
                network={"depth": 3, "width": width},
                patch_size=(5, 128, 128) if not quick else (3, 64, 64),
                steps_per_epoch=steps,
                batch_size=2,
                loss="edge_ce",
                lr=3e-3,
                label_names=NAMES,
                **common,
            ),
            3,
        ),
        "unet3d": (
            TrainConfig(
                arch="unet3d",
                network={"depth": 3, "width": width},
                spacing=(50.0, 4.6, 4.6),
                patch_size=(8, 128, 128) if not quick else (4, 64, 64),
                steps_per_epoch=steps,
                batch_size=2,
                lr=3e-3,
                label_names=NAMES,
                **common,
            ),
            4,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on a 256 x 256 crop")
    parser.add_argument("--minutes", type=float, default=None, help="budget per model")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    minutes = args.minutes or (0.25 if args.quick else 6.0)
    print(machine_line())
    line("load_at_start", " ".join(f"{v:.2f}" for v in os.getloadavg()))
    image, classes, _ = load_vnc(DATA, labels="classes")
    assert classes is not None
    crop = (slice(None), slice(256, 512), slice(256, 512)) if args.quick else (slice(None),) * 3
    img = np.asarray(image[crop])
    lab = np.asarray(classes[crop]).astype(np.uint8) + 1  # VNC class c (0-4) stored as c + 1
    truth = lab[TEST]
    line("minutes_per_model", minutes)
    line("threads", args.threads)
    line("train_shape", img[TRAIN].shape)
    line("test_shape", img[TEST].shape)
    scores: dict[str, float] = {}
    val: dict[str, float] = {}
    paths: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (cfg, seed) in configs(args.quick).items():
            t0 = time.perf_counter()
            result = train(
                img[TRAIN],
                lab[TRAIN],
                out=Path(tmp) / name,
                config=cfg,
                max_minutes=minutes,
                rng=seed,
            )
            train_s = time.perf_counter() - t0
            model = load_model(result.model_path)
            t0 = time.perf_counter()
            probs = predict_proba(model, img[TEST], axes="auto")
            predict_s = time.perf_counter() - t0
            scores[name], per_class = mean_iou((probs.argmax(0) + 1).astype(np.uint8), truth)
            val[name] = float(model.metadata["val_miou"])
            paths.append(result.model_path)
            line(f"miou_{name}", f"{scores[name]:.4f}")
            line(f"val_miou_{name}", f"{val[name]:.4f}")
            line(
                f"iou_per_class_{name}",
                " ".join(f"{NAMES[c - 1]}={v:.3f}" for c, v in per_class.items()),
            )
            line(f"train_s_{name}", f"{train_s:.1f}")
            line(f"predict_s_{name}", f"{predict_s:.1f}")
            line(f"epochs_{name}", result.epochs)
        best = max(scores, key=lambda k: scores[k])
        by_val = sorted(val, key=lambda k: -val[k])
        line("best_single_model", best)
        line("miou_best_single", f"{scores[best]:.4f}")
        line("miou_top1_by_val", f"{scores[by_val[0]]:.4f}")
        line("ensemble_members", ", ".join(by_val[:3]))
        t0 = time.perf_counter()
        probs = predict_proba(paths, img[TEST], axes="auto", ensemble=3)
        predict_s = time.perf_counter() - t0
        top3, per_class = mean_iou((probs.argmax(0) + 1).astype(np.uint8), truth)
    line("miou_top3_ensemble", f"{top3:.4f}")
    line(
        "iou_per_class_top3_ensemble",
        " ".join(f"{NAMES[c - 1]}={v:.3f}" for c, v in per_class.items()),
    )
    line("predict_s_top3_ensemble", f"{predict_s:.1f}")
    line("miou_gain_top3", f"{top3 - scores[best]:.4f}")
    line("miou_gain_top3_percent", f"{100 * (top3 / scores[best] - 1):.1f}")
    line("load_at_end", " ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
