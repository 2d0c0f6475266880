"""sweeps.md's commands, run as the page shows them
(the rule for what runs and how: tests/docs_pages.py)."""

from __future__ import annotations

import pytest
from docs_pages import check_pages, newest_multirun, project_fixture

pytestmark = pytest.mark.slow


project = project_fixture()


def trials_files(results, project):
    folder = newest_multirun(project)
    return [f"no {folder}/{n}" for n in ("trials.csv", "trials.png") if not (folder / n).is_file()]


def refined(results, project):
    return (
        [] if (project / "configs" / "sweep" / "random_fine.yaml").is_file() else ["no configs/sweep/random_fine.yaml"]
    )


def report(results, project):
    found = list((project / "multirun" / "reports").glob("*/trials.csv"))
    return [] if found else ["no multirun/reports/<study>/trials.csv"]


EXPECT = {
    "python train.py -m sweep=random hydra.sweeper.n_workers=4": trials_files,
    "python refine_sweep.py": refined,
    "python sweep_report.py": report,
}


def test_sweeps_commands_run_as_shown(project):
    check_pages(["docs/sweeps.md"], project, EXPECT)
