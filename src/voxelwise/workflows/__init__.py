"""Named steps on a workspace, recorded and replayable: what the front-ends call."""

from __future__ import annotations

from voxelwise.workflows._demo import DemoReport, run_demo

__all__ = ["DemoReport", "run_demo"]
