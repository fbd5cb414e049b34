"""The :class:`Client`: every REST operation of the voxelwise server as a method."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np

from voxelwise.client._active import ActiveMixin
from voxelwise.client._arrays import remote_array
from voxelwise.client._compute import ComputeMixin
from voxelwise.client._http import Http, seg
from voxelwise.client._images import ImagesMixin
from voxelwise.client._jobs import Job
from voxelwise.client._objects import ObjectsMixin
from voxelwise.client._preview import PreviewMixin
from voxelwise.client._workflows import WorkflowsMixin

__all__ = ["Client"]


def _ws(name: str) -> str:
    return f"/workspaces/{seg(name)}"


class Client(ComputeMixin, ActiveMixin, ObjectsMixin, WorkflowsMixin, ImagesMixin, PreviewMixin):
    """Talk to a voxelwise server (``voxelwise serve``) over HTTP.

    Parameters
    ----------
    url : str
        The server, e.g. ``"http://127.0.0.1:8130"``.
    token : str
        An API token (``voxelwise users add NAME`` prints one).
    timeout : float
        Seconds per request.
    http : httpx.Client, optional
        A ready transport (e.g. FastAPI's ``TestClient``); default: a new connection pool.
    compression : {"zstd", "zlib", "none"}
        How slices and chunks travel: zstd (default) suits networks; "none" is fastest on the
        same machine or a fast LAN.

    Examples
    --------
    >>> from voxelwise.client import Client
    >>> c = Client("http://127.0.0.1:8130", token)  # doctest: +SKIP
    >>> c.create_workspace("cells", "vnc/stack.tif", roi="0:20,0:512,0:512").wait()  # doctest: +SKIP
    >>> raw = c.get("cells", "raw")  # lazy dask array; chunks come over HTTP  # doctest: +SKIP
    >>> c.paint_stroke("cells", "scribbles", "membrane", [(5, 10, 10), (5, 40, 60)], 3, plane="z")  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        http: Any = None,
        verify: Any = True,
        compression: str = "zstd",
    ) -> None:
        self._http = Http(
            url, token, timeout=timeout, http=http, verify=verify, compression=compression
        )

    def __repr__(self) -> str:
        return f"Client({self._http.url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    @property
    def url(self) -> str:
        return self._http.url

    def _job(self, info: dict[str, Any]) -> Job:
        return Job(self._http, info)

    # -- server ---------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "version": ...}`` (needs no token)."""
        return dict(self._http.json("GET", "/health"))

    def me(self) -> dict[str, Any]:
        """The calling user: name, admin flag, roles per workspace."""
        return dict(self._http.json("GET", "/me"))

    def cluster(self) -> dict[str, Any]:
        """Workers of the server's job cluster."""
        return dict(self._http.json("GET", "/cluster"))

    def files(self, path: str = "") -> list[dict[str, Any]]:
        """Files and folders under the server's data root (``path`` relative to it)."""
        return list(self._http.json("GET", "/files", params={"path": path})["entries"])

    def filters(self) -> dict[str, Any]:
        """The filters and feature presets the server knows."""
        return dict(self._http.json("GET", "/filters"))

    # -- users (admin) --------------------------------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        return list(self._http.json("GET", "/users"))

    def add_user(self, name: str, *, admin: bool = False) -> str:
        """Create a user; returns its API token (shown once)."""
        return str(self._http.json("POST", "/users", json={"name": name, "admin": admin})["token"])

    def new_token(self, name: str) -> str:
        """Another token for ``name`` (admins, or users for themselves)."""
        return str(self._http.json("POST", f"/users/{seg(name)}/tokens")["token"])

    def revoke_user(self, name: str) -> None:
        """Revoke every token of ``name`` and disable the user."""
        self._http.json("DELETE", f"/users/{seg(name)}")

    # -- workspaces -----------------------------------------------------------------------------

    def workspaces(self) -> list[dict[str, Any]]:
        """The workspaces the user can see, with shape, dtype and role."""
        return list(self._http.json("GET", "/workspaces"))

    def create_workspace(
        self,
        name: str,
        image: str,
        *,
        roi: str | None = None,
        bin: int | list[int] = 1,
        key: str | None = None,
        spacing: float | list[float] | None = None,
        unit: str | None = None,
        chunks: list[int] | None = None,
        overwrite: bool = False,
    ) -> Job:
        """Create a workspace from ``image`` (a path relative to the server's data root); a job."""
        body = {
            "name": name,
            "image": image,
            "roi": roi,
            "bin": bin,
            "key": key,
            "spacing": spacing,
            "unit": unit,
            "chunks": None if chunks is None else list(chunks),
            "overwrite": overwrite,
        }
        return self._job(self._http.json("POST", "/workspaces", json=body))

    def workspace(self, name: str) -> dict[str, Any]:
        """A workspace's summary: shape, spacing, layers, label sets, the user's role."""
        return dict(self._http.json("GET", _ws(name)))

    def delete_workspace(self, name: str) -> None:
        self._http.json("DELETE", _ws(name))

    def members(self, workspace: str) -> dict[str, str]:
        return {m["user"]: m["role"] for m in self._http.json("GET", f"{_ws(workspace)}/members")}

    def set_member(self, workspace: str, user: str, role: str) -> None:
        """Give ``user`` a role (viewer, annotator, owner) in ``workspace`` (owners only)."""
        self._http.json("PUT", f"{_ws(workspace)}/members/{seg(user)}", json={"role": role})

    def remove_member(self, workspace: str, user: str) -> None:
        self._http.json("DELETE", f"{_ws(workspace)}/members/{seg(user)}")

    def runs(self, workspace: str) -> list[dict[str, Any]]:
        """The recorded workflow steps of a workspace (provenance)."""
        return list(self._http.json("GET", f"{_ws(workspace)}/runs"))

    def models(self, workspace: str) -> list[dict[str, Any]]:
        return list(self._http.json("GET", f"{_ws(workspace)}/models"))

    def tables(self, workspace: str) -> list[dict[str, Any]]:
        return list(self._http.json("GET", f"{_ws(workspace)}/tables"))

    def table(self, workspace: str, name: str) -> dict[str, list[Any]]:
        """A measurement table as ``{column: values}``."""
        out: dict[str, list[Any]] = {}
        offset = 0
        while True:
            part = self._http.json(
                "GET", f"{_ws(workspace)}/tables/{seg(name)}", params={"offset": offset}
            )
            for k, v in part["columns"].items():
                out.setdefault(k, []).extend(v)
            offset += len(next(iter(part["columns"].values()), []))
            if offset >= part["rows"] or not part["columns"]:
                return out

    # -- layers ---------------------------------------------------------------------------------

    def layers(self, workspace: str) -> dict[str, dict[str, Any]]:
        """Layer name -> metadata (kind, dtype, shape, chunks, levels, stats, ...)."""
        return {d["name"]: d for d in self._http.json("GET", f"{_ws(workspace)}/layers")}

    def layer(self, workspace: str, name: str) -> dict[str, Any]:
        return dict(self._http.json("GET", f"{_ws(workspace)}/layers/{seg(name)}"))

    def delete_layer(self, workspace: str, name: str) -> None:
        self._http.json("DELETE", f"{_ws(workspace)}/layers/{seg(name)}")

    def get(self, workspace: str, name: str, *, level: int = 0) -> da.Array:
        """A layer as a lazy (Z, Y, X) dask array; chunks are fetched over HTTP when computed."""
        return remote_array(self._http, workspace, self.layer(workspace, name), level=level)

    def get_multiscale(self, workspace: str, name: str) -> list[da.Array]:
        """Every pyramid level of a layer, finest first (e.g. for napari's multiscale layers)."""
        info = self.layer(workspace, name)
        return [
            remote_array(self._http, workspace, info, level=i) for i in range(len(info["levels"]))
        ]

    def slice(
        self, workspace: str, name: str, index: int, *, axis: str = "z", level: int = 0
    ) -> np.ndarray:
        """One 2D slice of a layer, normal to ``axis``, as a NumPy array."""
        arr, _ = self._http.array(
            f"{_ws(workspace)}/layers/{seg(name)}/slice",
            {"index": int(index), "axis": axis, "level": int(level)},
        )
        return arr

    def region(self, workspace: str, name: str, roi: str, *, level: int = 0) -> np.ndarray:
        """A box ``"z0:z1,y0:y1,x0:x1"`` of a layer as a NumPy array."""
        arr, _ = self._http.array(
            f"{_ws(workspace)}/layers/{seg(name)}/region", {"roi": roi, "level": int(level)}
        )
        return arr

    def export_layer(
        self, workspace: str, name: str, path: str, *, level: int = 0, overwrite: bool = False
    ) -> Job:
        """Write a layer to ``path`` under the server's ``exports/`` folder; a job."""
        body = {"path": path, "level": level, "overwrite": overwrite}
        return self._job(
            self._http.json("POST", f"{_ws(workspace)}/layers/{seg(name)}/export", json=body)
        )

    # -- jobs -----------------------------------------------------------------------------------

    def jobs(
        self, *, workspace: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[Job]:
        """Jobs the user can see, newest first."""
        params = {"workspace": workspace, "state": state, "limit": limit}
        return [self._job(j) for j in self._http.json("GET", "/jobs", params=params)]

    def job(self, job_id: str) -> Job:
        return self._job(self._http.json("GET", f"/jobs/{seg(job_id)}"))

    def probe(self, *, seconds: float = 0.0, gpu: bool = False) -> Job:
        """A diagnostic job (admin): which worker ran it, what it sees; holds it ``seconds``."""
        return self._job(self._http.json("POST", "/probe", json={"seconds": seconds, "gpu": gpu}))
