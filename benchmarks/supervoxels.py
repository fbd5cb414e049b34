"""Speed, peak memory and boundary quality of chunked SLIC supervoxels (voxelwise.supervoxels).

1. Speed and memory: the FlyEM FIB-SEM volume (250^3, isotropic 10 nm) is tiled with mirroring
   into a 256^3 and a 512 x 1024 x 1024 uint8 zarr array in a temporary folder, chunk by chunk
   (the large volume is never in memory). Each becomes a workspace (in its own process, not
   timed), then ``compute_supervoxels`` (3D SLIC, default size and compactness) runs in a fresh
   process that reports its wall time and peak resident memory. The 256^3 volume is also
   segmented with the seeded watershed for comparison.
2. Quality: the VNC ssTEM stack (20 x 1024 x 1024, anisotropic 50 x 4.6 x 4.6 nm) is segmented
   with the defaults; boundary recall is the fraction of ground-truth mitochondria boundary
   voxels (mask voxels with an in-plane 4-neighbour outside the mask, per section, i.e. 2D) that
   have a supervoxel boundary (a voxel whose in-plane 4-neighbour has another id) within 1 voxel
   in the section (3 x 3 dilation). A regular 10 x 10 grid, which ignores the image, is the
   baseline.

Run from the repository root::

    python benchmarks/supervoxels.py           # 256^3, 512 x 1024 x 1024 and VNC
    python benchmarks/supervoxels.py --quick   # 64^3 and 128 x 256 x 256, a smoke run

Prints ``slic_s_256``, ``slic_peak_rss_mb_256``, ``slic_s_large``, ``slic_peak_rss_mb_large``,
``boundary_recall`` and informative lines (supervoxel counts and mean sizes, the SLIC pass and
the layer write separately, watershed figures, the grid baseline, machine load).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import _harness as harness
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data").resolve()

ARGS = r"""
from pathlib import Path
import numpy as np
args = json.loads(sys.argv[1])
"""

CREATE = r"""
import zarr
from voxelwise.workspace import Workspace
image = zarr.open_array(args["zarr"], mode="r")
Workspace.create(args["ws"], image, spacing=args["spacing"], unit="nanometer")
print(json.dumps({"peak_mb": peak_mb()}))
"""

SEGMENT = r"""
from voxelwise.workspace import Workspace
from voxelwise.supervoxels import compute_supervoxels
ws = Workspace.open(args["ws"])
marks = {}
t0 = time.perf_counter()
def progress(done, total):
    if done >= total // 2 and "pass" not in marks:
        marks["pass"] = time.perf_counter() - t0
info = compute_supervoxels(ws, method=args["method"], name=args["method"], progress=progress)
seconds = time.perf_counter() - t0
print(json.dumps({
    "seconds": seconds,
    "pass_seconds": marks.get("pass", seconds),
    "peak_mb": peak_mb(),
    "n": info.params["n_supervoxels"],
    "mean_size": info.params["mean_size"],
}))
"""

VNC = r"""
from scipy import ndimage as ndi
from voxelwise.data import load_vnc
from voxelwise.workspace import Workspace
from voxelwise.supervoxels import compute_supervoxels

def recall(labels, truth):
    plane4 = ndi.generate_binary_structure(2, 1)[None]
    edge = truth & ~ndi.binary_erosion(truth, plane4, border_value=1)
    b = np.zeros(labels.shape, bool)
    dy = labels[:, 1:] != labels[:, :-1]
    dx = labels[:, :, 1:] != labels[:, :, :-1]
    b[:, 1:] |= dy; b[:, :-1] |= dy; b[:, :, 1:] |= dx; b[:, :, :-1] |= dx
    near = ndi.binary_dilation(b, ndi.generate_binary_structure(2, 2)[None])
    return float((near & edge).sum() / edge.sum())

image, mito, meta = load_vnc(args["data"], labels="mitochondria")
ws = Workspace.create(args["ws"], image, spacing=meta.spacing, unit="nanometer")
truth = mito.compute()
out = {"spacing": list(meta.spacing)}
for method in ("slic", "watershed"):
    t0 = time.perf_counter()
    info = compute_supervoxels(ws, method=method, name=method)
    out[method] = {
        "seconds": time.perf_counter() - t0,
        "recall": recall(ws.get(method).compute(), truth),
        "n": info.params["n_supervoxels"],
        "mean_size": info.params["mean_size"],
        "steps": info.params["steps"],
    }
