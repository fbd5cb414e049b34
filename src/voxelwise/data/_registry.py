"""The registry of named public datasets, read from ``datasets.yaml`` next to this module.

The YAML file is data, not code: each dataset's facts (shape, voxel size, licence, citation, the
label kinds its loader offers) and every file with its public download URL and sha256 checksum.
``python -m voxelwise.data._make_registry ROOT`` refreshes the file lists from a local copy.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from voxelwise.data._errors import UnknownDatasetError

__all__ = [
    "DatasetFile",
    "DatasetInfo",
    "LabelKind",
    "dataset_info",
    "datasets",
    "read_registry",
]

REGISTRY_FILE = "datasets.yaml"


@dataclass(frozen=True)
class DatasetFile:
    """One file of a dataset.

    Attributes
    ----------
    path : str
        Path inside the dataset folder, with ``/`` separators (``"stack1/raw/00.tif"``).
    url : str
        Public download address (a raw GitHub URL at a fixed commit).
    sha256 : str
        Hex sha256 checksum of the original file.
    size : int
        Size in bytes.
    """

    path: str
    url: str
    sha256: str
    size: int


@dataclass(frozen=True)
class LabelKind:
    """A kind of ground truth a loader can return (``labels=name``).

    ``class_names`` maps label values to names for semantic labels; it is ``None`` for instance
    labels (ids without meaning).
    """

    name: str
    description: str
    dtype: str
    class_names: dict[int, str] | None


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about a registered dataset.

    Attributes
    ----------
    name : str
        Short name (``"vnc"``, ``"flyem"``, ``"isbi2012"``).
    aliases : tuple of str
        Other accepted names (the folder name).
    folder : str
        Folder the dataset lives in under a data root (``<root>/<folder>/...``).
    title, description, modality : str
        What the data is.
    shape : (3,) tuple of int
        Image shape (z, y, x).
    dtype : str
        Image dtype.
    spacing : (3,) tuple of float
        Voxel size (z, y, x) in ``unit``.
    unit : str
        Unit of ``spacing`` (``"nanometer"``).
    spacing_note : str
        How the voxel size is known (e.g. a range of section thicknesses).
    labels : tuple of LabelKind
        Ground-truth kinds the loader offers; the first is the loader's default.
    licence, licence_url, citation, doi : str
        Terms of use and how to cite.
    repository, commit : str
        Upstream GitHub repository and the commit the files come from.
    files : tuple of DatasetFile
        Every file, with its download URL and sha256.
    """

    name: str
    aliases: tuple[str, ...]
    folder: str
    title: str
    description: str
    modality: str
    shape: tuple[int, int, int]
    dtype: str
    spacing: tuple[float, float, float]
    unit: str
    spacing_note: str
    labels: tuple[LabelKind, ...]
    licence: str
    licence_url: str
    citation: str
    doi: str
    repository: str
    commit: str
    files: tuple[DatasetFile, ...] = field(repr=False)

    @property
    def size(self) -> int:
        """Total size of the files in bytes."""
        return sum(f.size for f in self.files)

    @property
    def label_kinds(self) -> tuple[str, ...]:
        """Names accepted by the loader's ``labels=`` argument (besides ``None``)."""
        return tuple(k.name for k in self.labels)

    def label_kind(self, name: str) -> LabelKind:
        """The :class:`LabelKind` called ``name``."""
        for kind in self.labels:
            if kind.name == name:
                return kind
        raise ValueError(
            f"Expected labels as one of {', '.join(map(repr, self.label_kinds))} or None for the "
            f"{self.name!r} dataset, got {name!r} instead"
        )

    def file(self, path: str) -> DatasetFile:
        """The :class:`DatasetFile` at ``path`` (relative to the dataset folder)."""
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(f"{path!r} is not a file of the {self.name!r} dataset")


def read_registry() -> dict[str, Any]:
    """Parse ``datasets.yaml`` (the raw mapping, for the maintainer tool and :func:`datasets`)."""
    import yaml

    text = resources.files("voxelwise.data").joinpath(REGISTRY_FILE).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # a safe loader


def _info(entry: dict[str, Any]) -> DatasetInfo:
    source = entry["source"]
    labels = tuple(
        LabelKind(
            name=str(name),
            description=str(kind["description"]),
            dtype=str(kind["dtype"]),
            class_names=(
                None
                if kind.get("class_names") is None
                else {int(k): str(v) for k, v in kind["class_names"].items()}
            ),
        )
        for name, kind in entry["labels"].items()
    )
    files = tuple(
        DatasetFile(
            path=str(f["path"]), url=str(f["url"]), sha256=str(f["sha256"]), size=int(f["size"])
        )
        for f in entry["files"]
    )
    shape = tuple(int(s) for s in entry["shape"])
    spacing = tuple(float(s) for s in entry["spacing"])
    return DatasetInfo(
        name=str(entry["name"]),
        aliases=tuple(str(a) for a in entry.get("aliases", ())),
        folder=str(entry["folder"]),
        title=str(entry["title"]),
        description=str(entry["description"]),
        modality=str(entry["modality"]),
        shape=shape,  # type: ignore[arg-type]
        dtype=str(entry["dtype"]),
        spacing=spacing,  # type: ignore[arg-type]
        unit=str(entry["unit"]),
        spacing_note=str(entry.get("spacing_note", "")),
        labels=labels,
        licence=str(entry["licence"]),
        licence_url=str(entry["licence_url"]),
        citation=str(entry["citation"]),
        doi=str(entry.get("doi", "")),
        repository=str(source["repository"]),
        commit=str(source["commit"]),
        files=files,
    )


@functools.cache
def _all() -> tuple[DatasetInfo, ...]:
    return tuple(_info(entry) for entry in read_registry()["datasets"])


def datasets() -> list[DatasetInfo]:
    """All registered datasets.

    Returns
    -------
    list of DatasetInfo
        One entry per dataset, in registry order (``vnc``, ``flyem``, ``isbi2012``).

    Examples
    --------
    >>> from voxelwise.data import datasets
    >>> [d.name for d in datasets()]
    ['vnc', 'flyem', 'isbi2012']
    """
    return list(_all())


def dataset_info(name: str | DatasetInfo) -> DatasetInfo:
    """Facts, files and checksums of the dataset called ``name``.

    Parameters
    ----------
    name : str
        Short name (``"vnc"``, ``"flyem"``, ``"isbi2012"``) or an alias (the folder name, e.g.
        ``"drosophila_vnc_sstem"``); case-insensitive.

    Returns
    -------
    DatasetInfo

    Raises
    ------
    UnknownDatasetError
        If no dataset has that name (also a ``ValueError``).

    Examples
    --------
    >>> from voxelwise.data import dataset_info
    >>> info = dataset_info("flyem")
    >>> info.shape, info.spacing, info.unit
    ((250, 250, 250), (10.0, 10.0, 10.0), 'nanometer')
    """
    if isinstance(name, DatasetInfo):
        return name
    if not isinstance(name, str):
        raise TypeError(f"Expected a dataset name as a string, got {name!r} instead")
    key = name.strip().lower()
    for info in _all():
        if key == info.name or key in info.aliases:
            return info
    known = ", ".join(repr(i.name) for i in _all())
    raise UnknownDatasetError(
        f"No dataset called {name!r}; the registry knows {known} "
        "(see voxelwise.data.datasets() for details)"
    )
