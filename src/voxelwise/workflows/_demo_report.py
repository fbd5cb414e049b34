"""The demo's figures and its Markdown/HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from voxelwise.workflows._figures import (
    histogram_png,
    learning_curve_png,
    panels_png,
    stretch_axis,
)
from voxelwise.workflows._preview import overlay_rgb
from voxelwise.workflows._report import Document, fmt

__all__ = ["write_demo_report"]

GT_LAYER = "ground_truth"


def _colors(ws: Any, layer: str) -> dict[int, tuple[int, ...]]:
    info = ws.layer(layer)
    if info.label_set is None:
        return {}
    return {lab.value: lab.color for lab in ws.label_set(info.label_set)}


def _shown(labels: np.ndarray) -> np.ndarray:
    """Labels as drawn: the first class (value 1, e.g. cytoplasm) is left uncoloured."""
    return np.where(labels == 1, 0, labels)


def _section(ws: Any, layer: str, axis: int, index: int) -> np.ndarray:
    cut: list[Any] = [slice(None)] * 3
    cut[axis] = index
    return np.asarray(ws.get(layer)[tuple(cut)])


def _roi_figure(ws: Any, path: Path) -> Path:
    # the annotated section nearest the middle, so that the scribbles show
    per_z = np.asarray((ws.get("scribbles") > 0).sum(axis=(1, 2)).compute())
    marked = np.flatnonzero(per_z)
    middle = ws.shape[0] // 2
    z = int(marked[np.argmin(np.abs(marked - middle))]) if marked.size else middle
    raw = _section(ws, "raw", 0, z)
    colors = _colors(ws, GT_LAYER)
    row = [(f"ROI, section z={z}", overlay_rgb(raw, None))]
    for title, layer in (
        ("scribbles", "scribbles"),
        ("random forest (supervoxels)", "shallow"),
        ("ground truth", GT_LAYER),
    ):
        labels = _section(ws, layer, 0, z)
        if title == "scribbles":  # thicken one-voxel strokes to be seen
            from scipy import ndimage

            grown = ndimage.grey_dilation(labels, size=(3, 3))
            labels = np.where(labels > 0, labels, grown)
        if title != "scribbles":
            labels = _shown(labels)
        row.append((title, overlay_rgb(raw, labels, colors=colors, alpha=0.6)))
    return panels_png(path, [row])


def _volume_figure(ws: Any, pred: str, path: Path) -> Path:
    colors = _colors(ws, GT_LAYER)
    aspect = ws.spacing[0] / min(ws.spacing[1:])
    rows = []
    for axis, name in enumerate("zyx"):
        index = ws.shape[axis] // 2
        raw = _section(ws, "raw", axis, index)
        panels = [
            (f"{name}={index}", overlay_rgb(raw, None)),
            (pred, overlay_rgb(raw, _shown(_section(ws, pred, axis, index)), colors=colors)),
            (
                "ground truth",
                overlay_rgb(raw, _shown(_section(ws, GT_LAYER, axis, index)), colors=colors),
            ),
        ]
        if axis > 0:  # sections across z: rows are z slices, shown at their physical height
            panels = [(t, stretch_axis(p, aspect)) for t, p in panels]
        rows.append(panels)
    return panels_png(path, rows)


def _metrics_rows(metrics: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    semantic = {k: m for k, m in metrics.items() if "per_class" in m}
    header = ["class"] + [f"{k} {s}" for k in semantic for s in ("IoU", "Dice")]
    classes: list[str] = []
    for m in semantic.values():
        classes += [c for c in m["per_class"] if c not in classes]
    rows: list[list[Any]] = []
    for c in classes:
        row: list[Any] = [c]
        for m in semantic.values():
            s = m["per_class"].get(c, {})
            row += [s.get("iou"), s.get("dice")]
        rows.append(row)
    rows.append(["mean", *[v for m in semantic.values() for v in (m["mean_iou"], m["mean_dice"])]])
    return header, rows


def write_demo_report(
    out: Path,
    *,
    roi_ws: Any,
    vol_ws: Any,
    pred: str,
    objects: str,
    table: Any,
    history: list[dict[str, float]] | None,
    metrics: dict[str, dict[str, Any]],
    facts: dict[str, Any],
) -> tuple[dict[str, Path], Path, Path]:
    """Draw the figures and write ``report.md`` and ``report.html`` into ``out``."""
    figures = {
        "roi": _roi_figure(roi_ws, out / "roi.png"),
        "volume": _volume_figure(vol_ws, pred, out / "volume.png"),
    }
    unit = vol_ws.unit or "voxel"
    if history:
        figures["learning_curve"] = learning_curve_png(out / "learning_curve.png", history)
    if len(table):
        groups: dict[str, list[float]] = {}
        names = table["class_name"].tolist() if "class_name" in table else ["objects"] * len(table)
        for name, v in zip(names, table["volume"].tolist()):
            groups.setdefault(str(name), []).append(float(v))
        figures["histogram"] = histogram_png(
            out / "histogram.png",
            groups,
            title=f"{objects}: volume per object",
            xlabel=f"volume ({unit}^3, log scale)",
            log=True,
        )

    doc = Document(f"voxelwise demo: {facts['dataset']}")
    z, y, x = vol_ws.shape
    sp = " x ".join(f"{s:g}" for s in vol_ws.spacing)
    doc.para(
        f"The SuRVoS2 pipeline end to end on the {facts['dataset']} sample: a {z} x {y} x {x} "
        f"(z, y, x) {vol_ws.dtype} volume with voxels of {sp} {unit}. The scribbles were drawn "
        f"from the ground truth inside the region of interest {facts['roi']}, standing in for a "
        f"person's strokes. Total time {facts['seconds']:.0f} s."
    )
    if facts.get("deep_note"):
        doc.para(f"Note: {facts['deep_note']}.")
    doc.heading("Pipeline")
    doc.table(["step", "seconds"], [[k, f"{v:.1f}"] for k, v in facts["timings"].items()])
    doc.heading("Region of interest: scribbles and the supervoxel random forest")
    doc.figure(
        figures["roi"],
        "ROI section: raw, scribbles, random-forest prediction, truth (the first class, "
        "the most common, is left uncoloured in the overlays)",
    )
    doc.heading("Scores against the ground truth")
    header, rows = _metrics_rows(metrics)
    doc.table(header, rows)
    obj = next((m for k, m in metrics.items() if "per_class" not in m), None)
    if obj is not None:
        doc.para(
            f"Objects ({objects} against the true instances): {obj.get('n_pred')} found, "
            f"{obj.get('n_true')} true; mean IoU of the true objects with their match "
            f"{fmt(obj.get('mean_true_iou'))}; {_threshold_text(obj.get('thresholds') or [])}."
        )
    if history:
        doc.heading("U-Net trained on the random-forest prediction (weak annotation)")
        t = facts.get("training") or {}
        if t:
            why = {
                "epochs": "all epochs",
                "early_stopping": "early stopping",
                "max_minutes": f"stopped by the {t['budget']:g}-minute budget on this machine",
            }.get(t["stopped"], t["stopped"])
            doc.para(
                f"A 2D residual U-Net trained on z, y and x sections of the ROI for {t['epochs']} "
                f"epochs ({why}); best validation mean IoU {fmt(t['best'])} against the random "
                "forest's labels."
            )
        doc.figure(figures["learning_curve"], "training loss, validation loss and mean IoU")
    doc.heading(f"Whole volume, multi-axis prediction ({pred})")
    doc.figure(figures["volume"], "middle sections across z, y and x: raw, prediction, truth")
    doc.heading("Objects, measurements and a splitter rule")
    if len(table):
        volumes = np.asarray(table["volume"], dtype=float)
        counts: dict[str, int] = {}
        for n in table["class_name"].tolist() if "class_name" in table else []:
            counts[str(n)] = counts.get(str(n), 0) + 1
        doc.para(
            f"{len(table)} objects in {objects}; volume median {np.median(volumes):.4g} "
            f"{unit}^3 (range {volumes.min():.4g} to {volumes.max():.4g}). Split by the rule "
            f"'large if volume >= median, else small': "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
        )
        doc.figure(figures["histogram"], "object volumes, coloured by the splitter's class")
    else:
        doc.para(f"No objects of {objects} were found, so nothing was measured.")
    doc.heading("Replay on new data")
    doc.para("Every step is recorded in the workspaces; the ROI pipeline is exported as:")
    doc.code(
        f"voxelwise run {Path(facts['workflow']).name} --image NEW_VOLUME.tif "
        "--input scribbles=NEW_SCRIBBLES.tif\n"
        f"voxelwise run {Path(facts['workflow']).name} --image NEW_VOLUME.tif --no-train"
        "   # apply the trained models as they are"
    )
    doc.heading("Class fractions of the ground truth")
    doc.table(["class", "percent"], [[k, f"{100 * v:.2f}"] for k, v in facts["fractions"].items()])
    md, page = doc.write(out)
    return figures, md, page


def _threshold_text(scores: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"at IoU >= {s['threshold']:g} precision {fmt(s['precision'])}, recall {fmt(s['recall'])}"
        for s in scores
    )
