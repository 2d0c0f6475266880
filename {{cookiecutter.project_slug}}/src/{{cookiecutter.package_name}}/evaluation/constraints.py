"""Satisficing constraints (M1): `name op number`, e.g. "params <= 1e6" or "dev/f1 >= 0.9".

Shared by checkpoint selection (evaluation/objective.py) and sweeps (search/report.py); plain Python,
so reading a sweep's table does not import torch.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

from ..common import ConfigError

STATIC = ("params", "size_mb", "latency_ms")
OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w/.]*)\s*(<=|>=|==|<|>)\s*([-+0-9.eE]+)\s*$")


# --------------------------------------------------------------------------- constraints
@dataclass(frozen=True)
class Constraint:
    name: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Constraint:
        m = _CONSTRAINT.match(str(text))
        if not m:
            raise ConfigError(
                f"objective.satisficing entry {text!r} is not 'name op number'; "
                'write e.g. "params <= 1e6", "latency_ms <= 5" or "dev/f1 >= 0.9"'
            )
        name, op, number = m.groups()
        if name not in STATIC and "/" not in name:
            raise ConfigError(
                f"objective.satisficing: {name!r} is not measured; use one of {', '.join(STATIC)} "
                "or a logged metric such as dev/f1 or train_dev/loss"
            )
        try:
            threshold = float(number)
        except ValueError:
            raise ConfigError(f"objective.satisficing entry {text!r}: {number!r} is not a number") from None
        return cls(name, op, threshold)

    def holds(self, value: float | None) -> bool:
        return value is not None and not math.isnan(value) and OPS[self.op](value, self.threshold)

    def violation(self, value: float | None) -> float:
        """How far from holding (<= 0 holds): what Optuna's constrained samplers take."""
        if value is None or math.isnan(value):
            return 1.0
        gap = (
            abs(value - self.threshold)
            if self.op == "=="
            else (value - self.threshold if self.op in ("<=", "<") else self.threshold - value)
        )
        return gap if not self.holds(value) else min(gap, 0.0)

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.threshold:g}"


def parse_constraints(satisficing) -> list[Constraint]:
    """objective.satisficing as a list ["params <= 1e6", ...] or a mapping {params: "<= 1e6"}."""
    if not satisficing:
        return []
    if isinstance(satisficing, str):  # one constraint given bare: "params <= 1e6" (or a typo, refused below)
        satisficing = [satisficing]
    if hasattr(satisficing, "items"):
        return [Constraint.parse(f"{name} {rule}") for name, rule in satisficing.items()]
    return [c if isinstance(c, Constraint) else Constraint.parse(c) for c in satisficing]


def check_constraints(constraints: list[Constraint], values: dict) -> list[dict]:
    """One row per constraint: the measured value and whether it holds."""
    rows = []
    for c in constraints:
        value = values.get(c.name)
        value = float(value) if value is not None else None
        rows.append({"constraint": str(c), "value": value, "ok": c.holds(value)})
    return rows
