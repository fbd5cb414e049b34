"""Memory of the napari plugin while browsing a large remote volume.

A real server (``voxelwise serve`` on 127.0.0.1) serves a workspace made from a synthetic EM
volume of ``--gb`` GB (default 2; uint8, 512 x 2048 x 2048 for 2 GB, tiled from
:func:`voxelwise.data.synthetic_em`). A shown napari viewer with the voxelwise dock widget
connects, opens the workspace (the raw image arrives as a lazy multiscale layer whose chunks
come over HTTP when napari draws them) and browses: it steps through ``--steps`` z positions
across the whole stack at the overview zoom, then zooms in to full resolution at several places
and pans. The plugin's process (napari, Qt and the client; the server is another process)
reports its resident memory before and after opening and at the peak, and how many chunks and
bytes it fetched.

Prints ``volume_gb``, ``rss_before_open_mb``, ``rss_peak_mb``, ``rss_end_mb``,
``rss_growth_mb`` (peak minus before open), ``chunks_fetched``, ``fetched_mb``,
``fetched_fraction`` (of the full-resolution volume) and ``browse_seconds``, one
``name: value`` per line. Goal: ``rss_growth_mb`` well below the volume size, bounded by what
is on screen (plus napari's chunk cache), not by the volume.

Needs a display; run from the repository root::

    xvfb-run -a python benchmarks/napari_memory.py            # 2 GB (creating it takes minutes)
    xvfb-run -a python benchmarks/napari_memory.py --gb 0.25  # a smoke run
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_line


def make_volume(path: Path, gb: float) -> tuple[int, int, int]:
    """Write a ``gb`` GB uint8 zarr volume tiled from a synthetic EM block."""
    import dask.array as da

    from voxelwise.data import synthetic_em
    from voxelwise.io import write_volume

    tile = synthetic_em((64, 512, 512), rng=0).image
    if tile.dtype != np.uint8:
        lo, hi = float(tile.min()), float(tile.max())
        tile = ((tile - lo) / max(hi - lo, 1e-9) * 255).astype(np.uint8)
    nz = max(64, math.ceil(gb * 1e9 / (2048 * 2048) / 64) * 64)
    shape = (nz, 2048, 2048)

    def block(block_id: tuple[int, int, int] | None = None) -> np.ndarray:
        assert block_id is not None
        k = sum(block_id)
        return np.roll(tile, shift=(17 * k, 31 * k), axis=(1, 2))

    data = da.map_blocks(
        block, dtype=np.uint8, chunks=da.core.normalize_chunks((64, 512, 512), shape)
    )
    write_volume(data, path, overwrite=True)
    return shape


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0, help="volume size in GB")
    parser.add_argument("--steps", type=int, default=24, help="z positions visited")
    args = parser.parse_args()

    from qtpy.QtWidgets import QApplication

    import napari
    import voxelwise.client._arrays as arrays
    from voxelwise.client import Client
    from voxelwise.napari import VoxelwiseWidget
    from voxelwise.server import ServerProcess

    print(machine_line())
    proc = psutil.Process()
    fetched = {"chunks": 0, "bytes": 0}
    lock = threading.Lock()
    original = arrays.ChunkReader.__call__

    def counting(self, block_id=None, **kw):  # type: ignore[no-untyped-def]
        arr = original(self, block_id=block_id, **kw)
        with lock:
            fetched["chunks"] += 1
            fetched["bytes"] += arr.nbytes
        return arr

    arrays.ChunkReader.__call__ = counting  # type: ignore[method-assign]

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.monotonic()
        shape = make_volume(root / "big.zarr", args.gb)
        nbytes = int(np.prod(shape))
        print(f"volume_gb: {nbytes / 1e9:.2f}")
        print(f"volume_shape: {'x'.join(map(str, shape))}")
        with ServerProcess(root, workers=2) as server:
            with Client(server.url, server.token, timeout=600) as c:
                c.create_workspace("big", "big.zarr").wait(timeout=3600)
            print(f"setup_seconds: {time.monotonic() - t:.0f}")

            viewer = napari.Viewer(show=True)
            viewer.window._qt_window.resize(1200, 900)
            app = QApplication.instance()
            widget = VoxelwiseWidget(viewer)
            viewer.window.add_dock_widget(widget, name="voxelwise")
            peak = [0]

            def pump(seconds: float = 0.3) -> None:
                end = time.monotonic() + seconds
                while widget.busy or time.monotonic() < end:
                    app.processEvents()
                    peak[0] = max(peak[0], proc.memory_info().rss)
                    time.sleep(0.01)

            widget.workspace.url.setText(server.url)
            widget.workspace.token.setText(server.token or "")
            widget.workspace.connect_server()
            pump(1.0)
            before = proc.memory_info().rss
            peak[0] = before
            t = time.monotonic()
            widget.workspace.open("big")
            pump(2.0)
            raw = viewer.layers["raw"]
            levels = len(raw.data) if raw.multiscale else 1
            print(f"levels: {levels}")
            for z in np.linspace(0, shape[0] - 1, args.steps).round():
                viewer.dims.set_point(0, float(z))
                pump()
            rng = np.random.default_rng(0)
            for _ in range(6):  # zoom in to full resolution somewhere, then pan
                y, x = rng.integers(256, 2048 - 256, size=2)
                viewer.dims.set_point(0, float(rng.integers(0, shape[0])))
                viewer.camera.center = (float(y), float(x))
                viewer.camera.zoom = 4.0
                pump()
                for dx in (64, 128, 192):
                    viewer.camera.center = (float(y), float(x + dx))
                    pump(0.2)
            viewer.reset_view()
            pump()
            end = proc.memory_info().rss
            print(f"browse_seconds: {time.monotonic() - t:.1f}")
            print(f"rss_before_open_mb: {before / 1e6:.0f}")
            print(f"rss_peak_mb: {peak[0] / 1e6:.0f}")
            print(f"rss_end_mb: {end / 1e6:.0f}")
            print(f"rss_growth_mb: {(peak[0] - before) / 1e6:.0f}")
            print(f"chunks_fetched: {fetched['chunks']}")
            print(f"fetched_mb: {fetched['bytes'] / 1e6:.0f}")
            print(f"fetched_fraction: {fetched['bytes'] / nbytes:.4f}")
            widget.close_session()
            viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
