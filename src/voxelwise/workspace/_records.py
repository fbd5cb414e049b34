"""Typed records read from the catalog, layer kinds, and validation of names, colours and JSON."""

from __future__ import annotations

import colorsys
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

import numpy as np

from voxelwise.workspace._errors import InvalidLayerError, LabelError

__all__ = [
    "JOB_STATES",
    "KINDS",
    "LABEL_KINDS",
    "RAW",
    "JobInfo",
    "LabelInfo",
    "LayerInfo",
    "RunInfo",
    "default_color",
    "from_json",
    "parse_color",
    "parse_kind",
    "parse_layer_name",
    "parse_name",
    "to_json",
    "utc_now",
]

RAW = "raw"
KINDS = (
    "image",
    "feature",
    "labels",
    "annotation",
    "prediction",
    "probabilities",
    "confidence",
    "instances",
    "supervoxels",
)
LABEL_KINDS = frozenset({"labels", "annotation", "prediction", "instances", "supervoxels"})
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


@dataclass(frozen=True)
class LayerInfo:
    """One layer as recorded in the catalog.

    ``directory`` is the layer's group inside ``data.ome.zarr`` (``""`` for the raw image, which is
    the store's root multiscale image; ``layers/<name>-<id>`` or ``labels/<name>-<id>`` otherwise).
    ``stats`` holds the statistics computed when the layer was written (see ``Workspace.stats``).
    """

    name: str
    kind: str
    dtype: str
    shape: tuple[int, int, int]
    chunks: tuple[int, int, int]
    directory: str
    levels: int
    sources: tuple[str, ...]
    params: dict[str, Any] = field(hash=False)
    label_set: str | None
    software_version: str
    created: datetime
    duration: float
    stats: dict[str, Any] | None = field(hash=False)

    @property
    def is_label(self) -> bool:
        """Whether the layer is label-like (stored under ``labels/`` with NGFF label metadata)."""
        return self.kind in LABEL_KINDS


@dataclass(frozen=True)
class LabelInfo:
    """One label of a label set: its voxel ``value``, RGBA ``color`` (0-255) and ``parent`` name."""

    label_set: str
    name: str
    value: int
    color: tuple[int, int, int, int]
    parent: str | None


@dataclass(frozen=True)
class RunInfo:
    """One recorded workflow step."""

    id: int
    step: str
    params: dict[str, Any] = field(hash=False)
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    versions: dict[str, str] = field(hash=False)
    started: datetime
    duration: float | None


@dataclass(frozen=True)
class JobInfo:
    """One job: ``state`` is one of ``JOB_STATES``; ``progress`` runs from 0 to 1."""

    id: str
    kind: str
    state: str
    progress: float
    message: str
    created: datetime
    updated: datetime
    result: Any = field(hash=False)
    error: str | None


def utc_now() -> datetime:
    return datetime.now(UTC)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(
        f"Expected JSON-serialisable values (numbers, strings, lists, dicts), got "
        f"{type(value).__name__} {value!r} instead; convert it before recording it"
    )


def _finite(value: Any) -> Any:
    """Replace NaN/inf floats by None so the JSON stays standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """Serialise ``value`` to strict JSON (NumPy scalars and arrays, paths and sets accepted)."""
    plain = json.loads(json.dumps(value, default=_json_default))
    return json.dumps(_finite(plain), allow_nan=False, sort_keys=False)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def parse_name(name: Any, *, what: str = "layer") -> str:
    """Check a name: 1-128 letters, digits, ``-``, ``_`` or ``.``."""
    if not isinstance(name, str):
        raise TypeError(f"Expected the {what} name as a string, got {name!r} instead")
    if not _NAME.match(name) or set(name) == {"."}:
        raise InvalidLayerError(
            f"Invalid {what} name {name!r}: use 1-128 letters, digits, '-', '_' or '.' "
            "(no spaces or slashes), e.g. 'membrane_prob'"
        )
    return name


def parse_layer_name(name: Any) -> str:
    """A layer name that is valid and not the reserved name of the raw image."""
    name = parse_name(name)
    if name == RAW:
        raise InvalidLayerError(
            f"The layer name {RAW!r} is reserved for the workspace's image; choose another name"
        )
    return name


def parse_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise InvalidLayerError(f"Expected kind as one of {', '.join(KINDS)}, got {kind!r} instead")
    return str(kind)


def default_color(value: int) -> tuple[int, int, int, int]:
    """A deterministic, well-spread colour for label ``value`` (golden-ratio hues)."""
    hue = (int(value) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.65, 0.95)
    return (round(r * 255), round(g * 255), round(b * 255), 255)


def parse_color(color: Any) -> tuple[int, int, int, int]:
    """Normalise a colour to RGBA ints 0-255.

    Accepts ``"#rrggbb"``, ``"#rrggbbaa"``, three or four ints 0-255, or three or four floats 0-1.
    """
    if isinstance(color, str):
        text = color.strip().lstrip("#")
        if re.fullmatch(r"[0-9a-fA-F]{6}([0-9a-fA-F]{2})?", text):
            values = [int(text[i : i + 2], 16) for i in range(0, len(text), 2)]
            return (*values, 255)[:4]  # type: ignore[return-value]
        raise LabelError(f"Expected a colour like '#ff8800' or '#ff8800cc', got {color!r} instead")
    if isinstance(color, Sequence | np.ndarray) and len(color) in (3, 4):
        items = list(color)
        if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items):
            ints = [int(v) for v in items]
        elif all(isinstance(v, float | np.floating) and 0.0 <= v <= 1.0 for v in items):
            ints = [round(float(v) * 255) for v in items]
        else:
            raise LabelError(
                f"Expected a colour as ints 0-255 or floats 0-1, got {color!r} instead"
            )
        if not all(0 <= v <= 255 for v in ints):
            raise LabelError(f"Expected colour components between 0 and 255, got {color!r} instead")
        return (*ints, 255)[:4]  # type: ignore[return-value]
    raise LabelError(
        f"Expected a colour as '#rrggbb', (r, g, b) or (r, g, b, a), got {color!r} instead"
    )
