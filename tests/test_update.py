"""A baked project takes later template changes (cruft update) and keeps the user's edits; the user
folder (src/<package>/user/) is the user's alone: an update never edits it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEFAULT_PACKAGE, ROOT

PACKAGE = Path("src") / DEFAULT_PACKAGE
NETS = PACKAGE / "user/nets.py"
TEMPLATE_PACKAGE = Path("{{cookiecutter.project_slug}}") / "src" / "{{cookiecutter.package_name}}"
TEMPLATE_NETS = TEMPLATE_PACKAGE / "user/nets.py"
TEMPLATE_TRAINING = TEMPLATE_PACKAGE / "training/fit.py"
# The last template commit before the package's stage folders (nets.py and sources.py at the top
# of the package, then moved into user/): projects baked from it are out there.
BEFORE_THE_USER_FOLDER = "5a82237"
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".ruff_cache", ".pytest_cache")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def cruft_update(project: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "cruft", "update", "--skip-apply-ask"],
        cwd=project, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def bake_from(template: Path, out: Path, cookiecutter_config: Path) -> Path:
    """Baked with plain cookiecutter, as a user does: the post-gen hook records where it came from."""
    from cookiecutter.main import cookiecutter

    return Path(cookiecutter(str(template), no_input=True, output_dir=str(out),
                             extra_context={"init_git": "yes"}, config_file=str(cookiecutter_config)))  # fmt: skip


def test_cruft_update_brings_a_template_change_and_never_edits_the_user_folder(tmp_path, cookiecutter_config):
    # The template as it is now, as a git repository of its own: version 1.
    template = tmp_path / "template"
    shutil.copytree(ROOT, template, ignore=COPY_IGNORE)
    git(template, "init", "-q", "-b", "main")
    v1 = commit_all(template, "v1")

    project = bake_from(template, tmp_path / "out", cookiecutter_config)
    record = json.loads((project / ".cruft.json").read_text())
    assert record["template"] == str(template) and record["commit"] == v1
    assert record["context"]["cookiecutter"]["package_name"] == DEFAULT_PACKAGE
    assert f"src/{DEFAULT_PACKAGE}/user" in record["skip"]

    # The user adds their own net at the end of user/nets.py and commits.
    with open(project / NETS, "a") as f:
        f.write("\n\nclass MyNet(nn.Module):  # the user's own\n    pass\n")
    users_nets = (project / NETS).read_bytes()
    git(project, "commit", "-qam", "my net")

    # Version 2 of the template: a recipe file changes, the top of user/nets.py changes, a config
    # and a module in user/ are added.
    training = (template / TEMPLATE_TRAINING).read_text()
    (template / TEMPLATE_TRAINING).write_text(training + "\n# template v2: a fix in the recipe\n")
    nets = (template / TEMPLATE_NETS).read_text()
    first, rest = nets.split("\n", 1)
    (template / TEMPLATE_NETS).write_text(first + "\n# template v2: a note at the top of user/nets.py\n" + rest)
    (template / TEMPLATE_NETS.parent / "v2_example.py").write_text('"""new in template v2"""\n')
    (template / "{{cookiecutter.project_slug}}" / "configs" / "experiment" / "v2_example.yaml").write_text(
        "# @package _global_\n# new in template v2 for {{ cookiecutter.project_name }}\n"
    )
    v2 = commit_all(template, "v2")

    cruft_update(project)

    fit = (project / PACKAGE / "training/fit.py").read_text()
    assert fit.endswith("# template v2: a fix in the recipe\n")
    assert (project / NETS).read_bytes() == users_nets, "the user folder is skipped: the user's file as it was"
    assert not (project / NETS.parent / "v2_example.py").exists()
    added = project / "configs" / "experiment" / "v2_example.yaml"
    assert added.read_text() == "# @package _global_\n# new in template v2 for My Recipe Project\n"
    assert json.loads((project / ".cruft.json").read_text())["commit"] == v2
    assert not list(project.rglob("*.rej")), "every hunk applied"
    assert git(project, "log", "--format=%s") == "my net\nInitial commit from the lightning-recipe template"


MY_NET = '''

class MyNet(MLP):
    """The user's own: the template's MLP that refuses to have no hidden layer."""

    def __init__(self, input_shape, num_outputs: int, hidden=(256, 128), **kwargs):
        if not hidden:
            raise ConfigError("MyNet needs at least one hidden layer")
        super().__init__(input_shape, num_outputs, hidden, **kwargs)
'''


@pytest.mark.parametrize("renames", [True, False], ids=["git-finds-the-move", "git-without-rename-detection"])
def test_cruft_update_from_before_the_user_folder_says_what_to_move(tmp_path, cookiecutter_config, renames):
    """A project baked before the package had its user/ folder, with a net of the user's own in
    nets.py and a config naming it, is brought up to date with cruft update. Every script then
    refuses to run in one line that says what to move; done as said, training runs.

    What cruft does to the old nets.py depends on git's rename detection in the template's diff
    (diff.renames, on by default since git 2.9): with it, the edited nets.py is moved into
    user/nets.py by a three-way merge (the user's net kept); without it the deletion of an edited
    file does not apply and nets.py stays where it was."""
    template = tmp_path / "template"
    template.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE_THE_USER_FOLDER], capture_output=True)
    if archive.returncode != 0:
        pytest.fail(
            f"the template commit {BEFORE_THE_USER_FOLDER} (the last before the user/ folder) is not in {ROOT}: "
            f"this test needs the template's full git history (a full `git clone`, not a shallow one or a copy); "
            f"git said: {archive.stderr.decode().strip()}"
        )
    subprocess.run(["tar", "-x", "-C", str(template)], input=archive.stdout, check=True)
    git(template, "init", "-q", "-b", "main")
    commit_all(template, "v1: before the user folder")

    project = bake_from(template, tmp_path / "out", cookiecutter_config)
    old_nets = project / PACKAGE / "nets.py"
    with open(old_nets, "a") as f:
        f.write(MY_NET)
    mlp = (project / "configs" / "model" / "mlp.yaml").read_text()
    assert f"_target_: {DEFAULT_PACKAGE}.nets.MLP" in mlp
    my_net = mlp.replace(f"_target_: {DEFAULT_PACKAGE}.nets.MLP", f"_target_: {DEFAULT_PACKAGE}.nets.MyNet")
    (project / "configs" / "model" / "my_net.yaml").write_text(my_net)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "my net")

    # Version 2: the template as it is in this working tree.
    for path in template.iterdir():
        if path.name != ".git":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    shutil.copytree(ROOT, template, ignore=COPY_IGNORE, dirs_exist_ok=True)
    commit_all(template, "v2: the user folder")

    no_renames = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "diff.renames", "GIT_CONFIG_VALUE_0": "false"}
    cruft_update(project, env=None if renames else no_renames)

    # cruft keeps .cruft.json's own skip list; the user folder reaches the project's skip through
    # pyproject.toml's [tool.cruft], which the update brought, so later updates leave user/ alone.
    assert f'"src/{DEFAULT_PACKAGE}/user"' in (project / "pyproject.toml").read_text()
    user_nets = project / NETS
    assert "class MLP" in user_nets.read_text() and "from ..common import ConfigError" in user_nets.read_text()
    assert not (project / PACKAGE / "sources.py").exists(), "the user never edited it: moved (or deleted) cleanly"
    assert not list(project.rglob("*.rej"))
    if renames:  # moved with the user's net in it
        assert not old_nets.exists() and user_nets.read_text().endswith(MY_NET)
    else:  # left where it was, the user's net in it
        assert old_nets.read_text().endswith(MY_NET) and "MyNet" not in user_nets.read_text()

    def script(name: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, name, *args],
            cwd=project, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
            env={**os.environ, "PYTHONPATH": str(project / "src"), "WANDB_MODE": "offline"},
        )  # fmt: skip

    def train() -> subprocess.CompletedProcess:
        return script("train.py", "model=my_net", "trainer.max_epochs=1", "logger=csv")

    done = train()
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stdout + done.stderr
    [line] = lines
    assert line.startswith("error: ")
    assert "configs/model/my_net.yaml" in line
    assert f"'{DEFAULT_PACKAGE}.model.TaskModule' to '{DEFAULT_PACKAGE}.model.task_module.TaskModule'" in line
    if not renames:
        assert f"src/{DEFAULT_PACKAGE}/nets.py is from before the user/ folder" in line
        assert f"into src/{DEFAULT_PACKAGE}/user/nets.py" in line
        assert f"then delete src/{DEFAULT_PACKAGE}/nets.py" in line
    assert f"'{DEFAULT_PACKAGE}.nets.' to '{DEFAULT_PACKAGE}.user.nets.'" in line
    # the copied mlp.yaml still passes the task's settings to TaskModule, which now gets a built task
    assert "configs/model/my_net.yaml sets label_smoothing and class_costs, which the task now takes" in line
    assert not (project / "outputs").exists(), "refused before Hydra made a run folder"
    for other in sorted(p.name for p in project.glob("*.py") if p.name != "train.py"):  # every script: the same line
        done = script(other)
        assert (done.returncode, done.stderr.strip()) == (2, line), f"{other}: {done.stdout + done.stderr}"

    # Done as the line says: the user's net moved beside MLP and CNN, the configs' old names
    # changed, the old file deleted.
    if old_nets.exists():
        text = old_nets.read_text()
        with open(user_nets, "a") as f:
            f.write(text[text.index("\n\nclass MyNet") :])
    for old in re.findall(r"then delete (\S+?)(?:;|$)", line):
        (project / old).unlink()
    changes = re.findall(r"'([^']+)' to '([^']+)'", line)
    deleted = re.findall(r"'(\w+):'", line.partition("delete the line")[2])
    assert deleted == ["label_smoothing", "class_costs"]
    for config in (project / "configs").rglob("*.yaml"):
        text = config.read_text()
        for old, new in changes:
            text = text.replace(old, new)
        if config.parent.name == "model":
            text = "".join(kept for kept in text.splitlines(True) if kept.split(":")[0] not in deleted)
        config.write_text(text)

    done = train()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert len(list((project / "outputs").glob("*/*"))) == 1
