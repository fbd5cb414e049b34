"""The CLI's shared output helpers: aligned tables and JSON."""

from __future__ import annotations

import doctest

import pytest

import voxelwise.cli._report as report
from voxelwise.cli._report import format_table, print_json, print_table


def test_docstring_examples():
    result = doctest.testmod(report)
    assert result.attempted >= 3 and result.failed == 0


def test_columns_line_up_and_lines_carry_no_padding():
    rows = [("layer", "kind", "mean"), ("raw", "image", 1.5), ("segmentation", "labels", "-")]
    lines = format_table(rows)
    assert lines == [
        "layer         kind    mean",
        "raw           image   1.5",
        "segmentation  labels  -",
    ]
    assert format_table([]) == []


def test_widths_alignment_and_fixed_layout(capsys):
    rows = [(1, 207, "3,2,20"), (12345678, 5, "0,0,0")]
    assert format_table(rows, widths=(7, 9), align=">>", indent="  ", fit=False) == [
        "        1        207  3,2,20",
        "  12345678          5  0,0,0",  # a long cell pushes its own row only
    ]
    assert format_table(rows, widths=(7, 9), align=">>", indent="  ") == [
        "         1        207  3,2,20",
        "  12345678          5  0,0,0",
    ]
    assert format_table([("a", "b")], align="<>", widths=(1, 3)) == ["a    b"]  # right: padded
    print_table([("x", 1), ("long", 2)], sep=" ")
    print_json({"a": [1]})
    assert capsys.readouterr().out == 'x    1\nlong 2\n{\n  "a": [\n    1\n  ]\n}\n'


def test_bad_tables_are_explained():
    with pytest.raises(ValueError, match="same number of cells"):
        format_table([("a", "b"), ("c",)])
    with pytest.raises(ValueError, match="align"):
        format_table([("a", "b")], align="^")
