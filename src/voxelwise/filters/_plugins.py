"""Filters from plugins: a function registered under the ``voxelwise.filters`` entry-point group.

A plugin filter is one function ``func(image, *, param: type = default, ...)`` returning an
array of the image's shape (or ``(C, Z, Y, X)`` with ``func.outputs = ("a", "b", ...)``), with
its halo declared as an attribute: ``func.halo`` is voxels of context per side, a number, a
``(z, y, x)`` triple, or a function of the parameters returning either. The function gets a
float32 block padded by the halo (the volume's border by symmetric reflection), so chunked and
whole-array results agree. Optional attributes: ``accepts`` (``{"image"}``, ``{"labels"}``),
``dtype`` (default ``"float32"``). An entry point may also name a ready :class:`FilterSpec`.

Plugin filters are looked up when a dotted name (``package.filter``) is not registered yet:
nothing is imported before.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from voxelwise.filters._errors import FilterParameterError, UnknownFilterError
from voxelwise.filters._spec import FilterSpec

__all__ = ["plugin_filter", "spec_from_plugin"]

Halo = tuple[int, int, int]


def _as_halo(value: Any, name: str) -> Halo:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 0:
        return (int(value), int(value), int(value))
    if (
        isinstance(value, tuple | list)
        and len(value) == 3
        and all(isinstance(v, numbers.Integral) and int(v) >= 0 for v in value)
    ):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise FilterParameterError(
        f"The plugin filter {name!r} declares a halo of {value!r}; expected a whole number >= 0 "
        "or a (z, y, x) triple of them"
    )


def spec_from_plugin(name: str, func: Callable[..., Any], schema: dict[str, Any]) -> FilterSpec:
    """A :class:`FilterSpec` for the plugin function ``func`` registered as ``name``."""
    from voxelwise.plugins import check_params, plugin_parameters

    inputs, _ = plugin_parameters(func)
    if len(inputs) != 1:
        raise FilterParameterError(
            f"The plugin filter {name!r} must take exactly one input, the image, as its first "
            f"parameter (the others keyword parameters with defaults); it takes {inputs}"
        )
    if not hasattr(func, "halo"):
        raise FilterParameterError(
            f"The plugin filter {name!r} does not declare its halo; set "
            f"{getattr(func, '__name__', 'func')}.halo = N (voxels of context per side), a "
            "(z, y, x) triple, or a function of the parameters returning one"
        )
    declared = func.halo
    outputs = tuple(str(o) for o in getattr(func, "outputs", ()))
    dtype = str(np.dtype(getattr(func, "dtype", "float32")))

    def check(**params: Any) -> dict[str, Any]:
        return check_params(schema, params, plugin=name)

    def halo(**params: Any) -> Halo:
        value = declared(**params) if callable(declared) else declared
        return _as_halo(value, name)

    def core(block: np.ndarray, *, margin: Halo, **params: Any) -> np.ndarray:
        data = np.asarray(block, dtype=np.float32)
        out = np.asarray(func(data, **params))
        want = (len(outputs), *block.shape) if outputs else block.shape
        if out.shape != want:
            raise FilterParameterError(
                f"The plugin filter {name!r} returned an array of shape {out.shape} for a block "
                f"of shape {block.shape}; it must return {want}"
            )
        z, y, x = (slice(m, n - m) for m, n in zip(margin, block.shape))
        return out[..., z, y, x]

    return FilterSpec(
        name=name,
        func=func,
        check=check,
        halo=halo,
        core=core,
        outputs=outputs,
        accepts=frozenset(getattr(func, "accepts", {"image"})),
        dtype=dtype,
        summary=str(schema.get("description", "")),
        short=name.rsplit(".", 1)[-1],
    )


def plugin_filter(name: str) -> FilterSpec:
    """The filter plugin ``name`` (``package.filter``) as a :class:`FilterSpec`.

    Raises
    ------
    UnknownFilterError
        No such plugin, or it is broken (the message says why).
    """
    from voxelwise.plugins import PluginError, get_plugin

    try:
        info = get_plugin("filter", name)
        if isinstance(info.obj, FilterSpec):
            return info.obj
        return spec_from_plugin(name, info.obj, info.schema or {})
    except PluginError as e:
        raise UnknownFilterError(str(e)) from e
    except FilterParameterError as e:
        raise UnknownFilterError(f"The plugin filter {name!r} cannot be used: {e}") from e
