"""``voxelwise al``: active-learning campaigns on a workspace, and simulated campaigns.

torch loads only when a command that needs a model runs (never for ``--help``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from voxelwise.cli._progress import progress_bar

__all__ = [
    "add_parsers",
    "cmd_al_create",
    "cmd_al_propose",
    "cmd_al_simulate",
    "cmd_al_status",
    "cmd_al_submit",
    "cmd_al_update",
]

STRATEGIES = (
    "random",
    "entropy",
    "least_confidence",
    "margin",
    "bald",
    "kmeans",
    "coreset",
    "hybrid",
)
_STRATEGY_HELP = (
    f"one of {', '.join(STRATEGIES)}, or an installed plugin strategy 'package.name' "
    "(voxelwise plugins list --kind strategy)"
)


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError as e:
        raise ValueError(f"Expected {option} as whole numbers like 128,128, got {text!r}") from e


def _threads(n: int | None) -> None:
    """Pin torch's CPU threads (oversubscribed pools are very slow on busy machines)."""
    if n is None:
        return
    if n < 1:
        raise ValueError(f"Expected --threads >= 1, got {n} instead")
    from voxelwise._optional import optional_import

    torch = optional_import("torch", feature="active learning with deep models")
    torch.set_num_threads(int(n))


def add_parsers(sub: Any) -> None:
    """Register ``al`` and its actions on the top-level subparsers."""
    al = sub.add_parser(
        "al",
        help="active learning: propose patches to annotate, fine-tune, simulate campaigns",
        description="Annotation campaigns that choose what to label next (maximum entropy by "
        "default), and simulated campaigns answered from ground truth.",
    ).add_subparsers(dest="al_command", required=True, metavar="ACTION")

    p = al.add_parser(
        "simulate",
        help="compare strategies with an oracle answering from ground truth; learning curves",
    )
    p.add_argument("--image", required=True, metavar="FILE", help="image volume")
    p.add_argument(
        "--truth", required=True, metavar="FILE", help="dense ground truth, classes 0..C-1"
    )
    p.add_argument("--test-roi", required=True, help="held-out region 'z0:z1,y0:y1,x0:x1'")
    p.add_argument("--pool-roi", help="region patches are proposed from (default: all)")
    p.add_argument("--strategies", default="random,entropy", help="comma-separated strategies")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    p.add_argument("--initial", type=int, default=4, help="initial random patches")
    p.add_argument("--k", type=int, default=4, help="patches per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--patch-size", default="128,128", help="2D 'rows,cols' or 3D 'z,y,x'")
    p.add_argument("--axis", default="z", help="z, y, x (2D patches) or 3d (windows)")
    p.add_argument("--config", metavar="YAML", help="training settings (TrainConfig YAML)")
    p.add_argument("--initial-steps", type=int, default=200)
    p.add_argument("--steps", type=int, default=60, help="fine-tuning steps per round")
    p.add_argument("--mc-samples", type=int, default=5, help="dropout passes for BALD")
    p.add_argument("--candidates", type=int, help="patches scored per round (default: all)")
    p.add_argument("--no-full", action="store_true", help="skip the full-supervision line")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--out", required=True, help="output folder (CSV, PNG, workspace)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_al_simulate)

    p = al.add_parser("create", help="start a campaign on a workspace")
    p.add_argument("workspace")
    p.add_argument("name")
    p.add_argument("--image", default="raw", help="image layer (default: raw)")
    p.add_argument("--labels", help="annotation layer for the answers (default: NAME_labels)")
    p.add_argument("--label-set", help="label set of the answers")
    p.add_argument("--classes", type=int, help="number of classes")
    p.add_argument("--model", help="deep model file to start from")
    p.add_argument("--config", metavar="YAML", help="training settings (TrainConfig YAML)")
    p.add_argument("--strategy", default="entropy", help=_STRATEGY_HELP)
    p.add_argument(
        "--strategy-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a plugin strategy's parameter, e.g. weight=0.3 (repeatable)",
    )
    p.add_argument("--patch-size", default="128,128", help="2D 'rows,cols' or 3D 'z,y,x'")
    p.add_argument("--axis", default="z", help="z, y, x (2D patches) or 3d (windows)")
    p.add_argument("--roi", help="pool region 'z0:z1,y0:y1,x0:x1'")
    p.add_argument("--steps", type=int, default=100, help="fine-tuning steps per update")
    p.add_argument("--initial-steps", type=int, default=300, help="steps of a first model")
    p.add_argument("--val-fraction", type=float, default=0.0)
    p.add_argument("--budget", type=int, help="stop after this many labelled patches")
    p.add_argument("--patience", type=int, help="stop after this many rounds without gain")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default="auto")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_al_create)

    p = al.add_parser("propose", help="rank unlabelled patches and list the next K")
    p.add_argument("workspace")
    p.add_argument("name")
    p.add_argument("-k", type=int, default=8, help="patches to propose (default 8)")
    p.add_argument("--strategy", help=_STRATEGY_HELP + " (default: the campaign's)")
    p.add_argument(
        "--strategy-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a plugin strategy's parameter for this batch (repeatable; default: the "
        "campaign's, when the strategy is the campaign's)",
    )
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--json", action="store_true", help="print JSON records (no previews)")
    p.set_defaults(func=cmd_al_propose)

    p = al.add_parser("submit", help="take labels from a file (a volume, or one patch)")
    p.add_argument("workspace")
    p.add_argument("name")
    p.add_argument("--labels", help="label file: the workspace's shape, or one patch's")
    p.add_argument("--patch", type=int, help="the patch (candidate index) the file labels")
    p.add_argument("--author")
    p.set_defaults(func=cmd_al_submit)

    p = al.add_parser("update", help="fine-tune the campaign's model on all labels so far")
    p.add_argument("workspace")
    p.add_argument("name")
    p.add_argument("--steps", type=int, help="optimiser steps (default: the campaign's)")
    p.add_argument("--max-minutes", type=float)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.set_defaults(func=cmd_al_update)

    p = al.add_parser("status", help="rounds, labelled and pending patches, stop rule")
    p.add_argument("workspace")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_al_status)


