"""Parameter forms built from JSON schemas (the registry's filter and classifier schemas) and
the filter specs they write."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui

SCHEMA = {
    "type": "object",
    "properties": {
        "temperature": {"type": "number", "default": 1.0, "description": "softmax temperature"},
        "n": {"type": "integer", "default": 3},
        "smooth": {"type": "boolean", "default": False},
        "metric": {"enum": ["euclidean", "manhattan"], "type": "string", "default": "euclidean"},
        "label": {"type": "string", "default": "a"},
        "low": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None},
        "spacing": {"default": None},
    },
}


def test_form_offers_an_editor_per_type_and_returns_the_changed_values(qtbot):
    from qtpy.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

    from voxelwise.napari._params_form import ParamsForm

    form = ParamsForm(skip=("spacing",))
    qtbot.addWidget(form)
    form.set_schema(SCHEMA)
    f = form.fields
    assert set(f) == {"temperature", "n", "smooth", "metric", "label", "low"}
    assert isinstance(f["temperature"], QDoubleSpinBox) and f["temperature"].value() == 1.0
    assert isinstance(f["n"], QSpinBox) and isinstance(f["smooth"], QCheckBox)
    assert isinstance(f["metric"], QComboBox) and f["metric"].count() == 2
    assert isinstance(f["label"], QLineEdit) and isinstance(f["low"], QLineEdit)
    assert form.values() == {}  # all at their defaults
    f["temperature"].setValue(0.25)
    f["n"].setValue(5)
    f["smooth"].setChecked(True)
    f["metric"].setCurrentText("manhattan")
    f["low"].setText("2.5")
    assert form.values() == {
        "temperature": 0.25,
        "n": 5,
        "smooth": True,
        "metric": "manhattan",
        "low": 2.5,
    }
    form.set_schema(None)
    assert form.fields == {} and form.values() == {}


def test_form_of_a_schema_guessed_from_defaults_reads_numbers_in_text_fields(qtbot):
    from voxelwise.napari._params_form import ParamsForm

    form = ParamsForm()
    qtbot.addWidget(form)
    guessed = {
        "C": {"type": "number", "default": 1.0},
        "gamma": {"type": "string", "default": "scale"},
    }
    form.set_schema({"type": "object", "properties": guessed})
    form.fields["gamma"].setText("0.5")
    assert form.values() == {"gamma": 0.5}
    form.set_schema({"type": "object", "properties": guessed, "additionalProperties": False})
    form.fields["gamma"].setText("0.5")  # annotated as str: stays text
    assert form.values() == {"gamma": "0.5"}


def test_specs_and_feature_lists():
    from voxelwise.napari._panel_compute import parse_features
    from voxelwise.napari._params_form import format_spec

    assert format_spec("gaussian", {}) == "gaussian"
    spec = format_spec("frangi", {"sigmas": [1, 2], "black_ridges": False, "low": None})
    assert spec == "frangi:sigmas=[1,2],black_ridges=false,low=none"
    assert parse_features("small") == "small"
    assert parse_features(f"raw, gaussian:sigma=2,truncate=3, {spec}") == [
        "raw",
        "gaussian:sigma=2,truncate=3",
        spec,
    ]
    with pytest.raises(ValueError, match="preset"):
        parse_features(" , ")
