"""The test vault (M5), the final model (M8) and ensembles (M24).

The test split is read in exactly one place: `evaluate()` below, run by `python evaluate.py`.
Every evaluation is appended to the project's ledger (test_ledger.jsonl): when, which
checkpoint(s), which config (hash), the result and its report file. Paths inside the
project are stored relative to the project root, so the ledger can be committed. Every
evaluation keeps its own report (final_report_<n>.json, n = its entry in the ledger); none
is overwritten. From the second evaluation on, the report warns how many times the test
set has been seen: a test score you act on stops being an unbiased estimate.

The ledger: ledger.py; the final model on train + dev: retrain.py; runs are loaded back by
build.py (load_run).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from ..build import load_run
from ..common import ConfigError
from ..evaluation.runs import LoadedRun
from .ledger import LEDGER, append_ledger, config_hash, free_path, project_relative, read_ledger
from .retrain import retrain_on_train_and_dev


def evaluate(
    ckpt_paths: list[str],
    project_dir: Path,
    ledger: Path | None = None,
    retrain: bool = False,
    out_dir: Path | None = None,
) -> dict:
    """Evaluate one checkpoint, or an ensemble (averaged predictions), on the test split; record it."""
    from ..evaluation.objective import measure_static
    from ..evaluation.reports import report

    if not ckpt_paths:
        raise ConfigError(
            "no checkpoint given; python evaluate.py ckpt_path=outputs/<date>/<time>/checkpoints/best.ckpt"
        )
    ledger = Path(ledger) if ledger else Path(project_dir) / LEDGER
    runs = one_data(ckpt_paths, [load_run(p) for p in ckpt_paths])  # checked before anything is read or written
    run_dir = runs[0].run_dir
    out_dir = Path(out_dir) if out_dir else run_dir / ("final_evaluation" if len(runs) == 1 else "ensemble_evaluation")
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = read_ledger(ledger)
    number = len(previous) + 1  # this evaluation's entry in the ledger: names its files
    report_path = free_path(out_dir / f"final_report_{number}.json")
    evaluated = [project_relative(p, project_dir) for p in ckpt_paths]
    if retrain:
        runs = retrained(runs, out_dir, number)
        evaluated = [project_relative(r.run_dir / "checkpoints" / "final.ckpt", project_dir) for r in runs]
    datamodule = runs[0].datamodule
    if previous:
        print(
            f"warning: the test set of this project has been seen {len(previous)} time(s) before (see {ledger}). "
            "A test score you act on stops being an unbiased estimate of new data."
        )
    objective, models = runs[0].objective, [r.model for r in runs]
    splits = ("train", "train_dev", "test") if retrain else ("train", "train_dev", "dev", "test")
    static = measure_static(models[0], datamodule.sample("train", 1)[0]) if len(models) == 1 else None
    result = report(
        models, datamodule, models[0].task, objective, out_dir, splits=splits, error_analysis=False,
        json_name=report_path.name, static=static,
    )  # fmt: skip
    entry = ledger_entry(runs, evaluated, retrain, result, len(previous), project_relative(report_path, project_dir))
    append_ledger(ledger, entry)
    test_score = result["scores"]["test"].get(objective.metric)
    print(f"\nTEST {objective.metric}: {test_score:.4f}  (evaluation #{len(previous) + 1}, recorded in {ledger})")
    if retrain:
        print("note: dev was trained on, so this report has no dev column and no dev-overfitting gap")
    result.update(ledger_entry=entry, test_reads=datamodule.test_reads)
    report_path.write_text(json.dumps(result, indent=2))
    result["report_path"] = str(report_path)
    result["page"] = final_page(result, out_dir, run_dir, report_path)
    return result


def ledger_entry(
    runs: list[LoadedRun], evaluated: list[str], retrain: bool, result: dict, seen: int, report: str
) -> dict:
    """The ledger's line for this opening of the test split (vault/ledger.py)."""
    metric = runs[0].objective.metric
    return {
        "time": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "checkpoints": evaluated,
        "config_hash": config_hash(runs[0].config),
        "ensemble": len(runs) > 1,
        "retrained_on_train_and_dev": retrain,
        "metric": metric,
        "test": dict(result["scores"]["test"]),
        "dev": result["scores"].get("dev", {}).get(metric),
        "times_seen_before": seen,
        "report": report,
    }


def one_data(ckpt_paths: list[str], runs: list[LoadedRun]) -> list[LoadedRun]:
    """The runs, once it is sure an ensemble's members were trained on the same data and splits."""

    def data_identity(run: LoadedRun) -> dict:  # the data config without the loader's settings
        data = run.config.get("data") or {}
        return {
            k: v for k, v in data.items() if k not in ("batch_size", "eval_batch_size", "num_workers", "shuffle_seed")
        }

    for path, other in zip(ckpt_paths[1:], runs[1:]):
        if data_identity(other) != data_identity(runs[0]):
            raise ConfigError(
                f"{path} was trained on other data or splits than {ckpt_paths[0]}; an ensemble needs the same data config"
            )
    return runs


def retrained(runs: list[LoadedRun], out_dir: Path, number: int) -> list[LoadedRun]:
    """Each run's config trained afresh on train + dev (retrain.py), loaded back as a run."""
    done = []
    for i, run in enumerate(runs):
        name = f"retrained_{number}" + (f"_{i}" if len(runs) > 1 else "")
        done.append(load_run(retrain_on_train_and_dev(run, free_path(out_dir / name))))
    return done


def final_page(result: dict, out_dir: Path, run_dir: Path, report_path: Path) -> str | None:
    """final_report_<n>.html beside its JSON: the one page with test scores, never overwritten;
    the dumb baseline's dev-split scores from the run's summary.json (test's would read test again)."""
    from ..evaluation.report_page import read_json, try_write, write_run_page

    baseline = {k: v for k, v in (read_json(run_dir / "summary.json") or {}).items() if k == "baseline"}
    page = try_write(
        write_run_page, out_dir, result, baseline, run_dir=run_dir, kind="evaluation", name=f"{report_path.stem}.html"
    )
    return str(page) if page else None
