"""Package-level guarantees: cheap import, public names, and the layering contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = [
    "torch",
    "napari",
    "fastapi",
    "uvicorn",
    "qtpy",
    "PyQt5",
    "PyQt6",
    "PySide6",
    "distributed",
]


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_import_voxelwise_loads_no_heavy_stack():
    mods = _modules_after("import voxelwise")
    assert not [m for m in HEAVY if m in mods]
    # fast import: even numpy, dask and zarr wait until a subpackage is used
    assert not [m for m in ("numpy", "dask", "zarr", "scipy") if m in mods]


@pytest.mark.parametrize(
    "sub",
    [
        "io",
        "workspace",
        "blockwise",
        "data",
        "filters",
        "supervoxels",
        "annotate",
        "analysis",
        "learn",
        "deep",
        "workflows",
        "cli",
    ],
)
def test_core_subpackages_load_no_gui_server_or_torch(sub):
    mods = _modules_after(f"import voxelwise.{sub}")
    assert not [m for m in HEAVY if m in mods and m != "distributed"]


def test_lazy_attributes_resolve():
    import voxelwise

    assert callable(voxelwise.open_volume)
    assert voxelwise.Workspace.__name__ == "Workspace"
    assert voxelwise.__version__
    with pytest.raises(AttributeError, match="no attribute"):
        voxelwise.not_a_thing  # noqa: B018


def test_errors_inherit_builtins():
    from voxelwise import errors

    assert issubclass(errors.NotAVolumeFileError, FileNotFoundError)
    assert issubclass(errors.RoiError, ValueError)
    assert issubclass(errors.KeyRequiredError, KeyError)
    assert str(errors.KeyRequiredError("pick one", ["a", "b"])) == "pick one"
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.VoxelwiseError | errors.VoxelwiseWarning)
