"""Segmentation quality of voxelwise.deep networks vs volume-segmantics on VNC mitochondria, CPU.

Data: the Drosophila VNC ssTEM stack (20 x 1024 x 1024, 50 x 4.6 x 4.6 nm) with its binary
mitochondria ground truth, read from ``../shared/data``. Every method trains on sections 0-15
(dense labels: background 1, mitochondria 2 in voxelwise's convention) within the same
wall-time budget, then segments sections 16-19 (never seen in training); the foreground
(mitochondria) IoU on those sections is computed for every method the same way, by
:func:`voxelwise.analysis.segmentation_metrics`.

Methods:

- ``default``: ``TrainConfig()`` given nothing but the data's voxel size (issue 11: no hand
  tuning);
- ``default_25d`` (only when asked for with ``--models``): the same with 2.5D input
  (``context=1``: the sections above and below as extra channels);
- ``unet2d_multiaxis``: :class:`voxelwise.deep.UNet2D` (residual encoder, depth 4, width 16)
  trained on 256 x 256 slices along Z, Y and X (``axes="zyx"``); predicted with
  ``axes="auto"`` (the thin Y/X slices of a 4-section test stack are skipped);
- ``unet3d``: :class:`voxelwise.deep.UNet3D` with anisotropic pooling planned from the voxel
  size, 8 x 128 x 128 patches;
- ``hybrid``: :class:`voxelwise.deep.HybridNet` (Guay et al. 2D-3D), 5 x 128 x 128 patches,
  boundary-weighted cross-entropy;
- ``volume_segmantics`` (``--volseg``): volume-segmantics 0.4.0 (``model-train-2d`` /
  ``model-predict-2d``, its default PyTorch Lightning trainer), installed by this script in
  its own environment ``<repo>/.bench-venvs/volseg/`` (created once, then reused; see
  ``_volseg.py``), U-Net with a resnet34 encoder without pretrained weights (none can be
  downloaded here, and the voxelwise nets start from scratch too), seed 0, within the same
  budget, in two ways:

  - ``tuned`` (``iou_volume_segmantics_tuned``), as tuned by hand in issue 11: every section
    cut into native-resolution 256 x 256 tiles, the tiles stacked as the slices it trains on
    (``image_size`` 256, Z only) and predicts on (Z only), the prediction put back together;
    volume-segmantics' shipped augmentation list, AdamW at a constant learning rate 1e-3 (its
    Lightning trainer has no schedule), CPU batch size 8 (its own choice), its 85/15
    train/validation split of the slices. ``--volseg-crop N`` trains on random N x N crops of
    whole sections instead (0: whole sections; a CPU step on eight whole 1024 x 1024
    sections takes about a minute, and it validates whole sections every epoch);
  - ``defaults`` (``iou_volume_segmantics``): as shipped: slices resized to ``image_size``
    256, training on all three axes, prediction along three axes fused by maximum
    probability ("medium" quality).

  The budget: volume-segmantics trains by epochs, so it is given an epoch count it cannot
  reach and its Lightning trainer a ``max_time`` equal to the budget left after start-up and
  slicing; training stops after the step that crosses it and volume-segmantics saves its
  final weights as it does at the end of any run (the prediction uses that file).
  ``volseg_before_fit_s`` / ``volseg_fit_s`` split its ``train_s`` (start-up and slicing /
  Lightning fit including validation and diagnostics).

Times: ``train_s_<name>`` is the wall time of training (for voxelwise, :func:`train` from the
in-memory arrays; for volume-segmantics, the whole ``model-train-2d`` run: start-up, slicing
to PNG, training, saving), capped by the budget plus the last step and final validation.
``predict_s_<name>`` is the prediction of sections 16-19. All networks run on ``--threads``
CPU threads (default 2).

Run from the repository root::

    python benchmarks/deep_quality.py                # 20 minutes per model, full sections
    python benchmarks/deep_quality.py --minutes 2    # shorter budget
    python benchmarks/deep_quality.py --quick        # smoke run on a 256 x 256 crop (~3 min)

The first run also builds the volume-segmantics environment (about a minute with a warm pip
cache, ~2 GB on disk). Prints ``iou_unet2d_multiaxis``, ``iou_unet3d``, ``iou_hybrid``,
``iou_volume_segmantics``, ``iou_gain_vs_volume_segmantics`` (best voxelwise IoU minus
volume-segmantics'), ``train_s_<name>`` for each, and informative lines (epochs, prediction
times, the best voxelwise model, machine load).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import _volseg
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


def line(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def foreground_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU of the foreground (True) voxels of two boolean (Z, Y, X) masks."""
    report = segmentation_metrics(pred.astype(np.uint8), truth.astype(np.uint8), classes=[1])
    return float(report.iou[1])