def _config(path: str | None) -> Any:
    if path is None:
        return None
    from voxelwise.deep import TrainConfig

    return TrainConfig.from_yaml(path)


def _patch_size(text: str, axis: str) -> tuple[int, ...]:
    size = _ints(text, "--patch-size")
    want = 3 if axis.lower() == "3d" else 2
    if len(size) != want:
        raise ValueError(
            f"Expected --patch-size with {want} numbers for --axis {axis}, got {text!r} instead"
        )
    return size


def cmd_al_simulate(args: argparse.Namespace) -> None:
    from voxelwise.active import simulate

    _threads(args.threads)
    result = simulate(
        args.image,
        args.truth,
        out=args.out,
        test_roi=args.test_roi,
        pool_roi=args.pool_roi,
        strategies=[s for s in args.strategies.split(",") if s.strip()],
        seeds=args.seeds,
        initial=args.initial,
        k=args.k,
        rounds=args.rounds,
        patch_size=_patch_size(args.patch_size, args.axis),
        axis=None if args.axis.lower() == "3d" else args.axis,
        config=_config(args.config),
        initial_steps=args.initial_steps,
        steps=args.steps,
        mc_samples=args.mc_samples,
        candidates=args.candidates,
        full_supervision=not args.no_full,
        device=args.device,
        overwrite=args.overwrite,
        log=None if args.quiet else print,
    )
    for s in result.strategies:
        budgets, mean, std = result.curve(s)
        points = ", ".join(f"{b:g}: {m:.3f}±{d:.3f}" for b, m, d in zip(budgets, mean, std))
        print(f"{s:>16}  {points}")
    if result.full_supervision:
        print(
            f"{'full supervision':>16}  {sum(result.full_supervision) / len(result.full_supervision):.3f}"
        )
    print(f"curves   {result.csv}")
    print(f"summary  {result.summary_csv}")
    print(f"plot     {result.plot_png}")


def _strategy_params(args: argparse.Namespace) -> dict[str, Any] | None:
    from voxelwise.cli._commands import _key_value

    return dict(_key_value(t, "--strategy-param") for t in args.strategy_param) or None


