"""Static checks run as part of the test suite, so the README's one test command runs them all."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool
    if not exe.exists():
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not installed (pip install -e '.[test]')")
        exe = Path(found)
    return subprocess.run([str(exe), *args], cwd=REPO, capture_output=True, text=True)


def test_ruff_lint():
    out = _run("ruff", "check", "src", "tests", "benchmarks")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format():
    out = _run("ruff", "format", "--check", "src", "tests", "benchmarks")
    assert out.returncode == 0, out.stdout + out.stderr


def test_import_contracts():
    out = _run("lint-imports")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr


@pytest.mark.slow
def test_mypy():
    out = _run("mypy")
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr
