"""Fixtures shared by the deep-learning tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def tiny_unet2d() -> dict[str, Any]:
    """Training settings of a tiny 2D U-Net that learns a simple synthetic task in seconds on
    one CPU thread (no rotations, intensity changes or noise: the tasks are exact)."""
    return {
        "arch": "unet2d",
        "network": {"depth": 2, "width": 8, "blocks": 1, "dropout": 0.0},
        "patch_size": (32, 32),
        "epochs": 4,
        "steps_per_epoch": 12,
        "batch_size": 4,
        "lr": 3e-3,
        "val_patches": 4,
        "patience": 10,
        "rot90": False,
        "intensity": 0.0,
        "noise": 0.0,
        "amp": False,
    }
