"""JSON schemas of plugin parameters, built from type-annotated signatures, and checking values.

A plugin is a function whose *inputs* (the image of a filter, the workspace of a step) are its
leading positional parameters without defaults, and whose *parameters* are the others: every
keyword-only parameter and every parameter with a default. Each parameter must be annotated with
one of the types a form, a command line and a JSON body can carry:

``int``, ``float``, ``bool``, ``str``, ``Literal["a", "b"]``, ``tuple[float, ...]`` /
``tuple[int, int, int]`` (numbers), and ``X | None`` of any of these.
"""

from __future__ import annotations

import inspect
import math
import numbers
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from voxelwise.plugins._errors import PluginParameterError

__all__ = ["check_params", "parameter_schema", "plugin_parameters", "summary_of"]

_SCALARS: dict[Any, str] = {bool: "boolean", int: "integer", float: "number", str: "string"}
_SUPPORTED = (
    "int, float, bool, str, Literal[...], a tuple of numbers (tuple[float, ...] or "
    "tuple[int, int, int]) or one of these | None"
)


def summary_of(obj: Any) -> str:
    """The first line of an object's docstring ('' without one)."""
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


def plugin_parameters(func: Callable[..., Any]) -> tuple[list[str], list[inspect.Parameter]]:
    """(input names, parameters) of a plugin function (see the module docstring)."""
    target = func.__init__ if inspect.isclass(func) else func
    params = list(inspect.signature(target).parameters.values())
    if inspect.isclass(func):
        params = params[1:]  # self
    inputs: list[str] = []
    rest: list[inspect.Parameter] = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        positional = p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        if positional and p.default is p.empty and not rest:
            inputs.append(p.name)
        else:
            rest.append(p)
    return inputs, rest


def _type_schema(tp: Any, where: str) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    if origin is typing.Literal:
        values = list(args)
        if not all(isinstance(v, str | int | float | bool) for v in values):
            raise PluginParameterError(f"{where}: Literal values must be str, int, float or bool")
        kinds = {_SCALARS[type(v)] for v in values}
        out: dict[str, Any] = {"enum": values}
        if len(kinds) == 1:
            out["type"] = kinds.pop()
        return out
    if origin in (typing.Union, types.UnionType):
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) == 1 and len(args) == 2:
            return {"anyOf": [_type_schema(non_null[0], where), {"type": "null"}]}
    if origin is tuple and args:
        if len(args) == 2 and args[1] is Ellipsis and args[0] in (int, float):
            return {"type": "array", "items": {"type": _SCALARS[args[0]]}}
        if Ellipsis not in args and all(a in (int, float) for a in args):
            kind = "integer" if all(a is int for a in args) else "number"
            return {
                "type": "array",
                "items": {"type": kind},
                "minItems": len(args),
                "maxItems": len(args),
            }
    raise PluginParameterError(
        f"{where} has the type {_type_name(tp)}, which voxelwise cannot offer on the command "
        f"line, in the API or in a form; annotate it as {_SUPPORTED}"
    )


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_default(v) for v in value]
    return value


