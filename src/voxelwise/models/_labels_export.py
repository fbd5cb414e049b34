"""Export a label layer for other annotation software, with its label names and colours.

Formats: TIFF (names in the ImageJ or JSON image description), HDF5 (names as dataset
attributes), OME-Zarr labels (an NGFF ``labels`` group with ``image-label`` colours and names),
NRRD (3D Slicer segmentation fields), MRC (IMOD; names in the header's text labels) and CSV
object tables (one row per label value, measured by :func:`voxelwise.analysis.measure`; a
plain CSV with a header row).
Volumes are streamed chunk by chunk or slab by slab; nothing is loaded whole.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler, store_chunks
from voxelwise.errors import FormatNotSupportedError, InvalidVolumeError, OutputExistsError
from voxelwise.workspace import Workspace

__all__ = ["LABEL_FORMATS", "export_labels", "label_table", "write_nrrd"]

LABEL_FORMATS = ("tiff", "hdf5", "ome-zarr", "nrrd", "mrc", "csv")
_SUFFIXES = {
    ".tif": "tiff",
    ".tiff": "tiff",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".zarr": "ome-zarr",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mrc": "mrc",
    ".rec": "mrc",
    ".csv": "csv",
}
_NRRD_TYPES = {
    "int8": "int8",
    "uint8": "uint8",
    "int16": "int16",
    "uint16": "uint16",
    "int32": "int32",
    "uint32": "uint32",
    "int64": "int64",
    "uint64": "uint64",
    "float32": "float",
    "float64": "double",
}


def label_table(ws: Workspace, layer: str) -> list[dict[str, Any]]:
    """``[{"value", "name", "color"}]`` of a layer's label set (empty without one)."""
    info = ws.layer(layer)
    if info.label_set is None:
        return []
    return [
        {"value": lab.value, "name": lab.name, "color": list(lab.color)}
        for lab in ws.label_set(info.label_set)
    ]


def _format(path: Path, format: str | None) -> str:
    if format is not None:
        fmt = str(format).lower().replace("_", "-").strip(".")
        fmt = {"tif": "tiff", "h5": "hdf5", "zarr": "ome-zarr", "ngff": "ome-zarr"}.get(fmt, fmt)
        if fmt not in LABEL_FORMATS:
            raise FormatNotSupportedError(
                f"Cannot export labels as {format!r}; choose one of {', '.join(LABEL_FORMATS)}"
            )
        return fmt
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise FormatNotSupportedError(
            f"Cannot tell the export format from the name {path.name!r}; use a suffix "
            f"({', '.join(sorted(_SUFFIXES))}) or pass format= (one of {', '.join(LABEL_FORMATS)})"
        )
    return found


