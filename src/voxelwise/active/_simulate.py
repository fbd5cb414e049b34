"""Simulated annotation campaigns: an oracle answers from ground truth (BioSegment's protocol).

For every seed, ``initial`` random patches are labelled by the oracle and a first model is
trained on them from scratch; every strategy then starts from that same model and those same
labels, and runs ``rounds`` rounds of: propose ``k`` patches, the oracle labels them, fine-tune
from the last weights (``steps`` steps) and measure the IoU on a held-out test region. Every
strategy gets the same budgets, seeds, initial set and training steps. A full-supervision
model (dense labels of the whole pool region, as many steps as a whole campaign) gives the
reference line. The campaigns are real :class:`~voxelwise.active.Campaign` objects on one
workspace, so the simulation also exercises the interactive loop end to end.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voxelwise._validate import parse_roi, roi_to_str
from voxelwise.active._campaign import Campaign
from voxelwise.active._plugins import check_strategy_params
from voxelwise.active._strategies import parse_strategy
from voxelwise.errors import OutputExistsError

__all__ = ["SimulationResult", "curve_summary", "simulate"]

FIELDS = ("strategy", "seed", "round", "labelled_patches", "iou", "seconds")
FULL_CSV = "full_supervision.csv"


def _parse_row(row: dict[str, str], run: str) -> dict[str, Any]:
    return {
        "run": row.get("run") or run,
        "strategy": row["strategy"],
        "seed": int(row["seed"]),
        "round": int(row["round"]),
        "labelled_patches": int(float(row["labelled_patches"])),
        "iou": float(row["iou"]),
        "seconds": float(row["seconds"]),
    }


@dataclass
class SimulationResult:
    """Learning curves of a simulation.

    Attributes
    ----------
    rows : list of dict
        One per (strategy, seed, round): ``labelled_patches``, test ``iou``, ``seconds``
        (round 0 is the shared initial model).
    full_supervision : list of float
        Test IoU of the fully supervised model, per seed (empty when not run).
    csv, summary_csv, plot_png : Path
    """

    rows: list[dict[str, Any]]
    full_supervision: list[float]
    csv: Path
    summary_csv: Path
    plot_png: Path
    strategies: list[str] = field(default_factory=list)

    @classmethod
    def combine(
        cls, folders: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]
    ) -> SimulationResult:
        """Pool the results of several :func:`simulate` runs into one, e.g. runs over other
        seeds or other test regions made in parallel processes: the curves average over every
        run's seeds. Writes ``curves.csv`` (with a ``run`` column: the folder's name),
        ``summary.csv`` and ``learning_curves.png`` to ``out``.

        Raises
        ------
        FileNotFoundError
            A folder without ``curves.csv`` (not a simulation's output).
        ValueError
            No folder, or runs of different strategies.
        """
        if not folders:
            raise ValueError("Expected at least one simulation folder to combine, got none")
        if any(Path(f).resolve() == Path(out).resolve() for f in folders):
            raise ValueError(
                f"Expected an output folder other than the runs combined, got {out}; its "
                "curves.csv would be overwritten"
            )
        rows: list[dict[str, Any]] = []
        full: list[float] = []
        names: list[str] | None = None
        for folder in map(Path, folders):
            path = folder / "curves.csv"
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} does not exist: {folder} is not the output folder of a simulation"
                )
            with open(path, newline="") as fh:
                run = [_parse_row(r, folder.name) for r in csv.DictReader(fh)]
            these = list(dict.fromkeys(r["strategy"] for r in run))
            if names is not None and set(these) != set(names):
                raise ValueError(
                    f"Expected runs of the same strategies, got {names} and {these} ({folder})"
                )
            names = names or these
            rows += run
            if (folder / FULL_CSV).is_file():
                with open(folder / FULL_CSV, newline="") as fh:
                    full += [float(r["iou"]) for r in csv.DictReader(fh)]
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        result = cls(
            rows=rows,
            full_supervision=full,
            csv=out / "curves.csv",
            summary_csv=out / "summary.csv",
            plot_png=out / "learning_curves.png",
            strategies=names or [],
        )
        with open(result.csv, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["run", *FIELDS])
            writer.writeheader()
            writer.writerows(rows)
        _write_outputs(result)
        return result

    def curve(self, strategy: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(budgets, mean IoU, std IoU)`` over seeds, per round."""
        rows = [r for r in self.rows if r["strategy"] == strategy]
        rounds = sorted({int(r["round"]) for r in rows})
        budgets, means, stds = [], [], []
        for k in rounds:
            at = [r for r in rows if int(r["round"]) == k]
            budgets.append(float(np.mean([r["labelled_patches"] for r in at])))
            ious = np.asarray([r["iou"] for r in at], dtype=np.float64)
            means.append(float(ious.mean()))
            stds.append(float(ious.std()))
        return np.asarray(budgets), np.asarray(means), np.asarray(stds)

    def gain_vs_random(self, strategy: str) -> float:
        """Mean over rounds 1..T of the strategy's mean IoU minus random's (equal budgets)."""
        _, mine, _ = self.curve(strategy)
        _, base, _ = self.curve("random")
        n = min(mine.size, base.size)
        return float(np.mean(mine[1:n] - base[1:n])) if n > 1 else math.nan

    def best(self) -> str:
        """The strategy (other than random) with the largest :meth:`gain_vs_random`."""
        others = [s for s in self.strategies if s != "random"]
        return max(others, key=lambda s: np.nan_to_num(self.gain_vs_random(s), nan=-np.inf))

    def budget_fraction(self, strategy: str) -> float:
        """Share of random's final budget that ``strategy`` needs to reach random's final IoU
        (linear interpolation between rounds; NaN when it never does)."""
        b_rand, i_rand, _ = self.curve("random")
        budgets, ious, _ = self.curve(strategy)
        target, final = i_rand[-1], b_rand[-1]
        for j in range(ious.size):
            if ious[j] >= target:
                if j == 0:
                    return float(budgets[0] / final)
                t = (target - ious[j - 1]) / max(ious[j] - ious[j - 1], 1e-12)
                return float((budgets[j - 1] + t * (budgets[j] - budgets[j - 1])) / final)
        return math.nan


def curve_summary(result: SimulationResult) -> list[dict[str, Any]]:
    """Rows ``strategy, round, labelled_patches, iou_mean, iou_std, iou_min, iou_max, seeds``."""
    out = []
    for s in result.strategies:
        rows = [r for r in result.rows if r["strategy"] == s]
        for k in sorted({int(r["round"]) for r in rows}):
            ious = np.asarray([r["iou"] for r in rows if int(r["round"]) == k])
            out.append(
                {
                    "strategy": s,
                    "round": k,
                    "labelled_patches": float(
                        np.mean([r["labelled_patches"] for r in rows if int(r["round"]) == k])
                    ),
                    "iou_mean": float(ious.mean()),
                    "iou_std": float(ious.std()),
                    "iou_min": float(ious.min()),
                    "iou_max": float(ious.max()),
                    "seeds": int(ious.size),
                }
            )
    return out


def _array(data: Any) -> Any:
    if isinstance(data, str | os.PathLike):
        from voxelwise.io import open_volume

        return open_volume(data).data
    return data


class _Oracle:
    """Answers proposals with the ground truth (class c written as c + 1)."""

    def __init__(self, truth: Any) -> None:
        self.truth = truth

    def answer(self, campaign: Campaign, proposals: Sequence[Any]) -> None:
        pool = campaign.pool()
        for p in proposals:
            sl = pool.slices(p.index)
            block = np.asarray(self.truth[sl]).astype(np.int64) + 1
            campaign.submit(block.astype(np.uint8), patch=p.index, author="oracle")


def _iou(
    model_path: Path, test_image: np.ndarray, test_truth: np.ndarray, axis: str, device: str
) -> float:
    from voxelwise.analysis import segmentation_metrics
    from voxelwise.deep import predict_proba

    probs = predict_proba(model_path, test_image, axes=axis, device=device)
    pred = probs.argmax(axis=0).astype(np.uint8)
    classes = [c for c in range(1, probs.shape[0])]
    report = segmentation_metrics(pred, test_truth.astype(np.uint8), classes=classes)
    return float(np.nanmean([report.iou[c] for c in classes]))


def simulate(
    image: Any,
    truth: Any,
    *,
    out: str | os.PathLike[str],
    test_roi: Any,
    pool_roi: Any = None,
    strategies: Sequence[str] = ("random", "entropy"),
    strategy_params: Mapping[str, Mapping[str, Any]] | None = None,
    seeds: int | Sequence[int] = 3,
    initial: int = 4,
    k: int = 4,
    rounds: int = 5,
    patch_size: Any = (128, 128),
    axis: str | None = "z",
    config: Any = None,
    initial_steps: int = 200,
    steps: int = 60,
    mc_samples: int = 5,
    candidates: int | None = None,
    full_supervision: bool | int = True,
    device: str = "cpu",
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
) -> SimulationResult:
    """Run simulated annotation campaigns and write learning curves.

    Parameters
    ----------
    image : (Z, Y, X) array or path
    truth : (Z, Y, X) integer array or path
        Dense ground truth, classes 0..C-1 (a binary mask is classes 0 and 1); the oracle
        writes class c as c + 1.
    out : path
        Output folder: ``curves.csv`` (every run and round), ``summary.csv`` (mean, std, min,
        max over seeds), ``learning_curves.png``, ``full_supervision.csv`` and the workspace of
        the campaigns. :meth:`SimulationResult.combine` pools several such folders.
    test_roi : str or slices
        The held-out region the IoU is measured on (read into memory).
    pool_roi : str or slices, optional
        The region patches are proposed from; must not overlap ``test_roi``.
    strategies : sequence of str
        Strategies to compare ('random' is always added: it is the baseline).
    strategy_params : dict, optional
        Keyword parameters of plugin strategies, by strategy name (``{"pkg.name": {"weight":
        0.8}}``); the others keep their defaults.
    seeds : int or sequence of int
        Number of seeds (0, 1, ...) or the seeds themselves.
    initial, k, rounds : int
        Random patches to start with; patches per round; rounds.
    patch_size, axis, config
        Pool patches and training settings (see :meth:`Campaign.create`).
    initial_steps, steps : int
        Optimiser steps of the initial model, and of each fine-tuning.
    mc_samples, candidates : int
        BALD passes; candidates scored per round (random subset; default all).
    full_supervision : bool or int
        Also train on the dense labels of the whole pool region (``initial_steps + rounds *
        steps`` steps) for the reference line: for every seed (True), or for the first n
        seeds (an int; 0 or False: never).
    device : str
    overwrite : bool
        Replace an existing ``out`` folder's results.
    log : callable, optional
        Receives one line per finished round.
    """
    from voxelwise.deep import TrainConfig, train
    from voxelwise.workspace import Workspace

    say = log or (lambda line: None)
    out = Path(out)
    names = ["random", *[parse_strategy(s) for s in strategies if parse_strategy(s) != "random"]]
    options = {str(k): v for k, v in (strategy_params or {}).items()}
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(
            f"Expected strategy_params for strategies being compared ({', '.join(names)}), got "
            f"parameters for {', '.join(map(repr, unknown))}"
        )
    for name, params in options.items():
        check_strategy_params(name, params)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if isinstance(full_supervision, bool) or full_supervision is None:
        full_runs = len(seed_list) if full_supervision else 0
    elif isinstance(full_supervision, int) and full_supervision >= 0:
        full_runs = full_supervision
    else:
        raise ValueError(
            f"Expected full_supervision as True, False or a number of seeds >= 0, got "
            f"{full_supervision!r} instead"
        )
    img = _array(image)
    gt = _array(truth)
    if tuple(img.shape) != tuple(gt.shape):
        raise ValueError(
            f"Expected image and truth of the same shape, got {tuple(img.shape)} and "
            f"{tuple(gt.shape)} instead"
        )
    shape = tuple(int(s) for s in img.shape)
    test = parse_roi(test_roi, shape)
    pool_box = parse_roi(pool_roi, shape)
    if all(a.start < b.stop and b.start < a.stop for a, b in zip(test, pool_box)):
        raise ValueError(
            f"Expected a test region outside the pool, got pool {roi_to_str(pool_box)} and test "
            f"{roi_to_str(test)}; give pool_roi= that leaves the test region out"
        )
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"{out} exists and is not empty; pass overwrite=True")
    out.mkdir(parents=True, exist_ok=True)
    test_image = np.asarray(img[test])
    test_truth = np.asarray(gt[test]).astype(np.int64)
    classes = int(max(test_truth.max(), np.asarray(gt[pool_box]).max())) + 1
    ws = Workspace.create(out / "simulation.vw", img, overwrite=True)
    oracle = _Oracle(gt)
    slice_axis = axis or "z"

    def evaluate(model: Path) -> dict[str, float]:
        return {"iou": _iou(model, test_image, test_truth, slice_axis, device)}

    common = {
        "patch_size": patch_size,
        "axis": axis,
        "roi": pool_box,
        "config": config,
        "classes": classes,
        "steps": steps,
        "initial_steps": initial_steps,
        "mc_samples": mc_samples,
        "candidates": candidates,
        "device": device,
        "metric": "iou",
    }
    rows: list[dict[str, Any]] = []
    full: list[float] = []
    csv_path = out / "curves.csv"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()

        def add(row: dict[str, Any]) -> None:
            rows.append(row)
            writer.writerow(row)
            fh.flush()
            say(
                f"seed {row['seed']} {row['strategy']:>16} round {row['round']}: "
                f"{row['labelled_patches']} patches, IoU {row['iou']:.4f} ({row['seconds']:.0f} s)"
            )

        for seed in seed_list:
            t0 = time.perf_counter()
            start = Campaign.create(
                ws, f"seed{seed}-initial", strategy="random", rng=seed, **common
            )
            oracle.answer(start, start.propose(initial, preview=False))
            while _present(start) < 2:  # the first model needs two classes
                oracle.answer(start, start.propose(1, preview=False))
            first = start.update(evaluate=evaluate)
            model = ws.path / first["training"]["model"]
            base = {"round": 0, "labelled_patches": first["metrics"]["labelled_patches"]}
            elapsed = time.perf_counter() - t0
            for name in names:
                add(
                    {
                        "strategy": name,
                        "seed": seed,
                        **base,
                        "iou": first["metrics"]["iou"],
                        "seconds": elapsed,
                    }
                )
            for name in names:
                t1 = time.perf_counter()
                layer = f"seed{seed}-{name}_labels"
                ws.add_layer(layer, ws.get(start.labels_layer), kind="annotation", overwrite=True)
                c = Campaign.create(
                    ws,
                    f"seed{seed}-{name}",
                    labels=layer,
                    model=model,
                    strategy=name,
                    strategy_params=options.get(name),
                    rng=seed,
                    **common,
                )
                for r in range(1, rounds + 1):
                    oracle.answer(c, c.propose(k, preview=False))
                    rec = c.update(evaluate=evaluate)
                    add(
                        {
                            "strategy": name,
                            "seed": seed,
                            "round": r,
                            "labelled_patches": rec["metrics"]["labelled_patches"],
                            "iou": rec["metrics"]["iou"],
                            "seconds": time.perf_counter() - t1,
                        }
                    )
            if seed in seed_list[:full_runs]:
                cfg = TrainConfig.from_dict(dict(start.params["config"]))
                cfg.epochs, cfg.steps_per_epoch = 1, initial_steps + rounds * steps
                cfg.classes, cfg.val_patches = classes, 4
                result = train(
                    np.asarray(img[pool_box]),
                    np.asarray(gt[pool_box]).astype(np.uint8) + 1,
                    out=out / f"full-seed{seed}.pt",
                    config=cfg,
                    device=device,
                    rng=seed,
                )
                full.append(evaluate(result.model_path)["iou"])
                say(f"seed {seed} full supervision: IoU {full[-1]:.4f}")
                with open(out / FULL_CSV, "a" if len(full) > 1 else "w", newline="") as fb:
                    if len(full) == 1:
                        fb.write("seed,iou\n")
                    fb.write(f"{seed},{full[-1]}\n")
    result = SimulationResult(
        rows=rows,
        full_supervision=full,
        csv=csv_path,
        summary_csv=out / "summary.csv",
        plot_png=out / "learning_curves.png",
        strategies=names,
    )
    _write_outputs(result)
    return result


