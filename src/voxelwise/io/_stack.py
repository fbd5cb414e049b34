"""Folders (or glob patterns) of 2D slices, one file per z, and single 2D images.

Slices are sorted naturally (``2.png`` before ``10.png``), checked for matching size and pixel
type when the stack is opened (reading only the headers), and decoded one file per dask chunk.
TIFF slices are read with tifffile, PNG/JPEG/BMP with Pillow. Bilevel slices (mode ``1``) read
as uint8 0/255, as ``Image.convert("L")`` gives, so they mix with 8-bit slices.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from natsort import natsorted

from voxelwise.errors import (
    CorruptFileError,
    FormatNotSupportedError,
    InvalidVolumeError,
    NotAVolumeFileError,
    VoxelwiseError,
)
from voxelwise.io._volume import (
    Box,
    LazySource,
    channel_error,
    file_token,
    photometric_name,
)

__all__ = ["SLICE_SUFFIXES", "has_glob", "list_slices", "read_stack"]

SLICE_SUFFIXES = {
    ".tif": "tiff",
    ".tiff": "tiff",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".bmp": "bmp",
}
_PIL_DTYPES = {
    "1": np.uint8,
    "L": np.uint8,
    "P": np.uint8,
    "I;16": np.uint16,
    "I;16L": np.uint16,
    "I;16B": np.uint16,
    "I;16N": np.uint16,
    "I": np.int32,
    "F": np.float32,
}


def has_glob(path: Path | str) -> bool:
    """Whether ``path`` is a glob pattern (``*``, ``?`` or ``[``) rather than a file name."""
    return any(c in str(path) for c in "*?[")


def list_slices(path: Path) -> list[Path]:
    """The slice files of a folder or glob pattern, naturally sorted; one kind of file only."""
    if has_glob(path) and not path.exists():
        files = [Path(f) for f in glob.glob(str(path)) if Path(f).is_file()]
        if not files:
            raise NotAVolumeFileError(
                f"No files match the pattern {path}; check the folder and pattern"
            )
    else:
        files = [
            f
            for f in path.iterdir()
            if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in SLICE_SUFFIXES
        ]
    files = natsorted(files, key=lambda f: f.name)
    kinds = {SLICE_SUFFIXES.get(f.suffix.lower(), f.suffix.lower()) for f in files}
    if len(kinds) > 1:
        raise InvalidVolumeError(
            f"{path} mixes slice files of several kinds ({', '.join(sorted(kinds))}); choose one "
            f"with a glob pattern, e.g. {path / '*.png' if path.is_dir() else path}"
        )
    return files


def _bomb_error(file: Path, e: Exception) -> InvalidVolumeError:
    return InvalidVolumeError(
        f"Pillow refuses to decode {file} because it is very large ({e}). If you trust the file, "
        "set PIL.Image.MAX_IMAGE_PIXELS = None in your script first, or convert it to TIFF"
    )


def _slice_info(file: Path) -> tuple[tuple[int, int], np.dtype, str]:
    """(height, width), dtype and a short description of one slice file, from its header."""
    if file.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        try:
            with tifffile.TiffFile(file) as tif:
                series = tif.series[0]
                page = series.keyframe
                if page.samplesperpixel > 1 or int(page.photometric) in (2, 5, 6, 8):
                    raise channel_error(
                        file, f"TIFF photometric {photometric_name(page.photometric)}"
                    )
                if len(series.shape) != 2:
                    raise InvalidVolumeError(
                        f"{file} holds {series.shape} (axes {series.axes}), not one 2D slice; "
                        "open it on its own instead of as part of a folder of slices"
                    )
                dtype = np.dtype(np.uint8 if page.dtype == bool else page.dtype)
                return (int(series.shape[0]), int(series.shape[1])), dtype, f"TIFF {dtype}"
        except VoxelwiseError:
            raise
        except Exception as e:
            raise _corrupt(file, e) from e
    from PIL import Image

    try:
        with Image.open(file) as im:
            mode = im.mode
            size = (int(im.size[1]), int(im.size[0]))
            if mode == "P":
                palette = im.getpalette() or []
                rgb = np.asarray(palette, dtype=np.int32).reshape(-1, 3)
                if not (rgb[:, 0] == rgb[:, 1]).all() or not (rgb[:, 1] == rgb[:, 2]).all():
                    raise channel_error(file, "Pillow mode P with a colour palette")
    except VoxelwiseError:
        raise
    except Image.DecompressionBombError as e:
        raise _bomb_error(file, e) from e
    except Exception as e:
        raise _corrupt(file, e) from e
    if mode not in _PIL_DTYPES:
        raise channel_error(file, f"Pillow image mode {mode!r}")
    return size, np.dtype(_PIL_DTYPES[mode]), f"mode {mode}"


def _read_tiff_slice(file: Path) -> np.ndarray:
    import tifffile

    from voxelwise.io._tiffmeta import watch_tifffile

    with watch_tifffile() as problems:
        arr = tifffile.imread(file)
    damage = problems.damage()
    if damage:  # tifffile fills what it could not read with zeros and only logs it
        raise _corrupt(file, damage)
    return np.asarray(arr)


def _corrupt(file: Path, e: BaseException | str) -> CorruptFileError:
    return CorruptFileError(
        f"The image file {file} is damaged and cannot be read ({e}); it may be truncated. "
        "Replace it or leave it out of the stack"
    )


def _read_slice(file: Path, dtype: np.dtype) -> np.ndarray:
    try:
        if file.suffix.lower() in (".tif", ".tiff"):
            arr = _read_tiff_slice(file)
            if arr.dtype == bool:
                arr = arr.astype(np.uint8) * np.uint8(255)
        else:
            from PIL import Image

            with Image.open(file) as im:
                arr = np.asarray(im.convert("L") if im.mode in ("1", "P") else im)
    except VoxelwiseError:
        raise
    except FileNotFoundError as e:
        raise CorruptFileError(
            f"The slice {file} disappeared while the stack was being read"
        ) from e
    except Exception as e:
        raise _corrupt(file, e) from e
    if arr.ndim != 2:
        raise channel_error(file, f"a slice of shape {arr.shape}")
    return arr.astype(dtype, copy=False)


class SliceFiles(LazySource):
    """Lazy (Z, Y, X) stack of 2D image files, one file per z."""

    def __init__(self, files: Sequence[Path], *, shape: tuple[int, int, int], dtype: Any) -> None:
        super().__init__(shape, dtype)
        self.files = list(files)

    def read(self, box: Box) -> np.ndarray:
        zs, ys, xs = box
        out = np.empty((zs.stop - zs.start, ys.stop - ys.start, xs.stop - xs.start), self.dtype)
        for i, z in enumerate(range(zs.start, zs.stop)):
            arr = _read_slice(self.files[z], self.dtype)
            if arr.shape != self.shape[1:]:
                raise InvalidVolumeError(
                    f"The slice {self.files[z]} is {arr.shape} (y, x) but the stack's slices are "
                    f"{self.shape[1:]}; remove or fix it"
                )
            out[i] = arr[ys, xs]
        return out


def read_stack(files: Sequence[Path], *, where: Path) -> dict[str, Any]:
    """Open slice ``files`` (already sorted) lazily; ``where`` names the stack in messages."""
    if not files:
        from voxelwise.io._open import formats_help

        raise FormatNotSupportedError(
            f"{where} is a folder without zarr metadata or image slices "
            f"({', '.join(sorted(SLICE_SUFFIXES))}). Supported: {formats_help()}"
        )
    shape0, dtype0, what0 = _slice_info(files[0])
    for f in files[1:]:
        shape, dtype, what = _slice_info(f)
        if shape != shape0 or dtype != dtype0:
            raise InvalidVolumeError(
                f"The slices of {where} do not match: {f.name} is {shape[0]} x {shape[1]} "
                f"({what}, {dtype}) but {files[0].name} is {shape0[0]} x {shape0[1]} "
                f"({what0}, {dtype0}). Every slice needs the same size and pixel type; fix or "
                "remove the odd file"
            )
    source = SliceFiles(files, shape=(len(files), *shape0), dtype=dtype0)
    # decode the first and last slices now so a damaged file fails here, not at compute
    source.read((slice(0, 1), slice(0, shape0[0]), slice(0, shape0[1])))
    if len(files) > 1:
        n = len(files)
        source.read((slice(n - 1, n), slice(0, shape0[0]), slice(0, shape0[1])))
    token = (file_token(files[0]), file_token(files[-1]), tuple(str(f) for f in files))
    data = source.to_dask((1, shape0[0], shape0[1]), token=token)
    return dict(data=data, spacing=None, unit=None, levels=1, key=None)
