"""Proposal records: one patch proposed for annotation, as a plain JSON-able value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Proposal"]


@dataclass(frozen=True)
class Proposal:
    """One patch proposed for annotation.

    Attributes
    ----------
    index : int
        The candidate's index in the campaign's pool (its id in every later call).
    round, rank : int
        The round it was proposed in, and its rank in that batch (0 = most wanted).
    strategy : str
        The strategy that picked it ('random' while no model exists yet).
    score : float
        The strategy's score (uncertainty; for 'kmeans' the cluster's share; for 'coreset'
        the distance to the labelled set; 0 for 'random').
    axis : str or None
        The axis a 2D patch lies across; None for 3D windows.
    start, stop : (int, int, int)
        The patch's region (z, y, x), half-open.
    preview : str, optional
        Base64 PNG: the patch, and the current model's prediction beside it.
    """

    index: int
    round: int
    rank: int
    strategy: str
    score: float
    axis: str | None
    start: tuple[int, int, int]
    stop: tuple[int, int, int]
    preview: str | None = field(default=None, compare=False)

    @property
    def roi(self) -> str:
        """The region as ``"z0:z1,y0:y1,x0:x1"``."""
        return ",".join(f"{a}:{b}" for a, b in zip(self.start, self.stop))

    def to_dict(self, *, preview: bool = True) -> dict[str, Any]:
        """A plain JSON-able dict (``preview=False`` leaves the image out)."""
        out: dict[str, Any] = {
            "index": self.index,
            "round": self.round,
            "rank": self.rank,
            "strategy": self.strategy,
            "score": self.score,
            "axis": self.axis,
            "start": list(self.start),
            "stop": list(self.stop),
            "roi": self.roi,
        }
        if preview:
            out["preview"] = self.preview
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Proposal:
        return cls(
            index=int(d["index"]),
            round=int(d["round"]),
            rank=int(d["rank"]),
            strategy=str(d["strategy"]),
            score=float(d["score"] or 0.0),
            axis=d["axis"],
            start=tuple(d["start"]),
            stop=tuple(d["stop"]),
            preview=d.get("preview"),
        )
