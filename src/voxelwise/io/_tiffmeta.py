"""TIFF metadata in and out: calibration, damage that tifffile only logs, the page-wise writer."""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from voxelwise.errors import CorruptFileError
from voxelwise.io._volume import normalize_unit, unit_factor

__all__ = ["damaged", "tiff_spacing", "watch_tifffile", "write_tiff"]

# classic TIFF offsets are 32 bit: leave room for tags after the pixels
_CLASSIC_LIMIT = 2**32 - 2**25
_IMAGEJ_DTYPES = {np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32)}
_IMAGEJ_UNITS = {"micrometer": "micron", "nanometer": "nm", "millimeter": "mm"}

# tifffile logs (rather than raises) when it skips damaged structures and returns less data
_DAMAGE_WORDS = (
    "invalid page offset",
    "invalid offset",
    "invalid next page",
    "invalid value offset",
    "corrupted",
    "failed to reshape",
    "failed to read",
    "is missing",
    "contains no pages",
)


class _Problems(logging.Handler):
    """Collects tifffile's warnings about damaged files logged in this thread."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())

    def damage(self) -> str | None:
        for m in self.messages:
            if any(w in m for w in _DAMAGE_WORDS):
                return m
        return None


@contextlib.contextmanager
def watch_tifffile() -> Iterator[_Problems]:
    """Collect what tifffile logs in this thread; ``.damage()`` names structural damage."""
    logger = logging.getLogger("tifffile")
    handler = _Problems()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def damaged(path: Path, e: BaseException | str) -> CorruptFileError:
    """The error for a TIFF that cannot be read as it claims to be."""
    return CorruptFileError(
        f"The TIFF file {path} is damaged and cannot be read ({e}). It may be truncated or "
        "still being copied; copy it again or re-export it"
    )


def _rational(tag: Any) -> float | None:
    if tag is None:
        return None
    value = tag.value
    try:
        num, den = (value[0], value[1]) if isinstance(value, tuple | list) else (value, 1)
        res = float(num) / float(den)
    except (TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    return res if math.isfinite(res) and res > 0 else None


def tiff_spacing(
    tif: tifffile.TiffFile, page: Any, nz: int
) -> tuple[tuple[float, float, float] | None, str | None]:
    """Voxel size (z, y, x) and unit from ImageJ, tifffile-shaped or resolution-tag metadata.

    ImageJ: x/y from XResolution/YResolution (pixels per ``unit``), z from ``spacing`` (ImageJ's
    default of 1 when absent). tifffile "shaped" JSON: ``spacing`` and ``unit`` keys. Plain TIFF:
    resolution tags in inch/cm/mm/um converted to micrometer; z is not stored there, so the
    voxels are taken as isotropic.
    """
    xres = _rational(page.tags.get("XResolution"))
    yres = _rational(page.tags.get("YResolution")) or xres
    ij = tif.imagej_metadata
    if ij is not None:
        unit = normalize_unit(ij.get("unit"))
        calibrated = unit is not None or (xres not in (None, 1.0)) or "spacing" in ij
        if not calibrated:
            return None, None
        sx = 1.0 / xres if xres else 1.0
        sy = 1.0 / yres if yres else sx
        try:
            sz = float(ij.get("spacing", 1.0))
        except (TypeError, ValueError):
            sz = 1.0
        if not (math.isfinite(sz) and sz > 0):
            sz = 1.0
        return (sz, sy, sx), unit
    shaped = tif.shaped_metadata
    if shaped:
        meta = shaped[0]
        values = meta.get("spacing")
        if isinstance(values, list | tuple) and len(values) == 3:
            try:
                sz, sy, sx = (float(v) for v in values)
            except (TypeError, ValueError):
                sz = sy = sx = math.nan
            if all(math.isfinite(v) and v > 0 for v in (sz, sy, sx)):
                return (sz, sy, sx), normalize_unit(meta.get("unit"))
    tag = page.tags.get("ResolutionUnit")
    resunit = int(tag.value) if tag is not None else 2  # TIFF's default is inch
    unit = {2: "inch", 3: "centimeter", 4: "millimeter", 5: "micrometer"}.get(resunit)
    if xres is None or unit is None:
        return None, None
    factor = unit_factor(unit, "micrometer") or 1.0
    sx = factor / xres
    sy = factor / (yres or xres)
    return ((sx if nz > 1 else sy), sy, sx), "micrometer"


def write_tiff(
    slabs: Iterable[tuple[int, np.ndarray]],
    path: Path,
    *,
    shape: tuple[int, int, int],
    dtype: np.dtype,
    spacing: tuple[float, float, float] | None,
    unit: str | None,
) -> None:
    """Write z-slabs ``(z0, block)`` from ``slabs`` as contiguous uncompressed pages of one TIFF.

    ImageJ-compatible (hyperstack with calibration) when the dtype is uint8/uint16/float32 and
    the file fits a classic TIFF; otherwise BigTIFF with tifffile's JSON metadata holding
    ``spacing`` and ``unit`` plus resolution tags.
    """
    nbytes = math.prod(shape) * dtype.itemsize
    big = nbytes > _CLASSIC_LIMIT
    imagej = not big and dtype in _IMAGEJ_DTYPES
    kwargs: dict[str, Any] = {"photometric": "minisblack"}
    if imagej:
        meta: dict[str, Any] = {"axes": "ZYX"}
        if spacing is not None:
            kwargs["resolution"] = (1.0 / spacing[2], 1.0 / spacing[1])
            meta["spacing"] = spacing[0]
            if unit:
                meta["unit"] = _IMAGEJ_UNITS.get(unit, unit)
    else:
        meta = {"axes": "ZYX"}
        if spacing is not None:
            meta["spacing"] = [float(s) for s in spacing]
            if unit:
                meta["unit"] = unit
            factor = unit_factor(unit, "centimeter")
            if factor is not None:
                kwargs["resolution"] = (1.0 / (spacing[2] * factor), 1.0 / (spacing[1] * factor))
                kwargs["resolutionunit"] = "CENTIMETER"
    kwargs["metadata"] = meta

    def pages() -> Iterator[np.ndarray]:
        for _, block in slabs:
            # copies: tifffile keeps some pages it was given, and a view would keep its slab
            for page in block:
                yield page.copy()
            del block, page  # release this slab before the next one is computed

    with tifffile.TiffWriter(path, bigtiff=big, imagej=imagej) as tw:
        tw.write(pages(), shape=shape, dtype=dtype, **kwargs)
