"""maintainers.md's (the benchmarks) and methodology.md's commands, run as the pages show them
(the rule for what runs and how: tests/docs_pages.py)."""

from __future__ import annotations

import pytest
from docs_pages import check_pages, copy_project, in_copy, make_stand_ins

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    copy = copy_project(tmp_path_factory.mktemp("docs") / "project")
    with in_copy(copy):  # the commands' relative paths (outputs/, my.csv) are the copy's
        make_stand_ins(copy)
        yield copy


def test_benchmark_commands_run_as_shown(project):
    check_pages(["docs/maintainers.md", "docs/methodology.md"], project, {})
