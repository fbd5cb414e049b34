"""Batches of k: ranking with near-duplicate avoidance, random picks, the k checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from voxelwise._validate import parse_rng
from voxelwise.active._errors import EmptyPoolError, PoolSizeError

__all__ = ["Duplicate", "check_k", "greedy", "random_selection", "rank"]

#: ``is_duplicate(candidate, chosen)``: whether ``candidate`` nearly repeats one of ``chosen``.
Duplicate = Callable[[int, Sequence[int]], bool]


def check_k(k: Any, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise TypeError(f"Expected k as a whole number of candidates, got {k!r} instead")
    if k < 0:
        raise ValueError(f"Expected k >= 0, got {k} instead")
    if n == 0 and k > 0:
        raise EmptyPoolError(
            "The pool has no candidate left (everything is labelled or already proposed); "
            "enlarge the pool (another region or a smaller stride) or stop the campaign"
        )
    if k > n:
        raise PoolSizeError(
            f"Expected k <= {n} (the candidates in the pool), got k={k} instead; ask for at "
            f"most {n} patches, or enlarge the pool (another region or a smaller stride)"
        )
    return int(k)


def greedy(order: Sequence[int], k: int, is_duplicate: Duplicate | None) -> list[int]:
    """The first ``k`` of ``order`` that are no duplicates, then skipped ones if too few."""
    chosen: list[int] = []
    skipped: list[int] = []
    for i in order:
        if len(chosen) == k:
            break
        if is_duplicate is not None and chosen and is_duplicate(int(i), chosen):
            skipped.append(int(i))
        else:
            chosen.append(int(i))
    chosen += skipped[: k - len(chosen)]
    return chosen


def rank(scores: Any, k: int, *, is_duplicate: Duplicate | None = None) -> np.ndarray:
    """Indices of the ``k`` highest ``scores`` (ties by lower index), skipping duplicates."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    k = check_k(k, s.size)
    order = np.lexsort((np.arange(s.size), -np.nan_to_num(s, nan=-np.inf)))
    return np.asarray(greedy(order.tolist(), k, is_duplicate), dtype=np.int64)


def random_selection(
    n: int,
    k: int,
    *,
    rng: np.random.Generator | int | None = None,
    is_duplicate: Duplicate | None = None,
) -> np.ndarray:
    """``k`` of ``n`` candidates uniformly at random (no duplicates when avoidable)."""
    k = check_k(k, int(n))
    order = parse_rng(rng).permutation(int(n))
    return np.asarray(greedy(order.tolist(), k, is_duplicate), dtype=np.int64)
