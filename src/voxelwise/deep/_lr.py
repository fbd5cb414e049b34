"""Learning-rate tools: the one-cycle schedule and the learning-rate range test."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from voxelwise.deep._config import TrainConfig
from voxelwise.deep._losses import compute_loss
from voxelwise.deep._plot import line_plot

__all__ = ["batch_loss", "find_lr", "one_cycle"]


def batch_loss(
    net: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    weights: torch.Tensor | None,
) -> torch.Tensor:
    main, aux = net.forward_all(x)  # type: ignore[operator]
    loss = compute_loss(
        main.float(), y, kind=cfg.loss, weights=weights, edge_weight=cfg.edge_weight
    )
    if aux is not None and cfg.aux_weight > 0:
        loss = loss + cfg.aux_weight * compute_loss(aux.float(), y, kind=cfg.loss, weights=weights)
    return loss


def one_cycle(lr: float, done: float, *, warmup: float = 0.3) -> float:
    """One-cycle learning rate at fraction ``done`` of training: cosine warm-up from lr / 25
    to ``lr`` over the first ``warmup`` of training, then cosine annealing to lr / 1e4.

    ``done`` is the larger of the steps and the wall-time budget used, so a ``max_minutes``
    run still anneals before its time is up.
    """
    done = min(max(done, 0.0), 1.0)
    if done < warmup:
        low, high, t = lr / 25, lr, done / warmup
    else:
        low, high, t = lr, lr / 1e4, (done - warmup) / (1 - warmup)
    return float(high + (low - high) * (1 + math.cos(math.pi * t)) / 2)


def find_lr(
    net: torch.nn.Module,
    draw: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    cfg: TrainConfig,
    *,
    device: torch.device,
    weights: torch.Tensor | None = None,
    steps: int = 40,
    plot: str | Path | None = None,
) -> float:
    """Learning-rate range test: raise the LR exponentially, return (LR at lowest loss) / 10.

    The network's weights are restored afterwards; ``plot`` saves loss against LR as a PNG.
    """
    saved = {k: v.detach().clone() for k, v in net.state_dict().items()}
    opt = torch.optim.AdamW(net.parameters(), lr=1e-6, weight_decay=cfg.weight_decay)
    lrs = np.geomspace(1e-6, 1.0, steps)
    seen: list[float] = []
    losses: list[float] = []
    smooth = None
    net.train()
    for lr in lrs:
        for group in opt.param_groups:
            group["lr"] = float(lr)
        x, y = draw()
        loss = batch_loss(net, x.to(device), y.to(device), cfg, weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        value = float(loss.detach())
        smooth = value if smooth is None else 0.7 * smooth + 0.3 * value
        seen.append(float(lr))
        losses.append(smooth)
        if not math.isfinite(value) or smooth > 4 * min(losses):
            break
    net.load_state_dict(saved)
    best = seen[int(np.argmin(losses))]
    if plot is not None:
        line_plot(
            plot,
            seen,
            {"loss": losses},
            title="learning-rate finder",
            xlabel="learning rate",
            log_x=True,
        )
    return float(min(max(best / 10, 1e-5), 1e-1))
