"""docs/examples/workflow.ipynb runs from top to bottom.

The code cells are executed in order in one namespace, without a Jupyter kernel (neither
nbclient nor ipykernel is a dependency); a failing cell fails the test with the cell's number.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "examples" / "workflow.ipynb"


def _code_cells() -> list[str]:
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["nbformat"] == 4
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def test_notebook_is_stored_clean():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) >= 5
    assert all(not c["outputs"] and c["execution_count"] is None for c in code)
    text = NOTEBOOK.read_text()
    assert "Client(" in text and "run_workflow(" in text and "export_workflow(" in text
    assert "client.run_workflow(" in text  # replayed as a server job too


@pytest.mark.slow
def test_notebook_runs(tmp_path, monkeypatch):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the notebook's files go here
    namespace: dict = {"__name__": "__main__"}
    try:
        for i, source in enumerate(_code_cells(), start=1):
            exec(compile(source, f"{NOTEBOOK.name}, code cell {i}", "exec"), namespace)
    finally:
        server = namespace.get("server")
        if server is not None:
            server.stop()
    report = namespace["report"]
    assert [s.status for s in report.steps].count("ran") == len(report.steps)
    assert namespace["scores"][0] > 0.3
    served = namespace["result"]["steps"]  # the same workflow replayed as a server job
    assert [s["status"] for s in served] == [s.status for s in report.steps]
    assert abs(namespace["server_scores"][0] - namespace["scores"][0]) < 0.05
