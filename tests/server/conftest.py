"""Fixtures for the server tests: a data root with a small volume and the app in-process
(``TestClient``); tests against a real server start ``ServerProcess`` themselves."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from voxelwise.data import synthetic_em
from voxelwise.server import add_user, create_app, open_db

SHAPE = (16, 64, 64)


def make_root(root: Path) -> Path:
    """A data root holding ``em.tif`` (synthetic EM) and ``labels.tif`` (its ground truth + 1)."""
    root.mkdir(parents=True, exist_ok=True)
    vol = synthetic_em(SHAPE, rng=0)
    tifffile.imwrite(root / "em.tif", vol.image)
    tifffile.imwrite(root / "labels.tif", (vol.labels + 1).astype(np.uint8))
    return root


def wait_job(http: TestClient, headers: dict[str, str], job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("succeeded", "failed", "cancelled", "interrupted"):
            return job
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} still {job['state']}")


class Api:
    """A TestClient with the data root and tokens of users with different roles."""

    def __init__(self, http: TestClient, root: Path, tokens: dict[str, str]) -> None:
        self.http = http
        self.root = root
        self.tokens = tokens

    def h(self, user: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def wait(self, job_id: str, timeout: float = 60) -> dict:
        return wait_job(self.http, self.h(), job_id, timeout)

    def create(self, name: str, **extra: object) -> dict:
        r = self.http.post(
            "/workspaces", json={"name": name, "image": "em.tif", **extra}, headers=self.h()
        )
        assert r.status_code == 202, r.text
        job = self.wait(r.json()["id"])
        assert job["state"] == "succeeded", job
        return job


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    """The app in-process (threads as workers), users admin/ana/victor/nobody, workspace 'cells'
    where ana is annotator and victor viewer."""
    root = make_root(tmp_path_factory.mktemp("server-root"))
    db = open_db(root)
    tokens = {"admin": add_user(db, "admin", admin=True)}
    for user in ("ana", "victor", "nobody"):
        tokens[user] = add_user(db, user)
    app = create_app(root, processes=False, n_workers=2)
    with TestClient(app) as http:
        a = Api(http, root, tokens)
        a.create("cells", chunks=[8, 32, 32])
        for user, role in (("ana", "annotator"), ("victor", "viewer")):
            r = http.put(f"/workspaces/cells/members/{user}", json={"role": role}, headers=a.h())
            assert r.status_code == 200, r.text
        yield a
