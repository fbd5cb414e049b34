"""Parameters of the job kinds (each long operation of the library is one kind)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from voxelwise.server._schemas import Name, WorkspaceCreate
from voxelwise.server._schemas_images import Channels
from voxelwise.server._schemas_workflows import ApplyModelRequest, WorkflowRunRequest

__all__ = [
    "JOB_MODELS",
    "DeepPredictRequest",
    "DeepTrainRequest",
    "EditInstancesRequest",
    "ExportJob",
    "FeaturesRequest",
    "FractionsRequest",
    "ImportLabelsRequest",
    "InstancesRequest",
    "MeasureRequest",
    "MetricsRequest",
    "ProbeRequest",
    "ShallowPredictRequest",
    "ShallowTrainRequest",
    "SplitRequest",
    "SupervoxelsRequest",
    "register_job_models",
]

Spec = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[^/\\~\x00]+$")]
PosFloat = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]
LabelRef = Name | Annotated[int, Field(ge=0, le=2**31 - 1)]


def _no_files(value: Any) -> Any:
    items = [value] if isinstance(value, str) else list(value or [])
    for item in items:
        if isinstance(item, str) and item.lower().endswith((".yaml", ".yml")):
            raise ValueError(
                f"feature presets are named, not read from files: got {item!r}; use a built-in "
                "preset (GET /filters) or 'filter:key=value' specs"
            )
    return value


def _known_classifier(value: str) -> str:
    """A built-in classifier (aliases normalised) or an installed, working plugin classifier."""
    from voxelwise.learn import parse_classifier

    return parse_classifier(value)  # LearnError (a ValueError): 422 naming the choices


class _Job(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeaturesRequest(_Job):
    features: Spec | Annotated[list[Spec], Field(min_length=1, max_length=256)] = Field(
        "default", description="A preset name or 'filter:key=value,...' specs", examples=["small"]
    )
    source: Name = "raw"
    overwrite: bool = False

    _files = field_validator("features")(_no_files)


class SupervoxelsRequest(_Job):
    source: Name = "raw"
    name: Name = "supervoxels"
    method: Literal["slic", "watershed"] = "slic"
    size: Annotated[float, Field(gt=0, le=10000, allow_inf_nan=False)] = 10
    compactness: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] | None = None
    mask: Name | None = None
    sigma: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 1.5
    gradient: bool = True
    overwrite: bool = False


class ShallowTrainRequest(_Job):
    annotations: Name
    features: Spec | Annotated[list[Spec], Field(min_length=1, max_length=256)] = "default"
    model: Name = Field("shallow", description="Name of the model file kept in the workspace")
    mode: Literal["voxel", "supervoxel"] = "voxel"
    classifier: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")] = Field(
        "rf",
        description="rf, extra_trees, hgb, svm, logistic or a plugin classifier "
        "('package.name'; GET /registry/classifiers lists them with their parameters)",
    )
    supervoxels: Name = "supervoxels"
    statistics: Annotated[
        list[Literal["mean", "std", "min", "max"]], Field(min_length=1, max_length=4)
    ] = ["mean", "std"]
    store_features: bool = True
    multiscale: bool = False
    images: Channels | None = Field(
        None,
        description="Image layers whose features the classifier sees side by side (e.g. "
        "['raw', 'fluo']); default ['raw']",
    )
    parent: Name | None = None
    labels: Annotated[list[LabelRef], Field(max_length=1024)] | None = None
    class_weight: Literal["balanced"] | dict[str, PosFloat] | None = "balanced"
    max_per_class: Annotated[int, Field(ge=1, le=10**8)] | None = 20000
    params: dict[str, int | float | str | bool | None] | None = None
    rng: Annotated[int, Field(ge=0, le=2**32 - 1)] | None = 0
    overwrite: bool = True

    _files = field_validator("features")(_no_files)
    _classifier = field_validator("classifier")(_known_classifier)


class ShallowPredictRequest(_Job):
    model: Name | None = Field(None, description="Model name; default the latest trained")
    name: Name = "prediction"
    refine: bool = False
    smoothness: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 0.15
    parent_layer: Name | None = None
    features: Literal["auto", "layers", "compute"] = "auto"
    supervoxels: Name | None = None
    probabilities: bool = True
    confidence: bool = True
    overwrite: bool = False


class DeepTrainRequest(_Job):
    annotations: Name
    image: Name = "raw"
    images: Channels | None = Field(
        None,
        description="Several image layers as the network's input channels, in this order "
        "(replaces image); the model keeps their names and deep/predict reads them again",
    )
    model: Name = "deep"
    config: dict[str, Any] = Field(
        default_factory=dict, description="TrainConfig fields (arch, patch_size, epochs, ...)"
    )
    roi: Annotated[str, Field(max_length=200)] | None = None
    epochs: Annotated[int, Field(ge=1, le=100000)] | None = None
    max_minutes: Annotated[float, Field(gt=0, le=100000, allow_inf_nan=False)] | None = None
    init_model: Name | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    rng: Annotated[int, Field(ge=0, le=2**32 - 1)] | None = 0
    overwrite: bool = False


class DeepPredictRequest(_Job):
    model: Name = "deep"
    image: Name = "raw"
    images: Channels | None = Field(
        None,
        description="The image layers of a model of several input channels, in its channel "
        "order; default the layers it was trained on",
    )
    name: Name = "deep_prediction"
    axes: Annotated[str, Field(pattern=r"^(auto|[zyx]{1,3})$")] = "auto"
    fusion: Literal["auto", "weighted", "max", "mean"] = "auto"
    tta: bool = False
    outputs: Annotated[
        list[Literal["labels", "probabilities", "confidence", "entropy"]],
        Field(min_length=1, max_length=4),
    ] = ["labels", "probabilities", "confidence"]
    batch_size: Annotated[int, Field(ge=1, le=1024)] = 4
    device: Literal["auto", "cpu", "cuda"] = "auto"
    overwrite: bool = False
    ensemble: Annotated[list[Name], Field(max_length=16)] | None = Field(
        None,
        description="More deep models (training jobs' or registered) predicting with model "
        "as an ensemble: their class probabilities are averaged",
    )
    top_k: Annotated[int, Field(ge=1, le=17)] | None = Field(
        None, description="Ensemble: keep the top_k members by their stored validation mIoU"
    )

    @model_validator(mode="after")
    def _ensemble(self) -> DeepPredictRequest:
        members = [self.model, *(self.ensemble or [])]
        if len(set(members)) != len(members):
            raise ValueError(f"Expected distinct ensemble models, got {members}")
        if self.top_k is not None and self.top_k > len(members):
            raise ValueError(
                f"Expected top_k of at most {len(members)} (the ensemble's models), got "
                f"{self.top_k}; add models to ensemble or lower top_k"
            )
        return self


class InstancesRequest(_Job):
    source: Name
    name: Name | None = None
    value: LabelRef | None = None
    by_value: bool = False
    connectivity: Literal[1, 2, 3] = 1
    min_distance: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)] | None = None
    fill: bool = False
    min_size: Annotated[int, Field(ge=0, le=2**40)] = 0
    overwrite: bool = False


class EditInstancesRequest(_Job):
    layer: Name
    merge: Annotated[list[list[Annotated[int, Field(ge=1)]]], Field(max_length=10000)] | None = None
    delete: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=100000)] | None = None
    split: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=10000)] | None = None
    min_distance: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)] | None = None
    name: Name | None = None


class MeasureRequest(_Job):
    labels: Name
    intensity: Annotated[list[Name], Field(max_length=64)] = []
    surface: bool = True
    table: Name | None = Field(None, description="Table name; default '<labels>_measurements'")


class SplitRequest(_Job):
    table: Name
    rules: dict[str, Any] = Field(
        description="Splitter rules: {'rules': [{'class': ..., 'measurement': ..., 'op': ..., "
        "'value': ...}], 'default': ...}"
    )
    labels: Name | None = None
    name: Name | None = None
    label_set: Name | None = None
    overwrite: bool = False


class MetricsRequest(_Job):
    pred: Name
    truth: Name
    classes: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=1024)] | None = None
    ignore_label: Annotated[int, Field(ge=0)] | None = None
    instances: bool = False
    thresholds: Annotated[
        list[Annotated[float, Field(gt=0, le=1)]], Field(min_length=1, max_length=32)
    ] = [0.5, 0.75]


class FractionsRequest(_Job):
    classes: Name
    within: Name | None = None
    values: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=1024)] | None = None
    ignore_label: Annotated[int, Field(ge=0)] | None = None
    table: Name | None = None


class ImportLabelsRequest(_Job):
    path: Annotated[str, Field(min_length=1, max_length=4096)] = Field(
        description="Label volume relative to the data root"
    )
    name: Name
    key: Annotated[str, Field(max_length=256)] | None = None
    roi: Annotated[str, Field(max_length=200)] | None = None
    label_set: Name | None = None
    add_missing: bool = False
    overwrite: bool = False


class ExportJob(_Job):
    layer: Name
    path: str
    level: int = 0
    overwrite: bool = False


class ProbeRequest(_Job):
    """A diagnostic job: reports the worker that ran it, what it sees, and holds it a while."""

    seconds: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 0.0
    gpu: bool = Field(False, description="Ask for a worker with the GPU resource")


class CreateWorkspaceJob(WorkspaceCreate):
    pass


JOB_MODELS: dict[str, type[BaseModel]] = {
    "create_workspace": CreateWorkspaceJob,
    "export": ExportJob,
    "import_labels": ImportLabelsRequest,
    "features": FeaturesRequest,
    "supervoxels": SupervoxelsRequest,
    "shallow_train": ShallowTrainRequest,
    "shallow_predict": ShallowPredictRequest,
    "deep_train": DeepTrainRequest,
    "deep_predict": DeepPredictRequest,
    "instances": InstancesRequest,
    "edit_instances": EditInstancesRequest,
    "measure": MeasureRequest,
    "split": SplitRequest,
    "metrics": MetricsRequest,
    "fractions": FractionsRequest,
    "probe": ProbeRequest,
    "run_workflow": WorkflowRunRequest,
    "apply_model": ApplyModelRequest,
}


def register_job_models(models: dict[str, type[BaseModel]]) -> None:
    """Declare the parameter schemas of job kinds defined by a route module.

    :func:`voxelwise.server._submit.validate_params` looks kinds up here, so a job can be
    resubmitted with its recorded parameters. A kind registered twice must keep its schema.
    """
    for kind, model in models.items():
        known = JOB_MODELS.get(kind)
        if known is not None and known is not model:
            raise ValueError(f"job kind {kind!r} is registered with two schemas")
        JOB_MODELS[kind] = model
