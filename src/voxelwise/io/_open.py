"""Find out what a path holds and open it lazily as a :class:`~voxelwise.io.Volume`."""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any

from voxelwise.errors import CorruptFileError, FormatNotSupportedError, NotAVolumeFileError
from voxelwise.io._volume import Volume, make_volume

__all__ = ["detect_format", "open_volume", "supported_formats"]

READ_FORMATS = {
    "tiff": "multi-page TIFF / BigTIFF / OME-TIFF (.tif, .tiff, .btf)",
    "image-stack": "folder or glob pattern of 2D TIFF/PNG/JPEG/BMP slices",
    "png": "single 2D PNG image (.png)",
    "jpeg": "single 2D JPEG image (.jpg, .jpeg)",
    "bmp": "single 2D BMP image (.bmp)",
    "hdf5": "HDF5 dataset (.h5, .hdf5, .hdf)",
    "mrc": "MRC / REC / MAP (.mrc, .rec, .map, .mrcs, .st, .ali)",
    "zarr": "Zarr v2 or v3 array or group (.zarr folder)",
    "ome-zarr": "OME-Zarr NGFF 0.4 / 0.5 multiscale image (.ome.zarr folder)",
    "npy": "NumPy array (.npy)",
}
WRITE_FORMATS = {
    "tiff": ".tif, .tiff (BigTIFF above 4 GB)",
    "hdf5": ".h5, .hdf5",
    "mrc": ".mrc, .rec, .map",
    "zarr": ".zarr (plain zarr v3 array)",
    "ome-zarr": ".ome.zarr (NGFF 0.5 multiscale pyramid)",
    "npy": ".npy",
}
_SUFFIXES = {
    ".tif": "tiff",
    ".tiff": "tiff",
    ".btf": "tiff",
    ".tf2": "tiff",
    ".tf8": "tiff",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".bmp": "bmp",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".hdf": "hdf5",
    ".he5": "hdf5",
    ".mrc": "mrc",
    ".rec": "mrc",
    ".map": "mrc",
    ".mrcs": "mrc",
    ".st": "mrc",
    ".ali": "mrc",
    ".npy": "npy",
}
_MAGIC = (
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"\x89HDF\r\n\x1a\n", "hdf5"),
    (b"\x93NUMPY", "npy"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
)


def supported_formats(*, write: bool = False) -> list[str]:
    """Names of the formats :func:`open_volume` reads (or, with ``write=True``, writes).

    Examples
    --------
    >>> "ome-zarr" in supported_formats()
    True
    >>> supported_formats(write=True)
    ['tiff', 'hdf5', 'mrc', 'zarr', 'ome-zarr', 'npy']
    """
    return list(WRITE_FORMATS if write else READ_FORMATS)


def formats_help(*, write: bool = False) -> str:
    """One line per format with its file names, for error messages and CLI help."""
    table = WRITE_FORMATS if write else READ_FORMATS
    return "; ".join(f"{name}: {what}" for name, what in table.items())


