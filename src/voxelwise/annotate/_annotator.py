"""An :class:`Annotator`: the annotation functions bound to one workspace layer and author."""

from __future__ import annotations

from typing import Any

from voxelwise.annotate._brush import erase, paint, paint_stroke, paint_supervoxels
from voxelwise.annotate._history import history, redo, undo
from voxelwise.annotate._log import Edit
from voxelwise.annotate._regions import fill_2d, interpolate
from voxelwise.workspace import Workspace

__all__ = ["Annotator"]


class Annotator:
    """Edit one annotation layer as one author, e.g. from a viewer or a server session.

    Every method calls the function of the same name in :mod:`voxelwise.annotate` with the
    bound workspace, layer, author and (for child labels) ``parent_layer``; it holds no other
    state, so several annotators (threads, processes) may edit one layer together.

    Examples
    --------
    >>> ann = Annotator(ws, "scribbles", author="ana")  # doctest: +SKIP
    >>> ann.paint("membrane", center=(10, 64, 64), radius=4, plane="z")  # doctest: +SKIP
    >>> ann.undo()  # doctest: +SKIP
    """

    def __init__(
        self,
        ws: Workspace,
        layer: str,
        *,
        author: str | None = None,
        parent_layer: str | None = None,
    ) -> None:
        ws.layer(layer)  # fail early on a missing layer
        self.ws = ws
        self.layer = layer
        self.author = author
        self.parent_layer = parent_layer

    def __repr__(self) -> str:
        return f"Annotator({str(self.ws.path)!r}, layer={self.layer!r}, author={self.author!r})"

    def _common(self) -> dict[str, Any]:
        return {"author": self.author, "parent_layer": self.parent_layer}

    def paint(self, label: str | int, *, center: Any, radius: Any, **kwargs: Any) -> Edit:
        """See :func:`voxelwise.annotate.paint`."""
        return paint(
            self.ws, self.layer, label, center=center, radius=radius, **{**self._common(), **kwargs}
        )

    def paint_stroke(self, label: str | int, points: Any, radius: Any, **kwargs: Any) -> Edit:
        """See :func:`voxelwise.annotate.paint_stroke`."""
        return paint_stroke(
            self.ws, self.layer, label, points, radius, **{**self._common(), **kwargs}
        )

    def erase(self, points: Any, radius: Any, **kwargs: Any) -> Edit:
        """See :func:`voxelwise.annotate.erase`."""
        return erase(self.ws, self.layer, points, radius, **{"author": self.author, **kwargs})

    def paint_supervoxels(
        self, label: str | int, supervoxels: Any, points: Any, **kwargs: Any
    ) -> Edit:
        """See :func:`voxelwise.annotate.paint_supervoxels`."""
        return paint_supervoxels(
            self.ws, self.layer, label, supervoxels, points, **{**self._common(), **kwargs}
        )

    def fill_2d(self, label: str | int, seed: Any, **kwargs: Any) -> Edit:
        """See :func:`voxelwise.annotate.fill_2d`."""
        return fill_2d(self.ws, self.layer, label, seed, **{**self._common(), **kwargs})

    def interpolate(self, label: str | int, start: int, stop: int, **kwargs: Any) -> Edit:
        """See :func:`voxelwise.annotate.interpolate`."""
        return interpolate(self.ws, self.layer, label, start, stop, **{**self._common(), **kwargs})

    def undo(self) -> Edit | None:
        """See :func:`voxelwise.annotate.undo`."""
        return undo(self.ws, self.layer, author=self.author)

    def redo(self) -> Edit | None:
        """See :func:`voxelwise.annotate.redo`."""
        return redo(self.ws, self.layer, author=self.author)

    def history(self, *, limit: int | None = None) -> list[Edit]:
        """See :func:`voxelwise.annotate.history`."""
        return history(self.ws, self.layer, limit=limit)
