"""The baked project and the template's own tests are formatted and lint-clean (ruff), and the
baked project's pre-commit hooks catch a slip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

BIN = Path(sys.executable).parent  # ruff and pre-commit, installed beside this Python


def run(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(args), cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})},
    )  # fmt: skip


def test_a_baked_project_is_lint_clean_and_its_pre_commit_hooks_fix_a_slip(bake, tmp_path):
    project = bake(tmp_path, project_name="Digit Lab", python_version="3.12", init_git="yes")
    env = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    done = run(project, str(BIN / "pre-commit"), "run", "--all-files", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ruff format" in done.stdout and "ruff check" in done.stdout

    slip = project / "src" / "digit_lab" / "slip.py"
    slip.write_text("import sys\nimport os\nvalues=[1,2 ,3]\n")
    run(project, "git", "add", str(slip))
    done = run(project, str(BIN / "pre-commit"), "run", "--all-files", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert slip.read_text() == "values = [1, 2, 3]\n"  # formatted, unused imports removed by ruff check --fix


def test_the_templates_own_code_is_lint_clean():
    for command in (["check", "."], ["format", "--check", "."]):
        done = run(ROOT, str(BIN / "ruff"), *command)
        assert done.returncode == 0, done.stdout + done.stderr