def _present(campaign: Campaign) -> int:
    """Classes present among a campaign's labels so far."""
    pool = campaign.pool()
    ids = campaign.labelled(pool)
    if not ids.size:
        return 0
    values = pool.read(campaign.ws.open_array(campaign.labels_layer, mode="r"), ids, pad="zeros")
    return int(np.count_nonzero(np.bincount(values.ravel().astype(np.int64))[1:]))


def _write_outputs(result: SimulationResult) -> None:
    from voxelwise.active._plot import learning_curves

    summary = curve_summary(result)
    with open(result.summary_csv, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(summary[0]) if summary else ["strategy"])
        writer.writeheader()
        writer.writerows(summary)
    curves = {}
    for s in result.strategies:
        x, mean, std = result.curve(s)
        curves[s] = (x.tolist(), mean.tolist(), (mean - std).tolist(), (mean + std).tolist())
    ref = float(np.mean(result.full_supervision)) if result.full_supervision else None
    runs = {r.get("run") for r in result.rows}
    seeds = len({(r.get("run"), r["seed"]) for r in result.rows})
    over = f"{seeds} seed(s)" if len(runs) < 2 else f"{seeds} seeds of {len(runs)} runs"
    learning_curves(
        result.plot_png,
        curves,
        reference=ref,
        title=f"test IoU, mean ± std over {over}",
    )
