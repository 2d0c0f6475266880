"""A baked project takes later template changes (cruft update) and keeps the user's edits."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import DEFAULT_PACKAGE, ROOT

NETS = Path("src") / DEFAULT_PACKAGE / "user/nets.py"
TEMPLATE_NETS = Path("{{cookiecutter.project_slug}}") / "src" / "{{cookiecutter.package_name}}" / "user/nets.py"
TEMPLATE_TRAINING = Path("{{cookiecutter.project_slug}}") / "src" / "{{cookiecutter.package_name}}" / "training/fit.py"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_cruft_update_brings_a_template_change_and_keeps_the_users_edit(tmp_path, cookiecutter_config):
    from cookiecutter.main import cookiecutter

    # The template as it is now, as a git repository of its own: version 1.
    template = tmp_path / "template"
    shutil.copytree(ROOT, template, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", ".ruff_cache"))
    git(template, "init", "-q", "-b", "main")
    git(template, "add", "-A")
    git(template, "commit", "-q", "-m", "v1")
    v1 = git(template, "rev-parse", "HEAD")

    # Baked with plain cookiecutter: the post-gen hook records where it came from.
    project = Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp_path / "out"),
                                extra_context={"init_git": "yes"}, config_file=str(cookiecutter_config)))  # fmt: skip
    record = json.loads((project / ".cruft.json").read_text())
    assert record["template"] == str(template) and record["commit"] == v1
    assert record["context"]["cookiecutter"]["package_name"] == DEFAULT_PACKAGE

    # The user adds their own net at the end of user/nets.py and commits.
    user_net = "\n\nclass MyNet(nn.Module):  # the user's own\n    pass\n"
    with open(project / NETS, "a") as f:
        f.write(user_net)
    git(project, "commit", "-qam", "my net")

    # Version 2 of the template: a recipe file changes, the top of user/nets.py changes, a file is added.
    training = (template / TEMPLATE_TRAINING).read_text()
    (template / TEMPLATE_TRAINING).write_text(training + "\n# template v2: a fix in the recipe\n")
    nets = (template / TEMPLATE_NETS).read_text()
    first, rest = nets.split("\n", 1)
    (template / TEMPLATE_NETS).write_text(first + "\n# template v2: a note at the top of user/nets.py\n" + rest)
    (template / "{{cookiecutter.project_slug}}" / "configs" / "experiment" / "v2_example.yaml").write_text(
        "# @package _global_\n# new in template v2 for {{ cookiecutter.project_name }}\n"
    )
    git(template, "add", "-A")
    git(template, "commit", "-q", "-m", "v2")
    v2 = git(template, "rev-parse", "HEAD")

    done = subprocess.run(
        [sys.executable, "-m", "cruft", "update", "--skip-apply-ask"],
        cwd=project, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    assert (
        (project / "src" / DEFAULT_PACKAGE / "training/fit.py").read_text().endswith("# template v2: a fix in the recipe\n")
    )
    nets_now = (project / NETS).read_text()
    assert "# template v2: a note at the top of user/nets.py" in nets_now and nets_now.endswith(user_net)
    added = project / "configs" / "experiment" / "v2_example.yaml"
    assert added.read_text() == "# @package _global_\n# new in template v2 for My Recipe Project\n"
    assert json.loads((project / ".cruft.json").read_text())["commit"] == v2
    assert not list(project.rglob("*.rej")), "every hunk applied"
    assert git(project, "log", "--format=%s") == "my net\nInitial commit from the lightning-recipe template"
