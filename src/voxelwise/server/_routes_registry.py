"""What can be used and what was trained: filters, classifiers and plugins with their parameter
schemas, and the model registry of a workspace.

``GET /registry/filters`` and ``GET /registry/classifiers`` list the built-in ones and those of
installed plugins (``package.name``), each with a JSON schema of its parameters, so a client can
build a form and send ``filter:key=value`` specs or ``classifier`` + ``params`` to the feature
and training jobs; ``GET /registry/plugins`` lists every installed plugin, broken ones with their
error. ``GET /workspaces/{ws}/models`` lists the workspace's registered models (architecture,
label set, provenance, validation metrics, size, date; models saved by training jobs are
registered on the way, see :func:`voxelwise.models.list_models`); single models can be read,
exported to a file under the data root's exports folder, imported from a file under the data
root, and deleted.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, status
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from voxelwise.server._auth import Annotator, CurrentUser, Owner, Viewer
from voxelwise.server._errors import ApiError, hide_root
from voxelwise.server._ops_common import MODELS
from voxelwise.server._paths import confine, relative_to_root
from voxelwise.server._schemas import JobOut
from voxelwise.server._schemas_workflows import ApplyModelOptions, ApplyModelRequest
from voxelwise.server._settings import EXPORTS_DIR
from voxelwise.server._submit import ERRORS, submit_job
from voxelwise.server._tasks import jsonable
from voxelwise.server._users import role_allows, role_of

__all__ = ["router"]

router = APIRouter(responses=ERRORS)

ModelName = Annotated[
    str, PathParam(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$", examples=["shallow"])
]
ModelField = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")]
FilePath = Annotated[str, Field(min_length=1, max_length=1024)]


class ParameterSchema(BaseModel):
    """A JSON schema of an object's parameters (``properties`` with types and defaults)."""

    model_config = ConfigDict(extra="allow")

    type: str = "object"
    properties: dict[str, dict[str, Any]] = Field(default_factory=dict)


class FilterOut(BaseModel):
    name: str
    summary: str
    outputs: list[str]
    accepts: list[str]
    plugin: bool
    schema_: ParameterSchema = Field(alias="schema", serialization_alias="schema")


class ClassifierOut(BaseModel):
    name: str
    summary: str
    plugin: bool
    schema_: ParameterSchema = Field(alias="schema", serialization_alias="schema")


class PluginOut(BaseModel):
    name: str
    kind: str
    status: Literal["ok", "broken"]
    error: str | None
    schema_: ParameterSchema | None = Field(alias="schema", serialization_alias="schema")
    summary: str
    entry_point: str
    distribution: str | None


class ModelOut(BaseModel):
    name: str
    kind: str
    architecture: Any = Field(description="Network or classifier (and its settings)")
    label_set: str | None
    classes: list[dict[str, Any]]
    provenance: dict[str, Any] = Field(
        description="Training workspaces, layers, ROI, run (paths relative to the data root)"
    )
    metrics: dict[str, Any] = Field(description="Validation metrics, e.g. val_miou")
    size: int | None
    sha256: str | None
    created: str
    software_version: str | None = None
    file: str | None = Field(description="The model file, relative to the data root")
    owned: bool
    available: bool


class ModelExport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: FilePath = Field(description="File under the data root's exports folder")
    overwrite: bool = False


class ModelImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: FilePath = Field(description="A voxelwise model file (.npz, .pt) under the data root")
    name: ModelField | None = None
    overwrite: bool = False


class ExportedOut(BaseModel):
    path: str
    model: str


def _value(v: Any) -> Any:
    return jsonable(v) if not isinstance(v, str | int | float | bool | type(None)) else v


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"))


def _property(default: Any) -> dict[str, Any]:
    """A parameter's schema from its default: the JSON type where the default shows it."""
    out: dict[str, Any] = {"default": _value(default)}
    for kind, name in _JSON_TYPES:
        if isinstance(default, kind):
            out["type"] = name
            break
    return out


def _defaults_schema(defaults: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {k: _property(v) for k, v in defaults.items()}}


