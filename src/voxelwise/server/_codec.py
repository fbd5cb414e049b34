"""Arrays over HTTP: raw little-endian bytes, optionally zlib or zstd compressed, described by
``X-Dtype``, ``X-Shape`` and ``X-Compression`` headers (never pickle)."""

from __future__ import annotations

import zlib
from typing import Any, Literal

import numpy as np
from fastapi import Response

__all__ = ["ARRAY_HEADERS", "Compression", "array_response", "binary_responses"]

Compression = Literal["none", "zlib", "zstd"]

ARRAY_HEADERS = {
    "X-Dtype": {
        "description": "NumPy dtype name of the values (little-endian)",
        "schema": {"type": "string"},
    },
    "X-Shape": {"description": "Comma-separated shape of the array", "schema": {"type": "string"}},
    "X-Compression": {"description": "none, zlib or zstd", "schema": {"type": "string"}},
    "X-Layer-Version": {
        "description": "Changes when the layer is replaced",
        "schema": {"type": "string"},
    },
}


def binary_responses() -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "The values, C order, as described by the headers",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
            "headers": ARRAY_HEADERS,
        }
    }


def encode(data: bytes, compression: str) -> bytes:
    if compression == "zlib":
        return zlib.compress(data, 1)
    if compression == "zstd":
        import imagecodecs

        return bytes(imagecodecs.zstd_encode(data, level=1))
    return data


def array_response(array: np.ndarray, *, compression: str = "none", version: str = "") -> Response:
    arr = np.ascontiguousarray(array)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    body = encode(arr.tobytes(), compression)
    headers = {
        "X-Dtype": arr.dtype.name,
        "X-Shape": ",".join(str(int(s)) for s in arr.shape),
        "X-Compression": compression,
        "X-Layer-Version": version,
        "Cache-Control": "no-store",
    }
    return Response(content=body, media_type="application/octet-stream", headers=headers)
