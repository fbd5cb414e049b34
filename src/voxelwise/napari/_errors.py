"""Errors of the napari plugin, and the one-line messages its widgets show for any error."""

from __future__ import annotations

from voxelwise.errors import VoxelwiseError

__all__ = [
    "LocalServerError",
    "NoLabelSetError",
    "NotConnectedError",
    "PluginError",
    "VolumeTooLargeError",
    "describe_error",
]


class PluginError(VoxelwiseError):
    """Root of the napari plugin's errors."""


class NotConnectedError(PluginError, RuntimeError):
    """An action needs a server connection or an open workspace that is missing."""


class NoLabelSetError(PluginError, ValueError):
    """Painting or training needs a label set with at least one label."""


class LocalServerError(PluginError, RuntimeError):
    """The local server the plugin starts did not come up."""


class VolumeTooLargeError(PluginError, MemoryError):
    """A layer is too large to be held in memory for painting."""


def describe_error(exc: BaseException) -> str:
    """A short message for the widget's status line: what went wrong and how to fix it.

    Network errors of httpx (server down, refused connection, timeout) become a hint to check
    the URL and the server; voxelwise errors keep their own message, which already says how
    to fix them.
    """
    from voxelwise.client import AuthenticationError, ForbiddenError

    if isinstance(exc, AuthenticationError):
        return f"The server refused the token ({exc}). Paste a valid token (voxelwise users add)."
    if isinstance(exc, ForbiddenError):
        return f"Not allowed: {exc}. Ask a workspace owner for the annotator or owner role."
    module = type(exc).__module__.split(".")[0]
    if module in ("httpx", "httpcore") or isinstance(exc, ConnectionError):
        return (
            f"Cannot reach the server ({type(exc).__name__}: {exc}). Check the URL and that "
            "`voxelwise serve` is running there."
        )
    if isinstance(exc, VoxelwiseError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
