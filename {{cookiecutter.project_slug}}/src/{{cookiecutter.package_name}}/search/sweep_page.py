"""<sweep dir>/report.html beside trials.csv (issue 26): the trials sorted by the objective,
the objective against each hyperparameter, best values on the border of their range (M28),
the best trial's diagnosis and, for a k-fold sweep, its folds' spread.

Apart from report.py so that the border check can come from refine.py (which reads report.py):
the sweeper and sweep_report.py call report_with_page, which writes the table and the plot
(report.write_report) and then this page.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..evaluation.report_page import (
    PAGE,
    cv_table,
    embed_png,
    gaps_section,
    num,
    read_json,
    relative_link,
    render,
    spread,
)
from .report import metric_name, study_constraints, study_space, write_report


def report_with_page(study, out_dir: Path, echo=print) -> dict:
    """trials.csv, trials.png and report.html in out_dir; write_report's result, with "page"."""
    report = write_report(study, out_dir, echo)
    try:  # the page is a view of the table and the plot: a bug in it must not lose them
        report["page"] = write_sweep_page(study, report["rows"], Path(out_dir), report["png"])
        echo(f"page  {report['page']}")
    except Exception as e:  # noqa: BLE001
        report["page"] = None
        echo(f"warning: report.html not written ({type(e).__name__}: {e}); trials.csv and trials.png are there")
    return report


def sweep_report(
    study_name: str | None = None, storage: str | None = None, out_dir=None, list_only: bool = False
) -> None:
    """sweep_report.py: the studies in a storage (list_only), or one study's trials.csv,
    trials.png and report.html in out_dir (default: multirun/reports/<study>)."""
    from . import studies

    if list_only:
        print("\n".join(studies.listing(storage)))
        return
    study = studies.load(study_name, storage)
    report_with_page(study, Path(out_dir) if out_dir else Path("multirun") / "reports" / study.study_name)


def best_trial_diagnosis(job_dir: str | None) -> tuple[dict | None, dict | None]:
    """(the best trial's diagnosis, its cv summary for a k-fold trial) from its run folder."""
    if not job_dir or not Path(job_dir).is_dir():
        return None, None
    job = Path(job_dir)
    diagnosis = read_json(job / "diagnosis.json")
    if diagnosis is not None:
        return {**diagnosis, "source": str(job / "diagnosis.json")}, None
    cv = read_json(job / "cv_summary.json")
    if cv is None:  # a k-fold trial: its folds are run folders below it
        from ..evaluation.crossval import fold_runs, summarize

        try:
            cv = summarize(fold_runs(job), job)
        except Exception:  # noqa: BLE001 - no finished folds: the page says there is no diagnosis
            return None, None
    return {**cv["diagnosis"], "source": f"{job} (the folds' mean errors)"}, cv


def border_flags(study) -> tuple[list[str], list[str], str | None]:
    """(best values on a border of their range, those at a hard limit, why not looked at) (M28)."""
    from .refine import refine

    try:
        ref = refine(study)
    except ValueError as e:
        return [], [], f"Border of the range not looked at: {e}."
    return ref.flags, ref.limits, None


def trial_table(rows: list[dict], metric: str, maximize: bool, space: list[str]) -> tuple[list[str], list[dict]]:
    """Columns and cells of the trials table, best objective first, trials without a value last."""
    folds = sorted({k for r in rows for k in r if k.startswith(f"{metric} fold ")})
    fixed = ["trial", "status", metric] + (["fold std"] if folds else []) + list(space)
    rest = [k for r in rows for k in r if k not in fixed and k not in folds and k not in ("best", "job_dir")]
    columns = fixed + list(dict.fromkeys(rest))

    def key(r):
        v = r.get(metric)
        return (v is None, -v if (v is not None and maximize) else (v if v is not None else 0), r["trial"])

    out = []
    for r in sorted(rows, key=key):
        values = [r.get(f) for f in folds if r.get(f) is not None]
        r = {**r, "fold std": spread(values) if folds else None}
        cells = []
        for c in columns:
            v = r.get(c)
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
            cells.append({"text": num(v) if numeric else ("" if v is None else str(v)), "n": numeric, "v": v})
        out.append({"best": r.get("best"), "cells": cells})
    return columns, out


def sweep_context(study, rows: list[dict], out_dir: Path, plot_path: Path) -> dict:
    metric = metric_name(study)
    maximize = study.direction.name == "MAXIMIZE"
    space = study_space(study)
    columns, table = trial_table(rows, metric, maximize, list(space))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    best = next((r for r in rows if r.get("best")), None)
    diagnosis, cv = best_trial_diagnosis(best.get("job_dir") if best else None)
    borders, limits, note = border_flags(study) if best else ([], [], None)
    shown_best = None
    if best:
        folds = [best[k] for k in best if k.startswith(f"{metric} fold ") and best[k] is not None]
        page = Path(best["job_dir"]) / PAGE if best.get("job_dir") else None
        shown_best = {
            "trial": best["trial"],
            "value": best.get(metric),
            "folds": folds,
            "fold_std": spread(folds),
            "params": [
                (k, num(best[k]) if isinstance(best[k], float) else best[k]) for k in space if best.get(k) is not None
            ],
            "page": relative_link(str(page), out_dir) if page and page.is_file() else None,
        }
    return {
        "title": f"Sweep {study.study_name}: {metric}",
        "written": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "out_dir": str(out_dir),
        "counts": ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())),
        "metric": metric,
        "maximize": maximize,
        "columns": columns,
        "rows": table,
        "best": shown_best,
        "constraints": ", ".join(map(str, study_constraints(study))),
        "reads": sum(int(r.get("test_split_reads") or 0) for r in rows),
        "borders": borders,
        "limits": limits,
        "border_note": note,
        "plot": embed_png(plot_path),
        "best_diagnosis": {
            "gaps": gaps_section(diagnosis),
            "recommendation": diagnosis.get("recommendation"),
            "source": diagnosis.get("source"),
        }
        if diagnosis
        else None,
        "cv": folds_with_links(cv, out_dir) if cv else None,
    }


def folds_with_links(cv: dict, out_dir: Path) -> dict:
    table = cv_table(cv)
    for row in table["rows"]:
        row["page"] = relative_link(row["page"], out_dir)
    return table


def write_sweep_page(study, rows: list[dict], out_dir: Path, plot_path: Path) -> Path:
    """<sweep dir>/report.html beside trials.csv: the trials, the plot, the best trial's diagnosis."""
    path = Path(out_dir) / PAGE
    path.write_text(render(page="sweep", **sweep_context(study, rows, Path(out_dir), plot_path)), encoding="utf-8")
    return path