def configs(quick: bool, spacing: tuple[float, float, float]) -> dict[str, TrainConfig]:
    """``default``: TrainConfig() with nothing but the data's voxel size (issue 11: no hand
    tuning); the others: the explicit architectures of issue 5."""
    common = {"lr": 3e-3, "patience": 1000, "epochs": 1000 if not quick else 6}
    steps = 50 if not quick else 8
    small = {"patch_size": (96, 96), "batch_size": 4, "steps_per_epoch": 8} if quick else {}
    return {
        "default": TrainConfig(spacing=spacing, **small),
        "default_25d": TrainConfig(spacing=spacing, context=1, **small),
        "unet2d_multiaxis": TrainConfig(
            arch="unet2d",
            axes="zyx",
            network={"depth": 4, "width": 16, "blocks": 2},
            patch_size=(256, 256) if not quick else (96, 96),
            steps_per_epoch=steps,
            batch_size=8 if not quick else 4,
            **common,
        ),
        "unet3d": TrainConfig(
            arch="unet3d",
            network={"depth": 3, "width": 16 if not quick else 4},
            spacing=spacing,
            patch_size=(8, 128, 128) if not quick else (4, 64, 64),
            steps_per_epoch=steps,
            batch_size=2,
            **common,
        ),
        "hybrid": TrainConfig(
            arch="hybrid",
            network={"depth": 3, "width": 16 if not quick else 4},
            patch_size=(5, 128, 128) if not quick else (3, 64, 64),
            steps_per_epoch=steps,
            batch_size=2,
            loss="edge_ce",
            **common,
        ),
    }


