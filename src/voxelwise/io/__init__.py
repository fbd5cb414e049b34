"""Read and write 3D microscopy volumes lazily: TIFF, image stacks, HDF5, MRC, Zarr, OME-Zarr, NumPy.

>>> from voxelwise.io import open_volume, write_volume
>>> vol = open_volume("stack1/raw")                       # doctest: +SKIP
>>> write_volume(vol, "raw.ome.zarr", spacing=(50, 4.6, 4.6), unit="nm")  # doctest: +SKIP

:func:`open_volume` returns a :class:`Volume` whose ``data`` is a dask array: nothing is read
until it is computed, chunk by chunk. :func:`write_volume` streams to any writable format.
"""

from __future__ import annotations

from voxelwise.io._open import open_volume, supported_formats
from voxelwise.io._volume import Volume
from voxelwise.io._write import write_volume

__all__ = ["Volume", "open_volume", "supported_formats", "write_volume"]
