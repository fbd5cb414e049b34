"""The model registry of a workspace: trained models as catalog rows plus files in ``registry/``.

A registered model is one row of the catalog's ``models`` table and one model file. Files the
workspace owns live in ``<workspace>/registry/<name>-<id><suffix>`` (copied in, then registered, so
a crash never leaves a row without its file); a model may also be registered by reference to a
file elsewhere (``copy=False``, e.g. a large file on shared storage), which the row names by
its absolute path. The workspace does not read model files: :mod:`voxelwise.models` inspects them
and fills in the record.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from voxelwise import __version__
from voxelwise.workspace._catalog import Catalog
from voxelwise.workspace._errors import ModelExistsError, ModelNotFoundError
from voxelwise.workspace._records import from_json, parse_name, to_json, utc_now

__all__ = ["MODELS_DIR", "ModelInfo", "ModelsMixin", "file_digest"]

MODELS_DIR = "registry"
MODEL_KINDS = ("shallow", "deep")
SYNC_KEY = "models_synced_run"


@dataclass(frozen=True)
class ModelInfo:
    """One registered model.

    Attributes
    ----------
    name : str
    kind : {"shallow", "deep"}
    file : Path
        The model file (absolute).
    owned : bool
        The file lives in the workspace's ``registry/`` folder (deleted with the entry).
    architecture : str
        e.g. ``"rf/voxel"`` or ``"unet2d"``.
    label_set : str or None
    classes : tuple of dict
        ``{"value", "name"}`` (and ``"color"`` when known) per class.
    provenance : dict
        Training data (workspaces, layers, ROI), parameters, the run that trained it.
    metrics : dict
        Validation metrics (e.g. ``val_miou``).
    size : int
        File size in bytes when registered.
    sha256 : str
        Digest of the file when registered.
    """

    name: str
    kind: str
    file: Path
    owned: bool
    architecture: str
    label_set: str | None
    classes: tuple[dict[str, Any], ...] = field(hash=False)
    provenance: dict[str, Any] = field(hash=False)
    metrics: dict[str, Any] = field(hash=False)
    size: int
    sha256: str
    software_version: str
    created: datetime

    @property
    def available(self) -> bool:
        """Whether the model file still exists."""
        return self.file.is_file()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record (what listings and the server return)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "architecture": self.architecture,
            "label_set": self.label_set,
            "classes": [dict(c) for c in self.classes],
            "provenance": dict(self.provenance),
            "metrics": dict(self.metrics),
            "size": self.size,
            "sha256": self.sha256,
            "created": self.created.isoformat(),
            "software_version": self.software_version,
            "file": str(self.file),
            "owned": self.owned,
            "available": self.available,
        }


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for piece in iter(lambda: fh.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def _model_from_row(row: sqlite3.Row, root: Path) -> ModelInfo:
    stored = Path(row["file"])
    return ModelInfo(
        name=row["name"],
        kind=row["kind"],
        file=stored if stored.is_absolute() else root / stored,
        owned=not stored.is_absolute(),
        architecture=row["architecture"],
        label_set=row["label_set"],
        classes=tuple(from_json(row["classes"])),
        provenance=from_json(row["provenance"]),
        metrics=from_json(row["metrics"]),
        size=int(row["size"]),
        sha256=row["sha256"],
        software_version=row["software_version"],
        created=datetime.fromisoformat(row["created"]),
    )


class ModelsMixin:
    """Model registry for :class:`~voxelwise.workspace.Workspace`."""

    path: Path
    _catalog: Catalog

    @property
    def models(self) -> dict[str, ModelInfo]:
        """Model name -> :class:`ModelInfo`, oldest first (a fresh copy)."""
        with self._catalog.read() as conn:
            rows = conn.execute("SELECT * FROM models ORDER BY created, rowid").fetchall()
        return {r["name"]: _model_from_row(r, self.path) for r in rows}

    def model(self, name: str) -> ModelInfo:
        """One registered model.

        Raises
        ------
        ModelNotFoundError
            No such model; the message lists the registered ones.
        """
        with self._catalog.read() as conn:
            row = conn.execute("SELECT * FROM models WHERE name = ?", (name,)).fetchone()
            if row is None:
                names = [r[0] for r in conn.execute("SELECT name FROM models ORDER BY rowid")]
        if row is None:
            known = ", ".join(names) if names else "none yet"
            raise ModelNotFoundError(
                f"No model named {name!r} in the workspace {self.path} (registered: {known}); "
                "train one or import a model file (voxelwise.models.import_model)"
            )
        return _model_from_row(row, self.path)

    def add_model(
        self,
        name: str,
        file: str | os.PathLike[str],
        *,
        kind: str,
        architecture: str,
        label_set: str | None = None,
        classes: Sequence[Mapping[str, Any]] = (),
        provenance: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        copy: bool = True,
        overwrite: bool = False,
    ) -> ModelInfo:
        """Register a model file (low level: :func:`voxelwise.models.register_model` reads the
        file and fills in the record).

        With ``copy=True`` the file is copied into the workspace's ``registry/`` folder first;
        with ``copy=False`` the entry refers to the file where it is. ``overwrite=True``
        replaces an entry of the same name (and deletes its file when the workspace owned it).
        """
        name = parse_name(name, what="model")
        if kind not in MODEL_KINDS:
            raise ValueError(f"Expected kind as 'shallow' or 'deep', got {kind!r} instead")
        source = Path(file).expanduser().absolute()
        if not source.is_file():
            raise FileNotFoundError(f"No model file at {source}")
        if not overwrite and name in self.models:
            raise self._model_exists(name)
        stored: Path = source
        if copy:
            folder = self.path / MODELS_DIR
            folder.mkdir(exist_ok=True)
            suffix = "".join(source.suffixes[-1:])
            stored = Path(MODELS_DIR) / f"{name}-{uuid.uuid4().hex[:8]}{suffix}"
            tmp = self.path / MODELS_DIR / f".{stored.name}.partial"
            shutil.copyfile(source, tmp)
            os.replace(tmp, self.path / stored)
        target = stored if stored.is_absolute() else self.path / stored
        values = {
            "name": name,
            "kind": kind,
            "file": str(stored),
            "architecture": str(architecture),
            "label_set": label_set,
            "classes": to_json([dict(c) for c in classes]),
            "provenance": to_json(dict(provenance or {})),
            "metrics": to_json(dict(metrics or {})),
            "size": target.stat().st_size,
            "sha256": file_digest(target),
            "software_version": __version__,
            "created": utc_now().isoformat(),
        }
        try:
            with self._catalog.write() as conn:
                old = conn.execute("SELECT file FROM models WHERE name = ?", (name,)).fetchone()
                if old is not None:
                    if not overwrite:
                        raise self._model_exists(name)
                    conn.execute("DELETE FROM models WHERE name = ?", (name,))
                conn.execute(
                    "INSERT INTO models (name, kind, file, architecture, label_set, classes, "
                    "provenance, metrics, size, sha256, software_version, created) VALUES "
                    "(:name, :kind, :file, :architecture, :label_set, :classes, :provenance, "
                    ":metrics, :size, :sha256, :software_version, :created)",
                    values,
                )
        except BaseException:
            if copy:
                (self.path / stored).unlink(missing_ok=True)
            raise
        if old is not None and not Path(old["file"]).is_absolute() and old["file"] != str(stored):
            (self.path / old["file"]).unlink(missing_ok=True)
        return self.model(name)

    def update_model(
        self,
        name: str,
        *,
        metrics: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> ModelInfo:
        """Merge more validation metrics or provenance into a registered model's record."""
        info = self.model(name)
        with self._catalog.write() as conn:
            conn.execute(
                "UPDATE models SET metrics = ?, provenance = ? WHERE name = ?",
                (
                    to_json({**info.metrics, **dict(metrics or {})}),
                    to_json({**info.provenance, **dict(provenance or {})}),
                    name,
                ),
            )
        return self.model(name)

    def delete_model(self, name: str) -> None:
        """Remove a model from the registry (and its file when the workspace owns it)."""
        info = self.model(name)
        with self._catalog.write() as conn:
            conn.execute("DELETE FROM models WHERE name = ?", (name,))
        if info.owned:
            info.file.unlink(missing_ok=True)

    @property
    def synced_run(self) -> int:
        """Id of the last training run whose saved model was registered (0 when none)."""
        with self._catalog.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (SYNC_KEY,)).fetchone()
        return 0 if row is None else int(from_json(row["value"]))

    def mark_synced(self, run_id: int) -> None:
        """Record that training runs up to ``run_id`` have had their models registered."""
        with self._catalog.write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (SYNC_KEY,)).fetchone()
            value = max(int(run_id), 0 if row is None else int(from_json(row["value"])))
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (SYNC_KEY, to_json(value)),
            )

    def _model_exists(self, name: str) -> ModelExistsError:
        return ModelExistsError(
            f"A model named {name!r} is registered already in {self.path}; pass overwrite=True "
            "to replace it, or choose another name"
        )
