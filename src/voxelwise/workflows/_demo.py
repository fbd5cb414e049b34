"""The main job of ``voxelwise demo``: the SuRVoS2 pipeline end to end on a sample volume.

A workspace from a region of interest (ROI) -> denoising -> features -> supervoxels -> scribbles
(drawn from the ground truth, standing in for a person's strokes) -> a supervoxel random forest
on the ROI -> a 2D U-Net trained on that ROI prediction (weak annotation) -> multi-axis
prediction of the whole volume -> instances, measurements, a splitter rule -> metrics against
the ground truth, and a Markdown/HTML report with figures. Every step runs through
:func:`execute_step`, so both workspaces export as replayable workflows.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler, compute
from voxelwise._validate import parse_roi
from voxelwise.workflows._demo_report import write_demo_report
from voxelwise.workflows._export import export_workflow
from voxelwise.workflows._progress import StageCallback, Stages
from voxelwise.workflows._sample import Sample, default_roi, load_sample
from voxelwise.workflows._schema import save_workflow
from voxelwise.workflows._scribbles import scribbles_from_truth
from voxelwise.workflows._steps import StepContext, StepOutcome, execute_step

__all__ = ["DemoReport", "run_demo"]

GT_LAYER = "ground_truth"
GT_SET = "classes"
DEEP_HINT = "pip install -c constraints.txt 'voxelwise[deep]'"


@dataclass
class DemoReport:
    """What the demo built, with numbers a person can check.

    ``workspace`` is the whole volume's workspace, ``roi_workspace`` the ROI's; ``report`` and
    ``html`` the written report; ``metrics`` maps a result (``"shallow (ROI)"``,
    ``"U-Net (volume)"``) to its scores against the ground truth; ``deep_note`` says why the
    U-Net steps were skipped (torch not installed), else is empty.
    """

    workspace: Path
    roi_workspace: Path
    dataset: str
    shape: tuple[int, int, int]
    dtype: str
    spacing: tuple[float, float, float]
    unit: str | None
    levels: int
    roi: str
    layers: list[str]
    raw_stats: dict[str, Any]
    class_fractions: dict[str, float]
    preview: Path
    report: Path
    html: Path
    workflow: Path
    figures: dict[str, Path]
    metrics: dict[str, dict[str, Any]]
    objects: int
    split: dict[str, int]
    seconds: float
    steps: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    deep_note: str = ""

    def summary(self) -> str:
        """A short multi-line report for the terminal, ending with where the report is."""
        unit = f" {self.unit}" if self.unit else ""
        lines = [
            f"voxelwise demo: {self.dataset}",
            f"  image        {' x '.join(map(str, self.shape))} (z, y, x) {self.dtype}, "
            f"voxel size {' x '.join(f'{s:g}' for s in self.spacing)}{unit}",
            f"  ROI          {self.roi}",
            "  ground-truth class fractions: "
            + ", ".join(f"{n} {100 * f:.1f} %" for n, f in self.class_fractions.items()),
        ]
        for name, m in self.metrics.items():
            if m.get("mean_iou") is not None:
                lines.append(
                    f"  {name:<22} mean IoU {m['mean_iou']:.3f}, Dice {m['mean_dice']:.3f}"
                )
        if self.objects:
            split = ", ".join(f"{k} {v}" for k, v in self.split.items())
            lines.append(f"  objects      {self.objects} ({split})")
        if self.deep_note:
            lines.append(f"  note         {self.deep_note}")
        lines += [
            f"  workspaces   {self.roi_workspace}, {self.workspace}",
            f"  workflow     {self.workflow}",
            f"  took         {self.seconds:.1f} s",
            f"  report       {self.report}  (and {self.html.name})",
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Settings:
    supervoxel_size: float = 4.0
    every: int = 6
    strokes: int = 4
    stroke_length: int = 20
    patch: int = 64
    epochs: int = 12
    steps_per_epoch: int = 20
    batch_size: int = 8
    network: dict[str, int] = field(default_factory=lambda: {"width": 16, "depth": 3, "blocks": 1})
    max_minutes: float = 3.0
    min_size: int = 50


_QUICK = _Settings(
    supervoxel_size=3.0,
    every=3,
    stroke_length=12,
    patch=32,
    epochs=2,
    steps_per_epoch=3,
    batch_size=4,
    network={"width": 8, "depth": 2, "blocks": 1},
    max_minutes=1.0,
    min_size=5,
)


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch threads, restoring the previous setting afterwards."""
    if threads is None:
        yield
        return
    from voxelwise._optional import optional_import

    torch = optional_import("torch", feature="the demo's U-Net")
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "class"


