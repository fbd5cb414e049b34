"""The command line: each subcommand end to end, and one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from voxelwise.cli import main

VNC_RAW = ("drosophila_vnc_sstem", "stack1", "raw")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["-q", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def small_tif(tmp_path) -> Path:
    data = np.random.default_rng(0).integers(0, 255, (6, 40, 50), dtype=np.uint8)
    path = tmp_path / "small.tif"
    tifffile.imwrite(path, data)
    return path


def test_info_reports_shape_dtype_range(capsys, small_tif):
    code, out, _ = run(capsys, "info", str(small_tif))
    assert code == 0
    assert "6 x 40 x 50" in out
    assert "uint8" in out
    assert "value range" in out


def test_convert_vnc_folder_to_ome_zarr_then_info(capsys, shared_data, tmp_path):
    """Acceptance: convert the VNC raw folder; info reports 20x1024x1024 uint8; ome-zarr reads it."""
    out_path = tmp_path / "vnc.ome.zarr"
    code, out, err = run(capsys, "convert", str(shared_data.joinpath(*VNC_RAW)), str(out_path))
    assert code == 0, err
    code, out, err = run(capsys, "info", str(out_path), "--no-range")
    assert code == 0, err
    assert "20 x 1024 x 1024" in out
    assert "uint8" in out
    assert "ome-zarr" in out

    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    nodes = list(Reader(parse_url(str(out_path)))())
    assert nodes[0].data[0].shape == (20, 1024, 1024)
    section = np.asarray(nodes[0].data[0][7])
    expected = tifffile.imread(shared_data.joinpath(*VNC_RAW, "07.tif"))
    np.testing.assert_array_equal(section, expected)


def test_convert_with_roi_bin_chunks(capsys, small_tif, tmp_path):
    out_path = tmp_path / "crop.zarr"
    code, _, err = run(
        capsys,
        "convert",
        str(small_tif),
        str(out_path),
        "--roi",
        "1:5,0:40,10:50",
        "--bin",
        "2",
        "--chunks",
        "2,8,8",
    )
    assert code == 0, err
    import zarr

    arr = zarr.open_array(out_path, mode="r")
    assert arr.shape == (2, 20, 20)
    assert arr.chunks == (2, 8, 8)


def test_workspace_lifecycle(capsys, small_tif, tmp_path):
    ws = tmp_path / "cells.vw"
    code, out, err = run(
        capsys, "workspace", "create", str(ws), str(small_tif), "--spacing", "5,1,1"
    )
    assert code == 0, err
    assert "6 x 40 x 50" in out
    code, out, _ = run(capsys, "workspace", "info", str(ws))
    assert code == 0
    assert "raw" in out
    assert "5 x 1 x 1" in out

    from voxelwise.workspace import Workspace

    w = Workspace.open(ws)
    w.add_layer("half", w.get("raw") // 2)
    exported = tmp_path / "half.tif"
    code, _, err = run(capsys, "workspace", "export", str(ws), "half", str(exported))
    assert code == 0, err
    np.testing.assert_array_equal(tifffile.imread(exported), tifffile.imread(small_tif) // 2)

    code, _, _ = run(capsys, "workspace", "delete-layer", str(ws), "half")
    assert code == 0
    assert "half" not in Workspace.open(ws).layers

    # creating again without --overwrite is refused and loses nothing
    code, _, err = run(capsys, "workspace", "create", str(ws), str(small_tif))
    assert code == 2
    assert "--overwrite" in err
    assert Workspace.open(ws).shape == (6, 40, 50)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["info", "no/such/file.tif"], "no/such/file.tif"),
        (["convert", "{tif}", "{tmp}/out.ome.zarr", "--roi", "0:99,:,:"], "outside"),
        (["convert", "{tif}", "{tmp}/out.ome.zarr", "--bin", "0"], "bin"),
        (["convert", "{tif}", "{tmp}/out.unknown"], "format"),
        (["workspace", "info", "{tmp}"], "workspace"),
        (["workspace", "delete-layer", "{ws}", "nope"], "nope"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(capsys, small_tif, tmp_path, argv, fragment):
    ws = tmp_path / "w.vw"
    main(["-q", "workspace", "create", str(ws), str(small_tif)])
    capsys.readouterr()
    argv = [a.format(tif=small_tif, tmp=tmp_path, ws=ws) for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("voxelwise: error:")
    assert fragment.lower() in lines[0].lower()
    assert "Traceback" not in err


def test_demo_on_real_data(capsys, shared_data, tmp_path):
    code, out, err = run(
        capsys,
        "demo",
        "--quick",
        "--data",
        "isbi2012",
        "--data-root",
        str(shared_data),
        "--out",
        str(tmp_path),
    )
    assert code == 0, err
    assert "16 x 128 x 128" in out  # --quick: the central part of the 30 x 512 x 512 stack
    assert "cell_interior" in out and "membrane" in out
    assert (tmp_path / "report.md").is_file()


def test_console_script_entry_point(tmp_path):
    exe = Path(sys.executable).parent / "voxelwise"
    if not exe.exists():
        pytest.skip("console script not installed")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("voxelwise ")
    bad = subprocess.run(
        [str(exe), "info", str(tmp_path / "missing.tif")], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1