def parameter_schema(func: Callable[..., Any], *, plugin: str | None = None) -> dict[str, Any]:
    """A JSON schema (draft 2020-12 object) of a plugin function's parameters.

    Parameters
    ----------
    func : callable
        The plugin function (or class: its ``__init__``). Leading positional parameters without
        defaults are inputs and are left out; every other parameter must be annotated with a
        supported type.
    plugin : str, optional
        The plugin's name, for error messages.

    Returns
    -------
    dict
        ``{"type": "object", "title", "description", "properties", "required",
        "additionalProperties": False}``; each property has its JSON type and, where there is
        one, its ``default``.

    Raises
    ------
    PluginParameterError
        A parameter lacks an annotation or has an unsupported type (the message names the
        plugin and the parameter).

    Examples
    --------
    >>> def sharpen(image, *, amount: float = 1.0, sigma: float = 1.0):
    ...     "Unsharp mask."
    >>> parameter_schema(sharpen)["properties"]["amount"]
    {'type': 'number', 'default': 1.0}
    """
    who = (
        f"The plugin {plugin!r}" if plugin else f"The function {getattr(func, '__name__', func)!r}"
    )
    try:
        target = func.__init__ if inspect.isclass(func) else func
        hints = typing.get_type_hints(target)
    except Exception as e:  # annotations that cannot be evaluated: NameError, TypeError, ...
        raise PluginParameterError(
            f"{who}: its type annotations cannot be evaluated ({type(e).__name__}: {e}); import "
            "every type it names at module level"
        ) from e
    _, params = plugin_parameters(func)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for p in params:
        where = f"{who}: parameter {p.name!r}"
        if p.name not in hints:
            raise PluginParameterError(
                f"{where} has no type annotation; annotate it as {_SUPPORTED}"
            )
        prop = _type_schema(hints[p.name], where)
        if p.default is p.empty:
            required.append(p.name)
        else:
            prop["default"] = _json_default(p.default)
        properties[p.name] = prop
    return {
        "type": "object",
        "title": plugin or getattr(func, "__name__", "plugin"),
        "description": summary_of(func),
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _check_value(value: Any, prop: Mapping[str, Any], where: str) -> Any:
    if "anyOf" in prop:
        if value is None:
            return None
        return _check_value(value, prop["anyOf"][0], where)
    if "enum" in prop:
        if value not in prop["enum"]:
            raise PluginParameterError(
                f"Expected {where} as one of {', '.join(map(repr, prop['enum']))}, got "
                f"{value!r} instead"
            )
        return value
    kind = prop.get("type")
    if kind == "boolean":
        if not isinstance(value, bool):
            raise PluginParameterError(f"Expected {where} as true or false, got {value!r} instead")
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise PluginParameterError(f"Expected {where} as a whole number, got {value!r} instead")
        return int(value)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise PluginParameterError(f"Expected {where} as a number, got {value!r} instead")
        if not math.isfinite(float(value)):
            raise PluginParameterError(f"Expected a finite {where}, got {value!r} instead")
        return float(value)
    if kind == "string":
        if not isinstance(value, str):
            raise PluginParameterError(f"Expected {where} as a string, got {value!r} instead")
        return value
    if kind == "array":
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            if isinstance(value, numbers.Real) and "minItems" in prop:
                value = [value] * int(prop["minItems"])  # one number for every axis
            else:
                raise PluginParameterError(
                    f"Expected {where} as a list of numbers, got {value!r} instead"
                )
        n = len(value)
        if not prop.get("minItems", 0) <= n <= prop.get("maxItems", n):
            raise PluginParameterError(
                f"Expected {where} with {prop['minItems']} numbers, got {value!r} instead"
            )
        return tuple(_check_value(v, prop["items"], f"{where}[{i}]") for i, v in enumerate(value))
    return value


def check_params(
    schema: Mapping[str, Any], params: Mapping[str, Any], *, plugin: str = "plugin"
) -> dict[str, Any]:
    """Check parameter values against a schema from :func:`parameter_schema`.

    Returns every parameter (defaults filled in), normalised: ints accepted for floats, lists
    turned into tuples.

    Raises
    ------
    PluginParameterError
        Unknown or missing parameter, or a value of the wrong type.
    """
    props: Mapping[str, Any] = schema.get("properties", {})
    unknown = sorted(set(params) - set(props))
    if unknown:
        raise PluginParameterError(
            f"The plugin {plugin!r} has no parameter {', '.join(map(repr, unknown))}; its "
            f"parameters are {', '.join(props) or '(none)'}"
        )
    missing = [n for n in schema.get("required", []) if n not in params]
    if missing:
        raise PluginParameterError(
            f"The plugin {plugin!r} needs the parameter(s) {', '.join(map(repr, missing))}"
        )
    out: dict[str, Any] = {}
    for name, prop in props.items():
        if name in params:
            out[name] = _check_value(params[name], prop, f"{name} of the plugin {plugin!r}")
        else:
            default = prop.get("default")
            out[name] = None if default is None else _check_value(default, prop, name)
    return out
