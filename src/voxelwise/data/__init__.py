"""Public datasets and synthetic volumes for demos, tests and benchmarks.

- A registry of named public EM datasets (:func:`datasets`, :func:`dataset_info`) with every
  file's download address and sha256, and :func:`fetch` to download and verify them with pooch.
- Loaders that return lazy (Z, Y, X) dask arrays with ground truth and metadata
  (:func:`load_vnc`, :func:`load_flyem`, :func:`load_isbi2012`, :func:`load`), reading either a
  local copy (``root=``) or the download cache.
- :func:`synthetic_em`: a seeded EM-like volume (cells with membranes, textured mitochondria,
  noise, optional anisotropy) with exact ground truth.
- :func:`balls_and_shells`: two seeded classes of objects (solid balls, hollow shells) that
  differ only in pattern, with their centres and classes, for clustering at points.

>>> from voxelwise.data import synthetic_em
>>> vol = synthetic_em((32, 64, 64), rng=0)
>>> vol.image.shape, vol.image.dtype.name, sorted(vol.class_names)
((32, 64, 64), 'uint8', [0, 1, 2])
"""

from __future__ import annotations

from voxelwise.data._errors import DownloadError, UnknownDatasetError
from voxelwise.data._fetch import fetch
from voxelwise.data._loaders import (
    DatasetMeta,
    LoadedDataset,
    load,
    load_flyem,
    load_isbi2012,
    load_vnc,
)
from voxelwise.data._registry import DatasetFile, DatasetInfo, LabelKind, dataset_info, datasets
from voxelwise.data._synthetic import SyntheticVolume, synthetic_em
from voxelwise.data._synthetic_objects import balls_and_shells

__all__ = [
    "DatasetFile",
    "DatasetInfo",
    "DatasetMeta",
    "DownloadError",
    "LabelKind",
    "LoadedDataset",
    "SyntheticVolume",
    "UnknownDatasetError",
    "balls_and_shells",
    "dataset_info",
    "datasets",
    "fetch",
    "load",
    "load_flyem",
    "load_isbi2012",
    "load_vnc",
    "synthetic_em",
]
