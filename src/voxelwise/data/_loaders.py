"""Loaders of the registered datasets: lazy (Z, Y, X) dask arrays plus metadata."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from natsort import natsorted

from voxelwise.data import _readers as r
from voxelwise.data._registry import DatasetInfo, dataset_info

if TYPE_CHECKING:
    import dask.array as da

__all__ = ["DatasetMeta", "LoadedDataset", "load", "load_flyem", "load_isbi2012", "load_vnc"]


@dataclass(frozen=True)
class DatasetMeta:
    """What a loader knows about the arrays it returns.

    Attributes
    ----------
    name : str
        Dataset name (``"vnc"``, ``"flyem"``, ``"isbi2012"``).
    folder : Path
        The dataset folder the arrays read from.
    spacing : (3,) tuple of float
        Voxel size (z, y, x) in ``unit``.
    unit : str
        ``"nanometer"``.
    labels : str or None
        The ground-truth kind returned (``labels=`` argument), or None.
    class_names : dict of int to str, or None
        Names of label values for semantic labels; None for instance ids or no labels.
    citation, licence : str
        How to cite the data and its terms of use.
    info : DatasetInfo
        The registry entry.
    """

    name: str
    folder: Path
    spacing: tuple[float, float, float]
    unit: str
    labels: str | None
    class_names: dict[int, str] | None
    citation: str
    licence: str
    info: DatasetInfo = field(repr=False)


class LoadedDataset(NamedTuple):
    """``(image, labels, meta)``: lazy image, lazy labels (or None) and :class:`DatasetMeta`."""

    image: da.Array
    labels: da.Array | None
    meta: DatasetMeta


def _meta(info: DatasetInfo, folder: Path, labels: str | None) -> DatasetMeta:
    return DatasetMeta(
        name=info.name,
        folder=folder,
        spacing=info.spacing,
        unit=info.unit,
        labels=labels,
        class_names=None if labels is None else info.label_kind(labels).class_names,
        citation=info.citation,
        licence=info.licence,
        info=info,
    )


def _under(info: DatasetInfo, prefix: str) -> list[str]:
    return natsorted(f.path for f in info.files if f.path.startswith(prefix))


def _parse_labels(info: DatasetInfo, labels: str | None) -> str | None:
    if labels is None:
        return None
    if not isinstance(labels, str):
        raise TypeError(f"Expected labels as a string or None, got {labels!r} instead")
    return info.label_kind(labels).name


# VNC merged labels -> compact 5-class map; 254 marks values that should not occur.
_VNC_INVALID = 254


def _vnc_lut() -> np.ndarray:
    lut = np.full(256, _VNC_INVALID, dtype=np.uint8)
    lut[[0, 32, 64, 96, 128]] = 1  # oriented membrane and junctions
    lut[159] = 2  # glia/extracellular
    lut[191] = 3  # mitochondria
    lut[223] = 4  # synapse
    lut[255] = 0  # intracellular
    return lut


def load_vnc(root: str | Path | None = None, *, labels: str | None = "classes") -> LoadedDataset:
    """Load the Drosophila VNC ssTEM stack (20 x 1024 x 1024 uint8) and its ground truth.

    Parameters
    ----------
    root : str or Path, optional
        Folder holding ``drosophila_vnc_sstem/`` (or that folder itself). Default: fetch the
        dataset into the user cache (downloading it once) and read it from there.
    labels : {"classes", "mitochondria", "synapses", "membranes"} or None, optional
        ``"classes"`` (default): the compact 5-class map as uint8, 0 intracellular (74.1 %),
        1 membrane incl. junctions (17.2 %), 2 glia/extracellular (2.9 %), 3 mitochondria (5.4 %),
        4 synapse (0.6 %). Note that 0 is a real class here, not "unlabelled": the stack is densely
        labelled. ``"mitochondria"``, ``"synapses"``, ``"membranes"``: the binary masks as bool
        (the PNG masks read as ``> 0``). ``None``: no labels.

    Returns
    -------
    image : (20, 1024, 1024) dask array of uint8
        Lazy; one chunk per section.
    labels : (20, 1024, 1024) dask array of uint8 or bool, or None
    meta : DatasetMeta
        ``spacing=(50.0, 4.6, 4.6)`` nanometer (sections are 45-50 nm thick), class names,
        citation.

    Raises
    ------
    NotAVolumeFileError
        ``root`` holds no (complete) copy of the dataset; the message says how to fetch it.

    Examples
    --------
    >>> from voxelwise.data import load_vnc
    >>> image, labels, meta = load_vnc("../shared/data")        # doctest: +SKIP
    >>> image.shape, labels.dtype, meta.class_names[3]          # doctest: +SKIP
    ((20, 1024, 1024), dtype('uint8'), 'mitochondria')
    """
    info = dataset_info("vnc")
    kind = _parse_labels(info, labels)
    raw = _under(info, "stack1/raw/")
    label_files = []
    if kind == "classes":
        label_files = _under(info, "stack1/labels/")
    elif kind is not None:
        label_files = _under(info, f"stack1/{kind}/")
    folder = r.resolve_folder(info, root, raw + label_files)
    shape2d = info.shape[1:]
    image = r.lazy_stack(
        [folder / p for p in raw], r.read_gray, shape=shape2d, dtype=np.uint8, name="vnc-image"
    )
    out: da.Array | None = None
    paths = [folder / p for p in label_files]
    if kind == "classes":
        out = r.lazy_stack(
            paths,
            r.read_lut,
            shape=shape2d,
            dtype=np.uint8,
            name="vnc-classes",
            lut=_vnc_lut(),
            invalid=_VNC_INVALID,
        )
    elif kind is not None:
        out = r.lazy_stack(paths, r.read_mask, shape=shape2d, dtype=bool, name=f"vnc-{kind}")
    return LoadedDataset(image, out, _meta(info, folder, kind))


def _lut_blocks(block: np.ndarray, lut: np.ndarray) -> np.ndarray:
    return lut[block]


def load_flyem(
    root: str | Path | None = None,
    *,
    labels: str | None = "bodies",
    cache_dir: str | Path | None = None,
) -> LoadedDataset:
    """Load the FlyEM medulla FIB-SEM cube (250 x 250 x 250 uint8, 10 nm) and its ground truth.

    The ground truth ships as a gzipped HDF5 file; it is decompressed once into ``cache_dir`` (never
    into ``root``, which may be read-only) and read lazily from there.

    Parameters
    ----------
    root : str or Path, optional
        Folder holding ``flyem_medulla_fibsem_neuroproof/`` (or that folder itself). Default:
        fetch the dataset into the user cache (downloading it once).
    labels : {"bodies", "supervoxels", "boundaries"} or None, optional
        ``"bodies"`` (default): dense neuron instance ids as int32 (526 bodies; the supervoxels
        mapped through the file's ``transforms``). ``"supervoxels"``: the 21,317 supervoxel ids
        (int32). ``"boundaries"``: bool, True where the next voxel along z, y or x belongs to
        another body, i.e. one voxel per face between bodies (about 8.8 % of voxels).
        ``None``: no labels.
    cache_dir : str or Path, optional
        Writable folder for the decompressed HDF5 file (62 MB). Default:
        ``<pooch.os_cache("voxelwise")>/decompressed``.

    Returns
    -------
    image : (250, 250, 250) dask array of uint8
    labels : (250, 250, 250) dask array of int32 or bool, or None
    meta : DatasetMeta
        ``spacing=(10.0, 10.0, 10.0)`` nanometer.

    Examples
    --------
    >>> from voxelwise.data import load_flyem
    >>> image, bodies, meta = load_flyem("../shared/data", cache_dir="/tmp/vw")  # doctest: +SKIP
    >>> len(np.unique(bodies))                                                    # doctest: +SKIP
    526
    """
    info = dataset_info("flyem")
    kind = _parse_labels(info, labels)
    gray = _under(info, "training_sample2/grayscale_maps/")
    gt = "training_sample2/groundtruth.h5.gz"
    folder = r.resolve_folder(info, root, gray + ([gt] if kind is not None else []))
    slab = 50
    image = r.lazy_stack(
        [folder / p for p in gray],
        r.read_gray,
        shape=info.shape[1:],
        dtype=np.uint8,
        slab=slab,
        name="flyem-image",
    )
    out: da.Array | None = None
    if kind is not None:
        import dask.array as da

        h5 = r.decompressed_copy(folder / gt, cache_dir)
        out = r.lazy_h5_slabs(h5, "stack", slab=slab, name="flyem-supervoxels").astype(np.int32)
        if kind != "supervoxels":
            transforms = r.read_h5(str(h5), "transforms", 0, None)  # (n, 2) supervoxel -> body
            out = da.map_blocks(_lut_blocks, out, lut=_body_lut(transforms), dtype=np.int32)
        if kind == "boundaries":
            out = da.map_overlap(r.forward_faces, out, depth=1, boundary="nearest", dtype=bool)
    return LoadedDataset(image, out, _meta(info, folder, kind))


def _body_lut(transforms: np.ndarray) -> np.ndarray:
    """Supervoxel -> body lookup table; ids missing from ``transforms`` map to themselves."""
    transforms = np.asarray(transforms, dtype=np.int64).reshape(-1, 2)
    size = int(transforms[:, 0].max()) + 1 if len(transforms) else 1
    lut = np.arange(size, dtype=np.int64)
    lut[transforms[:, 0]] = transforms[:, 1]
    return lut.astype(np.int32)


def load_isbi2012(
    root: str | Path | None = None, *, labels: str | None = "membranes"
) -> LoadedDataset:
    """Load the ISBI 2012 training volume (30 x 512 x 512 uint8) and its membrane labels.

    Sections are ordered naturally by file name (``0.png, 1.png, ..., 10.png``), as in the
    challenge's ``train-volume.tif``.

    Parameters
    ----------
    root : str or Path, optional
        Folder holding ``isbi2012_em_membranes/`` (or that folder itself). Default: fetch the
        dataset into the user cache (downloading it once).
    labels : {"membranes"} or None, optional
        ``"membranes"`` (default): a bool mask, True on membrane (where the label PNG is 0,
        about 22 % of voxels) and False in cell interiors (255). ``None``: no labels.

    Returns
    -------
    image : (30, 512, 512) dask array of uint8
    labels : (30, 512, 512) dask array of bool, or None
    meta : DatasetMeta
        ``spacing=(50.0, 4.0, 4.0)`` nanometer.
    """
    info = dataset_info("isbi2012")
    kind = _parse_labels(info, labels)
    volume = _under(info, "train-volume_png/")
    label_files = _under(info, "train-labels_png/") if kind is not None else []
    folder = r.resolve_folder(info, root, volume + label_files)
    shape2d = info.shape[1:]
    image = r.lazy_stack(
        [folder / p for p in volume],
        r.read_gray,
        shape=shape2d,
        dtype=np.uint8,
        name="isbi2012-image",
    )
    out = None
    if kind is not None:
        out = r.lazy_stack(
            [folder / p for p in label_files],
            r.read_mask,
            shape=shape2d,
            dtype=bool,
            name="isbi2012-membranes",
            zero_is_true=True,
        )
    return LoadedDataset(image, out, _meta(info, folder, kind))


_LOADERS: dict[str, Callable[..., LoadedDataset]] = {
    "vnc": load_vnc,
    "flyem": load_flyem,
    "isbi2012": load_isbi2012,
}


def load(name: str, root: str | Path | None = None, **kwargs: Any) -> LoadedDataset:
    """Load a registered dataset by name: ``load("vnc", root, labels="mitochondria")``.

    Dispatches to :func:`load_vnc`, :func:`load_flyem` or :func:`load_isbi2012`; keyword
    arguments go to that loader.

    Returns
    -------
    LoadedDataset
        ``(image, labels, meta)``.
    """
    info = dataset_info(name)
    return _LOADERS[info.name](root, **kwargs)
