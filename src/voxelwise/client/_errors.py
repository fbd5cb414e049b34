"""Errors the client raises: the server's 4xx answers as exceptions of the voxelwise family."""

from __future__ import annotations

from typing import Any

from voxelwise.errors import VoxelwiseError

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "ForbiddenError",
    "InvalidRequestError",
    "JobFailedError",
    "JobInterruptedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ServerError",
    "error_for",
]


class ServerError(VoxelwiseError):
    """The server refused or failed a request; ``status``, ``type`` and ``detail`` say why."""

    def __init__(self, detail: str, *, status: int = 0, type: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.type = type

    def __str__(self) -> str:
        return self.detail


class AuthenticationError(ServerError, PermissionError):
    """401: no token, or a wrong or revoked one."""


class ForbiddenError(ServerError, PermissionError):
    """403: the user's role does not allow the request."""


class NotFoundError(ServerError, KeyError):
    """404: no such workspace, layer, label, job or file."""


class ConflictError(ServerError, FileExistsError):
    """409: exists already, busy, or in the wrong state."""


class PayloadTooLargeError(ServerError, ValueError):
    """413: the request body is over the server's limit."""


class InvalidRequestError(ServerError, ValueError):
    """400/422: invalid parameters (the message says which)."""


class JobFailedError(ServerError, RuntimeError):
    """A job ended in state ``failed``; the message is the job's error."""


class JobInterruptedError(ServerError, RuntimeError):
    """A job was interrupted by a server restart; resubmit it (``job.resubmit()``)."""


_BY_STATUS: dict[int, type[ServerError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: InvalidRequestError,
}


def error_for(status: int, body: Any) -> ServerError:
    """The exception for an error answer (``body`` is the decoded JSON or the text)."""
    if isinstance(body, dict):
        detail = str(body.get("detail") or body)
        kind = body.get("type")
    else:
        detail, kind = str(body)[:2000] or f"HTTP {status}", None
    cls = _BY_STATUS.get(status, ServerError)
    return cls(f"{detail} (HTTP {status})", status=status, type=kind)
