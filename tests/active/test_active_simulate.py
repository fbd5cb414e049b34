"""voxelwise.active.simulate and ``voxelwise al``: simulated campaigns with an oracle, learning
curves (CSV, PNG), and the command line driving a campaign on a workspace."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from voxelwise.active import simulate  # noqa: E402
from voxelwise.cli._main import main  # noqa: E402
from voxelwise.data import synthetic_em  # noqa: E402
from voxelwise.errors import OutputExistsError  # noqa: E402

TINY = {"network": {"depth": 2, "width": 4, "blocks": 1}, "batch_size": 2}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def volume():
    vol = synthetic_em((6, 64, 64), rng=4)
    return vol.image, (vol.labels == 2).astype(np.uint8)


@pytest.mark.slow
def test_simulation_writes_learning_curves_with_equal_budgets(tmp_path, volume):
    lines: list[str] = []
    result = simulate(
        volume[0],
        volume[1],
        out=tmp_path / "sim",
        pool_roi="0:4,:,:",
        test_roi="4:6,:,:",
        strategies=["entropy", "coreset"],
        seeds=1,
        initial=3,
        k=2,
        rounds=1,
        patch_size=(32, 32),
        config=TINY,
        initial_steps=2,
        steps=1,
        log=lines.append,
    )
    assert result.strategies == ["random", "entropy", "coreset"]
    rows = list(csv.DictReader(result.csv.read_text().splitlines()))
    assert len(rows) == 3 * 2  # strategies x (initial + 1 round)
    first = {r["strategy"]: float(r["iou"]) for r in rows if r["round"] == "0"}
    assert len(set(first.values())) == 1  # every strategy starts from the same model
    assert {r["labelled_patches"] for r in rows if r["round"] == "1"} == {"5"}  # equal budgets
    summary = list(csv.DictReader(result.summary_csv.read_text().splitlines()))
    assert {r["strategy"] for r in summary} == {"random", "entropy", "coreset"}
    assert len(result.full_supervision) == 1 and 0 <= result.full_supervision[0] <= 1
    png = np.asarray(Image.open(result.plot_png))
    assert png.shape[2] == 3 and (png < 250).any()  # something is drawn
    budgets, _, std = result.curve("entropy")
    assert budgets.tolist() == [3.0, 5.0] and np.all(std == 0)
    assert result.best() in ("entropy", "coreset")
    assert np.isfinite(result.gain_vs_random("entropy"))
    assert any("full supervision" in s for s in lines)
    with pytest.raises(OutputExistsError):
        simulate(volume[0], volume[1], out=tmp_path / "sim", test_roi="4:6,:,:", pool_roi="0:4,:,:")


@pytest.mark.slow
def test_runs_made_apart_combine_into_one_result(tmp_path, volume):
    from voxelwise.active import SimulationResult

    common = {
        "pool_roi": "0:4,:,:",
        "test_roi": "4:6,:,:",
        "strategies": ["entropy"],
        "initial": 3,
        "k": 2,
        "rounds": 1,
        "patch_size": (32, 32),
        "config": TINY,
        "initial_steps": 2,
        "steps": 1,
    }
    a = simulate(volume[0], volume[1], out=tmp_path / "a", seeds=[0], **common)
    b = simulate(volume[0], volume[1], out=tmp_path / "b", seeds=[0], full_supervision=0, **common)
    both = SimulationResult.combine([tmp_path / "a", tmp_path / "b"], tmp_path / "both")
    assert both.strategies == ["random", "entropy"] and len(both.rows) == 2 * len(a.rows)
    assert both.full_supervision == pytest.approx(a.full_supervision)  # b trained none
    for s in both.strategies:  # the pooled curve is the mean over the runs' seeds
        mean = (a.curve(s)[1] + b.curve(s)[1]) / 2
        np.testing.assert_allclose(both.curve(s)[1], mean, rtol=1e-6)
    rows = list(csv.DictReader(both.csv.read_text().splitlines()))
    assert {r["run"] for r in rows} == {"a", "b"}
    summary = list(csv.DictReader(both.summary_csv.read_text().splitlines()))
    assert {r["seeds"] for r in summary} == {"2"} and both.plot_png.is_file()
    again = SimulationResult.combine([both.csv.parent], tmp_path / "again")  # runs kept
    assert {r["run"] for r in again.rows} == {"a", "b"}
    with pytest.raises(FileNotFoundError, match="not the output folder of a simulation"):
        SimulationResult.combine([tmp_path], tmp_path / "c")
    with pytest.raises(ValueError, match="other than the runs combined"):
        SimulationResult.combine([tmp_path / "a"], tmp_path / "a")
    with pytest.raises(ValueError, match="at least one"):
        SimulationResult.combine([], tmp_path / "c")


def test_simulation_refuses_a_test_region_inside_the_pool(tmp_path, volume):
    with pytest.raises(ValueError, match="test region outside the pool"):
        simulate(volume[0], volume[1], out=tmp_path / "x", test_roi="4:6,:,:")
    with pytest.raises(ValueError, match="same shape"):
        simulate(volume[0], volume[1][:2], out=tmp_path / "x", test_roi="4:6,:,:")
    with pytest.raises(ValueError, match="full_supervision as True, False or a number"):
        simulate(
            volume[0],
            volume[1],
            out=tmp_path / "x",
            test_roi="4:6,:,:",
            pool_roi="0:4,:,:",
            full_supervision=-1,
        )


def test_budget_fraction_interpolates_between_rounds(tmp_path):
    from voxelwise.active._simulate import SimulationResult

    rows = []
    for strategy, ious in {"random": [0.2, 0.3, 0.4], "entropy": [0.2, 0.5, 0.6]}.items():
        for r, iou in enumerate(ious):
            rows.append(
                {
                    "strategy": strategy,
                    "seed": 0,
                    "round": r,
                    "labelled_patches": 4 + 4 * r,
                    "iou": iou,
                }
            )
    result = SimulationResult(
        rows, [], tmp_path / "a", tmp_path / "b", tmp_path / "c", ["random", "entropy"]
    )
    assert result.gain_vs_random("entropy") == pytest.approx(0.2)
    # random ends at 0.4 with 12 patches; entropy reaches 0.4 between 4 (0.2) and 8 (0.5)
    assert result.budget_fraction("entropy") == pytest.approx((4 + 4 * 2 / 3) / 12)
    assert result.best() == "entropy"


@pytest.mark.slow
def test_command_line_simulate_and_campaign(tmp_path, volume, capsys):
    image, mask = volume
    np.save(tmp_path / "image.npy", image)
    np.save(tmp_path / "truth.npy", mask)
    (tmp_path / "tiny.yaml").write_text(json.dumps(TINY))  # JSON is YAML
    code = main(
        [
            "-q", "al", "simulate", "--image", str(tmp_path / "image.npy"),
            "--truth", str(tmp_path / "truth.npy"), "--pool-roi", "0:4,:,:",
            "--test-roi", "4:6,:,:", "--strategies", "entropy", "--seeds", "1",
            "--initial", "3", "--k", "2", "--rounds", "1", "--patch-size", "32,32",
            "--config", str(tmp_path / "tiny.yaml"), "--initial-steps", "2", "--steps", "1",
            "--no-full", "--threads", "1", "--out", str(tmp_path / "sim"),
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "entropy" in out and (tmp_path / "sim" / "learning_curves.png").is_file()

    ws = str(tmp_path / "cells.vw")
    assert main(["-q", "workspace", "create", ws, str(tmp_path / "image.npy")]) == 0
    assert main(
        ["-q", "al", "create", ws, "mito", "--patch-size", "32,32", "--config",
         str(tmp_path / "tiny.yaml"), "--classes", "2", "--initial-steps", "2", "--seed", "0"]
    ) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["-q", "al", "propose", ws, "mito", "-k", "3", "--json"]) == 0
    proposals = json.loads(capsys.readouterr().out)
    assert [p["rank"] for p in proposals] == [0, 1, 2]
    labels = np.zeros(image.shape, np.uint8)
    for p in proposals:
        box = tuple(slice(a, b) for a, b in zip(p["start"], p["stop"]))
        labels[box] = mask[box] + 1
    np.save(tmp_path / "answers.npy", labels)
    assert main(["-q", "al", "submit", ws, "mito", "--labels", str(tmp_path / "answers.npy")]) == 0
    assert "3 patches labelled" in capsys.readouterr().out
    assert main(["-q", "al", "update", ws, "mito", "--threads", "1"]) == 0
    assert "round 1: trained on 3 patches" in capsys.readouterr().out
    assert main(["-q", "al", "status", ws, "mito", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["labelled"] == 3 and status["round_status"] == "trained"
    assert main(["-q", "al", "status", ws, "nope"]) == 2
    assert "No campaign named 'nope'" in capsys.readouterr().err


def test_learning_curves_have_round_ticks_and_bands_cut_to_the_iou_range(tmp_path):
    from voxelwise.active._plot import _tick_step, learning_curves

    assert [_tick_step(s) for s in (0.7, 0.1, 0.03, 5.0)] == [0.1, 0.01, 0.005, 1.0]
    x, mean = [8, 12, 16], [0.1, 0.2, 0.3]
    wide = learning_curves(tmp_path / "a.png", {"r": (x, mean, [-0.3, 0.0, 0.1], [0.3, 0.4, 1.4])})
    cut = learning_curves(tmp_path / "b.png", {"r": (x, mean, [0.0, 0.0, 0.1], [0.3, 0.4, 1.0])})
    a, b = np.asarray(Image.open(wide)), np.asarray(Image.open(cut))
    np.testing.assert_array_equal(a, b)  # an IoU band never leaves 0..1
    free = learning_curves(
        tmp_path / "c.png", {"r": (x, mean, [-0.3, 0.0, 0.1], [0.3, 0.4, 1.4])}, clip=None
    )
    assert not np.array_equal(np.asarray(Image.open(free)), a)
