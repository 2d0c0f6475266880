"""maintainers.md's (the benchmarks) and methodology.md's commands, run as the pages show them
(the rule for what runs and how: tests/docs_pages.py)."""

from __future__ import annotations

import pytest
from docs_pages import check_pages, copy_project, in_copy, make_stand_ins, run_in_process

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    copy = copy_project(tmp_path_factory.mktemp("docs") / "project")
    with in_copy(copy):  # the commands' relative paths (outputs/, my.csv) are the copy's
        make_stand_ins(copy)
        yield copy


def test_benchmark_commands_run_as_shown(project):
    check_pages(["docs/maintainers.md", "docs/methodology.md"], project, {})


def test_every_benchmark_answers_help_with_its_flags(project):
    for script in sorted((project / "benchmarks").glob("bench_*.py")):
        code, out = run_in_process(script, ["--help"])
        assert code == 0 and "usage:" in out and "--" in out.split("options:")[-1], f"{script.name}: {out[-1000:]}"
