"""Proposal helpers of a campaign: scoring candidates with its model, and previews."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voxelwise.active._plugins import is_plugin_strategy, strategy_inputs
from voxelwise.active._pool import Pool
from voxelwise.active._strategies import UNCERTAINTY_METHODS, select

if TYPE_CHECKING:
    from voxelwise.active._campaign import Campaign

__all__ = ["previews", "select_with_model"]


def select_with_model(
    c: Campaign,
    name: str,
    k: int,
    model: Path,
    pool: Pool,
    cand: np.ndarray,
    labelled: np.ndarray,
    gen: np.random.Generator,
    dup: Any,
    progress: Callable[[int, int], None] | None,
    params: dict[str, Any] | None = None,
) -> Any:
    from voxelwise.active._deep import as_deep_model, score_with_model

    needs: set[str] = set()
    plugin = is_plugin_strategy(name)
    if plugin:  # what the plugin takes: uncertainties, embeddings (its own and the labelled)
        takes = set(strategy_inputs(name))
        needs |= takes & {*UNCERTAINTY_METHODS, "bald"}
        if takes & {"embeddings", "labelled"}:
            needs.add("embeddings")
    if name in UNCERTAINTY_METHODS or name == "bald":
        needs.add(name)
    if name in ("kmeans", "coreset", "hybrid"):
        needs.add("embeddings")
    if name == "hybrid":
        needs.add("entropy")
    net = as_deep_model(model)
    common = {"device": c.params["device"], "rng": gen}
    scored = score_with_model(
        net,
        c._image(),
        pool,
        cand,
        needs=needs,
        mc_samples=c.params["mc_samples"],
        progress=progress,
        **common,
    )
    ref = None
    wants_labelled = plugin and "labelled" in strategy_inputs(name)
    if (name == "coreset" or wants_labelled) and labelled.size:
        ref = score_with_model(
            net, c._image(), pool, labelled, needs={"embeddings"}, **common
        ).embeddings
    key = "entropy" if name == "hybrid" else name
    return select(
        name,
        k,
        scores=dict(scored.scores) if plugin else scored.scores.get(key),
        embeddings=scored.embeddings,
        labelled=ref,
        n=int(cand.size),
        rng=gen,
        is_duplicate=dup,
        params=params,
    )


def previews(c: Campaign, picked: np.ndarray, pool: Pool, model: Path | None) -> dict[int, str]:
    from voxelwise.active._preview import preview_png

    patches = pool.read(c._image(), picked)
    preds: list[Any] = [None] * len(picked)
    if model is not None:
        from voxelwise.active._deep import as_deep_model, predict_patches

        probs = predict_patches(as_deep_model(model), patches, device=c.params["device"])
        preds = list(probs.argmax(axis=1))
    return {int(i): preview_png(p, q) for i, p, q in zip(picked, patches, preds)}
