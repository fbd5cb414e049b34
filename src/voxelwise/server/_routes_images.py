"""Image layers of multimodal workspaces: list them, add one from a volume file (a job).

A workspace can hold several registered images of its grid besides ``raw`` (see
:func:`voxelwise.workspace.add_image`); they are sources of features and supervoxels and input
channels of shallow and deep models (``images=[...]`` in the training jobs). The route checks
the file's shape and voxel size against the grid before it submits the job, so a mismatch comes
back at once as a 422 naming both.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, status

from voxelwise.server._auth import Annotator, Viewer
from voxelwise.server._errors import ApiError
from voxelwise.server._paths import confine, relative_to_root
from voxelwise.server._schemas import JobOut
from voxelwise.server._schemas_images import AddImageRequest, ImageLayerOut
from voxelwise.server._schemas_jobs import register_job_models
from voxelwise.server._submit import ERRORS, submit_job

__all__ = ["router"]

router = APIRouter(prefix="/workspaces/{ws}/images", tags=["images"], responses=ERRORS)

_RTOL = 1e-3  # voxel sizes this close are the same (as voxelwise.workspace.add_image)


def _fmt(values: Any) -> str:
    return "(" + ", ".join(f"{float(v):g}" for v in values) + ")"


@router.get("", response_model=list[ImageLayerOut], summary="The workspace's image layers")
def list_images(access: Viewer) -> list[dict[str, Any]]:
    """``raw`` first, then every layer of kind ``"image"``, with the file each came from."""
    from voxelwise.workspace import image_layers

    ws = access.ws
    root = access.state.settings.data_root
    out = []
    for name in image_layers(ws):
        info = ws.layer(name)
        params = info.params if name != "raw" else {}
        source = {k: v for k, v in params.items() if k in ("key", "roi", "spacing", "resampled")}
        if params.get("file"):
            source["path"] = relative_to_root(root, params["file"])
        out.append({"name": name, "shape": list(info.shape), "dtype": info.dtype, "source": source})
    return out


@router.post(
    "",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Add an image layer from a volume under the data root (a job)",
)
def add_image(body: AddImageRequest, access: Annotator) -> dict[str, Any]:
    """The volume is checked against the workspace's grid now (shape, voxel size), then
    streamed chunk by chunk into a layer of kind ``"image"`` by a job (resampled onto the grid
    with ``resample=true``). Wait for the job before using the layer."""
    from voxelwise._validate import parse_spacing
    from voxelwise.io import open_volume

    state = access.state
    ws = access.ws
    if body.name == "raw":
        raise ApiError(
            409,
            "Layer 'raw' is the workspace's own image and cannot be replaced; choose another "
            "name for the image layer",
            type="LayerExistsError",
        )
    if body.name in ws:
        kind = ws.layer(body.name).kind
        if not body.overwrite or kind != "image":
            how = (
                "pass overwrite=true or choose another name"
                if kind == "image"
                else "only image layers are replaced by this route; choose another name"
            )
            raise ApiError(
                409,
                f"Layer {body.name!r} ({kind}) exists already in workspace {access.name!r}; {how}",
                type="LayerExistsError",
            )
    path = confine(
        state.settings.data_root,
        body.path,
        what="image path",
        user=access.user.name,
        must_exist=True,
    )
    vol = open_volume(path, key=body.key, roi=body.roi)  # reads the header only
    shape = tuple(int(n) for n in vol.data.shape)
    grid = tuple(float(s) for s in ws.spacing)
    spacing = parse_spacing(body.spacing) if body.spacing is not None else vol.spacing
    same = spacing is None or all(math.isclose(a, b, rel_tol=_RTOL) for a, b in zip(spacing, grid))
    if not same and not body.resample:
        raise ApiError(
            422,
            f"Image {body.name!r} ({body.path}) has voxel size {_fmt(spacing)} but the "
            f"workspace's grid has {_fmt(grid)} (z, y, x); pass resample=true to resample it "
            "onto the grid, or spacing= if its stored voxel size is wrong",
            type="InvalidLayerError",
        )
    if same and shape != tuple(ws.shape):
        raise ApiError(
            422,
            f"Image {body.name!r} ({body.path}) has shape {shape} but the workspace's grid has "
            f"shape {tuple(ws.shape)} (z, y, x); every image layer must match it voxel for "
            "voxel: crop it (roi=) or, for another voxel size, pass spacing= and resample=true",
            type="InvalidLayerError",
        )
    return submit_job(state, access.user, "add_image", access.name, body)


register_job_models({"add_image": AddImageRequest})
