"""The voxelwise dock widget: tabs for Workspace, Compute, Annotate, Segment, Deep, Analysis,
Jobs.

Each tab is thin: it reads its form, calls :class:`voxelwise.client.Client` in a worker thread
and shows the results as layers. The tabs share one :class:`~voxelwise.napari.Session` per dock
widget (no global state).
"""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import QScrollArea, QTabWidget, QVBoxLayout, QWidget

from voxelwise.napari._base import Hub
from voxelwise.napari._panel_active import ActivePanel
from voxelwise.napari._panel_analysis import AnalysisPanel
from voxelwise.napari._panel_annotate import AnnotatePanel
from voxelwise.napari._panel_compute import ComputePanel, SegmentPanel
from voxelwise.napari._panel_deep import DeepPanel
from voxelwise.napari._panel_jobs import JobsPanel
from voxelwise.napari._panel_objects import ObjectsPanel
from voxelwise.napari._panel_points import PointsPanel
from voxelwise.napari._panel_workspace import WorkspacePanel
from voxelwise.napari._session import Session

__all__ = ["VoxelwiseWidget"]


class VoxelwiseWidget(QWidget):
    """The plugin's dock widget (``Plugins > voxelwise``).

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer the layers go to.
    session : Session, optional
        A ready connection; default: a new one (connect in the Workspace tab).
    """

    def __init__(self, napari_viewer: Any, session: Session | None = None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session = session or Session()
        self.hub = Hub(napari_viewer, self.session)
        self.workspace = WorkspacePanel(self.hub)
        self.compute = ComputePanel(self.hub)
        self.annotate = AnnotatePanel(self.hub)
        self.segment = SegmentPanel(self.hub)
        self.deep = DeepPanel(self.hub)
        self.analysis = AnalysisPanel(self.hub)
        self.points = PointsPanel(self.hub)
        self.objects = ObjectsPanel(self.hub)
        self.active = ActivePanel(self.hub)
        self.jobs = JobsPanel(self.hub)
        self.tabs = QTabWidget()
        for title, panel in (
            ("Workspace", self.workspace),
            ("Compute", self.compute),
            ("Annotate", self.annotate),
            ("Segment", self.segment),
            ("Deep", self.deep),
            ("Analysis", self.analysis),
            ("Points", self.points),
            ("Objects", self.objects),
            ("Active", self.active),
            ("Jobs", self.jobs),
        ):
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setWidget(panel)
            self.tabs.addTab(scroll, title)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.destroyed.connect(lambda *_: self.session.disconnect())

    @property
    def busy(self) -> int:
        """Requests and jobs in flight (0 when idle)."""
        return self.hub.busy

    def close_session(self) -> None:
        """Disconnect and stop a local server the widget started."""
        for worker in list(self.hub.workers):
            worker.quit()
        self.session.disconnect()
