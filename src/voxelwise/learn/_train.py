"""One-shot training on a workspace (:func:`train`) and finding the latest saved model."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.learn._model import Model
from voxelwise.learn._trainer import TRAIN_STEP, Trainer
from voxelwise.learn._voxel import DEFAULT_MAX_PER_CLASS

if TYPE_CHECKING:
    from voxelwise.workspace import Workspace

__all__ = ["latest_model", "train"]


def train(
    ws: Workspace,
    *,
    annotations: str,
    features: Any,
    mode: str = "voxel",
    classifier: str = "rf",
    supervoxels: str = "supervoxels",
    statistics: Sequence[str] = ("mean", "std"),
    store_features: bool = True,
    multiscale: bool = False,
    images: str | Sequence[str] = "raw",
    parent: str | None = None,
    labels: Any = None,
    class_weight: Any = "balanced",
    max_per_class: int | None = DEFAULT_MAX_PER_CLASS,
    params: Mapping[str, Any] | None = None,
    rng: np.random.Generator | int | None = 0,
    save: str | os.PathLike[str] | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> Model:
    """Train a shallow classifier on an annotation layer and feature layers of a workspace.

    Voxel mode samples annotated voxels (at most ``max_per_class`` per class, a stable
    pseudo-random sample) and reads their feature values from the chunks that hold them.
    Supervoxel mode describes each supervoxel by ``statistics`` of every feature over its voxels
    and labels each annotated supervoxel by the majority of its annotated voxels.

    Parameters
    ----------
    ws : Workspace
    annotations : str
        Annotation layer (0 unlabelled; values from its label set).
    features : str or list
        Feature layer names (e.g. from :func:`voxelwise.filters.compute_features`, or ``"raw"``),
        or a preset name / filter specs whose missing layers are computed first.
    mode : {"voxel", "supervoxel"}
    classifier : {"rf", "extra_trees", "hgb", "svm", "logistic"} or a plugin's dotted name
        Random forest (default), extra trees, histogram gradient boosting, an RBF SVM (random
        Fourier features of standardised inputs) or logistic regression; ``"package.name"``
        is a plugin classifier (see :mod:`voxelwise.plugins`).
    supervoxels : str
        Supervoxel layer for supervoxel mode (see :func:`voxelwise.supervoxels.compute_supervoxels`).
    statistics : sequence of {"mean", "std", "min", "max"}
        Per-supervoxel statistics of every feature (supervoxel mode).
    store_features : bool
        Whether the layers of a preset or of filter specs are stored in the workspace (default)
        or computed chunk by chunk from the raw image whenever needed (see :class:`Trainer`).
    multiscale : bool
        With ``store_features=False``, compute features with ``sigma >= 4`` at half resolution
        and interpolate them back (see :class:`Trainer`).
    images : str or sequence of str
        Image layers (channels) the preset / filter-spec features are computed from: ``"raw"``
        or several, e.g. ``["raw", "fluo"]`` for a second modality added with
        :func:`voxelwise.workspace.add_image`; the features of an image other than ``raw`` are
        named with its name as prefix (``fluo.gaussian_s1.0``).
    parent : str, optional
        Hierarchy: train the children of this label only (predicted inside its region).
    labels : label names or values, optional
        Train only these classes (top-level labels, or children of ``parent``).
    class_weight : "balanced", None or dict of label value to weight
    max_per_class : int or None
        Cap on the training voxels per class (voxel mode).
    params : dict, optional
        Classifier parameters overriding :data:`CLASSIFIERS` defaults.
    rng : Generator, int or None
        Seeds the sample and the classifier (default 0: reproducible).
    save : path, optional
        Also write the model there (see :meth:`Model.save`); recorded with the run.
    scheduler, progress
        See :mod:`voxelwise._compute`.

    Returns
    -------
    Model

    Raises
    ------
    TrainingDataError
        No annotations, or annotations of a single class.
    FeatureMismatchError
        A feature layer or the supervoxel layer is missing.
    LearnError
        Unknown classifier, mode or parameter.

    Examples
    --------
    >>> model = train(ws, annotations="scribbles", features="default")  # doctest: +SKIP
    >>> predict(ws, model, name="segmentation")  # doctest: +SKIP
    """
    trainer = Trainer(
        ws,
        features,
        mode=mode,
        supervoxels=supervoxels,
        statistics=statistics,
        store_features=store_features,
        multiscale=multiscale,
        source=images,
        scheduler=scheduler,
    )
    return trainer.train(
        annotations,
        classifier=classifier,
        parent=parent,
        labels=labels,
        class_weight=class_weight,
        max_per_class=max_per_class,
        params=params,
        rng=rng,
        save=save,
        progress=progress,
    )


def latest_model(ws: Workspace) -> Path | None:
    """The model file of the most recent :func:`train` run on ``ws`` that saved one (and still
    exists), else None."""
    for run in reversed(ws.runs(step=TRAIN_STEP)):
        path = run.params.get("model_file")
        if path and Path(path).is_file():
            return Path(path)
    return None