def _sniff(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    for offset in (512, 1024, 2048):  # HDF5 after a user block
        if head[offset : offset + 8] == b"\x89HDF\r\n\x1a\n":
            return "hdf5"
    if head[208:212] == b"MAP ":
        return "mrc"
    if head.startswith(b"BM") and len(head) > 26:
        return "bmp"
    return None


def detect_format(path: Path) -> str:
    """The format name for ``path`` (from the folder layout, suffix and first bytes).

    Zarr stores report ``"zarr"`` here; :func:`open_volume` tells OME-Zarr apart on reading.
    """
    from voxelwise.io._stack import has_glob
    from voxelwise.io._zarr import is_zarr

    if not path.exists():
        if has_glob(path):
            return "image-stack"
        raise NotAVolumeFileError(
            f"No such file or folder: {path}. Check the path (it is relative to {os.getcwd()})"
        )
    if path.is_dir():
        if is_zarr(path):
            return "zarr"
        if path.suffix.lower() == ".zarr":
            raise CorruptFileError(
                f"{path} is named like a zarr store but holds no zarr metadata (zarr.json, "
                ".zarray or .zgroup); it may be incomplete"
            )
        return "image-stack"
    by_suffix = _SUFFIXES.get(path.suffix.lower())
    by_content = _sniff(path)
    if by_suffix is None:
        if by_content is not None:
            return by_content
        raise FormatNotSupportedError(
            f"Cannot tell the format of {path} (suffix {path.suffix or 'none'!r}). Supported: "
            f"{formats_help()}"
        )
    if by_content is not None:
        return by_content  # the bytes win over a misleading suffix
    if by_suffix == "mrc":
        return "mrc"  # old MRC files lack the 'MAP ' stamp: let the reader decide
    size = path.stat().st_size
    raise CorruptFileError(
        f"{path} is named like a {by_suffix} file but does not start like one ({size} bytes); "
        "it is damaged, empty or misnamed"
    )


def open_volume(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    roi: Any = None,
    bin: Any = 1,
    level: int = 0,
) -> Volume:
    """Open a 3D (or 2D) grayscale image file lazily as a :class:`Volume`.

    Nothing is read beyond headers (and one strip or slice at each end, to catch damaged
    files early); ``Volume.data`` is a dask array whose chunks follow the file's storage.

    Parameters
    ----------
    path : str or Path
        A multi-page TIFF, a folder or glob pattern (``"dir/*.png"``) of 2D slices, an HDF5,
        MRC, ``.npy`` file, a Zarr or OME-Zarr folder, or a single 2D image (read as one slice).
    key : str, optional
        Dataset path in an HDF5 file, array or image path in a Zarr group, series number of
        a TIFF. Needed when the container holds several images.
    roi : str or sequence, optional
        Region ``"z0:z1,y0:y1,x0:x1"`` (or three slices / pairs) in voxels of the stored level;
        applied before binning.
    bin : int or (3,) ints
        Block-mean downsampling factor per axis (z, y, x); the dtype is kept.
    level : int
        Pyramid level of an OME-Zarr or pyramidal TIFF (0 = full resolution).

    Returns
    -------
    Volume
        ``data`` is a lazy (Z, Y, X) dask array; ``spacing`` is multiplied by ``bin``.

    Raises
    ------
    NotAVolumeFileError
        The path does not exist (or a pattern matches nothing).
    FormatNotSupportedError
        The file is of a kind voxelwise does not read.
    CorruptFileError
        The file is truncated or damaged.
    KeyRequiredError
        The container holds several images and ``key`` was not given (``.keys`` lists them).
    InvalidVolumeError
        The data are not one grayscale volume (RGB, channels, 4D, zero-size).
    RoiError
        The ROI is empty or outside the volume.

    Notes
    -----
    Values are never rescaled. Bilevel images (TIFF 1-bit, Pillow mode ``1``) read as uint8
    0/255, as Pillow's ``convert("L")`` and ImageJ give them; boolean arrays (NumPy, HDF5, Zarr)
    read as uint8 0/1. Folders of slices are sorted naturally (``2.png`` before ``10.png``) and
    carry no voxel size. MRC voxel sizes are in angstrom. A plain TIFF with resolution tags but
    no z spacing is taken as isotropic.

    Examples
    --------
    >>> vol = open_volume("stack1/raw", roi="0:10,:512,:512", bin=(1, 2, 2))  # doctest: +SKIP
    >>> vol.data.shape, vol.spacing  # doctest: +SKIP
    ((10, 256, 256), None)
    """
    from voxelwise.io._hdf5 import read_hdf5
    from voxelwise.io._mrc import read_mrc
    from voxelwise.io._npy import read_npy
    from voxelwise.io._stack import list_slices, read_stack
    from voxelwise.io._tiff import read_tiff
    from voxelwise.io._zarr import read_zarr

    path = Path(os.fspath(path)).expanduser()
    if not isinstance(level, numbers.Integral) or isinstance(level, bool):
        raise TypeError(f"Expected level as a whole number, got {level!r} instead")
    if level < 0:
        raise ValueError(f"Expected level >= 0, got {level} instead; 0 is full resolution")
    if key is not None and not isinstance(key, str):
        raise TypeError(f"Expected key as a string, got {key!r} instead")
    fmt = detect_format(path)
    if key is not None and fmt not in ("tiff", "hdf5", "zarr"):
        raise ValueError(
            f"key= selects an image inside HDF5, Zarr or TIFF files; {path} is {fmt}: drop key"
        )
    if level != 0 and fmt not in ("tiff", "zarr"):
        raise ValueError(f"{path} ({fmt}) has no pyramid levels; use level=0")
    if fmt == "tiff":
        found = read_tiff(path, key=key, level=level)
    elif fmt == "image-stack":
        found = read_stack(list_slices(path), where=path)
    elif fmt in ("png", "jpeg", "bmp"):
        found = read_stack([path], where=path)
    elif fmt == "hdf5":
        found = read_hdf5(path, key=key)
    elif fmt == "mrc":
        found = read_mrc(path)
    elif fmt == "npy":
        found = read_npy(path)
    else:
        found = read_zarr(path, key=key, level=level)
        fmt = found["format"]
    return make_volume(
        found["data"],
        path=path,
        format=fmt,
        spacing=found["spacing"],
        unit=found["unit"],
        key=found["key"],
        level=level,
        levels=found["levels"],
        roi=roi,
        bin=bin,
    )
