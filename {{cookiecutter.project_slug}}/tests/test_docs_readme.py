"""The README's, training.md's and scale.md's commands, run as the pages show them
(the rule for what runs and how: tests/docs_pages.py)."""

from __future__ import annotations

import pytest
from docs_pages import check_pages, newest_run, printed, project_fixture

pytestmark = pytest.mark.slow


project = project_fixture()


RUN_FOLDER = r"outputs/\d{4}-\d{2}-\d{2}/\d{2}-\d{2}-\d{2}-\d{6}"  # the time with microseconds


def first_run(results, project):
    out, run = results[-1].out, newest_run(project)
    problems = printed(
        out,
        [
            "checks: 15 fast checks before training: 15 pass",
            "accuracy of the selected checkpoint (eval mode; test split untouched):",
            "  train      0.9889",
            "  train_dev  0.9833",
            "  dev        0.9944",
            "Diagnosis (error = 1 - accuracy; lower is better)",
        ],
    )
    import re

    if not re.fullmatch(RUN_FOLDER, run.relative_to(project).as_posix()):
        problems.append(f"run folder {run} is not outputs/<date>/<time with microseconds>")
    for name in ["summary.json", "history.json", "checkpoints/best.ckpt", "checkpoints/last.ckpt",
                 ".hydra/config.yaml", "checks.json", "diagnosis.json"]:  # fmt: skip
        if not (run / name).is_file():
            problems.append(f"{run}/{name} is missing")
    return problems


def overfit_loss(results, project):
    import json

    losses = [
        e["train/loss"] for e in json.loads((newest_run(project) / "history.json").read_text()) if "train/loss" in e
    ]
    return [] if losses and losses[-1] < 0.05 else [f"train/loss did not go to ~0: {losses[-3:]}"]


def metrics_csv(results, project):
    return [] if (newest_run(project) / "csv" / "metrics.csv").is_file() else ["no <run>/csv/metrics.csv"]


def one_run_per_value(results, project):
    folders = sorted((project / "multirun").glob("*-*-*/*"), key=lambda p: p.stat().st_mtime)
    found = {p.name for p in folders[-1].iterdir()} if folders else set()
    return [] if {"0", "1"} <= found else [f"no multirun/<date>/<time>/0/ and 1/: {sorted(found)}"]


EXPECT = {
    "python train.py": first_run,
    "python train.py debug=overfit": overfit_loss,
    "python train.py logger=csv": metrics_csv,
    "python train.py -m optimizer=adam,sgd": one_run_per_value,
}
FULL = {"python train.py"}  # the first run: the README shows its numbers


def test_readme_training_and_scale_commands_run_as_shown(project):
    check_pages(["README.md", "docs/training.md", "docs/scale.md"], project, EXPECT, FULL)
