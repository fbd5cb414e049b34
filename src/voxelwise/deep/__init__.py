"""Deep learning for volume segmentation in plain PyTorch (``pip install voxelwise[deep]``).

Networks
    :class:`UNet2D` (residual encoder), :class:`UNet3D` (anisotropy-aware pooling,
    :func:`pools_for`), :class:`HybridNet` (Guay et al. 2D-3D net with a 3D pyramid head and an
    auxiliary 2D output); :class:`MCDropout` / :func:`set_mc_dropout` for Monte-Carlo dropout;
    every net has ``embed(x)`` (bottleneck features). :class:`ResNetUNet`: a U-Net on a
    ResNet-18/34 encoder, optionally ImageNet-pretrained (:func:`load_encoder_weights`,
    ``pip install voxelwise[pretrained]``; ``TrainConfig(encoder=..., encoder_weights=...)``).
Training
    :func:`train` from files, arrays or Volumes with a :class:`TrainConfig` (YAML), returning a
    :class:`TrainResult`; :func:`find_lr`; losses in :func:`compute_loss`. Several registered
    image layers are input channels, given as one (C, Z, Y, X) stack (:func:`stack_channels`);
    the model stores a normalisation, a name per channel and their number.
Models
    One file per model: :func:`save_model` / :func:`load_model` (:class:`DeepModel`).
Prediction
    :func:`predict` (tiled, multi-axis, ensembles, zarr outputs of any size) and
    :func:`predict_proba` (in memory); :func:`fuse_probabilities`, :func:`choose_axes`.
Data-aware defaults
    :func:`plan_axes` picks the slice axes a 2D net trains on from the volume's extent and voxel
    size (a thin stack of sections: Z only); :func:`axis_weights` turns the per-axis validation
    scores stored in a model into fusion weights, so 3-axis prediction never lets a weak axis
    win.
Workspaces
    :func:`train_workspace` on an image and a labels layer; :func:`predict_workspace` writes
    label, probability and confidence layers (:class:`WorkspacePrediction`); both record runs.

Label convention: 0 = unlabelled (ignored by the loss); class c is stored as c + 1, in training
labels and in predicted label volumes alike.

``import voxelwise.deep`` does not import torch; the names load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DeepModel",
    "EncoderWeightsError",
    "HybridNet",
    "MCDropout",
    "PretrainedWeightsError",
    "ResNetUNet",
    "TrainConfig",
    "TrainResult",
    "UNet2D",
    "UNet3D",
    "WorkspacePrediction",
    "axis_weights",
    "choose_axes",
    "compute_loss",
    "find_lr",
    "fuse_probabilities",
    "load_encoder_weights",
    "load_model",
    "parse_device",
    "plan_axes",
    "pools_for",
    "predict",
    "predict_proba",
    "predict_workspace",
    "save_model",
    "set_mc_dropout",
    "stack_channels",
    "train",
    "train_workspace",
]

_WHERE = {
    "DeepModel": "_model",
    "load_model": "_model",
    "save_model": "_model",
    "HybridNet": "_nets",
    "MCDropout": "_nets",
    "UNet2D": "_nets",
    "UNet3D": "_nets",
    "pools_for": "_nets",
    "set_mc_dropout": "_nets",
    "stack_channels": "_data",
    "EncoderWeightsError": "_encoders",
    "PretrainedWeightsError": "_encoders",
    "ResNetUNet": "_encoders",
    "load_encoder_weights": "_encoders",
    "TrainConfig": "_config",
    "TrainResult": "_train",
    "find_lr": "_lr",
    "train": "_train",
    "compute_loss": "_losses",
    "parse_device": "_device",
    "axis_weights": "_plan",
    "plan_axes": "_plan",
    "choose_axes": "_predict",
    "fuse_probabilities": "_predict",
    "predict": "_predict",
    "predict_proba": "_predict",
    "WorkspacePrediction": "_workspace",
    "predict_workspace": "_workspace",
    "train_workspace": "_workspace",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"voxelwise.deep.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'voxelwise.deep' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
