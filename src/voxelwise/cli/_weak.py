"""``voxelwise deep from-shallow``: weak annotation, a U-Net trained on a shallow prediction.

torch loads only when the command runs (never for ``--help`` or other commands).
"""

from __future__ import annotations

import argparse
from typing import Any

from voxelwise.cli._progress import StageBar

__all__ = ["add_parsers", "cmd_from_shallow"]


def add_parsers(sub: Any) -> None:
    """Register the ``deep`` command group (``from-shallow``) on the top-level subparsers."""
    group = sub.add_parser(
        "deep", help="deep-learning pipelines on workspaces (weak annotation)"
    ).add_subparsers(dest="deep_command", required=True, metavar="ACTION")
    p = group.add_parser(
        "from-shallow",
        help="train a U-Net on a shallow prediction (weak annotation) and segment the volume",
        description="SuRVoS2's weak annotation: the labels of a shallow prediction (voxelwise "
        "shallow predict) whose confidence reaches --min-confidence inside --roi become "
        "training labels (the rest unlabelled); a U-Net trained on them with the default "
        "training settings (or --config) is registered in the workspace's model registry and "
        "segments the volume (or --predict-roi) into the layers OUT and OUT_confidence. The "
        "step is recorded, so `voxelwise workflow export` and `voxelwise run` replay it.",
    )
    p.add_argument("workspace", metavar="WS")
    p.add_argument(
        "--prediction", required=True, metavar="LAYER", help="label layer of a shallow prediction"
    )
    p.add_argument(
        "--confidence",
        metavar="LAYER",
        help="its maximum-probability layer (default: LAYER_confidence)",
    )
    p.add_argument("--image", default="raw", metavar="LAYER", help="image layer (default: raw)")
    p.add_argument("--roi", help="region to learn from 'z0:z1,y0:y1,x0:x1' (default: all)")
    p.add_argument("--predict-roi", help="region to segment (default: the whole volume)")
    p.add_argument(
        "--min-confidence",
        type=float,
        default=0.7,
        metavar="P",
        help="shallow voxels below this maximum probability stay unlabelled (default 0.7)",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=20.0,
        metavar="M",
        help="wall-time budget of training in minutes (default 20)",
    )
    p.add_argument(
        "--out-layer",
        default="unet",
        metavar="NAME",
        help="predicted label layer and registry name of the model (default: unet)",
    )
    p.add_argument(
        "--config", metavar="YAML", help="training settings YAML (default: the library's)"
    )
    p.add_argument(
        "--results",
        metavar="DIR",
        help="folder for the model file (default: WS-results beside the workspace)",
    )
    p.add_argument(
        "--device", default="auto", metavar="DEVICE", help="auto (default), cpu, cuda or cuda:N"
    )
    p.add_argument(
        "--seed", type=int, metavar="S", help="seed patch sampling, augmentation and weights"
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output layers")
    p.set_defaults(func=cmd_from_shallow)


def cmd_from_shallow(args: argparse.Namespace) -> None:
    if not 0.0 <= args.min_confidence <= 1.0:
        raise ValueError(
            f"Expected --min-confidence between 0 and 1, got {args.min_confidence:g} instead"
        )
    if args.max_minutes <= 0:
        raise ValueError(f"Expected --max-minutes > 0, got {args.max_minutes:g} instead")
    from voxelwise.cli._deep import _STOPPED, _check_device, _deep, _train_config
    from voxelwise.workflows import deep_from_shallow
    from voxelwise.workspace import Workspace

    ws = Workspace.open(args.workspace)
    deep = _deep()
    _check_device(deep, args.device)
    config = _train_config(deep, args.config, None) if args.config else None
    with StageBar("deep from-shallow", enabled=not args.quiet) as bar:
        out = deep_from_shallow(
            ws,
            args.prediction,
            confidence=args.confidence,
            image=args.image,
            roi=args.roi,
            predict_roi=args.predict_roi,
            min_confidence=args.min_confidence,
            config=config,
            max_minutes=args.max_minutes,
            out_layer=args.out_layer,
            results=args.results,
            device=args.device,
            overwrite=args.overwrite,
            rng=args.seed,
            progress=bar.progress,
        )
    classes = ", ".join(f"{v}: {n}" for v, n in sorted(out.labelled.items()))
    print(
        f"training labels {out.training_labels}: {sum(out.labelled.values())} voxels "
        f"({100 * out.labelled_fraction:.1f} % of the region; per value {classes})"
    )
    print(
        f"trained: best validation mIoU {out.best_val_miou:.3f}, {out.epochs} epoch(s) "
        f"({_STOPPED.get(out.stopped, out.stopped)})"
    )
    print(f"model    {out.model_name} (registry; file {out.model_file})")
    print(f"wrote    {out.labels}, {out.confidence} to {ws.path} in {out.seconds:.1f} s")
