"""maintainers.md's (the benchmarks) and methodology.md's commands, run as the pages show them
(the rule for what runs and how: tests/docs_pages.py)."""

from __future__ import annotations

import pytest
from docs_pages import check_pages, project_fixture, run_in_process

pytestmark = pytest.mark.slow


project = project_fixture()


def test_benchmark_commands_run_as_shown(project):
    check_pages(["docs/maintainers.md", "docs/methodology.md"], project, {})


def test_every_benchmark_answers_help_with_its_flags(project):
    for script in sorted((project / "benchmarks").glob("bench_*.py")):
        code, out = run_in_process(script, ["--help"])
        assert code == 0 and "usage:" in out and "--" in out.split("options:")[-1], f"{script.name}: {out[-1000:]}"