zz, yy, xx = np.indices(truth.shape)
out["grid_recall"] = recall(zz * 10**6 + (yy // 10) * 1000 + xx // 10, truth)
out["peak_mb"] = peak_mb()
print(json.dumps(out))
"""


def run_child(code: str, args: dict) -> dict:
    """Run ``code`` in a fresh interpreter with ``args`` (JSON); see ``_harness.run_child``."""
    return harness.run_child(ARGS + code, json.dumps(args), poll_seconds=0.1)


def load_flyem() -> np.ndarray:
    """The 250^3 FlyEM grayscale volume (15.6 MB) in memory."""
    from voxelwise.data import load_flyem as loader

    image, _, _ = loader(DATA, labels=None)
    return np.asarray(image.compute())


def mirror_index(n: int, period: int) -> np.ndarray:
    """Indices 0..n-1 folded into 0..period-1 by mirroring (0 1 .. p-1 p-1 .. 1 0 0 1 ..)."""
    i = np.arange(n) % (2 * period)
    return np.where(i < period, i, 2 * period - 1 - i)


def tile_to_zarr(source: np.ndarray, shape: tuple[int, int, int], path: Path) -> None:
    """Write a mirrored tiling of ``source`` with ``shape`` into a zarr array, chunk by chunk."""
    import zarr

    chunks = (64, 256, 256)
    out = zarr.create_array(store=str(path), shape=shape, chunks=chunks, dtype=np.uint8)
    index = [mirror_index(n, p) for n, p in zip(shape, source.shape)]
    for z0 in range(0, shape[0], chunks[0]):
        iz = index[0][z0 : z0 + chunks[0]]
        slab = source[iz]
        for y0 in range(0, shape[1], chunks[1]):
            iy = index[1][y0 : y0 + chunks[1]]
            rows = slab[:, iy]
            for x0 in range(0, shape[2], chunks[2]):
                ix = index[2][x0 : x0 + chunks[2]]
                out[z0 : z0 + len(iz), y0 : y0 + len(iy), x0 : x0 + len(ix)] = rows[:, :, ix]


def speed_run(
    source: np.ndarray, shape: tuple[int, int, int], tmp: Path, tag: str, methods: list[str]
) -> dict:
    zpath, wpath = tmp / f"{tag}.zarr", tmp / f"{tag}.vw"
    t0 = time.perf_counter()
    tile_to_zarr(source, shape, zpath)
    made = run_child(CREATE, {"zarr": str(zpath), "ws": str(wpath), "spacing": [10, 10, 10]})
    print(
        f"# {tag}: tiled and workspace created in {time.perf_counter() - t0:.1f} s "
        f"(creation peak {made['peak_mb']:.0f} MB)",
        flush=True,
    )
    results = {}
    for method in methods:
        results[method] = run_child(SEGMENT, {"ws": str(wpath), "method": method})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small volumes for a smoke run")
    parser.add_argument("--tmpdir", default=None, help="where to put the temporary files")
    opts = parser.parse_args()

    small = (64, 64, 64) if opts.quick else (256, 256, 256)
    large = (128, 256, 256) if opts.quick else (512, 1024, 1024)
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}"
    )
    source = load_flyem()
    with tempfile.TemporaryDirectory(dir=opts.tmpdir, prefix="vw-sv-bench-") as d:
        tmp = Path(d)
        vnc = run_child(VNC, {"data": str(DATA), "ws": str(tmp / "vnc.vw")})
        s, w = vnc["slic"], vnc["watershed"]
        print(f"boundary_recall: {s['recall']:.4f}")
        print(f"boundary_recall_watershed: {w['recall']:.4f}")
        print(f"boundary_recall_grid_baseline: {vnc['grid_recall']:.4f}")
        print(f"vnc_n_supervoxels: {s['n']}")
        print(f"vnc_mean_size_voxels: {s['mean_size']:.1f}")
        print(f"vnc_steps_zyx: {s['steps']}")
        print(f"slic_s_vnc: {s['seconds']:.1f}")
        print(f"watershed_s_vnc: {w['seconds']:.1f}", flush=True)

        r = speed_run(source, small, tmp, "small", ["slic", "watershed"])
        print(f"slic_s_256: {r['slic']['seconds']:.1f}")
        print(f"slic_peak_rss_mb_256: {r['slic']['peak_mb']:.0f}")
        print(f"n_supervoxels_256: {r['slic']['n']}")
        print(f"mean_size_256: {r['slic']['mean_size']:.0f}")
        print(f"watershed_s_256: {r['watershed']['seconds']:.1f}")
        print(f"watershed_peak_rss_mb_256: {r['watershed']['peak_mb']:.0f}", flush=True)

        r = speed_run(source, large, tmp, "large", ["slic"])["slic"]
        voxels = float(np.prod(large))
        print(f"slic_s_large: {r['seconds']:.1f}")
        print(f"slic_pass_s_large: {r['pass_seconds']:.1f}")
        print(f"slic_store_s_large: {r['seconds'] - r['pass_seconds']:.1f}")
        print(f"slic_peak_rss_mb_large: {r['peak_mb']:.0f}")
        print(f"slic_polled_rss_mb_large: {r['polled_mb']:.0f}")
        print(f"slic_mvoxels_per_s_large: {voxels / r['seconds'] / 1e6:.2f}")
        print(f"n_supervoxels_large: {r['n']}")
        print(f"mean_size_large: {r['mean_size']:.0f}")
        print(f"large_shape: {'x'.join(map(str, large))}")
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
