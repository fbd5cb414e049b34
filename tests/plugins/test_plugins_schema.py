"""Parameter schemas from type-annotated signatures, and checking values against them."""

from __future__ import annotations

from typing import Literal

import pytest

from voxelwise.plugins import (
    PluginParameterError,
    check_params,
    parameter_schema,
    plugin_parameters,
)


def filt(
    image,
    amount: float = 1.0,
    *,
    radius: int = 2,
    sigma: tuple[float, float, float] | None = None,
    mode: Literal["reflect", "nearest"] = "reflect",
    scales: tuple[float, ...] = (1.0, 2.0),
    invert: bool = False,
    label: str = "x",
):
    """A filter for tests.

    More text.
    """


def test_schema_types_defaults_and_summary():
    schema = parameter_schema(filt, plugin="pkg.filt")
    props = schema["properties"]
    assert list(props) == ["amount", "radius", "sigma", "mode", "scales", "invert", "label"]
    assert props["amount"] == {"type": "number", "default": 1.0}
    assert props["radius"] == {"type": "integer", "default": 2}
    assert props["sigma"]["anyOf"][0]["minItems"] == 3 and props["sigma"]["default"] is None
    assert props["mode"] == {"enum": ["reflect", "nearest"], "type": "string", "default": "reflect"}
    assert props["scales"] == {"type": "array", "items": {"type": "number"}, "default": [1.0, 2.0]}
    assert props["invert"]["type"] == "boolean" and props["label"]["type"] == "string"
    assert schema["required"] == [] and schema["additionalProperties"] is False
    assert schema["title"] == "pkg.filt" and schema["description"] == "A filter for tests."
    assert plugin_parameters(filt)[0] == ["image"]


def test_check_params_normalises_and_fills_defaults():
    schema = parameter_schema(filt, plugin="pkg.filt")
    out = check_params(schema, {"amount": 2, "sigma": [1, 2, 3], "radius": 3.0}, plugin="pkg.filt")
    assert out["amount"] == 2.0 and isinstance(out["amount"], float)
    assert out["sigma"] == (1.0, 2.0, 3.0) and out["radius"] == 3
    assert out["mode"] == "reflect" and out["scales"] == (1.0, 2.0)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"amount": "big"}, "amount of the plugin 'pkg.filt' as a number"),
        ({"amount": True}, "as a number"),
        ({"radius": 1.5}, "whole number"),
        ({"mode": "wrap"}, "one of 'reflect', 'nearest'"),
        ({"sigma": [1, 2]}, "with 3 numbers"),
        ({"invert": 1}, "true or false"),
        ({"nope": 1}, "has no parameter 'nope'; its parameters are amount, radius"),
        ({"amount": float("nan")}, "finite"),
    ],
)
def test_check_params_rejects_bad_values(params, match):
    schema = parameter_schema(filt, plugin="pkg.filt")
    with pytest.raises(PluginParameterError, match=match):
        check_params(schema, params, plugin="pkg.filt")


def test_required_parameter():
    def f(image, *, level: int):
        """Needs a level."""

    schema = parameter_schema(f, plugin="pkg.f")
    assert schema["required"] == ["level"]
    with pytest.raises(PluginParameterError, match="needs the parameter"):
        check_params(schema, {}, plugin="pkg.f")


def test_unsupported_type_names_plugin_and_parameter():
    def f(image, *, table: dict = None):  # noqa: RUF013
        """Bad."""

    with pytest.raises(PluginParameterError, match=r"plugin 'pkg\.f': parameter 'table'.*dict"):
        parameter_schema(f, plugin="pkg.f")


def test_missing_annotation_and_bad_annotation():
    def f(image, *, amount=1.0):
        """No annotation."""

    with pytest.raises(PluginParameterError, match="'amount' has no type annotation"):
        parameter_schema(f, plugin="pkg.f")

    def g(image, *, amount: NotAType = 1.0):  # type: ignore[name-defined]  # noqa: F821
        """Annotation names a missing type."""

    with pytest.raises(PluginParameterError, match="cannot be evaluated"):
        parameter_schema(g, plugin="pkg.g")


def test_class_schema_comes_from_init():
    class Est:
        """An estimator."""

        def __init__(self, *, depth: int = 3) -> None:
            self.depth = depth

    schema = parameter_schema(Est, plugin="pkg.est")
    assert schema["properties"] == {"depth": {"type": "integer", "default": 3}}
    assert schema["description"] == "An estimator."
