"""The plugin's writer: image and labels layers to the formats of :func:`voxelwise.io.write_volume`
(TIFF, HDF5, MRC, Zarr, OME-Zarr, NumPy), streamed chunk by chunk for dask data."""

from __future__ import annotations

from typing import Any

__all__ = ["write_image", "write_labels"]


def _write(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    from voxelwise.io import write_volume

    if isinstance(data, list):  # a multiscale layer: write its full resolution
        data = data[0]
    scale = meta.get("scale")
    spacing = None
    if scale is not None and len(scale) == 3 and any(float(s) != 1.0 for s in scale):
        spacing = tuple(float(s) for s in scale)
    written = write_volume(data, path, spacing=spacing, overwrite=True)
    return [str(written)]


def write_image(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write an image layer (napari writer hook); returns the written path."""
    return _write(path, data, meta)


def write_labels(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write a labels layer (napari writer hook); returns the written path."""
    return _write(path, data, meta)
