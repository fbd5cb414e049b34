"""Losses over class logits with an ignore label (-1 = unlabelled voxel).

Targets are class indices ``0..C-1`` with ``-1`` where nothing is labelled; label volumes store
class ``c`` as ``c + 1`` (0 = unlabelled) and the trainer subtracts 1 (see docs/deep-learning.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["LOSSES", "class_weights", "compute_loss", "dice_loss", "edge_weights"]

LOSSES = ("ce", "dice", "ce_dice", "edge_ce")
IGNORE = -1


def class_weights(counts: torch.Tensor) -> torch.Tensor:
    """Inverse-frequency class weights normalised to mean 1 (absent classes get weight 0)."""
    counts = counts.float()
    present = counts > 0
    w = torch.zeros_like(counts)
    w[present] = counts[present].sum() / (present.sum() * counts[present])
    return w / w[present].mean()


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - mean soft Dice over classes, on labelled voxels only."""
    classes = logits.shape[1]
    valid = (target != IGNORE).unsqueeze(1).float()
    prob = logits.softmax(1) * valid
    onehot = F.one_hot(target.clamp(min=0), classes).movedim(-1, 1).float() * valid
    dims = (0, *range(2, logits.ndim))
    inter = (prob * onehot).sum(dims)
    denom = prob.sum(dims) + onehot.sum(dims)
    return 1 - ((2 * inter + eps) / (denom + eps)).mean()


def edge_weights(target: torch.Tensor, weight: float = 5.0) -> torch.Tensor:
    """Per-voxel weights ``1 + weight`` on class boundaries (Guay et al.), else 1."""
    t = target.float().unsqueeze(1)
    ndim = target.ndim - 1
    k = 3
    if ndim == 2:
        hi = F.max_pool2d(t, k, 1, k // 2)
        lo = -F.max_pool2d(-t, k, 1, k // 2)
    else:
        hi = F.max_pool3d(t, (1, k, k), 1, (0, k // 2, k // 2))
        lo = -F.max_pool3d(-t, (1, k, k), 1, (0, k // 2, k // 2))
    edge = ((hi != lo) & (t >= 0)).squeeze(1).float()
    return 1 + weight * edge


def compute_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    kind: str = "ce_dice",
    weights: torch.Tensor | None = None,
    edge_weight: float = 5.0,
) -> torch.Tensor:
    """The loss ``kind`` (``'ce'``, ``'dice'``, ``'ce_dice'``, ``'edge_ce'``) of ``logits``.

    ``logits`` is (N, C, ...) and ``target`` (N, ...) int64 with -1 ignored; ``weights`` are
    per-class weights for the cross-entropy terms (see :func:`class_weights`).
    """
    if kind not in LOSSES:
        raise ValueError(f"Expected loss as one of {LOSSES}, got {kind!r} instead")
    valid = target != IGNORE
    if not bool(valid.any()):
        return logits.sum() * 0.0
    if kind == "dice":
        return dice_loss(logits, target)
    if kind == "edge_ce":
        ce = F.cross_entropy(logits, target, weight=weights, ignore_index=IGNORE, reduction="none")
        w = edge_weights(target, edge_weight) * valid
        return (ce * w).sum() / w.sum()
    ce = F.cross_entropy(logits, target, weight=weights, ignore_index=IGNORE)
    if kind == "ce":
        return ce
    return ce + dice_loss(logits, target)
