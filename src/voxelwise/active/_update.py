"""One campaign update: gather every labelled patch, fine-tune the model, record the round.

The labelled candidates of the pool (any labelled voxel) are the training data: their image
and label patches are stacked into a small volume, 2D patches one per plane and 3D windows
side by side along X, with the held-out validation patches last, so :func:`voxelwise.deep.train`
holds out exactly those (its validation part is the end of the stack's longest axis). Without
validation patches, a copy of the last training patch stands in and no validation IoU is
reported. Unlabelled voxels inside a patch (0) are ignored by the loss.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voxelwise.active._errors import ActiveLearningError, CampaignBusyError
from voxelwise.active._store import dumps, now, round_row

if TYPE_CHECKING:
    from voxelwise.active._campaign import Campaign

__all__ = ["is_validation", "run_update"]


def is_validation(indices: np.ndarray, fraction: float) -> np.ndarray:
    """Whether each candidate is held out for validation: a fixed hash of its index below
    ``fraction``, so a patch keeps its role as more are labelled."""
    if fraction <= 0:
        return np.zeros(np.shape(indices), dtype=bool)
    h = (np.asarray(indices, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)
    return h.astype(np.float64) / 2**32 < fraction


def _process() -> dict[str, Any]:
    import psutil

    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "since": psutil.Process(pid).create_time()}


def _alive(trainer: dict[str, Any] | None) -> bool:
    if not trainer:
        return False
    if trainer.get("host") != socket.gethostname():
        return True  # cannot check another machine
    import psutil

    try:
        return abs(psutil.Process(int(trainer["pid"])).create_time() - trainer["since"]) < 1.0
    except (psutil.Error, OSError, KeyError):
        return False


def _begin(c: Campaign) -> int:
    """Mark the current round as training (opening one if needed); refuse a second trainer."""
    with c._store.transaction() as conn:
        state = json.loads(
            conn.execute("SELECT state FROM active_campaigns WHERE name = ?", (c.name,)).fetchone()[
                0
            ]
        )
        row = conn.execute(
            "SELECT round, status FROM active_rounds WHERE campaign = ? ORDER BY round DESC LIMIT 1",
            (c.name,),
        ).fetchone()
        if row is not None and row["status"] == "training" and _alive(state.get("trainer")):
            raise CampaignBusyError(
                f"The campaign {c.name!r} is already training (round {row['round']}, process "
                f"{state['trainer'].get('pid')} on {state['trainer'].get('host')}); wait for it"
            )
        if row is None or row["status"] == "trained":
            number = 1 if row is None else int(row["round"]) + 1
            conn.execute(
                "INSERT INTO active_rounds (campaign, round, status, started) "
                "VALUES (?, ?, 'training', ?)",
                (c.name, number, now()),
            )
        else:
            number = int(row["round"])
            conn.execute(
                "UPDATE active_rounds SET status = 'training' WHERE campaign = ? AND round = ?",
                (c.name, number),
            )
        state["trainer"] = _process()
        conn.execute(
            "UPDATE active_campaigns SET state = ?, updated = ? WHERE name = ?",
            (dumps(state), now(), c.name),
        )
    return number


def _end(
    c: Campaign,
    number: int,
    *,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Close the round as trained (with a result) or reopen it (after a failure)."""
    with c._store.transaction() as conn:
        state = json.loads(
            conn.execute("SELECT state FROM active_campaigns WHERE name = ?", (c.name,)).fetchone()[
                0
            ]
        )
        state.pop("trainer", None)
        if training is None:
            conn.execute(
                "UPDATE active_rounds SET status = 'open' WHERE campaign = ? AND round = ?",
                (c.name, number),
            )
        else:
            state["model"] = training["model"]
            conn.execute(
                "UPDATE active_rounds SET status = 'trained', training = ?, metrics = ?, "
                "finished = ? WHERE campaign = ? AND round = ?",
                (dumps(training), dumps(metrics or {}), now(), c.name, number),
            )
        conn.execute(
            "UPDATE active_campaigns SET state = ?, updated = ? WHERE name = ?",
            (dumps(state), now(), c.name),
        )
        row = conn.execute(
            "SELECT * FROM active_rounds WHERE campaign = ? AND round = ?", (c.name, number)
        ).fetchone()
    return round_row(row)


def _classes(c: Campaign, values: np.ndarray, model: Path | None) -> int:
    if c.params.get("classes"):
        return int(c.params["classes"])
    if c.params.get("label_set"):
        return max(lab.value for lab in c.ws.label_set(c.params["label_set"]))
    if model is not None:
        from voxelwise.active._deep import as_deep_model

        return as_deep_model(model).classes
    return int(values.max()) if values.size else 0


