"""The search-space language: Hydra's sweep grammar, read as Optuna distributions.

Each entry of `hydra.sweeper.params` (or a sweep override on the command line) is
`config.key: <expression>`:

    choice(adam, sgd)                      categorical (also: adam,sgd)
    tag(log, choice(1e-4, 1e-3, 1e-2))     categorical on a log scale (a log grid)
    range(1, 4)                            integers 1, 2, 3 (Python's range: stop excluded)
    interval(0.0, 0.5)                     float, uniform
    int(interval(16, 512))                 integer, uniform, both ends included
    tag(log, interval(1e-4, 1))            float, log-uniform: 10^U(-4, 0)
    tag(log, int(interval(16, 512)))       integer, log-uniform
    tag(one_minus_log, interval(0.9, 0.999))
                                           momentum-like beta = 1 - 10^U(-3, -1): 1 - beta is
                                           log-uniform, so 0.9, 0.99, 0.999 are equally likely

Two keys compose a list: `<list key>.depth` (number of entries) and `<list key>.width`
(every entry), e.g. model.net.hidden.depth: range(1, 4) and
model.net.hidden.width: tag(log, int(interval(16, 512))) -> model.net.hidden=[w, w].
Either alone keeps the other from the config.

No sampler lives here: Optuna samples, this module only translates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

TAGS = {"log", "one_minus_log"}
LIST_PARTS = ("depth", "width")


class SpaceError(ValueError):
    """A search-space entry that cannot be read; the message names the key and the fix."""


@dataclass
class Param:
    name: str  # the config key the value is written to
    kind: str  # float | int | categorical
    low: float | None = None  # sampled-scale bounds (for one_minus_log: bounds of 1 - beta)
    high: float | None = None
    log: bool = False  # sampled (and plotted) on a log axis
    one_minus: bool = False  # value = 1 - sampled
    step: float | None = None
    choices: list = field(default_factory=list)  # categorical: numbers, or override texts

    @property
    def optuna_name(self) -> str:
        return f"1-{self.name}" if self.one_minus else self.name

    @property
    def numeric(self) -> bool:
        return self.kind != "categorical" or all(_is_number(c) for c in self.choices)

    def distribution(self):
        import optuna.distributions as d

        if self.kind == "categorical":
            return d.CategoricalDistribution(self.choices)
        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return d.FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def suggest(self, trial) -> Any:
        """Sample through an Optuna trial; returns the value the config receives."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.optuna_name, self.choices)
        if self.kind == "int":
            return trial.suggest_int(
                self.optuna_name, int(self.low), int(self.high), log=self.log, step=int(self.step or 1)
            )
        sampled = trial.suggest_float(self.optuna_name, self.low, self.high, log=self.log, step=self.step)
        return self.value(sampled)

    def value(self, sampled: Any) -> Any:
        """Sampled scale -> config value (beta = 1 - x for one_minus_log)."""
        return 1.0 - sampled if self.one_minus else sampled

    def sampled(self, value: Any) -> Any:
        """Config value -> sampled scale (the axis a plot and coarse-to-fine use)."""
        return 1.0 - value if self.one_minus else value

    def expression(self) -> str:
        """This parameter back in the grammar (coarse to fine writes it into a new config)."""
        if self.kind == "categorical":
            inner = f"choice({', '.join(_text(c) for c in self.choices)})"
            return f"tag(log, {inner})" if self.log else inner
        if self.one_minus:
            return f"tag(one_minus_log, interval({_num(1 - self.high)}, {_num(1 - self.low)}))"
        if self.kind == "int" and self.step not in (None, 1):
            return f"range({int(self.low)}, {int(self.high) + int(self.step)}, {int(self.step)})"
        inner = f"interval({_num(self.low)}, {_num(self.high)})"
        if self.kind == "int":
            inner = f"int({inner})"
        return f"tag(log, {inner})" if self.log else inner

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> Param:
        return cls(**dict(d))


