"""Server configuration: one frozen object, built by the CLI (or a test) and injected everywhere."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

__all__ = ["DB_NAME", "EXPORTS_DIR", "STATE_DIR", "WORKSPACES_DIR", "ServerSettings"]

STATE_DIR = ".voxelwise"  # under the data root: server.sqlite, cancel flags
DB_NAME = "server.sqlite"
WORKSPACES_DIR = "workspaces"  # under the data root: NAME.vw folders
EXPORTS_DIR = "exports"  # under the data root: where layer exports are written

MiB = 2**20


@dataclass(frozen=True)
class ServerSettings:
    """Everything the server needs to know; the core library reads no configuration itself.

    Parameters
    ----------
    data_root : path
        Folder served: input volumes anywhere below it, workspaces in ``workspaces/``, exports in
        ``exports/``, the server's database and cancel flags in ``.voxelwise/``.
    scheduler : str, optional
        Address of an external dask scheduler (``tcp://host:8786``); default: an embedded
        cluster started with the server.
    n_workers : int
        Worker processes of the embedded cluster (each runs one job at a time).
    gpus : int, optional
        Extra embedded GPU workers (one per GPU, ``resources={"GPU": 1}``); default: as many as
        ``nvidia-smi -L`` lists.
    processes : bool
        Embedded workers as processes (default) or threads of the server (tests).
    job_scheduler : {"threads", "cluster"}
        Where a job's chunk tasks run: threads of the worker running the job (default), or
        spread over the whole cluster from inside the job (``distributed.worker_client``).
    max_request_bytes : int
        Larger request bodies are refused with 413.
    max_response_bytes : int
        Largest region a single ``/region`` request may read (uncompressed).
    sse_interval : float
        Seconds between checks for job changes in event streams.
    job_niceness : int, optional
        Embedded cluster: run jobs at this CPU niceness (default 10), so interactive requests
        (slices, strokes) keep the CPU when a long job competes for it.
    chunk_cache_bytes : int
        Memory for decoded chunks of layers that never change in place (0: no cache).
    """

    data_root: Path
    scheduler: str | None = None
    n_workers: int = 2
    gpus: int | None = None
    processes: bool = True
    job_scheduler: str = "threads"
    max_request_bytes: int = 8 * MiB
    max_response_bytes: int = 256 * MiB
    sse_interval: float = 0.25
    job_niceness: int | None = 10
    chunk_cache_bytes: int = 512 * MiB
    thread_limit: int = 64

    def __post_init__(self) -> None:
        root = Path(self.data_root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(
                f"The data root {root} is not a folder; create it or pass --data-root pointing "
                "at the folder that holds your volumes"
            )
        object.__setattr__(self, "data_root", root.resolve())
        if self.job_scheduler not in ("threads", "cluster"):
            raise ValueError(
                f"Expected job_scheduler 'threads' or 'cluster', got {self.job_scheduler!r}"
            )
        if int(self.n_workers) < 1:
            raise ValueError(f"Expected n_workers >= 1, got {self.n_workers!r} instead")

    @property
    def state_dir(self) -> Path:
        return self.data_root / STATE_DIR

    @property
    def db_path(self) -> Path:
        return self.state_dir / DB_NAME

    @property
    def cancel_dir(self) -> Path:
        return self.state_dir / "cancel"

    @property
    def workspaces_dir(self) -> Path:
        return self.data_root / WORKSPACES_DIR

    @property
    def exports_dir(self) -> Path:
        return self.data_root / EXPORTS_DIR

    def with_changes(self, **changes: Any) -> ServerSettings:
        return replace(self, **changes)

    def prepare(self) -> None:
        """Create the server's folders under the data root."""
        for folder in (self.state_dir, self.cancel_dir, self.workspaces_dir, self.exports_dir):
            folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
