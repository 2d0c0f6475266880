"""Template tests: bake the cookiecutter template into temporary folders and check the result.

Run with `bash tests/run.sh` (creates .venv and installs what is needed) or, in an
environment that has cookiecutter, pytest and the generated project's dependencies,
`python -m pytest tests`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]  # the template repository

DEFAULT_SLUG = "my-recipe-project"
DEFAULT_PACKAGE = "my_recipe_project"


@pytest.fixture(scope="session")
def cookiecutter_config(tmp_path_factory) -> Path:
    """A cookiecutter config that keeps replay files out of the user's home."""
    base = tmp_path_factory.mktemp("cookiecutter-home")
    config = base / "config.yaml"
    config.write_text(f"cookiecutters_dir: {base / 'cookiecutters'}\nreplay_dir: {base / 'replay'}\n")
    return config


@pytest.fixture(scope="session")
def bake(cookiecutter_config):
    """bake(out_dir, key=value, ...) -> the generated project's folder (Python API, no prompts)."""
    from cookiecutter.main import cookiecutter

    def _bake(out_dir: Path, **answers: str) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        project = cookiecutter(
            str(ROOT),
            no_input=True,
            output_dir=str(out_dir),
            extra_context=answers,
            config_file=str(cookiecutter_config),
        )
        return Path(project)

    return _bake


def cookiecutter_cli(out_dir: Path, *args: str, config: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the cookiecutter command line as a user (or CI) does, with no TTY."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--config-file", str(config), *args],
        cwd=out_dir,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def replay_context(cookiecutter_config: Path, bake, tmp_path: Path) -> dict:
    """The full context of a default bake, as cookiecutter saved it for --replay."""
    bake(tmp_path / "replay-source")
    replay_dir = Path(cookiecutter_config.read_text().split("replay_dir: ")[1].strip())
    [replay] = replay_dir.glob(f"{ROOT.name}.json")
    return json.loads(replay.read_text())
