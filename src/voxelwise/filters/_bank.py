"""Feature banks: many features of one volume computed together, sharing work per chunk.

A :class:`FeatureSpec` names one feature (a filter and its parameters, and the name of its
output layer). :func:`feature_arrays` turns a list of them into lazy arrays. Features of the
Gaussian family at the same scale (smoothing, gradient magnitude, Laplacian, DoG, Hessian and
structure-tensor eigenvalues, local normalisation) are evaluated together on each chunk from
one :class:`~voxelwise.filters._derivs.GaussianStack`, with one halo (the largest of the
group), so the smoothing and derivative passes they share are done once. Other filters run on
their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dask.array as da
import numpy as np

from voxelwise.blockwise import map_chunks
from voxelwise.filters import _gaussian, _texture
from voxelwise.filters._derivs import GaussianStack
from voxelwise.filters._errors import FilterParameterError, PresetError
from voxelwise.filters._gaussian import Member, evaluate
from voxelwise.filters._lazy import as_volume, check_block, lazy_filter, resolve_params
from voxelwise.filters._registry import get_filter
from voxelwise.filters._spec import FilterSpec

__all__ = ["FeatureSpec", "feature_arrays", "format_value", "parse_specs", "resolved_features"]

Halo = tuple[int, int, int]

#: Bank functions of the Gaussian family (filter name to ``(bank, slab_safe)``).
BANKS: dict[str, tuple[Callable[..., list[np.ndarray]], bool]] = {
    **_gaussian.BANKS,
    **_texture.BANKS,
}


def format_value(value: Any) -> str:
    """A parameter value as it appears in a default layer name (``1.0``, ``0.7``, ``1.0-2.0``)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | np.number):
        return repr(float(value))
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "-".join(format_value(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class FeatureSpec:
    """One feature of a bank: a filter, its parameters and the name of its output layer.

    Parameters
    ----------
    filter : str
        Registered filter name (:func:`~voxelwise.filters.list_filters`).
    params : mapping
        The filter's parameters; ``spacing`` is normally left out (it comes from the workspace).
    name : str, optional
        Name of the output layer, or for a multi-output filter the prefix of its layers
        (``{name}_{output}``). Default: the filter's short name and its main parameter, e.g.
        ``gaussian_s1.6``, ``hessian_eig1_s1.0``.

    Examples
    --------
    >>> FeatureSpec("hessian_eigenvalues", {"sigma": 1.0}).output_names()
    ['hessian_eig1_s1.0', 'hessian_eig2_s1.0', 'hessian_eig3_s1.0']
    >>> FeatureSpec("gaussian", {"sigma": 2}, name="smooth").output_names()
    ['smooth']
    """

    filter: str
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.filter, str):
            raise TypeError(f"Expected the filter name as a string, got {self.filter!r} instead")
        if not isinstance(self.params, Mapping):
            raise TypeError(f"Expected params as a mapping, got {self.params!r} instead")
        if self.name is not None and not isinstance(self.name, str):
            raise TypeError(f"Expected name as a string or None, got {self.name!r} instead")
        object.__setattr__(self, "params", dict(self.params))

    @property
    def spec(self) -> FilterSpec:
        return get_filter(self.filter)

    def output_names(self) -> list[str]:
        """The layer names this feature writes (one per output of the filter)."""
        spec = self.spec
        if self.name is not None:
            base = self.name
            return [base] if not spec.outputs else [f"{base}_{o}" for o in spec.outputs]
        short = spec.short or spec.name
        essential = next(iter(spec.parameters()), None)
        suffix = ""
        if essential is not None:
            value = self.params.get(essential, spec.parameters()[essential])
            if value is not None:
                suffix = f"_{essential[0]}{format_value(value)}"
        if not spec.outputs:
            return [short + suffix]
        return [f"{short}_{o}{suffix}" for o in spec.outputs]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"filter": self.filter, "params": dict(self.params)}
        if self.name is not None:
            out["name"] = self.name
        return out


def parse_specs(specs: Any) -> list[FeatureSpec]:
    """Normalise features given as FeatureSpecs, ``"filter:key=value,..."`` strings or dicts."""
    from voxelwise.filters._presets import parse_filter_arg, spec_from_dict

    if isinstance(specs, FeatureSpec | str | Mapping):
        specs = [specs]
    if not isinstance(specs, Iterable):
        raise TypeError(f"Expected a list of features, got {specs!r} instead")
    out = []
    for item in specs:
        if isinstance(item, FeatureSpec):
            out.append(item)
        elif isinstance(item, str):
            out.append(parse_filter_arg(item))
        elif isinstance(item, Mapping):
            out.append(spec_from_dict(item))
        else:
            raise TypeError(
                f"Expected each feature as a FeatureSpec, 'filter:key=value' string or dict, "
                f"got {item!r} instead"
            )
    if not out:
        raise PresetError("No features given; pass at least one (e.g. a preset name 'default')")
    names = [n for s in out for n in s.output_names()]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PresetError(
            f"Two features would write the same layer {', '.join(map(repr, dupes))}; give one "
            "of them another name= or different parameters"
        )
    return out


