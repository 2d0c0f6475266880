"""One table (CSV) and one plot (PNG) of all trials of a study; the best trial under constraints.

Everything is read back from the study's storage (SQLite or PostgreSQL), so a report can
be written at the end of a sweep, by any worker, or later by `python sweep_report.py`
(search/sweep_page.py, which adds report.html).
The best trial is the best optimizing metric among COMPLETE trials that satisfy every
satisficing constraint (M1-M2); a trial whose constraint value is unknown does not satisfy it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..evaluation.constraints import _CONSTRAINT, Constraint, parse_constraints
from .space import Param


def metric_value(metrics: Mapping[str, Any], name: str) -> float | None:
    """A constraint's value among a trial's recorded metrics: exact key, else a key ending in it."""
    if name in metrics:
        return _float(metrics[name])
    for key, value in metrics.items():
        if key.endswith("." + name) or key.endswith("/" + name) and "/" not in name:
            return _float(value)
    return None


def violations(constraints: Iterable[Constraint], metrics: Mapping[str, Any]) -> dict[str, float]:
    """{constraint: amount of violation} (<= 0 holds), as Optuna's Trial.set_constraint takes it."""
    return {str(c): float(c.violation(metric_value(metrics, c.name))) for c in constraints}


def flatten_summary(summary: Mapping) -> dict[str, float]:
    """summary.json -> {name: number}: all_scores under their own names (dev/f1), the rest
    by dotted path (and by leaf name when unambiguous), e.g. params, latency_ms."""
    out: dict[str, float] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(node, list) and node and all(isinstance(x, Mapping) and "constraint" in x for x in node):
            for row in node:  # [{"constraint": "params <= 1e6", "value": 1234, "ok": true}]
                m = _CONSTRAINT.match(str(row["constraint"]))
                if m and _float(row.get("value")) is not None:
                    out.setdefault(m.group(1), _float(row["value"]))
        elif _float(node) is not None and not isinstance(node, bool):
            out[prefix] = _float(node)

    for k, v in (summary.get("all_scores") or {}).items():
        if _float(v) is not None:
            out[k] = _float(v)
    walk("", {k: v for k, v in summary.items() if k != "all_scores"})
    leaves: dict[str, list[float]] = {}
    for key, value in list(out.items()):
        if "." in key:
            leaves.setdefault(key.rsplit(".", 1)[1], []).append(value)
    for leaf, values in leaves.items():
        if leaf not in out and len(set(values)) == 1:
            out[leaf] = values[0]
    return out


# --------------------------------------------------------------------------- the table
def study_space(study) -> dict[str, Param]:
    return {k: Param.from_dict(v) for k, v in (study.user_attrs.get("space") or {}).items()}


def study_constraints(study) -> list[Constraint]:
    return parse_constraints(study.user_attrs.get("satisficing"))


def metric_name(study) -> str:
    return f"dev/{(study.user_attrs.get('objective') or {}).get('metric', 'objective')}"


def status_of(trial) -> str:
    if trial.user_attrs.get("skipped"):
        return "SKIPPED"
    return trial.state.name


def trial_rows(study, constraints: Iterable[Constraint] | None = None) -> list[dict]:
    """One dict per trial: number, status, the metric, hyperparameters, constraints, best."""
    from optuna.trial import TrialState

    space = study_space(study)
    constraints = list(study_constraints(study) if constraints is None else constraints)
    metric = metric_name(study)
    rows = []
    for t in study.get_trials(deepcopy=False):
        attrs = t.user_attrs
        if attrs.get("skipped"):
            continue
        values = attrs.get("values") or {}
        value = t.value if t.state == TrialState.COMPLETE else None
        if t.state == TrialState.PRUNED and t.intermediate_values:
            value = t.intermediate_values[max(t.intermediate_values)]
        row: dict[str, Any] = {"trial": t.number, "status": status_of(t), metric: value}
        for i, v in enumerate(attrs.get("fold_values") or []):  # k-fold sweeps: the metric is their mean
            row[f"{metric} fold {i}"] = v
        for name, p in space.items():
            v = values.get(name)
            if v is None and p.optuna_name in t.params:
                v = p.value(t.params[p.optuna_name])
            row[name] = v
        metrics = attrs.get("metrics") or {}
        feasible = True
        for c in constraints:
            v = metric_value(metrics, c.name)
            row[str(c)] = v
            feasible &= c.holds(v)
        row["satisficing_ok"] = feasible if t.state == TrialState.COMPLETE else None
        row["test_split_reads"] = attrs.get("test_split_reads")
        row["epochs"] = attrs.get("epochs")
        row["pruned_at_epoch"] = attrs.get("pruned_at_epoch")
        row["duration_s"] = round(t.duration.total_seconds(), 2) if t.duration else None
        row["worker"] = attrs.get("worker")
        row["job_dir"] = attrs.get("job_dir")
        row["resumed_from"] = attrs.get("resumed_from")  # a killed trial's job continued from its last.ckpt
        row["error"] = attrs.get("error") or (
            "stopped without a result (killed, or its worker died)" if t.state == TrialState.FAIL else None
        )
        rows.append(row)
    best = best_row(rows, study.direction.name == "MAXIMIZE", metric)
    for row in rows:
        row["best"] = row is best
    return rows


