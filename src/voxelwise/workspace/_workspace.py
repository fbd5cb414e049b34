"""The :class:`Workspace`: one folder holding an OME-Zarr store and a SQLite catalog."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from voxelwise import __version__
from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise._validate import parse_chunks
from voxelwise.errors import LayerExistsError, WorkspaceNotFoundError
from voxelwise.workspace._access import LayersMixin
from voxelwise.workspace._catalog import (
    SCHEMA_VERSION,
    UPSERT_LAYER,
    Catalog,
    layer_to_params,
)
from voxelwise.workspace._create import create_workspace, is_workspace
from voxelwise.workspace._errors import InvalidLayerError, LabelNotFoundError
from voxelwise.workspace._labels import LabelsMixin
from voxelwise.workspace._models import ModelsMixin
from voxelwise.workspace._records import (
    LABEL_KINDS,
    LayerInfo,
    parse_kind,
    parse_layer_name,
    parse_name,
    to_json,
    utc_now,
)
from voxelwise.workspace._runs import RunsMixin
from voxelwise.workspace._store import (
    CATALOG,
    STORE,
    as_dask,
    discard_tree,
    image_label_attrs,
    new_directory,
    open_group,
    remove_orphans,
    remove_tree,
    sync_ngff,
    write_layer,
)

__all__ = ["Workspace"]


class Workspace(LayersMixin, LabelsMixin, RunsMixin, ModelsMixin):
    """A dataset folder: the image, every derived layer, label sets, runs and jobs.

    Create one with :meth:`Workspace.create` and reopen it with :meth:`Workspace.open` (or
    ``Workspace(path)``). The object holds only the path and the image's fixed properties; every
    query reads the catalog afresh, so several handles, threads and processes can share a
    workspace. See ``docs/design/workspace-format.md`` for the folder layout.

    Examples
    --------
    >>> import numpy as np
    >>> ws = Workspace.create(tmp_path / "demo.vw", np.zeros((4, 32, 32), np.uint8))  # doctest: +SKIP
    >>> ws.add_layer("smooth", ws.get("raw").astype("float32"))  # doctest: +SKIP
    >>> sorted(ws.layers)  # doctest: +SKIP
    ['raw', 'smooth']
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser().absolute()
        if not is_workspace(self.path):
            raise WorkspaceNotFoundError(
                f"{self.path} is not a voxelwise workspace (expected a folder with {CATALOG} and "
                f"{STORE}); create one with Workspace.create(path, image)"
            )
        self._root = self.path / STORE
        self._catalog = Catalog(self.path / CATALOG)
        self._catalog.check_version()
        meta = self._catalog.meta()
        self.name: str = meta["name"]
        self.shape: tuple[int, int, int] = tuple(meta["shape"])
        self.dtype = np.dtype(meta["dtype"])
        self.spacing: tuple[float, float, float] = tuple(meta["spacing"])
        self.unit: str | None = meta["unit"]
        self.chunks: tuple[int, int, int] = tuple(meta["chunks"])
        self._meta = meta
        remove_orphans(self._root, self._catalog)
        sync_ngff(self._root, self._catalog)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Workspace:
        """Open an existing workspace; directories left by interrupted writes are removed.

        Raises
        ------
        WorkspaceNotFoundError
            ``path`` is not a workspace folder.
        """
        return cls(path)

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        image: Any,
        *,
        roi: Any = None,
        bin: Any = 1,
        chunks: Any = None,
        spacing: Any = None,
        unit: str | None = None,
        key: str | None = None,
        overwrite: bool = False,
        name: str | None = None,
        scheduler: Scheduler = None,
        progress: ProgressCallback | None = None,
    ) -> Workspace:
        """Create a workspace at ``path`` from a volume file or an array.

        The image is streamed chunk by chunk into the OME-Zarr store as a multiscale pyramid,
        its statistics are computed, and the finished folder is renamed into place: a crash
        leaves no half-built workspace at ``path``, and ``overwrite=True`` replaces an existing
        workspace only once the new one is complete.

        Parameters
        ----------
        path : path
            The workspace folder to create (by convention ending in ``.vw``).
        image : path or (Z, Y, X) array
            A file :func:`voxelwise.io.open_volume` reads, or a numpy/dask array (2D is one slice).
        roi : str or slices, optional
            Region to keep, ``"z0:z1,y0:y1,x0:x1"`` in the image's voxels.
        bin : int or (3,) ints
            Integer binning (block mean) after the ROI.
        chunks : int or (3,) ints, optional
            Chunk shape of every layer; default 64 x 256 x 256 capped to the shape.
        spacing : float or (3,) floats, optional
            Voxel size (z, y, x) of ``image`` before binning; default from the file, else 1.
            The workspace stores ``spacing * bin``.
        unit : str, optional
            Unit of ``spacing`` (e.g. ``"nanometer"``); default from the file.
        key : str, optional
            Dataset inside a container file (HDF5, Zarr).
        overwrite : bool
            Replace an existing workspace at ``path``.
        name : str, optional
            Title of the dataset; default the folder name without suffix.
        scheduler, progress
            Where to compute and a ``progress(done, total)`` callback; see :mod:`voxelwise._compute`.

        Raises
        ------
        WorkspaceExistsError
            A workspace exists at ``path`` and ``overwrite`` is False, or ``path`` is a
            non-empty folder that is not a workspace.
        RoiError
            ``roi`` is empty or outside the image.
        """
        created = create_workspace(
            path,
            image,
            roi=roi,
            bin=bin,
            chunks=chunks,
            spacing=spacing,
            unit=unit,
            key=key,
            overwrite=overwrite,
            name=name,
            scheduler=scheduler,
            progress=progress,
        )
        return cls(created)

    def __repr__(self) -> str:
        names = ", ".join(self.layers)
        return (
            f"Workspace({str(self.path)!r}, shape={self.shape}, dtype={self.dtype}, "
            f"layers=[{names}])"
        )

    # -- writing layers ------------------------------------------------------------------------

    def add_layer(
        self,
        name: str,
        data: Any,
        *,
        kind: str = "feature",
        sources: str | Sequence[str] = (),
        params: dict[str, Any] | None = None,
        chunks: Any = None,
        overwrite: bool = False,
        label_set: str | None = None,
        pyramid: bool = False,
        scheduler: Scheduler = None,
        progress: ProgressCallback | None = None,
    ) -> LayerInfo:
        """Write a derived layer chunk by chunk and register it atomically.

        The data goes to a fresh directory; one catalog transaction then makes it visible (and,
        with ``overwrite=True``, retires the previous version, whose directory is deleted
        afterwards). An error, a cancellation or a crash before the commit leaves the workspace as
        it was.

        Parameters
        ----------
        name : str
            Letters, digits, ``-``, ``_``, ``.``; not ``"raw"``.
        data : (Z, Y, X) numpy or dask array
            Must have the workspace's shape. Lazy arrays are computed chunk by chunk.
        kind : str
            One of ``KINDS``; label-like kinds (``LABEL_KINDS``) need integer (or bool) data and
            are stored under ``labels/`` as NGFF label images.
        sources : str or sequence of str
            Names of the layers this one was computed from (recorded as provenance).
        params : dict, optional
            Parameters that produced the layer (JSON-serialisable), recorded in the catalog.
        chunks : int or (3,) ints, optional
            Chunk shape; default the workspace's.
        overwrite : bool
            Replace an existing layer of that name.
        label_set : str, optional
            Label set whose names and colours describe the values (label-like kinds only).
        pyramid : bool
            Also write downsampled levels (block mean; stride for labels).
        scheduler, progress
            See :mod:`voxelwise._compute`; ``progress`` may raise ``CancelledError``.

        Returns
        -------
        LayerInfo
            The new catalog entry, with statistics.
        """
        start = time.perf_counter()
        name = parse_layer_name(name)
        kind = parse_kind(kind)
        is_label = kind in LABEL_KINDS
        source_names = [sources] if isinstance(sources, str) else list(sources)
        if params is not None and not isinstance(params, Mapping):
            raise TypeError(f"Expected params as a dict, got {type(params).__name__} instead")
        params = json.loads(to_json(dict(params or {})))  # as stored; fails before any writing
        chunk_shape = parse_chunks(chunks if chunks is not None else self.chunks, self.shape)
        arr = self._layer_data(name, data, kind, chunk_shape)
        with self._catalog.read() as conn:
            known = {r[0] for r in conn.execute("SELECT name FROM layers")}
            if label_set is not None:
                if not is_label:
                    raise InvalidLayerError(
                        f"label_set applies to label-like layers ({', '.join(sorted(LABEL_KINDS))}),"
                        f" not kind={kind!r}"
                    )
                label_set = parse_name(label_set, what="label set")
                if not conn.execute(
                    "SELECT 1 FROM labels WHERE label_set = ?", (label_set,)
                ).fetchone():
                    raise LabelNotFoundError(
                        f"No label set named {label_set!r}; create it first with "
                        f"ws.add_label({label_set!r}, 'name')"
                    )
            extra = {"image-label": image_label_attrs(conn, label_set)} if is_label else None
        for s in source_names:
            if s not in known:
                self.layer(s)  # raises LayerNotFoundError listing the layers
        if name in known and not overwrite:
            raise self._exists(name)

        remove_orphans(self._root, self._catalog)  # e.g. late chunks of a failed write
        directory = new_directory(name, kind)
        self._catalog.add_pending(directory, name)
        try:
            levels, stats = write_layer(
                open_group(self._root, directory, mode="w"),
                arr,
                spacing=self.spacing,
                unit=self.unit,
                chunks=chunk_shape,
                name=name,
                is_label=is_label,
                levels=None if pyramid else 1,
                extra_attrs=extra,
                scheduler=scheduler,
                progress=progress,
            )
            info = LayerInfo(
                name=name,
                kind=kind,
                dtype=str(arr.dtype),
                shape=self.shape,
                chunks=chunk_shape,
                directory=directory,
                levels=levels,
                sources=tuple(source_names),
                params=params,
                label_set=label_set,
                software_version=__version__,
                created=utc_now(),
                duration=time.perf_counter() - start,
                stats=stats,
            )
            with self._catalog.write() as conn:
                row = conn.execute(
                    "SELECT directory FROM layers WHERE name = ?", (name,)
                ).fetchone()
                if row is not None and not overwrite:
                    raise self._exists(name)
                conn.execute("DELETE FROM pending WHERE directory = ?", (directory,))
                conn.execute(UPSERT_LAYER, layer_to_params(info))
            old = None if row is None else row["directory"]
        except BaseException:
            discard_tree(self._root / directory)
            with contextlib.suppress(Exception):
                self._catalog.drop_pending(directory)
            raise
        if old is not None:
            remove_tree(self._root / old)
        if is_label or (old or "").startswith("labels/"):
            sync_ngff(self._root, self._catalog)
        return info

    def _layer_data(self, name: str, data: Any, kind: str, chunks: Sequence[int]) -> da.Array:
        arr = as_dask(data, chunks=chunks, what=f"layer {name!r}")
        if tuple(arr.shape) != self.shape:
            raise InvalidLayerError(
                f"Layer {name!r} has shape {tuple(np.shape(data))} but the workspace's image has "
                f"shape {self.shape} (z, y, x); every layer must match it voxel for voxel"
            )
        if kind in LABEL_KINDS:
            if arr.dtype == bool:
                arr = arr.astype(np.uint8)
            elif arr.dtype.kind not in "iu":
                raise InvalidLayerError(
                    f"A {kind!r} layer needs integer values, got dtype {arr.dtype} for {name!r}; "
                    "convert it (e.g. data.astype('uint32')) or use kind='probabilities' or "
                    "'feature' for continuous values"
                )
        return arr

    def _exists(self, name: str) -> LayerExistsError:
        return LayerExistsError(
            f"A layer named {name!r} exists already in the workspace {self.path}; pass "
            "overwrite=True to replace it, or choose another name"
        )

    def export(
        self, name: str, path: str | os.PathLike[str], *, level: int = 0, **write_kwargs: Any
    ) -> Path:
        """Write a layer to a file with :func:`voxelwise.io.write_volume`.

        The layer's voxel size and unit are passed on unless ``write_kwargs`` sets them; other
        keywords (``format``, ``chunks``, ``overwrite``, ``scheduler``, ``progress``, ...) go through.
        """
        from voxelwise.io import write_volume

        kwargs = {"spacing": self.level_spacing(name, level), "unit": self.unit, **write_kwargs}
        return Path(write_volume(self.get(name, level=level), path, **kwargs))

    def info(self) -> dict[str, Any]:
        """A JSON-serialisable summary: the image, each layer (with NaN/inf counts), label sets,
        and the numbers of runs and jobs. ``nonfinite`` lists the layers holding NaN or inf."""
        layers = self.layers
        summary: dict[str, Any] = {}
        nonfinite: dict[str, dict[str, int]] = {}
        for n, layer in layers.items():
            st = layer.stats or {}
            summary[n] = {
                "kind": layer.kind,
                "dtype": layer.dtype,
                "levels": layer.levels,
                "directory": layer.directory,
                "label_set": layer.label_set,
                "sources": list(layer.sources),
                "created": layer.created.isoformat(),
                "min": st.get("min"),
                "max": st.get("max"),
                "mean": st.get("mean"),
                "nan_count": st.get("nan_count", 0),
                "inf_count": st.get("inf_count", 0),
            }
            if st.get("nan_count") or st.get("inf_count"):
                nonfinite[n] = {"nan_count": st["nan_count"], "inf_count": st["inf_count"]}
        with self._catalog.read() as conn:
            n_runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            n_jobs = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        return {
            "path": str(self.path),
            "name": self.name,
            "shape": list(self.shape),
            "dtype": str(self.dtype),
            "spacing": list(self.spacing),
            "unit": self.unit,
            "chunks": list(self.chunks),
            "created": self._meta.get("created"),
            "software_version": self._meta.get("software_version"),
            "schema_version": SCHEMA_VERSION,
            "source": self._meta.get("source"),
            "roi_parent": self._meta.get("roi_parent"),
            "layers": summary,
            "nonfinite": nonfinite,
            "label_sets": {k: len(v) for k, v in self.label_sets().items()},
            "runs": int(n_runs),
            "jobs": int(n_jobs),
        }
