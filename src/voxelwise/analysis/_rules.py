"""Label splitter rules: ordered conditions on measurements that assign objects to classes."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from voxelwise.analysis._errors import MissingFileError, RuleError, UnknownMeasurementError
from voxelwise.analysis._table import Table

__all__ = ["OPERATORS", "Condition", "Rule", "SplitRules"]

OPERATORS = ("<", "<=", ">", ">=", "between")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise RuleError(f"Expected a number as the value of {where}, got {value!r} instead")
    if math.isnan(float(value)):
        raise RuleError(f"Expected a number as the value of {where}, got NaN")
    return float(value)


@dataclass(frozen=True)
class Condition:
    """``measurement op value``; ``between`` takes ``(low, high)`` and includes both ends."""

    measurement: str
    op: str
    value: float | tuple[float, float]

    def __post_init__(self) -> None:
        where = f"the condition on {self.measurement!r}"
        if not isinstance(self.measurement, str) or not self.measurement:
            raise RuleError(f"Expected a measurement name, got {self.measurement!r} instead")
        if self.op not in OPERATORS:
            raise RuleError(
                f"Unknown operator {self.op!r} in {where}; use one of {', '.join(OPERATORS)}"
            )
        if self.op == "between":
            v = self.value
            if isinstance(v, str) or not isinstance(v, Sequence) or len(v) != 2:
                raise RuleError(
                    f"Expected 'between' to take two numbers [low, high] in {where}, got {v!r}"
                )
            low, high = _number(v[0], where), _number(v[1], where)
            if low > high:
                raise RuleError(f"Expected low <= high for 'between' in {where}, got {list(v)}")
            object.__setattr__(self, "value", (low, high))
        else:
            object.__setattr__(self, "value", _number(self.value, where))

    def test(self, column: np.ndarray) -> np.ndarray:
        """Which rows satisfy the condition (NaN never does)."""
        x = np.asarray(column, dtype=np.float64)
        v = self.value
        with np.errstate(invalid="ignore"):
            if self.op == "between":
                low, high = v  # type: ignore[misc]
                return (x >= low) & (x <= high)
            t = float(v)  # type: ignore[arg-type]
            ops = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
            return np.asarray(ops[self.op](x, t))

    def to_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"measurement": self.measurement, "op": self.op, "value": value}

    def __str__(self) -> str:
        if self.op == "between":
            low, high = self.value  # type: ignore[misc]
            return f"{low:g} <= {self.measurement} <= {high:g}"
        return f"{self.measurement} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Rule:
    """Objects meeting every condition go to class ``label``.

    Build one from a single condition, ``Rule("small", "volume", "<", 100)``, or from several
    that must all hold, ``Rule("thin", conditions=[Condition(...), Condition(...)])``.
    """

    label: str
    measurement: str | None = None
    op: str | None = None
    value: Any = None
    conditions: tuple[Condition, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not _NAME.match(self.label):
            raise RuleError(
                f"Expected a class name of letters, digits, '-', '_' or '.', got {self.label!r}"
            )
        conds = list(self.conditions)
        if self.measurement is not None:
            conds.insert(0, Condition(self.measurement, str(self.op), self.value))
        if not conds:
            raise RuleError(
                f"The rule for class {self.label!r} has no condition; give measurement, op and "
                "value (e.g. volume < 100) or a list of conditions under 'all'"
            )
        object.__setattr__(self, "conditions", tuple(conds))
        object.__setattr__(self, "measurement", None)
        object.__setattr__(self, "op", None)
        object.__setattr__(self, "value", None)

    def test(self, table: Table) -> np.ndarray:
        """Which rows meet every condition."""
        hit = np.ones(len(table), dtype=bool)
        for c in self.conditions:
            hit &= c.test(table[c.measurement])
        return hit

    def to_dict(self) -> dict[str, Any]:
        if len(self.conditions) == 1:
            return {"class": self.label, **self.conditions[0].to_dict()}
        return {"class": self.label, "all": [c.to_dict() for c in self.conditions]}

    @classmethod
    def from_dict(cls, item: Mapping[str, Any], index: int = 0) -> Rule:
        where = f"rule #{index + 1}"
        if not isinstance(item, Mapping):
            raise RuleError(f"Expected {where} as a mapping with 'class', got {item!r} instead")
        known = {"class", "measurement", "op", "value", "all"}
        extra = set(item) - known
        if extra:
            raise RuleError(
                f"Unknown keys {sorted(extra)} in {where}; a rule has 'class' and either "
                "'measurement', 'op', 'value' or a list of conditions under 'all'"
            )
        if "class" not in item:
            raise RuleError(f"{where.capitalize()} has no 'class' (the class its objects go to)")
        conds = item.get("all") or []
        if not isinstance(conds, list):
            raise RuleError(f"Expected 'all' in {where} as a list of conditions")
        parsed = []
        for c in conds:
            if not isinstance(c, Mapping) or set(c) - {"measurement", "op", "value"}:
                raise RuleError(
                    f"Expected each condition in {where} as {{measurement, op, value}}, got {c!r}"
                )
            parsed.append(Condition(c.get("measurement"), c.get("op"), c.get("value")))  # type: ignore[arg-type]
        return cls(
            str(item["class"]),
            item.get("measurement"),
            item.get("op"),
            item.get("value"),
            conditions=tuple(parsed),
        )

    def __str__(self) -> str:
        return f"{' and '.join(str(c) for c in self.conditions)} -> {self.label}"


class SplitRules:
    """Ordered rules that assign objects to named classes: the first matching rule wins.

    Parameters
    ----------
    rules : sequence of Rule or dict
        In order of priority. Dicts as in the YAML file (see :meth:`from_yaml`).
    default : str, optional
        Class of objects that match no rule. ``None``: they get class value 0 (unassigned,
        background in the class layer).
    values : mapping of str to int, optional
        Fixed class values (>= 1). Default: 1, 2, ... in order of first appearance in the
        rules, then the default class.

    Examples
    --------
    >>> rules = SplitRules([Rule("small", "volume", "<", 100),
    ...                     Rule("large", "volume", ">=", 100)])
    >>> rules.classes
    {'small': 1, 'large': 2}
    >>> rules.assign(Table({"id": [1, 2], "volume": [50.0, 500.0]})).tolist()
    [1, 2]
    """

    def __init__(
        self,
        rules: Sequence[Rule | Mapping[str, Any]],
        *,
        default: str | None = None,
        values: Mapping[str, int] | None = None,
    ) -> None:
        if isinstance(rules, str | Mapping) or not isinstance(rules, Sequence):
            raise RuleError(f"Expected a list of rules, got {type(rules).__name__} instead")
        self.rules: tuple[Rule, ...] = tuple(
            r if isinstance(r, Rule) else Rule.from_dict(r, i) for i, r in enumerate(rules)
        )
        if default is not None and (not isinstance(default, str) or not _NAME.match(default)):
            raise RuleError(f"Expected the default class as a name, got {default!r} instead")
        self.default = default
        names = list(dict.fromkeys([r.label for r in self.rules] + ([default] if default else [])))
        given = dict(values or {})
        unknown = set(given) - set(names)
        if unknown:
            raise RuleError(f"Values given for classes no rule uses: {sorted(unknown)}")
        for name, v in given.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise RuleError(f"Expected class value >= 1 for {name!r}, got {v!r}")
        taken = set(given.values())
        if len(taken) != len(given):
            raise RuleError(f"Two classes share a value in {given}; give each its own")
        free = (v for v in range(1, 2**31) if v not in taken)
        self.classes: dict[str, int] = {n: given[n] if n in given else next(free) for n in names}

    @property
    def measurements(self) -> list[str]:
        """The measurement names the rules use, in order."""
        return list(dict.fromkeys(c.measurement for r in self.rules for c in r.conditions))

    def check(self, table: Table) -> None:
        """Raise :class:`UnknownMeasurementError` if a rule names a column the table lacks."""
        missing = [m for m in self.measurements if m not in table]
        if missing:
            valid = [n for n in table.names if table[n].dtype.kind in "biuf" and n != "id"]
            raise UnknownMeasurementError(
                f"The rules use unknown measurement(s) {', '.join(map(repr, missing))}; the "
                f"table has: {', '.join(valid) or '(no numeric columns)'}"
            )

    def assign(self, table: Table) -> np.ndarray:
        """The class value of every row (0 where no rule matches and there is no default)."""
        self.check(table)
        out = np.zeros(len(table), dtype=np.int64)
        done = np.zeros(len(table), dtype=bool)
        for rule in self.rules:
            hit = rule.test(table) & ~done
            out[hit] = self.classes[rule.label]
            done |= hit
        if self.default is not None:
            out[~done] = self.classes[self.default]
        return out

    def apply(self, table: Table) -> Table:
        """A copy of ``table`` with columns ``class`` (value) and ``class_name`` ("" for 0)."""
        values = self.assign(table)
        names = {v: n for n, v in self.classes.items()}
        out = table.copy()
        out["class"] = values
        out["class_name"] = np.array([names.get(int(v), "") for v in values], dtype=str)
        out.meta["classes"] = dict(self.classes)
        return out

    # -- files ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": self.default,
            "classes": dict(self.classes),
            "rules": [r.to_dict() for r in self.rules],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SplitRules:
        if not isinstance(data, Mapping) or "rules" not in data:
            raise RuleError(
                "Expected rules as a mapping with a 'rules' list (and optional 'default' and "
                f"'classes'), got {data!r} instead"
            )
        extra = set(data) - {"rules", "default", "classes"}
        if extra:
            raise RuleError(f"Unknown keys {sorted(extra)}; expected rules, default, classes")
        rules = data["rules"]
        if not isinstance(rules, list):
            raise RuleError(f"Expected 'rules' as a list, got {type(rules).__name__}")
        return cls(rules, default=data.get("default"), values=data.get("classes"))

    def to_yaml(self, path: str | os.PathLike[str] | None = None) -> str:
        """The rules as YAML text; also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, source: str | os.PathLike[str]) -> SplitRules:
        """Read rules from a YAML file (a path) or YAML text.

        The format::

            default: other            # optional; unmatched objects -> 0 without it
            classes: {small: 1}       # optional fixed values
            rules:                    # first matching rule wins
              - {class: small, measurement: volume, op: "<", value: 1000}
              - {class: mid, measurement: volume, op: between, value: [1000, 5000]}
              - class: round
                all:                  # every condition must hold
                  - {measurement: sphericity, op: ">=", value: 0.8}
                  - {measurement: volume, op: ">", value: 5000}
        """
        if isinstance(source, str) and (
            "\n" in source or (":" in source and not Path(source).is_file())
        ):
            text = source
        else:
            p = Path(source)
            if not p.is_file():
                raise MissingFileError(f"No rules file at {p}; write one with rules.to_yaml(path)")
            text = p.read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise RuleError(f"The rules are not valid YAML: {e}") from e
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SplitRules) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        lines = [f"{i + 1}. {r}" for i, r in enumerate(self.rules)]
        if self.default:
            lines.append(f"otherwise -> {self.default}")
        return "SplitRules(\n  " + "\n  ".join(lines) + "\n)"
