"""Shallow learning from scribbles: classifiers on voxel or supervoxel features.

Train a classifier on an annotation layer and feature layers of a workspace, predict every
voxel chunk by chunk (or every supervoxel, painted back to voxels), and write a label layer,
per-class probability layers and confidence layers (maximum probability, normalised entropy).

Workspace
    :func:`train` (one-shot) and :class:`Trainer` (repeated rounds reusing features read
    before, so retraining after new strokes reads only their chunks); :func:`predict` writes
    the output layers, optionally refined by a Markov random field; :func:`latest_model`.
    Features are stored layers, or a recipe of filters computed chunk by chunk when needed
    (``store_features=False``; with ``multiscale=True`` those with sigma >= 4 are computed at
    half resolution and interpolated back, several times cheaper).
Modes
    ``"voxel"``: annotated voxels, class-balanced and capped per class, are the samples.
    ``"supervoxel"``: each supervoxel is a sample described by statistics (mean, std, ...) of
    every feature over its voxels, labelled by the majority of its annotated voxels.
Classifiers
    ``"rf"`` (random forest, default), ``"extra_trees"``, ``"hgb"`` (histogram gradient
    boosting), ``"svm"`` (RBF SVM by random Fourier features of standardised inputs, with Platt
    scaling), ``"logistic"``; class weights ``"balanced"`` by default (:data:`CLASSIFIERS`).
Refinement
    A Potts MRF with unaries ``-log p`` and boundary-weighted pairwise terms (``smoothness``
    lambda, default 0.15 as in SuRVoS2), solved by graph cuts (alpha-expansion) on the
    supervoxel adjacency graph or on the voxels of small volumes: :func:`refine_graph`,
    :func:`refine_grid`, :func:`alpha_expansion`. Needs PyMaxflow.
Hierarchy
    ``train(..., parent="cell")`` learns the children of a label; ``predict(...,
    parent_layer=...)`` predicts them only inside the parent's region.
Models
    :class:`Model` carries its feature recipe (filters and parameters) and label set;
    :meth:`Model.save` / :func:`load_model` use one ``.npz`` file of arrays and JSON, never
    pickle, so opening a model runs no code. :func:`apply_model` applies a voxel model to any
    volume, computing its features chunk by chunk with their halos.
Arrays
    :func:`fit_voxels`, :func:`predict_voxels`, :func:`fit_supervoxels`,
    :func:`predict_supervoxels`, :func:`labels_from_probabilities`, :func:`confidence_maps`,
    :func:`paint`.

>>> from voxelwise import learn
>>> model = learn.train(ws, annotations="scribbles", features="default")  # doctest: +SKIP
>>> learn.predict(ws, model, name="segmentation", refine=True)  # doctest: +SKIP
"""

from __future__ import annotations

from voxelwise.learn._errors import (
    FeatureMismatchError,
    LearnError,
    ModelFileError,
    TrainingDataError,
)
from voxelwise.learn._estimators import CLASSIFIERS, default_params, parse_classifier
from voxelwise.learn._model import MODES, Model, load_model
from voxelwise.learn._modes import apply_model
from voxelwise.learn._mrf import (
    DEFAULT_SMOOTHNESS,
    alpha_expansion,
    edge_weights,
    refine_graph,
    refine_grid,
)
from voxelwise.learn._predict import Prediction, predict
from voxelwise.learn._recipe import recipe_of
from voxelwise.learn._supervoxel import (
    STATISTICS,
    SupervoxelPrediction,
    fit_supervoxels,
    majority_labels,
    paint,
    predict_supervoxels,
)
from voxelwise.learn._train import latest_model, train
from voxelwise.learn._trainer import Trainer
from voxelwise.learn._voxel import (
    DEFAULT_MAX_PER_CLASS,
    confidence_maps,
    fit_voxels,
    labels_from_probabilities,
    predict_voxels,
)

__all__ = [
    "CLASSIFIERS",
    "DEFAULT_MAX_PER_CLASS",
    "DEFAULT_SMOOTHNESS",
    "MODES",
    "STATISTICS",
    "FeatureMismatchError",
    "LearnError",
    "Model",
    "ModelFileError",
    "Prediction",
    "SupervoxelPrediction",
    "Trainer",
    "TrainingDataError",
    "alpha_expansion",
    "apply_model",
    "confidence_maps",
    "default_params",
    "edge_weights",
    "fit_supervoxels",
    "fit_voxels",
    "labels_from_probabilities",
    "latest_model",
    "load_model",
    "majority_labels",
    "paint",
    "parse_classifier",
    "predict",
    "predict_supervoxels",
    "predict_voxels",
    "recipe_of",
    "refine_graph",
    "refine_grid",
    "train",
]
