"""The Python client against a real server: lazy arrays, edits, jobs, errors."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from voxelwise.client import (
    AuthenticationError,
    Client,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    JobFailedError,
    NotFoundError,
)
from voxelwise.errors import CancelledError


def test_health_and_identity(client, server):
    assert client.health()["status"] == "ok"
    assert client.me()["admin"] is True
    with Client(server.url, "vw_00000000_wrongwrongwrongwrongwrong") as bad:
        assert bad.health()["status"] == "ok"
        with pytest.raises(AuthenticationError, match="token"):
            bad.workspaces()


def test_layer_as_lazy_dask_array_equals_the_layer(client, volume):
    arr = client.get("cells", "raw")
    assert arr.shape == volume.image.shape and arr.dtype == np.uint8
    assert arr.chunksize == (8, 32, 32)
    np.testing.assert_array_equal(arr[3:11, 5:40, 30:64].compute(), volume.image[3:11, 5:40, 30:64])
    np.testing.assert_array_equal(arr.compute(), volume.image)
    np.testing.assert_array_equal(client.slice("cells", "raw", 7, axis="y"), volume.image[:, 7])
    np.testing.assert_array_equal(
        client.region("cells", "raw", "1:3,2:9,4:5"), volume.image[1:3, 2:9, 4:5]
    )
    levels = client.get_multiscale("cells", "raw")
    assert levels[0].shape == volume.image.shape


def test_errors_map_to_exceptions(client):
    with pytest.raises(NotFoundError, match="ghost") as info:
        client.layer("cells", "ghost")
    assert isinstance(info.value, KeyError) and info.value.status == 404
    with pytest.raises(NotFoundError, match="nowhere"):
        client.workspace("nowhere")
    with pytest.raises(ConflictError):
        client.create_workspace("cells", "em.tif")
    with pytest.raises(InvalidRequestError):
        client.slice("cells", "raw", 99)
    with pytest.raises(InvalidRequestError):
        client.create_workspace("x", "../../etc/passwd")


def test_roles_through_the_client(client, server):
    token = client.add_user("vera")
    client.set_member("cells", "vera", "viewer")
    assert client.members("cells")["vera"] == "viewer"
    with Client(server.url, token) as vera:
        assert [w["name"] for w in vera.workspaces()] == ["cells"]
        assert vera.slice("cells", "raw", 0).shape == (64, 64)
        with pytest.raises(ForbiddenError):
            vera.create_annotation_layer("cells", "vera_layer")
        with pytest.raises(ForbiddenError):
            vera.users()
    client.revoke_user("vera")
    with Client(server.url, token) as vera, pytest.raises(AuthenticationError):
        vera.me()


def test_strokes_undo_redo(client):
    client.add_label("cells", "tissue", "membrane")
    client.add_label("cells", "tissue", "cell")
    client.create_annotation_layer("cells", "scribbles", label_set="tissue")
    edit = client.paint_stroke(
        "cells", "scribbles", "membrane", [(2, 5, 5), (2, 5, 30)], 1.5, plane="z"
    )
    assert edit["voxels"] > 0
    layer = client.get("cells", "scribbles")
    assert int((layer == 1).sum().compute()) == edit["voxels"]
    assert client.undo("cells", "scribbles")["kind"] == "undo"
    assert int(client.get("cells", "scribbles").sum().compute()) == 0
    assert client.redo("cells", "scribbles")["kind"] == "redo"
    assert int((client.get("cells", "scribbles") == 1).sum().compute()) == edit["voxels"]
    assert [e["kind"] for e in client.history("cells", "scribbles")][-3:] == [
        "paint",
        "undo",
        "redo",
    ]


def test_twenty_concurrent_annotators_lose_no_stroke(client, server):
    client.create_annotation_layer("cells", "crowd", dtype="uint16", chunks=[8, 16, 16])
    # disjoint one-voxel strokes on a lattice, so every stroke must survive
    centers = [(z, y, x) for z in range(1, 16, 3) for y in range(2, 64, 8) for x in range(2, 64, 8)]
    centers = centers[:200]
    barrier = threading.Barrier(20)

    def worker(k: int) -> list[int]:
        mine = centers[k::20]
        out = []
        with Client(server.url, server.token) as own:
            barrier.wait(timeout=60)
            for c in mine:
                out.append(own.paint_stroke("cells", "crowd", k + 1, [c], 0)["voxels"])
        return out

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(worker, range(20)))
    assert all(v == 1 for r in results for v in r)
    data = client.get("cells", "crowd").compute()
    for k in range(20):
        for c in centers[k::20]:
            assert data[c] == k + 1
    assert int((data > 0).sum()) == len(centers)


@pytest.mark.slow
def test_shallow_train_and_predict_jobs(client, volume):
    client.add_label("cells", "truth", "cytoplasm")
    client.add_label("cells", "truth", "membrane")
    client.add_label("cells", "truth", "mitochondria")
    client.import_labels("cells", "truth.tif", "truth", label_set="truth").wait(timeout=120)
    client.create_annotation_layer("cells", "marks", label_set="truth")
    lab = volume.labels
    for value in (0, 1):
        zs, ys, xs = np.nonzero(lab == value)
        pick = np.random.default_rng(value).choice(zs.size, 60, replace=False)
        for i in pick[:60]:
            client.paint("cells", "marks", int(value) + 1, center=(zs[i], ys[i], xs[i]), radius=0)
    seen = []
    job = client.train(
        "cells", annotations="marks", features=["gaussian:sigma=1", "raw"], model="m1"
    )
    result = job.wait(timeout=180, progress=lambda f, m: seen.append(f))
    assert result["model"] == "m1" and job.state == "succeeded"
    assert seen and seen[-1] == 1.0
    assert [m["name"] for m in client.models("cells")] == ["m1"]
    pred = client.predict("cells", model="m1", name="seg").wait()  # follows the event stream
    assert pred["labels"] == "seg"
    seg = client.get("cells", "seg").compute()
    truth = lab + 1
    both = np.isin(truth, (1, 2))
    assert (seg[both] == truth[both]).mean() > 0.7
    metrics = client.layer_metrics("cells", "seg", "truth", classes=[1, 2]).wait(timeout=120)
    assert 0 < metrics["report"]["mean_iou"] <= 1


def test_failed_job_raises_and_cancel(client):
    client.create_annotation_layer("cells", "blank")
    job = client.train("cells", annotations="blank", features=["raw"], model="bad")
    with pytest.raises(JobFailedError, match="annotat"):
        job.wait(timeout=120)
    assert job.state == "failed" and job.error
    slow = client.probe(seconds=30)
    asked = []

    def cancel_once_running(fraction: float, message: str) -> None:
        if fraction > 0 and not asked:
            asked.append(fraction)
            slow.cancel()

    with pytest.raises(CancelledError):
        slow.wait(timeout=60, progress=cancel_once_running)
    assert slow.refresh().state == "cancelled"
    again = slow.resubmit(seconds=0)
    assert again.wait(timeout=60)["sees_data_root"] is True
    assert again.info["resubmitted_from"] == slow.id
    assert any(j.id == again.id for j in client.jobs())
