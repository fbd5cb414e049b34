"""Previews of volume files (to choose a new workspace's ROI and binning) and stored display
settings of layers: methods of the :class:`~voxelwise.client.Client`."""

from __future__ import annotations

from typing import Any

import numpy as np

from voxelwise.client._http import Http, seg

__all__ = ["PreviewMixin"]


class PreviewMixin:
    """``preview`` of a file under the data root; ``set_display`` of a layer."""

    _http: Http

    def preview(
        self,
        path: str,
        *,
        axis: str = "z",
        index: int | None = None,
        key: str | None = None,
        size: int = 256,
    ) -> dict[str, Any]:
        """A downsampled slice of the volume file ``path`` (relative to the data root).

        Returns
        -------
        dict
            ``image`` ((H, W) float64 ndarray, NaN where the file holds no finite value),
            ``shape`` (Z, Y, X of the whole volume), ``dtype``, ``axis``, ``index`` (the slice,
            default the middle one) and ``step``: pixel ``(i, j)`` of ``image`` is voxel
            ``(i * step, j * step)`` of the slice, so a rectangle drawn on the preview maps to
            an ROI of :meth:`create_workspace`.

        Examples
        --------
        >>> p = client.preview("vnc/stack.tif")  # doctest: +SKIP
        >>> p["shape"], p["image"].shape, p["step"]  # doctest: +SKIP
        ([20, 1024, 1024], (256, 256), 4)
        """
        params: dict[str, Any] = {"path": path, "axis": axis, "size": int(size)}
        if index is not None:
            params["index"] = int(index)
        if key is not None:
            params["key"] = key
        out = dict(self._http.json("GET", "/files/preview", params=params))
        out["image"] = np.array(
            [[np.nan if v is None else v for v in row] for row in out["image"]], dtype=np.float64
        )
        return out

    def set_display(self, workspace: str, layer: str, **settings: Any) -> dict[str, Any]:
        """Store display settings of an image layer in its metadata (``colormap``, ``opacity``,
        ``contrast_limits``, ``blending``, ``gamma``; ``None`` removes one); returns the stored
        settings. The napari plugin applies them when it shows the layer."""
        body = {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()}
        url = f"/workspaces/{seg(workspace)}/layers/{seg(layer)}/display"
        return dict(self._http.json("PATCH", url, json=body)["display"])
