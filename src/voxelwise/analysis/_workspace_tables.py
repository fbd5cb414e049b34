"""Tables from workspace layers: measurements, the label splitter, fractions and metrics.

Each function reads layers lazily, returns a table or report (and writes a class layer for the
splitter), and records a run so the analysis can be replayed on other data.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.analysis._errors import RuleError, TableError
from voxelwise.analysis._fractions import volume_fractions
from voxelwise.analysis._instance_metrics import InstanceReport, instance_metrics
from voxelwise.analysis._measure import measure
from voxelwise.analysis._metrics import MetricsReport, segmentation_metrics
from voxelwise.analysis._rules import SplitRules
from voxelwise.analysis._split import split_labels
from voxelwise.analysis._table import Table
from voxelwise.analysis._workspace import check_new, names_of

if TYPE_CHECKING:
    from voxelwise.workspace import LayerInfo, Workspace

__all__ = ["analyze_layer", "layer_metrics", "layer_volume_fractions", "split_layer"]

Path_ = str | os.PathLike[str]


def analyze_layer(
    ws: Workspace,
    labels: str,
    *,
    intensity: str | Sequence[str] | None = None,
    surface: bool = True,
    out: Path_ | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> Table:
    """Measure every object of a label layer (see :func:`measure`) with the workspace spacing.

    ``intensity`` names the layers to summarise per object (``raw`` is the image). ``out``
    writes the table too (``.csv`` or ``.parquet``). ``table.meta`` records the workspace,
    the layer, spacing and unit, so :func:`split_layer` finds the layer again.
    """
    start = time.perf_counter()
    ws.layer(labels)
    names = [intensity] if isinstance(intensity, str) else list(intensity or [])
    layers = {n: ws.get(n) for n in names}
    table = measure(
        ws.open_array(labels, mode="r"),  # stored: each chunk task reads its own halo
        layers or None,
        spacing=ws.spacing,
        surface=surface,
        scheduler=scheduler,
        progress=progress,
    )
    table.meta.update(
        {"workspace": str(ws.path), "labels": labels, "unit": ws.unit, "spacing": list(ws.spacing)}
    )
    if out is not None:
        table.write(out)
    ws.record_run(
        "analysis.measure",
        params={
            "intensity": names,
            "surface": bool(surface),
            "out": None if out is None else str(out),
            "n_objects": len(table),
        },
        inputs=[labels, *names],
        duration=time.perf_counter() - start,
    )
    return table


def split_layer(
    ws: Workspace,
    table: Table | Path_,
    rules: SplitRules | Path_,
    *,
    labels: str | None = None,
    name: str | None = None,
    label_set: str | None = None,
    out: Path_ | None = None,
    overwrite: bool = False,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[LayerInfo, Table]:
    """Apply splitter rules to a measured label layer: a class layer, a label set, a table.

    Parameters
    ----------
    ws : Workspace
    table : Table or path
        Measurements from :func:`analyze_layer` (a ``.csv``/``.parquet`` file or the table).
    rules : SplitRules or path
        The rules, or a YAML rules file (see :meth:`SplitRules.from_yaml`).
    labels : str, optional
        The instance layer that was measured; default: the one recorded in the table.
    name : str, optional
        The new ``"labels"`` layer; default ``"<labels>_classes"``.
    label_set : str, optional
        Label set holding one label per class (created or extended); default ``name``.
    out : path, optional
        Also write the table with its ``class`` and ``class_name`` columns.
    overwrite : bool
        Replace an existing layer ``name``.

    Returns
    -------
    (LayerInfo, Table)
    """
    start = time.perf_counter()
    if not isinstance(table, Table):
        table = Table.read(table)
    if not isinstance(rules, SplitRules):
        rules = SplitRules.from_yaml(rules)
    labels = labels or table.meta.get("labels")
    if not labels:
        raise TableError(
            "The table does not say which label layer it measures; pass labels='<layer>'"
        )
    ws.layer(labels)
    name = name or f"{labels}_classes"
    label_set = label_set or name
    check_new(ws, name, overwrite)
    classes, result = split_labels(ws.get(labels), table, rules)
    existing = {lab.name: lab.value for lab in ws.label_sets().get(label_set, [])}
    for cls, value in rules.classes.items():
        if cls in existing and existing[cls] != value:
            raise RuleError(
                f"Label set {label_set!r} has {cls!r} = {existing[cls]} but the rules give it "
                f"{value}; fix the value under 'classes' in the rules, or use another label_set"
            )
        if cls not in existing:
            ws.add_label(label_set, cls, value=value)
    info = ws.add_layer(
        name,
        classes,
        kind="labels",
        sources=labels,
        params={"rules": rules.to_dict()},
        label_set=label_set,
        overwrite=overwrite,
        scheduler=scheduler,
        progress=progress,
    )
    result.meta.update({"labels": labels, "classes_layer": name})
    if out is not None:
        result.write(out)
    ws.record_run(
        "analysis.split",
        params={"rules": rules.to_dict(), "label_set": label_set},
        inputs=[labels],
        outputs=[name],
        duration=time.perf_counter() - start,
    )
    return info, result


def layer_volume_fractions(
    ws: Workspace,
    classes: str,
    *,
    within: Any = None,
    values: Any = None,
    ignore_label: Any = None,
    out: Path_ | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> Table:
    """:func:`volume_fractions` of a class layer, named by its label set.

    ``within`` is ``None`` (the whole volume), a layer name (a mask or region labels, e.g.
    cell instances: one row per cell), or class values of ``classes`` making up the parent
    (e.g. the labels under "cell" in a hierarchy).
    """
    ws.layer(classes)
    region = ws.get(within) if isinstance(within, str) else within
    table = volume_fractions(
        ws.get(classes),
        region,
        values=values,
        names=names_of(ws, classes),
        spacing=ws.spacing,
        ignore_label=ignore_label,
        scheduler=scheduler,
        progress=progress,
    )
    table.meta.update(
        {
            "classes_layer": classes,
            "within": within if isinstance(within, str | None) else "values",
            "unit": ws.unit,
        }
    )
    if out is not None:
        table.write(Path(out))
    return table


def layer_metrics(
    ws: Workspace,
    pred: str,
    truth: str,
    *,
    classes: Any = None,
    ignore_label: Any = None,
    instances: bool = False,
    thresholds: Any = (0.5, 0.75),
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> MetricsReport | InstanceReport:
    """Compare two layers: :func:`segmentation_metrics` (class names from the truth layer's
    label set), or :func:`instance_metrics` with ``instances=True``; the run is recorded."""
    start = time.perf_counter()
    ws.layer(pred)
    ws.layer(truth)
    report: MetricsReport | InstanceReport
    if instances:
        report = instance_metrics(
            ws.get(pred),
            ws.get(truth),
            thresholds=thresholds,
            ignore_label=ignore_label,
            scheduler=scheduler,
            progress=progress,
        )
    else:
        report = segmentation_metrics(
            ws.get(pred),
            ws.get(truth),
            classes=classes,
            ignore_label=ignore_label,
            names=names_of(ws, truth),
            scheduler=scheduler,
            progress=progress,
        )
    summary = report.to_dict()
    summary.pop("confusion", None)
    summary.pop("matches", None)
    ws.record_run(
        "analysis.metrics",
        params={"instances": bool(instances), "result": summary},
        inputs=[pred, truth],
        duration=time.perf_counter() - start,
    )
    return report
