"""Running jobs on dask.distributed: an embedded local cluster, or an external one.

The server submits each job as one task (:func:`voxelwise.server._tasks.run_job`) and follows
it two ways: workers publish start, progress and log events on a topic of the scheduler's event
log, which a recorder thread writes into the job table; and the task's future, when done, gives
the final state (a worker that dies mid-job makes dask retry the task on another worker, and
fail it once workers keep dying). Jobs run in worker processes, never in the server's, so a
long training leaves the server free to answer slice requests.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from voxelwise.errors import VoxelwiseError
from voxelwise.server._jobs import JobStore
from voxelwise.server._settings import ServerSettings
from voxelwise.server._tasks import run_job

__all__ = ["JobRunner", "NoGpuWorkerError", "count_gpus"]

log = logging.getLogger("voxelwise.server.jobs")


CPU_RESOURCE = "voxelwise-cpu"


class NoGpuWorkerError(VoxelwiseError, FileExistsError):
    """A GPU job was asked for and no worker offers the ``GPU`` resource."""


def count_gpus() -> int:
    """Number of NVIDIA GPUs ``nvidia-smi -L`` lists (0 without the tool)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return 0
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def _security() -> dict[str, Any]:
    """Mutual TLS with throw-away certificates, so other local users cannot submit code to the
    embedded cluster (needs ``cryptography``; plain TCP on loopback otherwise)."""
    try:
        from distributed.security import Security

        return {"security": Security.temporary(), "protocol": "tls://"}
    except ImportError:
        log.warning(
            "the embedded cluster listens on 127.0.0.1 without TLS (pip install cryptography "
            "to protect it from other users of this machine)"
        )
        return {}


def _embedded_cluster(settings: ServerSettings) -> tuple[Any, int]:
    from distributed import LocalCluster

    gpus = settings.gpus if settings.gpus is not None else count_gpus()
    network: dict[str, Any] = {}
    if settings.processes:
        network = {"host": "127.0.0.1", "scheduler_port": 0, "dashboard_address": "127.0.0.1:0"}
        network.update(_security())
    else:
        network = {"dashboard_address": None}
    cluster = LocalCluster(
        n_workers=int(settings.n_workers),
        threads_per_worker=1,
        processes=settings.processes,
        silence_logs=logging.WARNING,
        resources={CPU_RESOURCE: 1},  # CPU jobs ask for it, so they leave GPU workers free
        **network,
    )
    if gpus:
        template = cluster.new_spec
        for i in range(gpus):
            options = {**template["options"], "resources": {"GPU": 1}}
            if settings.processes:
                options["env"] = {"CUDA_VISIBLE_DEVICES": str(i)}
            cluster.worker_spec[f"gpu-{i}"] = {"cls": template["cls"], "options": options}
        cluster.sync(cluster._correct_state)
        cluster.wait_for_workers(int(settings.n_workers) + gpus, timeout=120)
    return cluster, gpus


