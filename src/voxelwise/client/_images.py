"""Image-layer methods of the :class:`~voxelwise.client.Client`: multimodal workspaces (several
registered images of one grid, used as input channels of shallow and deep models)."""

from __future__ import annotations

from typing import Any

from voxelwise.client._http import Http, seg
from voxelwise.client._jobs import Job

__all__ = ["ImagesMixin"]


class ImagesMixin:
    """Add and list the image layers of a workspace."""

    _http: Http

    def image_layers(self, workspace: str) -> list[str]:
        """Names of the workspace's image layers: ``"raw"`` first, then those added with
        :meth:`add_image` (as :func:`voxelwise.workspace.image_layers`)."""
        return [d["name"] for d in self._http.json("GET", f"/workspaces/{seg(workspace)}/images")]

    def add_image(
        self,
        workspace: str,
        name: str,
        path: str,
        *,
        key: str | None = None,
        roi: str | None = None,
        spacing: float | list[float] | None = None,
        resample: bool = False,
        order: int = 1,
        overwrite: bool = False,
    ) -> Job:
        """Add another image of the workspace's grid as a layer of kind ``"image"``; a job.

        Parameters
        ----------
        workspace : str
        name : str
            The new layer (e.g. ``"fluo"``).
        path : str
            A volume file relative to the server's data root.
        key, roi, spacing, resample, order, overwrite
            As for :func:`voxelwise.workspace.add_image`: ``resample=True`` resamples an image
            of another voxel size onto the grid; ``overwrite`` replaces an image layer.

        Returns
        -------
        Job
            Its result names the layer, its shape and whether it was resampled.

        Raises
        ------
        InvalidRequestError
            The file's shape (or voxel size, without ``resample``) differs from the
            workspace's grid (the message gives both), or the path leads outside the data
            root.
        NotFoundError
            No file at ``path``.
        ConflictError
            A layer of that name exists (and ``overwrite`` is False, or it is not an image).

        Examples
        --------
        >>> c.add_image("cells", "fluo", "sim/fluo.tif").wait()  # doctest: +SKIP
        >>> c.deep_train("cells", annotations="scribbles", images=["raw", "fluo"])  # doctest: +SKIP
        """
        body: dict[str, Any] = {
            "name": name,
            "path": path,
            "key": key,
            "roi": roi,
            "spacing": spacing,
            "resample": resample,
            "order": order,
            "overwrite": overwrite,
        }
        clean = {k: v for k, v in body.items() if v is not None}
        return Job(
            self._http, self._http.json("POST", f"/workspaces/{seg(workspace)}/images", json=clean)
        )
