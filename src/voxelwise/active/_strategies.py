"""Query strategies: score candidates and pick a batch of k, in plain NumPy.

Everything here works on arrays that describe N candidates (patches, supervoxels, anything):

- class probabilities ``(N, C, ...)`` (a map per patch, or ``(N, C)`` per supervoxel), turned
  into one uncertainty score per candidate by :func:`uncertainty_scores` (pixel-wise entropy,
  least confidence or margin, summed over the pixels);
- Monte-Carlo samples ``(T, N, C, ...)`` of stochastic forward passes, turned into BALD's mutual
  information by :func:`bald_scores`;
- embeddings ``(N, D)`` (e.g. bottleneck features) for the diversity strategies.

The selection functions return candidate indices, best first. Each takes an optional
``is_duplicate(candidate, chosen)`` callable (see :func:`voxelwise.active.Pool.duplicates`) and
skips candidates it flags, so a batch holds no near-duplicates; when too few candidates remain
the rule is relaxed and the batch is filled in rank order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxelwise._validate import parse_rng
from voxelwise.active._batch import Duplicate, random_selection, rank
from voxelwise.active._diversity import (
    coreset_selection,
    hybrid_selection,
    kmeans,
    kmeans_selection,
)
from voxelwise.active._errors import StrategyError
from voxelwise.active._plugins import (
    check_strategy_params,
    is_plugin_strategy,
    plugin_scores,
    strategy_inputs,
)
from voxelwise.active._uncertainty import (
    UNCERTAINTY_METHODS,
    bald_scores,
    pixel_uncertainty,
    uncertainty_scores,
)

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "UNCERTAINTY_METHODS",
    "Duplicate",
    "Selection",
    "bald_scores",
    "coreset_selection",
    "hybrid_selection",
    "kmeans",
    "kmeans_selection",
    "parse_strategy",
    "pixel_uncertainty",
    "random_selection",
    "rank",
    "select",
    "select_from_probabilities",
    "uncertainty_scores",
]

STRATEGIES = (
    "random",
    "entropy",
    "least_confidence",
    "margin",
    "bald",
    "kmeans",
    "coreset",
    "hybrid",
)
DEFAULT_STRATEGY = "entropy"


def parse_strategy(strategy: Any) -> str:
    """Check a strategy name (case-insensitive; ``-`` and ``_`` alike), or a plugin strategy's
    ``package.name`` (installed and working; see :mod:`voxelwise.active._plugins`)."""
    if not isinstance(strategy, str):
        raise TypeError(f"Expected the strategy as a name (str), got {strategy!r} instead")
    if is_plugin_strategy(strategy.strip()):
        strategy_inputs(strategy.strip())  # installed, loads, takes inputs voxelwise gives
        return strategy.strip()
    name = strategy.strip().lower().replace("-", "_")
    aliases = {"max_entropy": "entropy", "core_set": "coreset", "k_means": "kmeans"}
    name = aliases.get(name, name)
    if name not in STRATEGIES:
        raise StrategyError(
            f"Expected a strategy among {', '.join(STRATEGIES)} or a plugin strategy "
            f"('package.name', see `voxelwise plugins list --kind strategy`), got {strategy!r} "
            "instead"
        )
    return name


@dataclass(frozen=True)
class Selection:
    """What a strategy picked: candidate ``indices`` (best first), their ``scores`` and the
    ``strategy`` that ran."""

    indices: np.ndarray
    scores: np.ndarray
    strategy: str


def select(
    strategy: str,
    k: int,
    *,
    scores: Any = None,
    embeddings: Any = None,
    labelled: Any = None,
    n: int | None = None,
    rng: np.random.Generator | int | None = None,
    is_duplicate: Duplicate | None = None,
    factor: float = 4.0,
    params: Mapping[str, Any] | None = None,
) -> Selection:
    """Pick ``k`` candidates with a strategy.

    Parameters
    ----------
    strategy : str
        One of :data:`STRATEGIES`, or a plugin strategy ``package.name``.
    k : int
        Batch size.
    scores : (N,) array, or dict of str to (N,) arrays
        Uncertainty per candidate (for 'entropy', 'least_confidence', 'margin' and 'bald' the
        score of that method, see :func:`uncertainty_scores` and :func:`bald_scores`; also
        needed by 'hybrid'). A plugin strategy takes the scores it names from a dict by method
        (an array is taken as 'entropy').
    embeddings : (N, D) array
        For 'kmeans', 'coreset' and 'hybrid'.
    labelled : (M, D) array, optional
        Embeddings of labelled data ('coreset').
    n : int, optional
        Number of candidates for 'random' when neither scores nor embeddings are given.
    rng, is_duplicate, factor
        Seed for the random parts; near-duplicate test; 'hybrid' pre-selection factor.
    params : dict, optional
        Keyword parameters of a plugin strategy (checked against its schema; built-in
        strategies take none).
    """
    name = parse_strategy(strategy)
    gen = parse_rng(rng)
    if is_plugin_strategy(name):  # plugin_scores checks its parameters
        named = scores if isinstance(scores, Mapping) else {"entropy": scores}
        sc = plugin_scores(
            name,
            scores=named,
            embeddings=embeddings,
            labelled=labelled,
            rng=gen,
            n=n,
            params=params,
        )
        idx = rank(sc, k, is_duplicate=is_duplicate)
        return Selection(np.asarray(idx, dtype=np.int64), sc[idx], name)
    check_strategy_params(name, params)  # a built-in strategy takes none
    if isinstance(scores, Mapping):
        scores = scores.get("entropy" if name == "hybrid" else name)
    if name == "random":
        size = n if n is not None else len(scores if scores is not None else embeddings)
        idx = random_selection(int(size), k, rng=gen, is_duplicate=is_duplicate)
        return Selection(idx, np.zeros(idx.size), name)
    if name in ("kmeans", "coreset", "hybrid") and embeddings is None:
        raise StrategyError(f"The {name!r} strategy needs embeddings (N, D) of the candidates")
    if name in ("entropy", "least_confidence", "margin", "bald", "hybrid") and scores is None:
        raise StrategyError(f"The {name!r} strategy needs an uncertainty score per candidate")
    if name == "kmeans":
        idx, sc = kmeans_selection(embeddings, k, rng=gen, is_duplicate=is_duplicate)
    elif name == "coreset":
        idx, sc = coreset_selection(embeddings, k, labelled=labelled, is_duplicate=is_duplicate)
    elif name == "hybrid":
        idx, sc = hybrid_selection(
            scores, embeddings, k, factor=factor, rng=gen, is_duplicate=is_duplicate
        )
    else:
        idx = rank(scores, k, is_duplicate=is_duplicate)
        sc = np.asarray(scores, dtype=np.float64).ravel()[idx]
    return Selection(np.asarray(idx, dtype=np.int64), np.asarray(sc, dtype=np.float64), name)


def select_from_probabilities(
    strategy: str,
    probabilities: Any,
    k: int,
    *,
    embeddings: Any = None,
    labelled: Any = None,
    rng: np.random.Generator | int | None = None,
    is_duplicate: Duplicate | None = None,
    reduce: str = "sum",
    params: Mapping[str, Any] | None = None,
) -> Selection:
    """Pick ``k`` candidates from their class probabilities ``(N, C, ...)`` (or MC samples
    ``(T, N, C, ...)`` for 'bald').

    Convenient for shallow classifiers: e.g. the ``(N, C)`` supervoxel probabilities of
    :func:`voxelwise.learn.predict_supervoxels` give the supervoxels to annotate next.
    'hybrid' uses entropy as its uncertainty. A plugin strategy gets the uncertainties it names
    computed from the probabilities (from the mean of MC samples when it takes 'bald'), and
    ``params`` as its keyword parameters.
    """
    name = parse_strategy(strategy)
    p = np.asarray(probabilities)
    if is_plugin_strategy(name):
        needs = strategy_inputs(name)
        named = {}
        for method in UNCERTAINTY_METHODS:
            if method in needs:
                mean = p.mean(axis=0) if "bald" in needs else p  # MC samples: their mean
                named[method] = uncertainty_scores(mean, method=method, reduce=reduce)
        if "bald" in needs:
            named["bald"] = bald_scores(p, reduce=reduce)
        count = p.shape[1] if "bald" in needs else p.shape[0]
        return select(
            name,
            k,
            scores=named,
            embeddings=embeddings,
            labelled=labelled,
            n=int(count),
            rng=rng,
            is_duplicate=is_duplicate,
            params=params,
        )
    check_strategy_params(name, params)  # a built-in strategy takes none
    if name == "bald":
        scores = bald_scores(p, reduce=reduce)
    elif name in UNCERTAINTY_METHODS:
        scores = uncertainty_scores(p, method=name, reduce=reduce)
    else:
        scores = uncertainty_scores(p, reduce=reduce)
    return select(
        name,
        k,
        scores=scores,
        embeddings=embeddings,
        labelled=labelled,
        n=int(scores.size),
        rng=rng,
        is_duplicate=is_duplicate,
    )