class JobRunner:
    """Submits jobs to the cluster and keeps the job table up to date."""

    def __init__(self, settings: ServerSettings, jobs: JobStore, server_id: str) -> None:
        self.settings = settings
        self.jobs = jobs
        self.topic = f"voxelwise-jobs-{server_id}"
        self.client: Any = None
        self.cluster: Any = None
        self._futures: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._recorder = threading.Thread(target=self._record, name="vw-job-events", daemon=True)
        embedded = settings.scheduler is None and settings.processes
        self._niceness = settings.job_niceness if embedded else None
        self._cpu_resources = {CPU_RESOURCE: 1} if settings.scheduler is None else None

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        lost = self.jobs.interrupt_lost()
        for job_id in lost:  # a worker of an external cluster may still run it: stop it
            self._flag(job_id)
        self._clean_flags(keep=set(lost))
        if lost:
            log.warning(
                "marked %d job(s) interrupted: the server stopped while they ran", len(lost)
            )
        from distributed import Client

        if self.settings.scheduler:
            try:
                self.client = Client(self.settings.scheduler, timeout="20s", set_as_default=False)
            except OSError as e:
                raise ConnectionError(
                    f"Could not reach the dask scheduler at {self.settings.scheduler!r}: {e}. "
                    "Start it first (`dask scheduler`) or leave --scheduler out to run an "
                    "embedded cluster"
                ) from e
        else:
            self.cluster, _ = _embedded_cluster(self.settings)
            self.client = Client(self.cluster, set_as_default=False)
        self.client.subscribe_topic(self.topic, self._on_event)
        self._recorder.start()

    def close(self) -> None:
        """Stop: jobs still active become interrupted (and their workers are told to stop)."""
        with self._lock:
            active = list(self._futures)
            self._futures.clear()
        for job_id in active:
            self._flag(job_id)
            self.jobs.finish(
                job_id, "interrupted", message="the server stopped before the job finished"
            )
        self._events.put(None)
        if self._recorder.is_alive():
            self._recorder.join(timeout=5)
        with contextlib.suppress(Exception):
            if self.client is not None:
                self.client.unsubscribe_topic(self.topic)
                self.client.close(timeout=10)
        with contextlib.suppress(Exception):
            if self.cluster is not None:
                self.cluster.close(timeout=10)

    # -- cluster --------------------------------------------------------------------------------

    def workers(self) -> list[dict[str, Any]]:
        info = self.client.scheduler_info(n_workers=-1) if self.client is not None else {}
        return [
            {
                "address": addr,
                "nthreads": int(w.get("nthreads", 0)),
                "resources": dict(w.get("resources") or {}),
                "memory_limit": int(w.get("memory_limit") or 0),
            }
            for addr, w in (info.get("workers") or {}).items()
        ]

    def gpu_workers(self) -> int:
        return sum(1 for w in self.workers() if w["resources"].get("GPU", 0) >= 1)

    def check_gpu(self) -> None:
        """Refuse a GPU job when no worker could ever take it (the embedded cluster has none)."""
        if self.gpu_workers() or self.settings.scheduler:
            return
        raise NoGpuWorkerError(
            "No worker offers a GPU: start the server with --gpus N on a machine with GPUs, "
            "connect it to a cluster with GPU workers (--scheduler; `dask worker ... --resources "
            "GPU=1`), or use device 'cpu'"
        )

    # -- jobs -----------------------------------------------------------------------------------

    def submit(self, job: dict[str, Any]) -> None:
        future = self.client.submit(
            run_job,
            job["id"],
            job["kind"],
            job["workspace"],
            job["params"],
            data_root=str(self.settings.data_root),
            topic=self.topic,
            owner=job["owner"],
            job_scheduler=self.settings.job_scheduler,
            niceness=self._niceness,
            key=f"voxelwise-job-{job['id']}",
            pure=False,
            resources={"GPU": 1} if job["gpu"] else self._cpu_resources,
        )
        with self._lock:
            self._futures[job["id"]] = future
        future.add_done_callback(functools.partial(self._done, job["id"]))

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.request_cancel(job_id)
        self._flag(job_id)
        if job["state"] == "queued":
            with self._lock:
                future = self._futures.get(job_id)
            if future is not None:
                future.cancel()
            else:  # not known to this server: nothing will ever run it
                self.jobs.finish(job_id, "cancelled", message="cancelled before it started")
        return self.jobs.get(job_id)

    def is_tracked(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._futures

    def _flag_path(self, job_id: str) -> Path:
        return self.settings.cancel_dir / job_id

    def _flag(self, job_id: str) -> None:
        with contextlib.suppress(OSError):
            self.settings.cancel_dir.mkdir(parents=True, exist_ok=True)
            self._flag_path(job_id).touch()

    def _clean_flags(self, keep: set[str]) -> None:
        folder = self.settings.cancel_dir
        if not folder.is_dir():
            return
        horizon = time.time() - 24 * 3600
        for flag in folder.iterdir():
            with contextlib.suppress(OSError):
                if flag.name not in keep and flag.stat().st_mtime < horizon:
                    flag.unlink()

    def _done(self, job_id: str, future: Any) -> None:
        with self._lock:
            tracked = self._futures.pop(job_id, None) is not None
        if not tracked:  # the server is closing; close() has accounted for the job
            return
        try:
            self._settle(job_id, future)
        except Exception:
            log.exception("could not record the end of job %s", job_id)
        finally:
            with contextlib.suppress(OSError):
                self._flag_path(job_id).unlink(missing_ok=True)

    def _settle(self, job_id: str, future: Any) -> None:
        status = future.status
        if status == "cancelled":
            self.jobs.finish(job_id, "cancelled", message="cancelled before it started")
            return
        if status == "finished":
            out = future.result()
            if out.get("run"):  # in case its start event is still on its way
                self.jobs.started(job_id, str(out["run"]), str(out.get("worker")))
            state = out.get("status", "failed")
            if state == "succeeded":
                self.jobs.finish(job_id, "succeeded", result=out.get("result"), message="done")
            elif state == "cancelled":
                self.jobs.finish(job_id, "cancelled", message="cancelled")
            else:
                error = str(out.get("error")).replace(f"{self.settings.data_root}/", "")
                self.jobs.finish(job_id, "failed", error=error)
            return
        exc = future.exception()
        self.jobs.finish(
            job_id,
            "failed",
            error=f"The worker running the job was lost ({type(exc).__name__}: {exc}); the "
            "workspace is unchanged, resubmit the job",
        )

    # -- events from workers --------------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        msg = event[1] if isinstance(event, tuple) and len(event) == 2 else event
        if isinstance(msg, dict):
            self._events.put(msg)

    def _record(self) -> None:
        while True:
            msg = self._events.get()
            if msg is None:
                return
            try:
                self._apply(msg)
            except Exception:
                log.exception("could not record a job event %r", msg)

    def _apply(self, msg: dict[str, Any]) -> None:
        job_id, run, kind = str(msg.get("job")), str(msg.get("run")), msg.get("type")
        if kind == "start":
            self.jobs.started(job_id, run, str(msg.get("worker")))
        elif kind == "progress":
            self.jobs.progress(
                job_id, run, float(msg.get("fraction", 0.0)), str(msg.get("message", ""))
            )
        elif kind == "log":
            self.jobs.log(job_id, str(msg.get("message", "")), level=str(msg.get("level", "info")))
