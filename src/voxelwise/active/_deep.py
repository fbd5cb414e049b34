"""Scoring pool candidates with a :mod:`voxelwise.deep` model (the only module importing torch).

The candidates stream through the network in batches: class probabilities (for the
uncertainty scores), ``T`` Monte-Carlo dropout passes (BALD) and the bottleneck embedding
(``net.embed``, average-pooled to one vector per patch) are reduced per batch, so memory stays
at one block of the volume and one batch of patches, plus a few numbers per candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import numpy as np
import torch

from voxelwise._validate import parse_rng
from voxelwise.active._errors import StrategyError
from voxelwise.active._pool import Pool
from voxelwise.active._scoring import PoolScores, align
from voxelwise.active._strategies import UNCERTAINTY_METHODS, bald_scores, uncertainty_scores
from voxelwise.deep import DeepModel, MCDropout, load_model, parse_device, set_mc_dropout
from voxelwise.deep._tiles import forward

__all__ = ["as_deep_model", "has_dropout", "predict_patches", "score_with_model"]

NEEDS = frozenset((*UNCERTAINTY_METHODS, "bald", "embeddings"))


def as_deep_model(model: Any) -> DeepModel:
    """A :class:`~voxelwise.deep.DeepModel` from a model or a model file path."""
    return model if isinstance(model, DeepModel) else load_model(model)


def has_dropout(model: DeepModel) -> bool:
    """Whether the network has Monte-Carlo dropout with a non-zero rate."""
    return any(isinstance(m, MCDropout) and m.p > 0 for m in model.network.modules())


def _check_model(model: DeepModel, pool: Pool) -> None:
    if model.context:
        raise StrategyError(
            f"The model takes 2.5D input (context={model.context}: neighbouring slices as "
            "channels), which active-learning pools of single patches do not provide; use a "
            "model trained with context=0 for the campaign"
        )
    want = 3 if pool.axis is None else 2
    if model.ndim != want:
        kind = "3D windows" if pool.axis is None else "2D patches"
        raise StrategyError(
            f"The pool holds {kind} but the model is a {model.ndim}D network "
            f"({model.metadata.get('arch')}); use a {'3D (unet3d, hybrid)' if want == 3 else '2D (unet2d)'} "
            "model or a pool of the matching kind"
        )


def predict_patches(model: DeepModel, patches: np.ndarray, *, device: str = "auto") -> np.ndarray:
    """Class probabilities ``(B, C, *patch)`` of raw patches ``(B, *patch)``."""
    dev = parse_device(device)
    model.network.to(dev).eval()
    return forward(model, dev, False)(np.asarray(patches, dtype=np.float32))


def score_with_model(
    model: Any,
    image: Any,
    pool: Pool,
    indices: Any = None,
    *,
    needs: Collection[str] = ("entropy",),
    mc_samples: int = 8,
    batch_size: int = 16,
    device: str = "auto",
    rng: np.random.Generator | int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PoolScores:
    """Score pool candidates with a deep model.

    Parameters
    ----------
    model : DeepModel or path
    image : (Z, Y, X) array
        The raw volume (NumPy, dask or zarr; read block by block).
    pool : Pool
    indices : array of int, optional
        Candidates to score; default the available ones.
    needs : collection of str
        What to compute: uncertainty methods ('entropy', 'least_confidence', 'margin'),
        'bald' (``mc_samples`` passes with MC dropout) and 'embeddings'.
    mc_samples : int
        Stochastic passes for BALD (at least 2).
    rng : Generator or int, optional
        Seeds the dropout masks.

    Raises
    ------
    StrategyError
        BALD asked of a network without dropout; a model of the wrong dimensionality.
    """
    unknown = set(needs) - NEEDS
    if unknown:
        raise ValueError(f"Expected needs among {sorted(NEEDS)}, got {sorted(unknown)}")
    net_model = as_deep_model(model)
    _check_model(net_model, pool)
    if "bald" in needs:
        if not has_dropout(net_model):
            raise StrategyError(
                "BALD needs a network with dropout (Monte-Carlo samples come from dropout "
                "masks) but this model has none (dropout=0); train with "
                "network={'dropout': 0.1}, or choose another strategy such as 'entropy'"
            )
        if int(mc_samples) < 2:
            raise ValueError(f"Expected mc_samples >= 2 for BALD, got {mc_samples} instead")
    dev = parse_device(device)
    net = net_model.network.to(dev).eval()
    run = forward(net_model, dev, False)
    torch.manual_seed(int(parse_rng(rng).integers(2**31)))
    idx = pool.indices() if indices is None else np.asarray(indices, dtype=np.int64)
    methods = [m for m in UNCERTAINTY_METHODS if m in needs]
    parts: dict[str, list[np.ndarray]] = {m: [] for m in [*methods, "bald"] if m in needs}
    embeds: list[np.ndarray] = []
    got: list[np.ndarray] = []
    done = 0
    for batch_idx, patches in pool.iter_read(image, idx, batch_size=batch_size):
        patches = patches.astype(np.float32, copy=False)
        if methods:
            probs = run(patches)
            for m in methods:
                parts[m].append(uncertainty_scores(probs, method=m))
        if "bald" in needs:
            set_mc_dropout(net, True)
            try:
                samples = np.stack([run(patches) for _ in range(int(mc_samples))])
            finally:
                set_mc_dropout(net, False)
            parts["bald"].append(bald_scores(samples))
        if "embeddings" in needs:
            x = torch.from_numpy(net_model.normalize(patches)).unsqueeze(1).to(dev)
            with torch.inference_mode():
                embeds.append(net.embed(x).float().cpu().numpy())
        got.append(batch_idx)
        done += batch_idx.size
        if progress is not None:
            progress(done, idx.size)
    where = align(np.concatenate(got) if got else np.zeros(0, np.int64), idx)
    scores = {m: (np.concatenate(v)[where] if v else np.zeros(0)) for m, v in parts.items()}
    emb = np.concatenate(embeds)[where] if embeds else None
    return PoolScores(indices=idx, scores=scores, embeddings=emb)
