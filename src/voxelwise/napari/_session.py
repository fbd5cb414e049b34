"""The plugin's connection state, free of Qt and napari: a client, the open workspace, and how
workspace layers become napari layer data (lazy, multiscale, chunk by chunk over HTTP)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from voxelwise.napari._errors import NoLabelSetError, NotConnectedError, VolumeTooLargeError
from voxelwise.workspace import LABEL_KINDS

__all__ = [
    "IMAGE_COLORMAPS",
    "LABEL_KINDS",
    "MAX_PAINT_BYTES",
    "Session",
    "image_display",
    "napari_kwargs",
    "stored_display",
]
MAX_PAINT_BYTES = 1 << 30
"""Largest annotation layer held in memory for painting (bigger: paint in an ROI workspace)."""
IMAGE_COLORMAPS = ("magenta", "green", "cyan", "yellow", "red", "blue")
"""Colormaps of a workspace's extra image layers (modalities, channels), in turn."""
EXTRA_IMAGE_OPACITY = 0.7
_BLENDINGS = ("translucent", "translucent_no_depth", "additive", "minimum", "opaque")


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
        return float(value)
    return None


def stored_display(info: dict[str, Any]) -> dict[str, Any]:
    """The display settings stored in a layer's metadata (``params["display"]``, written by
    :meth:`Session.save_display`): ``colormap``, ``blending``, ``opacity``, ``contrast_limits``
    and ``gamma``, each only where present and valid."""
    params = info.get("params") or {}
    meta = params.get("display") if isinstance(params, dict) else None
    out: dict[str, Any] = {}
    if not isinstance(meta, dict):
        return out
    if isinstance(meta.get("colormap"), str) and meta["colormap"]:
        out["colormap"] = meta["colormap"]
    if meta.get("blending") in _BLENDINGS:
        out["blending"] = meta["blending"]
    opacity = _number(meta.get("opacity"))
    if opacity is not None:
        out["opacity"] = min(max(opacity, 0.0), 1.0)
    limits = meta.get("contrast_limits")
    if isinstance(limits, list | tuple) and len(limits) == 2:
        low, high = _number(limits[0]), _number(limits[1])
        if low is not None and high is not None and low < high:
            out["contrast_limits"] = [low, high]
    gamma = _number(meta.get("gamma"))
    if gamma is not None and gamma > 0:
        out["gamma"] = gamma
    return out


def image_display(info: dict[str, Any], image_index: int | None) -> dict[str, Any]:
    """Colormap, blending and opacity of an image layer: the ``display`` entry of its metadata
    (``params["display"]``, see :func:`stored_display`) where present, else grey for the first
    image layer (``raw``) and a colormap of :data:`IMAGE_COLORMAPS` in turn, additive, for each
    further one."""
    out: dict[str, Any] = {}
    if image_index is not None and image_index > 0:
        out = {
            "colormap": IMAGE_COLORMAPS[(image_index - 1) % len(IMAGE_COLORMAPS)],
            "blending": "additive",
            "opacity": EXTRA_IMAGE_OPACITY,
        }
    out.update(stored_display(info))
    return out


def _contrast(info: dict[str, Any]) -> list[float] | None:
    stats = info.get("stats") or {}
    pct = stats.get("percentiles") or {}
    low, high = pct.get("0.1", stats.get("min")), pct.get("99.9", stats.get("max"))
    if low is None or high is None:
        dtype = np.dtype(info["dtype"])
        if dtype.kind in "ui":
            return [float(np.iinfo(dtype).min), float(np.iinfo(dtype).max)]
        return None
    if float(high) <= float(low):
        high = float(low) + 1.0
    return [float(low), float(high)]


def napari_kwargs(
    info: dict[str, Any],
    *,
    colors: dict[int, tuple[float, ...]] | None = None,
    image_index: int | None = None,
) -> tuple[dict[str, Any], str]:
    """napari layer keyword arguments and layer type for a layer's metadata (``Client.layer``).

    Labels layers get the label set's colours (``colors``: value -> RGBA in 0-1); image layers
    get contrast limits from the stored statistics, so napari never scans the whole volume.
    Layers of kind ``"image"`` (``image_index``: their place among the workspace's image
    layers, ``raw`` being 0) get their own colormap, blending and opacity (see
    :func:`image_display`), so several modalities show over each other. Display settings
    stored with the layer (:func:`stored_display`) come last and win; their names are listed
    in ``metadata["voxelwise"]["display"]``.
    """
    kind = str(info.get("kind", "image"))
    levels = info.get("levels") or [{}]
    spacing = levels[0].get("spacing") or [1.0, 1.0, 1.0]
    kwargs: dict[str, Any] = {
        "name": info["name"],
        "scale": [float(s) for s in spacing],
        "metadata": {"voxelwise": {"layer": info["name"], "kind": kind}},
    }
    if kind in LABEL_KINDS:
        if colors:
            kwargs["colormap"] = {**colors, None: (0.0, 0.0, 0.0, 0.0)}
        return kwargs, "labels"
    limits = _contrast(info)
    if limits is not None:
        kwargs["contrast_limits"] = limits
    if kind in ("probabilities", "confidence") or "confidence" in info["name"]:
        kwargs["colormap"] = "magma"
        kwargs["blending"] = "additive"
    if kind == "image":
        kwargs.update(image_display(info, image_index))
    stored = stored_display(info)
    kwargs.update(stored)
    kwargs["metadata"]["voxelwise"]["display"] = sorted(stored)
    return kwargs, "image"