def _with_spacing(spec: FilterSpec, params: Mapping[str, Any], spacing: Any) -> dict[str, Any]:
    out = dict(params)
    if spacing is not None and "spacing" in spec.parameters() and out.get("spacing") is None:
        out["spacing"] = spacing
    return out


def resolved_features(
    image: da.Array, specs: Sequence[FeatureSpec], *, spacing: Any = None, scheduler: Any = None
) -> list[dict[str, Any]]:
    """Every feature's parameters, normalised, with ``spacing`` filled in and whole-volume
    parameters resolved (one pass each where needed)."""
    out = []
    for feature in specs:
        spec = feature.spec
        try:
            params = _with_spacing(spec, feature.params, spacing)
            out.append(resolve_params(spec, image, params, scheduler=scheduler))
        except FilterParameterError as e:
            raise FilterParameterError(f"Feature {feature.output_names()[0]!r}: {e}") from e
    return out


def _bank_block(
    block: np.ndarray,
    *,
    margin: Halo,
    members: tuple[Member, ...],
    spacing: Any,
    truncate: float,
) -> np.ndarray:
    """Chunk function of a group: (C, Z, Y, X) of the whole block, its interior filled in
    (map_chunks trims the halo, whose values are never read)."""
    stack = GaussianStack(block, margin, spacing=spacing, truncate=truncate)
    n_out = sum(member[2] for member in members)
    out = np.empty((n_out, *block.shape), dtype=np.float32)
    interior = out[(slice(None), *(slice(m, s - m) for m, s in zip(margin, block.shape)))]
    evaluate(stack, members, interior)
    return out


def feature_arrays(
    image: Any,
    specs: Any,
    *,
    spacing: Any = None,
    scheduler: Any = None,
    params: Sequence[dict[str, Any]] | None = None,
) -> dict[str, da.Array]:
    """Lazy arrays of every output of a list of features, sharing work between them.

    Parameters
    ----------
    image : (Z, Y, X) dask, zarr or NumPy array
    specs : FeatureSpec, str or list of them
        Features (see :class:`FeatureSpec`; strings as ``"gaussian:sigma=2"``).
    spacing : (z, y, x) floats, optional
        Voxel size, passed to every filter that takes one (unless its params set it).
    scheduler : optional
        Where to run the global passes some parameters need (see :func:`apply_filter`).
    params : list of dict, optional
        Already resolved parameters (from :func:`resolved_features`), one per spec.

    Returns
    -------
    dict of str to (Z, Y, X) dask array
        Output layer name to lazy array, in the order of ``specs``. Compute them together
        (``dask.compute`` or one ``store``) so the shared work is done once per chunk.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((16, 32, 32)).astype(np.float32)
    >>> out = feature_arrays(image, ["gaussian:sigma=1.0", "hessian_eigenvalues:sigma=1.0"])
    >>> list(out)
    ['gaussian_s1.0', 'hessian_eig1_s1.0', 'hessian_eig2_s1.0', 'hessian_eig3_s1.0']
    """
    arr = as_volume(image)
    features = parse_specs(specs)
    if params is None:
        params = resolved_features(arr, features, spacing=spacing, scheduler=scheduler)
    # Gaussian-family features at one (sigma, spacing, truncate) share a stack per chunk.
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, feature in enumerate(features):
        p = params[i]
        if feature.filter in BANKS:
            key = (p["sigma"], p["spacing"], p["truncate"])
            groups.setdefault(key, []).append(i)
    arrays: dict[int, list[da.Array]] = {}
    for (_, spacing_g, truncate), members in sorted(groups.items(), key=lambda kv: kv[0][0]):
        specs_g = [features[i].spec for i in members]
        halos = [s.halo_of(params[i]) for s, i in zip(specs_g, members)]
        halo: Halo = tuple(max(h[a] for h in halos) for a in range(3))  # type: ignore[assignment]
        n_out = sum(s.n_outputs for s in specs_g)
        check_block(arr, halo, "A group of Gaussian features", n_out)
        bank_members: tuple[Member, ...] = tuple(
            (BANKS[s.name][0], params[i], s.n_outputs, BANKS[s.name][1])
            for s, i in zip(specs_g, members)
        )
        stacked = map_chunks(
            _bank_block,
            arr,
            halo=halo,
            dtype=np.float32,
            channels=n_out,
            name="vw-features",
            margin=halo,
            members=bank_members,
            spacing=spacing_g,
            truncate=truncate,
        )
        start = 0
        for i, s in zip(members, specs_g):
            arrays[i] = [stacked[start + c] for c in range(s.n_outputs)]
            start += s.n_outputs
    for i, feature in enumerate(features):
        if i not in arrays:
            out = lazy_filter(feature.spec, arr, params[i])
            arrays[i] = [out] if not feature.spec.outputs else [out[c] for c in range(len(out))]
    result: dict[str, da.Array] = {}
    for i, feature in enumerate(features):
        for name, a in zip(feature.output_names(), arrays[i]):
            result[name] = a
    return result
