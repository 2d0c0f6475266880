"""The pre-generation hook rejects each bad answer in one line, and nothing is written."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
from conftest import ROOT, cookiecutter_cli, replay_context


def assert_rejected(done, out_dir, expected: str):
    assert done.returncode != 0, done.stdout + done.stderr
    lines = [
        line for line in done.stderr.splitlines() if line.startswith("ERROR: ") and "Stopping generation" not in line
    ]
    assert len(lines) == 1, done.stderr
    assert expected in lines[0], lines[0]
    assert ": " in lines[0].removeprefix("ERROR: "), "the line names the problem, then the fix"
    # Cookiecutter removes the project folder; a slug like a/b also left parents, which
    # the hook clears a moment later.
    deadline = time.monotonic() + 10
    while any(out_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(out_dir.iterdir()), f"left behind: {[p.name for p in out_dir.iterdir()]}"


# Free-text answers arrive from the prompt or from `cookiecutter --no-input key=value`.
BAD_TEXT_ANSWERS = [
    ({"package_name": "my-package"}, "package_name='my-package' is not a valid Python identifier"),
    ({"package_name": "1digits"}, "package_name='1digits' is not a valid Python identifier"),
    ({"package_name": "digits lab"}, "is not a valid Python identifier"),
    ({"package_name": "class"}, "package_name='class' is a Python keyword"),
    ({"package_name": "torch"}, "would shadow the module 'torch'"),
    ({"package_name": "lightning"}, "would shadow the module 'lightning'"),
    ({"package_name": "hydra"}, "would shadow the module 'hydra'"),
    ({"package_name": "data"}, "would shadow the module 'data'"),
    ({"package_name": "tests"}, "would shadow the module 'tests'"),
    ({"package_name": "train"}, "would shadow the module 'train'"),
    ({"package_name": "json"}, "would shadow Python's standard-library module 'json'"),
    ({"package_name": "logging"}, "would shadow Python's standard-library module 'logging'"),
    (
        {"project_slug": "my project", "package_name": "my_project"},
        "project_slug='my project' is not a usable folder name",
    ),
    ({"project_slug": "a/b", "package_name": "ab"}, "project_slug='a/b' is not a usable folder name"),
    ({"project_slug": "../escape", "package_name": "escape"}, "project_slug='../escape' is not a usable folder name"),
    ({"author_name": ""}, "license=MIT needs a copyright holder but author_name is empty"),
    ({"description": 'The "best" nets'}, "description="),
    ({"author_email": "not-an-address"}, "author_email='not-an-address' is not an e-mail address"),
]


@pytest.mark.parametrize("answers,expected", BAD_TEXT_ANSWERS, ids=[str(a) for a, _ in BAD_TEXT_ANSWERS])
def test_bad_text_answer_is_rejected(cookiecutter_config, tmp_path, answers, expected):
    out = tmp_path / "out"
    args = [f"{k}={v}" for k, v in answers.items()]
    done = cookiecutter_cli(out, "--no-input", str(ROOT), "-o", str(out), *args, config=cookiecutter_config)
    assert_rejected(done, out, expected)


# Choice answers: cookiecutter itself refuses an unlisted choice given on the command line,
# but a replay file (or an older cookiecutter, or a tool built on it) passes any value
# through, so the hook checks them too.
BAD_CHOICES = [
    ({"python_version": "3.9"}, "python_version='3.9' is older than 3.10"),
    ({"python_version": "2.7"}, "python_version='2.7' is older than 3.10"),
    ({"python_version": "three"}, "python_version='three' is not supported"),
    ({"default_logger": "mlflow"}, "default_logger='mlflow' is not supported"),
    ({"default_logger": "none"}, "run with logger=none"),
    ({"license": "GPL-3.0"}, "license='GPL-3.0' is not offered"),
    (
        {"github_actions": "maybe"},
        "github_actions='maybe' is not an answer: use github_actions=yes or github_actions=no",
    ),
    ({"init_git": "sure"}, "init_git='sure' is not an answer: use init_git=yes"),
]


@pytest.mark.parametrize("answers,expected", BAD_CHOICES, ids=[str(a) for a, _ in BAD_CHOICES])
def test_bad_choice_is_rejected(cookiecutter_config, bake, tmp_path, answers, expected):
    context = replay_context(cookiecutter_config, bake, tmp_path)
    context["cookiecutter"].update(answers)
    replay = tmp_path / "bad.json"
    replay.write_text(json.dumps(context))
    out = tmp_path / "out"
    done = cookiecutter_cli(out, "--replay-file", str(replay), str(ROOT), "-o", str(out), config=cookiecutter_config)
    assert_rejected(done, out, expected)


def test_init_git_without_git_is_rejected(cookiecutter_config, tmp_path):
    """An unsupported combination: a repository asked for on a machine with no git."""
    no_git = tmp_path / "bin"
    no_git.mkdir()
    out = tmp_path / "out"
    done = cookiecutter_cli(
        out,
        "--no-input",
        str(ROOT),
        "-o",
        str(out),
        "init_git=yes",
        config=cookiecutter_config,
        env={"PATH": str(no_git)},
    )
    assert_rejected(done, out, "init_git=yes but git is not installed")


def test_all_problems_reported_at_once(cookiecutter_config, tmp_path):
    out = tmp_path / "out"
    done = cookiecutter_cli(
        out, "--no-input", str(ROOT), "-o", str(out), "package_name=torch", "author_email=x", config=cookiecutter_config
    )
    assert done.returncode != 0
    assert "package_name='torch'" in done.stderr and "author_email='x'" in done.stderr
    assert not any(out.iterdir())


def test_good_answers_bake_without_a_tty(cookiecutter_config, tmp_path):
    """`cookiecutter --no-input` with stdin closed: CI's way. Never prompts, even for git."""
    out = tmp_path / "out"
    env = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}  # no git identity
    done = cookiecutter_cli(
        out,
        "--no-input",
        str(ROOT),
        "-o",
        str(out),
        "project_name=Digit Lab",
        "init_git=yes",
        config=cookiecutter_config,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    project = out / "digit-lab"
    assert (project / "train.py").is_file() and (project / ".git").is_dir()
    assert "warning" not in done.stderr
    shutil.rmtree(out)


def test_every_top_level_script_of_the_project_is_a_reserved_name(cookiecutter_config, tmp_path):
    """`python train.py` puts the project root on sys.path: a package named like one of
    its scripts would be shadowed by it. The hook reads the names from the template."""
    scripts = sorted(p.stem for p in (ROOT / "{{cookiecutter.project_slug}}").glob("*.py"))
    assert "train" in scripts
    for name in scripts:
        out = tmp_path / name
        done = cookiecutter_cli(
            out, "--no-input", str(ROOT), "-o", str(out), f"package_name={name}", config=cookiecutter_config
        )
        assert_rejected(done, out, f"would shadow the module '{name}'")
