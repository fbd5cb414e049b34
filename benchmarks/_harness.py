"""Shared helpers for the benchmark scripts: child processes with peak-RSS measurement.

Each figure that involves memory is measured in a fresh Python process, so one run's peak does
not hide another's. The child prints one JSON object as its last stdout line; the parent adds the
RSS it polled from outside (a cross-check of the child's own ``ru_maxrss``) and the wall time.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]

# Prepended to every child's code: a helper reporting the child's own peak RSS in MB.
CHILD_PRELUDE = r"""
import json, resource, sys, time
def peak_mb():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss * (1 if sys.platform == "darwin" else 1024) / 1e6  # bytes on macOS, KiB on Linux
"""


def run_child(code: str, *argv: str, poll_seconds: float = 0.05) -> dict[str, Any]:
    """Run ``code`` (after :data:`CHILD_PRELUDE`) in a fresh interpreter with ``argv``.

    Returns the JSON object of the child's last stdout line, plus ``polled_mb`` (peak RSS seen
    from outside) and ``wall_seconds``. Raises ``RuntimeError`` with the child's stderr on failure.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD_PRELUDE + code, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    polled = [0.0]

    def poll() -> None:
        try:
            p = psutil.Process(proc.pid)
            while proc.poll() is None:
                polled[0] = max(polled[0], p.memory_info().rss / 1e6)
                time.sleep(poll_seconds)
        except psutil.Error:
            pass

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    watcher.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{err[-4000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["polled_mb"] = polled[0]
    result["wall_seconds"] = wall
    return result


def machine_line() -> str:
    """One line describing this machine, printed at the top of every benchmark."""
    return (
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cpus, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, python {platform.python_version()}"
    )


def dir_size(path: Path) -> int:
    """Bytes in all files below ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
