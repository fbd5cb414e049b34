"""voxelwise.active.Campaign: the propose / label / update loop on a workspace, persistence and
resume, bad input, and the shallow path. Tiny networks on a synthetic volume, one thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from voxelwise.active import (  # noqa: E402
    ActiveLearningError,
    Campaign,
    CampaignBusyError,
    CampaignExistsError,
    CampaignNotFoundError,
    EmptyPoolError,
    PatchIndexError,
    PoolSizeError,
    StrategyError,
    list_campaigns,
)
from voxelwise.data import synthetic_em  # noqa: E402
from voxelwise.errors import VoxelwiseWarning  # noqa: E402
from voxelwise.workspace import InvalidLayerError, Workspace  # noqa: E402

TINY = {"network": {"depth": 2, "width": 4, "blocks": 1}, "batch_size": 2}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def volume():
    vol = synthetic_em((4, 64, 64), rng=1)
    return vol.image, (vol.labels == 2).astype(np.uint8) + 1  # background 1, mitochondria 2


@pytest.fixture
def ws(tmp_path, volume):
    return Workspace.create(tmp_path / "cells.vw", volume[0], chunks=(4, 32, 32))


def answer(campaign, truth, proposals):
    for p in proposals:
        block = truth[tuple(slice(a, b) for a, b in zip(p.start, p.stop))]
        campaign.submit(block.reshape(32, 32), patch=p.index, author="oracle")


def make(ws, **kwargs):
    options = {
        "patch_size": (32, 32),
        "config": TINY,
        "steps": 2,
        "initial_steps": 3,
        "classes": 2,
        "rng": 0,
        "mc_samples": 2,
    }
    return Campaign.create(ws, "mito", **{**options, **kwargs})


@pytest.mark.slow
def test_loop_records_rounds_and_resumes_after_restart(ws, volume):
    truth = volume[1]
    c = make(ws)
    assert list_campaigns(ws) == ["mito"] and len(c.pool()) == 16
    first = c.propose(4)
    assert [p.strategy for p in first] == ["random"] * 4  # no model yet
    assert [p.rank for p in first] == [0, 1, 2, 3]
    assert all(p.preview for p in first)  # base64 PNG
    assert c.model_path is None
    answer(c, truth, first)
    rec = c.update()
    assert rec["status"] == "trained" and rec["round"] == 1
    assert rec["metrics"]["labelled_patches"] == 4 and rec["metrics"]["val_miou"] is None
    assert sorted(rec["training"]["train"]) == sorted(p.index for p in first)
    assert c.model_path.is_file()

    second = c.propose(3)  # the default strategy, maximum entropy, with the model
    assert [p.strategy for p in second] == ["entropy"] * 3
    assert {p.index for p in second}.isdisjoint({p.index for p in first})
    assert second[0].score >= second[1].score >= second[2].score
    json.dumps([p.to_dict() for p in second])  # plain JSON for a server

    # a restart: a new process opens the campaign from the workspace folder alone
    again = Campaign(ws.path, "mito")
    status = again.status()
    assert status["round"] == 2 and status["round_status"] == "open"
    assert status["labelled"] == 4
    assert sorted(p["index"] for p in status["pending"]) == sorted(p.index for p in second)
    answer(again, truth, second)
    rec2 = again.update()
    assert rec2["round"] == 2 and rec2["training"]["init_model"] == rec["training"]["model"]
    rounds = again.rounds()
    assert [r["round"] for r in rounds] == [1, 2]
    assert [len(r["proposals"]) for r in rounds] == [4, 3]
    assert rounds[1]["proposals"][0]["score"] == pytest.approx(second[0].score)
    assert len(rounds[1]["submissions"]) == 3
    assert [r.step for r in ws.runs(step="active.update")] == ["active.update"] * 2
    assert again.should_stop() == (False, "")
    json.dumps(again.status())


@pytest.mark.slow
def test_every_strategy_proposes_distinct_unlabelled_patches(ws, volume):
    c = make(ws, val_fraction=0.3)
    answer(c, volume[1], c.propose(6))
    rec = c.update()
    assert rec["metrics"]["val_patches"] >= 1 and rec["metrics"]["val_miou"] is not None
    labelled = set(c.labelled().tolist())
    seen: list[int] = []
    for name in ("entropy", "least_confidence", "margin", "bald", "kmeans", "coreset", "hybrid"):
        (p,) = c.propose(1, strategy=name, preview=False)
        assert p.strategy == name and np.isfinite(p.score)
        seen.append(p.index)
    assert len(set(seen)) == 7 and labelled.isdisjoint(seen)  # pending ones are left out


@pytest.mark.slow
def test_extra_labels_volume_files_and_k_beyond_the_pool(ws, volume, tmp_path):
    truth = volume[1]
    c = make(ws)
    pool = c.pool()
    index = pool.locate((1, 32, 32))  # never proposed
    rec = c.submit(truth[pool.slices(index)].reshape(32, 32), patch=index, author="me")
    assert rec["proposed"] is False and rec["extra"] == [index] and rec["written"] == 1024
    dense = np.zeros_like(truth)
    dense[3, :32, :32] = truth[3, :32, :32]
    np.save(tmp_path / "more.npy", dense)
    rec = c.submit(str(tmp_path / "more.npy"))
    assert rec["labelled"] == 2 and pool.locate((3, 0, 0)) in rec["extra"]
    assert c.rounds()[0]["submissions"][0]["author"] == "me"
    upd = c.update()
    assert sorted(upd["training"]["extra"]) == sorted(rec["extra"])
    with pytest.warns(VoxelwiseWarning, match="only 14 unlabelled"):
        props = c.propose(20, preview=False)
    assert len(props) == 14
    with pytest.raises(EmptyPoolError, match="No unlabelled patch"):
        c.propose(1)


def test_bad_input_gives_clear_errors(ws, volume):
    c = make(ws, config={**TINY, "network": {**TINY["network"], "dropout": 0.0}})
    with pytest.raises(ActiveLearningError, match="Nothing is labelled"):
        c.update()
    with pytest.raises(ValueError, match="patch's shape"):
        c.submit(np.ones((5, 5), np.uint8), patch=0)
    with pytest.raises(ValueError, match="label values from 1 to 2"):
        c.submit(np.full((32, 32), 7, np.uint8), patch=0)
    with pytest.raises(PatchIndexError, match="from 0 to 15"):
        c.submit(np.ones((32, 32), np.uint8), patch=16)
    with pytest.raises(ValueError, match="workspace's shape"):
        c.submit(np.ones((2, 2, 2), np.uint8))
    c.submit(np.ones((32, 32), np.uint8), patch=0)  # background only
    with pytest.raises(ActiveLearningError, match="at least two"):
        c.update()
    assert c.rounds()[0]["status"] == "open"  # a failed update leaves the round open
    with pytest.raises(CampaignExistsError):
        make(ws)
    with pytest.raises(CampaignNotFoundError, match="existing: mito"):
        Campaign(ws, "nope")
    with pytest.raises(ValueError, match="k as a whole number"):
        c.propose(0)
    with pytest.raises(StrategyError, match="Expected a strategy"):
        c.propose(1, strategy="oracle")
    with pytest.raises(PoolSizeError, match="only 15 unlabelled"):
        c.propose(16, on_short="raise")
    with pytest.raises(InvalidLayerError, match="'image' layer"):
        Campaign.create(ws, "into-raw", labels="raw", patch_size=(32, 32), config=TINY)
    free = Campaign.create(ws, "free", patch_size=(32, 32), config=TINY)  # no classes given
    with pytest.raises(ValueError, match="from 1 to 65535"):  # what the uint16 layer holds
        free.submit(np.full((32, 32), 70000, np.int32), patch=0)


@pytest.mark.slow
def test_bald_without_dropout_is_refused_with_a_clear_message(ws, volume):
    c = make(ws, config={**TINY, "network": {**TINY["network"], "dropout": 0.0}})
    answer(c, volume[1], c.propose(4, preview=False))
    c.update()
    with pytest.raises(StrategyError, match="BALD needs a network with dropout"):
        c.propose(2, strategy="bald")
    assert len(c.propose(2, strategy="entropy", preview=False)) == 2


def test_a_second_trainer_is_refused_while_one_runs(ws):
    c = make(ws)
    c.submit(np.ones((32, 32), np.uint8), patch=0)
    from voxelwise.active._update import _begin, _end

    number = _begin(c)  # this process is "training"
    with pytest.raises(CampaignBusyError, match="already training"):
        c.update()
    with pytest.raises(CampaignBusyError, match="training its next model"):
        c.propose(1)
    _end(c, number)
    with c._store.transaction() as conn:  # a trainer that died leaves a stale record
        conn.execute(
            "UPDATE active_campaigns SET state = ? WHERE name = 'mito'",
            (
                json.dumps(
                    {"model": None, "trainer": {"host": os.uname().nodename, "pid": 1, "since": 0}}
                ),
            ),
        )
        conn.execute("UPDATE active_rounds SET status = 'training'")
    with pytest.raises(ActiveLearningError, match="at least two"):  # taken over, then refused
        c.update()


def test_stopping_rules(ws):
    c = make(ws, budget=2, patience=2, metric="iou")
    assert c.should_stop() == (False, "")
    with c._store.transaction() as conn:
        for r, value in enumerate([0.5, 0.6, 0.601, 0.602], start=1):
            conn.execute(
                "INSERT INTO active_rounds (campaign, round, status, metrics, started) "
                "VALUES ('mito', ?, 'trained', ?, 'now')",
                (r, json.dumps({"iou": value})),
            )
    stop, reason = c.should_stop()
    assert stop and reason.startswith("plateau")
    c.submit(np.ones((32, 32), np.uint8), patch=0)
    c.submit(np.full((32, 32), 2, np.uint8), patch=1)
    stop, reason = c.should_stop()
    assert stop and reason.startswith("budget")


@pytest.mark.slow
def test_import_does_not_load_torch():
    code = "import sys, voxelwise.active as a; a.Pool; a.select; a.Campaign; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
