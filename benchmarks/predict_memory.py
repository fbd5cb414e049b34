"""Peak memory and speed of tiled 3-axis prediction with voxelwise.deep.predict.

Generates a uint8 cube in a zarr store (2 GB, or ~100 MB with --quick) chunk by chunk,
saves a small untrained 2D U-Net as a model file, and runs
``predict(model, volume.zarr, out.zarr, axes="zyx")`` in a fresh Python process, reporting that
process's peak resident memory and the voxels predicted per second (all three axes counted once):

    python benchmarks/predict_memory.py
    python benchmarks/predict_memory.py --quick
    python benchmarks/predict_memory.py --mb 8     # any size (a cube)

Prints ``peak_rss_mb`` and ``voxels_per_s_cpu``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr

CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(int(sys.argv[4]))
from voxelwise.deep import predict
t0 = time.perf_counter()
predict(sys.argv[1], sys.argv[2], sys.argv[3], axes="zyx", device="cpu", batch_size=8,
        memory_mb=float(sys.argv[5]), outputs=("labels", "probabilities"))
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak}))
"""


def make_volume(path: Path, shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(0)
    arr = zarr.create_array(path, shape=shape, chunks=(32, 256, 256), dtype="uint8")
    for z in range(0, shape[0], 32):
        block = rng.integers(0, 256, (min(32, shape[0] - z), *shape[1:]), dtype=np.uint8)
        arr[z : z + block.shape[0]] = block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~100 MB volume")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mb", type=float, default=None, help="volume size in MB (override)")
    parser.add_argument("--memory-mb", type=float, default=256.0, help="predict(memory_mb=)")
    args = parser.parse_args()
    mb = args.mb if args.mb is not None else (100.0 if args.quick else 2048.0)
    side = round((mb * 2**20) ** (1 / 3))  # a cube: every axis has full-size 2D patches
    shape = (side, side, side)
    import torch

    from voxelwise.deep import DeepModel, save_model
    from voxelwise.deep._nets import build_network

    torch.manual_seed(0)
    options = {"depth": 3, "width": 8, "blocks": 1}
    meta = {
        "arch": "unet2d",
        "classes": 2,
        "network": options,
        "patch_size": [256, 256],
        "axes": "zyx",
        "normalization": {"kind": "percentile", "low": 0.0, "high": 255.0},
        "label_names": ["background", "foreground"],
        "label_values": [1, 2],
    }
    with tempfile.TemporaryDirectory() as tmp:
        model = save_model(
            DeepModel(build_network("unet2d", 2, options).eval(), meta), Path(tmp) / "model.pt"
        )
        volume = Path(tmp) / "volume.zarr"
        t0 = time.perf_counter()
        make_volume(volume, shape)
        print(f"volume_mb: {np.prod(shape) / 2**20:.0f}")
        print(f"generate_s: {time.perf_counter() - t0:.1f}")
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(model),
                str(volume),
                str(Path(tmp) / "out.zarr"),
                str(args.threads),
                str(args.memory_mb),
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode:
            sys.exit(f"prediction failed:\n{out.stderr}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"peak_rss_mb: {result['peak_rss_mb']:.1f}")
    print(f"predict_s: {result['seconds']:.1f}")
    print(f"voxels_per_s_cpu: {np.prod(shape) / result['seconds']:.0f}")


if __name__ == "__main__":
    main()