def _stack(patches: list[np.ndarray], three_d: bool) -> np.ndarray:
    return np.concatenate(patches, axis=2) if three_d else np.concatenate(patches, axis=0)


def run_update(
    c: Campaign,
    *,
    steps: int | None,
    max_minutes: float | None,
    evaluate: Callable[[Path], dict[str, float]] | None,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    """Fine-tune ``c``'s model on all its labels and record the round (see the module doc)."""
    start = time.perf_counter()
    number = _begin(c)
    try:
        training, metrics = _train(c, number, steps, max_minutes, evaluate, progress)
    except BaseException:
        _end(c, number)
        raise
    record = _end(c, number, training=training, metrics=metrics)
    c.ws.record_run(
        "active.update",
        params={
            "campaign": c.name,
            "round": number,
            **{k: training[k] for k in ("steps", "model")},
        },
        inputs=[c.params["image"], c.labels_layer],
        duration=time.perf_counter() - start,
    )
    return record


def _train(
    c: Campaign,
    number: int,
    steps: int | None,
    max_minutes: float | None,
    evaluate: Callable[[Path], dict[str, float]] | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    from voxelwise.deep import TrainConfig, train

    pool = c.pool()
    ids = c.labelled(pool)
    if ids.size == 0:
        raise ActiveLearningError(
            f"Nothing is labelled yet in the pool of campaign {c.name!r}; label the proposed "
            "patches (propose, then submit or paint into the labels layer) before update()"
        )
    held = is_validation(ids, float(c.params["val_fraction"]))
    if held.all():  # keep something to train on
        held[:] = False
    train_ids, val_ids = ids[~held], ids[held]
    image, labels = c._image(), c._labels()
    three_d = pool.axis is None
    tr_img, tr_lab = pool.read(image, train_ids), pool.read(labels, train_ids, pad="zeros")
    if val_ids.size:
        va_img, va_lab = pool.read(image, val_ids), pool.read(labels, val_ids, pad="zeros")
    else:  # a stand-in: train() always holds out the end of the stack
        va_img, va_lab = tr_img[-1:], tr_lab[-1:]
    values = np.concatenate([tr_lab.ravel(), va_lab.ravel() if val_ids.size else []]).astype(
        np.int64
    )
    counts = np.bincount(values)
    previous = c.model_path
    classes = _classes(c, values, previous)
    present = np.flatnonzero(np.bincount(tr_lab.ravel().astype(np.int64))[1:]) + 1
    if present.size < 2:
        raise ActiveLearningError(
            f"The training patches hold labels of {present.size} class(es) (values "
            f"{present.tolist()}); training needs at least two: label some background and "
            "some foreground (class c as value c + 1), or propose and label more patches"
        )
    cfg = TrainConfig.from_dict(c.params["config"])
    cfg.patch_size = tuple(pool.patch_size)  # the labelled patches themselves
    cfg.epochs = 1
    default = c.params["steps"] if previous is not None else c.params["initial_steps"]
    cfg.steps_per_epoch = int(steps or default)
    units = len(train_ids) + len(va_img)
    cfg.val_fraction = len(va_img) / units
    cfg.val_patches = 4 * len(va_img) if val_ids.size else 1
    cfg.classes = classes
    cfg.max_minutes = max_minutes
    out = c.folder / f"round-{number:03d}.pt"
    c.folder.mkdir(parents=True, exist_ok=True)
    result = train(
        _stack([tr_img, va_img], three_d),
        _stack([tr_lab, va_lab], three_d),
        out=out,
        config=cfg,
        init_model=previous,
        device=c.params["device"],
        rng=np.random.default_rng([c.params["seed"], number]),
        progress=progress,
    )
    metrics: dict[str, Any] = {
        "train_loss": result.history[-1]["train_loss"] if result.history else None,
        "val_miou": result.best_val_miou if val_ids.size else None,
        "labelled_patches": int(ids.size),
        "train_patches": int(train_ids.size),
        "val_patches": int(val_ids.size),
        "class_voxels": {str(v): int(n) for v, n in enumerate(counts) if v > 0 and n},
    }
    if evaluate is not None:
        metrics.update(evaluate(result.model_path))
    proposed = {p.index for p in c.proposed()}
    rel = result.model_path.relative_to(c.ws.path).as_posix()
    training = {
        "model": rel,
        "init_model": None if previous is None else previous.relative_to(c.ws.path).as_posix(),
        "steps": cfg.steps_per_epoch,
        "stopped": result.stopped,
        "seconds": round(result.seconds, 2),
        "train": train_ids,
        "val": val_ids,
        "extra": sorted(set(ids.tolist()) - proposed),
    }
    return training, metrics
