"""Reading layers from the catalog and the store; deleting layers; their statistics."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr
from zarr.storage import LocalStore

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.errors import LayerNotFoundError
from voxelwise.io._ngff import read_multiscales
from voxelwise.workspace._catalog import Catalog, layer_from_row
from voxelwise.workspace._errors import InvalidLayerError
from voxelwise.workspace._records import RAW, LayerInfo, to_json
from voxelwise.workspace._stats import compute_stats
from voxelwise.workspace._store import array_path, open_group, remove_tree, sync_ngff

__all__ = ["LayersMixin"]


class LayersMixin:
    """Layer access for :class:`~voxelwise.workspace.Workspace`."""

    path: Path
    _root: Path
    _catalog: Catalog

    # -- reading the catalog -------------------------------------------------------------------

    @property
    def layers(self) -> dict[str, LayerInfo]:
        """Layer name -> :class:`LayerInfo`, in creation order, ``"raw"`` first (a fresh copy)."""
        with self._catalog.read() as conn:
            rows = conn.execute("SELECT * FROM layers ORDER BY rowid").fetchall()
        return {r["name"]: layer_from_row(r) for r in rows}

    def __contains__(self, name: object) -> bool:
        with self._catalog.read() as conn:
            return (
                conn.execute("SELECT 1 FROM layers WHERE name = ?", (name,)).fetchone() is not None
            )

    def update_display(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge viewer display settings into a layer's ``params["display"]`` and return them.

        ``changes`` maps setting names (``colormap``, ``opacity``, ``contrast_limits``, ...)
        to JSON-able values; a value of ``None`` removes that setting. The read-modify-write
        is one catalog transaction, so concurrent updates do not lose each other's keys.

        Raises
        ------
        LayerNotFoundError
            No such layer.
        """
        import json

        with self._catalog.write() as conn:
            row = conn.execute("SELECT params FROM layers WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise LayerNotFoundError(f"No layer named {name!r} in {self.path}")
            params = json.loads(row["params"] or "{}")
            if not isinstance(params, dict):
                params = {}
            display = dict(params.get("display") or {})
            for key, value in changes.items():
                if value is None:
                    display.pop(key, None)
                else:
                    display[key] = value
            params["display"] = display
            conn.execute(
                "UPDATE layers SET params = ? WHERE name = ?",
                (json.dumps(params, allow_nan=False), name),
            )
        return display

    def layer(self, name: str) -> LayerInfo:
        """The catalog entry of one layer.

        Raises
        ------
        LayerNotFoundError
            No such layer; the message lists the existing ones.
        """
        with self._catalog.read() as conn:
            row = conn.execute("SELECT * FROM layers WHERE name = ?", (name,)).fetchone()
            if row is None:
                names = [r[0] for r in conn.execute("SELECT name FROM layers ORDER BY rowid")]
                raise LayerNotFoundError(
                    f"No layer named {name!r} in the workspace {self.path}; existing layers: "
                    f"{', '.join(names)}"
                )
        return layer_from_row(row)

    def get(self, name: str, *, level: int = 0) -> da.Array:
        """A layer as a lazy (Z, Y, X) dask array (``"raw"`` is the image) at pyramid ``level``.

        The array reads the layer's current directory; replacing or deleting the layer later
        invalidates it.
        """
        return da.from_zarr(self.open_array(name, mode="r", level=level))

    def open_array(self, name: str, *, mode: str = "r+", level: int = 0) -> zarr.Array:
        """The zarr array of a layer, for reading or in-place chunk edits (``mode="r+"``).

        In-place edits change the data without a new catalog entry: they are not atomic and
        leave the stored statistics (``stats(name, recompute=True)`` refreshes them) and higher
        pyramid levels as they were. The raw image is read-only.
        """
        if mode not in ("r", "r+"):
            raise ValueError(f"Expected mode 'r' or 'r+', got {mode!r} instead")
        info = self.layer(name)
        if name == RAW and mode != "r":
            raise InvalidLayerError(
                "The raw image is read-only; write edits to a new layer (ws.add_layer) instead"
            )
        if not isinstance(level, int | np.integer) or not 0 <= level < info.levels:
            raise InvalidLayerError(
                f"Layer {name!r} has {info.levels} pyramid level(s), 0 to {info.levels - 1}; "
                f"got level={level!r}"
            )
        store = LocalStore(self._root, read_only=mode == "r")
        return zarr.open_array(store=store, path=array_path(info.directory, int(level)), mode=mode)

    def level_spacing(self, name: str, level: int = 0) -> tuple[float, float, float]:
        """Voxel size (z, y, x) of pyramid ``level`` of a layer."""
        info = self.layer(name)
        ms = read_multiscales(open_group(self._root, info.directory, mode="r")) or {}
        datasets = ms.get("datasets", [])
        if not 0 <= level < len(datasets):
            raise InvalidLayerError(
                f"Layer {name!r} has {len(datasets)} pyramid level(s); got level={level!r}"
            )
        scale = datasets[level]["coordinateTransformations"][0]["scale"]
        return tuple(float(s) for s in scale)  # type: ignore[return-value]

    def delete_layer(self, name: str) -> None:
        """Remove a layer from the catalog, then its data (the raw image cannot be deleted)."""
        if name == RAW:
            raise InvalidLayerError(
                "The raw image cannot be deleted; delete the whole workspace folder instead"
            )
        self.layer(name)
        with self._catalog.write() as conn:
            row = conn.execute("SELECT directory FROM layers WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise LayerNotFoundError(f"The layer {name!r} was deleted meanwhile")
            conn.execute("DELETE FROM layers WHERE name = ?", (name,))
        remove_tree(self._root / row["directory"])
        if row["directory"].startswith("labels/"):
            sync_ngff(self._root, self._catalog)

    # -- statistics and summary ----------------------------------------------------------------

    def stats(
        self,
        name: str,
        *,
        recompute: bool = False,
        scheduler: Scheduler = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Statistics of a layer's finite voxels, as computed when it was written.

        Keys: ``count``, ``size``, ``nan_count``, ``inf_count``, ``min``, ``max``, ``mean``,
        ``std``, ``percentiles`` (``"0.1"``, ``"1"``, ``"50"``, ``"99"``, ``"99.9"``) and
        ``exact_percentiles`` (True for integer data; float percentiles are accurate to
        ``(max - min) / 65536``). ``recompute=True`` recomputes them chunk by chunk (e.g. after
        in-place edits) and stores the result.
        """
        info = self.layer(name)
        if info.stats is not None and not recompute:
            return copy.deepcopy(info.stats)
        stats = compute_stats(self.get(name), scheduler=scheduler, progress=progress)
        with self._catalog.write() as conn:
            conn.execute(
                "UPDATE layers SET stats = ? WHERE name = ? AND directory = ?",
                (to_json(stats), name, info.directory),
            )
        return stats
