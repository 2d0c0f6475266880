"""k-fold cross-validation summary (M6): the fold runs of one folder, side by side.

    python train.py -m data.splits=kfold data.fold='range(5)'    writes multirun/<date>/<time>/cv_summary.json at the end
    python cv_summary.py dir=multirun/<date>/<time>              the same, again, for any such folder
    python cv_summary.py dir=multirun/<date>/<time>/trial_3      one trial of a k-fold sweep (its fold_<i> folders)

Per fold, and mean ± standard deviation over the folds, of the optimizing metric on train,
train_dev and dev; then the diagnosis (evaluation/diagnosis.py) on the fold-averaged errors. The dev
folds are disjoint and together hold every non-test example, so the averaged dev error
rests on K times as many examples as one fold's dev and its noise band is that much
tighter. Read from the runs' summary.json and diagnosis.json only: the test split is never
read here.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from ..common import ConfigError

SPLITS = ("train", "train_dev", "dev")
FILE = "cv_summary.json"


def fold_runs(directory: Path) -> list[dict]:
    """The finished data.splits=kfold runs directly under `directory`, by fold."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"{directory} is not a folder; pass a multirun folder, e.g. dir=multirun/<date>/<time>")
    runs = []
    for run_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        config, summary, diagnosis = (
            run_dir / ".hydra" / "config.yaml",
            run_dir / "summary.json",
            run_dir / "diagnosis.json",
        )
        if not (config.is_file() and summary.is_file() and diagnosis.is_file()):
            continue  # not a run, or one that did not finish
        cfg = OmegaConf.to_container(OmegaConf.load(config), resolve=False)
        data = cfg.get("data") or {}
        if data.get("splits") != "kfold":
            continue
        fold = data.pop("fold", None) or 0
        cfg.pop("sweep_trial", None)  # a sweep's bookkeeping, not the configuration
        runs.append(
            {
                "fold": int(fold),
                "folds": int(data.get("folds", 5)),
                "dir": run_dir,
                "config": _flat(cfg),
                "summary": json.loads(summary.read_text()),
                "diagnosis": json.loads(diagnosis.read_text()),
            }
        )
    return sorted(runs, key=lambda r: r["fold"])


def summarize(runs: list[dict], directory: Path) -> dict:
    """Per-fold scores, their mean and standard deviation, and the diagnosis of the mean errors."""
    from .diagnosis import diagnose

    if not runs:
        raise ConfigError(
            f"no finished k-fold runs (data.splits=kfold, with summary.json) directly under {directory}; "
            "for a k-fold sweep pass one trial's folder, e.g. multirun/<date>/<time>/trial_0"
        )
    first = runs[0]
    for run in runs[1:]:
        if run["config"] != first["config"]:
            key = next(
                k for k in sorted({*first["config"], *run["config"]}) if first["config"].get(k) != run["config"].get(k)
            )
            raise ConfigError(
                f"the runs {first['dir'].name} and {run['dir'].name} in {directory} differ in {key} "
                f"({first['config'].get(key)} vs {run['config'].get(key)}), not only in data.fold, so they are not one "
                "cross-validation; to compare configurations by their folds, sweep them: python train.py -m "
                "sweep=grid data.splits=kfold ..."
            )
    folds = [r["fold"] for r in runs]
    twice = sorted({f for f in folds if folds.count(f) > 1})
    if twice:
        raise ConfigError(f"fold {twice[0]} ran more than once in {directory}; keep one run per fold")
    metric = first["summary"]["objective"]
    scores = {s: [r["summary"]["scores"].get(s) for r in runs] for s in SPLITS}
    errors = {s: _mean([r["diagnosis"]["errors"].get(s) for r in runs]) for s in SPLITS}
    # dev: the folds are disjoint, so the summed size is the number of examples scored. train and
    # train_dev overlap between folds: summing their sizes (as diagnose's n) understates their noise.
    n = {s: sum(r["diagnosis"]["scores"][s]["n"] for r in runs) for s in SPLITS}
    bounded = "gap_noise" in first["diagnosis"]  # what each fold's own diagnosis used (error rates in [0, 1])
    levels = _mean_levels([r["diagnosis"] for r in runs], metric, scores)
    diagnosis = diagnose(errors, first["diagnosis"]["errors"].get("human"), n, bounded, **levels)
    return {
        "metric": metric,
        "error_measure": first["diagnosis"].get("error_measure"),
        "folds": first["folds"],
        "missing_folds": [f for f in range(first["folds"]) if f not in folds],
        "per_fold": [
            {"fold": r["fold"], **{s: scores[s][i] for s in SPLITS}, "run_dir": str(r["dir"])}
            for i, r in enumerate(runs)
        ],
        "mean": {s: _mean(scores[s]) for s in SPLITS},
        "std": {s: _std(scores[s]) for s in SPLITS},  # sample standard deviation over the folds
        "n": n,
        "diagnosis": diagnosis,
        "test_split_reads": sum(int(r["summary"].get("test_split_reads") or 0) for r in runs),
    }


