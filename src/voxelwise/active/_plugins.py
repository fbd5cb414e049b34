"""Strategies from plugins: a function registered under ``voxelwise.strategies``.

A plugin strategy is ``func(input, ..., *, param: type = default, ...)`` returning one score per
candidate, ``(N,)``; the highest are proposed first (near-duplicates skipped, as for the
built-in strategies). Its leading positional parameters name what voxelwise gives it
(:data:`STRATEGY_INPUTS`):

``entropy``, ``least_confidence``, ``margin`` : (N,)
    Uncertainty of each candidate (summed over its pixels).
``bald`` : (N,)
    BALD mutual information from Monte-Carlo dropout samples.
``embeddings`` : (N, D)
    Features of each candidate (a network's pooled bottleneck).
``labelled`` : (M, D)
    Embeddings of the candidates already labelled (M may be 0).
``rng`` : numpy.random.Generator
    For strategies with random parts.

Its keyword parameters (their schema is listed with the plugin) take the values given as
``strategy_params`` (:func:`~voxelwise.active.select`, campaigns, the server) or
``--strategy-param NAME=VALUE`` (``voxelwise al create`` and ``propose``), checked against that
schema; the others keep their defaults. A plugin strategy is named ``package.name`` wherever a
strategy is: campaigns, ``voxelwise al create --strategy``, ``simulate``,
:func:`~voxelwise.active.select`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from voxelwise.active._errors import StrategyError

__all__ = [
    "STRATEGY_INPUTS",
    "check_strategy_params",
    "is_plugin_strategy",
    "plugin_scores",
    "strategy_inputs",
]

UNCERTAINTY_INPUTS = ("entropy", "least_confidence", "margin", "bald")
STRATEGY_INPUTS = (*UNCERTAINTY_INPUTS, "embeddings", "labelled", "rng")


def is_plugin_strategy(name: Any) -> bool:
    """Whether a strategy name is a plugin's (``package.name``)."""
    return isinstance(name, str) and "." in name


def _info(name: str) -> Any:
    from voxelwise.plugins import PluginError, get_plugin

    try:
        return get_plugin("strategy", name)
    except PluginError as e:
        raise StrategyError(str(e)) from e


def strategy_inputs(name: str) -> tuple[str, ...]:
    """What the plugin strategy ``name`` takes (its leading positional parameters).

    Raises
    ------
    StrategyError
        Not installed, broken, or takes an input voxelwise does not provide.
    """
    from voxelwise.plugins import plugin_parameters

    info = _info(name)
    inputs, _ = plugin_parameters(info.obj)
    unknown = [n for n in inputs if n not in STRATEGY_INPUTS]
    if unknown or not inputs:
        raise StrategyError(
            f"The strategy plugin {name!r} takes the input(s) {inputs}; a strategy's leading "
            f"positional parameters must be among {', '.join(STRATEGY_INPUTS)} (at least one)"
        )
    return tuple(inputs)


def check_strategy_params(name: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The keyword parameters given to strategy ``name``, checked: a plugin strategy's against
    its schema (only those given are returned; the rest keep their defaults); a built-in
    strategy takes none.

    Raises
    ------
    StrategyError
        Parameters for a built-in strategy, or an unknown parameter or a value of the wrong
        type for a plugin's.
    """
    if params is None or not len(params):
        return {}
    if not isinstance(params, Mapping):
        raise StrategyError(
            f"Expected the strategy parameters as a mapping of name to value, got {params!r} "
            "instead"
        )
    if not is_plugin_strategy(name):
        raise StrategyError(
            f"The built-in strategy {name!r} takes no parameters (got "
            f"{', '.join(map(repr, params))}); parameters are for plugin strategies "
            "('package.name')"
        )
    from voxelwise.plugins import PluginError
    from voxelwise.plugins._schema import check_params

    info = _info(name)
    try:
        checked = check_params(info.schema or {}, dict(params), plugin=name)
    except PluginError as e:
        raise StrategyError(str(e)) from e
    return {k: checked[k] for k in params}


def plugin_scores(
    name: str,
    *,
    scores: Mapping[str, Any],
    embeddings: Any = None,
    labelled: Any = None,
    rng: np.random.Generator,
    n: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Run the plugin strategy ``name`` (with keyword parameters ``params``) and return its
    checked ``(N,)`` float64 scores.

    Raises
    ------
    StrategyError
        A bad parameter, an input it needs is missing, it raised, or it returned something
        other than one finite number per candidate.
    """
    info = _info(name)
    options = check_strategy_params(name, params)
    given: dict[str, Any] = {k: np.asarray(v) for k, v in scores.items() if v is not None}
    if embeddings is not None:
        given["embeddings"] = np.asarray(embeddings, dtype=np.float32)
        if labelled is None:
            labelled = np.zeros((0, given["embeddings"].shape[1]), np.float32)
    if labelled is not None:
        given["labelled"] = np.asarray(labelled, dtype=np.float32)
    given["rng"] = rng
    needs = strategy_inputs(name)
    missing = [k for k in needs if k not in given]
    if missing:
        raise StrategyError(
            f"The strategy plugin {name!r} needs {', '.join(missing)} of the candidates, which "
            "were not given"
        )
    sizes = {len(given[k]) for k in needs if k not in ("labelled", "rng")}
    count = n if n is not None else (sizes.pop() if len(sizes) == 1 else None)
    try:
        out = info.obj(**{k: given[k] for k in needs}, **options)
    except Exception as e:  # a plugin may raise anything; say which one and why
        raise StrategyError(f"The strategy plugin {name!r} raised {type(e).__name__}: {e}") from e
    try:
        result = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise StrategyError(
            f"The strategy plugin {name!r} returned {type(out).__name__}, not numbers; it must "
            "return one score per candidate, (N,)"
        ) from e
    if result.ndim != 1 or (count is not None and result.shape[0] != count):
        raise StrategyError(
            f"The strategy plugin {name!r} returned an array of shape {result.shape} for "
            f"{count} candidates; it must return one score per candidate, ({count},)"
        )
    if not np.isfinite(result).all():
        raise StrategyError(
            f"The strategy plugin {name!r} returned non-finite scores (NaN or infinity); every "
            "candidate needs a finite score"
        )
    return result
