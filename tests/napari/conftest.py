"""Fixtures of the napari plugin tests: a real server (``voxelwise serve`` on 127.0.0.1) over a
data root holding a small crop of the Drosophila VNC ssTEM stack, and the dock widget.

GUI tests need napari, pytest-qt and a display (pytest-xvfb starts Xvfb; or run under
``xvfb-run -a``); without them they are skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

CROP = (slice(0, 6), slice(256, 384), slice(256, 384))


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = None
    if not _has_display():
        skip = pytest.mark.skip(reason="no display: install xvfb (pytest-xvfb) or use xvfb-run")
    else:
        try:
            import pytestqt  # noqa: F401

            import napari  # noqa: F401
        except ImportError as e:
            skip = pytest.mark.skip(
                reason=f"napari GUI stack missing ({e}); pip install voxelwise[napari]"
            )
    if skip is None:
        return
    here = Path(__file__).parent
    for item in items:
        if "gui" in item.keywords and here in Path(str(item.fspath)).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def vnc_crop(shared_data: Path) -> np.ndarray:
    """(6, 128, 128) uint8 crop of the VNC raw sections 00-05."""
    folder = shared_data / "drosophila_vnc_sstem" / "stack1" / "raw"
    z, y, x = CROP
    return np.stack(
        [tifffile.imread(folder / f"{i:02d}.tif")[y, x] for i in range(z.start, z.stop)]
    )


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory, vnc_crop: np.ndarray) -> Path:
    root = tmp_path_factory.mktemp("napari-root")
    tifffile.imwrite(root / "vnc.tif", vnc_crop)
    return root


@pytest.fixture(scope="session")
def server(data_root: Path):
    """``voxelwise serve`` on 127.0.0.1 with one worker; ``server.url``, ``server.token``."""
    from voxelwise.server import ServerProcess

    with ServerProcess(data_root, workers=1) as proc:
        assert proc.token, proc.log
        yield proc


MANIFEST = Path(__file__).parents[2] / "src" / "voxelwise" / "napari" / "napari.yaml"


@pytest.fixture
def plugin() -> str:
    """The voxelwise manifest registered with npe2 (as the entry point does once installed)."""
    import npe2

    pm = npe2.PluginManager.instance()
    if "voxelwise" not in pm:
        pm.register(npe2.PluginManifest.from_file(MANIFEST))
    return "voxelwise"


@pytest.fixture
def widget(make_napari_viewer, qtbot, plugin):
    """The dock widget opened the way napari opens it (Plugins > voxelwise), in a shown viewer
    (screenshots need a shown window)."""
    viewer = make_napari_viewer(show=True)
    _dock, w = viewer.window.add_plugin_dock_widget(plugin, "voxelwise")
    yield w
    qtbot.waitUntil(lambda: w.busy == 0, timeout=60_000)
    w.close_session()
