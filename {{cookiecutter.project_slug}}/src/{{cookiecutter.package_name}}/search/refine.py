"""Coarse to fine (M28): from the best trials of a finished sweep, a narrower search space.

For each parameter, on the scale it is sampled on (log10 for log parameters, log10(1 - beta)
for momentum-like ones):
  * the new range is the span of the best trials (top fraction among COMPLETE trials that
    satisfy the constraints), widened by a margin, and never wider than the old range;
  * a best value within `border` (fraction of the old width) of an edge is flagged
    ("expand the range"): the optimum may lie outside, so the new range extends past that
    edge by `expand` of the old width. Where the edge is the limit of what is possible
    (0 dropout, 1 layer, beta near 1) nothing can lie outside: that is noted as a limit
    (Refinement.limits), not flagged, and the new range keeps the edge;
  * categorical choices keep the values that appear among the best trials; a log grid
    becomes a denser grid over the new span.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .report import metric_name, study_constraints, study_space, trial_rows
from .space import Param


@dataclass
class Refinement:
    space: dict[str, Param]
    old: dict[str, Param]
    flags: list[str] = field(default_factory=list)  # best value at an edge the new range goes past
    limits: list[str] = field(default_factory=list)  # best value at an edge nothing lies past
    notes: dict[str, str] = field(default_factory=dict)
    kept: int = 0
    total: int = 0


def refine(
    study, top: float = 0.25, min_keep: int = 3, border: float = 0.1, margin: float = 0.1, expand: float = 0.25
) -> Refinement:
    old = study_space(study)
    metric = metric_name(study)
    rows = [
        r
        for r in trial_rows(study)
        if r["status"] == "COMPLETE" and r.get("satisficing_ok") and r.get(metric) is not None
    ]
    if len(rows) < 2:
        raise ValueError(
            f"study {study.study_name} has {len(rows)} complete trials that satisfy "
            f"{', '.join(map(str, study_constraints(study))) or 'the constraints'}; need at least 2 to refine"
        )
    rows.sort(key=lambda r: r[metric], reverse=study.direction.name == "MAXIMIZE")
    keep = rows[: min(len(rows), max(min_keep, math.ceil(top * len(rows))))]
    best = keep[0]
    out = Refinement(space={}, old=old, kept=len(keep), total=len(rows))
    for name, p in old.items():
        values = [r[name] for r in keep if r.get(name) is not None]
        if not values or best.get(name) is None:
            out.space[name] = p
            continue
        new, flag, limit = _refine_param(p, values, best[name], border, margin, expand)
        out.space[name] = new
        if flag:
            out.flags.append(flag)
            out.notes[name] = "BORDER: " + flag.split(": ", 1)[1]
        if limit:
            out.limits.append(limit)
            out.notes[name] = "AT THE LIMIT: " + limit.split(": ", 1)[1]
    return out


def _refine_param(
    p: Param, values: list, best: Any, border: float, margin: float, expand: float
) -> tuple[Param, str | None, str | None]:
    """-> (new parameter, expand flag or None, at-the-limit note or None)."""
    if p.kind == "categorical" and not p.numeric:
        kept = [c for c in p.choices if any(_same(c, v) for v in values)]
        return Param(p.name, "categorical", choices=kept or list(p.choices)), None, None
    if p.kind == "categorical":
        return (*_refine_grid(p, values, best, expand), None)
    fwd = (lambda x: math.log10(x)) if p.log else (lambda x: float(x))
    inv = (lambda u: 10.0**u) if p.log else (lambda u: u)
    lo, hi = fwd(p.low), fwd(p.high)
    width = hi - lo
    us = [fwd(p.sampled(v)) for v in values]
    ub = fwd(p.sampled(best))
    a, b = max(lo, min(us) - margin * width), min(hi, max(us) + margin * width)
    flag = None
    at_low, at_high = ub - lo <= border * width, hi - ub <= border * width
    if at_low or at_high:
        side = "lower" if at_low else "upper"
        edge = p.value(p.low) if at_low else p.value(p.high)  # back on the config's scale (beta)
        if p.one_minus:  # sampled scale is 1 - beta: its lower end is beta's upper end
            side = "upper" if at_low else "lower"
        if at_low:
            a = lo - expand * width
        else:
            b = hi + expand * width
        flag = (
            f"{p.name}: best value {_fmt(best)} sits at the {side} border of the old range "
            f"(edge {_fmt(edge)}) -> expand the range; the new range goes past it"
        )
        limit = (
            f"{p.name}: best value {_fmt(best)} sits at the {side} border of the old range "
            f"(edge {_fmt(edge)}), which is the limit of what is possible for it; the new range keeps that edge"
        )
    a, b = inv(a), inv(b)
    a, b = _clip(p, a, b)
    if p.kind == "int":
        a, b = int(math.floor(a)), int(math.ceil(b))
        if a == b:
            b = a + 1
    new = Param(
        p.name, p.kind, low=a, high=b, log=p.log, one_minus=p.one_minus, step=p.step if p.kind == "int" else None
    )
    if flag and (a >= p.low if at_low else b <= p.high):  # the edge is a hard limit (0 dropout, 1 layer): no expansion
        return new, None, limit
    return new, flag, None


def _refine_grid(p: Param, values: list, best: Any, expand: float) -> tuple[Param, str | None]:
    """A finer grid around the best value: its two neighbours' span (one old step either side,
    so past the edge when the best is an end of the grid), at half the old spacing. Always
    denser than the old grid, never wider than two of its steps."""
    choices = sorted(float(c) for c in p.choices)
    n = len(choices)
    fwd = math.log10 if p.log else float
    inv = (lambda u: 10.0**u) if p.log else (lambda u: u)
    us = [fwd(float(c)) for c in choices]
    step = (us[-1] - us[0]) / max(1, n - 1)
    ub = fwd(float(best))
    flag = None
    if math.isclose(float(best), choices[0]) or math.isclose(float(best), choices[-1]):
        side = "lower" if math.isclose(float(best), choices[0]) else "upper"
        flag = f"{p.name}: best value {_fmt(best)} is the {side} end of the grid -> expand the range; the new grid goes one step past it"
    a, b = ub - step, ub + step
    integral = all(float(c).is_integer() for c in p.choices)
    if integral and not p.log and min(choices) >= 0:
        a = max(a, 0.0)
    grid = [inv(a + (b - a) * i / 4) for i in range(5)]  # spacing step / 2
    grid = sorted({int(round(g)) if integral else float(f"{g:.3g}") for g in grid})
    return Param(p.name, "categorical", log=p.log, choices=grid), flag


def _clip(p: Param, a: float, b: float) -> tuple[float, float]:
    if p.one_minus:  # 1 - beta in (0, 1)
        return max(a, 1e-6), min(b, 0.5)
    if not p.log and p.low >= 0:
        a = max(a, 0.0)
        if p.high <= 1:
            b = min(b, 1.0)
    if p.kind == "int" and p.low >= 1:
        a = max(a, 1)
    return a, b


def _same(a: Any, b: Any) -> bool:
    return a == b or str(a).lower() == str(b).lower()


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def to_yaml(ref: Refinement, study, n_trials: int | None = None, sampler: str | None = None) -> str:
    """The refined space as a sweep config (configs/sweep/<name>.yaml)."""
    sampler = sampler or study.user_attrs.get("sampler") or "random"
    n_trials = n_trials or study.user_attrs.get("n_trials") or 20
    fixed = study.user_attrs.get("fixed_overrides") or []
    lines = [
        "# @package _global_",
        f"# Coarse to fine (M28), written by refine_sweep.py from study {study.study_name}:",
        f"# the best {ref.kept} of {ref.total} complete trials that satisfy the constraints bound each range.",
    ]
    if fixed:
        lines.append("# The first sweep ran with: " + " ".join(fixed))
    for flag in ref.flags:
        lines.append(f"# EXPAND THE RANGE: {flag}")
    for limit in ref.limits:
        lines.append(f"# AT THE LIMIT (nothing to expand): {limit}")
    lines += ["defaults:", "  - /hydra/sweep_base", "", "hydra:", "  sweeper:", f"    sampler: {sampler}"]
    lines.append("    n_trials: null" if sampler == "grid" else f"    n_trials: {n_trials}")
    lines.append("    params:")
    for name, p in ref.space.items():
        old = ref.old.get(name)
        notes = [f"was {old.expression()}"] if old is not None and old.expression() != p.expression() else []
        if name in ref.notes:
            notes.append(ref.notes[name].split(" ->")[0])
        note = ("   # " + "; ".join(notes)) if notes else ""
        lines.append(f"      {name}: {p.expression()}{note}")
    return "\n".join(lines) + "\n"


SAMPLERS = ("random", "grid", "qmc", "tpe")


def refine_sweep(
    study_name: str | None,
    storage: str | None,
    config_dir,
    top: float = 0.25,
    border: float = 0.1,
    expand: float = 0.25,
    n_trials: int | None = None,
    sampler: str | None = None,
    output: str | None = None,
    overwrite: bool = False,
) -> Path:
    """refine_sweep.py: refine a study and write config_dir/<output>.yaml (default: <old sweep>_fine),
    printing what changed and the command of the next sweep. An existing config is a ConfigError
    (nothing replaced) unless `overwrite`."""
    from ..common import ConfigError
    from . import studies

    if sampler is not None and sampler not in SAMPLERS:
        raise ConfigError(f"sampler={sampler} is not one of {', '.join(SAMPLERS)}; e.g. sampler=tpe")
    if n_trials is not None and n_trials < 1:
        raise ConfigError(f"n_trials={n_trials} must be 1 or more (or leave it out: the old sweep's budget)")
    study = studies.load(study_name, storage)
    try:
        ref = refine(study, top=top, border=border, expand=expand)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    old_sweep = study.user_attrs.get("sweep") or study.user_attrs.get("sampler") or "sweep"
    name = output or (old_sweep if str(old_sweep).endswith("_fine") else f"{old_sweep}_fine")
    path = Path(config_dir) / f"{name}.yaml"
    if path.exists() and not overwrite:
        raise ConfigError(
            f"{path} exists (an earlier refinement?); not replacing it: pass output=<another name>, or overwrite=true to replace it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_yaml(ref, study, n_trials, sampler))

    print(f"study {study.study_name}: kept the best {ref.kept} of {ref.total} complete trials")
    for key, p in ref.space.items():
        print(f"  {key:<28} {ref.old[key].expression():<48} -> {p.expression()}")
    for flag in ref.flags:
        print(f"EXPAND THE RANGE: {flag}")
    for limit in ref.limits:
        print(f"AT THE LIMIT (nothing to expand): {limit}")
    fixed = [o for o in (study.user_attrs.get("fixed_overrides") or []) if not o.startswith("sweep=")]
    print(f"wrote {path}\nnext: python train.py -m sweep={name} " + " ".join(fixed))
    return path
