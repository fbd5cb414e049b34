"""Workflow and registry methods of the :class:`~voxelwise.client.Client`: export a workspace's
recorded steps, replay a workflow on another workspace as a job, list filters, classifiers and
plugins with their parameter schemas, and the model registry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from voxelwise.client._http import Http, seg
from voxelwise.client._jobs import Job

__all__ = ["WorkflowsMixin"]


def _workflow_body(workflow: Any) -> Any:
    """A workflow mapping as it is; a path to a YAML file as its text; YAML text as it is."""
    if isinstance(workflow, os.PathLike) or (
        isinstance(workflow, str) and "\n" not in workflow and workflow.endswith((".yaml", ".yml"))
    ):
        path = Path(workflow)
        if not path.is_file():
            raise FileNotFoundError(f"No workflow file at {path}")
        return path.read_text(encoding="utf-8")
    return workflow


class WorkflowsMixin:
    """Recorded workflows (replayed as server jobs) and the registries."""

    _http: Http

    def export_workflow(self, workspace: str, *, name: str | None = None) -> dict[str, Any]:
        """The steps recorded in ``workspace`` as a workflow (inputs by role; model files
        relative to the server's data root); save it with
        :func:`voxelwise.workflows.save_workflow`."""
        params = {"name": name} if name else None
        return dict(self._http.json("GET", f"/workspaces/{seg(workspace)}/workflow", params=params))

    def validate_workflow(self, workspace: str, workflow: Any) -> dict[str, Any]:
        """Check a workflow (a mapping, YAML text or a local YAML file) on the server."""
        body = {"workflow": _workflow_body(workflow)}
        return dict(
            self._http.json("POST", f"/workspaces/{seg(workspace)}/workflow/validate", json=body)
        )

    def run_workflow(
        self,
        workspace: str,
        workflow: Any,
        *,
        inputs: dict[str, str] | None = None,
        train: str = "auto",
        overwrite: bool = False,
    ) -> Job:
        """Replay a workflow on ``workspace`` (whose raw layer is the ``image`` role) as a job.

        Parameters
        ----------
        workspace : str
            Created beforehand from the new volume (:meth:`create_workspace`).
        workflow : dict, str or path
            From :meth:`export_workflow` or :func:`voxelwise.workflows.export_workflow`, YAML
            text, or a local YAML file.
        inputs : dict, optional
            Files under the data root for the other input roles, e.g.
            ``{"scribbles": "new/scribbles.tif"}``.
        train : {"auto", "always", "never"}
            Train where the training inputs are given (auto), or always apply the recorded
            models (never); see :func:`voxelwise.workflows.run_workflow`.

        Returns
        -------
        Job
            Its result lists every step's outcome (``steps``) and the layers.
        """
        body = {
            "workflow": _workflow_body(workflow),
            "inputs": dict(inputs or {}),
            "train": train,
            "overwrite": overwrite,
        }
        info = self._http.json("POST", f"/workspaces/{seg(workspace)}/workflow/run", json=body)
        return Job(self._http, info)

    def list_filters(self) -> list[dict[str, Any]]:
        """Filters, plugin filters included, with the JSON schema of their parameters."""
        return list(self._http.json("GET", "/registry/filters"))

    def list_classifiers(self) -> list[dict[str, Any]]:
        """Shallow classifiers, plugin ones included, with their parameter schemas."""
        return list(self._http.json("GET", "/registry/classifiers"))

    def list_plugins(self) -> list[dict[str, Any]]:
        """Installed plugins of every kind; broken ones with their error."""
        return list(self._http.json("GET", "/registry/plugins"))

    def model_info(self, workspace: str, name: str) -> dict[str, Any]:
        """One registered model: architecture, classes, provenance, metrics, size, date."""
        return dict(self._http.json("GET", f"/workspaces/{seg(workspace)}/models/{seg(name)}"))

    def export_model(self, workspace: str, name: str, path: str, *, overwrite: bool = False) -> str:
        """Write a registered model as one file under the server's exports folder; returns its
        path relative to the data root."""
        body = {"path": path, "overwrite": overwrite}
        out = self._http.json(
            "POST", f"/workspaces/{seg(workspace)}/models/{seg(name)}/export", json=body
        )
        return str(out["path"])

    def import_model(
        self, workspace: str, path: str, *, name: str | None = None, overwrite: bool = False
    ) -> dict[str, Any]:
        """Register a voxelwise model file (under the data root) in ``workspace``."""
        body = {"path": path, "name": name, "overwrite": overwrite}
        return dict(
            self._http.json("POST", f"/workspaces/{seg(workspace)}/models/import", json=body)
        )

    def apply_model(
        self, workspace: str, model: str, *, registry: str | None = None, **options: Any
    ) -> Job:
        """Apply a registered model to ``workspace`` as a job (``registry``: the workspace
        whose registry holds it, default ``workspace``; ``name``, ``image``, ``device``,
        ``overwrite``)."""
        body = {k: v for k, v in {"registry": registry, **options}.items() if v is not None}
        info = self._http.json(
            "POST", f"/workspaces/{seg(workspace)}/models/{seg(model)}/apply", json=body
        )
        return Job(self._http, info)

    def delete_model(self, workspace: str, name: str) -> None:
        """Remove a model from the workspace's registry (owner)."""
        self._http.request("DELETE", f"/workspaces/{seg(workspace)}/models/{seg(name)}")
