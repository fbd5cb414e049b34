"""Active-learning campaigns of the :class:`~voxelwise.client.Client`: the annotation loop
(propose, label, update) driven over HTTP."""

from __future__ import annotations

from typing import Any

import numpy as np

from voxelwise.client._http import Http, seg
from voxelwise.client._jobs import Job

__all__ = ["ActiveMixin"]


class ActiveMixin:
    """Create campaigns, propose patches, submit labels, fine-tune, and read the rounds.

    Examples
    --------
    >>> c.create_campaign("cells", "mito", patch_size=(128, 128), classes=2)  # doctest: +SKIP
    >>> batch = c.propose("cells", "mito", k=8)["proposals"]  # doctest: +SKIP
    >>> c.submit_labels("cells", "mito", patch=batch[0]["index"], labels=answer)  # doctest: +SKIP
    >>> c.update_campaign("cells", "mito").wait()  # doctest: +SKIP
    """

    _http: Http

    def _al(self, workspace: str, name: str | None = None, what: str = "") -> str:
        path = f"/workspaces/{seg(workspace)}/active/campaigns"
        if name is not None:
            path += f"/{seg(name)}"
        return path + (f"/{what}" if what else "")

    def campaigns(self, workspace: str) -> list[str]:
        """Names of the workspace's active-learning campaigns."""
        return list(self._http.json("GET", self._al(workspace)))

    def create_campaign(self, workspace: str, name: str, **settings: Any) -> dict[str, Any]:
        """Start a campaign (settings as :meth:`voxelwise.active.Campaign.create`: ``image``,
        ``labels``, ``classes``, ``patch_size``, ``axis``, ``strategy``, ``strategy_params``,
        ``config``, ``budget``, ``patience``, ``model`` (a deep model of the workspace), ...); returns its status."""
        body = {"name": name, **{k: _plain(v) for k, v in settings.items() if v is not None}}
        return dict(self._http.json("POST", self._al(workspace), json=body))

    def campaign(self, workspace: str, name: str) -> dict[str, Any]:
        """A campaign's status: round, model, labelled and pending patches, stop rule, metrics."""
        return dict(self._http.json("GET", self._al(workspace, name)))

    def campaign_rounds(self, workspace: str, name: str) -> list[dict[str, Any]]:
        """Every round's record: proposals, submissions, training, metrics."""
        return list(self._http.json("GET", self._al(workspace, name, "rounds")))

    def propose(
        self,
        workspace: str,
        name: str,
        k: int = 8,
        *,
        strategy: str | None = None,
        strategy_params: dict[str, Any] | None = None,
        preview: bool = True,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """The next ``k`` patches to annotate, best first (``proposals``: index, roi, start,
        stop, axis, score, preview), with ``stop``/``stop_reason`` from the stopping rules.
        ``strategy_params``: keyword parameters of a plugin strategy."""
        clean = _propose_body(k, strategy, strategy_params, preview)
        path = self._al(workspace, name, "propose")
        return dict(self._http.json("POST", path, json=clean, timeout=timeout))

    def propose_job(
        self,
        workspace: str,
        name: str,
        k: int = 8,
        *,
        strategy: str | None = None,
        strategy_params: dict[str, Any] | None = None,
    ) -> Job:
        """:meth:`propose` as a job (for large pools); its result holds the proposals."""
        clean = _propose_body(k, strategy, strategy_params, False)
        info = self._http.json("POST", self._al(workspace, name, "propose/job"), json=clean)
        return Job(self._http, info)

    def submit_labels(
        self,
        workspace: str,
        name: str,
        labels: Any = None,
        *,
        patch: int | None = None,
        layer: str | None = None,
    ) -> dict[str, Any]:
        """Give the expert's answers: ``labels`` of one ``patch`` (an integer array of its
        shape; 0 = no answer, class c as c + 1), or a label ``layer`` of the workspace (all of
        it, or the ``patch``'s region), or nothing when the answers were painted into the
        campaign's labels layer. Patches never proposed are accepted as extra labels."""
        body: dict[str, Any] = {}
        if patch is not None:
            body["patch"] = int(patch)
        if labels is not None:
            arr = np.asarray(labels)
            if arr.dtype.kind not in "biu":
                raise TypeError(
                    f"Expected integer labels (0 = unlabelled), got dtype {arr.dtype} instead"
                )
            body["labels"] = arr.astype(np.int64).tolist()
        if layer is not None:
            body["layer"] = layer
        return dict(self._http.json("POST", self._al(workspace, name, "labels"), json=body))

    def update_campaign(
        self,
        workspace: str,
        name: str,
        *,
        steps: int | None = None,
        max_minutes: float | None = None,
    ) -> Job:
        """Fine-tune the campaign's model from its last weights on every label so far (a job;
        its result holds the round's record and the stopping rule)."""
        body = {"steps": steps, "max_minutes": max_minutes}
        clean = {k: v for k, v in body.items() if v is not None}
        info = self._http.json("POST", self._al(workspace, name, "update"), json=clean)
        return Job(self._http, info)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _propose_body(
    k: int, strategy: str | None, params: dict[str, Any] | None, preview: bool
) -> dict[str, Any]:
    body = {"k": int(k), "strategy": strategy, "strategy_params": params, "preview": preview}
    return {key: v for key, v in body.items() if v is not None}
