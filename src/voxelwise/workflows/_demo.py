"""The main job of ``voxelwise demo``: build a workspace from a sample volume and report it.

As the library grows, the demo grows with it (features, segmentation, measurements); each step
is recorded in the workspace so the whole run can be inspected and replayed.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler, compute
from voxelwise.errors import InvalidVolumeError
from voxelwise.workflows._preview import save_overlay_png

__all__ = ["DemoReport", "run_demo"]

SYNTHETIC_SHAPE = (48, 256, 256)
SYNTHETIC_SPACING = (20.0, 10.0, 10.0)  # nanometre: a mildly anisotropic stack
GT_LAYER = "ground_truth"
GT_SET = "classes"


@dataclass
class DemoReport:
    """What the demo built, with numbers a person can check."""

    workspace: Path
    dataset: str
    shape: tuple[int, int, int]
    dtype: str
    spacing: tuple[float, float, float]
    unit: str | None
    levels: int
    layers: list[str]
    raw_stats: dict[str, Any]
    class_fractions: dict[str, float]
    preview: Path
    seconds: float
    steps: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A short multi-line report for the terminal."""
        unit = f" {self.unit}" if self.unit else ""
        lines = [
            f"voxelwise demo: {self.dataset}",
            f"  workspace    {self.workspace}",
            f"  image        {' x '.join(map(str, self.shape))} (z, y, x) {self.dtype}",
            f"  voxel size   {' x '.join(f'{s:g}' for s in self.spacing)}{unit}",
            f"  pyramid      {self.levels} levels (anisotropy-aware)",
            f"  intensity    min {self.raw_stats.get('min')}, max {self.raw_stats.get('max')}, "
            f"mean {self.raw_stats.get('mean', float('nan')):.2f}, "
            f"std {self.raw_stats.get('std', float('nan')):.2f}",
            f"  layers       {', '.join(self.layers)}",
            "  ground-truth class fractions:",
        ]
        width = max((len(n) for n in self.class_fractions), default=0)
        lines += [
            f"    {name:<{width}}  {100 * frac:6.2f} %"
            for name, frac in self.class_fractions.items()
        ]
        lines += [
            f"  preview      {self.preview}",
            f"  steps        {', '.join(self.steps)}",
            f"  took         {self.seconds:.1f} s",
        ]
        return "\n".join(lines)


def _load_sample(
    dataset: str, data_root: str | os.PathLike[str] | None
) -> tuple[Any, Any, tuple[float, float, float], str | None, dict[int, str]]:
    """Image, ground truth (0 = first class), spacing, unit and class names of the sample."""
    if dataset == "synthetic":
        from voxelwise.data import synthetic_em

        vol = synthetic_em(SYNTHETIC_SHAPE, spacing=SYNTHETIC_SPACING, rng=0)
        return vol.image, vol.labels, SYNTHETIC_SPACING, "nanometer", dict(vol.class_names)
    from voxelwise.data import load

    loaded = load(dataset, Path(data_root) if data_root is not None else None)
    if loaded.labels is None:  # pragma: no cover - every registered dataset has labels
        raise InvalidVolumeError(f"The dataset {dataset!r} has no ground truth to show")
    labels = loaded.labels
    if labels.dtype == bool:
        labels = labels.astype(np.uint8)
    return (
        loaded.image,
        labels,
        loaded.meta.spacing,
        loaded.meta.unit,
        dict(loaded.meta.class_names or {}),
    )


def run_demo(
    out: str | os.PathLike[str],
    *,
    dataset: str = "synthetic",
    data_root: str | os.PathLike[str] | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> DemoReport:
    """Build a workspace from a sample volume, add its ground truth, and report both.

    Parameters
    ----------
    out : path
        Folder for the results (created; an earlier demo workspace in it is replaced).
    dataset : str
        ``"synthetic"`` (generated, no download) or a registered dataset name
        (``"vnc"``, ``"flyem"``, ``"isbi2012"``; see :func:`voxelwise.data.datasets`).
    data_root : path, optional
        Folder holding the registered datasets (default: the download cache).
    scheduler, progress
        Where to compute and a ``progress(done, total)`` callback (see :mod:`voxelwise._compute`).

    Returns
    -------
    DemoReport
        The workspace path, image facts, ground-truth class fractions and a preview PNG.
    """
    from voxelwise.workspace import Workspace

    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    image, truth, spacing, unit, class_names = _load_sample(dataset, data_root)

    ws = Workspace.create(
        out / f"{dataset}.vw",
        image,
        spacing=spacing,
        unit=unit,
        overwrite=True,
        scheduler=scheduler,
        progress=progress,
    )
    steps = ["import"]

    # Ground truth as a label layer: class c is stored as c + 1, since 0 means "unlabelled".
    for value, name in sorted(class_names.items()):
        ws.add_label(GT_SET, re.sub(r"[^A-Za-z0-9_.-]+", "_", name), value=int(value) + 1)
    truth = da.asarray(truth)
    ws.add_layer(
        GT_LAYER,
        (truth.astype(np.uint8) + 1),
        kind="labels",
        label_set=GT_SET,
        params={"dataset": dataset, "encoding": "class + 1"},
        scheduler=scheduler,
        progress=progress,
    )
    steps.append("ground truth")

    stored = ws.get(GT_LAYER)
    n_classes = len(class_names) + 1
    (counts,) = compute(
        da.bincount(stored.ravel().astype(np.int64), minlength=n_classes),
        scheduler=scheduler,
        progress=progress,
    )
    total = max(int(counts.sum()), 1)
    fractions = {class_names[v]: float(counts[v + 1]) / total for v in sorted(class_names)}
    steps.append("class fractions")

    z = ws.shape[0] // 2
    section = np.asarray(ws.get("raw")[z])
    preview = save_overlay_png(
        section,
        np.asarray(stored[z]),
        out / "preview.png",
        colors={lab.value: lab.color for lab in ws.label_set(GT_SET)},
    )
    steps.append("preview")

    seconds = time.perf_counter() - started
    ws.record_run(
        "demo",
        params={"dataset": dataset, "data_root": str(data_root) if data_root else None},
        inputs=["raw"],
        outputs=[GT_LAYER],
        duration=seconds,
    )
    raw = ws.layers["raw"]
    return DemoReport(
        workspace=ws.path,
        dataset=dataset,
        shape=tuple(ws.shape),  # type: ignore[arg-type]
        dtype=str(ws.dtype),
        spacing=tuple(ws.spacing),  # type: ignore[arg-type]
        unit=ws.unit,
        levels=raw.levels,
        layers=list(ws.layers),
        raw_stats=dict(raw.stats or {}),
        class_fractions=fractions,
        preview=preview,
        seconds=seconds,
        steps=steps,
    )
