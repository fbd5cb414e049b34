"""The HTTP layer of the client: one httpx connection pool, bearer auth, errors, array decoding."""

from __future__ import annotations

import zlib
from typing import Any
from urllib.parse import quote

import numpy as np

from voxelwise.client._errors import error_for

__all__ = ["Http", "decode_array", "seg"]

DEFAULT_COMPRESSION = "zstd"


def seg(name: Any) -> str:
    """One URL path segment (names are quoted, so a name never adds path components)."""
    return quote(str(name), safe="")


def decode_array(content: bytes, headers: Any) -> np.ndarray:
    """An array from a slice, chunk or region answer (``X-Dtype``, ``X-Shape``, ``X-Compression``)."""
    compression = headers.get("x-compression", "none")
    if compression == "zlib":
        content = zlib.decompress(content)
    elif compression == "zstd":
        import imagecodecs

        content = bytes(imagecodecs.zstd_decode(content))
    dtype = np.dtype(headers["x-dtype"]).newbyteorder("<")
    text = headers.get("x-shape", "")
    shape = tuple(int(s) for s in text.split(",")) if text else ()
    arr = np.frombuffer(content, dtype=dtype).reshape(shape)
    return arr.astype(arr.dtype.newbyteorder("="), copy=True)


class Http:
    """Requests against one server with one token.

    ``http`` may be any ``httpx.Client`` (e.g. FastAPI's ``TestClient``); by default one is made
    for ``url``.
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = 60.0,
        http: Any = None,
        verify: Any = True,
        compression: str = DEFAULT_COMPRESSION,
    ) -> None:
        self._setup(url, token, timeout, http, verify, compression)

    def _setup(
        self, url: str, token: str | None, timeout: float, http: Any, verify: Any, compression: str
    ) -> None:
        import httpx

        if compression not in ("none", "zlib", "zstd"):
            raise ValueError(f"Expected compression 'none', 'zlib' or 'zstd', got {compression!r}")
        self.compression = compression
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._own = http is None
        self._verify = verify
        self.http = http or httpx.Client(
            timeout=timeout,
            verify=verify,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    def close(self) -> None:
        if self._own:
            self.http.close()

    def __getstate__(self) -> dict[str, Any]:  # for dask workers: a fresh pool on the other side
        if not self._own:
            raise TypeError("A client built on a test transport cannot be sent to other processes")
        return {
            "url": self.url,
            "token": self.token,
            "timeout": self.timeout,
            "verify": self._verify,
            "compression": self.compression,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(
            state["url"],
            state["token"],
            state["timeout"],
            None,
            state["verify"],
            state["compression"],
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        kwargs: dict[str, Any] = {"params": clean, "headers": self.headers}
        if json is not None:
            kwargs["json"] = json
        if timeout is not None:
            kwargs["timeout"] = timeout
        response = self.http.request(method, self.url + path, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise error_for(response.status_code, body)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def array(self, path: str, params: dict[str, Any] | None = None) -> tuple[np.ndarray, str]:
        """GET an array endpoint; returns the array and the layer version it came from."""
        response = self.request(
            "GET", path, params={"compression": self.compression, **(params or {})}
        )
        return decode_array(response.content, response.headers), response.headers.get(
            "x-layer-version", ""
        )

    def stream(self, path: str, *, read_timeout: float) -> Any:
        import httpx

        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        return self.http.stream("GET", self.url + path, headers=self.headers, timeout=timeout)
