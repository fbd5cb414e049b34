"""The column Table: access, CSV and Parquet round trips, metadata, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from voxelwise.analysis import MissingFileError, Table, TableError
from voxelwise.errors import CorruptFileError, FormatNotSupportedError


@pytest.fixture
def table():
    return Table(
        {
            "id": np.array([3, 1, 2], dtype=np.uint32),
            "volume": np.array([1.5, np.nan, 1e-300]),
            "flag": np.array([True, False, True]),
            "name": np.array(["a", "b, with comma", "c"]),
        },
        meta={"spacing": [50.0, 4.6, 4.6], "labels": "mito", "n": np.int64(3)},
    )


def test_access_select_sort(table):
    assert len(table) == 3
    assert table.names == ("id", "volume", "flag", "name")
    assert table["id"].tolist() == [3, 1, 2]
    assert "volume" in table and "nope" not in table
    with pytest.raises(KeyError, match="the columns are: id, volume, flag, name"):
        table["nope"]
    s = table.sort("id")
    assert s["id"].tolist() == [1, 2, 3]
    assert s["name"].tolist() == ["b, with comma", "c", "a"]
    assert table.select(table["flag"])["id"].tolist() == [3, 2]
    assert table.row(0) == {"id": 3, "volume": 1.5, "flag": True, "name": "a"}
    assert table.meta["n"] == 3  # NumPy scalars become JSON values


def test_columns_must_have_equal_length(table):
    with pytest.raises(TableError, match="with 3 values"):
        table["extra"] = [1, 2]
    with pytest.raises(TableError, match="1D"):
        Table({"a": np.zeros((2, 2))})
    t = Table({"a": [1, 2]})
    t["a"] = [1, 2, 3]  # replacing the only column may change the length
    assert len(t) == 3


def test_csv_round_trip_keeps_dtypes_nan_and_meta(tmp_path, table):
    path = table.to_csv(tmp_path / "t.csv")
    back = Table.from_csv(path)
    assert back == table
    assert back["id"].dtype == np.uint32
    assert back["flag"].dtype == bool
    assert back["volume"][2] == 1e-300  # repr keeps every digit
    assert back.meta == table.meta
    assert Table.read(path) == table


def test_plain_csv_without_header_line_is_inferred(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("id,volume,kind\n1,2.5,x\n2,3,y\n")
    t = Table.from_csv(path)
    assert t["id"].dtype.kind == "i" and t["volume"].dtype.kind == "f"
    assert t["kind"].tolist() == ["x", "y"]


def test_parquet_round_trip(tmp_path, table):
    pytest.importorskip("pyarrow")
    path = table.write(tmp_path / "t.parquet")
    back = Table.read(path)
    assert back == table
    assert back.meta == table.meta
    assert back["name"].dtype.kind == "U"


def test_empty_table_round_trips(tmp_path):
    t = Table({"id": np.empty(0, np.int64), "volume": np.empty(0)}, meta={"x": 1})
    back = Table.from_csv(t.to_csv(tmp_path / "e.csv"))
    assert len(back) == 0 and back.names == ("id", "volume")
    assert back["volume"].dtype == np.float64


def test_bad_files(tmp_path, table):
    with pytest.raises(MissingFileError, match="No table file"):
        Table.read(tmp_path / "missing.csv")
    with pytest.raises(FormatNotSupportedError, match=r"\.csv or \.parquet"):
        table.write(tmp_path / "t.xlsx")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3\n")
    with pytest.raises(CorruptFileError, match="Row 2"):
        Table.from_csv(bad)
    typed = table.to_csv(tmp_path / "typed.csv")
    typed.write_text(typed.read_text().replace("1.5", "oops"))
    with pytest.raises(CorruptFileError, match="volume"):
        Table.from_csv(typed)


def test_str_is_a_readable_preview(table):
    text = str(table)
    assert text.splitlines()[0].split() == ["id", "volume", "flag", "name"]
    assert "nan" in text
    long = Table({"i": np.arange(50)})
    assert str(long).endswith("... (50 rows)")
    assert repr(table) == "Table(3 rows: id, volume, flag, name)"
    assert table.to_dict()["id"] == [3, 1, 2]
