"""Peak memory and speed of converting a large TIFF to OME-Zarr with voxelwise.io.

Generates a ~0.5 GB and a ~2 GB uint8 multi-page TIFF (page by page, so generating needs no RAM
either) in a temporary folder, converts each with
``write_volume(open_volume(tif).data, out.ome.zarr)`` in a fresh Python process, and reports each
process's peak resident memory. The target: below 600 MB and not growing with the input size.

Run from the repository root::

    python benchmarks/io_memory.py            # 0.5 GB and 2 GB inputs
    python benchmarks/io_memory.py --quick    # 32 MB and 128 MB, a smoke run

Prints ``peak_rss_mb_small``, ``peak_rss_mb_large`` and ``throughput_mb_s`` (input MB per second
of conversion, large input), plus sizes, timings and the import-only baseline.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
from _harness import dir_size, machine_line, run_child
from scipy import ndimage

CHILD = r"""
t0 = time.perf_counter()
from voxelwise.io import open_volume, write_volume
if sys.argv[1] != "--baseline":
    vol = open_volume(sys.argv[1])
    t1 = time.perf_counter()
    write_volume(vol.data, sys.argv[2])
    seconds = time.perf_counter() - t1
else:
    seconds = 0.0
print(json.dumps({"seconds": seconds, "maxrss_mb": peak_mb()}))
"""


def make_tiff(path: Path, shape: tuple[int, int, int], seed: int = 0) -> None:
    """Smooth blobs plus fine noise, written one page at a time."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    coarse = rng.random((ny // 32 + 2, nx // 32 + 2)).astype(np.float32)
    smooth = ndimage.zoom(coarse, 32, order=1)[:ny, :nx]
    base = (40 + 150 * (smooth - smooth.min()) / np.ptp(smooth)).astype(np.uint8)
    noise = rng.integers(0, 48, (4, ny, nx), dtype=np.uint8)

    def pages():
        for z in range(nz):
            yield np.roll(base, 3 * z, axis=1) + noise[z % 4]

    tifffile.imwrite(
        path,
        pages(),
        shape=shape,
        dtype=np.uint8,
        photometric="minisblack",
        bigtiff=nz * ny * nx > 2**32 - 2**25,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs for a smoke run")
    parser.add_argument("--tmpdir", default=None, help="where to put the temporary files")
    args = parser.parse_args()
    if args.quick:
        sizes = {"small": (32, 1024, 1024), "large": (128, 1024, 1024)}
    else:
        sizes = {"small": (128, 2048, 2048), "large": (512, 2048, 2048)}

    print(machine_line())
    workdir = Path(tempfile.mkdtemp(prefix="vw-io-memory-", dir=args.tmpdir))
    try:
        baseline = run_child(CHILD, "--baseline")
        print(f"baseline_rss_mb: {baseline['maxrss_mb']:.1f}")
        results = {}
        for name, shape in sizes.items():
            tif = workdir / f"{name}.tif"
            t0 = time.perf_counter()
            make_tiff(tif, shape)
            gen = time.perf_counter() - t0
            in_mb = tif.stat().st_size / 1e6
            out = workdir / f"{name}.ome.zarr"
            res = run_child(CHILD, str(tif), str(out))
            results[name] = res
            print(f"input_shape_{name}: {shape}")
            print(f"input_mb_{name}: {in_mb:.1f}")
            print(f"generate_seconds_{name}: {gen:.1f}")
            print(f"convert_seconds_{name}: {res['seconds']:.2f}")
            print(f"process_seconds_{name}: {res['wall_seconds']:.2f}")
            print(f"output_mb_{name}: {dir_size(out) / 1e6:.1f}")
            print(f"levels_{name}: {sum(1 for p in out.iterdir() if p.is_dir())}")
            print(f"polled_rss_mb_{name}: {res['polled_mb']:.1f}")
            tif.unlink()
            shutil.rmtree(out)
            results[name]["in_mb"] = in_mb
        large = results["large"]
        print(f"peak_rss_mb_small: {results['small']['maxrss_mb']:.1f}")
        print(f"peak_rss_mb_large: {large['maxrss_mb']:.1f}")
        print(f"throughput_mb_s: {large['in_mb'] / large['seconds']:.1f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
