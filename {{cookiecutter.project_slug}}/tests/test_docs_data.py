"""data.md's and tasks.md's commands, run as the pages show them
(the rule for what runs and how: tests/docs_pages.py)."""

from __future__ import annotations

import pytest
from docs_pages import check_pages, printed, project_fixture

pytestmark = pytest.mark.slow


project = project_fixture()


def shards(results, project):
    missing = [
        s for s in ("train", "train_dev", "dev", "test", "spec.json") if not (project / "prepared" / "big" / s).exists()
    ]
    hydra_runs = [p for p in project.glob("outputs/*/*/.hydra/overrides.yaml") if "out=prepared/big" in p.read_text()]
    return [f"no prepared/big/{s}" for s in missing] + [f"prepare_data.py made a run folder: {p}" for p in hydra_runs]


def examples(results, project):
    return [f"no examples/{n}" for n in ("animals.csv", "digit_images") if not (project / "examples" / n).exists()]


def cv_summary(results, project):
    return printed(results[-1].out, ["Cross-validation, 5 of 5 folds", "the test split is untouched"])


EXPECT = {
    "python make_examples.py": examples,
    "python prepare_data.py data=table data.path=big.parquet data.target=label out=prepared/big": shards,
    "python train.py -m data.splits=kfold data.fold='range(5)'": cv_summary,
    "python train.py data=diabetes data.task=huber": lambda results, project: printed(
        results[-1].out, ["the default for task huber", "mae of the selected checkpoint"]
    ),
}


def test_data_and_tasks_commands_run_as_shown(project):
    check_pages(["docs/data.md", "docs/tasks.md"], project, EXPECT)
