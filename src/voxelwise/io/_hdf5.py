"""HDF5 datasets (h5py): lazy, lock-protected reading and chunked, compressed slab-wise writing."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from dask.utils import SerializableLock

from voxelwise._validate import as_volume_shape
from voxelwise.errors import CorruptFileError, InvalidVolumeError, KeyRequiredError
from voxelwise.io._raw import raw_chunks
from voxelwise.io._volume import (
    Box,
    LazySource,
    check_dtype,
    file_token,
    group_chunks,
    spacing_from_attrs,
    unit_factor,
)

__all__ = ["read_hdf5", "write_hdf5"]


def _h5py() -> Any:
    import h5py

    return h5py


class H5Dataset(LazySource):
    """Lazy (Z, Y, X) view of one HDF5 dataset.

    h5py is not thread-safe, so every read holds a lock; the file stays open (read-only) for
    the source's lifetime and is reopened after unpickling (the lock pickles by name).
    """

    def __init__(self, path: Path, key: str, *, shape: tuple[int, ...], dtype: Any) -> None:
        super().__init__(
            (1, *shape) if len(shape) == 2 else shape, np.dtype(dtype).newbyteorder("=")
        )
        self.path = path
        self.key = key
        self.stored_ndim = len(shape)
        self.lock = SerializableLock()
        self._hfile: Any = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._hfile = None

    def close(self) -> None:
        """Close the HDF5 file (it reopens on the next read)."""
        with self.lock:
            if self._hfile is not None:
                self._hfile.close()
                self._hfile = None

    def __del__(self) -> None:
        try:
            if getattr(self, "_hfile", None) is not None:
                self._hfile.close()
        except (OSError, ValueError, TypeError):  # pragma: no cover - closing at interpreter exit
            pass

    def read(self, box: Box) -> np.ndarray:
        index = box[1:] if self.stored_ndim == 2 else box
        with self.lock:
            if self._hfile is None:
                try:
                    self._hfile = _h5py().File(self.path, "r")
                except OSError as e:
                    raise CorruptFileError(f"Cannot reopen the HDF5 file {self.path}: {e}") from e
            try:
                block = self._hfile[self.key][index]
            except OSError as e:
                raise CorruptFileError(
                    f"The HDF5 file {self.path} is damaged: reading {self.key!r} failed ({e})"
                ) from e
        block = np.asarray(block)
        if self.stored_ndim == 2:
            block = block[None]
        return block.astype(self.dtype, copy=False)


def _datasets(f: Any) -> list[str]:
    h5py = _h5py()
    found: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and obj.ndim >= 2:
            found.append(name)

    f.visititems(visit)
    return found


def read_hdf5(path: Path, *, key: str | None = None) -> dict[str, Any]:
    """Open one dataset of an HDF5 file lazily; returns ``data``, ``spacing``, ``unit``, ``key``."""
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise CorruptFileError(
            f"The HDF5 file {path} is damaged or not HDF5 and cannot be opened ({e}); it may be "
            "truncated or still being copied"
        ) from e
    with f:
        names = _datasets(f)
        if key is None:
            if not names:
                raise InvalidVolumeError(
                    f"{path} holds no dataset with 2 or more dimensions; there is no image to read"
                )
            if len(names) > 1:
                raise KeyRequiredError(
                    f"{path} holds {len(names)} image datasets ({', '.join(names)}); choose one "
                    f"with key=, e.g. key={names[0]!r}",
                    names,
                )
            key = names[0]
        key = key.strip("/")
        obj = f.get(key)
        if not isinstance(obj, h5py.Dataset):
            raise KeyRequiredError(
                f"{path} has no dataset {key!r}; its image datasets are: "
                f"{', '.join(names) or 'none'}",
                names,
            )
        dtype = check_dtype(obj.dtype, f"{path} [{key}]")
        shape = tuple(int(s) for s in obj.shape)
        attrs = {k: _attr(v) for k, v in obj.attrs.items()}
        natural = obj.chunks
    vshape = as_volume_shape(shape, what=f"dataset {key!r} in {path}")
    spacing, unit = spacing_from_attrs(attrs, len(shape))
    source = H5Dataset(path, key, shape=shape, dtype=dtype)
    if natural is not None:
        nat3 = (1, *natural) if len(natural) == 2 else tuple(natural)
        chunks = group_chunks(nat3, vshape, dtype.itemsize)
    else:
        chunks = raw_chunks(vshape, dtype.itemsize)
    data = source.to_dask(chunks, token=file_token(path, key))
    if len(shape) == 2:
        data = data[0]
    return dict(data=data, spacing=spacing, unit=unit, levels=1, key=key)


def _attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def write_hdf5(
    slabs: Iterable[tuple[int, np.ndarray]],
    path: Path,
    *,
    shape: tuple[int, int, int],
    dtype: np.dtype,
    chunks: tuple[int, int, int],
    key: str,
    spacing: tuple[float, float, float] | None,
    unit: str | None,
) -> None:
    """Write z-slabs into a chunked, gzip-compressed dataset ``key`` of a new HDF5 file.

    Spacing is stored as attributes ``spacing`` + ``unit`` and, for lengths, also as
    ``element_size_um`` (micrometers; read by Fiji and ilastik).
    """
    h5py = _h5py()
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(
            key,
            shape=shape,
            dtype=dtype,
            chunks=chunks,
            compression="gzip",
            compression_opts=1,
            shuffle=True,
        )
        ds.attrs["axes"] = "zyx"
        if spacing is not None:
            ds.attrs["spacing"] = np.asarray(spacing, dtype=np.float64)
            if unit:
                ds.attrs["unit"] = unit
            factor = unit_factor(unit, "micrometer")
            if factor is not None:
                ds.attrs["element_size_um"] = np.asarray(spacing, dtype=np.float64) * factor
        for z0, block in slabs:
            ds[z0 : z0 + block.shape[0]] = block
