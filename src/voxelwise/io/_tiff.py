"""Multi-page TIFF and BigTIFF (ImageJ, OME-TIFF pyramids, plain): lazy reading.

Uncompressed pages (what ImageJ and most acquisition software write) are read with positioned
reads of just the rows a chunk needs (:class:`~voxelwise.io._raw.RawPlanes`). Compressed or
tiled pages are read strip by strip / tile by tile: a chunk decodes only the segments it covers.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from voxelwise.errors import (
    CorruptFileError,
    FormatNotSupportedError,
    InvalidVolumeError,
    KeyRequiredError,
)
from voxelwise.io._raw import RawPlanes, raw_chunks
from voxelwise.io._tiffmeta import damaged, tiff_spacing, watch_tifffile
from voxelwise.io._volume import (
    Box,
    LazySource,
    channel_error,
    check_dtype,
    file_token,
    photometric_name,
)

__all__ = ["TiffSegments", "read_tiff"]

_CHANNEL_PHOTOMETRIC = {2, 5, 6, 8, 9, 10, 32844, 32845, 34892}  # RGB, CMYK, YCbCr, Lab, ...
_CHUNK_BYTES = 16 << 20


class TiffSegments(LazySource):
    """Lazy (Z, Y, X) reader for compressed or tiled pages: decodes only the strips/tiles needed."""

    def __init__(
        self,
        path: Path,
        *,
        series: int,
        level: int,
        shape: tuple[int, int, int],
        dtype: Any,
        offsets: np.ndarray,
        bytecounts: np.ndarray,
        seg_shape: tuple[int, int],
        bilevel: bool,
    ) -> None:
        super().__init__(shape, np.uint8 if bilevel else dtype)
        self.path = path
        self.series = series
        self.level = level
        self.offsets = offsets
        self.bytecounts = bytecounts
        self.seg_shape = seg_shape  # rows, cols of one strip/tile
        self.bilevel = bilevel
        self._hlock = threading.Lock()
        self._htif: tifffile.TiffFile | None = None
        self._hdecode: Any = None
        self._hfd: int | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._hlock = threading.Lock()
        self._htif = None
        self._hdecode = None
        self._hfd = None

    def __del__(self) -> None:
        try:
            if getattr(self, "_hfd", None) is not None:
                os.close(self._hfd)  # type: ignore[arg-type]
            if getattr(self, "_htif", None) is not None:
                self._htif.close()  # type: ignore[union-attr]
        except OSError:  # pragma: no cover - closing at interpreter exit
            pass

    def _decoder(self) -> tuple[Any, Any, int]:
        with self._hlock:
            if self._hdecode is None:
                tif = tifffile.TiffFile(self.path)
                keyframe = tif.series[self.series].levels[self.level].keyframe
                self._hdecode = (keyframe.decode, keyframe.jpegtables)
                self._htif = tif
                self._hfd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        assert self._hfd is not None
        return self._hdecode[0], self._hdecode[1], self._hfd

    def _segment_bytes(self, fd: int, offset: int, count: int) -> bytes:
        if hasattr(os, "pread"):
            data = os.pread(fd, count, offset)
        else:  # pragma: no cover - Windows
            with self._hlock:
                os.lseek(fd, offset, os.SEEK_SET)
                data = os.read(fd, count)
        if len(data) < count:
            raise damaged(self.path, f"segment at byte {offset} is cut short")
        return data

    def read(self, box: Box) -> np.ndarray:
        zs, ys, xs = box
        decode, jpegtables, fd = self._decoder()
        sl, sw = self.seg_shape
        per_row = math.ceil(self.shape[2] / sw)
        out = np.zeros((zs.stop - zs.start, ys.stop - ys.start, xs.stop - xs.start), self.dtype)
        rows = range(ys.start // sl, (ys.stop - 1) // sl + 1)
        cols = range(xs.start // sw, (xs.stop - 1) // sw + 1)
        for i, z in enumerate(range(zs.start, zs.stop)):
            for r in rows:
                for c in cols:
                    index = r * per_row + c
                    count = int(self.bytecounts[z, index])
                    if count == 0:
                        continue  # empty segment: zeros
                    data = self._segment_bytes(fd, int(self.offsets[z, index]), count)
                    try:
                        seg, pos, _ = decode(data, index, jpegtables=jpegtables)
                    except Exception as e:
                        raise damaged(self.path, f"page {z}, segment {index}: {e}") from e
                    if seg is None:
                        continue
                    seg = seg.reshape(seg.shape[-3], seg.shape[-2])  # (rows, cols)
                    y0, x0 = int(pos[-3]), int(pos[-2])
                    ya, yb = max(y0, ys.start), min(y0 + seg.shape[0], ys.stop)
                    xa, xb = max(x0, xs.start), min(x0 + seg.shape[1], xs.stop)
                    if ya >= yb or xa >= xb:
                        continue
                    part = seg[ya - y0 : yb - y0, xa - x0 : xb - x0]
                    if self.bilevel:
                        part = part.astype(np.uint8) * np.uint8(255)
                    out[i, ya - ys.start : yb - ys.start, xa - xs.start : xb - xs.start] = part
        return out


def _segment_chunks(
    shape: tuple[int, int, int], seg_shape: tuple[int, int], itemsize: int
) -> tuple[int, int, int]:
    z, y, x = shape
    sl, sw = seg_shape
    cy = min(y, sl * max(1, round(256 / sl)))
    cx = x if (sw >= x or x <= 8192) else min(x, sw * max(1, math.ceil(1024 / sw)))
    cz = max(1, min(z, 64, _CHUNK_BYTES // max(1, cy * cx * itemsize)))
    return (cz, cy, cx)


def _series_index(key: str | None, tif: tifffile.TiffFile, path: Path) -> int:
    if key is None:
        return 0
    try:
        index = int(key)
    except ValueError:
        index = -1
    if not 0 <= index < len(tif.series):
        keys = [str(i) for i in range(len(tif.series))]
        raise KeyRequiredError(
            f"{path} has no image series {key!r}; TIFF keys are series numbers: {', '.join(keys)}",
            keys,
        )
    return index


def read_tiff(path: Path, *, key: str | None = None, level: int = 0) -> dict[str, Any]:
    """Open a TIFF lazily; returns ``data``, ``spacing``, ``unit``, ``levels``, ``key``.

    Damage that tifffile only logs (lost pages, unreadable IFDs) raises CorruptFileError too,
    and wins over any error the damaged metadata led to.
    """
    with watch_tifffile() as problems:
        try:
            found = _read_tiff(path, key=key, level=level)
        except (ValueError, KeyError, CorruptFileError) as e:
            damage = problems.damage()
            if damage and not isinstance(e, CorruptFileError):
                raise damaged(path, damage) from e
            raise
    damage = problems.damage()
    if damage:
        raise damaged(path, damage)
    return found


def _read_tiff(path: Path, *, key: str | None, level: int) -> dict[str, Any]:
    size = os.path.getsize(path)
    try:
        tif = tifffile.TiffFile(path)
    except Exception as e:
        raise damaged(path, e) from e
    with tif:
        index = _series_index(key, tif, path)
        try:
            base = tif.series[index]
        except Exception as e:
            raise damaged(path, e) from e
        levels = len(base.levels)
        if not 0 <= level < levels:
            raise ValueError(
                f"Expected level between 0 and {levels - 1} for {path}, got {level} instead"
            )
        series = base.levels[level]
        kf = series.keyframe
        if kf.samplesperpixel > 1 or int(kf.photometric) in _CHANNEL_PHOTOMETRIC:
            raise channel_error(
                path,
                f"TIFF photometric {photometric_name(kf.photometric)}, {kf.samplesperpixel} samples per "
                f"pixel, axes {series.axes}",
            )
        axes, shape = series.axes, tuple(int(s) for s in series.shape)
        if "C" in axes or "S" in axes:
            raise channel_error(path, f"axes {axes}, shape {shape}")
        if len(shape) > 3:
            raise InvalidVolumeError(
                f"{path} holds {len(shape)}D data (axes {axes}, shape {shape}); voxelwise reads "
                "one 3D grayscale volume and has no channel_axis or time axis: save each "
                "channel or time point as its own file"
            )
        if kf.imagedepth > 1:
            raise InvalidVolumeError(f"{path} uses SGI volumetric tiles, which are not supported")
        yx = (int(kf.imagelength), int(kf.imagewidth))
        nz = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        vshape = (nz, *yx)
        if kf.dtype is None:
            raise FormatNotSupportedError(
                f"{path} uses a TIFF sample format that cannot be decoded "
                f"({kf.bitspersample} bits, sample format {kf.sampleformat}); convert it to "
                "8/16/32-bit integers or 32-bit floats"
            )
        dtype = check_dtype(kf.dtype, path)
        spacing, unit = tiff_spacing(tif, kf, nz)
        token = file_token(path, index, level)
        bilevel = kf.bitspersample == 1
        simple = (
            kf.is_final
            and kf.bitspersample == dtype.itemsize * 8
            and dtype.kind in "iuf"
            and series.transform is None
        )
        stored = dtype.newbyteorder(tif.byteorder)
        if simple and series.dataoffset is not None:
            end = series.dataoffset + nz * yx[0] * yx[1] * dtype.itemsize
            if end > size:
                raise damaged(path, f"the pixels run to byte {end} but the file has {size} bytes")
            source: LazySource = RawPlanes(
                path, shape=vshape, dtype=stored, offsets=int(series.dataoffset), what="TIFF"
            )
            data = source.to_dask(raw_chunks(vshape, dtype.itemsize), token=token)
            return dict(data=data, spacing=spacing, unit=unit, levels=levels, key=key)
        try:
            found = [series[i] for i in range(nz)]
        except Exception as e:
            raise damaged(path, e) from e
        pages = [p for p in found if p is not None]
        if len(pages) != nz:
            raise damaged(path, f"expected {nz} pages, {nz - len(pages)} are missing")
        if simple and all(p.is_final for p in pages):
            offsets = [int(p.dataoffsets[0]) for p in pages]
            end = max(offsets) + yx[0] * yx[1] * dtype.itemsize
            if end > size:
                raise damaged(path, f"the pixels run to byte {end} but the file has {size} bytes")
            source = RawPlanes(path, shape=vshape, dtype=stored, offsets=offsets, what="TIFF")
            data = source.to_dask(raw_chunks(vshape, dtype.itemsize), token=token)
            return dict(data=data, spacing=spacing, unit=unit, levels=levels, key=key)
        if kf.is_tiled:
            seg_shape = (int(kf.tilelength), int(kf.tilewidth))
        else:
            seg_shape = (min(int(kf.rowsperstrip), yx[0]), yx[1])
        nseg = math.ceil(yx[0] / seg_shape[0]) * math.ceil(yx[1] / seg_shape[1])
        if kf.planarconfig != 1 and kf.samplesperpixel > 1:  # pragma: no cover - rejected above
            raise channel_error(path, "separate sample planes")
        if any(len(p.dataoffsets) != nseg for p in pages):
            raise damaged(path, f"pages do not hold the expected {nseg} strips/tiles each")
        offsets_arr = np.array([p.dataoffsets for p in pages], dtype=np.int64)
        counts_arr = np.array([p.databytecounts for p in pages], dtype=np.int64)
        if int((offsets_arr + counts_arr).max()) > size:
            raise damaged(path, f"image data reach past the end of the file ({size} bytes)")
        source = TiffSegments(
            path,
            series=index,
            level=level,
            shape=vshape,
            dtype=dtype,
            offsets=offsets_arr,
            bytecounts=counts_arr,
            seg_shape=seg_shape,
            bilevel=bilevel,
        )
    # decode the first and last strip/tile now so a damaged file fails here, not at compute
    source.read((slice(0, 1), slice(0, min(seg_shape[0], yx[0])), slice(0, 1)))
    source.read((slice(nz - 1, nz), slice(yx[0] - 1, yx[0]), slice(yx[1] - 1, yx[1])))
    data = source.to_dask(_segment_chunks(vshape, seg_shape, source.dtype.itemsize), token=token)
    return dict(data=data, spacing=spacing, unit=unit, levels=levels, key=key)