def _add_truth(ws: Any, truth: Any, names: dict[int, str], sample: Sample, cut: Any) -> None:
    """The ground truth as a label layer (class c stored as c + 1; 0 means unlabelled)."""
    for value, name in sorted(names.items()):
        ws.add_label(GT_SET, name, value=int(value) + 1)
    ws.add_layer(
        GT_LAYER,
        da.asarray(truth)[cut].astype(np.uint8) + 1,
        kind="labels",
        label_set=GT_SET,
        params={"dataset": sample.name, "encoding": "class + 1"},
        overwrite=True,
    )
    if sample.instances is not None:
        ws.add_layer(
            "truth_instances",
            da.asarray(sample.instances)[cut],
            kind="instances",
            params={"dataset": sample.name, "class": sample.instance_class},
            overwrite=True,
        )


def _instance_value(names: dict[int, str], preferred: str | None) -> int:
    """Label value (class + 1) of the class to count objects of: mitochondria if present."""
    for value, name in names.items():
        if (preferred and name == _safe(preferred)) or "mito" in name.lower():
            return value + 1
    return max(names) + 1


def _run(ctx: StepContext, step: dict[str, Any], progress: Any) -> StepOutcome:
    return execute_step({"params": {}, **step}, ctx, progress=progress)


def run_demo(
    out: str | os.PathLike[str] = "voxelwise-demo",
    *,
    dataset: str = "synthetic",
    truth: str | os.PathLike[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    roi: str | None = None,
    quick: bool = False,
    threads: int | None = None,
    rng: int = 0,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
    on_stage: StageCallback | None = None,
) -> DemoReport:
    """Run the SuRVoS2 pipeline end to end on a sample volume and write a report.

    Parameters
    ----------
    out : path
        Folder for the results (created; earlier demo workspaces in it are replaced).
    dataset : str
        ``"synthetic"`` (generated, no download), a registered dataset (``"vnc"``,
        ``"isbi2012"``, ``"flyem"``; see :func:`voxelwise.data.datasets`), or a volume file.
    truth : path, optional
        Ground truth of a volume file: class values 0, 1, 2, ... (every voxel labelled).
    data_root : path, optional
        Folder holding the registered datasets (default: the download cache).
    roi : str, optional
        Region ``"z0:z1,y0:y1,x0:x1"`` to annotate and learn on; default the central part.
    quick : bool
        A much smaller run (tiny volume and network) for tests and smoke checks; a real
        volume is cut to its central 16 x 128 x 128 voxels.
    threads : int, optional
        Torch threads for the U-Net steps (default torch's own choice, the physical cores).
    rng : int
        Seed of the sample, the scribbles, the random forest and the U-Net.
    scheduler, progress
        Where to compute and a ``progress(done, total)`` callback (see :mod:`voxelwise._compute`)
        spanning the whole pipeline.
    on_stage : callable, optional
        ``on_stage(name, index, count)``, called as each stage of the pipeline starts
        (``"features"``, ``"U-Net training"``, ...), e.g. to label a progress bar.

    Returns
    -------
    DemoReport
    """
    from voxelwise.filters import load_preset
    from voxelwise.workspace import Workspace

    started = time.perf_counter()
    settings = _QUICK if quick else _Settings()
    out = Path(out)
    results = out / "results"
    results.mkdir(parents=True, exist_ok=True)
    deep = importlib.util.find_spec("torch") is not None
    stage = Stages(progress, 15, on_stage)

    with stage("load sample"):
        sample = load_sample(dataset, truth=truth, data_root=data_root, quick=quick, rng=rng)
    shape = tuple(int(s) for s in sample.image.shape)
    roi = roi or default_roi(shape)
    cut = parse_roi(roi, shape)
    names = {int(v): _safe(n) for v, n in sample.class_names.items()}

    params: dict[str, Any]
    common: dict[str, Any] = {"spacing": sample.spacing, "unit": sample.unit, "overwrite": True}
    with stage("ROI workspace") as p:
        roi_ws = Workspace.create(
            out / f"{sample.name}-roi.vw",
            sample.image,
            roi=roi,
            scheduler=scheduler,
            progress=p,
            **common,
        )
        _add_truth(roi_ws, sample.truth, names, sample, cut)
    ctx = StepContext(roi_ws, results, overwrite=True, scheduler=scheduler)
    pct = roi_ws.stats("raw")["percentiles"]
    weight = round(0.07 * (float(pct["99"]) - float(pct["1"])), 3) or 0.1
    denoise = {"filter": "tv_denoise", "params": {"weight": weight}, "name": "denoised"}
    with stage("denoise") as p:
        _run(ctx, {"id": "denoise", "step": "features", "params": {"features": [denoise]}}, p)
    with stage("features") as p:
        bank = [f.to_dict() for f in load_preset("small")]
        params = {"source": "denoised", "features": bank}
        feats = _run(ctx, {"id": "features", "step": "features", "params": params}, p).outputs
    with stage("supervoxels") as p:
        params = {"source": "denoised", "size": settings.supervoxel_size}
        _run(ctx, {"id": "supervoxels", "step": "supervoxels", "params": params}, p)
    with stage("scribbles"):
        from voxelwise.annotate import import_labels

        strokes = scribbles_from_truth(
            np.asarray(roi_ws.get(GT_LAYER)),
            every=settings.every,
            strokes=settings.strokes,
            length=settings.stroke_length,
            rng=rng,
        )
        import_labels(roi_ws, strokes, name="scribbles", label_set=GT_SET, overwrite=True)
    with stage("random forest") as p:
        params = {
            "annotations": "scribbles",
            "features": ["denoised", *feats],
            "mode": "supervoxel",
            "supervoxels": "supervoxels",
            "classifier": "rf",
            "statistics": ["mean", "std", "min", "max"],
            "rng": rng,
        }
        _run(ctx, {"id": "random_forest", "step": "shallow_train", "params": params}, p)
        params = {"model": "random_forest", "name": "shallow"}
        _run(ctx, {"id": "shallow_predict", "step": "shallow_predict", "params": params}, p)
        shallow = _run(
            ctx,
            {
                "id": "roi_metrics",
                "step": "metrics",
                "params": {"pred": "shallow", "truth": GT_LAYER},
            },
            None,
        )
    deep_note, trained = "", None
    with stage("U-Net training") as p, _torch_threads(threads if deep else None):
        if deep:
            config = {
                "arch": "unet2d",
                "patch_size": [settings.patch, settings.patch],
                "axes": "zyx",
                "network": dict(settings.network),
                "epochs": settings.epochs,
                "steps_per_epoch": settings.steps_per_epoch,
                "batch_size": settings.batch_size,
                "class_balance": True,
                "val_patches": 8,
                "patience": settings.epochs,
                "max_minutes": settings.max_minutes,
            }
            params = {"image": "raw", "labels": "shallow", "config": config, "rng": rng}
            _run(ctx, {"id": "unet_train", "step": "deep_train", "params": params}, p)
            trained = ctx.trained["unet_train"]
        else:
            deep_note = (
                f"PyTorch is not installed, so the U-Net steps were skipped and the random forest "
                f"segmented the whole volume instead; install it with {DEEP_HINT}"
            )
    workflow = save_workflow(export_workflow(roi_ws, name="demo ROI"), out / "workflow.yaml")

    with stage("volume workspace") as p:
        vol_ws = Workspace.create(
            out / f"{sample.name}.vw", sample.image, scheduler=scheduler, progress=p, **common
        )
        _add_truth(vol_ws, sample.truth, names, sample, (slice(None),) * 3)
    vctx = StepContext(vol_ws, results, overwrite=True, scheduler=scheduler)
    with stage("whole-volume prediction") as p, _torch_threads(threads if deep else None):
        if trained is not None:
            pred = "unet"
            params = {
                "model_files": [str(trained.model_path)],
                "name": pred,
                "axes": "zyx",
                "outputs": ["labels", "confidence"],
                "overlap": [0, settings.patch // 8, settings.patch // 8],
            }
            _run(vctx, {"id": "unet_predict", "step": "deep_predict", "params": params}, p)
        else:  # apply the ROI's workflow (denoising, features, supervoxels, forest) as it is
            from voxelwise.workflows._run import run_workflow

            pred = "shallow"
            run_workflow(
                workflow,
                workspace=vol_ws.path,
                train="never",
                results=results,
                overwrite=True,
                scheduler=scheduler,
                progress=p,
            )
    value = _instance_value(names, sample.instance_class)
    objects = f"{names[value - 1]}_objects"
    with stage("instances") as p:
        params = {"source": pred, "name": objects, "value": value, "min_size": settings.min_size}
        _run(vctx, {"id": "instances", "step": "instances", "params": params}, p)
    with stage("measurements") as p:
        params = {"labels": objects, "intensity": ["raw"], "out": f"{objects}.csv"}
        _run(vctx, {"id": "measure", "step": "measure", "params": params}, p)
        table = vctx.tables["measure"]
    split: dict[str, int] = {}
    with stage("splitter") as p:
        if len(table):
            threshold = float(np.round(np.median(table["volume"]), 1))
            rules = {
                "rules": [
                    {"class": "large", "measurement": "volume", "op": ">=", "value": threshold}
                ],
                "default": "small",
            }
            params = {
                "labels": objects,
                "table": "measure",
                "rules": rules,
                "name": f"{objects}_size",
            }
            params["out"] = f"{objects}_classes.csv"
            _run(vctx, {"id": "split", "step": "split", "params": params}, p)
            for name in vctx.tables["split"]["class_name"].tolist():
                split[str(name)] = split.get(str(name), 0) + 1
    with stage("metrics") as p:
        params = {"pred": pred, "truth": GT_LAYER}
        whole = _run(vctx, {"id": "volume_metrics", "step": "metrics", "params": params}, p)
        inst = None
        if sample.instances is not None:
            params = {"pred": objects, "truth": "truth_instances", "instances": True}
            inst = _run(vctx, {"id": "object_metrics", "step": "metrics", "params": params}, p)
    save_workflow(export_workflow(vol_ws, name="demo volume"), out / "volume-workflow.yaml")

    metrics = {"shallow (ROI)": shallow.result["metrics"]}
    metrics["U-Net (volume)" if trained else "shallow (volume)"] = whole.result["metrics"]
    if inst is not None:
        metrics["objects (volume)"] = inst.result["metrics"]
    counts = _class_fractions(vol_ws, names, scheduler)
    with stage("report"):
        figures, report, html = write_demo_report(
            out,
            roi_ws=roi_ws,
            vol_ws=vol_ws,
            pred=pred,
            objects=objects,
            table=vctx.tables.get("split", table),
            history=trained.history if trained is not None else None,
            metrics=metrics,
            facts={
                "dataset": sample.name,
                "roi": roi,
                "deep_note": deep_note,
                "timings": stage.times,
                "seconds": time.perf_counter() - started,
                "fractions": counts,
                "workflow": workflow,
                "training": None
                if trained is None
                else {
                    "epochs": trained.epochs,
                    "stopped": trained.stopped,
                    "best": trained.best_val_miou,
                    "budget": settings.max_minutes,
                },
            },
        )
    seconds = time.perf_counter() - started
    raw = vol_ws.layers["raw"]
    vol_ws.record_run(
        "demo",
        params={"dataset": sample.name, "roi": roi, "quick": quick, "rng": rng},
        inputs=["raw"],
        outputs=[GT_LAYER],
        duration=seconds,
    )
    return DemoReport(
        workspace=vol_ws.path,
        roi_workspace=roi_ws.path,
        dataset=sample.name,
        shape=tuple(vol_ws.shape),  # type: ignore[arg-type]
        dtype=str(vol_ws.dtype),
        spacing=tuple(vol_ws.spacing),  # type: ignore[arg-type]
        unit=vol_ws.unit,
        levels=raw.levels,
        roi=roi,
        layers=list(vol_ws.layers),
        raw_stats=dict(raw.stats or {}),
        class_fractions=counts,
        preview=figures["roi"],
        report=report,
        html=html,
        workflow=workflow,
        figures=figures,
        metrics=metrics,
        objects=len(table),
        split=split,
        seconds=seconds,
        steps=list(stage.times),
        timings=dict(stage.times),
        deep_note=deep_note,
    )


def _class_fractions(ws: Any, names: dict[int, str], scheduler: Scheduler) -> dict[str, float]:
    stored = ws.get(GT_LAYER)
    (counts,) = compute(
        da.bincount(stored.ravel().astype(np.int64), minlength=max(names) + 2),
        scheduler=scheduler,
    )
    total = max(int(counts.sum()), 1)
    return {names[v]: float(counts[v + 1]) / total for v in sorted(names)}
