"""Job operations of active-learning campaigns: scoring the pool (propose) and fine-tuning the
campaign's model on every label so far (update). Each runs on a dask worker and opens the
campaign from the workspace, where it keeps all its records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voxelwise.server._ops_common import open_workspace
from voxelwise.server._tasks import JobContext, jsonable

__all__ = ["active_propose", "active_update", "propose_answer"]


def propose_answer(
    campaign: Any,
    k: int,
    strategy: str | None,
    preview: bool,
    progress: Any,
    strategy_params: dict[str, Any] | None = None,
) -> dict:
    """Propose ``k`` patches; the answer says how many were asked and whether to stop.

    Asking for more patches than are left proposes what is left (``asked`` > the number of
    ``proposals``, and ``note`` says so) instead of a warning nobody would see.
    """
    proposals = campaign.propose(
        k,
        strategy=strategy,
        strategy_params=strategy_params,
        preview=preview,
        progress=progress,
        on_short="ignore",
    )
    stop, reason = campaign.should_stop()
    note = ""
    if len(proposals) < k:
        note = (
            f"only {len(proposals)} unlabelled candidate(s) were left in the pool; "
            "label them, or enlarge the pool"
        )
    return jsonable(
        {
            "campaign": campaign.name,
            "asked": int(k),
            "proposals": [p.to_dict(preview=preview) for p in proposals],
            "note": note,
            "stop": stop,
            "stop_reason": reason,
        }
    )


def active_propose(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.active import Campaign

    campaign = Campaign(open_workspace(root, name), p["campaign"])
    return propose_answer(
        campaign,
        int(p["k"]),
        p.get("strategy"),
        bool(p.get("preview", False)),
        ctx.stage(0.0, 1.0, f"scoring the pool of {campaign.name}"),
        p.get("strategy_params"),
    )


def active_update(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.active import Campaign

    campaign = Campaign(open_workspace(root, name), p["campaign"])
    record = campaign.update(
        steps=p.get("steps"),
        max_minutes=p.get("max_minutes"),
        progress=ctx.stage(0.0, 1.0, f"fine-tuning the model of {campaign.name}"),
    )
    stop, reason = campaign.should_stop()
    ctx.log(f"round {record['round']} trained: {record['metrics']}")
    return jsonable(
        {"campaign": campaign.name, "round": record, "stop": stop, "stop_reason": reason}
    )
