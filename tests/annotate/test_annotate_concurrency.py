"""Two processes painting many strokes on the same layer, in the same chunks, lose nothing."""

from __future__ import annotations

import itertools
import multiprocessing as mp

import numpy as np
import pytest

from voxelwise import annotate
from voxelwise.workspace import Workspace

SHAPE = (16, 48, 48)
CHUNKS = (8, 24, 24)  # 8 chunks: every stroke shares chunks with strokes of the other process
STROKES = 40


def centers(worker: int) -> list[tuple[int, int, int]]:
    """Disjoint brush centres on a lattice of step 4 (radius-1 balls never overlap), spread
    over all chunks; worker 0 takes the even lattice points, worker 1 the odd ones."""
    rng = np.random.default_rng(7)
    lattice = [
        (z, y, x)
        for z in range(2, SHAPE[0], 4)
        for y in range(2, SHAPE[1], 4)
        for x in range(2, SHAPE[2], 4)
    ]
    own = [p for p in lattice if (sum(p) // 4) % 2 == worker]
    picks = rng.choice(len(own), size=STROKES, replace=False)
    return [own[i] for i in picks]


def paint_many(path: str, worker: int, barrier) -> None:
    ws = Workspace.open(path)
    label = ("a", "b")[worker]
    barrier.wait(timeout=120)
    for center in centers(worker):
        # a short stroke: two overlapping balls one voxel apart
        annotate.paint_stroke(
            ws, "s", label, [center, (center[0], center[1], center[2] + 1)], 1, author=label
        )


@pytest.mark.slow  # two spawned interpreters: 2-3 s idle, more on a loaded machine
def test_two_processes_lose_no_stroke(tmp_path):
    ws = Workspace.create(tmp_path / "c.vw", np.zeros(SHAPE, np.uint8), chunks=CHUNKS)
    ws.add_label("t", "a")
    ws.add_label("t", "b")
    annotate.create_layer(ws, "s", label_set="t")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=paint_many, args=(str(ws.path), w, barrier)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]

    got = ws.get("s").compute()
    z, y, x = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    expected = np.zeros(SHAPE, np.uint16)
    for worker, value in ((0, 1), (1, 2)):
        for cz, cy, cx in centers(worker):
            d2 = (z - cz) ** 2 + (y - cy) ** 2 + np.minimum((x - cx) ** 2, (x - cx - 1) ** 2)
            stroke = d2 <= 1
            assert (got[stroke] == value).all(), f"stroke at {(cz, cy, cx)} lost voxels"
            expected[stroke] = value
    np.testing.assert_array_equal(got, expected)
    log = annotate.history(ws, "s")
    assert len(log) == 2 * STROKES
    assert {e.author for e in log} == {"a", "b"}
    assert sum(e.voxels for e in log) == (expected > 0).sum()
    # both processes really interleaved their edits
    order = [e.author for e in log]
    switches = sum(1 for p, q in itertools.pairwise(order) if p != q)
    assert switches > 1
