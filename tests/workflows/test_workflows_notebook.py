"""docs/examples/workflow.ipynb runs from top to bottom in a real Jupyter kernel.

The notebook is executed with nbclient in an IPython kernel that runs this interpreter (a kernel
spec written to a temporary folder, so no user or system kernel is picked up and nothing is
written to the home folder). The stored file is never rewritten: outputs stay out of it. A failing
cell fails the test with the cell's number and the kernel's traceback.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "examples" / "workflow.ipynb"
KERNEL = "voxelwise-test-python"

# Run after the notebook's cells: the figures the test checks, as one JSON line.
REPORT = """\
import json
print(json.dumps({
    "statuses": [s.status for s in report.steps],
    "scores": scores,
    "served": [s["status"] for s in result["steps"]],
    "server_scores": server_scores,
}))
"""
# Run when a cell failed: stop the notebook's server so no process outlives the test.
CLEANUP = """\
if "server" in globals():
    server.stop()
"""


def test_notebook_is_stored_clean():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) >= 5
    assert all(not c["outputs"] and c["execution_count"] is None for c in code)
    text = NOTEBOOK.read_text()
    assert "Client(" in text and "run_workflow(" in text and "export_workflow(" in text
    assert "client.run_workflow(" in text  # replayed as a server job too


def _isolate_jupyter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point Jupyter's and IPython's folders (and the kernel's temporary folder) into tmp_path,
    and write a kernel spec for this interpreter there; returns the kernel spec folder."""
    from ipykernel.kernelspec import write_kernel_spec

    for var, sub in (
        ("JUPYTER_CONFIG_DIR", "jupyter-config"),
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
        ("IPYTHONDIR", "ipython"),
        ("TMPDIR", "tmp"),  # the notebook's tempfile.mkdtemp() lands here
    ):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    kernels = tmp_path / "kernels"
    write_kernel_spec(kernels / KERNEL, overrides={"display_name": "voxelwise test"})
    spec = json.loads((kernels / KERNEL / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    return kernels


def _output_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif out["output_type"] == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
    return "".join(parts)


@pytest.mark.slow
def test_notebook_runs(tmp_path, monkeypatch):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    pytest.importorskip("ipykernel")
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    kernels = _isolate_jupyter(tmp_path, monkeypatch)
    stored = NOTEBOOK.read_bytes()
    nb = nbformat.reads(stored.decode(), as_version=4)
    assert nb.nbformat == 4
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    nb.cells += [nbformat.v4.new_code_cell(REPORT), nbformat.v4.new_code_cell(CLEANUP)]
    report_at, cleanup_at = len(nb.cells) - 2, len(nb.cells) - 1
    work = tmp_path / "work"
    work.mkdir()
    km = AsyncKernelManager(
        kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    client = nbclient.NotebookClient(
        nb,
        km=km,
        timeout=600,
        startup_timeout=120,
        extra_arguments=["--InteractiveShell.colors=nocolor"],  # plain tracebacks in failures
        resources={"metadata": {"path": str(work)}},  # the kernel's working folder
    )
    with client.setup_kernel(cleanup_kc=True):  # shuts the kernel down on the way out
        try:
            for number, index in enumerate(code, start=1):
                try:
                    client.execute_cell(nb.cells[index], index)
                except CellExecutionError as e:
                    pytest.fail(
                        f"{NOTEBOOK.name}: code cell {number} (cell {index + 1}) failed:\n{e}",
                        pytrace=False,
                    )
            client.execute_cell(nb.cells[report_at], report_at)
        except BaseException:
            with contextlib.suppress(CellExecutionError, DeadKernelError):
                client.execute_cell(nb.cells[cleanup_at], cleanup_at)
            raise
    assert NOTEBOOK.read_bytes() == stored  # outputs are never written back
    assert list(tmp_path.joinpath("tmp").glob("voxelwise-notebook-*"))  # files went to tmp_path
    last = nb.cells[code[-1]]
    assert last.execution_count is not None and not any(
        o["output_type"] == "error" for o in last.outputs
    )
    got = json.loads(_output_text(nb.cells[report_at]).strip().splitlines()[-1])
    assert got["statuses"].count("ran") == len(got["statuses"]) > 0
    assert got["scores"][0] > 0.3
    assert got["served"] == got["statuses"]  # the same workflow replayed as a server job
    assert abs(got["server_scores"][0] - got["scores"][0]) < 0.05
