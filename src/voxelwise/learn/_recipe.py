"""Feature recipes: how each feature a model uses was computed, and computing them again.

A recipe entry is ``{"name", "source", "filter", "params", "output"}``: the feature layer's
name, the layer it was computed from, the registered filter, its resolved parameters (spacing
included) and, for multi-output filters, which output. Entries with ``filter`` None are layers
read as they are (the raw image, or a layer the user added).

The recipe comes from the catalog records :func:`voxelwise.filters.compute_features` leaves.
Applying a model, each feature is read from a layer of that name when its recorded recipe
matches, or computed lazily from its source with the recorded parameters, chunk by chunk with
the filter's halo, so a model applies to a new volume without precomputed feature layers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import dask.array as da
import numpy as np

from voxelwise.errors import LayerNotFoundError
from voxelwise.learn._channels import for_source, parse_sources
from voxelwise.learn._errors import FeatureMismatchError
from voxelwise.learn._multiscale import coarse_entry, downsampled, upsample

__all__ = [
    "FEATURE_SOURCES",
    "recipe_arrays",
    "recipe_key",
    "recipe_of",
    "resolve_features",
]

#: How :func:`recipe_arrays` gets features: stored layers when they match, else computed.
FEATURE_SOURCES = ("auto", "layers", "compute")

_NOT_FEATURES = frozenset({"annotation", "prediction", "supervoxels", "instances", "labels"})


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _entry(ws: Any, name: str) -> dict[str, Any]:
    try:
        info = ws.layer(name)
    except LayerNotFoundError as e:
        raise FeatureMismatchError(
            f"No feature layer named {name!r} in the workspace {ws.path}; compute it first "
            "(voxelwise.filters.compute_features) or choose among: "
            f"{', '.join(n for n, i in ws.layers.items() if not i.is_label)}"
        ) from e
    if info.kind in _NOT_FEATURES:
        raise FeatureMismatchError(
            f"Layer {name!r} is a {info.kind!r} layer of label values, not a feature; give "
            "feature layers (e.g. from voxelwise.filters.compute_features) or the raw image"
        )
    params = dict(info.params or {})
    if info.kind == "feature" and "filter" in params and len(info.sources) == 1:
        return {
            "name": name,
            "source": info.sources[0],
            "filter": str(params.pop("filter")),
            "output": params.pop("output", None),
            "params": params,
        }
    return {"name": name, "source": None, "filter": None, "output": None, "params": {}}


def recipe_of(ws: Any, names: Sequence[str]) -> list[dict[str, Any]]:
    """The recipe of feature layers ``names`` of a workspace, from the catalog."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise FeatureMismatchError("No features given; pass at least one feature layer name")
    dupes = sorted({n for n in names if list(names).count(n) > 1})
    if dupes:
        raise FeatureMismatchError(f"Feature(s) {', '.join(dupes)} given twice; list each once")
    return [_entry(ws, n) for n in names]


