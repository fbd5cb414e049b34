"""Active learning: choose what to annotate next, for deep and shallow models.

Pool
    :class:`Pool` lays candidate patches (2D patches across any axis, or 3D windows) over a
    region of a volume; candidates already labelled are excluded, and reading and scanning go
    block by block, so a pool over a huge volume needs bounded memory.
Strategies (plain NumPy)
    random; maximum entropy (summed pixel-wise entropy, the default); least confidence;
    margin; BALD from Monte-Carlo dropout samples; k-means on embeddings (the candidate nearest
    each centroid); core-set (greedy k-center); hybrid (the most uncertain, spread by k-means).
    :func:`select` picks a batch of k without near-duplicates; :func:`select_from_probabilities`
    works on any model's probabilities, e.g. a shallow classifier's per-supervoxel ``(N, C)``
    probabilities; :func:`score_probabilities` scores a pool from a stored probability volume.
Campaign
    :class:`Campaign` on a workspace: :meth:`~Campaign.propose` ranked patches (location,
    axis, score, preview), :meth:`~Campaign.submit` the expert's labels,
    :meth:`~Campaign.update` fine-tunes the deep model from its last weights on all labels;
    every round is recorded in the workspace catalog, so a campaign resumes and can be audited.
Simulation
    :func:`simulate` answers proposals from ground truth (BioSegment's protocol) and writes
    learning curves (CSV, PNG) per strategy with the full-supervision line.

``import voxelwise.active`` does not import torch; names load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "UNCERTAINTY_METHODS",
    "ActiveLearningError",
    "Campaign",
    "CampaignBusyError",
    "CampaignExistsError",
    "CampaignNotFoundError",
    "EmptyPoolError",
    "PatchIndexError",
    "Pool",
    "PoolScores",
    "PoolSizeError",
    "Proposal",
    "Selection",
    "SimulationResult",
    "StrategyError",
    "bald_scores",
    "coreset_selection",
    "hybrid_selection",
    "kmeans",
    "kmeans_selection",
    "list_campaigns",
    "parse_strategy",
    "pixel_uncertainty",
    "random_selection",
    "rank",
    "score_probabilities",
    "score_with_model",
    "select",
    "select_from_probabilities",
    "simulate",
    "uncertainty_scores",
]

_WHERE = {
    "ActiveLearningError": "_errors",
    "CampaignBusyError": "_errors",
    "CampaignExistsError": "_errors",
    "CampaignNotFoundError": "_errors",
    "EmptyPoolError": "_errors",
    "PatchIndexError": "_errors",
    "PoolSizeError": "_errors",
    "StrategyError": "_errors",
    "DEFAULT_STRATEGY": "_strategies",
    "STRATEGIES": "_strategies",
    "UNCERTAINTY_METHODS": "_strategies",
    "Selection": "_strategies",
    "bald_scores": "_strategies",
    "coreset_selection": "_strategies",
    "hybrid_selection": "_strategies",
    "kmeans": "_strategies",
    "kmeans_selection": "_strategies",
    "parse_strategy": "_strategies",
    "pixel_uncertainty": "_strategies",
    "random_selection": "_strategies",
    "rank": "_strategies",
    "select": "_strategies",
    "select_from_probabilities": "_strategies",
    "uncertainty_scores": "_strategies",
    "Pool": "_pool",
    "PoolScores": "_scoring",
    "score_probabilities": "_scoring",
    "score_with_model": "_deep",
    "Campaign": "_campaign",
    "Proposal": "_campaign",
    "list_campaigns": "_campaign",
    "SimulationResult": "_simulate",
    "simulate": "_simulate",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"voxelwise.active.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'voxelwise.active' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
