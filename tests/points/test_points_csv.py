"""Points: the table, CSV import/export with clear errors, edits by id, JSON records."""

from __future__ import annotations

import numpy as np
import pytest

from voxelwise.errors import VoxelwiseWarning
from voxelwise.points import (
    Points,
    PointsError,
    PointsFileError,
    inside_volume,
    read_points_csv,
    write_points_csv,
)


def test_round_trip_with_sizes_and_ids(tmp_path):
    pts = Points.from_arrays(
        [[1, 2.5, 3], [4, 5, 6]], classes=[2, 3], sizes=[10.0, 20.5], ids=[7, 9]
    )
    path = write_points_csv(pts, tmp_path / "p.csv")
    assert path.read_text().splitlines()[0] == "id,z,y,x,class,size"
    back = read_points_csv(path)
    np.testing.assert_array_equal(back.ids, [7, 9])
    np.testing.assert_array_equal(back.zyx, pts.zyx)
    np.testing.assert_array_equal(back.classes, [2, 3])
    np.testing.assert_array_equal(back.sizes, [10.0, 20.5])


def test_any_column_order_case_and_comments(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("# exported by hand\nClass, X ,y,Z\n1,10,20,3\n\n2,11,21,4.5\n")
    pts = read_points_csv(path)
    assert pts.zyx.tolist() == [[3, 20, 10], [4.5, 21, 11]]
    assert pts.classes.tolist() == [1, 2]
    assert pts.ids.tolist() == [1, 2]
    assert pts.sizes is None


@pytest.mark.parametrize(
    ("header", "expect"),
    [
        ("z,y,x", "missing: class"),
        ("z,y,x,class,colour", "not expected: colour"),
        ("x,y,class", "missing: z"),
        ("z,y,x,class,class", "appears twice"),
    ],
)
def test_missing_or_extra_columns_list_the_expected_ones(tmp_path, header, expect):
    path = tmp_path / "p.csv"
    path.write_text(header + "\n" + ",".join(["1"] * len(header.split(","))) + "\n")
    with pytest.raises(PointsFileError) as info:
        read_points_csv(path)
    message = str(info.value)
    assert expect in message
    assert "z, y, x, class (required) and size, id (optional)" in message


def test_bad_values_name_the_line(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("z,y,x,class\n1,2,3,1\n1,two,3,1\n")
    with pytest.raises(PointsFileError, match=r"Line 3 .* 'y' value 'two' is not a number"):
        read_points_csv(path)
    path.write_text("z,y,x,class\n1,2,3\n")
    with pytest.raises(PointsFileError, match=r"Line 2 .* 3 values but the header has 4"):
        read_points_csv(path)
    path.write_text("z,y,x,class\n1,2,3,1.5\n")
    with pytest.raises(PointsFileError, match="whole numbers"):
        read_points_csv(path)
    path.write_text("z,y,x,class,id\n1,2,3,1,4\n1,2,3,1,4\n")
    with pytest.raises(PointsFileError, match="unique"):
        read_points_csv(path)
    path.write_text("")
    with pytest.raises(PointsFileError, match="empty"):
        read_points_csv(path)
    with pytest.raises(PointsFileError, match="No points file"):
        read_points_csv(tmp_path / "missing.csv")


def test_points_outside_the_volume_are_reported_and_skipped(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("z,y,x,class\n1,2,3,1\n-1,2,3,1\n1,2,40,2\n4.4,9.4,9.4,1\n")
    with pytest.warns(VoxelwiseWarning, match=r"2 point\(s\).*line 3: \(-1, 2, 3\); line 4"):
        pts = read_points_csv(path, shape=(5, 10, 10))
    assert pts.ids.tolist() == [1, 4]
    assert inside_volume(pts, (5, 10, 10)).all()
    assert not inside_volume(pts, (4, 10, 10))[1]


def test_edits_return_new_sets():
    pts = Points.from_arrays([[1, 1, 1], [2, 2, 2]], classes=[1, 2])
    more = pts.add([[3, 3, 3]], classes=[5])
    assert more.ids.tolist() == [1, 2, 3]
    assert len(pts) == 2
    fewer = more.remove([2])
    assert fewer.ids.tolist() == [1, 3]
    moved = fewer.update({3: {"z": 0.5, "class": 4}})
    assert moved.zyx[1].tolist() == [0.5, 3, 3]
    assert moved.classes.tolist() == [1, 4]
    with pytest.raises(PointsError, match="No point with id 8"):
        moved.remove([8])
    with pytest.raises(PointsError, match="Unknown point fields"):
        moved.update({1: {"colour": 2}})
    with pytest.raises(PointsError, match="no sizes"):
        moved.update({1: {"size": 2}})
    with pytest.raises(PointsError, match="classes >= 0"):
        Points.from_arrays([[1, 1, 1]], classes=[-1])
    with pytest.raises(PointsError, match="finite"):
        Points.from_arrays([[np.nan, 1, 1]])


def test_records_are_json_round_trips():
    pts = Points.from_arrays([[1, 2, 3]], classes=[2], sizes=[5.0])
    records = pts.to_records()
    assert records == [{"id": 1, "z": 1.0, "y": 2.0, "x": 3.0, "class": 2, "size": 5.0}]
    back = Points.from_records(records)
    assert back.to_records() == records
    with pytest.raises(PointsError, match="missing"):
        Points.from_records([{"z": 1, "y": 2}])
    with pytest.raises(PointsError, match="'size' for every point or for none"):
        Points.from_records([{"z": 1, "y": 2, "x": 3, "size": 4}, {"z": 1, "y": 2, "x": 3}])
