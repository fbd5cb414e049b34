"""Compute a feature bank on a workspace layer and store every output as a feature layer."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask.array as da

from voxelwise._compute import compute
from voxelwise.errors import LayerExistsError
from voxelwise.filters._bank import FeatureSpec, feature_arrays, parse_specs, resolved_features
from voxelwise.filters._errors import FilterInputError
from voxelwise.filters._presets import list_presets, load_preset

__all__ = ["compute_features", "features_from"]

_PRESET_SUFFIXES = (".yaml", ".yml")


def features_from(specs: Any) -> list[FeatureSpec]:
    """Features from a preset name or YAML path, a ``"filter:key=value"`` string, a
    :class:`FeatureSpec`, or a list mixing the last two."""
    if isinstance(specs, str | os.PathLike):
        text = os.fspath(specs)
        if text in list_presets() or text.endswith(_PRESET_SUFFIXES) or Path(text).is_file():
            return load_preset(text)
    return parse_specs(specs)


class _Stages:
    """Maps the progress of consecutive stages onto one ``progress(done, total)`` scale."""

    UNIT = 1000

    def __init__(self, progress: Callable[[int, int], None] | None, n: int) -> None:
        self.progress = progress
        self.n = n
        self.index = 0

    def stage(self) -> Callable[[int, int], None] | None:
        if self.progress is None:
            return None
        base = self.index * self.UNIT
        self.index += 1
        total = self.n * self.UNIT
        outer = self.progress

        def report(done: int, count: int) -> None:
            outer(base + (self.UNIT * done) // max(count, 1), total)

        return report


def _check_inputs(ws: Any, features: list[FeatureSpec], source: str, overwrite: bool) -> None:
    info = ws.layer(source)
    kind = "labels" if info.is_label else "image"
    for feature in features:
        spec = feature.spec
        if kind not in spec.accepts:
            raise FilterInputError(
                f"The filter {spec.name!r} works on intensity images, but {source!r} is a "
                f"{info.kind!r} layer of label values, where it makes no sense. Apply it to an "
                "image layer, or use threshold, dilation, erosion, opening, closing or "
                "distance_transform on this mask"
            )
    names = [n for f in features for n in f.output_names()]
    if source in names:
        raise LayerExistsError(
            f"A feature would overwrite its own source layer {source!r}; give it another name="
        )
    clash = [n for n in names if n in ws]
    if clash and not overwrite:
        raise LayerExistsError(
            f"Layer(s) {', '.join(map(repr, clash))} exist already in the workspace; pass "
            "overwrite=True to replace them, or name the features differently"
        )


def compute_features(
    ws: Any,
    specs: Any = "default",
    *,
    source: str = "raw",
    overwrite: bool = False,
    scheduler: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Compute features of a workspace layer and write each output as a ``feature`` layer.

    All features are computed in one pass over the chunks (features of the Gaussian family at
    one scale share their smoothing), into a temporary store inside the workspace folder, then
    registered one by one with :meth:`Workspace.add_layer` (kind ``"feature"``, ``sources``
    ``[source]``, the filter's resolved parameters recorded). Multi-output filters write one
    layer per output (``hessian_eig1_s1.0``, ...). The workspace's voxel size is passed to
    every filter, so sigmas are in voxels of the finest axis. The temporary store (removed at
    the end) needs about ``4 bytes x voxels x outputs`` of disk space next to the workspace's
    data; a single output is written directly.

    Parameters
    ----------
    ws : Workspace
    specs : str, FeatureSpec or list
        A preset name (``"default"``, ``"small"``) or YAML path, ``"filter:key=value,..."``
        strings, :class:`FeatureSpec` objects, or a list of them.
    source : str
        The input layer (``"raw"`` is the image).
    overwrite : bool
        Replace existing layers of the same names.
    scheduler, progress
        See :mod:`voxelwise._compute`; ``progress(done, total)`` may raise ``CancelledError``,
        which leaves the layers written so far and nothing half-written.

    Returns
    -------
    list of str
        Names of the layers written, in order.

    Raises
    ------
    FilterInputError
        An intensity filter was asked for on a label-like layer.
    LayerExistsError
        An output layer exists and ``overwrite`` is False (checked before anything is computed).
    PresetNotFoundError, PresetError, UnknownFilterError, FilterParameterError
        Bad feature list.

    Examples
    --------
    >>> from voxelwise.workspace import Workspace  # doctest: +SKIP
    >>> ws = Workspace.open("cells.vw")  # doctest: +SKIP
    >>> compute_features(ws, "small")  # doctest: +SKIP
    ['gaussian_s1.0', 'gradmag_s1.0', 'log_s1.6', 'hessian_eig1_s1.6', ...]
    """
    features = features_from(specs)
    _check_inputs(ws, features, source, overwrite)
    image = ws.get(source)
    params = resolved_features(image, features, spacing=ws.spacing, scheduler=scheduler)
    arrays = feature_arrays(image, features, params=params)
    records: dict[str, dict[str, Any]] = {}
    for feature, p in zip(features, params):
        outputs = feature.spec.outputs or (None,)
        for name, output in zip(feature.output_names(), outputs):
            record = {"filter": feature.filter, **p}
            if output is not None:
                record["output"] = output
            records[name] = record

    stages = _Stages(progress, len(arrays) + (1 if len(arrays) > 1 else 0))
    common = {"kind": "feature", "sources": [source], "overwrite": overwrite}
    if len(arrays) == 1:
        ((name, arr),) = arrays.items()
        ws.add_layer(
            name, arr, params=records[name], scheduler=scheduler, progress=stages.stage(), **common
        )
        return [name]

    import zarr

    tmp = Path(tempfile.mkdtemp(prefix=".features-", dir=ws.path))
    try:
        group = zarr.open_group(str(tmp / "features.zarr"), mode="w")
        sources, targets = [], []
        for name, arr in arrays.items():
            target = group.create_array(
                name, shape=arr.shape, chunks=ws.chunks, dtype=arr.dtype, compressors=None
            )
            sources.append(arr.rechunk(ws.chunks))
            targets.append(target)
        stored = da.store(sources, targets, lock=False, compute=False)  # type: ignore[arg-type]
        compute(stored, scheduler=scheduler, progress=stages.stage())
        for name, target in zip(arrays, targets):
            ws.add_layer(
                name,
                da.from_zarr(target),
                params=records[name],
                scheduler=scheduler,
                progress=stages.stage(),
                **common,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return list(arrays)
