"""Point sets stored in a workspace: import/export, list, edits by id, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voxelwise.cli import main
from voxelwise.points import (
    Points,
    PointsError,
    PointsFileError,
    PointsNotFoundError,
    add_points,
    delete_points,
    export_points,
    import_points,
    list_points,
    load_points,
    read_points_csv,
    remove_points,
    save_points,
    update_points,
)
from voxelwise.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    return Workspace.create(tmp_path / "p.vw", np.zeros((6, 40, 50), np.uint8))


def test_import_skips_outside_points_and_reports_them(ws, tmp_path):
    csv = tmp_path / "mito.csv"
    csv.write_text("z,y,x,class,size\n1,2,3,1,10\n9,2,3,1,10\n2,39.4,49.4,2,12\n")
    summary = import_points(ws, csv)
    assert summary["name"] == "mito"
    assert summary["points"] == 2
    assert summary["skipped"] == [{"line": 3, "z": 9.0, "y": 2.0, "x": 3.0}]
    assert "outside the volume of shape (6, 40, 50)" in summary["message"]
    json.dumps(summary)  # a server can return it as it is
    assert list_points(ws) == {"mito": 2}
    out = export_points(ws, "mito", tmp_path / "out.csv")
    back = read_points_csv(out)
    assert back.ids.tolist() == [1, 3]
    assert back.sizes.tolist() == [10.0, 12.0]
    with pytest.raises(PointsError, match="exists already"):
        import_points(ws, csv)
    import_points(ws, csv, overwrite=True)


def test_edits_by_id(ws):
    result = add_points(
        ws, "cells", [{"z": 1, "y": 2, "x": 3, "class": 1}, {"z": 2, "y": 2, "x": 2}]
    )
    assert result == {"name": "cells", "points": 2, "ids": [1, 2]}
    result = add_points(ws, "cells", [{"z": 3, "y": 3, "x": 3, "class": 2}])
    assert result["ids"] == [3]
    update_points(ws, "cells", {"1": {"x": 10.5}, 3: {"class": 4}})
    pts = load_points(ws, "cells")
    assert pts.zyx[0].tolist() == [1, 2, 10.5]
    assert pts.classes.tolist() == [1, 1, 4]
    remove_points(ws, "cells", [2])
    assert load_points(ws, "cells").ids.tolist() == [1, 3]
    with pytest.raises(PointsError, match="outside the volume"):
        add_points(ws, "cells", [{"z": 100, "y": 0, "x": 0}])
    with pytest.raises(PointsError, match="outside the volume"):
        update_points(ws, "cells", {1: {"z": -5}})
    with pytest.raises(PointsError, match="No point with id 7"):
        remove_points(ws, "cells", [7])
    assert load_points(ws, "cells").ids.tolist() == [1, 3]  # failed edits change nothing
    delete_points(ws, "cells")
    assert list_points(ws) == {}


def test_missing_sets_and_bad_names(ws):
    save_points(ws, "a", Points.from_arrays([[1, 1, 1]]))
    with pytest.raises(PointsNotFoundError, match="point sets: a"):
        load_points(ws, "b")
    with pytest.raises(PointsError, match="Invalid point set name"):
        save_points(ws, "../x", Points.from_arrays([[1, 1, 1]]))


def test_cli_import_export_list(ws, tmp_path, capsys):
    csv = tmp_path / "pts.csv"
    csv.write_text("z,y,x,class\n1,2,3,1\n1,2,300,1\n")
    assert main(["-q", "points", "import", str(ws.path), str(csv), "--name", "p"]) == 0
    out = capsys.readouterr()
    assert "imported 1 points as 'p'" in out.out
    assert "skipped" in out.err
    assert main(["-q", "points", "list", str(ws.path)]) == 0
    assert "p  1 points" in capsys.readouterr().out
    assert main(["-q", "points", "export", str(ws.path), "p", str(tmp_path / "o.csv")]) == 0
    assert (tmp_path / "o.csv").read_text().startswith("id,z,y,x,class")
    bad = tmp_path / "bad.csv"
    bad.write_text("z,y,class\n1,2,3\n")
    assert main(["-q", "points", "import", str(ws.path), str(bad)]) == 2
    assert "missing: x" in capsys.readouterr().err


def test_file_errors_are_points_errors():
    assert issubclass(PointsFileError, PointsError)
    assert issubclass(PointsError, ValueError)
    assert issubclass(PointsNotFoundError, KeyError)


def test_clustering_tables_are_not_point_sets(ws):
    add_points(ws, "spots", [{"z": 1, "y": 2, "x": 3, "class": 1}])
    # cluster_points keeps its table as <set>.clusters.csv next to the set
    (ws.path / "points" / "spots.clusters.csv").write_text("id,cluster\n1,0\n")
    assert list_points(ws) == {"spots": 1}
    with pytest.raises(PointsError, match=r"ending in '\.clusters'"):
        add_points(ws, "spots.clusters", [{"z": 1, "y": 2, "x": 3}])