def export_labels(
    ws: Workspace | str | os.PathLike[str],
    layer: str,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    overwrite: bool = False,
    with_image: bool = False,
    surface: bool = False,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Write a label layer (annotations, a prediction, instances) for other software.

    Parameters
    ----------
    ws : Workspace or path
    layer : str
        A label-like layer (integers, 0 = unlabelled).
    path : path
        Output file (folder for OME-Zarr); the format follows the suffix unless given.
    format : {"tiff", "hdf5", "ome-zarr", "nrrd", "mrc", "csv"}, optional
        ``tiff``: label names in the ImageJ description (``Labels=`` JSON line) or the JSON
        description (``labels``); ``hdf5``: dataset ``labels`` with attributes
        ``label_names``, ``label_values``, ``label_colors`` and ``label_set``; ``ome-zarr``:
        an NGFF store whose ``labels/<layer>`` image holds ``image-label`` colours and names
        (``with_image=True`` also writes the raw image as the store's image); ``nrrd``:
        gzip NRRD with 3D Slicer ``SegmentN_*`` fields (spacing in millimetres when the unit is
        a length); ``mrc``: IMOD-readable MRC (values up to 65535), names in the header
        labels; ``csv``: one row per label value with its name, voxel count, volume, bounding
        box and centroid (``surface=True`` adds surface area).
    overwrite : bool
        Replace an existing output.
    scheduler, progress
        See :mod:`voxelwise._compute`.

    Returns
    -------
    Path
        The written file or folder.

    Raises
    ------
    InvalidVolumeError
        ``layer`` is not a label-like layer, or its values do not fit the format.
    FormatNotSupportedError
        Unknown format.
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.
    """
    ws = ws if isinstance(ws, Workspace) else Workspace.open(ws)
    info = ws.layer(layer)
    if not info.is_label:
        raise InvalidVolumeError(
            f"Layer {layer!r} is a {info.kind!r} layer, not labels; export it with "
            f"ws.export({layer!r}, path) instead"
        )
    target = Path(path).expanduser()
    fmt = _format(target, format)
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise OutputExistsError(f"{target} exists already; pass overwrite=True to replace it")
    labels = label_table(ws, layer)
    common = {"scheduler": scheduler, "progress": progress}
    if fmt == "csv":
        return _write_csv(ws, layer, target, labels, surface, **common)
    if fmt == "ome-zarr":
        return _write_ome_zarr(ws, layer, target, labels, with_image, **common)
    if fmt == "nrrd":
        return write_nrrd(
            ws.get(layer), target, spacing=ws.spacing, unit=ws.unit, labels=labels, **common
        )
    data = ws.get(layer)
    kwargs = {"spacing": ws.spacing, "unit": ws.unit, "overwrite": overwrite, **common}
    if fmt == "tiff":
        out = ws.export(layer, target, format="tiff", **kwargs)
        _tiff_names(out, labels, info.label_set)
        return out
    if fmt == "hdf5":
        out = ws.export(layer, target, format="hdf5", key="labels", **kwargs)
        _hdf5_names(out, labels, info.label_set)
        return out
    return _write_mrc(ws, layer, data, target, labels, info.label_set, kwargs)


def _tiff_names(path: Path, labels: list[dict[str, Any]], label_set: str | None) -> None:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        description = tif.pages[0].description  # type: ignore[union-attr]
    entry = {"label_set": label_set, "labels": labels}
    if description.startswith("ImageJ="):
        text = description.rstrip("\n") + "\nLabels=" + json.dumps(entry) + "\n"
    else:
        meta = json.loads(description) if description.startswith("{") else {}
        meta["labels"] = entry
        text = json.dumps(meta)
    tifffile.tiffcomment(path, comment=text)


def _hdf5_names(path: Path, labels: list[dict[str, Any]], label_set: str | None) -> None:
    import h5py

    with h5py.File(path, "r+") as f:
        ds = f["labels"]
        ds.attrs["label_set"] = label_set or ""
        ds.attrs["label_names"] = json.dumps({str(lab["value"]): lab["name"] for lab in labels})
        ds.attrs["label_values"] = np.asarray([lab["value"] for lab in labels], dtype=np.int64)
        ds.attrs["label_colors"] = np.asarray(
            [lab["color"] for lab in labels], dtype=np.uint8
        ).reshape(-1, 4)


def _write_mrc(
    ws: Workspace,
    layer: str,
    data: da.Array,
    target: Path,
    labels: list[dict[str, Any]],
    label_set: str | None,
    kwargs: dict[str, Any],
) -> Path:
    import mrcfile

    from voxelwise.io import write_volume

    stats = ws.stats(layer)
    if data.dtype.name not in ("int8", "int16", "uint16"):
        top = stats.get("max") or 0
        if top > np.iinfo(np.uint16).max or (stats.get("min") or 0) < 0:
            raise InvalidVolumeError(
                f"Layer {layer!r} holds values from {stats.get('min')} to {top}; MRC label "
                "volumes hold 0-65535. Relabel it (fewer objects) or export another format "
                "such as OME-Zarr or NRRD"
            )
        data = data.astype(np.uint16)
    out = write_volume(data, target, format="mrc", **kwargs)
    lines = [f"voxelwise labels {layer}" + (f" set={label_set}" if label_set else "")]
    line = ""
    for lab in labels:
        item = f"{lab['value']}={lab['name']}"
        if len(line) + len(item) + 1 > 80:
            lines.append(line)
            line = ""
        line = f"{line} {item}".strip()
    if line:
        lines.append(line)
    with mrcfile.mmap(out, mode="r+") as mrc:  # memory-mapped: the data are not read
        for text in lines[:10]:
            mrc.add_label(text[:80])
    return out


def _space_directions(spacing: tuple[float, ...], unit: str | None) -> tuple[list[float], str]:
    from voxelwise.io._volume import unit_factor

    factor = unit_factor(unit, "millimeter")
    if factor is not None:
        return [float(s) * factor for s in spacing], "mm"
    return [float(s) for s in spacing], unit or ""


def write_nrrd(
    data: Any,
    path: str | os.PathLike[str],
    *,
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    unit: str | None = None,
    labels: list[dict[str, Any]] | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Write a (Z, Y, X) volume as a gzip-encoded NRRD file, streamed slab by slab.

    NRRD lists the fastest axis first, so ``sizes`` is ``X Y Z``; ``space directions`` hold the
    voxel size (converted to millimetres when ``unit`` is a length, as 3D Slicer expects).
    ``labels`` (``{"value", "name", "color"}``) become 3D Slicer segmentation fields
    (``Segment<i>_Name``, ``_LabelValue``, ``_Color``, ...), so Slicer loads the file as a
    segmentation with named segments.
    """
    arr = data if isinstance(data, da.Array) else da.from_array(data)
    dtype = np.dtype(arr.dtype)
    if dtype.name not in _NRRD_TYPES:
        raise InvalidVolumeError(f"NRRD cannot store dtype {dtype}; convert the volume first")
    target = Path(path).expanduser()
    nz, ny, nx = (int(s) for s in arr.shape)
    (sz, sy, sx), units = _space_directions(tuple(spacing), unit)
    header = [
        "NRRD0004",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
        f"type: {_NRRD_TYPES[dtype.name]}",
        "dimension: 3",
        "space: right-anterior-superior",
        f"sizes: {nx} {ny} {nz}",
        f"space directions: ({sx:.10g},0,0) (0,{sy:.10g},0) (0,0,{sz:.10g})",
        "kinds: domain domain domain",
        "endian: little",
        "encoding: gzip",
        "space origin: (0,0,0)",
    ]
    if units:
        header.append("space units: " + " ".join(f'"{units}"' for _ in range(3)))
    for i, lab in enumerate(labels or []):
        r, g, b = (c / 255 for c in lab["color"][:3])
        header += [
            f"Segment{i}_Color:={r:.6g} {g:.6g} {b:.6g}",
            f"Segment{i}_ID:={lab['name']}",
            f"Segment{i}_LabelValue:={lab['value']}",
            f"Segment{i}_Layer:=0",
            f"Segment{i}_Name:={lab['name']}",
            f"Segment{i}_NameAutoGenerated:=0",
        ]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.vw-tmp-{uuid.uuid4().hex[:8]}")
    little = dtype.newbyteorder("<")
    depth = max(1, int(arr.chunksize[0]))
    try:
        with open(tmp, "wb") as fh:
            fh.write(("\n".join(header) + "\n\n").encode("ascii"))
            with gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=4) as gz:
                bounds = list(range(0, nz, depth))
                for i, z0 in enumerate(bounds):
                    piece = arr[z0 : z0 + depth]
                    block = np.empty(piece.shape, dtype)
                    store_chunks(piece, block, scheduler=scheduler)
                    gz.write(np.ascontiguousarray(block, dtype=little).tobytes())
                    if progress is not None:
                        progress(i + 1, len(bounds))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _write_ome_zarr(
    ws: Workspace,
    layer: str,
    target: Path,
    labels: list[dict[str, Any]],
    with_image: bool,
    *,
    scheduler: Scheduler,
    progress: ProgressCallback | None,
) -> Path:
    import zarr
    from zarr.storage import LocalStore

    from voxelwise.io._ngff import NGFF_VERSION, label_metadata, write_multiscale

    tmp = target.with_name(f".{target.name}.vw-tmp-{uuid.uuid4().hex[:8]}")
    try:
        root = zarr.open_group(store=LocalStore(tmp), mode="w", zarr_format=3)
        if with_image:
            write_multiscale(
                root,
                ws.get("raw"),
                spacing=ws.spacing,
                unit=ws.unit,
                chunks=ws.chunks,
                name=ws.name,
                levels=1,
                scheduler=scheduler,
            )
        else:
            root.attrs["ome"] = {"version": NGFF_VERSION}
        group = root.create_group("labels")
        group.attrs["ome"] = {"version": NGFF_VERSION, "labels": [layer]}
        attrs = label_metadata(
            {lab["value"]: lab["color"] for lab in labels},
            {lab["value"]: lab["name"] for lab in labels},
        )
        write_multiscale(
            group.create_group(layer),
            ws.get(layer),
            spacing=ws.spacing,
            unit=ws.unit,
            chunks=ws.chunks,
            name=layer,
            is_label=True,
            levels=1,
            extra_attrs={"image-label": attrs},
            scheduler=scheduler,
            progress=progress,
        )
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _write_csv(
    ws: Workspace,
    layer: str,
    target: Path,
    labels: list[dict[str, Any]],
    surface: bool,
    *,
    scheduler: Scheduler,
    progress: ProgressCallback | None,
) -> Path:
    from voxelwise.analysis import measure

    table = measure(
        ws.open_array(layer, mode="r"),
        spacing=ws.spacing,
        surface=surface,
        scheduler=scheduler,
        progress=progress,
    )
    names = {lab["value"]: lab["name"] for lab in labels}
    columns = table.to_dict()
    header = ["id", "label_name", *(n for n in columns if n != "id")]
    columns["label_name"] = [names.get(int(v), "") for v in columns.get("id", [])]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.vw-tmp-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(zip(*(columns[n] for n in header)))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