def _builtin_schema(func: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """Schema of a built-in filter: from its signature's types where a form can carry them
    all, else each parameter with its default (and the type the default has)."""
    from voxelwise.plugins import PluginError, parameter_schema

    try:
        return parameter_schema(func)
    except PluginError:
        return _defaults_schema(defaults)


def _filter_record(name: str) -> dict[str, Any]:
    from voxelwise.filters import get_filter

    spec = get_filter(name)
    plugin = "." in name
    if plugin:
        from voxelwise.plugins import get_plugin

        schema = get_plugin("filter", name).schema or {}
    else:
        schema = _builtin_schema(spec.func, spec.parameters())
    return {
        "name": name,
        "summary": spec.summary,
        "outputs": list(spec.outputs),
        "accepts": sorted(spec.accepts),
        "plugin": plugin,
        "schema": schema,
    }


@router.get(
    "/registry/filters",
    tags=["registry"],
    response_model=list[FilterOut],
    response_model_by_alias=True,
    summary="Filters (plugins included) with the JSON schema of their parameters",
)
def filters(user: CurrentUser) -> list[dict[str, Any]]:
    """Use a name in feature specs: ``"NAME:key=value,..."`` (``POST .../features``)."""
    from voxelwise.filters import list_filters

    return [_filter_record(n) for n in list_filters(plugins=True)]


_CLASSIFIER_SUMMARY = {
    "rf": "Random forest",
    "extra_trees": "Extremely randomised trees",
    "hgb": "Histogram gradient boosting",
    "svm": "Linear SVM on random Fourier features (RBF kernel approximation)",
    "logistic": "Logistic regression",
}


@router.get(
    "/registry/classifiers",
    tags=["registry"],
    response_model=list[ClassifierOut],
    response_model_by_alias=True,
    summary="Shallow classifiers (plugins included) with the JSON schema of their parameters",
)
def classifiers(user: CurrentUser) -> list[dict[str, Any]]:
    """Use a name as ``classifier`` and its parameters as ``params`` of ``POST
    .../shallow/train``."""
    from voxelwise.learn import CLASSIFIERS
    from voxelwise.plugins import list_plugins

    out = [
        {
            "name": name,
            "summary": _CLASSIFIER_SUMMARY.get(name, ""),
            "plugin": False,
            "schema": _defaults_schema(defaults),
        }
        for name, defaults in CLASSIFIERS.items()
    ]
    out += [
        {"name": p.name, "summary": p.summary, "plugin": True, "schema": p.schema or {}}
        for p in list_plugins("classifier")
        if p.ok
    ]
    return out


@router.get(
    "/registry/plugins",
    tags=["registry"],
    response_model=list[PluginOut],
    response_model_by_alias=True,
    summary="Installed plugins of every kind, broken ones with their error",
)
def plugins(user: CurrentUser) -> list[dict[str, Any]]:
    from voxelwise.plugins import list_plugins

    return [p.to_dict() for p in list_plugins()]


# -- the model registry -------------------------------------------------------------------------


def _public(record: dict[str, Any], root: Any) -> dict[str, Any]:
    """A registry record with server paths made relative to the data root."""

    def clean(v: Any) -> Any:
        if isinstance(v, str):
            return hide_root(v, root)
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    out = clean(jsonable(record))
    out["file"] = relative_to_root(root, record.get("file"))
    return out


def _register_server_models(ws: Any) -> None:
    """Register the models the training jobs keep in the workspace's ``models/`` folder
    (``NAME.npz``, ``NAME/model.pt``) under their job names, where not registered yet."""
    from pathlib import Path

    from voxelwise.errors import VoxelwiseError
    from voxelwise.models import register_model

    folder = Path(ws.path) / MODELS
    if not folder.is_dir():
        return
    known = set(ws.models)
    files = set()
    for info in ws.models.values():
        files.add(str(info.file))
        files.add(str(info.provenance.get("source_file", "")))
    for item in sorted(folder.iterdir()):
        file = item / "model.pt" if item.is_dir() else item
        name = item.name.removesuffix(".npz")
        if item.name.startswith(".") or not file.is_file() or file.suffix not in (".pt", ".npz"):
            continue
        if name in known or str(file) in files:
            continue
        try:
            register_model(ws, file, name=name, provenance={"server_model": name}, copy=False)
        except (VoxelwiseError, FileExistsError, OSError):  # a concurrent listing added it
            continue


def _models(access: Any, *, sync: bool = True) -> list[dict[str, Any]]:
    from voxelwise.models import list_models

    root = access.state.settings.data_root
    ws = access.ws
    records = list_models(ws, sync=sync)
    if sync:
        _register_server_models(ws)
        records = list_models(ws, sync=False)
    return [_public(m, root) for m in records]


def _model(access: Any, name: str) -> dict[str, Any]:
    for record in _models(access):
        if record["name"] == name:
            return record
    known = ", ".join(m["name"] for m in _models(access, sync=False)) or "none"
    raise ApiError(
        404,
        f"No model named {name!r} in workspace {access.name!r}; models: {known}",
        type="NotFound",
    )


@router.get(
    "/workspaces/{ws}/models",
    tags=["models"],
    response_model=list[ModelOut],
    summary="The workspace's model registry (architecture, classes, provenance, metrics)",
)
def list_models(access: Viewer) -> list[dict[str, Any]]:
    """Shallow and deep models, oldest first; models saved by training jobs are registered
    when first listed."""
    return _models(access)


@router.get(
    "/workspaces/{ws}/models/{model}",
    tags=["models"],
    response_model=ModelOut,
    summary="One registered model",
)
def get_model(model: ModelName, access: Viewer) -> dict[str, Any]:
    return _model(access, model)


@router.post(
    "/workspaces/{ws}/models/{model}/export",
    tags=["models"],
    response_model=ExportedOut,
    summary="Write a registered model as one file under the exports folder",
)
def export_model(model: ModelName, body: ModelExport, access: Viewer) -> dict[str, Any]:
    """The file (``.npz`` shallow, ``.pt`` deep; the suffix is added) carries architecture,
    classes, label set and provenance; import it into another workspace."""
    from voxelwise.models import export_model as _export

    _model(access, model)
    root = access.state.settings.data_root
    exports = root / EXPORTS_DIR
    exports.mkdir(exist_ok=True)
    target = confine(exports, body.path, what="export path", user=access.user.name)
    written = _export(access.ws, model, target, overwrite=body.overwrite)
    return {"path": relative_to_root(root, written), "model": model}


@router.post(
    "/workspaces/{ws}/models/import",
    tags=["models"],
    response_model=ModelOut,
    status_code=status.HTTP_201_CREATED,
    summary="Register a voxelwise model file from under the data root",
)
def import_model(body: ModelImport, access: Annotator) -> dict[str, Any]:
    """Files made by other programs are refused (422) with the reason."""
    from voxelwise.models import import_model as _import

    root = access.state.settings.data_root
    source = confine(root, body.path, what="model file", user=access.user.name, must_exist=True)
    if not source.is_file():
        raise ApiError(422, f"{body.path!r} is not a file", type="FormatNotSupportedError")
    record = _import(access.ws, source, name=body.name, overwrite=body.overwrite)
    return _public(record, root)


@router.delete(
    "/workspaces/{ws}/models/{model}",
    tags=["models"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a model from the registry (owner)",
)
def delete_model(model: ModelName, access: Owner) -> None:
    _model(access, model)
    access.ws.delete_model(model)


@router.post(
    "/workspaces/{ws}/models/{model}/apply",
    tags=["models"],
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Apply a registered model (of this or another workspace) to this workspace (a job)",
)
def apply_model(model: ModelName, body: ApplyModelOptions, access: Annotator) -> dict[str, Any]:
    """Shallow models predict with their recorded features (computed where missing); deep
    models segment ``image`` tile by tile. ``registry`` names another workspace (where the
    caller may read) whose registry holds the model."""
    state = access.state
    if body.registry is not None and body.registry != access.name:
        source: Any = _Access(body.registry, state)  # 404 naming it when missing
        role = "owner" if access.user.admin else role_of(state.db, body.registry, access.user.name)
        if not role_allows(role, "viewer"):
            raise ApiError(403, f"No access to workspace {body.registry!r}", type="Forbidden")
    else:
        source = access
    _model(source, model)
    access.ws.layer(body.image)  # 404 naming the missing layer
    if not body.overwrite and body.name in access.ws:
        raise ApiError(
            409,
            f"Layer {body.name!r} exists already in workspace {access.name!r}; pass "
            "overwrite=true or choose another name",
            type="LayerExistsError",
        )
    params = ApplyModelRequest(model=model, **body.model_dump())
    return submit_job(state, access.user, "apply_model", access.name, params)


class _Access:
    """A workspace looked up for reading its registry."""

    def __init__(self, name: str, state: Any) -> None:
        state.workspace(name)  # 404 naming it when missing
        self.name, self.state = name, state

    @property
    def ws(self) -> Any:
        return self.state.workspace(self.name)