def cmd_al_create(args: argparse.Namespace) -> None:
    from voxelwise.active import Campaign

    campaign = Campaign.create(
        args.workspace,
        args.name,
        image=args.image,
        labels=args.labels,
        label_set=args.label_set,
        classes=args.classes,
        model=args.model,
        config=_config(args.config),
        strategy=args.strategy,
        strategy_params=_strategy_params(args),
        patch_size=_patch_size(args.patch_size, args.axis),
        axis=None if args.axis.lower() == "3d" else args.axis,
        roi=args.roi,
        steps=args.steps,
        initial_steps=args.initial_steps,
        val_fraction=args.val_fraction,
        budget=args.budget,
        patience=args.patience,
        device=args.device,
        rng=args.seed,
        overwrite=args.overwrite,
    )
    print(
        f"campaign {campaign.name}: {len(campaign.pool())} candidate patches, strategy "
        f"{campaign.params['strategy']}, answers in layer {campaign.labels_layer!r}"
    )


def cmd_al_propose(args: argparse.Namespace) -> None:
    from voxelwise.active import Campaign

    _threads(args.threads)
    campaign = Campaign(args.workspace, args.name)
    with progress_bar("score", enabled=not args.quiet, unit="patch") as progress:
        proposals = campaign.propose(
            args.k,
            strategy=args.strategy,
            strategy_params=_strategy_params(args),
            preview=False,
            progress=progress,
        )
    if args.json:
        print(json.dumps([p.to_dict(preview=False) for p in proposals], indent=1))
        return
    print(f"round {proposals[0].round}, strategy {proposals[0].strategy}:")
    for p in proposals:
        print(f"  #{p.rank:<3} patch {p.index:<7} roi {p.roi:<28} score {p.score:.4g}")


def cmd_al_submit(args: argparse.Namespace) -> None:
    from voxelwise.active import Campaign

    campaign = Campaign(args.workspace, args.name)
    labels: Any = args.labels
    if args.patch is not None:
        if args.labels is None:
            raise ValueError("Expected --labels FILE with --patch (the patch's labels)")
        import numpy as np

        from voxelwise.io import open_volume

        block = np.asarray(open_volume(args.labels).data)
        labels = block.reshape(block.shape[1:]) if block.shape[0] == 1 else block
    record = campaign.submit(labels, patch=args.patch, author=args.author)
    extra = f", {len(record['extra'])} extra (never proposed)" if record["extra"] else ""
    print(
        f"wrote {record['written']} voxels; {record['labelled']} patches labelled, "
        f"{len(record['answered'])} of them proposed{extra}"
    )


def cmd_al_update(args: argparse.Namespace) -> None:
    from voxelwise.active import Campaign

    _threads(args.threads)
    campaign = Campaign(args.workspace, args.name)
    with progress_bar("train", enabled=not args.quiet, unit="epoch") as progress:
        record = campaign.update(steps=args.steps, max_minutes=args.max_minutes, progress=progress)
    m = record["metrics"]
    val = "" if m.get("val_miou") is None else f", validation mIoU {m['val_miou']:.3f}"
    print(
        f"round {record['round']}: trained on {m['train_patches']} patches "
        f"({record['training']['steps']} steps, {record['training']['seconds']:.1f} s){val}"
    )
    print(f"model    {campaign.model_path}")
    stop, reason = campaign.should_stop()
    if stop:
        print(f"stop     {reason}")


def cmd_al_status(args: argparse.Namespace) -> None:
    from voxelwise.active import Campaign

    status = Campaign(args.workspace, args.name).status()
    if args.json:
        print(json.dumps(status, indent=1))
        return
    print(
        f"campaign {status['name']}: round {status['round']} ({status['round_status']}), "
        f"strategy {status['strategy']}"
    )
    print(f"labelled {status['labelled']} of {status['candidates']} patches")
    print(f"pending  {len(status['pending'])} proposals")
    print(f"model    {status['model']}")
    for m in status["metrics"]:
        shown = ", ".join(
            f"{k} {v:.3f}" for k, v in m.items() if isinstance(v, float) and k != "round"
        )
        print(f"  round {m['round']}: {m.get('labelled_patches')} patches, {shown}")
    if status["stop"]:
        print(f"stop     {status['stop_reason']}")
