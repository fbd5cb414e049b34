"""Jobs through the API: states, progress, logs, failures, cancel, resubmit, event streams."""

from __future__ import annotations

import json
import os
import time

import pytest

from voxelwise.workspace import Workspace


def test_features_job_succeeds_with_progress_and_logs(api):
    r = api.http.post(
        "/workspaces/cells/features", json={"features": ["gaussian:sigma=1"]}, headers=api.h("ana")
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] == "queued" and job["owner"] == "ana" and job["kind"] == "features"
    done = api.wait(job["id"])
    assert done["state"] == "succeeded", done
    assert done["progress"] == 1.0 and done["attempt"] == 1 and done["worker"]
    assert done["result"] == {"layers": ["gaussian_s1.0"]}
    ws = Workspace.open(api.root / "workspaces" / "cells.vw")
    assert ws.layer("gaussian_s1.0").kind == "feature"
    logs = api.http.get(f"/jobs/{job['id']}/logs", headers=api.h("ana")).json()
    messages = [line["message"] for line in logs]
    assert messages[0].startswith("queued features") and messages[-1] == "succeeded"
    assert any(m.startswith("started on") for m in messages)
    # listed for ana and for the workspace's viewer, not for a stranger
    assert job["id"] in [j["id"] for j in api.http.get("/jobs", headers=api.h("victor")).json()]
    assert api.http.get(f"/jobs/{job['id']}", headers=api.h("nobody")).status_code == 403


def test_immediate_checks_before_a_job_starts(api):
    h = api.h("ana")
    cases = [
        ("/workspaces/cells/features", {"features": "nonexistent_filter"}, 404),
        ("/workspaces/cells/features", {"features": "small", "source": "ghost"}, 404),
        ("/workspaces/cells/shallow/train", {"annotations": "ghost"}, 404),
        ("/workspaces/cells/supervoxels", {"name": "raw"}, 409),
        ("/workspaces/cells/analysis/metrics", {"pred": "raw", "truth": "ghost"}, 404),
        ("/workspaces/cells/analysis/split", {"table": "ghost", "rules": {"rules": []}}, 404),
        ("/workspaces/cells/deep/train", {"annotations": "raw", "device": "cuda"}, 409),
        ("/workspaces/ghost/features", {"features": "small"}, 404),
    ]
    for url, body, status in cases:
        r = api.http.post(url, json=body, headers=h)
        assert r.status_code == status, (url, body, r.text)


def test_a_job_that_raises_fails_with_its_message_and_the_server_keeps_serving(api):
    h = api.h("ana")
    r = api.http.post("/workspaces/cells/annotations", json={"name": "empty"}, headers=h)
    assert r.status_code == 201
    r = api.http.post(
        "/workspaces/cells/shallow/train",
        json={"annotations": "empty", "features": ["raw"], "model": "never"},
        headers=h,
    )
    assert r.status_code == 202
    job = api.wait(r.json()["id"])
    assert job["state"] == "failed"
    assert "annotat" in job["error"].lower()  # the library's TrainingDataError message
    assert str(api.root) not in job["error"]
    assert api.http.get("/health").status_code == 200
    assert api.http.get("/workspaces/cells/layers/raw/slice?index=0", headers=h).status_code == 200


def test_cancel_a_running_job_then_resubmit(api):
    r = api.http.post("/probe", json={"seconds": 30}, headers=api.h())
    assert r.status_code == 202
    job_id = r.json()["id"]
    deadline = time.monotonic() + 20
    while api.http.get(f"/jobs/{job_id}", headers=api.h()).json()["progress"] <= 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    start = time.monotonic()
    r = api.http.post(f"/jobs/{job_id}/cancel", headers=api.h())
    assert r.status_code == 200 and r.json()["cancel_requested"]
    job = api.wait(job_id)
    assert job["state"] == "cancelled"
    assert time.monotonic() - start < 5
    assert api.http.post(f"/jobs/{job_id}/cancel", headers=api.h()).status_code == 409
    r = api.http.post(f"/jobs/{job_id}/resubmit", json={"params": {"seconds": 0}}, headers=api.h())
    assert r.status_code == 202
    again = api.wait(r.json()["id"])
    assert again["state"] == "succeeded" and again["resubmitted_from"] == job_id
    assert again["result"]["sees_data_root"] is True
    r = api.http.post(f"/jobs/{job_id}/resubmit", json={"params": {"seconds": -5}}, headers=api.h())
    assert r.status_code == 422


