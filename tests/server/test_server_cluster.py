"""Jobs on an external dask cluster: ``dask scheduler`` and ``dask worker`` started by hand on
loopback, the server connected with ``--scheduler``; GPU jobs go to the worker with the
``GPU`` resource."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import tifffile

from voxelwise.client import Client
from voxelwise.data import synthetic_em
from voxelwise.server import ServerProcess, free_port

pytestmark = pytest.mark.slow

DASK = Path(sys.executable).parent / "dask"


def _wait_workers(address: str, n: int, timeout: float = 90) -> dict[str, str]:
    """Worker name -> address, once ``n`` workers have joined."""
    from distributed import Client as DaskClient

    with DaskClient(address, timeout="30s", set_as_default=False) as dc:
        dc.wait_for_workers(n, timeout=timeout)
        workers = dc.scheduler_info(n_workers=-1)["workers"]
        return {str(w["name"]): addr for addr, w in workers.items()}


@pytest.fixture
def cluster(tmp_path):
    if not DASK.exists():
        pytest.skip("the dask command line is not installed")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "dask.log", "ab")  # noqa: SIM115 (closed after the processes)
    common = {"stdout": log, "stderr": subprocess.STDOUT}
    procs = [
        subprocess.Popen(
            [
                str(DASK),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--dashboard-address",
                "127.0.0.1:0",
            ],
            **common,
        )
    ]
    time.sleep(1.0)
    procs.append(
        subprocess.Popen(
            [str(DASK), "worker", address, "--nthreads", "1", "--name", "cpu", "--no-dashboard"],
            **common,
        )
    )
    procs.append(
        subprocess.Popen(
            [
                str(DASK),
                "worker",
                address,
                "--nthreads",
                "1",
                "--name",
                "gpu",
                "--resources",
                "GPU=1",
                "--no-dashboard",
            ],
            **common,
        )
    )
    try:
        yield address, _wait_workers(address, 2)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


def test_jobs_run_on_an_external_cluster(tmp_path, cluster):
    address, names = cluster
    root = tmp_path / "root"
    root.mkdir()
    tifffile.imwrite(root / "em.tif", synthetic_em((16, 64, 64), rng=0).image)
    with ServerProcess(root, scheduler=address) as server, Client(server.url, server.token) as c:
        info = c.cluster()
        assert info["external"] and info["workers"] == 2 and info["gpu_workers"] == 1
        c.create_workspace("cells", "em.tif").wait(timeout=120)
        assert c.compute_features("cells", ["gaussian:sigma=1"]).wait(timeout=120) == {
            "layers": ["gaussian_s1.0"]
        }
        gpu = c.probe(gpu=True).wait(timeout=60)
        assert gpu["resources"] == {"GPU": 1.0} and gpu["worker"] == names["gpu"]
        assert c.job(c.jobs(limit=1)[0].id).info["gpu"] is True
        cpu_jobs = [c.probe(seconds=0.2) for _ in range(4)]
        assert all(j.wait(timeout=60)["sees_data_root"] for j in cpu_jobs)
        assert {j.result["worker"] for j in cpu_jobs} <= set(names.values())


def test_embedded_cluster_with_gpu_workers(tmp_path):
    """``--gpus 1`` adds a worker with the GPU resource and its own CUDA_VISIBLE_DEVICES (the
    resource is what routes jobs; no GPU is needed to check that)."""
    root = tmp_path / "root"
    root.mkdir()
    with ServerProcess(root, args=("--gpus", "1")) as server, Client(server.url, server.token) as c:
        info = c.cluster()
        assert info["workers"] == 2 and info["gpu_workers"] == 1
        gpu = c.probe(gpu=True).wait(timeout=60)
        assert gpu["resources"] == {"GPU": 1.0} and gpu["cuda_visible_devices"] == "0"
        cpu = c.probe()
        cpu.wait(timeout=60)
        assert cpu.info["gpu"] is False and cpu.result["cuda_visible_devices"] is None
