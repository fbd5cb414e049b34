"""The model registry: register, list, export, import and apply trained models.

Records live in the workspace catalog (``Workspace.models``); this module reads model files
to fill them in, discovers the models that training runs saved, and dispatches prediction to
:mod:`voxelwise.learn` or :mod:`voxelwise.deep`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from voxelwise.errors import OutputExistsError
from voxelwise.models._inspect import describe_model, model_kind
from voxelwise.workspace import ModelInfo, Workspace, roi_parent

__all__ = [
    "TRAIN_STEPS",
    "apply_model",
    "export_model",
    "import_model",
    "list_models",
    "model_file",
    "register_model",
    "sync_models",
]

TRAIN_STEPS = ("learn.train", "deep.train")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
PathLike = str | os.PathLike[str]


def _as_workspace(ws: Workspace | PathLike) -> Workspace:
    return ws if isinstance(ws, Workspace) else Workspace.open(ws)


def _free_name(ws: Workspace, wanted: str) -> str:
    base = _UNSAFE.sub("_", wanted).strip("_.")[:100] or "model"
    taken = set(ws.models)
    name, k = base, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    return name


def register_model(
    ws: Workspace | PathLike,
    path: PathLike,
    *,
    name: str | None = None,
    provenance: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    copy: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Add a model file to a workspace's registry and return its record.

    The file is validated and described by loading it (architecture, classes, label set,
    training provenance and validation metrics stored in it); ``provenance`` and ``metrics``
    add to what the file holds. With ``copy=True`` (default) the workspace keeps its own copy
    in ``models/``.

    Parameters
    ----------
    ws : Workspace or path
    path : path
        A shallow (``.npz``) or deep (``.pt``) voxelwise model file.
    name : str, optional
        Registry name; default the file's stem (made unique).
    provenance, metrics : dict, optional
    copy, overwrite : bool

    Returns
    -------
    dict
        The JSON-able record (see :func:`list_models`).

    Raises
    ------
    FormatNotSupportedError
        The file is not a voxelwise model (e.g. made by another program).
    ModelExistsError
        ``name`` is taken and ``overwrite`` is False.
    """
    ws = _as_workspace(ws)
    source = Path(path).expanduser().absolute()
    record = describe_model(source)
    if name is None:
        stem = source.name.removesuffix(".npz").removesuffix(".pt")
        name = _free_name(ws, stem)
    info = ws.add_model(
        name,
        source,
        kind=record["kind"],
        architecture=record["architecture"],
        label_set=record["label_set"],
        classes=record["classes"],
        provenance={**record["provenance"], **(provenance or {})},
        metrics={**record["metrics"], **(metrics or {})},
        copy=copy,
        overwrite=overwrite,
    )
    return info.to_dict()


def sync_models(ws: Workspace | PathLike) -> list[str]:
    """Register the models saved by training runs not seen before; returns their names.

    Every ``learn.train`` and ``deep.train`` run that saved a model file adds it (a copy, so
    a later run overwriting the file does not change the registered model); when several new
    runs saved the same file only the latest counts. Runs seen once are not looked at again,
    so deleting a registered model is permanent. Files gone since are skipped.
    """
    ws = _as_workspace(ws)
    seen = ws.synced_run
    runs = [r for s in TRAIN_STEPS for r in ws.runs(step=s) if r.id > seen]
    latest: dict[str, Any] = {}
    for run in sorted(runs, key=lambda r: r.id):
        file = run.params.get("model_file")
        if file:
            latest[str(file)] = run
    added = []
    link = roi_parent(ws)
    done = {(m.provenance.get("run") or {}).get("id") for m in ws.models.values()}
    for file, run in sorted(latest.items(), key=lambda kv: kv[1].id):
        if not Path(file).is_file() or run.id in done:  # gone, or another handle added it
            continue
        provenance: dict[str, Any] = {
            "run": {"id": run.id, "step": run.step, "started": run.started.isoformat()},
            "source_file": file,
            "workspaces": [str(ws.path)],
            "layers": list(run.inputs),
        }
        if run.params.get("roi"):
            provenance["roi"] = run.params["roi"]
        if link is not None:
            provenance["roi_parent"] = link
        metrics = {}
        if run.params.get("best_val_miou") is not None:
            metrics["val_miou"] = run.params["best_val_miou"]
        record = register_model(ws, file, provenance=provenance, metrics=metrics)
        added.append(record["name"])
    if runs:
        ws.mark_synced(max(r.id for r in runs))
    return added


def list_models(ws: Workspace | PathLike, *, sync: bool = True) -> list[dict[str, Any]]:
    """JSON-able records of a workspace's registered models, oldest first.

    Each record has ``name``, ``kind`` (``"shallow"`` or ``"deep"``), ``architecture``,
    ``label_set``, ``classes`` (value, name, colour), ``provenance`` (training workspaces,
    layers, ROI, run, parameters), ``metrics`` (validation metrics such as ``val_miou``),
    ``size`` (bytes), ``sha256``, ``created``, ``file``, ``owned`` and ``available``.
    ``sync=True`` first registers models saved by training runs (:func:`sync_models`).

    Examples
    --------
    >>> [(m["name"], m["kind"], m["metrics"]) for m in list_models(ws)]  # doctest: +SKIP
    [('mito', 'deep', {'val_miou': 0.81})]
    """
    ws = _as_workspace(ws)
    if sync:
        sync_models(ws)
    return [info.to_dict() for info in ws.models.values()]


