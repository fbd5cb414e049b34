"""Finding plugins: entry points of the ``voxelwise.*`` groups, loaded lazily, failures recorded.

Nothing is discovered when voxelwise is imported. The first call that needs plugins of a kind
(:func:`list_plugins`, :func:`get_plugin`, or a filter/classifier lookup by a dotted name) reads
the entry points of that kind's group and loads each in its own ``try``: a plugin whose import
raises, or whose signature voxelwise cannot offer, is recorded as broken with its error, and the
others still work. The result is kept until :func:`refresh` (e.g. after installing a package).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from voxelwise.plugins._errors import BrokenPluginError, PluginError, PluginNotFoundError
from voxelwise.plugins._schema import parameter_schema, summary_of

__all__ = [
    "GROUPS",
    "KINDS",
    "PluginInfo",
    "get_plugin",
    "list_plugins",
    "plugin_name",
    "refresh",
]

#: Plugin kinds and their entry-point groups.
GROUPS: dict[str, str] = {
    "filter": "voxelwise.filters",
    "classifier": "voxelwise.classifiers",
    "network": "voxelwise.networks",
    "strategy": "voxelwise.strategies",
    "step": "voxelwise.steps",
}
KINDS = tuple(GROUPS)


@dataclass(frozen=True)
class PluginInfo:
    """One installed plugin.

    Attributes
    ----------
    name : str
        Qualified name, ``package.entry`` (e.g. ``"voxelwise_example_plugin.sharpen"``).
    kind : str
        One of :data:`KINDS`.
    status : {"ok", "broken"}
    error : str or None
        Why a broken plugin failed (its exception type and message).
    schema : dict or None
        JSON schema of its parameters (see :func:`parameter_schema`); None when broken.
    summary : str
        First line of its docstring.
    entry_point : str
        ``module:attribute`` the entry point names.
    distribution : str or None
        ``name version`` of the installed package that declares it.
    obj : object
        The loaded object (None when broken); not part of :meth:`to_dict`.
    """

    name: str
    kind: str
    status: str
    error: str | None
    schema: dict[str, Any] | None
    summary: str
    entry_point: str
    distribution: str | None = None
    obj: Any = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record (what the REST API lists)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "error": self.error,
            "schema": self.schema,
            "summary": self.summary,
            "entry_point": self.entry_point,
            "distribution": self.distribution,
        }


def plugin_name(entry_name: str, value: str) -> str:
    """The qualified name of an entry point: its name when dotted, else ``package.name`` where
    ``package`` is the top-level module the entry point loads from."""
    if "." in entry_name:
        return entry_name
    return f"{value.split(':', 1)[0].strip().split('.', 1)[0]}.{entry_name}"


def _target(obj: Any) -> Callable[..., Any]:
    """The callable whose signature describes the plugin (a FilterSpec-like object's ``func``)."""
    func = getattr(obj, "func", None)
    if not callable(obj) and callable(func):
        return func
    if not callable(obj):
        raise PluginError(f"expected a function or class, got {type(obj).__name__}")
    return obj


def _load(kind: str, ep: metadata.EntryPoint) -> PluginInfo:
    name = plugin_name(ep.name, ep.value)
    dist = getattr(ep, "dist", None)
    where = f"{dist.name} {dist.version}" if dist is not None else None
    try:
        obj = ep.load()
        target = _target(obj)
        schema = parameter_schema(target, plugin=name)
    except Exception as e:  # a plugin's import may raise anything; it must not break the rest
        return PluginInfo(
            name=name,
            kind=kind,
            status="broken",
            error=f"{type(e).__name__}: {e}",
            schema=None,
            summary="",
            entry_point=ep.value,
            distribution=where,
        )
    return PluginInfo(
        name=name,
        kind=kind,
        status="ok",
        error=None,
        schema=schema,
        summary=summary_of(target),
        entry_point=ep.value,
        distribution=where,
        obj=obj,
    )


class _Registry:
    """Loaded plugins per kind (filled lazily, on first use of each kind)."""

    def __init__(self) -> None:
        self.kinds: dict[str, dict[str, PluginInfo]] = {}

    def of(self, kind: str) -> dict[str, PluginInfo]:
        if kind not in self.kinds:
            found: dict[str, PluginInfo] = {}
            for ep in _entry_points(GROUPS[kind]):
                info = _load(kind, ep)
                found.setdefault(info.name, info)
            self.kinds[kind] = found
        return self.kinds[kind]


_REGISTRY = _Registry()


def _entry_points(group: str) -> Iterable[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=group), key=lambda ep: ep.name)


def _parse_kind(kind: Any) -> str:
    if kind not in GROUPS:
        raise PluginError(f"Expected a plugin kind as one of {', '.join(KINDS)}, got {kind!r}")
    return str(kind)


def refresh() -> None:
    """Forget the plugins found so far; the next lookup reads the entry points again (call it
    after installing or removing a plugin package in a running process)."""
    importlib.invalidate_caches()
    _REGISTRY.kinds.clear()


def list_plugins(kind: str | None = None) -> list[PluginInfo]:
    """Every installed plugin (of one kind, or of all), broken ones included.

    Examples
    --------
    >>> [p.name for p in list_plugins("filter")]  # doctest: +SKIP
    ['voxelwise_example_plugin.sharpen']
    >>> list_plugins("filter")[0].to_dict()["schema"]["properties"]  # doctest: +SKIP
    {'amount': {'type': 'number', 'default': 1.0}, 'sigma': {'type': 'number', 'default': 1.0}}
    """
    kinds = KINDS if kind is None else (_parse_kind(kind),)
    return [info for k in kinds for info in _REGISTRY.of(k).values()]


def get_plugin(kind: str, name: str) -> PluginInfo:
    """The working plugin ``name`` of ``kind``.

    Raises
    ------
    PluginNotFoundError
        No plugin of that name (the message lists the installed ones).
    BrokenPluginError
        The plugin is installed but failed to load (the message gives its error).
    """
    found = _REGISTRY.of(_parse_kind(kind))
    info = found.get(name)
    if info is None:
        have = ", ".join(found) or "none installed"
        raise PluginNotFoundError(
            f"No {kind} plugin named {name!r} (plugin {kind}s: {have}); install the package "
            f"that provides it (it declares an entry point in the group {GROUPS[kind]!r})"
        )
    if not info.ok:
        raise BrokenPluginError(
            f"The {kind} plugin {name!r} ({info.entry_point}) is installed but broken: {info.error}"
        )
    return info
