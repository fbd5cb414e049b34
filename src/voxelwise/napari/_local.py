"""A local voxelwise server on 127.0.0.1, started by the plugin for work without a remote one.

The server runs ``voxelwise serve`` in a subprocess (the plugin and the server are separate
front-ends; the plugin only talks HTTP to it). On the first start of a data root the server
prints the admin token; on later starts the plugin asks ``voxelwise users add admin --token``
for a fresh one.
"""

from __future__ import annotations

import atexit
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

from voxelwise.napari._errors import LocalServerError

__all__ = ["LocalServer"]

_LAUNCH = "import sys; from voxelwise.cli import main; sys.exit(main())"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    """``voxelwise serve`` on 127.0.0.1 for ``data_root``, in a subprocess.

    Parameters
    ----------
    data_root : str or Path
        The folder served: its volumes can become workspaces (kept under ``workspaces/``).
    port : int, optional
        Default: a free port.
    workers : int
        Worker processes of the server's embedded cluster.

    Examples
    --------
    >>> with LocalServer("/data/em") as server:  # doctest: +SKIP
    ...     Client(server.url, server.token).workspaces()
    """

    def __init__(
        self, data_root: str | os.PathLike[str], *, port: int | None = None, workers: int = 1
    ) -> None:
        root = Path(data_root)
        if not root.is_dir():
            raise LocalServerError(
                f"Expected an existing folder as the data root, got {str(root)!r}; choose the "
                "folder holding your volumes"
            )
        self.data_root = root
        self.port = int(port) if port else _free_port()
        self.workers = int(workers)
        self.token: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        fd, log = tempfile.mkstemp(prefix="voxelwise-napari-server-", suffix=".log")
        os.close(fd)
        self._log = Path(log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """Everything the server printed so far."""
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _cli(self, *args: str) -> list[str]:
        return [sys.executable, "-c", _LAUNCH, *args]

    def start(self, timeout: float = 120.0) -> LocalServer:
        """Start the server and wait until it answers; sets ``token``."""
        import httpx

        cmd = self._cli(
            "serve",
            "--data-root",
            str(self.data_root),
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
        )
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self._log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        atexit.register(self.stop)  # never leave a server behind when napari exits
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise LocalServerError(
                    f"The local server exited with code {self.proc.returncode}; its log:\n"
                    f"{self.log[-2000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise LocalServerError(
                    f"The local server did not answer within {timeout:g} s; its log:\n"
                    f"{self.log[-2000:]}"
                )
            time.sleep(0.2)
        for line in self.log.splitlines():
            if line.startswith("admin token: "):
                self.token = line.split(": ", 1)[1].strip()
        if self.token is None:
            self.token = self._issue_token()
        return self

    def _issue_token(self) -> str:
        cmd = self._cli("users", "add", "admin", "--token", "--data-root", str(self.data_root))
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        for line in done.stdout.splitlines():
            if line.startswith("token: "):
                return line.split(": ", 1)[1].strip()
        raise LocalServerError(
            "The local server runs but no admin token could be issued "
            f"(voxelwise users add admin --token): {done.stderr.strip()[-500:]}"
        )

    def stop(self, timeout: float = 30.0) -> None:
        """End the server (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        atexit.unregister(self.stop)
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            self._log.unlink()
