"""The interactive active-learning loop end to end through the server API: a real ``voxelwise
serve`` (uvicorn on 127.0.0.1, embedded cluster) driven by :class:`voxelwise.client.Client`,
with users of each role. Create a campaign, propose, answer (a patch's values, a label layer, a
painted stroke, and a patch never proposed), fine-tune as a job, propose with the model (quick
request and job), run the pool dry, and read the rounds history."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("torch")

from voxelwise.client import Client
from voxelwise.data import synthetic_em
from voxelwise.server import ServerProcess

pytestmark = pytest.mark.slow

SHAPE = (4, 64, 64)
TINY = {"network": {"depth": 2, "width": 4, "blocks": 1, "dropout": 0.1}, "batch_size": 2}


@pytest.fixture(scope="module")
def truth():
    vol = synthetic_em(SHAPE, rng=1)
    return vol.image, (vol.labels == 2).astype(np.uint8) + 1  # background 1, mitochondria 2


@pytest.fixture(scope="module")
def server(tmp_path_factory, truth):
    root = tmp_path_factory.mktemp("al-root")
    tifffile.imwrite(root / "em.tif", truth[0], photometric="minisblack")
    tifffile.imwrite(root / "mito.tif", truth[1], photometric="minisblack")
    with ServerProcess(root, workers=1) as proc:
        assert proc.token, proc.log
        with Client(proc.url, proc.token) as admin:
            admin.create_workspace("cells", "em.tif", chunks=[4, 32, 32]).wait(timeout=120)
            admin.import_labels("cells", "mito.tif", "truth", add_missing=True).wait(timeout=120)
            tokens = {"admin": proc.token}
            for user, role in (("ana", "annotator"), ("victor", "viewer")):
                tokens[user] = admin.add_user(user)
                admin.set_member("cells", user, role)
        yield proc, tokens


@pytest.fixture(scope="module")
def clients(server):
    proc, tokens = server
    made = {user: Client(proc.url, token) for user, token in tokens.items()}
    yield made
    for c in made.values():
        c.close()


def _box(p):
    return tuple(slice(a, b) for a, b in zip(p["start"], p["stop"]))


def test_the_loop_through_the_server(clients, truth):
    from voxelwise.client import ServerError as ClientError

    ana, victor = clients["ana"], clients["victor"]
    settings = {
        "patch_size": [32, 32],
        "classes": 2,
        "config": TINY,
        "steps": 2,
        "initial_steps": 4,
        "mc_samples": 2,
        "budget": 4,
        "device": "cpu",
        "rng": 0,
    }
    with pytest.raises(ClientError) as err:
        victor.create_campaign("cells", "mito", **settings)
    assert err.value.status == 403
    status = ana.create_campaign("cells", "mito", **settings)
    assert status["name"] == "mito" and status["round"] == 0 and status["candidates"] == 16
    assert status["model"] is None and status["labels"] == "mito_labels"
    with pytest.raises(ClientError) as err:  # exists already
        ana.create_campaign("cells", "mito", **settings)
    assert err.value.status == 409
    with pytest.raises(ClientError) as err:  # replacing needs owner rights
        ana.create_campaign("cells", "mito", overwrite=True, **settings)
    assert err.value.status == 403
    assert victor.campaigns("cells") == ["mito"]
    long = "a_lab_package_with_a_long_name.weighted_novelty"  # plugin names may be long
    with pytest.raises(ClientError) as err:
        ana.propose("cells", "mito", 1, strategy=long)
    assert err.value.status == 422 and f"No strategy plugin named {long!r}" in str(err.value)
    for call in (ana.propose, ana.propose_job):  # parameters are for plugin strategies
        with pytest.raises(ClientError) as err:
            call("cells", "mito", 1, strategy="bald", strategy_params={"weight": 1})
        assert err.value.status == 422 and "takes no parameters" in str(err.value)
    with pytest.raises(ClientError) as err:
        ana.create_campaign("cells", "m2", **settings, strategy_params={"weight": 1})
    assert err.value.status == 422 and "'entropy' takes no parameters" in str(err.value)

    # round 1: random proposals (no model yet), with previews; a viewer may not propose
    with pytest.raises(ClientError) as err:
        victor.propose("cells", "mito", 2)
    assert err.value.status == 403
    answer = ana.propose("cells", "mito", 2)
    batch = answer["proposals"]
    assert answer["asked"] == 2 and len(batch) == 2 and not answer["stop"]
    assert all(p["strategy"] == "random" and p["axis"] == "z" for p in batch)
    assert all(p["preview"] and len(p["preview"]) > 100 for p in batch)
    assert {p["index"] for p in batch} == {
        p["index"] for p in victor.campaign("cells", "mito")["pending"]
    }

    # answers: a patch's values; a patch never proposed, from a label layer; a painted stroke
    first, second = batch
    record = ana.submit_labels("cells", "mito", truth[1][_box(first)][0], patch=first["index"])
    assert record["proposed"] is True and first["index"] in record["answered"]
    assert record["written"] == 32 * 32
    extra = next(i for i in range(16) if i not in {first["index"], second["index"]})
    record = ana.submit_labels("cells", "mito", patch=extra, layer="truth")
    assert record["proposed"] is False and record["extra"] == [extra]
    z, y, x = second["start"]
    stroke = [(z, y + 8, x + 8), (z, y + 20, x + 20)]
    ana.paint_stroke("cells", "mito_labels", 2, stroke, 3, plane="z")
    record = ana.submit_labels("cells", "mito")  # painted with the annotation routes
    assert second["index"] in record["answered"] and record["labelled"] == 3

    # bad answers: clear 4xx
    for bad, kwargs in (
        (np.ones((5, 5), np.uint8), {"patch": first["index"]}),  # wrong shape
        (np.full((32, 32), 7, np.uint8), {"patch": first["index"]}),  # not a class
        (np.ones((32, 32), np.uint8), {"patch": 10**6}),  # not in the pool
    ):
        with pytest.raises(ClientError) as err:
            ana.submit_labels("cells", "mito", bad, **kwargs)
        assert err.value.status == 422, err.value
    with pytest.raises(ClientError) as err:
        ana.submit_labels("cells", "mito", layer="raw")  # an image, not labels
    assert err.value.status == 422

    # fine-tune as a job: round 1 closes with its model and metrics
    with pytest.raises(ClientError) as err:
        victor.update_campaign("cells", "mito")
    assert err.value.status == 403
    result = ana.update_campaign("cells", "mito").wait(timeout=300)
    assert result["round"]["status"] == "trained" and result["round"]["round"] == 1
    assert result["round"]["training"]["extra"] == [extra]
    assert result["round"]["metrics"]["labelled_patches"] == 3
    status = victor.campaign("cells", "mito")
    assert status["model"] and status["labelled"] == 3 and status["round_status"] == "trained"

    # round 2: the model ranks the pool; proposals avoid labelled patches
    answer = ana.propose("cells", "mito", 2, strategy="entropy", preview=False)
    scored = answer["proposals"]
    assert [p["strategy"] for p in scored] == ["entropy", "entropy"]
    assert scored[0]["score"] >= scored[1]["score"] > 0 and scored[0]["preview"] is None
    labelled = {first["index"], second["index"], extra}
    assert not labelled & {p["index"] for p in scored}
    job = ana.propose_job("cells", "mito", 1, strategy="bald").wait(timeout=300)
    assert job["proposals"][0]["strategy"] == "bald"
    assert job["proposals"][0]["index"] not in labelled | {p["index"] for p in scored}
    ana.submit_labels("cells", "mito", truth[1][_box(scored[0])][0], patch=scored[0]["index"])
    assert ana.campaign("cells", "mito")["stop_reason"].startswith("budget reached")

    # more than the pool holds: what is left, with a note; then an empty pool is a clear 422
    left = ana.propose("cells", "mito", 100, strategy="random", preview=False)
    assert left["asked"] == 100 and len(left["proposals"]) == 16 - 4 - 2 and left["note"]
    assert left["stop"] and left["stop_reason"].startswith("budget reached")
    with pytest.raises(ClientError) as err:
        ana.propose("cells", "mito", 1)
    assert err.value.status == 422 and "No unlabelled patch" in str(err.value)

    # the audit trail
    rounds = victor.campaign_rounds("cells", "mito")
    assert [r["round"] for r in rounds] == [1, 2]
    assert [r["status"] for r in rounds] == ["trained", "open"]
    assert len(rounds[0]["proposals"]) == 2 and len(rounds[0]["submissions"]) == 3
    assert rounds[0]["submissions"][0]["author"] == "ana"
    assert len(rounds[1]["proposals"]) == 2 + 1 + 10
    with pytest.raises(ClientError) as err:
        victor.campaign("cells", "nope")
    assert err.value.status == 404 and "mito" in str(err.value)
