"""ROI sub-workspaces: annotate and train on a small region, then pull results back.

:func:`create_roi_workspace` copies a region of interest of a workspace (the raw image and any
chosen layers, chunk by chunk) into a new workspace that remembers its parent's path and the
region's offset (catalog ``meta`` entry ``roi_parent``). :func:`pull_back` writes a layer of the
sub-workspace into the parent's layer at that offset (:mod:`voxelwise.workspace._pullback`).
:func:`relink` points a sub-workspace at its parent's new location.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise._validate import parse_roi, roi_to_str
from voxelwise.errors import WorkspaceError, WorkspaceNotFoundError
from voxelwise.workspace._create import create_workspace, is_workspace
from voxelwise.workspace._errors import LabelError
from voxelwise.workspace._records import RAW, to_json, utc_now
from voxelwise.workspace._workspace import Workspace

__all__ = [
    "META_KEY",
    "copy_label_set",
    "create_roi_workspace",
    "open_parent",
    "relink",
    "roi_parent",
]

META_KEY = "roi_parent"


def _as_workspace(ws: Workspace | str | os.PathLike[str]) -> Workspace:
    return ws if isinstance(ws, Workspace) else Workspace.open(ws)


def _set_meta(ws: Workspace, key: str, value: Any) -> None:
    with ws._catalog.write() as conn:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, to_json(value)),
        )
    ws._meta[key] = value


def roi_parent(ws: Workspace | str | os.PathLike[str]) -> dict[str, Any] | None:
    """Where a sub-workspace came from, or None for a workspace made from a file or array.

    Returns a JSON-able dict: ``path`` (the parent workspace), ``name``, ``shape`` (the parent's),
    ``roi`` (``"z0:z1,y0:y1,x0:x1"`` in the parent's voxels), ``offset`` (z0, y0, x0) and
    ``created``.
    """
    ws = _as_workspace(ws)
    info = ws._catalog.meta().get(META_KEY)
    return None if info is None else dict(info)


def copy_label_set(src: Workspace, dst: Workspace, set_name: str) -> None:
    """Give ``dst`` the labels of ``src``'s set (parents first); refuse disagreeing sets."""
    labels = src.label_set(set_name)
    have = {lab.name: lab for lab in dst.label_sets().get(set_name, [])}
    by_value = {lab.value: lab.name for lab in have.values()}
    pending = list(labels)
    while pending:
        progressed = False
        for lab in list(pending):
            if lab.parent is not None and lab.parent not in have:
                continue
            pending.remove(lab)
            progressed = True
            if lab.name in have:
                if have[lab.name].value != lab.value:
                    raise LabelError(
                        f"Label {lab.name!r} of set {set_name!r} has value {lab.value} in "
                        f"{src.path} but {have[lab.name].value} in {dst.path}; rename one of "
                        "them (ws.update_label) or pull back into another layer (into=...)"
                    )
                continue
            if lab.value in by_value:
                raise LabelError(
                    f"Value {lab.value} means {lab.name!r} in set {set_name!r} of {src.path} "
                    f"but {by_value[lab.value]!r} in {dst.path}; make the label sets agree "
                    "before pulling back"
                )
            have[lab.name] = dst.add_label(
                set_name, lab.name, value=lab.value, color=lab.color, parent=lab.parent
            )
            by_value[lab.value] = lab.name
        if not progressed:  # parents missing from the set itself: add the rest as roots
            for lab in pending:
                have[lab.name] = dst.add_label(set_name, lab.name, value=lab.value, color=lab.color)
            pending = []


def create_roi_workspace(
    parent: Workspace | str | os.PathLike[str],
    path: str | os.PathLike[str],
    roi: Any,
    *,
    layers: str | Sequence[str] = (),
    chunks: Any = None,
    overwrite: bool = False,
    name: str | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> Workspace:
    """Create a workspace from a region of interest of another one.

    The region of the raw image (and of each layer in ``layers``) is copied chunk by chunk,
    never loading a whole volume; every label set of the parent is copied, so annotations made
    in the sub-workspace use the parent's label values. The new workspace records its parent's
    path and the region's offset (:func:`roi_parent`), so :func:`pull_back` can write its
    layers back at the right place.

    Parameters
    ----------
    parent : Workspace or path
    path : path
        The new workspace folder.
    roi : str, slices or (start, stop) pairs
        ``"z0:z1,y0:y1,x0:x1"`` in the parent's voxels (full resolution).
    layers : str or sequence of str
        Layers to copy besides the raw image (with their kind, label set and parameters).
    chunks : int or (3,) ints, optional
        Chunk shape of the new workspace; default the parent's, capped to the region.
    overwrite, name, scheduler, progress
        As for :meth:`Workspace.create`; ``progress`` follows the raw image's copy.

    Returns
    -------
    Workspace
        The new sub-workspace (spacing and unit of the parent).

    Raises
    ------
    RoiError
        The region is empty or reaches outside the parent.
    LayerNotFoundError
        A layer of ``layers`` is not in the parent.

    Examples
    --------
    >>> sub = create_roi_workspace(ws, "cells_roi.vw", "10:42,0:256,0:256")  # doctest: +SKIP
    >>> roi_parent(sub)["offset"]  # doctest: +SKIP
    [10, 0, 0]
    """
    start = time.perf_counter()
    parent = _as_workspace(parent)
    box = parse_roi(roi, parent.shape)
    names = [layers] if isinstance(layers, str) else list(layers)
    infos = [parent.layer(n) for n in names if n != RAW]  # raises LayerNotFoundError early
    text = roi_to_str(box)
    offset = [int(s.start) for s in box]
    link = {
        "path": str(parent.path),
        "name": parent.name,
        "shape": list(parent.shape),
        "roi": text,
        "offset": offset,
        "created": utc_now().isoformat(),
    }
    source = {
        "path": str(parent.path),
        "format": "voxelwise-workspace",
        "key": RAW,
        "source_shape": list(parent.shape),
        "roi": text,
        "bin": [1, 1, 1],
    }
    created = create_workspace(
        path,
        parent.get(RAW)[box],
        chunks=chunks if chunks is not None else parent.chunks,
        spacing=parent.spacing,
        unit=parent.unit,
        overwrite=overwrite,
        name=name,
        scheduler=scheduler,
        progress=progress,
        source_info=source,
        extra_meta={META_KEY: link},
    )
    child = Workspace(created)
    for set_name in parent.label_sets():
        copy_label_set(parent, child, set_name)
    copied = {RAW}
    for info in infos:
        child.add_layer(
            info.name,
            parent.get(info.name)[box],
            kind=info.kind,
            sources=[s for s in info.sources if s in copied],
            params={**(info.params or {}), "roi_of": {"path": str(parent.path), "roi": text}},
            label_set=info.label_set,
            scheduler=scheduler,
        )
        copied.add(info.name)
    child.record_run(
        "workspace.roi",
        params=link,
        inputs=[RAW, *(i.name for i in infos)],
        outputs=[RAW, *(i.name for i in infos)],
        duration=time.perf_counter() - start,
    )
    return child


def open_parent(ws: Workspace | str | os.PathLike[str]) -> Workspace:
    """The parent workspace of a sub-workspace.

    Raises
    ------
    WorkspaceError
        ``ws`` is not a sub-workspace, or its parent's shape changed.
    WorkspaceNotFoundError
        The parent is gone; the message says how to :func:`relink` it.
    """
    ws = _as_workspace(ws)
    link = roi_parent(ws)
    if link is None:
        raise WorkspaceError(
            f"{ws.path} is not an ROI sub-workspace (it has no parent); create one with "
            "voxelwise.workspace.create_roi_workspace(parent, path, roi)"
        )
    where = Path(link["path"])
    if not is_workspace(where):
        raise WorkspaceNotFoundError(
            f"The parent workspace of {ws.path} was {where}, which no longer exists or is not "
            "a workspace; if it moved, relink it with voxelwise.workspace.relink(child, "
            "NEW_PATH) (command line: voxelwise workspace relink CHILD NEW_PATH) and try again"
        )
    parent = Workspace(where)
    if list(parent.shape) != list(link["shape"]):
        raise WorkspaceError(
            f"The parent workspace {where} has shape {parent.shape} but the sub-workspace "
            f"{ws.path} was cut from one of shape {tuple(link['shape'])}; it is another "
            "dataset now. Relink the sub-workspace to the right parent (relink)"
        )
    return parent


def relink(
    ws: Workspace | str | os.PathLike[str], parent: Workspace | str | os.PathLike[str]
) -> dict[str, Any]:
    """Point a sub-workspace at its parent's new location (after the parent was moved).

    The new parent must have the shape the region was cut from. Returns the updated
    :func:`roi_parent` record.
    """
    ws = _as_workspace(ws)
    link = roi_parent(ws)
    if link is None:
        raise WorkspaceError(
            f"{ws.path} is not an ROI sub-workspace; only those have a parent to relink"
        )
    new = _as_workspace(parent)
    if list(new.shape) != list(link["shape"]):
        raise WorkspaceError(
            f"{new.path} has shape {new.shape} but {ws.path} was cut from a workspace of shape "
            f"{tuple(link['shape'])}; relink it to the workspace it came from"
        )
    link = {**link, "path": str(new.path), "name": new.name}
    _set_meta(ws, META_KEY, link)
    return link
