"""Sample volumes for the demo: the synthetic generator, a registered dataset, or any file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxelwise.errors import InvalidVolumeError
from voxelwise.workflows._errors import WorkflowInputError

__all__ = ["SYNTHETIC_SHAPE", "SYNTHETIC_SPACING", "Sample", "default_roi", "load_sample"]

SYNTHETIC_SHAPE = (48, 256, 256)
SYNTHETIC_SHAPE_QUICK = (16, 64, 64)
QUICK_CROP = (16, 128, 128)  # quick runs on real data: at most this central part
SYNTHETIC_SPACING = (20.0, 10.0, 10.0)  # nanometre: a mildly anisotropic stack


@dataclass(frozen=True)
class Sample:
    """A volume with dense ground truth (class c of ``class_names`` stored as c, 0 included);
    ``instances`` optionally numbers the objects of the class ``instance_class``."""

    name: str
    image: Any
    truth: Any
    spacing: tuple[float, float, float] | None
    unit: str | None
    class_names: dict[int, str]
    instances: Any = None
    instance_class: str | None = None


def default_roi(shape: tuple[int, ...]) -> str:
    """The central part of a volume: the middle two thirds in z, the middle half in y and x."""
    z, y, x = shape
    dz = z // 6
    return f"{dz}:{z - dz},{y // 4}:{y - y // 4},{x // 4}:{x - x // 4}"


def _from_files(data: Any, truth: Any) -> Sample:
    import dask.array as da

    from voxelwise.io import open_volume

    if truth is None:
        raise WorkflowInputError(
            f"The demo needs ground truth for {data} (it draws the scribbles from it and scores "
            "the results): pass --truth LABELS_FILE (class values 0, 1, 2, ...), or use a "
            "registered dataset (--data vnc, isbi2012, flyem) or the synthetic sample"
        )
    vol = open_volume(data)
    labels = open_volume(truth).data
    if labels.shape != vol.data.shape:
        raise InvalidVolumeError(
            f"The truth has shape {labels.shape} but the image {vol.data.shape}; give the labels "
            "of this very volume"
        )
    if labels.dtype == bool:
        labels = labels.astype(np.uint8)
    if labels.dtype.kind not in "iu":
        raise InvalidVolumeError(
            f"Expected integer class values in {truth}, got dtype {labels.dtype}"
        )
    top = int(da.max(labels).compute())
    if top > 254:
        raise InvalidVolumeError(
            f"The truth holds values up to {top}; the demo needs a few classes (0..254), not "
            "object ids"
        )
    return Sample(
        name=Path(str(data)).name.split(".")[0] or "data",
        image=vol.data,
        truth=labels,
        spacing=vol.spacing,
        unit=vol.unit,
        class_names={v: f"class_{v}" for v in range(top + 1)},
    )


def load_sample(
    dataset: str = "synthetic",
    *,
    truth: str | os.PathLike[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    quick: bool = False,
    rng: np.random.Generator | int | None = 0,
) -> Sample:
    """The demo's sample: ``"synthetic"``, a registered dataset name, or a volume file path
    (with ``truth``, a file of class values). ``quick`` makes it small: the quick synthetic
    shape, or the central :data:`QUICK_CROP` of a real volume."""
    sample = _load(dataset, truth=truth, data_root=data_root, quick=quick, rng=rng)
    return _central_crop(sample, QUICK_CROP) if quick and dataset != "synthetic" else sample


def _central_crop(sample: Sample, most: tuple[int, int, int]) -> Sample:
    """``sample`` cut to its central part of at most ``most`` voxels per axis (lazily)."""
    shape = tuple(int(n) for n in sample.image.shape)
    cut = tuple(
        slice((n - min(n, m)) // 2, (n - min(n, m)) // 2 + min(n, m)) for n, m in zip(shape, most)
    )
    instances = None if sample.instances is None else sample.instances[cut]
    return Sample(
        sample.name,
        sample.image[cut],
        sample.truth[cut],
        sample.spacing,
        sample.unit,
        sample.class_names,
        instances,
        sample.instance_class,
    )


def _load(
    dataset: str,
    *,
    truth: str | os.PathLike[str] | None,
    data_root: str | os.PathLike[str] | None,
    quick: bool,
    rng: np.random.Generator | int | None,
) -> Sample:
    if dataset == "synthetic":
        from voxelwise.data import synthetic_em

        shape = SYNTHETIC_SHAPE_QUICK if quick else SYNTHETIC_SHAPE
        vol = synthetic_em(shape, spacing=SYNTHETIC_SPACING, rng=rng)
        return Sample(
            "synthetic",
            vol.image,
            vol.labels,
            SYNTHETIC_SPACING,
            "nanometer",
            dict(vol.class_names),
            vol.mitochondria,
            vol.class_names[2],
        )
    from voxelwise.data import datasets, load

    if dataset in {d.name for d in datasets()}:
        loaded = load(dataset, Path(data_root) if data_root is not None else None)
        if loaded.labels is None:  # pragma: no cover - every registered dataset has labels
            raise InvalidVolumeError(f"The dataset {dataset!r} has no ground truth to show")
        labels = loaded.labels
        if labels.dtype == bool:
            labels = labels.astype(np.uint8)
        names = dict(loaded.meta.class_names or {})
        if not names:
            import dask.array as da

            names = {v: f"class_{v}" for v in range(int(da.max(labels).compute()) + 1)}
        return Sample(dataset, loaded.image, labels, loaded.meta.spacing, loaded.meta.unit, names)
    if not Path(dataset).exists():
        raise WorkflowInputError(
            f"{dataset!r} is neither a registered dataset ({', '.join(d.name for d in datasets())}"
            ", or synthetic) nor an existing volume file"
        )
    return _from_files(dataset, truth)
