"""A real ``voxelwise serve`` (uvicorn on 127.0.0.1, embedded cluster) and a client for it."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from voxelwise.client import Client
from voxelwise.data import synthetic_em
from voxelwise.server import ServerProcess

SHAPE = (16, 64, 64)


@pytest.fixture(scope="session")
def volume():
    return synthetic_em(SHAPE, rng=1)


@pytest.fixture(scope="session")
def server(tmp_path_factory, volume):
    root = tmp_path_factory.mktemp("client-root")
    tifffile.imwrite(root / "em.tif", volume.image)
    tifffile.imwrite(root / "truth.tif", (volume.labels + 1).astype(np.uint8))
    with ServerProcess(root, workers=1) as proc:
        assert proc.token, proc.log
        client = Client(proc.url, proc.token)
        job = client.create_workspace("cells", "em.tif", chunks=[8, 32, 32])
        job.wait(timeout=120)
        client.close()
        yield proc


@pytest.fixture
def client(server):
    with Client(server.url, server.token) as c:
        yield c
