"""Peak memory and speed of connected components + measurements on a 1 GB instance volume.

Generates a uint8 binary mask of random ellipsoidal blobs (1000 x 1024 x 1024 voxels, about
1 GB, roughly 5 % foreground) on disk as zarr, chunk by chunk, in a temporary folder. A fresh
Python process then runs the analysis chunk by chunk:

1. ``connected_components(mask)`` (merged across chunks), stored to a zarr label array;
2. ``measure(labels, mask, surface=True)``: volume, bbox, centroid, PCA extents, marching-cubes
   surface area and sphericity, and intensity statistics (of the mask itself, which costs the
   same as any other uint8 layer).

The same runs on a volume 8 times smaller, so the peak memory can be compared: it should not
grow with the volume. Run from the repository root::

    python benchmarks/analysis.py            # 1 GB and 128 MB volumes
    python benchmarks/analysis.py --quick    # 32 MB and 4 MB, a smoke run

Prints ``peak_rss_mb`` (the 1 GB run's peak resident memory), ``seconds`` (its analysis time),
``objects``, ``input_mb`` (uncompressed input size), and the same for the small volume with a
``_small`` suffix, plus per-stage timings and the import-only baseline.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr
from _harness import dir_size, machine_line, run_child

CHILD = r"""
t0 = time.perf_counter()
import zarr
from voxelwise.analysis import connected_components, measure
from voxelwise.blockwise import store_chunks
out = {}
if sys.argv[1] != "--baseline":
    mask = zarr.open_array(sys.argv[1], mode="r")
    t1 = time.perf_counter()
    labels, n = connected_components(mask)
    target = zarr.open_array(sys.argv[2], mode="w", shape=mask.shape, chunks=mask.chunks,
                             dtype=labels.dtype)
    store_chunks(labels, target)
    t2 = time.perf_counter()
    table = measure(target, {"mask": mask}, spacing=(1.0, 1.0, 1.0), surface=True)
    t3 = time.perf_counter()
    table.to_csv(sys.argv[3])
    out = {"objects": n, "rows": len(table), "label_seconds": t2 - t1,
           "measure_seconds": t3 - t2, "seconds": t3 - t1,
           "median_volume": float(sorted(table["volume_voxels"])[len(table) // 2]),
           "median_sphericity": float(sorted(table["sphericity"])[len(table) // 2])}
out["maxrss_mb"] = peak_mb()
print(json.dumps(out))
"""

CHUNKS = (64, 256, 256)


def blobs(shape: tuple[int, int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Centres and radii (z, y, x) of random ellipsoids covering about 5 % of the volume."""
    rng = np.random.default_rng(seed)
    mean_volume = 4 / 3 * np.pi * 7.0**3  # radii uniform in [3, 11] voxels, independent
    n = int(0.05 * np.prod(shape) / mean_volume)
    centres = rng.uniform(0, 1, (n, 3)) * np.asarray(shape)
    radii = rng.uniform(3.0, 11.0, (n, 3))
    return centres, radii


def make_mask(path: Path, shape: tuple[int, int, int], seed: int = 0) -> None:
    """Write the blob mask chunk by chunk (memory: one chunk)."""
    centres, radii = blobs(shape, seed)
    lo, hi = centres - radii, centres + radii
    arr = zarr.open_array(path, mode="w", shape=shape, chunks=CHUNKS, dtype=np.uint8)
    for idx in np.ndindex(*(int(np.ceil(s / c)) for s, c in zip(shape, CHUNKS))):
        start = np.array([i * c for i, c in zip(idx, CHUNKS)])
        stop = np.minimum(start + CHUNKS, shape)
        hit = np.all((hi >= start) & (lo < stop), axis=1)
        block = np.zeros(tuple(stop - start), dtype=bool)
        for c, r in zip(centres[hit], radii[hit]):
            a = np.maximum(np.floor(c - r).astype(int), start)
            b = np.minimum(np.ceil(c + r).astype(int) + 1, stop)
            if np.any(b <= a):
                continue
            grids = np.ogrid[tuple(slice(x, y) for x, y in zip(a, b))]
            inside = sum(((g - cc) / rr) ** 2 for g, cc, rr in zip(grids, c, r)) <= 1.0
            block[tuple(slice(x - s, y - s) for x, y, s in zip(a, b, start))] |= inside
        arr[tuple(slice(s, e) for s, e in zip(start, stop))] = block.view(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small volumes for a smoke run")
    parser.add_argument("--tmpdir", default=None, help="where to put the temporary files")
    args = parser.parse_args()
    if args.quick:
        sizes = {"": (128, 512, 512), "_small": (64, 256, 256)}
    else:
        sizes = {"": (1000, 1024, 1024), "_small": (500, 512, 512)}

    print(machine_line())
    workdir = Path(tempfile.mkdtemp(prefix="vw-analysis-", dir=args.tmpdir))
    try:
        baseline = run_child(CHILD, "--baseline")
        print(f"baseline_rss_mb: {baseline['maxrss_mb']:.1f}")
        for suffix, shape in sizes.items():
            mask = workdir / f"mask{suffix}.zarr"
            t0 = time.perf_counter()
            make_mask(mask, shape)
            generate = time.perf_counter() - t0
            res = run_child(
                CHILD, str(mask), str(workdir / f"labels{suffix}.zarr"), str(workdir / "t.csv")
            )
            print(f"input_shape{suffix}: {shape}")
            print(f"input_mb{suffix}: {np.prod(shape) / 1e6:.1f}")
            print(f"stored_mb{suffix}: {dir_size(mask) / 1e6:.1f}")
            print(f"generate_seconds{suffix}: {generate:.1f}")
            print(f"objects{suffix}: {res['objects']}")
            print(f"label_seconds{suffix}: {res['label_seconds']:.1f}")
            print(f"measure_seconds{suffix}: {res['measure_seconds']:.1f}")
            print(f"seconds{suffix}: {res['seconds']:.1f}")
            print(f"median_object_voxels{suffix}: {res['median_volume']:.0f}")
            print(f"median_sphericity{suffix}: {res['median_sphericity']:.3f}")
            print(f"polled_rss_mb{suffix}: {res['polled_mb']:.1f}")
            print(f"peak_rss_mb{suffix}: {res['maxrss_mb']:.1f}")
            shutil.rmtree(mask)
            shutil.rmtree(workdir / f"labels{suffix}.zarr")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
