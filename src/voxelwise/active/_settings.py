"""Validation of campaign settings: names, counts, training settings."""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

from voxelwise.active._pool import Pool

__all__ = ["parse_campaign_name", "positive", "train_settings"]


_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def parse_campaign_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"Expected the campaign name as a string, got {name!r} instead")
    if not _NAME.match(name) or set(name) == {"."}:
        raise ValueError(
            f"Expected a campaign name of 1-100 letters, digits, '-', '_' or '.', got {name!r} "
            "instead, e.g. 'mito-round1'"
        )
    return name


def positive(value: Any, name: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"Expected {name} as a whole number >= 1, got {value!r} instead")
    return int(value)


def train_settings(config: Any, pool: Pool) -> dict[str, Any]:
    """Training settings as a plain dict, checked by :class:`voxelwise.deep.TrainConfig`."""
    from voxelwise.deep import TrainConfig

    if isinstance(config, str | os.PathLike):
        cfg = TrainConfig.from_yaml(config)
    elif isinstance(config, dict):
        data = dict(config)
        if pool.axis is None:
            data.setdefault("arch", "unet3d")
        data.setdefault("patch_size", list(pool.patch_size))
        cfg = TrainConfig.from_dict(data)
    elif config is None:
        arch = "unet2d" if pool.axis is not None else "unet3d"
        cfg = TrainConfig(arch=arch, patch_size=tuple(pool.patch_size))
    else:
        cfg = config
    want = 2 if pool.axis is not None else 3
    from voxelwise.deep._plugins import network_ndim  # a plugin network declares its ndim

    if network_ndim(cfg.arch) != want:
        raise ValueError(
            f"Expected a {'2D (unet2d)' if want == 2 else '3D (unet3d or hybrid)'} network for a "
            f"pool of {'2D patches' if want == 2 else '3D windows'}, got arch={cfg.arch!r}"
        )
    if cfg.context:
        raise ValueError(
            f"Expected context=0 for an active-learning campaign, got context={cfg.context}: its "
            "pools hold single patches, not the neighbouring slices 2.5D input needs"
        )
    return cfg.to_dict()
