"""The filter registry: a plain mapping from name to :class:`FilterSpec`, built explicitly.

Plugins add to it with :func:`register`, or through the ``voxelwise.filters`` entry-point
group: a dotted name (``package.filter``) that is not registered is looked up among the
installed plugins on first use (:mod:`voxelwise.filters._plugins`); nothing is discovered at
import time.
"""

from __future__ import annotations

import difflib

from voxelwise.filters._denoise import MEDIAN, TV_DENOISE, WAVELET_DENOISE
from voxelwise.filters._errors import UnknownFilterError
from voxelwise.filters._frangi import FRANGI
from voxelwise.filters._gaussian import (
    DIFFERENCE_OF_GAUSSIANS,
    GAUSSIAN,
    GRADIENT_MAGNITUDE,
    LAPLACIAN_OF_GAUSSIAN,
)
from voxelwise.filters._intensity import CLIP, GAMMA, INVERT, RESCALE, THRESHOLD
from voxelwise.filters._morphology import CLOSING, DILATION, DISTANCE_TRANSFORM, EROSION, OPENING
from voxelwise.filters._spec import FilterSpec
from voxelwise.filters._texture import (
    HESSIAN_EIGENVALUES,
    LOCAL_CENTER,
    LOCAL_NORMALIZE,
    STRUCTURE_TENSOR_EIGENVALUES,
)

__all__ = ["FILTERS", "get_filter", "list_filters", "register"]

#: Every registered filter by name.
FILTERS: dict[str, FilterSpec] = {
    spec.name: spec
    for spec in (
        GAUSSIAN,
        DIFFERENCE_OF_GAUSSIANS,
        LAPLACIAN_OF_GAUSSIAN,
        GRADIENT_MAGNITUDE,
        HESSIAN_EIGENVALUES,
        STRUCTURE_TENSOR_EIGENVALUES,
        LOCAL_CENTER,
        LOCAL_NORMALIZE,
        MEDIAN,
        TV_DENOISE,
        WAVELET_DENOISE,
        FRANGI,
        DILATION,
        EROSION,
        OPENING,
        CLOSING,
        DISTANCE_TRANSFORM,
        GAMMA,
        RESCALE,
        CLIP,
        THRESHOLD,
        INVERT,
    )
}


def get_filter(name: str) -> FilterSpec:
    """The :class:`FilterSpec` registered as ``name``.

    Raises
    ------
    UnknownFilterError
        No such filter; the message suggests close names and lists the registered ones. For a
        dotted plugin name: no such plugin, or the plugin is broken (with its error).

    Examples
    --------
    >>> get_filter("hessian_eigenvalues").outputs
    ('eig1', 'eig2', 'eig3')
    """
    if isinstance(name, FilterSpec):
        return name
    if not isinstance(name, str):
        raise TypeError(f"Expected a filter name as a string, got {name!r} instead")
    try:
        return FILTERS[name]
    except KeyError:
        if "." in name:  # package.filter: a plugin, loaded on first use
            from voxelwise.filters._plugins import plugin_filter

            spec = plugin_filter(name)
            FILTERS.setdefault(name, spec)
            return FILTERS[name]
        close = difflib.get_close_matches(name, list(FILTERS), n=3)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        raise UnknownFilterError(
            f"No filter named {name!r}; {hint}the filters are: {', '.join(list_filters())}"
        ) from None


def list_filters(*, plugins: bool = False) -> list[str]:
    """Names of the registered filters, in registry order.

    With ``plugins=True`` the working filters of installed plugins (``package.filter``) are
    added too (reading the ``voxelwise.filters`` entry points; broken ones are left out, see
    :func:`voxelwise.plugins.list_plugins`).
    """
    names = list(FILTERS)
    if plugins:
        from voxelwise.plugins import list_plugins

        names += [p.name for p in list_plugins("filter") if p.ok and p.name not in FILTERS]
    return names


def register(spec: FilterSpec, *, overwrite: bool = False) -> None:
    """Add a filter to the registry (for plugins).

    Raises
    ------
    ValueError
        A filter of that name exists and ``overwrite`` is False.
    """
    if not isinstance(spec, FilterSpec):
        raise TypeError(f"Expected a FilterSpec, got {type(spec).__name__} instead")
    if spec.name in FILTERS and not overwrite:
        raise ValueError(
            f"A filter named {spec.name!r} is registered already; pass overwrite=True to replace it"
        )
    FILTERS[spec.name] = spec
