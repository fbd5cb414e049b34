"""Latency of one 3D brush stroke against rewriting the whole annotation layer.

voxelwise edits annotation layers in place: a stroke reads and rewrites only the chunks it
touches and appends its changes to the edit log, so its cost should not depend on the volume's
size. SuRVoS2 rewrites the whole annotation array after each stroke; that is the baseline.

Two workspaces are created in a temporary folder, with empty uint16 annotation layers (zarr
stores no chunk until it is written, so they take no space):

- large: 512 x 2048 x 2048 (z, y, x), 4 GiB of uint16 annotation;
- small: 512 x 512 x 512.

Each gets the same strokes: balls of radius 10 at random centres inside the same 128 x 512 x
512 window (a user annotating one region), a few warm-up strokes, then timed ones, each a
full ``voxelwise.annotate.paint`` call (lock, chunk read-modify-write, edit log commit).

The baseline writes the layer in full to zarr (zstd, every chunk stored), in z-slabs of one
chunk's depth. For the large layer only a few slabs are written and timed and the total is
extrapolated linearly (the output says so); the small layer is rewritten in full. No more than
one slab (512 MiB) is in memory at a time.

Run from the repository root::

    python benchmarks/annotate.py            # as above (creating the large workspace takes minutes)
    python benchmarks/annotate.py --quick    # 256 x 1024 x 1024 and 256^3, a smoke run

Prints ``stroke_ms_large``, ``stroke_ms_small`` (medians), ``rewrite_ms_large`` and more, one
``name: value`` per line. The goal: strokes under 50 ms and independent of volume size.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np
import zarr
from zarr.storage import LocalStore

from voxelwise import annotate
from voxelwise.workspace import Workspace

CHUNKS = (64, 256, 256)
WINDOW = (128, 512, 512)
RADIUS = 10


def make_workspace(folder: Path, shape: tuple[int, int, int]) -> tuple[Workspace, float]:
    start = time.perf_counter()
    image = da.zeros(shape, dtype=np.uint8, chunks=CHUNKS)
    ws = Workspace.create(folder, image, chunks=CHUNKS)
    ws.add_label("tissue", "membrane")
    annotate.create_layer(ws, "scribbles", label_set="tissue")
    return ws, time.perf_counter() - start


def stroke_times(ws: Workspace, *, warmup: int, strokes: int, seed: int = 0) -> np.ndarray:
    """Seconds per stroke; the centres are the same for every volume size."""
    rng = np.random.default_rng(seed)
    window = np.minimum(WINDOW, ws.shape)
    lo = (np.array(ws.shape) - window) // 2
    times = []
    for i in range(warmup + strokes):
        center = lo + rng.uniform(0, 1, 3) * (window - 1)
        t0 = time.perf_counter()
        edit = annotate.paint(ws, "scribbles", "membrane", center=center, radius=RADIUS)
        elapsed = time.perf_counter() - t0
        if edit.voxels == 0:
            raise RuntimeError("a benchmark stroke changed nothing")
        if i >= warmup:
            times.append(elapsed)
    return np.asarray(times)


def rewrite_seconds(
    folder: Path, shape: tuple[int, int, int], slabs: int | None
) -> tuple[float, int, int]:
    """Seconds to write a full uint16 annotation layer of ``shape`` (dense, every chunk stored),
    slab by slab; with ``slabs``, only that many slabs are written and the time extrapolated.

    Returns (seconds for the whole layer, slabs written, slabs in the layer).
    """
    arr = zarr.create_array(
        LocalStore(folder),
        name="rewrite",
        shape=shape,
        chunks=CHUNKS,
        dtype=np.uint16,
        fill_value=0,
        config={"write_empty_chunks": True},
        overwrite=True,
    )
    total = -(-shape[0] // CHUNKS[0])
    n_written = total if slabs is None else min(slabs, total)
    rng = np.random.default_rng(1)
    elapsed = 0.0
    for k in range(n_written):
        z0, z1 = k * CHUNKS[0], min((k + 1) * CHUNKS[0], shape[0])
        slab = np.zeros((z1 - z0, *shape[1:]), dtype=np.uint16)
        for _ in range(20):  # some annotation, as the layer would hold
            c = rng.integers(0, [z1 - z0, shape[1], shape[2]])
            slab[
                max(c[0] - 5, 0) : c[0] + 5,
                max(c[1] - 10, 0) : c[1] + 10,
                max(c[2] - 10, 0) : c[2] + 10,
            ] = 1
        t0 = time.perf_counter()
        arr[z0:z1] = slab
        elapsed += time.perf_counter() - t0
        del slab
    return elapsed * total / n_written, n_written, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller volumes, a smoke run")
    parser.add_argument("--strokes", type=int, default=100, help="timed strokes per volume")
    parser.add_argument("--warmup", type=int, default=20, help="untimed strokes first")
    parser.add_argument("--slabs", type=int, default=2, help="slabs written for the large rewrite")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the temporary data")
    args = parser.parse_args()

    large = (256, 1024, 1024) if args.quick else (512, 2048, 2048)
    small = (256, 256, 256) if args.quick else (512, 512, 512)
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
        f"{platform.python_version()}, zarr {zarr.__version__}"
    )
    print(f"date: {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"shape_large: {large}")
    print(f"shape_small: {small}")
    print(f"stroke: 3D ball, radius {RADIUS} voxels; chunks {CHUNKS}; uint16 layers")
    tmp = Path(tempfile.mkdtemp(prefix="vw-annotate-bench-", dir=args.workdir))
    try:
        results = {}
        for name, shape in (("large", large), ("small", small)):
            ws, setup = make_workspace(tmp / f"{name}.vw", shape)
            print(f"setup_s_{name}: {setup:.1f}", flush=True)
            times = stroke_times(ws, warmup=args.warmup, strokes=args.strokes) * 1000
            results[name] = float(np.median(times))
            print(f"stroke_ms_{name}: {np.median(times):.1f}")
            print(f"stroke_ms_{name}_p90: {np.percentile(times, 90):.1f}")
            print(f"stroke_ms_{name}_max: {times.max():.1f}", flush=True)
            shutil.rmtree(ws.path)
        print(f"stroke_ratio_large_over_small: {results['large'] / results['small']:.2f}")

        seconds, done, total = rewrite_seconds(tmp / "rewrite-large", large, args.slabs)
        print(f"rewrite_ms_large: {seconds * 1000:.0f}")
        print(
            f"rewrite_note: extrapolated from {done} of {total} z-slabs ({CHUNKS[0]} x "
            f"{large[1]} x {large[2]} uint16 each, written densely to zarr/zstd) "
            "times the number of slabs"
            if done < total
            else f"rewrite_note: measured, all {total} slabs written"
        )
        shutil.rmtree(tmp / "rewrite-large")
        seconds_small, _, _ = rewrite_seconds(tmp / "rewrite-small", small, None)
        print(f"rewrite_ms_small: {seconds_small * 1000:.0f}")
        print(f"speedup_large: {seconds * 1000 / results['large']:.0f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
