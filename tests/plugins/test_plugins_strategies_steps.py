"""Strategy and step plugins: the example plugin's strategy ranking candidates (library, campaign,
command line, simulate) and its workflow step validated, recorded, exported and replayed; bad
plugins (raising, wrong return shape, unknown inputs, bad parameters) give clear errors; the
REST registry lists networks, strategies and steps with their parameter schemas."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from voxelwise import active, plugins
from voxelwise.cli._main import main
from voxelwise.workflows import (
    WorkflowError,
    export_workflow,
    run_workflow,
    validate_workflow,
)
from voxelwise.workflows._plugins import PluginStepError
from voxelwise.workflows._steps import StepContext, execute_step
from voxelwise.workspace import Workspace

NOVELTY = "voxelwise_example_plugin.novelty"
OTSU = "voxelwise_example_plugin.otsu"
TINYNET = "voxelwise_example_plugin.tinynet"


@pytest.fixture
def bad(tmp_path, monkeypatch):
    """An installed distribution (a bare .dist-info) with misbehaving strategies and steps."""
    dist = tmp_path / "bad_kinds-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-kinds\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[voxelwise.strategies]\n"
        "explode = bad_kinds:explode\n"
        "short = bad_kinds:short\n"
        "nan = bad_kinds:nan\n"
        "odd_input = bad_kinds:odd_input\n"
        "[voxelwise.steps]\n"
        "fail = bad_kinds:fail\n"
        "liar = bad_kinds:liar\n"
        "greedy = bad_kinds:greedy\n"
    )
    (tmp_path / "bad_kinds.py").write_text(
        textwrap.dedent(
            '''
            import numpy as np

            def explode(entropy):
                """Raises."""
                raise ZeroDivisionError("no scores today")

            def short(entropy):
                """Returns one score too few."""
                return entropy[:-1]

            def nan(margin):
                """Returns NaN scores."""
                return np.full(len(margin), np.nan)

            def odd_input(entropy, gradients):
                """Takes an input voxelwise does not give."""
                return entropy

            def fail(ws, *, source: str = "raw"):
                """Raises while running."""
                raise KeyError("lost the plot")

            def liar(ws, *, name: str = "ghost"):
                """Claims a layer it never wrote."""
                return [name]

            def greedy(ws, config, *, name: str = "x"):
                """Takes an input voxelwise does not give."""
                return []
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.refresh()
    yield
    monkeypatch.undo()
    sys.modules.pop("bad_kinds", None)
    plugins.refresh()


def _novelty(entropy: np.ndarray, embeddings: np.ndarray, weight: float = 0.5) -> np.ndarray:
    def unit(v: np.ndarray) -> np.ndarray:
        return (v - v.min()) / (v.max() - v.min())

    dist = np.linalg.norm(embeddings - embeddings.mean(axis=0), axis=1)
    return (1 - weight) * unit(entropy) + weight * unit(dist)


def test_strategy_plugin_ranks_candidates(example_plugin):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (20, 3, 4, 4))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    emb = rng.normal(0, 1, (20, 5))
    assert active.parse_strategy(NOVELTY) == NOVELTY
    sel = active.select_from_probabilities(NOVELTY, probs, 5, embeddings=emb)
    expected = _novelty(active.uncertainty_scores(probs, method="entropy"), emb)
    assert sel.strategy == NOVELTY
    np.testing.assert_array_equal(sel.indices, np.argsort(-expected, kind="stable")[:5])
    np.testing.assert_allclose(sel.scores, np.sort(expected)[::-1][:5])
    # it differs from plain entropy: the embeddings matter
    plain = active.select_from_probabilities("entropy", probs, 5)
    assert list(plain.indices) != list(sel.indices)
    # select() takes named scores; near-duplicates are skipped as for built-in strategies
    entropy = active.uncertainty_scores(probs, method="entropy")
    again = active.select(
        NOVELTY, 3, scores={"entropy": entropy}, embeddings=emb, is_duplicate=lambda i, c: i == 0
    )
    assert 0 not in again.indices and len(again.indices) == 3
    with pytest.raises(active.StrategyError, match="needs embeddings"):
        active.select(NOVELTY, 3, scores={"entropy": entropy})
    listed = {p.name: p for p in plugins.list_plugins("strategy")}
    assert listed[NOVELTY].schema["properties"] == {"weight": {"type": "number", "default": 0.5}}
    # its keyword parameters: given values replace the defaults, checked against its schema
    far = active.select_from_probabilities(NOVELTY, probs, 5, embeddings=emb, params={"weight": 1})
    expected = _novelty(active.uncertainty_scores(probs, method="entropy"), emb, weight=1.0)
    np.testing.assert_array_equal(far.indices, np.argsort(-expected, kind="stable")[:5])
    assert list(far.indices) != list(sel.indices)
    with pytest.raises(active.StrategyError, match=r"has no parameter 'wieght'.*weight"):
        active.select_from_probabilities(NOVELTY, probs, 5, embeddings=emb, params={"wieght": 1})
    with pytest.raises(active.StrategyError, match="weight"):
        active.select(
            NOVELTY, 3, scores={"entropy": entropy}, embeddings=emb, params={"weight": "x"}
        )
    with pytest.raises(active.StrategyError, match="built-in strategy 'entropy' takes no param"):
        active.select("entropy", 3, scores=entropy, params={"weight": 1.0})


def test_bad_strategy_plugins(bad, example_plugin, tmp_path, capsys):
    p = np.full((6, 2), 0.5)
    p[:, 0] = np.linspace(0.1, 0.9, 6)
    p[:, 1] = 1 - p[:, 0]
    with pytest.raises(active.StrategyError, match="raised ZeroDivisionError: no scores today"):
        active.select_from_probabilities("bad_kinds.explode", p, 2)
    with pytest.raises(active.StrategyError, match=r"shape \(5,\) for 6 candidates"):
        active.select_from_probabilities("bad_kinds.short", p, 2)
    with pytest.raises(active.StrategyError, match="non-finite scores"):
        active.select_from_probabilities("bad_kinds.nan", p, 2)
    with pytest.raises(active.StrategyError, match=r"\['entropy', 'gradients'\].*must be among"):
        active.parse_strategy("bad_kinds.odd_input")
    with pytest.raises(active.StrategyError, match=r"No strategy plugin named 'bad_kinds\.nope'"):
        active.parse_strategy("bad_kinds.nope")
    with pytest.raises(active.StrategyError, match="or a plugin strategy"):
        active.parse_strategy("entropyy")
    ws = Workspace.create(tmp_path / "ws.vw", np.zeros((2, 32, 32), np.float32))
    code = main(["-q", "al", "create", str(ws.path), "c", "--strategy", "bad_kinds.nope"])
    err = capsys.readouterr().err
    assert code == 2 and "No strategy plugin named 'bad_kinds.nope'" in err
    assert len(err.strip().splitlines()) == 1  # a one-line error, no traceback


@pytest.mark.slow
def test_strategy_plugin_in_campaign_cli_and_simulate(example_plugin, tmp_path, capsys):
    pytest.importorskip("torch")
    from voxelwise.data import synthetic_em

    vol = synthetic_em((6, 64, 64), rng=4)
    image, mask = vol.image, (vol.labels == 2).astype(np.uint8)
    np.save(tmp_path / "image.npy", image)
    np.save(tmp_path / "truth.npy", mask)
    tiny = {"network": {"depth": 2, "width": 4, "blocks": 1}, "batch_size": 2}
    (tmp_path / "tiny.yaml").write_text(json.dumps(tiny))
    code = main(
        [
            "-q", "al", "simulate", "--image", str(tmp_path / "image.npy"),
            "--truth", str(tmp_path / "truth.npy"), "--pool-roi", "0:4,:,:",
            "--test-roi", "4:6,:,:", "--strategies", NOVELTY, "--seeds", "1",
            "--initial", "3", "--k", "2", "--rounds", "1", "--patch-size", "32,32",
            "--config", str(tmp_path / "tiny.yaml"), "--initial-steps", "2", "--steps", "1",
            "--no-full", "--threads", "1", "--out", str(tmp_path / "sim"),
        ]
    )  # fmt: skip
    assert code == 0 and NOVELTY in capsys.readouterr().out
    rows = (tmp_path / "sim" / "curves.csv").read_text().splitlines()
    assert any(r.startswith(f"{NOVELTY},0,1,5,") for r in rows)  # its round 1: 3 + 2 patches
    common = {
        "pool_roi": "0:4,:,:", "test_roi": "4:6,:,:", "seeds": 1, "initial": 3, "k": 2,
        "rounds": 1, "patch_size": (32, 32), "config": tiny, "initial_steps": 2, "steps": 1,
        "full_supervision": False,
    }  # fmt: skip
    active.simulate(
        image, mask, out=tmp_path / "sim2", strategies=[NOVELTY],
        strategy_params={NOVELTY: {"weight": 1.0}}, **common,
    )  # fmt: skip
    run = active.Campaign(tmp_path / "sim2" / "simulation.vw", f"seed0-{NOVELTY}")
    assert run.rounds()[-1]["proposals"][0]["strategy_params"] == {"weight": 1.0}
    with pytest.raises(ValueError, match="strategies being compared"):
        active.simulate(image, mask, out=tmp_path / "x", strategy_params={NOVELTY: {}}, **common)
    with pytest.raises(active.StrategyError, match="takes no parameters"):
        active.simulate(
            image, mask, out=tmp_path / "x", strategy_params={"random": {"w": 1}}, **common
        )

    ws = str(tmp_path / "cells.vw")
    assert main(["-q", "workspace", "create", ws, str(tmp_path / "image.npy")]) == 0
    assert main(
        ["-q", "al", "create", ws, "mito", "--patch-size", "32,32", "--config",
         str(tmp_path / "tiny.yaml"), "--classes", "2", "--initial-steps", "2", "--seed", "0",
         "--strategy", NOVELTY]
    ) == 0  # fmt: skip
    assert NOVELTY in capsys.readouterr().out
    campaign = active.Campaign(ws, "mito")
    first = campaign.propose(3, preview=False)
    assert [p.strategy for p in first] == ["random"] * 3  # no model yet
    for p in first:
        box = tuple(slice(a, b) for a, b in zip(p.start, p.stop))
        campaign.submit((mask[box] + 1).reshape(32, 32), patch=p.index, author="oracle")
    campaign.update()
    assert main(["-q", "al", "propose", ws, "mito", "-k", "3", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert [p["strategy"] for p in second] == [NOVELTY] * 3
    scores = [p["score"] for p in second]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)

    # the plugin's parameters: the campaign's default, overridden for one batch, recorded
    assert main(
        ["-q", "al", "create", ws, "far", "--patch-size", "32,32", "--config",
         str(tmp_path / "tiny.yaml"), "--classes", "2", "--seed", "0", "--model",
         str(campaign.model_path), "--strategy", NOVELTY, "--strategy-param", "weight=1"]
    ) == 0  # fmt: skip
    far = active.Campaign(ws, "far")
    assert far.params["strategy_params"] == {"weight": 1.0}
    assert far.status()["strategy_params"] == {"weight": 1.0}
    assert main(["-q", "al", "propose", ws, "far", "-k", "2", "--json"]) == 0
    assert main(
        ["-q", "al", "propose", ws, "far", "-k", "2", "--json", "--strategy-param", "weight=0"]
    ) == 0  # fmt: skip
    recorded = [p["strategy_params"] for p in far.rounds()[-1]["proposals"]]
    assert recorded == [{"weight": 1.0}] * 2 + [{"weight": 0.0}] * 2
    capsys.readouterr()
    code = main(["-q", "al", "propose", ws, "far", "--strategy-param", "wieght=1"])
    assert code != 0 and "has no parameter 'wieght'" in capsys.readouterr().err
    with pytest.raises(active.StrategyError, match="takes no parameters"):
        far.propose(1, strategy="entropy", strategy_params={"weight": 1.0})


def _ws(path: Path, shift: int) -> Workspace:
    rng = np.random.default_rng(shift)
    image = rng.normal(100, 5, (8, 32, 32)).astype(np.float32)
    image[:, shift : shift + 12, 8:24] += 50
    return Workspace.create(path, image, chunks=(4, 16, 16))


def test_step_plugin_recorded_exported_and_replayed(example_plugin, tmp_path):
    ws = _ws(tmp_path / "a.vw", 4)
    workflow = validate_workflow(
        {
            "voxelwise_workflow": 1,
            "inputs": {"image": {}},
            "steps": [
                {"id": "fg", "step": OTSU, "params": {"name": "cells", "bins": 64}},
                {"id": "objects", "step": "instances", "params": {"source": "cells", "value": 2}},
            ],
        }
    )
    ctx = StepContext(ws, tmp_path / "results")
    for step in workflow["steps"]:
        execute_step(step, ctx)
    cells = ws.get("cells").compute()
    assert set(np.unique(cells)) == {1, 2} and (cells == 2).sum() == 8 * 12 * 16
    assert ws.layer("cells").params["threshold"] > 110
    exported = export_workflow(ws)
    assert [s["step"] for s in exported["steps"]] == [OTSU, "instances"]
    assert exported["steps"][0]["params"] == {"name": "cells", "bins": 64}

    image = _ws(tmp_path / "src.vw", 14).get("raw").compute()
    report = run_workflow(exported, image, workspace=tmp_path / "b.vw", results=tmp_path / "r")
    assert report.outcome("fg").status == "ran" and report.outcome("fg").outputs == ["cells"]
    replayed = Workspace.open(tmp_path / "b.vw")
    assert (replayed.get("cells").compute()[:, 14:26, 8:24] == 2).all()
    assert (replayed.get("cells").compute() == 2).sum() == 8 * 12 * 16
    assert "cells_instances" in replayed
    again = run_workflow(exported, workspace=tmp_path / "b.vw", overwrite=True)
    assert again.outcome("fg").status == "ran"  # overwrite reaches the plugin
    listed = {p.name: p for p in plugins.list_plugins("step")}
    assert listed[OTSU].schema["properties"]["bins"] == {"type": "integer", "default": 256}


def test_bad_step_plugins(bad, example_plugin, tmp_path):
    def wf(*steps: dict) -> dict:
        return {"voxelwise_workflow": 1, "inputs": {"image": {}}, "steps": list(steps)}

    with pytest.raises(WorkflowError, match=r"otsu step takes no parameter 'radius'; its"):
        validate_workflow(wf({"step": OTSU, "params": {"radius": 2}}))
    with pytest.raises(WorkflowError, match=r"bins of the plugin .* whole number"):
        validate_workflow(wf({"step": OTSU, "params": {"bins": "many"}}))
    with pytest.raises(WorkflowError, match="refers to layer 'fluo'"):
        validate_workflow(wf({"step": OTSU, "params": {"source": "fluo"}}))
    with pytest.raises(WorkflowError, match=r"No step plugin named 'bad_kinds\.nope'"):
        validate_workflow(wf({"step": "bad_kinds.nope"}))
    with pytest.raises(WorkflowError, match="installed but broken: ImportError"):
        validate_workflow(wf({"step": "voxelwise_example_plugin.broken"}))
    with pytest.raises(WorkflowError, match=r"takes the inputs \['ws', 'config'\]"):
        validate_workflow(wf({"step": "bad_kinds.greedy"}))
    with pytest.raises(WorkflowError, match="unknown step 'segment'"):
        validate_workflow(wf({"step": "segment"}))
    # a later step may use what a plugin step declares it writes, and nothing else
    ok = validate_workflow(
        wf(
            {"step": OTSU, "params": {"name": "m"}},
            {"step": "instances", "params": {"source": "m"}},
        )
    )
    assert [s["step"] for s in ok["steps"]] == [OTSU, "instances"]
    ws = _ws(tmp_path / "a.vw", 4)
    ctx = StepContext(ws, tmp_path / "results")
    before = len(ws.runs())
    checked = validate_workflow(wf({"id": "f", "step": "bad_kinds.fail"}))
    with pytest.raises(
        PluginStepError, match=r"Step 'f' \(plugin 'bad_kinds.fail'\) failed: KeyError"
    ):
        execute_step(checked["steps"][0], ctx)
    checked = validate_workflow(wf({"id": "l", "step": "bad_kinds.liar"}))
    with pytest.raises(PluginStepError, match=r"wrote the layer\(s\) \['ghost'\], which are not"):
        execute_step(checked["steps"][0], ctx)
    assert len(ws.runs()) == before  # failed steps are not recorded


def test_registry_lists_every_plugin_kind_with_schemas(example_plugin, tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    pytest.importorskip("torch")  # the network plugin imports it
    from fastapi.testclient import TestClient

    from voxelwise.server import add_user, create_app, open_db

    token = add_user(open_db(tmp_path), "admin", admin=True)
    with TestClient(create_app(tmp_path, processes=False, n_workers=1)) as http:
        r = http.get("/registry/plugins", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    listed = {p["name"]: p for p in r.json()}
    kinds = {p["kind"] for p in listed.values()}
    assert {"filter", "classifier", "network", "strategy", "step"} <= kinds
    assert listed[TINYNET]["kind"] == "network" and listed[TINYNET]["status"] == "ok"
    assert listed[TINYNET]["schema"]["properties"] == {
        "width": {"type": "integer", "default": 8},
        "in_channels": {"type": "integer", "default": 1},
    }
    assert listed[NOVELTY]["schema"]["properties"]["weight"]["default"] == 0.5
    assert listed[OTSU]["kind"] == "step"
    assert set(listed[OTSU]["schema"]["properties"]) == {"source", "name", "bins"}
    assert listed[OTSU]["summary"].startswith("Otsu threshold")
