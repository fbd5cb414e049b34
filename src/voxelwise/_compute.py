"""Run dask graphs chunk by chunk, locally or on a dask.distributed cluster, with progress.

This is the one place that knows about schedulers. Everything that touches a whole volume
(format conversion, workspace layers, blockwise filters) goes through :func:`store_chunks`
(write a lazy array into a chunked target) or :func:`compute` (reduce to small results).

``scheduler`` is one of

- ``None`` or ``"threads"``: the local threaded scheduler (the default);
- ``"sync"``: single-threaded, for debugging;
- ``"tcp://host:port"`` (or any address ``distributed.Client`` accepts): a running dask
  cluster, e.g. started by dask-jobqueue on HPC; its workers must see the same files;
- a ``distributed.Client`` instance, used as it is and left open.

``progress`` is a callable ``progress(done, total)`` called as chunks finish, in the calling
thread. It may raise :class:`~voxelwise.errors.CancelledError` to stop the work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.callbacks import Callback
from dask.system import CPU_COUNT

from voxelwise._optional import optional_import
from voxelwise.errors import CancelledError

__all__ = ["ProgressCallback", "Scheduler", "compute", "is_distributed", "store_chunks"]

ProgressCallback = Callable[[int, int], None]
Scheduler = Any  # None | str | distributed.Client

_LOCAL = (None, "threads", "threading", "sync", "synchronous", "single-threaded")


def is_distributed(scheduler: Scheduler) -> bool:
    """Whether ``scheduler`` names a dask.distributed cluster rather than a local scheduler."""
    return scheduler not in _LOCAL


@contextlib.contextmanager
def _client(scheduler: Scheduler) -> Iterator[Any]:
    distributed = optional_import("distributed", feature=f"scheduler={scheduler!r}")
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if not isinstance(scheduler, str):
        raise TypeError(
            f"Expected scheduler as None, 'threads', 'sync', a cluster address like "
            f"'tcp://127.0.0.1:8786' or a distributed.Client, got {scheduler!r} instead"
        )
    try:
        client = distributed.Client(scheduler, timeout="20s", set_as_default=False)
    except OSError as e:
        raise ConnectionError(
            f"Could not reach the dask scheduler at {scheduler!r}: {e}. Start it first "
            "(`dask scheduler`) or leave scheduler unset to run locally"
        ) from e
    try:
        yield client
    finally:
        client.close()


class _CountTasks(Callback):
    """Local-scheduler callback that reports finished tasks whose key starts with ``prefix``."""

    def __init__(self, prefix: str, total: int, progress: ProgressCallback) -> None:
        super().__init__()
        self.prefix = prefix
        self.total = total
        self.done = 0
        self.progress = progress

    def _start_state(self, dsk: Any, state: Any) -> None:
        if not self.total:  # count every task when no prefix selects the interesting ones
            self.total = len(state["ready"]) + len(state["waiting"])

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, id: Any) -> None:
        if _key_name(key).startswith(self.prefix):
            self.done += 1
            self.progress(self.done, self.total)


def _key_name(key: Any) -> str:
    return str(key[0] if isinstance(key, tuple) else key)


def _local_scheduler(scheduler: Scheduler) -> str:
    return "sync" if scheduler in ("sync", "synchronous", "single-threaded") else "threads"


def _write_block(block: np.ndarray, target: Any, block_info: dict | None = None) -> np.ndarray:
    loc = block_info[0]["array-location"]  # type: ignore[index]
    target[tuple(slice(a, b) for a, b in loc)] = block
    return np.ones((1,) * block.ndim, dtype=bool)


def store_chunks(
    source: da.Array,
    target: Any,
    *,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> None:
    """Compute ``source`` chunk by chunk and write each chunk into ``target``.

    Parameters
    ----------
    source : dask array
        Lazy array of the same shape as ``target``.
    target : zarr array or array-like supporting ``target[slices] = block``
        Where the chunks go. When it has ``.shards`` or ``.chunks`` (zarr), ``source`` is
        rechunked to that grid, so no two tasks ever write the same stored chunk or shard.
    scheduler, progress
        See the module docstring.

    Notes
    -----
    Memory stays bounded by a few chunks per worker thread plus whatever the source graph
    holds (dask orders the tasks so finished inputs are released early).
    """
    if tuple(source.shape) != tuple(target.shape):
        raise ValueError(
            f"Expected source and target of the same shape, got {source.shape} and {target.shape}"
        )
    grid = getattr(target, "shards", None) or getattr(target, "chunks", None)
    if grid is not None and isinstance(grid[0], int):
        source = source.rechunk(tuple(grid))
    written = da.map_blocks(
        _write_block,
        source,
        target=target,
        dtype=bool,
        chunks=tuple((1,) * len(c) for c in source.chunks),
        name=f"vw-store-{dask.base.tokenize(source, id(target))}",
        meta=np.empty((0,) * source.ndim, dtype=bool),
    )
    compute(written, scheduler=scheduler, progress=progress, _count_prefix="vw-store-")


def compute(
    *collections: Any,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
    _count_prefix: str | None = None,
) -> tuple[Any, ...]:
    """Compute dask collections on the chosen scheduler, reporting progress per task.

    Returns a tuple with one result per collection, like :func:`dask.compute`.
    """
    if not is_distributed(scheduler):
        cbs = []
        if progress is not None:
            total = sum(int(np.prod(c.numblocks)) for c in collections) if _count_prefix else 0
            cb: Callback = _CountTasks(_count_prefix or "", total, progress)
            cbs.append(cb)
        with contextlib.ExitStack() as stack:
            for cb in cbs:
                stack.enter_context(cb)
            if _local_scheduler(scheduler) == "sync":
                return dask.compute(*collections, scheduler="sync")
            # A pool of our own, shut down with wait=True: when a task fails or progress raises
            # CancelledError, no task is still writing after compute() returns or raises.
            pool = ThreadPoolExecutor(max_workers=dask.config.get("num_workers", None) or CPU_COUNT)
            try:
                return dask.compute(*collections, scheduler="threads", pool=pool)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    distributed = optional_import("distributed", feature="a distributed scheduler")
    with _client(scheduler) as client:
        persisted = client.persist(list(collections))
        futures = distributed.futures_of(persisted)
        if _count_prefix is not None:
            futures = [f for f in futures if _key_name(f.key).startswith(_count_prefix)] or futures
        total = len(futures)
        done = 0
        try:
            for fut in distributed.as_completed(futures, loop=client.loop):
                if fut.status == "error":
                    fut.result()  # re-raise the task's exception here
                done += 1
                if progress is not None:
                    progress(done, total)
            return tuple(client.gather(client.compute(persisted)))
        except (CancelledError, KeyboardInterrupt):
            client.cancel(futures)
            raise
