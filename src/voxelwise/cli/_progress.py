"""Progress bars for the CLI: adapt the library's ``progress(done, total)`` callbacks to tqdm."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["StageBar", "progress_bar"]


@contextlib.contextmanager
def progress_bar(
    description: str, *, enabled: bool = True, unit: str = "chunk"
) -> Iterator[Callable[[int, int], None]]:
    """Yield a ``progress(done, total)`` callback that drives one tqdm bar on stderr."""
    if not enabled:
        yield lambda done, total: None
        return
    from tqdm import tqdm

    bar = tqdm(
        desc=description, total=0, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True
    )

    def update(done: int, total: int) -> None:
        if total != bar.total or done < bar.n:  # a new stage starts counting again
            bar.reset(total=total)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


class StageBar:
    """One tqdm bar for a multi-stage run, labelled with the stage running now.

    ``progress(done, total)`` moves the bar (the run's overall share, shown in percent);
    ``on_stage(name, index, count)`` relabels it (``demo [4/15] features``) and prints one
    line for the stage that just ended, with its duration, so the terminal keeps a log.
    """

    def __init__(self, description: str, *, enabled: bool = True) -> None:
        self.description = description
        self.enabled = enabled
        self.bar: Any = None
        self.current: tuple[str, int, int] | None = None
        self.started = 0.0

    def __enter__(self) -> StageBar:
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                desc=self.description,
                total=100,
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}]",
            )
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            self._finish()
        if self.bar is not None:
            self.bar.close()

    def _finish(self) -> None:
        if self.bar is None or self.current is None:
            return
        name, index, count = self.current
        seconds = time.perf_counter() - self.started
        self.bar.write(
            f"{self.description} [{index + 1}/{count}] {name}: done in {seconds:.1f} s",
            file=sys.stderr,
        )

    def on_stage(self, name: str, index: int, count: int) -> None:
        if self.bar is None:
            return
        self._finish()
        self.current, self.started = (name, index, count), time.perf_counter()
        self.bar.set_description_str(f"{self.description} [{index + 1}/{count}] {name}")

    def progress(self, done: int, total: int) -> None:
        if self.bar is None:
            return
        percent = 100.0 * min(done, total) / total if total > 0 else 0.0
        self.bar.update(percent - self.bar.n)
