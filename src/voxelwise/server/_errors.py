"""Domain errors mapped to HTTP once: every :class:`~voxelwise.errors.VoxelwiseError` becomes a
clear 4xx JSON answer ``{"detail": ..., "type": ...}``; nothing a client sends causes a 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from voxelwise.errors import CancelledError, VoxelwiseError

__all__ = ["ApiError", "hide_root", "install_handlers", "status_for"]

log = logging.getLogger("voxelwise.server")


class ApiError(Exception):
    """An error raised by the server itself, with its HTTP status."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type: str = "ApiError",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type
        self.headers = headers


def status_for(exc: BaseException) -> int:
    """HTTP status of a domain error: not found 404, exists 409, bad value 422, refused 403..."""
    from voxelwise.server._paths import PathRefusedError

    if isinstance(exc, PathRefusedError):
        return 400
    if isinstance(exc, CancelledError):
        return 409
    if isinstance(exc, KeyError | FileNotFoundError):
        return 404
    if isinstance(exc, FileExistsError):
        return 409
    if isinstance(exc, PermissionError):
        return 403
    if isinstance(exc, ValueError | TypeError | OSError):
        return 422
    return 400


def error_body(detail: str, type_: str, errors: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": detail, "type": type_}
    if errors is not None:
        body["errors"] = errors
    return body


def _message(exc: BaseException, request: Request | None = None) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    state = getattr(getattr(request, "app", None), "state", None) if request is not None else None
    settings = getattr(getattr(state, "vw", None), "settings", None)
    if settings is not None:
        text = hide_root(text, settings.data_root)
    return text or type(exc).__name__


def hide_root(text: str, root: Any) -> str:
    """``text`` with the server's data root left out of paths (clients see relative paths)."""
    return text.replace(f"{root}/", "").replace(str(root), ".")


def install_handlers(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.detail, exc.type), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(VoxelwiseError)
    async def _domain(request: Request, exc: VoxelwiseError) -> JSONResponse:
        return JSONResponse(
            error_body(_message(exc, request), type(exc).__name__), status_code=status_for(exc)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors(), custom_encoder={BaseException: str, bytes: repr})
        for e in errors:
            e.pop("ctx", None)
            e.pop("input", None)
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        detail = f"Invalid request: {where}: {first.get('msg', 'invalid value')}"
        return JSONResponse(error_body(detail, "ValidationError", errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(str(exc.detail), "HTTPException"),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(FileNotFoundError)
    async def _missing(request: Request, exc: FileNotFoundError) -> JSONResponse:
        return JSONResponse(
            error_body(_message(exc, request), "FileNotFoundError"), status_code=404
        )

    @app.exception_handler(FileExistsError)
    async def _exists(request: Request, exc: FileExistsError) -> JSONResponse:
        return JSONResponse(error_body(_message(exc, request), "FileExistsError"), status_code=409)

    @app.exception_handler(ValueError)
    async def _value(request: Request, exc: ValueError) -> JSONResponse:
        # parse_* helpers of the library raise plain ValueError/TypeError for bad arguments
        return JSONResponse(error_body(_message(exc, request), type(exc).__name__), status_code=422)

    @app.exception_handler(TypeError)
    async def _type(request: Request, exc: TypeError) -> JSONResponse:
        return JSONResponse(error_body(_message(exc, request), type(exc).__name__), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("Internal server error; the server log has the details", "InternalError"),
            status_code=500,
        )
