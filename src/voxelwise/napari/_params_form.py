"""A form built from a JSON schema of parameters (``Client.list_filters`` and
``Client.list_classifiers`` give one per filter and classifier, plugins included): numbers get a
spin box, booleans a check box, enums a drop-down, text and anything else a line edit.

The form gives back only the parameters the user changed from their defaults, so a request
carries what the user chose and the server fills in the rest.
"""

from __future__ import annotations

import json
import math
from typing import Any

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

__all__ = ["ParamsForm", "format_spec", "format_value"]

_INT_LIMIT = 2**31 - 1
_DECIMALS = 6


def format_value(value: Any) -> str:
    """A parameter value as a filter spec writes it (``true``, ``none``, ``[1, 2]``, ``0.5``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return str(value)


def format_spec(name: str, params: dict[str, Any]) -> str:
    """``"gaussian"`` and ``{"sigma": 2.0}`` -> ``"gaussian:sigma=2.0"``."""
    if not params:
        return name
    return name + ":" + ",".join(f"{k}={format_value(v)}" for k, v in params.items())


def _resolve(prop: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The schema of a property without its ``| None`` part, and whether None is allowed."""
    options = prop.get("anyOf")
    if isinstance(options, list):
        non_null = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
        if len(non_null) == 1:
            return {**non_null[0], **{k: v for k, v in prop.items() if k != "anyOf"}}, True
    return prop, False


class ParamsForm(QWidget):
    """Rows of editors for the ``properties`` of a JSON schema; see the module docstring.

    ``fields`` maps each parameter name to its editor; :meth:`values` reads them back.
    """

    def __init__(self, parent: QWidget | None = None, *, skip: tuple[str, ...] = ()) -> None:
        super().__init__(parent)
        self.skip = frozenset(skip)
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.fields: dict[str, QWidget] = {}
        self._defaults: dict[str, Any] = {}
        self._enums: dict[str, list[Any]] = {}
        self._strict = True
        self.setVisible(False)

    def set_schema(self, schema: dict[str, Any] | None) -> None:
        """Replace the rows by one per parameter of ``schema`` (None or ``{}``: no rows)."""
        while self.layout_.rowCount():
            self.layout_.removeRow(0)
        self.fields, self._defaults, self._enums = {}, {}, {}
        # A schema of annotated types closes its properties; one whose types are only guessed
        # from the defaults (built-in classifiers) does not, and its text fields may hold
        # numbers too (``gamma`` is ``"scale"`` or a number).
        self._strict = (schema or {}).get("additionalProperties") is False
        properties = (schema or {}).get("properties") or {}
        for name, raw in properties.items():
            if name in self.skip or not isinstance(raw, dict):
                continue
            editor = self._editor(str(name), raw)
            self.fields[str(name)] = editor
            self.layout_.addRow(str(name), editor)
        self.setVisible(bool(self.fields))

    def _editor(self, name: str, raw: dict[str, Any]) -> QWidget:
        prop, nullable = _resolve(raw)
        default = prop.get("default")
        self._defaults[name] = default
        kind = prop.get("type")
        tip = str(prop.get("description") or prop.get("title") or "")
        editor: QWidget
        if isinstance(prop.get("enum"), list):
            values = list(prop["enum"])
            self._enums[name] = values
            combo = QComboBox()
            combo.addItems([format_value(v) for v in values])
            if default in values:
                combo.setCurrentIndex(values.index(default))
            editor = combo
        elif kind == "boolean" and isinstance(default, bool):
            box = QCheckBox()
            box.setChecked(default)
            editor = box
        elif kind == "integer" and isinstance(default, int) and not nullable:
            spin = QSpinBox()
            spin.setRange(
                int(prop.get("minimum", -_INT_LIMIT)), int(prop.get("maximum", _INT_LIMIT))
            )
            spin.setValue(default)
            editor = spin
        elif kind in ("number", "integer") and isinstance(default, int | float) and not nullable:
            dspin = QDoubleSpinBox()
            dspin.setDecimals(_DECIMALS)
            dspin.setRange(float(prop.get("minimum", -1e9)), float(prop.get("maximum", 1e9)))
            dspin.setValue(float(default))
            editor = dspin
        elif kind == "string" and isinstance(default, str):
            editor = QLineEdit(default)
        else:  # no default, None allowed, arrays, untyped: JSON text, empty for the default
            line = QLineEdit()
            line.setPlaceholderText(f"default: {json.dumps(default)}" if "default" in prop else "")
            editor = line
        if tip:
            editor.setToolTip(tip)
        return editor

    def values(self) -> dict[str, Any]:
        """The parameters whose editors differ from their defaults, as JSON values."""
        out: dict[str, Any] = {}
        for name, editor in self.fields.items():
            default = self._defaults.get(name)
            value: Any
            if isinstance(editor, QComboBox):
                value = self._enums[name][editor.currentIndex()]
            elif isinstance(editor, QCheckBox):
                value = editor.isChecked()
            elif isinstance(editor, QSpinBox):
                value = int(editor.value())
            elif isinstance(editor, QDoubleSpinBox):
                value = float(editor.value())
                if isinstance(default, int | float) and math.isclose(
                    value, float(default), abs_tol=0.5 * 10**-_DECIMALS
                ):
                    continue
            elif isinstance(editor, QLineEdit):
                text = editor.text().strip()
                if not isinstance(default, str) and not text:
                    continue  # empty: the default
                if isinstance(default, str) and (self._strict or text == default):
                    value = editor.text()
                else:
                    try:
                        value = json.loads(text)
                    except ValueError:
                        value = text
            else:  # pragma: no cover - every editor is one of the above
                continue
            if value != default or type(value) is not type(default):
                out[name] = value
        return out
