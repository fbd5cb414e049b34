"""Replay a workflow on new data: SuRVoS2's "apply parameters to a naive dataset"."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.workflows._errors import WorkflowInputError
from voxelwise.workflows._progress import StageCallback, Stages
from voxelwise.workflows._schema import IMAGE_ROLE, load_workflow, validate_workflow
from voxelwise.workflows._steps import TRAIN_POLICIES, StepContext, StepOutcome, execute_step

__all__ = ["WorkflowReport", "run_workflow"]

_SUFFIXES = (".ome.zarr", ".zarr", ".tiff", ".tif", ".h5", ".hdf5", ".mrc", ".rec", ".map", ".npy")


@dataclass
class WorkflowReport:
    """What a replay did: the workspace, each step's outcome, and where models and tables went."""

    name: str
    workspace: Path
    results: Path
    steps: list[StepOutcome]
    layers: list[str]
    seconds: float
    inputs: dict[str, str] = field(default_factory=dict)

    def outcome(self, step_id: str) -> StepOutcome:
        """The outcome of one step by id."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(f"No step {step_id!r} in this run; steps: {[s.id for s in self.steps]}")

    def summary(self) -> str:
        """A short multi-line report for the terminal."""
        lines = [
            f"workflow {self.name!r} on {self.workspace}",
            f"  inputs   {', '.join(f'{k}={v}' for k, v in self.inputs.items())}",
        ]
        width = max((len(s.id) for s in self.steps), default=0)
        for s in self.steps:
            made = f" -> {', '.join(s.outputs[:4])}{' ...' if len(s.outputs) > 4 else ''}"
            lines.append(
                f"  {s.id:<{width}}  {s.status:<7} {s.seconds:6.1f} s"
                f"{made if s.outputs else ''}{'  (' + s.note + ')' if s.note else ''}"
            )
            metrics = s.result.get("metrics")
            if metrics and metrics.get("mean_iou") is not None:
                lines.append(f"  {'':<{width}}  mean IoU {metrics['mean_iou']:.3f}")
        lines += [f"  results  {self.results}", f"  took     {self.seconds:.1f} s"]
        return "\n".join(lines)


def _default_workspace(image: Any) -> Path:
    if not isinstance(image, str | os.PathLike):
        raise WorkflowInputError(
            "Give workspace= (a folder to create) when the image is an array rather than a file"
        )
    name = Path(image).name.rstrip("/")
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return Path.cwd() / f"{name or 'replay'}.vw"


def _spacing_for(image: Any, settings: Mapping[str, Any], spacing: Any) -> tuple[Any, Any]:
    """(spacing, unit): the given spacing, else the image file's (None, None: read from the
    file), else the voxel size the workflow was made on, with its unit."""
    if spacing is not None:
        return spacing, None
    if isinstance(image, str | os.PathLike):
        from voxelwise.io import open_volume

        if open_volume(image).spacing is not None:
            return None, None
    return settings.get("spacing"), settings.get("unit")


def _open_or_create(
    wf: dict[str, Any],
    image: Any,
    workspace: Any,
    spacing: Any,
    overwrite: bool,
    scheduler: Scheduler,
    progress: ProgressCallback | None,
) -> Any:
    from voxelwise.workspace import Workspace

    if image is None:
        if workspace is None:
            raise WorkflowInputError(
                "Give the image to process (image=, or --image), or an existing workspace"
            )
        return Workspace.open(workspace)
    settings = wf["workspace"]
    path = Path(workspace) if workspace is not None else _default_workspace(image)
    voxel, unit = _spacing_for(image, settings, spacing)
    return Workspace.create(
        path,
        image,
        chunks=settings.get("chunks"),
        spacing=voxel,
        unit=unit,
        overwrite=overwrite,
        scheduler=scheduler,
        progress=progress,
    )


def _ensure_label_set(ws: Any, name: str, labels: list[dict[str, Any]]) -> None:
    known = {lab.name for lab in ws.label_sets().get(name, [])}
    pending = [lab for lab in labels if lab["name"] not in known]
    # parents first, so a child's parent exists when it is added
    while pending:
        ready = [lab for lab in pending if not lab.get("parent") or lab["parent"] in known]
        if not ready:
            raise WorkflowInputError(
                f"Label set {name!r}: parents {sorted({lab['parent'] for lab in pending})} are "
                "not labels of the set"
            )
        for lab in ready:
            color = lab.get("color")
            ws.add_label(
                name,
                lab["name"],
                value=int(lab["value"]),
                color=tuple(color) if color else None,
                parent=lab.get("parent"),
            )
            known.add(lab["name"])
        pending = [lab for lab in pending if lab["name"] not in known]


def _import_role(
    ws: Any, role: str, spec: dict[str, Any], source: Any, overwrite: bool, scheduler: Scheduler
) -> None:
    if spec["kind"] == "annotation":
        from voxelwise.annotate import import_labels

        import_labels(
            ws,
            source,
            name=spec["layer"],
            label_set=spec.get("label_set"),
            overwrite=overwrite,
            scheduler=scheduler,
        )
        return
    data = source
    if isinstance(source, str | os.PathLike):
        from voxelwise.io import open_volume

        data = open_volume(source).data
    ws.add_layer(
        spec["layer"],
        data,
        kind=spec["kind"],
        label_set=spec.get("label_set"),
        params={
            "role": role,
            "file": str(source) if isinstance(source, str | os.PathLike) else None,
        },
        overwrite=overwrite,
        scheduler=scheduler,
    )


def _describe(value: Any) -> str:
    if isinstance(value, str | os.PathLike):
        return str(value)
    return f"array {tuple(getattr(value, 'shape', ()))}"


def run_workflow(
    workflow: Mapping[str, Any] | str | os.PathLike[str],
    image: Any = None,
    *,
    workspace: str | os.PathLike[str] | None = None,
    inputs: Mapping[str, Any] | None = None,
    spacing: Any = None,
    train: str = "auto",
    results: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
    on_stage: StageCallback | None = None,
) -> WorkflowReport:
    """Replay a recorded workflow on a new volume: same steps, same parameters, new data.

    Parameters
    ----------
    workflow : dict or path
        From :func:`export_workflow`, or a YAML file (:func:`save_workflow`).
    image : path or (Z, Y, X) array, optional
        The new volume (the ``image`` role); a workspace is created from it. Leave it out to
        run on the existing ``workspace``.
    workspace : path, optional
        The workspace to create (default ``./<image name>.vw``) or, without ``image``, to use.
    inputs : mapping of role to path or array, optional
        Files for the workflow's other roles, e.g. ``{"scribbles": "new_scribbles.tif"}``
        (imported as layers of the recorded names and label sets).
    spacing : float or (3,) floats, optional
        Voxel size of ``image``; default the file's, else the one the workflow was made on.
    train : {"auto", "always", "never"}
        Training steps: ``"auto"`` trains when their inputs (e.g. scribbles) were given and
        otherwise applies the model recorded in the workflow; ``"never"`` always applies the
        recorded models; ``"always"`` refuses to run without the training inputs.
    results : path, optional
        Folder for trained models and measurement tables (default ``<workspace>-results``).
    overwrite : bool
        Replace an existing workspace at ``workspace`` (with ``image``), and existing layers.
    scheduler, progress
        See :mod:`voxelwise._compute`; ``progress(done, total)`` spans the whole workflow and
        may raise :class:`~voxelwise.errors.CancelledError` (finished steps stay recorded).
    on_stage : callable, optional
        ``on_stage(name, index, count)``, called as each step starts (``name`` is
        ``"ID (KIND)"``), e.g. to label a progress bar.

    Returns
    -------
    WorkflowReport

    Raises
    ------
    WorkflowError
        The workflow is malformed or refers to a layer or step that does not exist.
    WorkflowInputError
        An input role that is required was not given, an unknown role was given, or a model
        to reuse does not exist.
    """
    started = time.perf_counter()
    base = Path.cwd()
    if isinstance(workflow, str | os.PathLike):
        base = Path(workflow).absolute().parent
        wf = load_workflow(workflow)
    else:
        wf = validate_workflow(workflow)
    if train not in TRAIN_POLICIES:
        raise WorkflowInputError(
            f"Expected train as one of {', '.join(TRAIN_POLICIES)}, got {train!r} instead"
        )
    given = dict(inputs or {})
    if IMAGE_ROLE in given:
        if image is not None:
            raise WorkflowInputError("The image is given twice (image= and inputs['image'])")
        image = given.pop(IMAGE_ROLE)
    roles = wf["inputs"]
    unknown = sorted(set(given) - set(roles))
    if unknown:
        raise WorkflowInputError(
            f"The workflow has no input role {', '.join(map(repr, unknown))}; its roles are "
            f"{', '.join(roles)}"
        )
    missing = [r for r, s in roles.items() if s["required"] and r != IMAGE_ROLE and r not in given]
    if missing:
        raise WorkflowInputError(
            f"The workflow needs the input role(s) {', '.join(map(repr, missing))}; give them "
            f"with inputs={{{missing[0]!r}: FILE}} (voxelwise run ... --input {missing[0]}=FILE)"
        )
    ws = _open_or_create(wf, image, workspace, spacing, overwrite, scheduler, None)
    for role, source in given.items():
        spec = roles[role]
        if spec.get("label_set"):
            _ensure_label_set(ws, spec["label_set"], wf["label_sets"][spec["label_set"]])
        _import_role(ws, role, spec, source, overwrite, scheduler)
    out = Path(results) if results is not None else ws.path.with_name(f"{ws.path.stem}-results")
    out.mkdir(parents=True, exist_ok=True)
    ctx = StepContext(
        ws=ws, results=out, train=train, overwrite=overwrite, base=base, scheduler=scheduler
    )
    steps = wf["steps"]
    outcomes = []
    stages = Stages(progress, len(steps), on_stage)
    for step in steps:
        with stages(f"{step['id']} ({step['step']})") as p:
            outcomes.append(execute_step(step, ctx, progress=p))
    described = {IMAGE_ROLE: _describe(image) if image is not None else str(ws.path)}
    described.update({r: _describe(v) for r, v in given.items()})
    return WorkflowReport(
        name=str(wf.get("name") or "workflow"),
        workspace=ws.path,
        results=out,
        steps=outcomes,
        layers=list(ws.layers),
        seconds=time.perf_counter() - started,
        inputs=described,
    )
