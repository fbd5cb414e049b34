"""Named feature presets stored as YAML, and the ``filter:key=value`` syntax of the CLI.

A preset file looks like::

    description: a few features for quick demos
    features:
      - filter: gaussian
        params: {sigma: 1.0}
      - filter: hessian_eigenvalues
        params: {sigma: 1.6}
        name: hess   # optional: layers hess_eig1, hess_eig2, hess_eig3

Built-in presets are the ``*.yaml`` files next to this module (``default``, ``small``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from voxelwise.filters._bank import FeatureSpec, parse_specs
from voxelwise.filters._errors import PresetError, PresetNotFoundError
from voxelwise.filters._registry import get_filter

__all__ = [
    "list_presets",
    "load_preset",
    "parse_filter_arg",
    "preset_description",
    "save_preset",
    "spec_from_dict",
]

_SUFFIXES = (".yaml", ".yml")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _builtin_dir() -> Any:
    return resources.files("voxelwise.filters")


def list_presets() -> list[str]:
    """Names of the built-in presets."""
    return sorted(
        p.name.rsplit(".", 1)[0] for p in _builtin_dir().iterdir() if p.name.endswith(_SUFFIXES)
    )


def _read(name_or_path: str | os.PathLike[str]) -> tuple[str, Any]:
    text_name = os.fspath(name_or_path)
    path = Path(text_name).expanduser()
    looks_like_path = path.suffix in _SUFFIXES or os.sep in text_name or "/" in text_name
    if path.is_file():
        return str(path), yaml.safe_load(path.read_text(encoding="utf-8"))
    if not looks_like_path:
        builtin = _builtin_dir() / f"{text_name}.yaml"
        if builtin.is_file():
            return text_name, yaml.safe_load(builtin.read_text(encoding="utf-8"))
    raise PresetNotFoundError(
        f"No preset {text_name!r}: it is neither a built-in preset "
        f"({', '.join(list_presets())}) nor a YAML file; check the name or path"
    )


def spec_from_dict(item: Mapping[str, Any], *, where: str = "") -> FeatureSpec:
    """A :class:`FeatureSpec` from ``{"filter": ..., "params": {...}, "name": ...}``."""
    at = f"{where}: " if where else ""
    if not isinstance(item, Mapping) or "filter" not in item:
        raise PresetError(
            f"{at}expected a mapping with a 'filter' key (and optional 'params', 'name'), got "
            f"{item!r} instead"
        )
    extra = sorted(set(item) - {"filter", "params", "name"})
    if extra:
        raise PresetError(
            f"{at}unknown key(s) {', '.join(map(repr, extra))}; a feature has 'filter', "
            "'params' and optionally 'name'"
        )
    params = item.get("params") or {}
    if not isinstance(params, Mapping):
        raise PresetError(f"{at}expected 'params' as a mapping, got {params!r} instead")
    try:
        feature = FeatureSpec(str(item["filter"]), dict(params), item.get("name"))
        feature.spec.normalize(feature.params)  # validate now, with the feature's position
    except (KeyError, ValueError, TypeError) as e:
        raise PresetError(f"{at}{e}") from e
    return feature


def load_preset(name_or_path: str | os.PathLike[str]) -> list[FeatureSpec]:
    """The features of a built-in preset (``"default"``, ``"small"``) or of a YAML file.

    Raises
    ------
    PresetNotFoundError
        Neither a built-in preset nor an existing file.
    PresetError
        The file is malformed (unknown filter, bad parameter, duplicate output names).

    Examples
    --------
    >>> features = load_preset("small")
    >>> features[0].output_names()
    ['gaussian_s1.0']
    """
    where, data = _read(name_or_path)
    if isinstance(data, Mapping):
        items = data.get("features")
    else:
        items = data
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise PresetError(
            f"Preset {where}: expected a 'features:' list of {{filter, params}} entries"
        )
    specs = [
        spec_from_dict(item, where=f"preset {where}, feature #{i + 1}")
        for i, item in enumerate(items)
    ]
    return parse_specs(specs)


def preset_description(name_or_path: str | os.PathLike[str]) -> str:
    """The ``description`` of a preset ('' when it has none)."""
    _, data = _read(name_or_path)
    return str(data.get("description", "")) if isinstance(data, Mapping) else ""


def save_preset(
    specs: Any,
    path: str | os.PathLike[str],
    *,
    description: str = "",
    overwrite: bool = False,
) -> Path:
    """Write features as a preset YAML file that :func:`load_preset` reads back.

    Parameters
    ----------
    specs : list of FeatureSpec (or ``"filter:key=value"`` strings)
    path : path
        Target file (``.yaml``/``.yml`` is appended when missing).
    description : str
        One line stored with the preset.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        The file written.
    """
    from voxelwise.errors import OutputExistsError

    features = parse_specs(specs)
    target = Path(path).expanduser()
    if target.suffix not in _SUFFIXES:
        target = target.with_name(target.name + ".yaml")
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} exists already; pass overwrite=True to replace it")
    doc: dict[str, Any] = {}
    if description:
        doc["description"] = description
    doc["features"] = [_plain(f.to_dict()) for f in features]
    target.write_text(yaml.safe_dump(doc, sort_keys=False, default_flow_style=None), "utf-8")
    return target


def _plain(value: Any) -> Any:
    """Tuples to lists and NumPy scalars to Python ones, for safe YAML."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        return value.item()
    return value


def _split_top(text: str) -> list[str]:
    """Split at commas that are not inside brackets."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in (s.strip() for s in parts) if p]


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text.startswith("(") and text.endswith(")"):
        text = "[" + text[1:-1] + "]"
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, list):
        return [_value(str(v)) if isinstance(v, str) else v for v in value]
    return value


def parse_filter_arg(text: str) -> FeatureSpec:
    """Parse the CLI's ``--filter`` syntax: ``"name"`` or ``"name:key=value,key=value"``.

    Values are numbers, ``true``/``false``, ``none`` or lists ``[1,2]``; ``name=`` sets the
    output layer name.

    Examples
    --------
    >>> parse_filter_arg("gaussian:sigma=2,truncate=3")
    FeatureSpec(filter='gaussian', params={'sigma': 2, 'truncate': 3}, name=None)
    >>> parse_filter_arg("frangi:sigmas=[1,2],black_ridges=false").params
    {'sigmas': [1, 2], 'black_ridges': False}
    """
    if not isinstance(text, str) or not text.strip():
        raise TypeError(f"Expected a filter as 'name:key=value,...', got {text!r} instead")
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    get_filter(name)  # unknown names fail here, with suggestions
    params: dict[str, Any] = {}
    out_name = None
    for part in _split_top(rest):
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise PresetError(
                f"Expected 'key=value' in {text!r}, got {part!r} instead; e.g. "
                f"'{name}:sigma=2' (see the filter's parameters)"
            )
        value = _value(raw.strip())
        if key == "name":
            out_name = str(value)
        else:
            params[key] = value
    feature = FeatureSpec(name, params, out_name)
    try:
        feature.spec.normalize(params)
    except (ValueError, TypeError) as e:
        raise PresetError(f"In {text!r}: {e}") from e
    return feature