def class_ious(pred: np.ndarray, truth: np.ndarray, names: list[str]) -> dict[str, float]:
    """Per-class IoU of two (Z, Y, X) class-index volumes (0..C-1)."""
    report = segmentation_metrics(pred, truth, classes=list(range(len(names))))
    return {name: float(report.iou[c]) for c, name in enumerate(names)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on a 256 x 256 crop")
    parser.add_argument("--minutes", type=float, default=None, help="budget per model")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--models",
        default="default,unet2d_multiaxis,unet3d,hybrid",
        help="comma-separated voxelwise models to train (default: the four below; 'none': "
        "volume-segmantics only)",
    )
    parser.add_argument(
        "--task",
        choices=["mitochondria", "classes"],
        default="mitochondria",
        help="binary mitochondria (IoU of the foreground) or the 5-class map (mean IoU)",
    )
    parser.add_argument(
        "--all-axes",
        action="store_true",
        help="also predict the default model along Y and X alone (iou_axis_y/x; slow: the "
        "thin slices of a 4-section test stack are padded to whole patches)",
    )
    parser.add_argument(
        "--volseg",
        choices=["none", "tuned", "defaults", "both"],
        default="both",
        help="volume-segmantics runs: tuned (native-resolution tiles, Z only), its defaults "
        "(256 x 256 resized slices, all axes, 3-axis fusion) or both",
    )
    parser.add_argument(
        "--volseg-crop",
        type=int,
        default=None,
        help="tuned volume-segmantics: train on random crops of this many pixels of whole "
        "sections (0: whole sections) instead of the default native-resolution 256 x 256 tiles "
        "(--quick 128)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    minutes = args.minutes or (0.4 if args.quick else 20.0)
    print(machine_line())
    line("load_at_start", " ".join(f"{v:.2f}" for v in os.getloadavg()))
    image, gt, meta = load_vnc(DATA, labels=args.task)
    assert gt is not None
    spacing = tuple(float(v) for v in meta.spacing)
    crop = (slice(None), slice(256, 512), slice(256, 512)) if args.quick else (slice(None),) * 3
    img = np.asarray(image[crop])
    if args.task == "mitochondria":
        names = ["background", "mitochondria"]
        truth = np.asarray(gt[crop]).astype(np.uint8)
    else:
        assert meta.class_names is not None
        names = [
            meta.class_names[c].replace(" ", "_").replace("/", "_")
            for c in sorted(meta.class_names)
        ]
        truth = np.asarray(gt[crop]).astype(np.uint8)
    lab = truth + 1  # class c stored as c + 1 (0 = unlabelled)
    line("task", args.task)
    line("minutes_per_model", minutes)
    line("threads", args.threads)
    line("train_shape", img[TRAIN].shape)
    line("test_shape", img[TEST].shape)
    wanted = [m.strip() for m in args.models.split(",") if m.strip() not in ("", "none")]
    all_cfgs = configs(args.quick, spacing)  # type: ignore[arg-type]
    unknown = sorted(set(wanted) - set(all_cfgs))
    if unknown:
        parser.error(f"unknown --models {unknown}; choose from {sorted(all_cfgs)}")

    def score(probs: np.ndarray) -> float:
        pred = probs.argmax(0).astype(np.uint8)
        if args.task == "mitochondria":
            return foreground_iou(pred == 1, truth[TEST] == 1)
        per = class_ious(pred, truth[TEST], names)
        return float(np.mean(list(per.values())))

    ious: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in wanted:
            cfg = all_cfgs[name]
            t0 = time.perf_counter()
            result = train(
                img[TRAIN], lab[TRAIN], out=Path(tmp) / name, config=cfg, max_minutes=minutes, rng=0
            )
            train_s = time.perf_counter() - t0
            model = load_model(result.model_path)
            t0 = time.perf_counter()
            probs = predict_proba(model, img[TEST], axes="auto")
            predict_s = time.perf_counter() - t0
            ious[name] = score(probs)
            label = "iou" if args.task == "mitochondria" else "miou"
            line(f"{label}_{name}", f"{ious[name]:.4f}")
            line(f"train_s_{name}", f"{train_s:.1f}")
            line(f"predict_s_{name}", f"{predict_s:.1f}")
            line(f"epochs_{name}", result.epochs)
            line(f"best_s_{name}", model.metadata["provenance"].get("seconds"))
            line(f"val_miou_{name}", f"{result.best_val_miou:.4f}")
            if name != "default":
                continue
            tta = score(predict_proba(model, img[TEST], axes="auto", tta=True))
            line(f"{label}_{name}_tta", f"{tta:.4f}")  # 4 in-plane rotations per patch
            line("default_axes", model.metadata["axes"])
            line("default_axis_scores", model.metadata.get("axis_scores"))
            if args.task == "classes":
                per = class_ious(probs.argmax(0).astype(np.uint8), truth[TEST], names)
                for cname, value in per.items():
                    line(f"iou_class_{cname}", f"{value:.4f}")
                line("miou_all", f"{ious[name]:.4f}")
                continue
            single = {}
            for axis in model.metadata["axes"] + ("yx" if args.all_axes else ""):
                if axis in single:
                    continue
                single[axis] = score(predict_proba(model, img[TEST], axes=axis))
                line(f"iou_axis_{axis}", f"{single[axis]:.4f}")
            line("iou_best_single_axis", f"{max(single.values()):.4f}")
            fused = score(predict_proba(model, img[TEST], axes="zyx", fusion="auto"))
            line("iou_3axis", f"{fused:.4f}")
            line("iou_3axis_minus_best_single", f"{fused - max(single.values()):.4f}")
        best = max(ious, key=lambda k: ious[k]) if ious else None
        if best is not None:
            line("best_voxelwise_model", best)
        if best is not None and args.task == "mitochondria":
            line("iou_best", f"{ious[best]:.4f}")
        if args.volseg == "none" or args.task != "mitochondria":
            line("load_at_end", " ".join(f"{v:.2f}" for v in os.getloadavg()))
            return
        modes = ["tuned", "defaults"] if args.volseg == "both" else [args.volseg]
        for mode in modes:
            vs = _volseg.train_and_predict(
                img[TRAIN],
                truth[TRAIN].astype(np.uint8),
                img[TEST],
                workdir=Path(tmp) / f"volume_segmantics_{mode}",
                budget_s=minutes * 60,
                threads=args.threads,
                crop=args.volseg_crop or 0,
                tile=0 if args.volseg_crop is not None else (128 if args.quick else 256),
                defaults=mode == "defaults",
            )
            suffix = "_tuned" if mode == "tuned" else ""
            iou_vs = foreground_iou(vs["pred"] > 0, truth[TEST] == 1)
            line(f"iou_volume_segmantics{suffix}", f"{iou_vs:.4f}")
            line(f"train_s_volume_segmantics{suffix}", f"{vs['train_s']:.1f}")
            line(f"predict_s_volume_segmantics{suffix}", f"{vs['predict_s']:.1f}")
            line(f"epochs_volume_segmantics{suffix}", vs.get("epochs"))
            line(f"steps_volume_segmantics{suffix}", vs.get("steps"))
            line(f"volseg_crop{suffix}", vs.get("crop"))
            line(f"volseg_tile{suffix}", vs.get("tile"))
            for part in ("before_fit_s", "fit_s", "after_fit_s"):  # parts of train_s
                part_s = vs.get(part)
                line(f"volseg{suffix}_{part}", "n/a" if part_s is None else f"{part_s:.1f}")
            if best is not None:
                line(f"iou_gain_vs_volume_segmantics{suffix}", f"{ious[best] - iou_vs:.4f}")
    line("load_at_end", " ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
