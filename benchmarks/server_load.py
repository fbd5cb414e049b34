"""Interactive latency of the server under load, while a training job runs.

A real server (``voxelwise serve``, uvicorn on 127.0.0.1, embedded dask cluster) serves a
workspace made from a 20 x 512 x 512 crop of the VNC ssTEM stack (``../shared/data``; a
synthetic volume of the same size when the data is missing). Then, for ``--duration`` seconds:

- ``--clients`` threads (20), each with its own :class:`voxelwise.client.Client`, loop: fetch a
  random 512 x 512 z-slice of the raw image (zstd, decoded to NumPy), then post a one-voxel
  stroke at a position no other stroke uses, with the client's own label value;
- shallow training jobs (random forest on a few feature layers) run back to back on the
  cluster's worker process the whole time.

Afterwards every stroke is checked in the annotation layer (``strokes_lost`` counts those whose
voxel does not hold its client's value). Prints ``requests_per_s``, ``p50_slice_ms``,
``p99_slice_ms``, ``p50_stroke_ms``, ``p99_stroke_ms``, ``errors``, ``strokes_lost`` and
``trainings`` (training jobs finished during the run), one ``name: value`` per line. A
baseline phase first (``--baseline`` seconds of one client fetching slices alone, no job, no
strokes) gives ``p50_slice_ms_idle``, ``p99_slice_ms_idle`` and the ratio of the loaded p99 to
it, so runs on a busy machine can still be compared.
Goal: 0 errors, 0 strokes lost, p99 slice latency under 100 ms.

Run from the repository root::

    python benchmarks/server_load.py                 # 60 s, 20 clients (about 2 minutes)
    python benchmarks/server_load.py --duration 10   # a smoke run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import ROOT, machine_line

SHAPE = (20, 512, 512)
VNC = ROOT.parent / "shared" / "data" / "drosophila_vnc_sstem" / "stack1" / "raw"


def make_volume(root: Path) -> str:
    import tifffile

    if VNC.is_dir():
        files = sorted(VNC.glob("*.tif"))[: SHAPE[0]]
        image = np.stack([tifffile.imread(f)[: SHAPE[1], : SHAPE[2]] for f in files])
        source = "vnc"
    else:
        from voxelwise.data import synthetic_em

        image = synthetic_em(SHAPE, rng=0).image
        source = "synthetic"
    tifffile.imwrite(root / "volume.tif", image)
    return source


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def idle_slices(
    url: str, token: str, clients: int, seconds: float, compression: str
) -> list[float]:
    """Baseline in the same run: slice latencies of ``clients`` clients, no job, no strokes."""
    from voxelwise.client import Client

    times: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()

    def fetch(k: int) -> None:
        rng = np.random.default_rng(1000 + k)
        local = []
        with Client(url, token, compression=compression) as c:
            while not stop.is_set():
                t = time.perf_counter()
                c.slice("bench", "raw", int(rng.integers(SHAPE[0])))
                local.append((time.perf_counter() - t) * 1000)
        with lock:
            times.extend(local)

    threads = [threading.Thread(target=fetch, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--baseline", type=float, default=10.0, help="seconds of slices alone (no job, no strokes)"
    )
    parser.add_argument("--workers", type=int, default=1, help="embedded cluster worker processes")
    parser.add_argument(
        "--compression", default="zstd", choices=["zstd", "zlib", "none"], help="slice transfer"
    )
    args = parser.parse_args()

    from voxelwise.client import Client
    from voxelwise.server import ServerProcess

    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="vw-server-load-") as tmp:
        root = Path(tmp)
        source = make_volume(root)
        with ServerProcess(root, workers=args.workers) as server:
            admin = Client(server.url, server.token, timeout=120)
            admin.create_workspace("bench", "volume.tif").wait()
            admin.add_label("bench", "marks", "a")
            admin.add_label("bench", "marks", "b")
            admin.create_annotation_layer("bench", "train_marks", label_set="marks")
            for z in range(0, SHAPE[0], 4):  # scribbles for the training jobs
                admin.paint_stroke(
                    "bench", "train_marks", "a", [(z, 40, 40), (z, 40, 400)], 2, plane="z"
                )
                admin.paint_stroke(
                    "bench", "train_marks", "b", [(z, 300, 40), (z, 300, 400)], 2, plane="z"
                )
            admin.create_annotation_layer("bench", "strokes", dtype="uint16", chunks=[4, 128, 128])
            idle = idle_slices(server.url, server.token, 1, args.baseline, args.compression)
            features = ["raw", "gaussian:sigma=1", "gaussian:sigma=3", "gradient_magnitude:sigma=1"]

            # unique stroke positions, dealt round-robin to the clients
            rng = np.random.default_rng(0)
            lattice = np.stack(
                np.meshgrid(
                    np.arange(0, SHAPE[0], 2),
                    np.arange(0, SHAPE[1], 2),
                    np.arange(0, SHAPE[2], 2),
                    indexing="ij",
                ),
                axis=-1,
            ).reshape(-1, 3)
            lattice = lattice[rng.permutation(len(lattice))]

            stop = threading.Event()
            lock = threading.Lock()
            slice_ms: list[float] = []
            stroke_ms: list[float] = []
            errors: list[str] = []
            painted: list[tuple[tuple[int, int, int], int]] = []
            trainings = [0]
            barrier = threading.Barrier(args.clients + 1)

            def trainer() -> None:
                while not stop.is_set():
                    job = admin.train(
                        "bench",
                        annotations="train_marks",
                        features=features,
                        model="load",
                        max_per_class=5000,
                    )
                    job.wait(raise_on_error=False)
                    if job.state == "succeeded":
                        trainings[0] += 1
                    else:
                        with lock:
                            errors.append(f"training {job.state}: {job.error}")
                        return

            def annotator(k: int) -> None:
                mine = lattice[k :: args.clients]
                local_slices, local_strokes, local_painted, local_errors = [], [], [], []
                with Client(
                    server.url, server.token, timeout=60, compression=args.compression
                ) as c:
                    barrier.wait()
                    i = 0
                    while not stop.is_set():
                        t = time.perf_counter()
                        try:
                            arr = c.slice("bench", "raw", int(rng.integers(SHAPE[0])))
                            assert arr.shape == SHAPE[1:]
                            local_slices.append((time.perf_counter() - t) * 1000)
                        except Exception as e:
                            local_errors.append(f"slice: {e}")
                        point = tuple(int(v) for v in mine[i])
                        i += 1
                        t = time.perf_counter()
                        try:
                            edit = c.paint_stroke("bench", "strokes", k + 1, [point], 0)
                            local_stroke = (time.perf_counter() - t) * 1000
                            if edit["voxels"] != 1:
                                local_errors.append(f"stroke changed {edit['voxels']} voxels")
                            local_strokes.append(local_stroke)
                            local_painted.append((point, k + 1))
                        except Exception as e:
                            local_errors.append(f"stroke: {e}")
                with lock:
                    slice_ms.extend(local_slices)
                    stroke_ms.extend(local_strokes)
                    painted.extend(local_painted)
                    errors.extend(local_errors)

            threads = [threading.Thread(target=annotator, args=(k,)) for k in range(args.clients)]
            for t in threads:
                t.start()
            train_thread = threading.Thread(target=trainer)
            train_thread.start()
            time.sleep(2.0)  # let the first training job start before the clock runs
            barrier.wait()
            start = time.perf_counter()
            time.sleep(args.duration)
            stop.set()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - start
            train_thread.join()

            layer = admin.get("bench", "strokes").compute()
            lost = sum(1 for point, value in painted if layer[point] != value)
            extra = int((layer > 0).sum()) - len(painted)
            admin.close()

    requests = len(slice_ms) + len(stroke_ms) + len(errors)
    print(
        f"data: {source} {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]} uint8, {args.clients} clients, "
        f"{args.duration:.0f} s, {args.workers} worker process(es), {args.compression} slices"
    )
    print(f"requests_per_s: {requests / elapsed:.1f}")
    print(f"p50_slice_ms: {percentile(slice_ms, 50):.1f}")
    print(f"p99_slice_ms: {percentile(slice_ms, 99):.1f}")
    print(f"p50_slice_ms_idle: {percentile(idle, 50):.1f}")
    print(f"p99_slice_ms_idle: {percentile(idle, 99):.1f}")
    print(f"p99_slice_ratio_vs_idle: {percentile(slice_ms, 99) / percentile(idle, 99):.2f}")
    print(f"p50_stroke_ms: {percentile(stroke_ms, 50):.1f}")
    print(f"p99_stroke_ms: {percentile(stroke_ms, 99):.1f}")
    print(f"slices: {len(slice_ms)}")
    print(f"strokes: {len(painted)}")
    print(f"trainings: {trainings[0]}")
    print(f"errors: {len(errors)}")
    print(f"strokes_lost: {lost}")
    print(f"unexpected_voxels: {extra}")
    for e in errors[:5]:
        print(f"error: {e}")


if __name__ == "__main__":
    main()
