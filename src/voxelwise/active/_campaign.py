"""The annotation campaign: propose patches, take the expert's labels, fine-tune, repeat.

A :class:`Campaign` is a name in a workspace: its settings and every round (proposals with
their scores, submissions, the patches each model was trained on, model files and metrics)
are rows of the workspace catalog (see :mod:`voxelwise.active._store`), models and training
reports files under ``<workspace>/active/<name>/``. The object holds nothing else, so a
campaign resumes after a restart, and a server can drive it from any worker: every method
returns plain JSON-able records.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from voxelwise._validate import parse_rng
from voxelwise.active._answers import write_patch, write_volume
from voxelwise.active._errors import (
    CampaignBusyError,
    CampaignExistsError,
    CampaignNotFoundError,
    EmptyPoolError,
    PatchIndexError,
    PoolSizeError,
)
from voxelwise.active._plugins import check_strategy_params
from voxelwise.active._pool import Pool
from voxelwise.active._proposal import Proposal
from voxelwise.active._propose import previews, select_with_model
from voxelwise.active._settings import parse_campaign_name, positive, train_settings
from voxelwise.active._store import CampaignStore, dumps, now
from voxelwise.active._strategies import (
    DEFAULT_STRATEGY,
    parse_strategy,
    select,
)
from voxelwise.errors import VoxelwiseWarning
from voxelwise.workspace import Workspace

__all__ = ["Campaign", "Proposal", "list_campaigns"]

FOLDER = "active"


def _workspace(ws: Workspace | str | os.PathLike[str]) -> Workspace:
    return ws if isinstance(ws, Workspace) else Workspace.open(ws)


def list_campaigns(ws: Workspace | str | os.PathLike[str]) -> list[str]:
    """Names of the campaigns of a workspace, oldest first."""
    return CampaignStore(_workspace(ws).path).names()


class Campaign:
    """An active-learning annotation campaign on a workspace.

    Open an existing one with ``Campaign(ws, name)`` (or :meth:`open`); start one with
    :meth:`create`. The loop: :meth:`propose` ranks unlabelled patches, the expert labels them
    (painting in napari through the server into :attr:`labels_layer`, or :meth:`submit`),
    :meth:`update` fine-tunes the model from its last weights on every label so far, and
    :meth:`should_stop` tells when the budget is spent or the validation metric stalls.
    :meth:`status` and :meth:`rounds` give the full record.
    """

    def __init__(self, ws: Workspace | str | os.PathLike[str], name: str) -> None:
        self.ws = _workspace(ws)
        self.name = str(name)
        self._store = CampaignStore(self.ws.path)
        row = self._store.campaign(self.name)
        if row is None:
            names = self._store.names()
            raise CampaignNotFoundError(
                f"No campaign named {self.name!r} in the workspace {self.ws.path}; existing: "
                f"{', '.join(names) if names else 'none'} (start one with Campaign.create)"
            )
        self.params: dict[str, Any] = row["params"]

    @classmethod
    def open(cls, ws: Workspace | str | os.PathLike[str], name: str) -> Campaign:
        return cls(ws, name)

    @classmethod
    def create(
        cls,
        ws: Workspace | str | os.PathLike[str],
        name: str,
        *,
        image: str = "raw",
        labels: str | None = None,
        label_set: str | None = None,
        classes: int | None = None,
        model: str | os.PathLike[str] | None = None,
        config: Any = None,
        strategy: str = DEFAULT_STRATEGY,
        strategy_params: Mapping[str, Any] | None = None,
        patch_size: Any = (128, 128),
        axis: str | None = "z",
        stride: Any = None,
        roi: Any = None,
        steps: int = 100,
        initial_steps: int = 300,
        mc_samples: int = 8,
        candidates: int | None = None,
        max_overlap: float = 0.5,
        plane_gap: int = 1,
        val_fraction: float = 0.0,
        budget: int | None = None,
        patience: int | None = None,
        min_delta: float = 0.005,
        metric: str = "val_miou",
        device: str = "auto",
        rng: np.random.Generator | int | None = None,
        overwrite: bool = False,
    ) -> Campaign:
        """Start a campaign.

        Parameters
        ----------
        ws : Workspace or path
        name : str
            The campaign's name (letters, digits, ``-``, ``_``, ``.``).
        image : str
            The image layer the model segments.
        labels : str, optional
            The annotation layer that receives the answers (default ``<name>_labels``;
            created, with ``label_set``, if missing). Voxels labelled there already count as
            labelled. Values: 0 unlabelled, class c as c + 1.
        label_set, classes : optional
            The label set of the values, or the number of classes (default: from the set, the
            model, or the largest value labelled).
        model : path, optional
            A :mod:`voxelwise.deep` model to start from (copied into the campaign); without
            one, proposals are random until the first :meth:`update` trains one from scratch.
        config : TrainConfig, dict or YAML path, optional
            Training settings (network, patch size, batch size, learning rate, ...).
        strategy : str
            Default strategy (see :data:`~voxelwise.active.STRATEGIES`).
        strategy_params : dict, optional
            Keyword parameters of a plugin strategy (checked against its schema).
        patch_size, axis, stride, roi
            The pool (see :class:`Pool`).
        steps, initial_steps : int
            Optimiser steps per :meth:`update` (fine-tuning), and for a first model from scratch.
        mc_samples : int
            Dropout passes for BALD.
        candidates : int, optional
            Score at most this many randomly drawn candidates per proposal (bounds the time on
            huge pools); default all.
        max_overlap, plane_gap
            Near-duplicate rule within a batch (see :meth:`Pool.duplicates`).
        val_fraction : float
            Share of labelled patches held out for validation (chosen by a fixed hash of the
            patch, so a patch keeps its role); 0 trains on all and reports no validation IoU.
        budget : int, optional
            Stop once this many patches are labelled.
        patience, min_delta, metric
            Stop when ``metric`` (``'val_miou'``, or a key returned by ``update(evaluate=)``)
            has not improved by ``min_delta`` over ``patience`` rounds.
        device : str
        rng : int or Generator, optional
            Seeds proposals and training (a campaign is reproducible).
        overwrite : bool
            Replace an existing campaign of that name (its records and models).
        """
        ws = _workspace(ws)
        name = parse_campaign_name(name)
        ws.layer(image)  # raises LayerNotFoundError listing the layers
        pool = Pool(ws.shape, patch_size, axis=axis, stride=stride, roi=roi)
        strategy = parse_strategy(strategy)
        options = check_strategy_params(strategy, strategy_params)
        cfg = train_settings(config, pool)
        if not 0 <= float(val_fraction) < 1:
            raise ValueError(f"Expected 0 <= val_fraction < 1, got {val_fraction} instead")
        labels = labels or f"{name}_labels"
        store = CampaignStore(ws.path)
        if store.campaign(name) is not None and not overwrite:
            raise CampaignExistsError(
                f"A campaign named {name!r} exists already in {ws.path}; open it with "
                f"Campaign(ws, {name!r}), or pass overwrite=True to start again"
            )
        if labels not in ws:
            from voxelwise.annotate import create_layer

            create_layer(ws, labels, label_set=label_set)
        else:
            from voxelwise.annotate._labels import check_editable

            check_editable(ws.layer(labels))  # answers are edits: never into an image layer
        folder = ws.path / FOLDER / name
        if folder.exists() and overwrite:
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state: dict[str, Any] = {"model": None}
        if model is not None:
            source = Path(model)
            if not source.is_file():
                raise FileNotFoundError(f"No model file at {source}; give a trained model")
            shutil.copyfile(source, folder / "round-000.pt")
            state["model"] = f"{FOLDER}/{name}/round-000.pt"
        params = {
            "image": image,
            "labels": labels,
            "label_set": label_set,
            "classes": None if classes is None else positive(classes, "classes"),
            "pool": pool.to_dict(),
            "strategy": strategy,
            "strategy_params": options,
            "config": cfg,
            "steps": positive(steps, "steps"),
            "initial_steps": positive(initial_steps, "initial_steps"),
            "mc_samples": positive(mc_samples, "mc_samples"),
            "candidates": positive(candidates, "candidates", optional=True),
            "max_overlap": float(max_overlap),
            "plane_gap": int(plane_gap),
            "val_fraction": float(val_fraction),
            "budget": positive(budget, "budget", optional=True),
            "patience": positive(patience, "patience", optional=True),
            "min_delta": float(min_delta),
            "metric": str(metric),
            "device": str(device),
            "seed": int(parse_rng(rng).integers(2**31)),
        }
        with store.transaction() as conn:
            conn.execute("DELETE FROM active_rounds WHERE campaign = ?", (name,))
            conn.execute(
                "INSERT OR REPLACE INTO active_campaigns (name, params, state, created, updated) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, dumps(params), dumps(state), now(), now()),
            )
        ws.record_run("active.create", params={"campaign": name, **params}, inputs=[image])
        return cls(ws, name)

    def __repr__(self) -> str:
        return f"Campaign({self.name!r}, workspace={str(self.ws.path)!r})"

    # -- state ----------------------------------------------------------------------------------

    @property
    def labels_layer(self) -> str:
        """The annotation layer that receives the answers."""
        return str(self.params["labels"])

    @property
    def folder(self) -> Path:
        """Where the campaign's models and training reports are."""
        return self.ws.path / FOLDER / self.name

    def _state(self) -> dict[str, Any]:
        row = self._store.campaign(self.name)
        if row is None:
            raise CampaignNotFoundError(f"The campaign {self.name!r} was deleted meanwhile")
        return dict(row["state"])

    @property
    def model_path(self) -> Path | None:
        """The current model file (the last round's), or None before the first one."""
        rel = self._state().get("model")
        return None if rel is None else self.ws.path / rel

    def pool(self) -> Pool:
        """A fresh :class:`Pool` of the campaign (every candidate available)."""
        return Pool(**self.params["pool"])

    def _image(self) -> Any:
        return self.ws.open_array(self.params["image"], mode="r")

    def _labels(self) -> Any:
        return self.ws.open_array(self.labels_layer, mode="r")

    def labelled(self, pool: Pool | None = None) -> np.ndarray:
        """Indices of the pool candidates holding any label now (a scan of the layer)."""
        pool = pool or self.pool()
        return np.flatnonzero(pool.labelled_fraction(self._labels()) > 0)

    def rounds(self) -> list[dict[str, Any]]:
        """Every round's record (plain dicts): proposals, submissions, training, metrics."""
        return self._store.rounds(self.name)

    def proposed(self) -> list[Proposal]:
        """Every proposal so far, in order."""
        return [Proposal.from_dict(p) for r in self.rounds() for p in r["proposals"]]

    def pending(self, labelled: np.ndarray | None = None) -> list[Proposal]:
        """Proposals not labelled yet (one per patch, the latest); ``labelled`` saves a scan."""
        done = set((self.labelled() if labelled is None else labelled).tolist())
        latest: dict[int, Proposal] = {}
        for p in self.proposed():
            if p.index not in done:
                latest[p.index] = p
        return list(latest.values())

    def _open_round(self, conn: Any) -> int:
        row = conn.execute(
            "SELECT round, status FROM active_rounds WHERE campaign = ? ORDER BY round DESC "
            "LIMIT 1",
            (self.name,),
        ).fetchone()
        if row is not None and row["status"] == "open":
            return int(row["round"])
        if row is not None and row["status"] == "training":
            raise CampaignBusyError(
                f"The campaign {self.name!r} is training its next model (round {row['round']}); "
                "wait for update() to finish"
            )
        number = 1 if row is None else int(row["round"]) + 1
        conn.execute(
            "INSERT INTO active_rounds (campaign, round, status, started) VALUES (?, ?, 'open', ?)",
            (self.name, number, now()),
        )
        return number

    def _append(self, column: str, items: list[dict[str, Any]]) -> int:
        with self._store.transaction() as conn:
            number = self._open_round(conn)
            row = conn.execute(
                f"SELECT {column} FROM active_rounds WHERE campaign = ? AND round = ?",
                (self.name, number),
            ).fetchone()
            values = json.loads(row[column]) + items
            conn.execute(
                f"UPDATE active_rounds SET {column} = ? WHERE campaign = ? AND round = ?",
                (dumps(values), self.name, number),
            )
        return number

    # -- proposing ------------------------------------------------------------------------------

    def propose(
        self,
        k: int,
        *,
        strategy: str | None = None,
        strategy_params: Mapping[str, Any] | None = None,
        preview: bool = True,
        progress: Callable[[int, int], None] | None = None,
        on_short: str = "warn",
    ) -> list[Proposal]:
        """Rank unlabelled patches and return the ``k`` to annotate next, best first.

        Candidates already labelled, or proposed and still pending, are left out. Without a
        model yet the proposals are random. Every proposal is recorded in the current round.

        Parameters
        ----------
        k : int
            How many patches to propose.
        strategy : str, optional
            Overrides the campaign's strategy for this batch.
        strategy_params : dict, optional
            Keyword parameters of a plugin strategy for this batch (default: the campaign's,
            when the strategy is the campaign's).
        preview : bool
            Attach a PNG preview (the patch, and the model's prediction) to each proposal.
        progress : callable, optional
            ``progress(done, total)`` in scored candidates.
        on_short : {'warn', 'ignore', 'raise'}
            When fewer than ``k`` candidates are left: propose what is left with a
            :class:`~voxelwise.errors.VoxelwiseWarning` ('warn') or silently ('ignore'), or
            raise :class:`~voxelwise.active.PoolSizeError` ('raise').

        Raises
        ------
        EmptyPoolError
            Nothing is left to propose.
        PoolSizeError
            ``k`` exceeds what is left and ``on_short='raise'``.
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"Expected k as a whole number >= 1, got {k!r} instead")
        if on_short not in ("warn", "ignore", "raise"):
            raise ValueError(
                f"Expected on_short as 'warn', 'ignore' or 'raise', got {on_short!r} instead"
            )
        name = parse_strategy(strategy or self.params["strategy"])
        if strategy_params is None and name == self.params["strategy"]:
            strategy_params = self.params.get("strategy_params")
        options = check_strategy_params(name, strategy_params)
        pool = self.pool()
        labelled = self.labelled(pool)
        pool.exclude(labelled)
        pool.exclude([p.index for p in self.pending(labelled)])
        available = pool.indices()
        if available.size == 0:
            raise EmptyPoolError(
                f"No unlabelled patch is left in the pool of campaign {self.name!r} "
                f"({len(pool)} candidates, {labelled.size} labelled, the rest pending); label "
                "the pending proposals or stop the campaign"
            )
        if k > available.size:
            if on_short == "raise":
                raise PoolSizeError(
                    f"Asked for {k} patches but only {available.size} unlabelled candidates "
                    f"are left in the pool of campaign {self.name!r}; ask for at most "
                    f"{available.size}, or enlarge the pool"
                )
            if on_short == "warn":
                warnings.warn(
                    f"Asked for {k} patches but only {available.size} unlabelled candidates "
                    f"are left; proposing {available.size}",
                    VoxelwiseWarning,
                    stacklevel=2,
                )
            k = int(available.size)
        with self._store.transaction() as conn:
            number = self._open_round(conn)
        calls = sum(len(r["proposals"]) for r in self.rounds() if r["round"] == number)
        gen = np.random.default_rng([self.params["seed"], number, calls])
        cand = available
        limit = self.params.get("candidates")
        if limit is not None and cand.size > limit:
            cand = np.sort(gen.choice(cand, size=limit, replace=False))
        model = self.model_path
        used = name if model is not None else "random"
        dup = pool.duplicates(
            cand, max_overlap=self.params["max_overlap"], plane_gap=self.params["plane_gap"]
        )
        if used == "random" or model is None:
            sel = select("random", k, n=int(cand.size), rng=gen, is_duplicate=dup)
        else:
            sel = select_with_model(
                self, used, k, model, pool, cand, labelled, gen, dup, progress, options
            )
        picked = cand[sel.indices]
        images = previews(self, picked, pool, model) if preview else {}
        starts, stops = pool.starts(picked), pool.stops(picked)
        proposals = [
            Proposal(
                index=int(i),
                round=number,
                rank=r,
                strategy=used,
                score=float(s),
                axis=pool.axis,
                start=tuple(int(v) for v in a),  # type: ignore[arg-type]
                stop=tuple(int(v) for v in b),  # type: ignore[arg-type]
                preview=images.get(int(i)),
            )
            for r, (i, s, a, b) in enumerate(zip(picked, sel.scores, starts, stops))
        ]
        extra = {"strategy_params": options} if options and used != "random" else {}
        self._append("proposals", [{**p.to_dict(preview=False), **extra} for p in proposals])
        return proposals

    # -- answers --------------------------------------------------------------------------------

    def submit(
        self,
        labels: Any = None,
        *,
        patch: Any = None,
        author: str | None = None,
    ) -> dict[str, Any]:
        """Take the expert's labels and record what is now answered.

        Parameters
        ----------
        labels : array or path, optional
            With ``patch``: the labels of that patch, of its ``patch_size`` (or its 3D box).
            Without: a (Z, Y, X) label volume (array or file) of the workspace's shape whose
            non-zero voxels are written (0 = no answer; class c as c + 1). None: the labels
            were painted into :attr:`labels_layer` directly (e.g. in napari).
        patch : int or dict, optional
            The candidate index (or a proposal record). A patch that was never proposed is
            accepted, as extra labels.
        author : str, optional
            Recorded with the edit and the submission.

        Returns
        -------
        dict
            The submission record: ``written`` voxels, ``patch``, ``proposed`` (whether it
            was), ``answered`` (proposals now labelled), ``extra`` (labelled candidates never
            proposed), ``labelled`` (count).
        """
        pool = self.pool()
        written = 0
        index = None
        if patch is not None:
            index = int(patch["index"] if isinstance(patch, dict) else patch)
            if not 0 <= index < len(pool):
                raise PatchIndexError(
                    f"Expected a patch index from 0 to {len(pool) - 1} (the campaign's pool), "
                    f"got {index} instead"
                )
            if labels is None:
                raise TypeError("Give the patch's labels with patch=, as an integer array")
            written = write_patch(self, pool, index, np.asarray(labels), author)
        elif labels is not None:
            written = write_volume(self, labels, author)
        labelled = set(self.labelled(pool).tolist())
        proposed = {p.index for p in self.proposed()}
        record = {
            "time": now(),
            "author": author,
            "patch": index,
            "proposed": None if index is None else index in proposed,
            "written": int(written),
            "answered": sorted(proposed & labelled),
            "extra": sorted(labelled - proposed),
            "labelled": len(labelled),
        }
        record["round"] = self._append("submissions", [record])
        return record

    # -- training and stopping ------------------------------------------------------------------

    def update(
        self,
        *,
        steps: int | None = None,
        max_minutes: float | None = None,
        evaluate: Callable[[Path], dict[str, float]] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Fine-tune the model from its last weights on every label so far; close the round.

        See :func:`voxelwise.active._update.run_update`. Returns the round's record, with
        ``metrics`` (training loss, ``val_miou`` when patches are held out, labelled patches
        and voxels per class, and whatever ``evaluate(model_path)`` returns).
        """
        from voxelwise.active._update import run_update

        return run_update(
            self, steps=steps, max_minutes=max_minutes, evaluate=evaluate, progress=progress
        )

    def should_stop(self, *, labelled: int | None = None) -> tuple[bool, str]:
        """``(True, reason)`` once the budget is spent or the metric plateaus (``labelled``:
        the number of labelled patches, when known, saves a scan of the labels)."""
        budget = self.params.get("budget")
        trained = [r for r in self.rounds() if r["status"] == "trained"]
        if budget is not None:
            count = self.labelled().size if labelled is None else int(labelled)
            if count >= budget:
                return True, f"budget reached ({count} of {budget} patches labelled)"
        patience = self.params.get("patience")
        metric = self.params.get("metric", "val_miou")
        values = [r["metrics"].get(metric) for r in trained]
        values = [float(v) for v in values if v is not None]
        if patience is not None and len(values) > patience:
            before = max(values[:-patience])
            recent = max(values[-patience:])
            if recent - before < self.params["min_delta"]:
                return True, (
                    f"plateau: {metric} improved by {recent - before:.4f} (< "
                    f"{self.params['min_delta']}) over the last {patience} rounds"
                )
        return False, ""

    def status(self) -> dict[str, Any]:
        """A JSON-able summary: round, model, labelled and pending patches, stop rule, metrics."""
        rounds = self.rounds()
        pool = self.pool()
        labelled = self.labelled(pool)
        stop, reason = self.should_stop(labelled=int(labelled.size))
        model = self.model_path
        return {
            "name": self.name,
            "strategy": self.params["strategy"],
            "strategy_params": dict(self.params.get("strategy_params") or {}),
            "image": self.params["image"],
            "labels": self.labels_layer,
            "round": rounds[-1]["round"] if rounds else 0,
            "round_status": rounds[-1]["status"] if rounds else None,
            "model": None if model is None else str(model),
            "candidates": len(pool),
            "labelled": int(labelled.size),
            "pending": [p.to_dict(preview=False) for p in self.pending(labelled)],
            "budget": self.params.get("budget"),
            "stop": stop,
            "stop_reason": reason,
            "metrics": [
                {"round": r["round"], **r["metrics"]} for r in rounds if r["status"] == "trained"
            ],
        }
