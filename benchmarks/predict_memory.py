"""Peak memory and speed of tiled 3-axis prediction with voxelwise.deep.predict.

Generates uint8 cubes in zarr stores chunk by chunk, saves untrained 2D U-Nets as model files
and runs ``predict(model, volume.zarr, out.zarr, axes="zyx")`` in a fresh Python process per
run, reporting that process's peak resident memory and the voxels predicted per second (each
voxel counted once, though it is predicted along all three axes):

    python benchmarks/predict_memory.py            # speed on 64 MB; memory on 256 MB and 2 GB
    python benchmarks/predict_memory.py --quick    # 8 MB; 16 MB and 100 MB

Two networks: ``unet`` (depth 3, width 8: a realistic small 2D U-Net; its run gives
``voxels_per_s_cpu``) and ``tiny`` (depth 1, width 2). The memory runs use ``tiny`` so that a
2 GB volume (2.1 billion voxels, 6.4 billion patch voxels over three axes) finishes in minutes
on a 2-core machine; what they measure is the pipeline (slab reading, blending, float16 per-axis
stores, the fusion pass), which does not depend on the network. The ``unet`` run's peak shows
the extra that a larger network's activations add.

Prints ``peak_rss_mb`` (the largest volume), ``peak_rss_mb_<size>_<net>`` per run,
``peak_rss_growth_mb`` (largest minus smallest memory run: flat means near 0),
``voxels_per_s_cpu`` and, where CUDA is available, ``voxels_per_s_gpu``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr
from _harness import machine_line, run_child

CHILD = r"""
import torch
torch.set_num_threads(int(sys.argv[4]))
from voxelwise.deep import predict
t0 = time.perf_counter()
predict(sys.argv[1], sys.argv[2], sys.argv[3], axes="zyx", device=sys.argv[6],
        memory_mb=float(sys.argv[5]), outputs=("labels", "probabilities"))
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb()}))
"""

NETWORKS = {
    "unet": {"depth": 3, "width": 8, "blocks": 1},
    "tiny": {"depth": 1, "width": 2, "blocks": 1},
}


def make_volume(path: Path, mb: float) -> tuple[int, int, int]:
    """A seeded random uint8 cube of about ``mb`` MB, written 32 planes at a time."""
    side = round((mb * 2**20) ** (1 / 3))  # a cube: every axis has full-size 2D patches
    shape = (side, side, side)
    rng = np.random.default_rng(0)
    arr = zarr.create_array(path, shape=shape, chunks=(32, 256, 256), dtype="uint8")
    for z in range(0, side, 32):
        arr[z : z + 32] = rng.integers(0, 256, (min(32, side - z), side, side), dtype=np.uint8)
    return shape


def save_network(path: Path, name: str) -> Path:
    import torch

    from voxelwise.deep import DeepModel, save_model
    from voxelwise.deep._nets import build_network

    torch.manual_seed(0)
    meta = {
        "arch": "unet2d",
        "classes": 2,
        "network": NETWORKS[name],
        "patch_size": [256, 256],
        "axes": "zyx",
        "normalization": {"kind": "percentile", "low": 0.0, "high": 255.0},
        "label_names": ["background", "foreground"],
        "label_values": [1, 2],
    }
    net = build_network("unet2d", 2, NETWORKS[name]).eval()
    return save_model(DeepModel(net, meta), path)


def run(tmp: Path, mb: float, net: str, args: argparse.Namespace, device: str = "cpu") -> dict:
    volume = tmp / f"volume_{mb:g}.zarr"
    if not volume.exists():
        t0 = time.perf_counter()
        shape = make_volume(volume, mb)
        print(f"volume_{mb:g}mb: {'x'.join(map(str, shape))} in {time.perf_counter() - t0:.0f} s")
    side = zarr.open_array(volume, mode="r").shape[0]
    model = save_network(tmp / f"{net}.pt", net)
    result = run_child(
        CHILD,
        str(model),
        str(volume),
        str(tmp / "out.zarr"),
        str(args.threads),
        str(args.memory_mb),
        device,
    )
    import shutil

    shutil.rmtree(tmp / "out.zarr", ignore_errors=True)
    result["voxels_per_s"] = side**3 / result["seconds"]
    tag = f"{mb:g}mb_{net}" + ("_gpu" if device != "cpu" else "")
    print(f"peak_rss_mb_{tag}: {result['peak_rss_mb']:.0f}")
    print(f"predict_s_{tag}: {result['seconds']:.0f}")
    print(f"voxels_per_s_{tag}: {result['voxels_per_s']:.0f}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small volumes (a smoke run)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-mb", type=float, default=512.0, help="predict(memory_mb=)")
    args = parser.parse_args()
    speed_mb, memory_mbs = (8.0, [16.0, 100.0]) if args.quick else (64.0, [256.0, 2048.0])
    print(machine_line())
    print(f"networks: {NETWORKS}; patch 256 x 256, overlap 64, axes zyx, fusion max")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        speed = run(tmp, speed_mb, "unet", args)
        peaks = [run(tmp, mb, "tiny", args)["peak_rss_mb"] for mb in memory_mbs]
        import torch

        gpu = run(tmp, speed_mb, "unet", args, "cuda") if torch.cuda.is_available() else None
    print(f"peak_rss_mb: {peaks[-1]:.0f}")
    print(f"peak_rss_growth_mb: {peaks[-1] - peaks[0]:.0f}")
    print(f"voxels_per_s_cpu: {speed['voxels_per_s']:.0f}")
    if gpu is not None:
        print(f"voxels_per_s_gpu: {gpu['voxels_per_s']:.0f}")


if __name__ == "__main__":
    main()
