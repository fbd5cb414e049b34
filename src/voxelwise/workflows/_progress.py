"""Progress of a multi-stage run (a workflow's steps, the demo's pipeline) on one callback.

Each stage's own ``progress(done, total)`` (chunks of a filter, epochs of a network, tiles of a
prediction) fills that stage's share of one overall ``progress(done, total)``, never going
back when a stage runs several passes that each count from zero. ``on_stage(name, index,
count)`` is called as each stage starts, so a front-end can show which one is running.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from voxelwise._compute import ProgressCallback

__all__ = ["StageCallback", "Stages"]

#: ``on_stage(name, index, count)``: stage ``index`` (from 0) of ``count`` named ``name`` starts.
StageCallback = Callable[[str, int, int], None]


class Stages:
    """Times named stages and maps each one's progress onto one ``progress(done, total)``.

    >>> seen = []
    >>> stages = Stages(lambda d, t: seen.append((d, t)), 2)
    >>> with stages("first") as p:
    ...     p(1, 2)
    ...     p(0, 5)  # a second pass counting from zero does not go back
    >>> seen
    [(500, 2000), (500, 2000), (1000, 2000)]
    """

    UNIT = 1000

    def __init__(
        self, progress: ProgressCallback | None, n: int, on_stage: StageCallback | None = None
    ) -> None:
        self.progress, self.n, self.on_stage = progress, max(int(n), 1), on_stage
        self.index = 0
        self.times: dict[str, float] = {}

    def _callback(self) -> ProgressCallback | None:
        if self.progress is None:
            return None
        base, report, best = self.index * self.UNIT, self.progress, [0]

        def call(done: int, total: int) -> None:
            share = self.UNIT * min(max(done, 0), total) // total if total > 0 else self.UNIT
            best[0] = max(best[0], share)
            report(base + best[0], self.n * self.UNIT)

        return call

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[ProgressCallback | None]:
        if self.on_stage is not None:
            self.on_stage(name, self.index, self.n)
        start = time.perf_counter()
        yield self._callback()
        self.times[name] = time.perf_counter() - start
        self.index = min(self.index + 1, self.n)
        if self.progress is not None:
            self.progress(self.index * self.UNIT, self.n * self.UNIT)
