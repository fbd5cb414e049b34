"""The :class:`Trainer`: trains on one workspace round after round, reusing features read before."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise._validate import parse_rng
from voxelwise.learn._classes import ClassPlan, plan_classes
from voxelwise.learn._errors import FeatureMismatchError, LearnError
from voxelwise.learn._estimators import fit_estimator, parse_classifier
from voxelwise.learn._model import MODES, Model
from voxelwise.learn._recipe import recipe_arrays, recipe_key, resolve_features
from voxelwise.learn._sampling import PointCache, annotated_voxels, balanced_sample, read_points
from voxelwise.learn._supervoxel import parse_statistics, supervoxel_inputs
from voxelwise.learn._voxel import DEFAULT_MAX_PER_CLASS, check_classes

if TYPE_CHECKING:
    from voxelwise.workspace import Workspace

__all__ = ["TRAIN_STEP", "Trainer", "parse_mode"]

TRAIN_STEP = "learn.train"


def parse_mode(mode: Any) -> str:
    if mode not in MODES:
        raise LearnError(f"Expected mode as 'voxel' or 'supervoxel', got {mode!r} instead")
    return str(mode)


def _check_annotations(ws: Workspace, name: str) -> Any:
    info = ws.layer(name)
    if not info.is_label or np.dtype(info.dtype).kind not in "biu":
        raise LearnError(
            f"Layer {name!r} is a {info.kind!r} layer of {info.dtype}; training needs an "
            "annotation layer of label values (voxelwise.annotate.create_layer / import_labels)"
        )
    return info


class Trainer:
    """Train shallow classifiers on one workspace again and again, reusing what stays the same.

    Between rounds (new strokes, another classifier) the trainer keeps the feature values
    already read at annotated voxels (voxel mode) and the per-supervoxel feature table and
    adjacency graph (supervoxel mode), keyed by the layers' storage, so retraining reads only
    the chunks holding new strokes.

    Parameters
    ----------
    ws : Workspace
    features : str or list
        Feature layer names; preset names or filter specs compute missing layers first.
    mode : {"voxel", "supervoxel"}
    supervoxels : str
        Supervoxel layer (supervoxel mode).
    statistics : sequence of str
        Per-supervoxel statistics of every feature (supervoxel mode).
    store_features : bool
        Store the layers of presets/specs in the workspace (default), or keep them as a recipe
        computed chunk by chunk whenever read (no disk, recomputed per use).
    multiscale : bool
        With ``store_features=False``: compute features with ``sigma >= 4`` on the source's
        first pyramid level (half resolution along the finest axes) and interpolate them back,
        several times cheaper for nearly the same values. Their names end in ``_l1``.
    source : str or sequence of str
        The image layer(s) presets/specs are computed from; several are input channels (the
        features of an image other than ``raw`` are prefixed with its name, ``fluo.gaussian_s1.0``).
    scheduler : optional
        See :mod:`voxelwise._compute`.

    Examples
    --------
    >>> trainer = Trainer(ws, ["gaussian_s1.0", "hessian_eig1_s1.6"])  # doctest: +SKIP
    >>> model = trainer.train("scribbles")  # doctest: +SKIP
    >>> # ... paint more strokes; retraining reads only the chunks of the new ones:
    >>> model = trainer.train("scribbles")  # doctest: +SKIP
    """

    def __init__(
        self,
        ws: Workspace,
        features: Any,
        *,
        mode: str = "voxel",
        supervoxels: str = "supervoxels",
        statistics: Sequence[str] = ("mean", "std"),
        store_features: bool = True,
        multiscale: bool = False,
        source: str | Sequence[str] = "raw",
        scheduler: Scheduler = None,
    ) -> None:
        self.ws = ws
        self.mode = parse_mode(mode)
        self.scheduler = scheduler
        if multiscale and store_features:
            raise LearnError(
                "multiscale=True computes large-scale features on a coarser pyramid level on "
                "the fly; it needs store_features=False"
            )
        self.features, self.recipe = resolve_features(
            ws,
            features,
            store=store_features,
            multiscale=multiscale,
            source=source,
            scheduler=scheduler,
        )
        self.supervoxels = supervoxels
        self.statistics = parse_statistics(statistics)
        if self.mode == "supervoxel" and supervoxels not in ws:
            raise FeatureMismatchError(
                f"Supervoxel mode needs a supervoxel layer {supervoxels!r}, which the workspace "
                f"{ws.path} lacks; compute it first with "
                f"voxelwise.supervoxels.compute_supervoxels(ws, name={supervoxels!r})"
            )
        self._points = PointCache()
        self._inputs: tuple[Any, tuple[np.ndarray, np.ndarray]] | None = None
        self._rag: tuple[Any, Any] | None = None

    def _feature_key(self) -> tuple[Any, ...]:
        return recipe_key(self.ws, self.recipe)

    def feature_arrays(self) -> list[Any]:
        """Lazy (Z, Y, X) float32 arrays of the features (stored layers or computed)."""
        return recipe_arrays(self.recipe, ws=self.ws)

    def supervoxel_inputs(
        self, *, progress: ProgressCallback | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, x)``: per-supervoxel inputs, computed once per features and supervoxels."""
        key = (self._feature_key(), self.ws.layer(self.supervoxels).directory, self.statistics)
        if self._inputs is None or self._inputs[0] != key:
            arrays = self.feature_arrays()
            ids, x, _ = supervoxel_inputs(
                self.ws.get(self.supervoxels),
                arrays,
                self.features,
                self.statistics,
                scheduler=self.scheduler,
                progress=progress,
            )
            self._inputs = (key, (ids, x))
        return self._inputs[1]

    def adjacency(self) -> Any:
        """The supervoxels' region adjacency graph, computed once per supervoxel layer."""
        from voxelwise.supervoxels import region_adjacency

        key = self.ws.layer(self.supervoxels).directory
        if self._rag is None or self._rag[0] != key:
            rag = region_adjacency(
                self.ws.get(self.supervoxels), spacing=self.ws.spacing, scheduler=self.scheduler
            )
            self._rag = (key, rag)
        return self._rag[1]

    def train(
        self,
        annotations: str,
        *,
        classifier: str = "rf",
        parent: str | None = None,
        labels: Any = None,
        class_weight: Any = "balanced",
        max_per_class: int | None = DEFAULT_MAX_PER_CLASS,
        params: Mapping[str, Any] | None = None,
        rng: np.random.Generator | int | None = 0,
        save: str | os.PathLike[str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Model:
        """Train on the annotation layer ``annotations``; see :func:`train` for the parameters."""
        start = time.perf_counter()
        ws = self.ws
        info = _check_annotations(ws, annotations)
        classifier = parse_classifier(classifier)
        seed = int(parse_rng(rng).integers(2**31 - 1))
        flat, values = annotated_voxels(ws.get(annotations), scheduler=self.scheduler)
        plan = plan_classes(ws, info.label_set, np.unique(values), parent=parent, labels=labels)
        idx = plan.map_values(values)
        flat, idx = flat[idx >= 0], idx[idx >= 0]
        check_classes(
            np.asarray(plan.classes)[idx] if idx.size else idx, f"The layer {annotations!r}"
        )
        weight = class_weight
        if isinstance(class_weight, Mapping):
            weight = {
                plan.classes.index(int(k)): w
                for k, w in class_weight.items()
                if int(k) in plan.classes
            }
        extra: dict[str, Any] = {}
        if self.mode == "voxel":
            keep = balanced_sample(flat, idx, max_per_class=max_per_class, seed=seed)
            x, read = self._points.read(
                self._feature_key(),
                self.feature_arrays(),
                flat[keep],
                ws.shape,
                scheduler=self.scheduler,
                progress=progress,
            )
            y = idx[keep]
            extra = {"annotated_voxels": int(flat.size), "voxels_read": read}
        else:
            ids_all, x_all = self.supervoxel_inputs(progress=progress)
            sv_ids = read_points(
                [ws.get(self.supervoxels)], flat, ws.shape, scheduler=self.scheduler
            )
            sv_ids = sv_ids[:, 0].astype(np.int64)
            inside = sv_ids > 0
            k = len(plan.classes)
            uniq, inverse = np.unique(sv_ids[inside], return_inverse=True)
            votes = np.bincount(inverse * k + idx[inside], minlength=uniq.size * k)
            y = votes.reshape(uniq.size, k).argmax(axis=1)
            x = x_all[np.searchsorted(ids_all, uniq)]
            check_classes(np.asarray(plan.classes)[y] if y.size else y, "The annotated supervoxels")
            extra = {"annotated_voxels": int(flat.size), "annotated_supervoxels": int(uniq.size)}
        _check_all_classes(y, plan)
        predictor, used = fit_estimator(
            x,
            y,
            n_classes=len(plan.classes),
            classifier=classifier,
            params=params,
            class_weight=weight,
            rng=seed,
        )
        model = self._model(plan, predictor, classifier, used, annotations, y, extra, start)
        if save is not None:
            path = model.save(save, overwrite=True)
            model = model.with_training(model_file=str(path))
        ws.record_run(
            TRAIN_STEP,
            params={
                "annotations": annotations,
                "features": list(self.features),
                "mode": self.mode,
                "classifier": classifier,
                "classifier_params": used,
                "classes": list(plan.classes),
                "parent": parent,
                "max_per_class": max_per_class,
                "model_file": model.training.get("model_file"),
                "samples_per_class": model.training.get("samples_per_class"),
            },
            inputs=[annotations, *(n for n in self.features if n in ws)]
            + ([self.supervoxels] if self.mode == "supervoxel" else []),
            duration=time.perf_counter() - start,
        )
        return model

    def _model(
        self,
        plan: ClassPlan,
        predictor: Any,
        classifier: str,
        used: dict[str, Any],
        annotations: str,
        y: np.ndarray,
        extra: dict[str, Any],
        start: float,
    ) -> Model:
        sv = None
        if self.mode == "supervoxel":
            sv_info = self.ws.layer(self.supervoxels)
            sv = {
                "layer": self.supervoxels,
                "params": dict(sv_info.params or {}),
                "source": sv_info.sources[0] if sv_info.sources else "raw",
            }
        return Model(
            predictor=predictor,
            classes=plan.classes,
            class_names=plan.names,
            colors=plan.colors,
            mode=self.mode,
            classifier=classifier,
            params=used,
            features=tuple(self.features),
            recipe=tuple(self.recipe),
            statistics=self.statistics if self.mode == "supervoxel" else (),
            supervoxels=sv,
            label_set=plan.label_set,
            parent=plan.parent,
            training={
                "annotations": annotations,
                "workspace": str(self.ws.path),
                "samples_per_class": np.bincount(y, minlength=len(plan.classes)).tolist(),
                "seconds": round(time.perf_counter() - start, 3),
                **extra,
            },
        )

    def predict(self, model: Model, **kwargs: Any) -> Any:
        """:func:`~voxelwise.learn.predict` on this workspace, reusing the trainer's
        per-supervoxel table and adjacency graph when the model uses the same ones."""
        from voxelwise.learn._predict import predict

        reuse = (
            model.mode == "supervoxel"
            and self.mode == "supervoxel"
            and tuple(model.features) == tuple(self.features)
            and tuple(model.statistics) == self.statistics
            and kwargs.get("supervoxels", (model.supervoxels or {}).get("layer"))
            == self.supervoxels
            and kwargs.get("features", "auto") != "compute"
        )
        if reuse:
            kwargs.setdefault("scheduler", self.scheduler)
            return predict(
                self.ws,
                model,
                _inputs=self.supervoxel_inputs(),
                _rag=self.adjacency() if kwargs.get("refine") else None,
                **kwargs,
            )
        kwargs.setdefault("scheduler", self.scheduler)
        return predict(self.ws, model, **kwargs)


def _check_all_classes(y: np.ndarray, plan: ClassPlan) -> None:
    counts = np.bincount(y, minlength=len(plan.classes))
    missing = [n for n, c in zip(plan.names, counts) if c == 0]
    if missing:
        raise LearnError(
            f"No training samples of {', '.join(missing)} (in supervoxel mode a supervoxel "
            "counts for the label most of its annotated voxels have); annotate more of them, "
            "or leave them out with labels="
        )