def format_summary(cv: dict, directory: Path) -> str:
    from .diagnosis import format_table

    ran = len(cv["per_fold"])
    lines = [
        f"\nCross-validation, {ran} of {cv['folds']} folds ({directory}): {cv['metric']} of each fold's selected checkpoint"
    ]
    lines.append(f"  {'fold':<6}" + "".join(f"{s:>11}" for s in SPLITS))
    for row in cv["per_fold"]:
        lines.append(f"  {row['fold']:<6}" + "".join(_cell(row[s]) for s in SPLITS))
    lines.append(f"  {'mean':<6}" + "".join(_cell(cv["mean"][s]) for s in SPLITS))
    lines.append(f"  {'std':<6}" + "".join(_cell(cv["std"][s]) for s in SPLITS))
    if cv["missing_folds"]:
        lines.append(
            f"  NOTE: fold(s) {', '.join(map(str, cv['missing_folds']))} did not finish: the mean is over the other folds"
        )
    lines.append(f"  the dev folds hold {cv['n']['dev']} examples, each scored once; the test split is untouched")
    lines.append(format_table(cv["diagnosis"], f"{cv['error_measure']}, averaged over the folds"))
    return "\n".join(lines)


def write_summary(directory: Path, runs: list[dict] | None = None, echo=print) -> dict:
    """cv_summary.json in `directory`, and the table."""
    directory = Path(directory)
    cv = summarize(fold_runs(directory) if runs is None else runs, directory)
    (directory / FILE).write_text(json.dumps(cv, indent=2))
    echo(format_summary(cv, directory))
    echo(f"cross-validation summary {directory / FILE}")
    from .report_page import try_write, write_cv_page

    try_write(write_cv_page, cv, directory)
    return cv


class CrossValidationCallback(Callback):
    """Hydra callback (configs/train.yaml, hydra.callbacks): at the end of a `train.py -m` whose
    jobs are folds of one k-fold cross-validation, write its summary. Any other multirun: nothing.
    A k-fold sweep's trials are folders of folds themselves: cv_summary.py dir=DIR/trial_<n>."""

    def on_multirun_end(self, config, **kwargs) -> None:
        directory = Path(str(config.hydra.sweep.dir))
        runs = fold_runs(directory) if directory.is_dir() else []
        if not runs:
            return
        try:
            write_summary(directory, runs)
        except ConfigError as e:
            print(f"note: no cross-validation summary: {e}")


def _flat(node, prefix: str = "") -> dict:
    """{dotted key: value} of a config, to name the key in which two runs differ."""
    if not isinstance(node, dict):
        return {prefix: node}
    return {
        k: v for key, child in node.items() for k, v in _flat(child, f"{prefix}.{key}" if prefix else str(key)).items()
    }


def _mean_levels(diagnoses: list[dict], metric: str, scores: dict) -> dict:
    """The folds' reference and floor, averaged like their errors (when every fold has them)."""
    levels: dict = {}
    refs = [d.get("reference") for d in diagnoses]
    if all(refs):
        levels["reference"] = {
            "model": refs[0]["model"],
            "metric": metric,
            "errors": {s: _mean([r["errors"].get(s) for r in refs]) for s in SPLITS},
            "scores": {s: _mean([r["scores"].get(s) for r in refs]) for s in SPLITS},
            "net_scores": {s: _mean(scores[s]) for s in SPLITS},
        }
    floors = [d.get("error_floor") for d in diagnoses]
    if all(f is not None for f in floors):
        levels["floor"] = _mean(floors)
    return levels


def _mean(values: list) -> float | None:
    return None if not values or any(v is None for v in values) else statistics.fmean(values)


def _std(values: list) -> float | None:
    return None if len(values) < 2 or any(v is None for v in values) else statistics.stdev(values)


def _cell(value) -> str:
    return f"{value:>11.4f}" if value is not None else f"{'n/a':>11}"
