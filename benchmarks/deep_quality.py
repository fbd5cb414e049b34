"""Segmentation quality of voxelwise.deep networks on VNC mitochondria at a fixed CPU budget.

Trains each network on sections 0-15 of the Drosophila VNC ssTEM stack (labels: background 1,
mitochondria 2) for a fixed wall-time budget, predicts sections 16-19 and reports the
foreground (mitochondria) IoU and the training time:

    python benchmarks/deep_quality.py            # 20 minutes per model, full 1024 x 1024 sections
    python benchmarks/deep_quality.py --quick    # ~1 minute per model on a 256 x 256 crop (smoke)

Prints ``iou_unet2d_multiaxis``, ``iou_unet3d``, ``iou_hybrid`` and ``train_s_<name>``.
The comparison with volume-segmantics (installed in its own environment) is not part of this
script yet.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from voxelwise.data import load_vnc
from voxelwise.deep import TrainConfig, load_model, predict_proba, train

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def configs(quick: bool) -> dict[str, TrainConfig]:
    common = {"lr": 3e-3, "patience": 1000, "epochs": 1000 if not quick else 6}
    steps = 50 if not quick else 8
    return {
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
            spacing=(50.0, 4.6, 4.6),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on a small crop")
    parser.add_argument("--minutes", type=float, default=None, help="budget per model")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    minutes = args.minutes or (1.0 if args.quick else 20.0)
    image, mito, _ = load_vnc(DATA, labels="mitochondria")
    crop = (slice(None), slice(256, 512), slice(256, 512)) if args.quick else (slice(None),) * 3
    img = np.asarray(image[crop])
    lab = np.asarray(mito[crop]).astype(np.uint8) + 1  # background 1, mitochondria 2
    print(f"minutes_per_model: {minutes}")
    print(f"train_shape: {img[:16].shape}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in configs(args.quick).items():
            t0 = time.perf_counter()
            result = train(
                img[:16], lab[:16], out=Path(tmp) / name, config=cfg, max_minutes=minutes, rng=0
            )
            seconds = time.perf_counter() - t0
            model = load_model(result.model_path)
            probs = predict_proba(model, img[16:], axes="zyx" if cfg.axes == "zyx" else "auto")
            pred = probs.argmax(0) + 1
            gt = lab[16:]
            inter = np.count_nonzero((pred == 2) & (gt == 2))
            union = np.count_nonzero((pred == 2) | (gt == 2))
            print(f"iou_{name}: {inter / max(union, 1):.4f}")
            print(f"train_s_{name}: {seconds:.1f}")
            print(f"epochs_{name}: {result.epochs}")


if __name__ == "__main__":
    main()