def best_row(rows: list[dict], maximize: bool, metric: str) -> dict | None:
    """The best optimizing metric among COMPLETE trials that satisfy every constraint."""
    ok = [
        r for r in rows if r["status"] == "COMPLETE" and r.get("satisficing_ok") and _float(r.get(metric)) is not None
    ]
    if not ok:
        return None
    return (max if maximize else min)(ok, key=lambda r: r[metric])


def write_csv(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns or ["trial"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return path


# --------------------------------------------------------------------------- the plot
# long: one matplotlib figure, panel by panel
def write_plot(
    rows: list[dict], space: Mapping[str, Param], metric: str, path: Path, title: str = ""
) -> dict[str, str]:
    """Metric vs each hyperparameter; a log axis where the parameter is sampled on a log
    scale (for beta = 1 - 10^U the axis is 1 - beta). Returns {parameter: axis scale}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    names = list(space) or ["trial"]
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False)
    styles = {
        "COMPLETE": dict(color="tab:blue", marker="o", label="complete"),
        "INFEASIBLE": dict(color="tab:orange", marker="x", label="violates a constraint"),
        "PRUNED": dict(color="0.6", marker="v", label="pruned (last dev value)"),
    }
    for ax, name in zip(axes.flat, names):
        p = space.get(name)
        categorical = p is not None and p.kind == "categorical" and not (p.numeric and p.log)
        order = [str(c) for c in p.choices] if categorical else []
        for kind, style in styles.items():
            xs, ys = [], []
            for r in rows:
                if _float(r.get(metric)) is None or r.get(name) is None and name != "trial":
                    continue
                group = (
                    r["status"]
                    if r["status"] != "COMPLETE"
                    else ("COMPLETE" if r.get("satisficing_ok") else "INFEASIBLE")
                )
                if group != kind:
                    continue
                x = r["trial"] if name == "trial" else r[name]
                x = order.index(str(x)) if categorical and str(x) in order else (p.sampled(x) if p else x)
                xs.append(x)
                ys.append(r[metric])
            if xs:
                ax.scatter(xs, ys, alpha=0.8, **style)
        best = next((r for r in rows if r.get("best")), None)
        if best is not None and (name == "trial" or best.get(name) is not None):
            x = best["trial"] if name == "trial" else best[name]
            x = order.index(str(x)) if categorical and str(x) in order else (p.sampled(x) if p else x)
            ax.scatter([x], [best[metric]], s=220, marker="*", color="tab:red", zorder=5, label="best (satisficing)")
        if categorical:
            ax.set_xticks(range(len(order)))
            ax.set_xticklabels(order, rotation=20, fontsize=8)
            ax.set_xlim(-0.5, len(order) - 0.5)
        elif p is not None:
            lo, hi = (min(p.choices), max(p.choices)) if p.kind == "categorical" else (p.low, p.high)
            if p.log:
                ax.set_xscale("log")
                pad = (hi / lo) ** 0.04
                ax.set_xlim(lo / pad, hi * pad)  # the whole declared range: border optima show
                # A few plain labels (16..512: 30, 100, 300), never matplotlib's crowded
                # "1.2x10^2" minor labels or no label at all on a range under a decade.
                ticks = (
                    sorted(float(c) for c in p.choices)
                    if p.kind == "categorical" and len(p.choices) <= 6
                    else _log_ticks(lo, hi, p.kind == "int")
                )
                ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
                ax.xaxis.set_major_formatter(matplotlib.ticker.FixedFormatter([_tick_text(t) for t in ticks]))
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            else:
                pad = (hi - lo) * 0.04 or 0.5
                ax.set_xlim(lo - pad, hi + pad)
                if p.kind == "int":
                    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        label = f"1 - {name}" if p is not None and p.one_minus else name
        ax.set_xlabel(label + (" (log scale)" if p is not None and p.log and not categorical else ""))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    scales = {name: ax.get_xscale() for ax, name in zip(axes.flat, names)}
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=8)
    fig.suptitle(title or f"{metric} vs hyperparameters ({len(rows)} trials)")
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return scales


def _log_ticks(lo: float, hi: float, integer: bool, most: int = 6) -> list[float]:
    """3 to `most` round ticks between lo and hi for a log axis: powers of ten if the range
    spans enough decades, else 1-3, 1-2-5, ... steps; on a narrow range, linear round steps."""
    import matplotlib.ticker

    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    ticks: list[float] = []
    for mantissas in ((1,), (1, 3), (1, 2, 5), (1, 1.5, 2, 3, 5, 7), tuple(range(1, 10))):
        ticks = [float(f"{m * 10.0**k:.6g}") for k in range(k0, k1 + 1) for m in mantissas]
        ticks = [t for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9) and (not integer or t.is_integer())]
        if len(ticks) >= 3:
            break
    if len(ticks) < 3:
        values = matplotlib.ticker.MaxNLocator(nbins=4, integer=integer).tick_values(lo, hi)
        ticks = [float(t) for t in values if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)] or [lo, hi]
    step = math.ceil(len(ticks) / most)
    return ticks[::step]


def _tick_text(t: float) -> str:
    """1e-4, 0.003, 0.5, 30, 1e6: short enough that neighbours never overlap."""
    if t != 0 and (abs(t) < 1e-3 or abs(t) >= 1e4):
        exponent = math.floor(math.log10(abs(t)) + 1e-9)
        return f"{t / 10.0**exponent:.2g}e{exponent}"
    return f"{t:.3g}"


# --------------------------------------------------------------------------- all at once
def write_report(study, out_dir: Path, echo=print) -> dict:
    """trials.csv + trials.png in out_dir (report.html: sweep_page.py); prints the best trial and how to rerun it."""
    rows = trial_rows(study)
    metric = metric_name(study)
    out_dir = Path(out_dir)
    csv_path = write_csv(rows, out_dir / "trials.csv")
    png_path = out_dir / "trials.png"
    scales = write_plot(
        rows, study_space(study), metric, png_path, f"{study.study_name}: {metric} ({len(rows)} trials)"
    )
    best = next((r for r in rows if r["best"]), None)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    echo(f"\nsweep {study.study_name}: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())))
    reads = sum(int(r.get("test_split_reads") or 0) for r in rows)
    if reads:
        echo(f"WARNING: trials read the test split {reads} times; sweeps must select on dev only")
    constraints = study_constraints(study)
    if best is None:
        echo(f"no COMPLETE trial satisfies {', '.join(map(str, constraints)) or 'the sweep'}: no best trial")
    else:
        space = study_space(study)
        shown = ", ".join(f"{k}={_short(best[k])}" for k in space if best.get(k) is not None)
        echo(f"best trial {best['trial']}: {metric}={best[metric]:.4f}  {shown}")
        if constraints:
            echo("  satisfies " + ", ".join(f"{c} ({_short(best[str(c)])})" for c in constraints))
        overrides = next(
            (t.user_attrs.get("overrides") for t in study.get_trials(deepcopy=False) if t.number == best["trial"]), None
        )
        folds = sum(1 for k in best if k.startswith(f"{metric} fold "))
        if overrides:
            fixed = study.user_attrs.get("fixed_overrides") or []
            every_fold = [f"data.fold=range({folds})"] if folds else []  # a k-fold trial is all its folds
            echo(
                f"  rerun: python train.py {'-m ' if folds else ''}"
                + " ".join(_quote(o) for o in [*fixed, *overrides, *every_fold] if not o.startswith("sweep="))
            )
        if folds and best.get("job_dir"):
            echo(f"  its folds: python cv_summary.py dir={best['job_dir']}")
        if best.get("job_dir"):
            echo(f"  run dir: {best['job_dir']}")
    echo(f"table {csv_path}\nplot  {png_path}")
    return {"rows": rows, "best": best, "csv": csv_path, "png": png_path, "scales": scales}


def _quote(override: str) -> str:
    return f"'{override}'" if any(c in override for c in " []{}(),'") else override


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _float(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