# --------------------------------------------------------------------------- parsing
def parse_space(params: Mapping[str, Any] | None, arguments: Iterable[str] = ()) -> tuple[dict[str, Param], list[str]]:
    """`hydra.sweeper.params` + command-line overrides -> (search space, fixed overrides).

    A sweep on the command line (`optimizer.lr='tag(log, interval(1e-5, 1e-2))'`) replaces
    the config's entry for that key; a plain value (`optimizer.lr=0.01`) fixes it.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    space: dict[str, Param] = {}
    for key, expr in (params or {}).items():
        if expr is None:
            continue
        try:
            (override,) = parser.parse_overrides([f"{key}={expr}"])
        except Exception as e:  # noqa: BLE001 - hydra's parse errors are plain exceptions
            raise SpaceError(f"hydra.sweeper.params.{key}: cannot read {expr!r}: {e}") from None
        if not override.is_sweep_override():
            raise SpaceError(
                f"hydra.sweeper.params.{key}={expr!r} is a single value, not a range; write e.g. choice(...) or tag(log, interval(a, b))"
            )
        space[key] = to_param(key, override.value())
    fixed: list[str] = []
    for line in arguments:
        override = parser.parse_overrides([line])[0]
        key = override.get_key_element()
        name = key.lstrip("+~")
        if override.is_sweep_override():
            space[name] = to_param(name, override.value())
        elif name.rpartition(".")[2] in LIST_PARTS and "." in name:
            # model.net.hidden.depth=2 is no config key of its own: a one-value entry of the
            # space, which composes the list with its width like any other trial value
            value = override.value()
            space[name] = Param(name, "categorical", choices=[value if _is_number(value) else _text(value)])
        else:
            space.pop(name, None)
            fixed.append(line)
    return space, fixed


def to_param(key: str, sweep) -> Param:
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    tags = set(getattr(sweep, "tags", ()) or ())
    unknown = tags - TAGS
    if unknown:
        raise SpaceError(f"{key}: unknown tag {', '.join(sorted(unknown))}; tags are {', '.join(sorted(TAGS))}")
    log, one_minus = "log" in tags, "one_minus_log" in tags
    if isinstance(sweep, ChoiceSweep):
        if one_minus:
            raise SpaceError(f"{key}: one_minus_log applies to interval(...), not to choice(...)")
        values = [v for v in sweep.list]
        choices = [v if _is_number(v) or isinstance(v, bool) or v is None else _text(v) for v in values]
        choices = [float(c) if isinstance(c, float) else c for c in choices]
        if log and not all(_is_number(c) and c > 0 for c in choices):
            raise SpaceError(f"{key}: tag(log, choice(...)) needs positive numbers")
        return Param(key, "categorical", log=log, choices=choices)
    if isinstance(sweep, RangeSweep):
        start, stop, step = sweep.start, sweep.stop, sweep.step
        values = list(_frange(start, stop, step))
        if not values:
            raise SpaceError(f"{key}: range({start}, {stop}, {step}) is empty (the stop value is excluded)")
        kind = "int" if all(isinstance(v, int) for v in (start, stop, step)) else "float"
        if log and step != 1:
            raise SpaceError(f"{key}: tag(log, range(...)) needs step 1; for a log grid write tag(log, choice(...))")
        return Param(key, kind, low=values[0], high=values[-1], log=log, step=None if log or step == 1 else step)
    if isinstance(sweep, IntervalSweep):
        low, high = sweep.start, sweep.end
        kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
        if low is None or high is None or not low < high:
            raise SpaceError(f"{key}: interval({low}, {high}) needs low < high")
        if one_minus:
            if kind == "int" or not 0 <= low < high < 1:
                raise SpaceError(f"{key}: tag(one_minus_log, interval(a, b)) needs 0 <= a < b < 1 (e.g. 0.9, 0.999)")
            return Param(key, "float", low=1.0 - high, high=1.0 - low, log=True, one_minus=True)
        if log and low <= 0:
            raise SpaceError(f"{key}: tag(log, interval({low}, {high})) needs a positive lower end")
        return Param(key, kind, low=low, high=high, log=log)
    raise SpaceError(f"{key}: {type(sweep).__name__} is not a search space Optuna can sample")


# --------------------------------------------------------------------------- overrides
def overrides_for(values: Mapping[str, Any], lists: Mapping[str, list] | None = None) -> list[str]:
    """Config values of one trial -> Hydra overrides. `lists`: the config's current lists
    that `<key>.depth` / `<key>.width` entries set (None: every such entry is a list part)."""
    out, composed = [], {}
    for name, value in values.items():
        prefix, _, part = name.rpartition(".")
        if part in LIST_PARTS and prefix and (lists is None or prefix in lists):
            composed.setdefault(prefix, {})[part] = value
            continue
        out.append(f"{name}={_text(value)}")
    for prefix, parts in composed.items():
        current = list((lists or {}).get(prefix) or [])
        depth = int(parts.get("depth", len(current) or 1))
        width = parts.get("width", current[0] if current else None)
        if width is None:
            raise SpaceError(f"{prefix}.depth is swept but {prefix} has no width to repeat; add {prefix}.width")
        out.append(f"{prefix}=[{', '.join([_text(width)] * depth)}]")
    return out


def list_keys(space: Mapping[str, Param]) -> list[str]:
    """Config lists that `<key>.depth` / `<key>.width` entries compose."""
    return sorted({n.rpartition(".")[0] for n in space if n.rpartition(".")[2] in LIST_PARTS and "." in n})


# --------------------------------------------------------------------------- formatting
_PLAIN = re.compile(r"^[A-Za-z_][\w\-./]*$")


def _text(v: Any) -> str:
    """A value as Hydra override text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, float):
        return _num(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_text(x)}" for k, x in v.items()) + "}"
    s = str(v)
    if _PLAIN.match(s) or (s.startswith("[") and s.endswith("]")):
        return s
    return "'" + s.replace("'", "\\'") + "'"


def _num(x: float) -> str:
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e6):
        return str(int(x)) if not isinstance(x, float) else f"{x:.1f}"
    return f"{x:.6g}"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _frange(start, stop, step):
    x = start
    while (step > 0 and x < stop - 1e-12 * abs(step)) or (step < 0 and x > stop + 1e-12 * abs(step)):
        yield x
        x = x + step
