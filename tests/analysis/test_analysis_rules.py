"""Label splitter: ordered rules, defaults, YAML round trips, class layers, bad rules."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from voxelwise.analysis import (
    Condition,
    MissingFileError,
    Rule,
    RuleError,
    SplitRules,
    Table,
    UnknownMeasurementError,
    measure,
    split_labels,
)


@pytest.fixture
def table():
    return Table(
        {
            "id": np.array([1, 2, 3, 4, 5]),
            "volume": np.array([10.0, 100.0, 1000.0, 50.0, np.nan]),
            "sphericity": np.array([0.9, 0.5, 0.95, 0.2, 0.5]),
        }
    )


def test_first_matching_rule_wins(table):
    rules = SplitRules(
        [
            Rule("tiny", "volume", "<", 60),
            Rule("round", "sphericity", ">=", 0.9),  # would match id 1 too: tiny comes first
            Rule("mid", "volume", "between", [50, 100]),
        ]
    )
    assert rules.classes == {"tiny": 1, "round": 2, "mid": 3}
    assert rules.assign(table).tolist() == [1, 3, 2, 1, 0]  # NaN matches nothing -> 0


def test_default_class_and_fixed_values(table):
    rules = SplitRules([Rule("big", "volume", ">", 500)], default="other", values={"other": 7})
    assert rules.classes == {"big": 1, "other": 7}
    out = rules.apply(table)
    assert out["class"].tolist() == [7, 7, 1, 7, 7]
    assert out["class_name"].tolist() == ["other", "other", "big", "other", "other"]
    assert out.meta["classes"] == {"big": 1, "other": 7}
    assert "class" not in table  # the input is not modified


def test_operators_and_inclusive_between(table):
    col = table["volume"]
    assert Condition("volume", "<=", 50).test(col).tolist() == [True, False, False, True, False]
    assert Condition("volume", ">", 50).test(col).tolist() == [False, True, True, False, False]
    assert Condition("volume", ">=", 50).test(col).tolist() == [False, True, True, True, False]
    between = Condition("volume", "between", (50, 100)).test(col)
    assert between.tolist() == [False, True, False, True, False]


def test_rules_with_several_conditions(table):
    rule = Rule(
        "big_round",
        conditions=(Condition("volume", ">", 20), Condition("sphericity", ">", 0.8)),
    )
    assert SplitRules([rule]).assign(table).tolist() == [0, 0, 1, 0, 0]
    assert str(rule) == "volume > 20 and sphericity > 0.8 -> big_round"


def test_yaml_round_trip_and_reapply(tmp_path, table):
    rules = SplitRules(
        [
            Rule("tiny", "volume", "<", 60),
            Rule("mid", "volume", "between", [60, 500]),
            Rule("thin", conditions=(Condition("sphericity", "<", 0.6),)),
        ],
        default="rest",
    )
    path = tmp_path / "rules.yaml"
    text = rules.to_yaml(path)
    assert "between" in text and path.read_text() == text
    again = SplitRules.from_yaml(path)
    assert again == rules
    assert again.assign(table).tolist() == rules.assign(table).tolist()
    other = Table({"id": [9, 10], "volume": [5.0, 200.0], "sphericity": [1.0, 1.0]})
    assert again.assign(other).tolist() == [1, 2]


def test_yaml_text_with_all_and_classes():
    rules = SplitRules.from_yaml(
        """
default: other
classes: {big: 5}
rules:
  - {class: small, measurement: volume, op: "<", value: 10}
  - class: big
    all:
      - {measurement: volume, op: ">=", value: 10}
      - {measurement: sphericity, op: ">", value: 0.5}
"""
    )
    assert rules.classes == {"small": 1, "big": 5, "other": 2}
    t = Table({"id": [1, 2, 3], "volume": [1.0, 20.0, 20.0], "sphericity": [0.9, 0.9, 0.1]})
    assert rules.assign(t).tolist() == [1, 5, 2]


def test_unknown_measurement_lists_the_valid_ones(table):
    rules = SplitRules([Rule("x", "elongation", ">", 2)])
    with pytest.raises(UnknownMeasurementError, match=r"'elongation'.*volume, sphericity"):
        rules.assign(table)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"class": "a", "measurement": "volume", "op": "=>", "value": 1}, "Unknown operator"),
        ({"class": "a", "measurement": "volume", "op": "between", "value": 3}, "two numbers"),
        ({"class": "a", "measurement": "volume", "op": "between", "value": [5, 1]}, "low <= high"),
        ({"class": "a", "measurement": "volume", "op": "<", "value": "big"}, "a number"),
        ({"measurement": "volume", "op": "<", "value": 1}, "no 'class'"),
        ({"class": "a b", "measurement": "volume", "op": "<", "value": 1}, "class name"),
        ({"class": "a"}, "no condition"),
        ({"class": "a", "measurement": "v", "op": "<", "value": 1, "when": 2}, "Unknown keys"),
    ],
)
def test_malformed_rules(rule, message):
    with pytest.raises(RuleError, match=message):
        SplitRules.from_dict({"rules": [rule]})


def test_bad_rule_files(tmp_path):
    with pytest.raises(MissingFileError, match="No rules file"):
        SplitRules.from_yaml(tmp_path / "none.yaml")
    with pytest.raises(RuleError, match="'rules' list"):
        SplitRules.from_yaml("default: x\n")
    with pytest.raises(RuleError, match="not valid YAML"):
        SplitRules.from_yaml("rules: [\n")
    with pytest.raises(RuleError, match="share a value"):
        SplitRules([Rule("a", "v", "<", 1), Rule("b", "v", "<", 2)], values={"a": 1, "b": 1})


def test_split_labels_gives_one_label_per_class():
    labels = np.zeros((6, 20, 20), np.uint16)
    labels[1:5, 1:9, 1:9] = 3  # 256 voxels
    labels[1:3, 12:15, 12:15] = 4  # 18 voxels
    labels[4:6, 14:19, 1:5] = 9  # 40 voxels
    arr = da.from_array(labels, chunks=(3, 7, 7))
    table = measure(arr, surface=False)
    rules = SplitRules(
        [Rule("small", "volume_voxels", "<", 20), Rule("large", "volume_voxels", ">", 100)],
        default="medium",
    )
    classes, out = split_labels(arr, table, rules)
    result = classes.compute()
    assert result.dtype == np.uint8
    assert out["class_name"].tolist() == ["large", "small", "medium"]
    assert (result[labels == 3] == rules.classes["large"]).all()
    assert (result[labels == 4] == rules.classes["small"]).all()
    assert (result[labels == 9] == rules.classes["medium"]).all()
    assert (result[labels == 0] == 0).all()
    assert set(np.unique(result)) == {0, 1, 2, 3}  # three classes, not a binary mask

    no_default = SplitRules([Rule("small", "volume_voxels", "<", 20)])
    classes, _ = split_labels(arr, table, no_default)
    assert set(np.unique(classes.compute()[labels > 0])) == {0, 1}  # unmatched -> 0


def test_split_labels_needs_ids(table):
    with pytest.raises(TypeError, match="SplitRules"):
        split_labels(np.zeros((2, 2, 2), np.uint8), table, [Rule("a", "volume", "<", 1)])
