"""The Python the README and docs/ show passes this project's own `ruff format --check`
(pyproject.toml's settings): a reader pastes it, and the lint the README shows stays clean."""

from __future__ import annotations

import subprocess
import sys

from docs_pages import PROJECT, read_page

PAGES = ["README.md", *sorted(p.relative_to(PROJECT).as_posix() for p in (PROJECT / "docs").glob("*.md"))]


def test_every_python_block_of_the_docs_is_formatted(tmp_path):
    files = []
    for name in PAGES:
        for line, code in read_page(PROJECT / name).python_blocks:
            files.append(tmp_path / f"{name.replace('/', '_')}_line{line}.py")
            files[-1].write_text(code)
    assert len(files) >= 2, "the README's model and data.md's source are there"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--check",
            "--diff",
            "--config",
            str(PROJECT / "pyproject.toml"),
            *files,
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
