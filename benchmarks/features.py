"""Benchmark: the default feature bank against scikit-image's multiscale_basic_features.

Run from the project root::

    python benchmarks/features.py [--chunks 64,256,256] [--cores 2] [--repeat 1] [--workspace]

The volume is the FlyEM FIB-SEM sample (``../shared/data/flyem_medulla_fibsem_neuroproof``,
250 x 250 x 250 uint8: the whole volume, the "256^3 crop"). Both tools run in their own
subprocess pinned to ``--cores`` CPU cores, so each peak RSS is that run's alone:

- voxelwise: the ``default`` preset (29 float32 outputs: Gaussian, gradient magnitude, LoG,
  DoG, Hessian and structure-tensor eigenvalues at sigma 0.7-5) computed chunk by chunk with
  ``--cores`` threads into one in-memory (C, Z, Y, X) float32 array;
- scikit-image: ``multiscale_basic_features`` with intensity, edges and texture at 5 sigmas
  from 0.7 to 5 (25 float32 outputs: Gaussian, Sobel of the Gaussian, Hessian eigenvalues),
  ``workers=--cores``.

``--workspace`` also times :func:`voxelwise.filters.compute_features` writing the 29 layers
into a workspace (zarr, compressed, with statistics), the real out-of-core path.

Prints one ``name: value`` per line: ``voxelwise_s``, ``skimage_s``, ``speedup_vs_skimage``,
``peak_rss_mb`` (voxelwise), ``skimage_peak_rss_mb`` and context lines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = (
    ROOT / ".." / "shared" / "data" / "flyem_medulla_fibsem_neuroproof" / "training_sample2"
).resolve() / "grayscale_maps"
SIGMAS = (0.7, 5.0, 5)  # skimage: sigma_min, sigma_max, num_sigma


def load_volume(size: int) -> np.ndarray:
    from PIL import Image

    files = sorted(DATA.glob("iso.*.png"))
    if not files:
        sys.exit(f"FlyEM slices not found in {DATA}")
    vol = np.stack([np.asarray(Image.open(f)) for f in files[:size]])
    return np.ascontiguousarray(vol[:size, :size, :size])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def pin(cores: int) -> None:
    available = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, set(available[:cores]))


def run_voxelwise(vol: np.ndarray, chunks: tuple[int, ...], cores: int) -> dict[str, float]:
    import dask
    import dask.array as da

    from voxelwise.blockwise import store_chunks
    from voxelwise.filters import feature_arrays, load_preset

    start = time.perf_counter()
    arrays = feature_arrays(da.from_array(vol, chunks=chunks), load_preset("default"))
    stacked = da.stack(list(arrays.values()))
    out = np.empty(stacked.shape, np.float32)
    with dask.config.set(num_workers=cores):
        store_chunks(stacked, out)
    return {"seconds": time.perf_counter() - start, "n_features": len(arrays)}


def run_skimage(vol: np.ndarray, cores: int) -> dict[str, float]:
    from skimage.feature import multiscale_basic_features

    start = time.perf_counter()
    out = multiscale_basic_features(
        vol,
        intensity=True,
        edges=True,
        texture=True,
        sigma_min=SIGMAS[0],
        sigma_max=SIGMAS[1],
        num_sigma=SIGMAS[2],
        workers=cores,
    )
    return {"seconds": time.perf_counter() - start, "n_features": out.shape[-1]}


def run_workspace(vol: np.ndarray, chunks: tuple[int, ...], cores: int) -> dict[str, float]:
    import dask

    from voxelwise.filters import compute_features
    from voxelwise.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.create(Path(tmp) / "bench.vw", vol, chunks=chunks, spacing=(10, 10, 10))
        start = time.perf_counter()
        with dask.config.set(num_workers=cores):
            names = compute_features(ws, "default")
        return {"seconds": time.perf_counter() - start, "n_features": len(names)}


def child(which: str, size: int, chunks: tuple[int, ...], cores: int) -> None:
    pin(cores)
    vol = load_volume(size)
    baseline = peak_rss_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    if which == "voxelwise":
        result = run_voxelwise(vol, chunks, cores)
    elif which == "skimage":
        result = run_skimage(vol, cores)
    else:
        result = run_workspace(vol, chunks, cores)
    after = resource.getrusage(resource.RUSAGE_SELF)
    result.update(
        peak_rss_mb=peak_rss_mb(),
        baseline_rss_mb=baseline,
        shape=list(vol.shape),
        user_s=after.ru_utime - usage.ru_utime,
        sys_s=after.ru_stime - usage.ru_stime,
    )
    print(json.dumps(result))


def spawn(which: str, args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        which,
        "--size",
        str(args.size),
        "--chunks",
        ",".join(map(str, args.chunks)),
        "--cores",
        str(args.cores),
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.exit(f"{which} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def best(which: str, args: argparse.Namespace) -> dict[str, float]:
    runs = [spawn(which, args) for _ in range(args.repeat)]
    return min(runs, key=lambda r: r["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=["voxelwise", "skimage", "workspace"])
    parser.add_argument("--size", type=int, default=256, help="crop edge (voxels)")
    parser.add_argument(
        "--chunks", type=lambda s: tuple(int(v) for v in s.split(",")), default=(64, 256, 256)
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the fastest counts")
    parser.add_argument("--workspace", action="store_true", help="also time compute_features")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.size, args.chunks, args.cores)
        return

    vw = best("voxelwise", args)
    sk = best("skimage", args)
    print(f"machine: {platform.node()} {platform.machine()} ({os.cpu_count()} CPUs visible)")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"volume: FlyEM FIB-SEM {'x'.join(map(str, vw['shape']))} uint8")
    print(f"cores: {args.cores}")
    print(f"chunks: {','.join(map(str, args.chunks))}")
    print(f"n_features_voxelwise: {vw['n_features']}")
    print(f"n_features_skimage: {sk['n_features']}")
    print(f"voxelwise_s: {vw['seconds']:.2f}")
    print(f"skimage_s: {sk['seconds']:.2f}")
    print(f"speedup_vs_skimage: {sk['seconds'] / vw['seconds']:.2f}")
    per_feature = (sk["seconds"] / sk["n_features"]) / (vw["seconds"] / vw["n_features"])
    print(f"speedup_per_feature_vs_skimage: {per_feature:.2f}")
    print(f"voxelwise_cpu_s: {vw['user_s'] + vw['sys_s']:.2f} (sys {vw['sys_s']:.2f})")
    print(f"skimage_cpu_s: {sk['user_s'] + sk['sys_s']:.2f} (sys {sk['sys_s']:.2f})")
    print(f"peak_rss_mb: {vw['peak_rss_mb']:.0f}")
    print(f"skimage_peak_rss_mb: {sk['peak_rss_mb']:.0f}")
    print(f"baseline_rss_mb: {vw['baseline_rss_mb']:.0f}")
    if args.workspace:
        ws = best("workspace", args)
        print(f"voxelwise_workspace_s: {ws['seconds']:.2f}")
        print(f"workspace_peak_rss_mb: {ws['peak_rss_mb']:.0f}")


if __name__ == "__main__":
    main()
