"""Helpers shared by the job operations and the routes: workspace folders for models and tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voxelwise.server._paths import workspace_path

__all__ = ["MODELS", "TABLES", "model_path", "open_workspace", "table_path"]

MODELS = "models"  # inside a workspace folder: shallow NAME.npz files and deep NAME/ folders
TABLES = "tables"  # inside a workspace folder: NAME.csv measurement tables


def open_workspace(root: Path, name: str | None) -> Any:
    from voxelwise.workspace import Workspace

    if name is None:
        raise ValueError("This job needs a workspace")
    return Workspace.open(workspace_path(root, name))


def table_path(ws: Any, name: str) -> Path:
    return Path(ws.path) / TABLES / f"{name}.csv"


def model_path(ws: Any, name: str, *, deep: bool) -> Path:
    folder = Path(ws.path) / MODELS
    return folder / name if deep else folder / f"{name}.npz"