def model_file(ws: Workspace | PathLike, name: str) -> Path:
    """The file of a registered model (raises if it is gone)."""
    info: ModelInfo = _as_workspace(ws).model(name)
    if not info.available:
        raise FileNotFoundError(
            f"The file of model {name!r} ({info.file}) is gone; import it again "
            "(voxelwise.models.import_model) or delete the entry (ws.delete_model)"
        )
    return info.file


def export_model(
    ws: Workspace | PathLike, name: str, path: PathLike, *, overwrite: bool = False
) -> Path:
    """Write a registered model as one self-contained file (its voxelwise model file).

    The file carries the architecture, classes, label set and training provenance; import it
    into another workspace with :func:`import_model` or use it directly with
    :func:`apply_model`. The suffix (``.npz`` shallow, ``.pt`` deep) is added when missing.
    """
    ws = _as_workspace(ws)
    info = ws.model(name)
    source = model_file(ws, name)
    target = Path(path).expanduser()
    suffix = ".npz" if info.kind == "shallow" else ".pt"
    if target.suffix != suffix:
        target = target.with_name(target.name + suffix)
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} exists already; pass overwrite=True to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return target


def import_model(
    ws: Workspace | PathLike,
    path: PathLike,
    *,
    name: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Copy a model file into a workspace's registry (validated first) and return its record.

    Raises
    ------
    FormatNotSupportedError
        The file was made by another program (or is not a model at all); nothing is added.
    """
    return register_model(ws, path, name=name, copy=True, overwrite=overwrite)


def _resolve(model: Any, registry: Workspace | None) -> tuple[str, Path]:
    """(kind, file) of a registered name or a model file path."""
    if isinstance(model, str) and registry is not None and model in registry.models:
        return registry.model(model).kind, model_file(registry, model)
    if isinstance(model, str | os.PathLike) and Path(model).expanduser().is_file():
        file = Path(model).expanduser()
        return model_kind(file), file
    where = f" registered in {registry.path} or" if registry is not None else ""
    raise FileNotFoundError(
        f"Expected a model name{where} the path of a model file, got {model!r}; list the "
        "registered models with voxelwise.models.list_models(ws)"
    )


def apply_model(
    target: Workspace | PathLike,
    model: Any,
    *,
    registry: Workspace | PathLike | None = None,
    name: str = "prediction",
    image: str = "raw",
    out: PathLike | None = None,
    overwrite: bool = False,
    device: str = "auto",
    **kwargs: Any,
) -> dict[str, Any]:
    """Apply a registered (or file) model to a workspace or to a volume file.

    Parameters
    ----------
    target : Workspace, workspace path or volume file path
        A workspace gets prediction layers (``name``, ``{name}_p_<class>``, confidence);
        a volume file (any format :func:`voxelwise.io.open_volume` reads) gives a label
        volume written to ``out``.
    model : str or path
        A model name registered in ``registry`` (default: ``target`` when it is a workspace),
        or a model file.
    registry : Workspace or path, optional
        Where to look the name up (apply a model of one workspace to another).
    name : str
        Output layer name (workspace targets).
    image : str
        Deep models: the layer to segment (workspace targets).
    out : path
        Output label volume (file targets); class values as the model's labels.
    overwrite : bool
    device : str
        Deep models: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    **kwargs
        Passed to :func:`voxelwise.learn.predict` or :func:`voxelwise.deep.predict_workspace`.

    Returns
    -------
    dict
        ``{"model", "kind", "layers"}`` for a workspace, ``{"model", "kind", "out"}`` for a file.
    """
    from voxelwise.workspace._create import is_workspace

    if isinstance(target, Workspace):
        ws: Workspace | None = target
    elif is_workspace(Path(target).expanduser().absolute()):
        ws = Workspace.open(target)
    else:
        ws = None
    reg = _as_workspace(registry) if registry is not None else ws
    kind, file = _resolve(model, reg)
    if ws is not None:
        if kind == "shallow":
            from voxelwise.learn import predict

            result = predict(ws, file, name=name, overwrite=overwrite, **kwargs)
            layers = result.layers
        else:
            from voxelwise.deep import predict_workspace

            deep = predict_workspace(
                ws, file, image=image, name=name, overwrite=overwrite, device=device, **kwargs
            )
            layers = deep.layers
        return {"model": str(model), "kind": kind, "layers": layers}
    if out is None:
        raise ValueError("Applying a model to a volume file needs out= (the label volume to write)")
    written = _apply_to_file(kind, file, Path(str(target)), Path(out), overwrite, device, kwargs)
    return {"model": str(model), "kind": kind, "out": str(written)}


def _apply_to_file(
    kind: str,
    file: Path,
    source: Path,
    out: Path,
    overwrite: bool,
    device: str,
    kwargs: dict[str, Any],
) -> Path:
    import dask.array as da

    from voxelwise.io import open_volume, write_volume

    volume = open_volume(source)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists already; pass overwrite=True to replace it")
    if kind == "shallow":
        from voxelwise.learn import apply_model as apply_shallow
        from voxelwise.learn import labels_from_probabilities, load_model

        shallow = load_model(file)
        probabilities = apply_shallow(shallow, volume.data, **kwargs)
        labels = labels_from_probabilities(probabilities, shallow.classes)
        return write_volume(
            labels, out, spacing=volume.spacing, unit=volume.unit, overwrite=overwrite
        )
    from voxelwise.deep import predict

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".deep-") as scratch:
        group = predict(
            file,
            volume.data,
            Path(scratch) / "prediction.zarr",
            outputs=("labels",),
            device=device,
            **kwargs,
        )
        labels = da.from_zarr(str(group), component="labels")
        return write_volume(
            labels, out, spacing=volume.spacing, unit=volume.unit, overwrite=overwrite
        )