def test_events_stream_until_the_job_ends(api):
    r = api.http.post("/probe", json={"seconds": 0.6}, headers=api.h())
    job_id = r.json()["id"]
    events = []
    with api.http.stream("GET", f"/jobs/{job_id}/events", headers=api.h()) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[6:])))
    states = [d["state"] for e, d in events if e == "job"]
    assert states[-1] == "succeeded"
    assert "log" in {e for e, _ in events}
    assert api.http.get("/jobs/nope/events", headers=api.h()).status_code == 404


def test_unknown_job_is_404(api):
    r = api.http.get("/jobs/0123456789abcdef", headers=api.h())
    assert r.status_code == 404 and "0123456789abcdef" in r.json()["detail"]


def test_create_workspace_from_a_real_volume_with_roi_and_binning(api, shared_data):
    stack = shared_data / "drosophila_vnc_sstem" / "stack1" / "raw"
    link = api.root / "vnc"
    if not link.exists():
        os.symlink(stack, link)  # inside the root: a symlink to another folder is refused...
    r = api.http.post("/workspaces", json={"name": "vnc", "image": "vnc"}, headers=api.h())
    assert r.status_code == 400  # ...since it resolves outside the data root
    link.unlink()
    (api.root / "vnc").mkdir()
    for f in sorted(stack.glob("*.tif"))[:4]:
        (api.root / "vnc" / f.name).write_bytes(f.read_bytes())
    body = {"name": "vnc", "image": "vnc", "roi": "0:4,100:356,200:456", "bin": [1, 2, 2]}
    r = api.http.post("/workspaces", json=body, headers=api.h())
    assert r.status_code == 202, r.text
    job = api.wait(r.json()["id"])
    assert job["state"] == "succeeded", job
    assert job["result"]["shape"] == [4, 128, 128]
    info = api.http.get("/workspaces/vnc", headers=api.h()).json()
    assert info["source"]["roi"] == "0:4,100:356,200:456"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "image": "em.tif", "roi": "5:1,0:1,0:1"},
        {"name": "x", "image": "em.tif", "bin": 0},
        {"name": "x", "image": "missing.tif"},
        {"name": "../x", "image": "em.tif"},
        {"name": "x"},
        {"name": "x", "image": "labels.tif", "chunks": [0, 1, 1]},
    ],
)
def test_bad_workspace_requests(api, body):
    r = api.http.post("/workspaces", json=body, headers=api.h())
    if r.status_code == 202:  # errors found only when the file is read: the job fails
        job = api.wait(r.json()["id"])
        assert job["state"] == "failed" and job["error"]
    else:
        assert r.status_code in (404, 422), r.text


def test_every_job_kind_can_be_resubmitted_and_unknown_kinds_are_refused():
    import voxelwise.server._routes_active  # route modules register their job kinds
    import voxelwise.server._routes_objects
    import voxelwise.server._routes_workflows  # noqa: F401
    from voxelwise.server._errors import ApiError
    from voxelwise.server._ops import OPERATIONS
    from voxelwise.server._schemas_jobs import JOB_MODELS
    from voxelwise.server._submit import validate_params

    assert set(OPERATIONS) <= set(JOB_MODELS), set(OPERATIONS) - set(JOB_MODELS)
    with pytest.raises(ApiError) as info:
        validate_params("no_such_kind", {})
    assert info.value.status == 409 and "no_such_kind" in info.value.detail
