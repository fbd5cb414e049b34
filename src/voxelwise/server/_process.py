"""A voxelwise server in a subprocess (``voxelwise serve``), for tests, benchmarks and notebooks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["ServerProcess", "free_port"]

_LAUNCH = "import sys; from voxelwise.cli import main; sys.exit(main())"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``voxelwise serve`` on 127.0.0.1 in a subprocess.

    ``start()`` waits until ``GET /health`` answers; ``token`` is the admin token the server
    printed on its first start (None on later starts of the same data root). ``stop()`` ends it
    gracefully, ``kill()`` with SIGKILL. Usable as a context manager.

    Examples
    --------
    >>> with ServerProcess("/data", workers=1) as server:  # doctest: +SKIP
    ...     Client(server.url, server.token).health()
    """

    def __init__(
        self,
        data_root: str | os.PathLike[str],
        *,
        port: int | None = None,
        scheduler: str | None = None,
        workers: int = 1,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_root = Path(data_root)
        self.port = port or free_port()
        self.scheduler = scheduler
        self.workers = workers
        self.args = tuple(args)
        self.env = env
        self.token: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = Path(tempfile.mkstemp(prefix="voxelwise-server-", suffix=".log")[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """Everything the server printed so far."""
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def start(self, timeout: float = 120.0) -> ServerProcess:
        import httpx

        cmd = [
            sys.executable,
            "-c",
            _LAUNCH,
            "serve",
            "--data-root",
            str(self.data_root),
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
            *self.args,
        ]
        if self.scheduler:
            cmd += ["--scheduler", self.scheduler]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})}
        with open(self._log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"The server exited with {self.proc.returncode}:\n{self.log[-4000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            self.kill()
            raise TimeoutError(f"The server did not answer within {timeout} s:\n{self.log[-4000:]}")
        for line in self.log.splitlines():
            if line.startswith("admin token: "):
                self.token = line.split(": ", 1)[1].strip()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited after ``timeout`` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to clean up (its embedded workers exit with it)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.kill()
        self.proc.wait(30)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            self._log.unlink()