def resolve_features(
    ws: Any,
    features: Any,
    *,
    store: bool = True,
    multiscale: bool = False,
    source: str | Sequence[str] = "raw",
    scheduler: Any = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Feature names and recipe from names of existing layers, preset names or filter specs
    (``"gaussian:sigma=2"``, :class:`~voxelwise.filters.FeatureSpec`).

    With ``store=True`` the layers of presets and specs are computed now (unless they exist
    already) and stored in the workspace; with ``store=False`` they stay a recipe, computed
    chunk by chunk from ``source`` whenever they are read. With ``multiscale`` (and
    ``store=False``) features with ``sigma >= 4`` are computed on the source's first pyramid
    level and interpolated back (see :mod:`voxelwise.learn._multiscale`).

    ``source`` may name several image layers (channels, e.g. ``["raw", "fluo"]``): presets and
    specs are then computed from each, the layers of an image other than ``raw`` named with
    its name as prefix (``fluo.gaussian_s1.0``); layer names in ``features`` are used as given.
    """
    sources = parse_sources(ws, source)
    items = [features] if isinstance(features, str) else list(features)
    if not items:
        raise FeatureMismatchError("No features given; pass layer names, a preset or specs")
    recipe: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, str) and item in ws:
            recipe.append(_entry(ws, item))
            continue
        try:
            base_specs = _specs_from(item)
        except (KeyError, ValueError, TypeError, FileNotFoundError) as e:
            raise FeatureMismatchError(
                f"{item!r} is neither a layer of the workspace, nor a feature preset, nor a "
                f"filter spec like 'gaussian:sigma=2' ({e})"
            ) from e
        for source in sources:
            specs = [for_source(f, source) for f in base_specs]
            recipe += _source_recipe(ws, specs, source, store, multiscale, scheduler)
    names = [e["name"] for e in recipe]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FeatureMismatchError(f"Feature(s) {', '.join(dupes)} given twice; list each once")
    return names, recipe


def _source_recipe(
    ws: Any, specs: list[Any], source: str, store: bool, multiscale: bool, scheduler: Any
) -> list[dict[str, Any]]:
    """Recipe entries of ``specs`` computed from ``source`` (stored now, or left to compute)."""
    from voxelwise.filters import compute_features

    recipe: list[dict[str, Any]] = []
    if store:
        missing = [f for f in specs if not all(n in ws for n in f.output_names())]
        if missing:
            compute_features(ws, missing, source=source, scheduler=scheduler)
        return [_entry(ws, n) for f in specs for n in f.output_names()]
    image = ws.get(source)
    coarse = _coarse_level(ws, source) if multiscale else None
    for f in specs:
        p = _resolved(f, image, ws.spacing, scheduler)
        outputs = f.spec.outputs or (None,)
        for name, output in zip(f.output_names(), outputs):
            plain = json.loads(json.dumps(p, default=list))
            entry = {
                "name": name,
                "source": source,
                "filter": f.filter,
                "output": output,
                "params": plain,
            }
            if coarse is not None:
                entry = coarse_entry(entry, ws.shape, *coarse) or entry
            recipe.append(entry)
    return recipe


def _coarse_level(ws: Any, source: str) -> tuple[Any, Any, Any] | None:
    """(level-1 shape, level-0 spacing, level-1 spacing) of a layer, or None without level 1."""
    if ws.layer(source).levels < 2:
        return None
    shape = ws.get(source, level=1).shape
    return shape, ws.level_spacing(source, 0), ws.level_spacing(source, 1)


def _specs_from(item: Any) -> list[Any]:
    """Features from a preset name or YAML path, a ``"filter:key=value"`` string, a
    FeatureSpec or a ``{"filter", "params", "name"}`` dict."""
    from voxelwise.filters import FeatureSpec, list_presets, load_preset, parse_filter_arg

    if isinstance(item, FeatureSpec):
        return [item]
    if isinstance(item, Mapping):
        return [FeatureSpec(str(item["filter"]), dict(item.get("params") or {}), item.get("name"))]
    if isinstance(item, str | os.PathLike):
        text = os.fspath(item)
        if text in list_presets() or text.endswith((".yaml", ".yml")):
            return load_preset(text)
        return [parse_filter_arg(text)]
    raise TypeError(
        f"Expected a feature as a layer name, preset, 'filter:key=value' string or FeatureSpec, "
        f"got {item!r} instead"
    )


def _resolved(feature: Any, image: da.Array, spacing: Any, scheduler: Any) -> dict[str, Any]:
    """A feature's parameters, normalised, with the workspace's voxel size filled in and the
    parameters that depend on the whole volume resolved (as compute_features records them)."""
    spec = feature.spec
    params = dict(feature.params)
    if "spacing" in spec.parameters() and params.get("spacing") is None:
        params["spacing"] = spacing
    p = spec.normalize(params)
    if spec.resolve is not None:
        p = spec.resolve(image, p, scheduler)
    return dict(p)


def recipe_key(ws: Any, recipe: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """What identifies the values of a recipe's features in ``ws``: stored layers by their
    storage directory, computed ones by their recipe and their source's directory."""
    out = []
    for entry in recipe:
        if _matches(ws, entry):
            out.append(ws.layer(entry["name"]).directory)
        else:
            src = entry.get("source")
            where = ws.layer(src).directory if src is not None and src in ws else None
            out.append(_canonical([entry, where]))
    return tuple(out)


def _matches(ws: Any, entry: dict[str, Any]) -> bool:
    """Whether the workspace holds a layer that equals the recipe entry."""
    if entry["name"] not in ws:
        return False
    stored = _entry(ws, entry["name"])
    if entry.get("filter") is None:
        return True
    return stored.get("filter") == entry["filter"] and _canonical(
        [stored["source"], stored["output"], stored["params"]]
    ) == _canonical([entry["source"], entry.get("output"), entry.get("params", {})])


def _computed(
    sources: dict[tuple[str, int], da.Array], entries: list[dict[str, Any]]
) -> dict[str, da.Array]:
    """Lazily compute filter entries from their sources (per pyramid level), sharing work
    between them; coarse-level results are interpolated back to the full resolution."""
    from voxelwise.filters import FeatureSpec, feature_arrays

    out: dict[str, da.Array] = {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        key = _canonical(
            [entry["source"], entry.get("level", 0), entry["filter"], entry.get("params", {})]
        )
        groups.setdefault(key, []).append(entry)
    by_source: dict[tuple[str, int], list[list[dict[str, Any]]]] = {}
    for members in groups.values():
        where = (members[0]["source"], int(members[0].get("level", 0)))
        by_source.setdefault(where, []).append(members)
    for where, items in by_source.items():
        specs, params = [], []
        for i, members in enumerate(items):
            spec = FeatureSpec(members[0]["filter"], dict(members[0].get("params", {})), f"f{i}")
            specs.append(spec)
            params.append(spec.spec.normalize(dict(members[0].get("params", {}))))
        arrays = feature_arrays(sources[where], specs, params=params)
        base = sources[(where[0], 0)]
        for i, members in enumerate(items):
            for entry in members:
                output = entry.get("output")
                arr = arrays[f"f{i}" if output is None else f"f{i}_{output}"]
                if where[1] > 0:
                    arr = upsample(arr, entry["factors"], base.shape, base.chunks)
                out[entry["name"]] = arr
    return out


def recipe_arrays(
    recipe: Sequence[dict[str, Any]],
    *,
    ws: Any = None,
    image: Any = None,
    features: str = "auto",
) -> list[da.Array]:
    """Lazy float32 (Z, Y, X) arrays of a recipe's features, in order.

    Parameters
    ----------
    recipe : list of dict
        From :func:`recipe_of` (stored in a model).
    ws : Workspace, optional
        Read matching layers from it and compute the others from its layers.
    image : (Z, Y, X) array, optional
        Instead of a workspace: the image that plays the part of the source ``"raw"``; every
        feature is computed from it.
    features : {"auto", "layers", "compute"}
        ``"auto"``: stored layers whose recipe matches, the rest computed; ``"layers"``: only
        stored layers; ``"compute"``: compute every filter feature afresh.

    Raises
    ------
    FeatureMismatchError
        A feature can be neither read nor computed, or a layer of its name holds a different
        feature (other filter or parameters).
    """
    if features not in FEATURE_SOURCES:
        raise ValueError(f"Expected features as one of {FEATURE_SOURCES}, got {features!r}")
    if (ws is None) == (image is None):
        raise TypeError("Give either ws= (a Workspace) or image= (an array), not both or none")
    arrays: dict[str, da.Array] = {}
    to_compute: list[dict[str, Any]] = []
    for entry in recipe:
        name, filt = entry["name"], entry.get("filter")
        if ws is not None and features != "compute" and _matches(ws, entry):
            arrays[name] = ws.get(name)
            continue
        if ws is not None and features != "compute" and name in ws and filt is not None:
            raise FeatureMismatchError(
                f"The workspace's layer {name!r} holds another feature than the model was "
                f"trained on (model: {entry['filter']} from {entry['source']!r} with "
                f"{entry.get('params')}, layer: {_entry(ws, name)}). Delete or rename the layer, "
                "or pass features='compute' to compute the model's features afresh"
            )
        if filt is None:
            if image is not None and name == "raw":
                arrays[name] = as_volume(image)
                continue
            where = f"the workspace {ws.path}" if ws is not None else "an image array"
            raise FeatureMismatchError(
                f"The model reads the layer {name!r} as a feature, which {where} lacks; it can "
                "only be applied where that layer exists"
            )
        if features == "layers":
            raise FeatureMismatchError(
                f"The model's feature {name!r} is not a layer of the workspace; compute it "
                "(voxelwise.filters.compute_features) or pass features='auto'"
            )
        to_compute.append(entry)
    if to_compute:
        sources: dict[tuple[str, int], da.Array] = {}
        for entry in to_compute:
            src, level = entry["source"], int(entry.get("level", 0))
            for lev in sorted({0, level}):
                if (src, lev) not in sources:
                    sources[(src, lev)] = _source(entry, lev, ws, image, sources)
        arrays.update(_computed(sources, to_compute))
    return [arrays[e["name"]].astype(np.float32) for e in recipe]


def _source(
    entry: dict[str, Any],
    level: int,
    ws: Any,
    image: Any,
    known: dict[tuple[str, int], da.Array],
) -> da.Array:
    """The source of a computed feature at a pyramid level (0 or 1)."""
    src = entry["source"]
    if ws is not None:
        if src not in ws:
            raise FeatureMismatchError(
                f"The model computes {entry['name']!r} from the layer {src!r}, which the "
                f"workspace {ws.path} lacks"
            )
        if level == 0:
            return ws.get(src)
        coarse = ws.get(src, level=1) if ws.layer(src).levels > 1 else None
        factors = entry["factors"]
        if coarse is None or tuple(coarse.shape) != tuple(
            -(-n // f) for n, f in zip(ws.shape, factors)
        ):
            return downsampled(known[(src, 0)], factors)
        return coarse
    if src != "raw":
        raise FeatureMismatchError(
            f"The model computes {entry['name']!r} from the layer {src!r}, not from the raw "
            "image; apply it to a workspace that holds that layer"
        )
    full = as_volume(image)
    return full if level == 0 else downsampled(full, entry["factors"])


def as_volume(image: Any) -> da.Array:
    """A (Z, Y, X) dask array over a NumPy, dask or zarr volume (stored chunks kept)."""
    from voxelwise._validate import parse_chunks

    if isinstance(image, da.Array):
        arr = image
    elif hasattr(image, "shape") and hasattr(image, "dtype"):
        stored = getattr(image, "chunks", None)
        ok = (
            isinstance(stored, tuple)
            and len(stored) == 3
            and all(isinstance(c, int) for c in stored)
        )
        chunks = (
            stored if ok else parse_chunks(None, image.shape) if len(image.shape) == 3 else "auto"
        )
        arr = da.from_array(image, chunks=chunks, asarray=True)
    else:
        raise TypeError(f"Expected the image as an array, got {type(image).__name__} instead")
    if arr.ndim != 3 or np.dtype(arr.dtype).kind not in "biuf":
        raise FeatureMismatchError(
            f"Expected a real-valued (Z, Y, X) volume, got shape {arr.shape} and dtype "
            f"{arr.dtype} instead"
        )
    return arr
