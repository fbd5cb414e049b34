"""Error classes of the active-learning package (they extend :mod:`voxelwise.errors`)."""

from __future__ import annotations

from voxelwise.errors import VoxelwiseError

__all__ = [
    "ActiveLearningError",
    "CampaignBusyError",
    "CampaignExistsError",
    "CampaignNotFoundError",
    "EmptyPoolError",
    "PatchIndexError",
    "PoolSizeError",
    "StrategyError",
]


class ActiveLearningError(VoxelwiseError):
    """Base class for active-learning problems (bad requests, unusable models, ...)."""


class PoolSizeError(ActiveLearningError, ValueError):
    """More candidates were asked for than the pool holds."""


class EmptyPoolError(PoolSizeError):
    """No candidate patch is left to propose: the whole pool is labelled (or pending)."""


class PatchIndexError(ActiveLearningError, IndexError):
    """A patch index outside the campaign's pool."""


class StrategyError(ActiveLearningError, ValueError):
    """A strategy cannot run with what it was given (e.g. BALD with a model without dropout)."""


class CampaignNotFoundError(ActiveLearningError, KeyError):
    """No annotation campaign of that name in the workspace."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class CampaignExistsError(ActiveLearningError, FileExistsError):
    """A campaign of that name exists already (pass ``overwrite=True`` to replace it)."""


class CampaignBusyError(ActiveLearningError, RuntimeError):
    """Another process is updating (training) the campaign's model right now."""
