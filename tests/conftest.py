"""Shared fixtures: the real datasets in ../shared/data, small synthetic volumes, and the example
plugin package (built and installed into a temporary folder once per session, with pip
``--target``, no network, no build isolation, so its entry points come from a real
``.dist-info``; the folder is put on ``sys.path`` only for the tests that ask for
:func:`example_plugin`, and plugin filters registered meanwhile are removed afterwards)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture
def torch_one_thread():
    """Torch on one thread for the test (two shared cores: torch's own thread pool
    oversubscribes them badly); modules that train networks use it with
    ``pytestmark = pytest.mark.usefixtures("torch_one_thread")``."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only folder of real labelled volumes (``../shared/data`` next to the repo)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


EXAMPLE = REPO / "examples" / "voxelwise-example-plugin"


def _forget_plugins() -> None:
    from voxelwise.filters import FILTERS
    from voxelwise.plugins import refresh

    for name in [n for n in FILTERS if "." in n]:  # plugin filters have dotted names
        del FILTERS[name]
    for mod in [m for m in sys.modules if m.startswith("voxelwise_example_plugin")]:
        del sys.modules[mod]
    refresh()


@pytest.fixture(scope="session")
def example_site(tmp_path_factory):
    """Folder the example plugin is installed in (not on sys.path)."""
    missing = [m for m in ("pip", "setuptools") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} needed to install the example plugin (not found)")
    root = tmp_path_factory.mktemp("plugin")
    source = root / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = root / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation"]
    cmd += ["--no-index", "--quiet", "--target", str(target), str(source)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"installing the example plugin failed:\n{result.stdout}\n{result.stderr}")
    return target


@pytest.fixture
def example_plugin(example_site, monkeypatch):
    """The example plugin, installed and importable for one test."""
    monkeypatch.syspath_prepend(str(example_site))
    _forget_plugins()
    yield example_site
    monkeypatch.undo()
    _forget_plugins()