class Session:
    """A connection to a voxelwise server and the workspace open in the viewer.

    Every method talks HTTP through :class:`voxelwise.client.Client`; none imports Qt, so the
    widgets stay thin and this class is tested on its own.
    """

    def __init__(self) -> None:
        self.client: Any = None
        self.workspace: str | None = None
        self.summary: dict[str, Any] = {}
        self.local: Any = None

    # -- connection -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.client is not None

    def connect(self, url: str, token: str | None, *, timeout: float = 30.0) -> dict[str, Any]:
        """Connect to ``url`` with ``token``; returns the user (``GET /me``).

        Raises
        ------
        AuthenticationError
            The token is wrong or revoked.
        httpx.ConnectError
            Nothing answers at ``url``.
        """
        from voxelwise.client import Client

        if not url.startswith(("http://", "https://")):
            raise ValueError(f"Expected a server URL like http://127.0.0.1:8130, got {url!r}")
        client = Client(url, token or None, timeout=timeout)
        try:
            me = client.me()
        except BaseException:
            client.close()
            raise
        self.disconnect(stop_local=False)
        self.client = client
        return me

    def start_local(self, data_root: str | os.PathLike[str], *, workers: int = 1) -> dict[str, Any]:
        """Start a server on 127.0.0.1 for ``data_root`` and connect to it."""
        from voxelwise.napari._local import LocalServer

        self.stop_local()
        server = LocalServer(data_root, workers=workers).start()
        self.local = server
        try:
            return self.connect(server.url, server.token)
        except BaseException:
            self.stop_local()
            raise

    def stop_local(self) -> None:
        if self.local is not None:
            self.local.stop()
            self.local = None

    def disconnect(self, *, stop_local: bool = True) -> None:
        if self.client is not None:
            self.client.close()
        self.client = None
        self.workspace = None
        self.summary = {}
        if stop_local:
            self.stop_local()

    def require(self) -> Any:
        """The client; NotConnectedError when there is none."""
        if self.client is None:
            raise NotConnectedError(
                "Not connected to a server; connect (URL and token) or start a local server first"
            )
        return self.client

    def require_workspace(self) -> tuple[Any, str]:
        client = self.require()
        if self.workspace is None:
            raise NotConnectedError("No workspace is open; open or create one first")
        return client, self.workspace

    # -- workspaces -----------------------------------------------------------------------------

    def open_workspace(self, name: str) -> dict[str, Any]:
        """Make ``name`` the current workspace; returns its summary."""
        summary = self.require().workspace(name)
        self.workspace = name
        self.summary = summary
        return summary

    def refresh(self) -> dict[str, Any]:
        client, name = self.require_workspace()
        self.summary = client.workspace(name)
        return self.summary

    def image_layers(self) -> list[str]:
        """The open workspace's image layers (kind ``"image"``): ``raw`` first, then the
        modalities and channels added to it, in catalog order."""
        layers = self.summary.get("layers") or {}
        names = [
            str(n)
            for n, d in layers.items()
            if isinstance(d, dict) and d.get("kind") == "image" and n != "raw"
        ]
        return ["raw", *names] if "raw" in layers else names

    def label_colors(self, label_set: str | None) -> dict[int, tuple[float, ...]]:
        """Label value -> RGBA (0-1) of a label set of the open workspace."""
        if not label_set:
            return {}
        client, name = self.require_workspace()
        labels = client.label_sets(name).get(label_set, [])
        return {int(lab["value"]): tuple(float(c) / 255.0 for c in lab["color"]) for lab in labels}

    def labels_of(self, label_set: str) -> list[dict[str, Any]]:
        """The labels (name, value, color, parent) of ``label_set``; NoLabelSetError if none."""
        client, name = self.require_workspace()
        labels = client.label_sets(name).get(label_set) if label_set else None
        if not labels:
            raise NoLabelSetError(
                f"Label set {label_set!r} has no labels; add a label (name and colour) in the "
                "Annotate tab before painting or training"
            )
        return list(labels)

    def layer_data(self, layer: str) -> tuple[Any, dict[str, Any], str]:
        """``(data, kwargs, layer_type)`` for ``viewer.add_*``: a lazy multiscale pyramid (or one
        dask array) whose chunks are fetched over HTTP only when napari draws them."""
        client, name = self.require_workspace()
        info = client.layer(name, layer)
        levels = [client.get(name, layer, level=i) for i in range(len(info["levels"]))]
        colors = self.label_colors(info.get("label_set")) if info.get("label_set") else None
        images = self.image_layers()
        index = images.index(layer) if layer in images else None
        kwargs, kind = napari_kwargs(info, colors=colors, image_index=index)
        if len(levels) > 1:
            kwargs["multiscale"] = True
            return levels, kwargs, kind
        return levels[0], kwargs, kind

    def save_display(self, workspace: str, layer: str, settings: dict[str, Any]) -> dict[str, Any]:
        """Store display settings (``colormap``, ``opacity``, ``contrast_limits``, ``blending``,
        ``gamma``) in the metadata of ``layer`` of ``workspace``; returns what is stored."""
        return dict(self.require().set_display(workspace, layer, **settings))

    def fetch_labels(self, layer: str, *, max_bytes: int = MAX_PAINT_BYTES) -> np.ndarray:
        """An annotation layer as a writable NumPy array, for painting in napari.

        Raises
        ------
        VolumeTooLargeError
            The layer is over ``max_bytes``; create an ROI workspace to annotate a part.
        """
        client, name = self.require_workspace()
        arr = client.get(name, layer)
        if arr.nbytes > max_bytes:
            raise VolumeTooLargeError(
                f"Layer {layer!r} holds {arr.nbytes / 2**20:.0f} MiB, over the "
                f"{max_bytes / 2**20:.0f} MiB painted in memory; create an ROI workspace "
                "(voxelwise roi) to annotate a part of this volume"
            )
        return np.array(arr.compute(), copy=True)
