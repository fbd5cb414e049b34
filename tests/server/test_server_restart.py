"""Faults: the server killed with SIGKILL during a layer write, a worker killed mid-job."""

from __future__ import annotations

import time

import psutil
import pytest
import tifffile

from voxelwise.client import Client
from voxelwise.data import synthetic_em
from voxelwise.server import ServerProcess
from voxelwise.workspace import Workspace

pytestmark = pytest.mark.slow


def _wait_progress(job, minimum: float, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while job.refresh().progress < minimum:
        assert not job.done, job.info
        assert time.monotonic() < deadline, job.info
        time.sleep(0.05)


def _dirs(folder) -> list:
    return [p for p in folder.iterdir() if p.is_dir()]


def _children(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    tifffile.imwrite(root / "big.tif", synthetic_em((32, 256, 256), rng=0).image)
    return root


def test_sigkill_during_a_layer_write_then_restart(root):
    first = ServerProcess(root, workers=1).start()
    token = first.token
    try:
        with Client(first.url, token) as c:
            c.create_workspace("big", "big.tif", chunks=[8, 32, 32]).wait(timeout=120)
            job = c.compute_features("big", ["gaussian:sigma=2"])
            _wait_progress(job, 0.15)
            assert job.state == "running"
            workers = _children(first.proc.pid)
            first.kill()
    finally:
        first.kill()
    # the embedded workers die with the server: nothing keeps writing
    _, alive = psutil.wait_procs(workers, timeout=20)
    assert not alive
    layers_dir = root / "workspaces" / "big.vw" / "data.ome.zarr" / "layers"
    assert _dirs(layers_dir)  # the killed write left its directory behind

    with ServerProcess(root, workers=1) as second, Client(second.url, token) as c:
        assert second.token is None  # not a first start: no new admin token
        again = c.job(job.id)
        assert again.state == "interrupted"
        assert "resubmit" in again.message
        assert all(j.done for j in c.jobs())  # every job accounted for
        assert "gaussian_s2.0" not in c.layers("big")  # no partial layer
        ws = Workspace.open(root / "workspaces" / "big.vw")  # removes the dead write's directory
        assert not _dirs(layers_dir)
        assert list(ws.layers) == ["raw"]
        result = again.resubmit().wait(timeout=120)
        assert result == {"layers": ["gaussian_s2.0"]}
        info = c.layer("big", "gaussian_s2.0")
        assert info["stats"]["count"] == 32 * 256 * 256
        assert c.get("big", "gaussian_s2.0")[31].compute().min() > 0


def test_worker_killed_mid_job_is_retried_or_failed(root):
    with ServerProcess(root, workers=1) as server, Client(server.url, server.token) as c:
        c.create_workspace("big", "big.tif", chunks=[8, 64, 64]).wait(timeout=120)
        job = c.probe(seconds=4)
        _wait_progress(job, 0.05)
        victims = [p for p in _children(server.proc.pid) if "spawn_main" in " ".join(p.cmdline())]
        assert victims
        for p in victims:
            p.kill()
        job.wait(timeout=120, raise_on_error=False)
        assert job.state in ("succeeded", "failed")
        if job.state == "succeeded":
            assert job.info["attempt"] >= 2
            assert any("again" in line["message"] for line in job.logs())
        else:
            assert "worker" in job.error.lower()
        # the server keeps serving and the workspace is intact
        assert c.health()["status"] == "ok"
        assert c.slice("big", "raw", 5).shape == (256, 256)
        assert c.compute_features("big", ["gaussian:sigma=1"]).wait(timeout=120)
        assert list(Workspace.open(root / "workspaces" / "big.vw").layers) == [
            "raw",
            "gaussian_s1.0",
        ]
