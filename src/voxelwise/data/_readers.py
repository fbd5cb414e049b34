"""Lazy readers behind the dataset loaders: image stacks, masks, and the FlyEM HDF5 ground truth.

Nothing here reads pixel data when called: the functions build dask arrays whose chunks read
their own files (or HDF5 slabs) when computed. Readers are plain module-level functions with
path arguments, so graphs pickle and run on a dask.distributed cluster that sees the files.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voxelwise.data._fetch import default_root, fetch
from voxelwise.data._registry import DatasetInfo
from voxelwise.errors import CorruptFileError, NotAVolumeFileError

if TYPE_CHECKING:
    import dask.array as da

__all__ = [
    "decompressed_copy",
    "forward_faces",
    "lazy_h5_slabs",
    "lazy_stack",
    "read_gray",
    "read_h5",
    "read_mask",
    "resolve_folder",
]


def resolve_folder(info: DatasetInfo, root: str | Path | None, needed: Sequence[str]) -> Path:
    """The dataset folder under ``root`` (or ``root`` itself), checked to hold ``needed`` files.

    ``root=None`` fetches the dataset into the default cache first (downloading what is missing).
    """
    if root is None:
        folder = fetch(info.name)
    else:
        root = Path(root)
        folder = root / info.folder
        if not folder.is_dir() and needed and (root / needed[0]).is_file():
            folder = root  # root is the dataset folder itself
    how = (
        f"download it with voxelwise.data.fetch({info.name!r}) and call the loader with root=None "
        f"(or fetch({info.name!r}, root=...) and pass that root), or pass the folder that holds "
        f"{info.folder}/"
    )
    if not folder.is_dir():
        raise NotAVolumeFileError(
            f"No {info.name!r} dataset at {folder}: the folder does not exist; {how}"
        )
    missing = [p for p in needed if not (folder / p).is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        raise NotAVolumeFileError(
            f"The {info.name!r} dataset at {folder} is incomplete: {shown} missing; {how}"
        )
    return folder


def _open_gray(path: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as e:
        raise CorruptFileError(
            f"Could not decode {path} as an image ({e}); re-download it with voxelwise.data.fetch"
        ) from e


def _checked(array: np.ndarray, path: str, shape: tuple[int, int]) -> np.ndarray:
    if array.shape != shape:
        raise CorruptFileError(
            f"Expected a {shape[0]} x {shape[1]} image in {path}, got shape {array.shape} instead; "
            "the file does not belong to this dataset (re-download it with voxelwise.data.fetch)"
        )
    return array


def read_gray(path: str, shape: tuple[int, int]) -> np.ndarray:
    """Read an 8-bit grayscale image as uint8 (Y, X)."""
    with _open_gray(path) as im:
        if im.mode != "L":
            raise CorruptFileError(
                f"Expected an 8-bit grayscale image in {path}, got PIL mode {im.mode!r}"
            )
        return _checked(np.asarray(im, dtype=np.uint8), path, shape)


def read_mask(path: str, shape: tuple[int, int], *, zero_is_true: bool = False) -> np.ndarray:
    """Read a binary mask PNG (modes ``1`` or ``L`` alike) as bool: ``> 0``, or ``== 0``."""
    with _open_gray(path) as im:
        values = np.asarray(im.convert("L"), dtype=np.uint8)
    return _checked(values == 0 if zero_is_true else values > 0, path, shape)


def read_lut(path: str, shape: tuple[int, int], lut: np.ndarray, invalid: int) -> np.ndarray:
    """Read an 8-bit label image and map its values through ``lut`` (256 entries)."""
    values = read_gray(path, shape)
    out = lut[values]
    if (out == invalid).any():
        bad = sorted(set(np.unique(values[out == invalid]).tolist()))
        raise CorruptFileError(f"Unexpected label values {bad} in {path}")
    return out


def _read_slab(read: Callable[..., np.ndarray], paths: tuple[str, ...], kwargs: dict) -> np.ndarray:
    return np.stack([read(p, **kwargs) for p in paths])


def lazy_stack(
    paths: Sequence[Path],
    read: Callable[..., np.ndarray],
    *,
    shape: tuple[int, int],
    dtype: Any,
    slab: int = 1,
    name: str,
    **kwargs: Any,
) -> da.Array:
    """A lazy (Z, Y, X) dask array of 2D files; each chunk reads ``slab`` consecutive files."""
    import dask
    import dask.array as da

    blocks = []
    for start in range(0, len(paths), slab):
        group = tuple(str(p) for p in paths[start : start + slab])
        token = dask.base.tokenize(read.__name__, group, kwargs, name)
        delayed = dask.delayed(_read_slab, pure=True)(
            read, group, {"shape": shape, **kwargs}, dask_key_name=f"{name}-{token}"
        )
        blocks.append(
            da.from_delayed(
                delayed, shape=(len(group), *shape), dtype=dtype, name=f"{name}-block-{token}"
            )
        )
    return da.concatenate(blocks, axis=0)


def read_h5(path: str, key: str, start: int, stop: int | None) -> np.ndarray:
    """Read ``file[key][start:stop]`` from an HDF5 file (opened per call, so it pickles)."""
    import h5py

    with h5py.File(path, "r") as f:
        return f[key][start:stop]


def lazy_h5_slabs(path: Path, key: str, *, slab: int, name: str) -> da.Array:
    """A lazy dask array of an HDF5 dataset, chunked in ``slab`` planes along the first axis."""
    import dask
    import dask.array as da
    import h5py

    with h5py.File(path, "r") as f:
        shape = tuple(f[key].shape)
        dtype = f[key].dtype
    blocks = []
    for start in range(0, shape[0], slab):
        stop = min(start + slab, shape[0])
        token = dask.base.tokenize(str(path), key, start, stop)
        delayed = dask.delayed(read_h5, pure=True)(
            str(path), key, start, stop, dask_key_name=f"{name}-{token}"
        )
        blocks.append(
            da.from_delayed(
                delayed, shape=(stop - start, *shape[1:]), dtype=dtype, name=f"{name}-block-{token}"
            )
        )
    return da.concatenate(blocks, axis=0)


def decompressed_copy(gz_path: Path, cache_dir: str | Path | None) -> Path:
    """Decompress ``gz_path`` once into ``cache_dir`` and return the copy's path.

    The copy is named after the sha256 of the compressed file, so a changed source is never
    served from a stale copy; it is written to a temporary name and renamed when complete.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_root() / "decompressed"
    digest = hashlib.sha256()
    with open(gz_path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    stem = gz_path.name.removesuffix(".gz")
    base, dot, ext = stem.rpartition(".")
    target = cache / (
        f"{base}-{digest.hexdigest()[:16]}{dot}{ext}"
        if dot
        else f"{stem}-{digest.hexdigest()[:16]}"
    )
    if target.is_file():
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=".tmp-", suffix=".part")
    except OSError as e:
        raise OSError(
            f"Could not write the decompressed copy of {gz_path.name} to {cache} ({e}); pass a "
            "writable cache_dir=..."
        ) from e
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(gz_path, "rb") as src:
            shutil.copyfileobj(src, out, length=1 << 20)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except (OSError, EOFError) as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, gzip.BadGzipFile | EOFError):
            raise CorruptFileError(
                f"{gz_path} is not a complete gzip file ({e}); re-download it with voxelwise.data.fetch"
            ) from e
        raise
    return target


def forward_faces(block: np.ndarray) -> np.ndarray:
    """True where the next voxel along any axis has another label (one voxel per face)."""
    out = np.zeros(block.shape, dtype=bool)
    for axis in range(block.ndim):
        here = [slice(None)] * block.ndim
        ahead = [slice(None)] * block.ndim
        here[axis] = slice(0, -1)
        ahead[axis] = slice(1, None)
        out[tuple(here)] |= block[tuple(here)] != block[tuple(ahead)]
    return out
