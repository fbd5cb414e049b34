"""The model file: one ``torch.save`` file of tensors plus plain JSON metadata.

Layout: ``{"voxelwise_model": 1, "metadata": "<json>", "state_dict": {name: tensor}}``. It loads
with ``torch.load(path, weights_only=True)`` (no pickled code). Metadata holds the architecture
and its options, normalisation, class names and label values, and training provenance.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from voxelwise.deep._nets import PluginNet, build_network
from voxelwise.deep._plugins import is_plugin_arch
from voxelwise.errors import CorruptFileError, FormatNotSupportedError, NotAVolumeFileError
from voxelwise.plugins import PluginError

__all__ = ["DeepModel", "ModelPluginError", "load_model", "save_model"]

FORMAT_KEY = "voxelwise_model"
FORMAT_VERSION = 1


@dataclass
class DeepModel:
    """A network with everything needed to apply it: metadata and normalisation.

    Attributes
    ----------
    network : torch.nn.Module
    metadata : dict
        JSON-able: ``arch``, ``classes``, ``network`` (options), ``patch_size``, ``axes``,
        ``normalization`` (``{"kind": "percentile", "low": .., "high": ..}`` or
        ``{"kind": "meanstd", "mean": .., "std": ..}``; for several channels a list of
        these, one per channel), ``channels`` (input channels; 1 when missing),
        ``channel_names``, ``label_names``, ``label_values`` (class c is label value c + 1),
        ``val_miou``, ``provenance``.
    """

    network: torch.nn.Module
    metadata: dict[str, Any]

    @property
    def classes(self) -> int:
        return int(self.metadata["classes"])

    @property
    def channels(self) -> int:
        """Input channels (image layers) the network takes."""
        return int(self.metadata.get("channels", 1))

    @property
    def channel_names(self) -> list[str]:
        """A name per input channel (the image layers it was trained on, where known)."""
        names = self.metadata.get("channel_names")
        if names is None:
            return (
                ["image"] if self.channels == 1 else [f"channel {k}" for k in range(self.channels)]
            )
        return [str(n) for n in names]

    @property
    def ndim(self) -> int:
        return int(getattr(self.network, "ndim", 2))

    @property
    def context(self) -> int:
        """Neighbouring slices on each side given as extra channels (2.5D input; 0 = plain)."""
        return int(self.metadata.get("context", 0))

    @property
    def net_channels(self) -> int:
        """Channels the network's first layer takes: image channels x (2 context + 1)."""
        return self.channels * (2 * self.context + 1)

    def normalize(self, block: Any) -> np.ndarray:
        """Apply the stored normalisation to a block of raw intensities (float32 out); blocks
        of several channels (image channels, or the planes of 2.5D input, plane-major) are
        channels-last."""
        norm = self.metadata["normalization"]
        if isinstance(norm, list) and self.context:
            norm = norm * (2 * self.context + 1)  # channel k C + c is image channel c
        return apply_normalization(block, norm)


def apply_normalization(block: Any, norm: dict[str, Any] | list[dict[str, Any]]) -> np.ndarray:
    """Normalise raw intensities with stored parameters (see :class:`DeepModel`); a list of
    parameters normalises each channel of a channels-last block with its own."""
    if isinstance(norm, list):
        x = np.asarray(block)
        if x.shape[-1] != len(norm):
            raise ValueError(
                f"Expected a channels-last block with {len(norm)} channels, got shape {x.shape}"
            )
        out = np.empty(x.shape, dtype=np.float32)
        for k, params in enumerate(norm):
            out[..., k] = apply_normalization(x[..., k], params)
        return out
    x = np.asarray(block, dtype=np.float32)
    if norm["kind"] == "percentile":
        low, high = float(norm["low"]), float(norm["high"])
        return np.clip((x - low) / max(high - low, 1e-6), 0.0, 1.0)
    return (x - float(norm["mean"])) / max(float(norm["std"]), 1e-6)


def save_model(model: DeepModel, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to one file (written beside it and renamed, so never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.network.state_dict().items()}
    metadata = dict(model.metadata)
    if isinstance(model.network, PluginNet) and "plugin" not in metadata:
        # the plugin's name and package (never its code), so loading can say what to install
        metadata["plugin"] = {
            "name": model.network.arch,
            "distribution": model.network.distribution,
        }
    payload = {
        FORMAT_KEY: FORMAT_VERSION,
        "metadata": json.dumps(metadata),
        "state_dict": state,
    }
    tmp = path.with_name(path.name + ".partial")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


class ModelPluginError(PluginError):
    """A model file needs a network plugin that is not installed, or is broken."""


def _check_plugin(path: Path, arch: str, record: Any) -> None:
    """Raise :class:`ModelPluginError` naming the package to install when ``arch`` is not."""
    from voxelwise.deep._plugins import network_plugin

    try:
        network_plugin(arch)
    except PluginError as e:
        dist = record.get("distribution") if isinstance(record, dict) else None
        package = dist.split()[0] if dist else arch.split(".", 1)[0]
        made = f" (trained with {dist})" if dist else ""
        raise ModelPluginError(
            f"The model {path} uses the network plugin {arch!r}{made}, which is not available: "
            f"{e}. Install the package that provides it (pip install {package}) to load this "
            "model; model files hold the network's weights, never its code"
        ) from e


def load_model(path: str | os.PathLike[str], *, device: str = "cpu") -> DeepModel:
    """Read a model file written by :func:`save_model` (network in eval mode on ``device``).

    Raises
    ------
    NotAVolumeFileError
        No such file.
    CorruptFileError
        The file is truncated or damaged, or not a PyTorch file at all.
    FormatNotSupportedError
        A PyTorch file from another program (not a voxelwise model).
    ModelPluginError
        The model's network comes from a plugin that is not installed (the message names the
        package to install) or is broken.
    """
    path = Path(path)
    if not path.is_file():
        raise NotAVolumeFileError(f"No model file at {path}; give the path of a trained model")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for damaged or foreign files
        raise CorruptFileError(
            f"Cannot read {path} as a voxelwise model file ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); it is damaged or not a model file "
            "written by voxelwise.deep; retrain or copy it again"
        ) from e
    if not isinstance(payload, dict) or FORMAT_KEY not in payload:
        raise FormatNotSupportedError(
            f"{path} is a PyTorch file but not a voxelwise model (no {FORMAT_KEY!r} entry); "
            "models from other programs cannot be loaded, train one with voxelwise.deep.train"
        )
    if payload[FORMAT_KEY] != FORMAT_VERSION:
        raise FormatNotSupportedError(
            f"{path} is a voxelwise model of format version {payload[FORMAT_KEY]}, this "
            f"voxelwise reads version {FORMAT_VERSION}; upgrade voxelwise"
        )
    try:
        meta = json.loads(payload["metadata"])
        arch, classes = meta["arch"], int(meta["classes"])
    except Exception as e:
        raise CorruptFileError(
            f"The voxelwise model file {path} is damaged ({type(e).__name__}: {e}); retrain it"
        ) from e
    if is_plugin_arch(arch):
        _check_plugin(path, arch, meta.get("plugin"))
    try:
        net = build_network(arch, classes, meta.get("network"))
        net.load_state_dict(payload["state_dict"])
    except PluginError as e:
        raise ModelPluginError(
            f"The model {path} uses the network plugin {arch!r}, which cannot be built: {e}"
        ) from e
    except Exception as e:
        raise CorruptFileError(
            f"The voxelwise model file {path} is damaged ({type(e).__name__}: {e}); retrain it"
        ) from e
    net.to(device).eval()
    return DeepModel(net, meta)
