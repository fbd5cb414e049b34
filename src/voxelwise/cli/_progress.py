"""Progress bars for the CLI: adapt the library's ``progress(done, total)`` callbacks to tqdm."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

__all__ = ["progress_bar"]


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
