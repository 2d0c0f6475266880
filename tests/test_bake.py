"""Bake every supported combination of answers and check what comes out."""

from __future__ import annotations

import ast
import datetime
import itertools
import re
import subprocess
import sys

import pytest
import yaml
from conftest import DEFAULT_PACKAGE, DEFAULT_SLUG, ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

LOGGERS = ["wandb", "tensorboard", "csv"]
LICENSES = ["MIT", "BSD-3-Clause", "Apache-2.0", "none"]
YES_NO = ["yes", "no"]
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

# GitHub Actions expressions, which the workflow must keep literally after rendering.
GITHUB_EXPRESSION = re.compile(r"\$\{\{ [\w.-]+ \}\}")
JINJA_LEFTOVERS = ("{{", "{%", "{#")  # openers only: "}}" closes nested dicts in Python


def test_cookiecutter_json_offers_exactly_what_the_hook_accepts():
    import json

    context = json.loads((ROOT / "cookiecutter.json").read_text())
    assert sorted(context["default_logger"]) == sorted(LOGGERS)
    assert sorted(context["license"]) == sorted(LICENSES)
    assert sorted(context["python_version"]) == PYTHONS
    assert context["github_actions"][0] == "yes" and sorted(context["github_actions"]) == sorted(YES_NO)
    assert context["init_git"][0] == "no" and sorted(context["init_git"]) == sorted(YES_NO)
    prompts = context["__prompts__"]
    assert set(prompts) == {k for k in context if not k.startswith("_")}, "every answer has a human prompt"


def baked_files(project):
    return [p for p in project.rglob("*") if p.is_file() and ".git" not in p.relative_to(project).parts]


def check_rendered(project):
    """No Jinja left in any file name or text; every .py/.yaml/.toml file still parses."""
    for path in baked_files(project):
        rel = path.relative_to(project)
        assert not any(mark in str(rel) for mark in JINJA_LEFTOVERS), f"unrendered file name {rel}"
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        checked = GITHUB_EXPRESSION.sub("", text) if rel.parts[0] == ".github" else text
        if path.suffix == ".j2":  # the project's own Jinja2 templates (report_page.html.j2): copied unrendered
            checked = ""
        for mark in JINJA_LEFTOVERS:
            assert mark not in checked, f"{rel}: {mark!r} left after rendering"
        assert "cookiecutter." not in text, f"{rel}: mentions cookiecutter.<variable>"
        if path.suffix == ".py":
            ast.parse(text, filename=str(rel))
        elif path.suffix in (".yaml", ".yml"):
            yaml.safe_load(text)
        elif path.suffix == ".toml":
            tomllib.loads(text)


def selected_logger(project) -> str:
    defaults = yaml.safe_load((project / "configs" / "train.yaml").read_text())["defaults"]
    [logger] = [d["logger"] for d in defaults if isinstance(d, dict) and "logger" in d]
    return logger


def git(project, *args) -> str:
    return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(
    "logger,license,github_actions,init_git",
    list(itertools.product(LOGGERS, LICENSES, YES_NO, YES_NO)),
)
def test_every_combination_bakes(bake, tmp_path, logger, license, github_actions, init_git):
    project = bake(
        tmp_path,
        default_logger=logger,
        license=license,
        github_actions=github_actions,
        init_git=init_git,
        author_name="Ada Lovelace",
    )
    assert project.name == DEFAULT_SLUG
    assert (project / "src" / DEFAULT_PACKAGE / "__init__.py").is_file()
    check_rendered(project)

    assert selected_logger(project) == logger

    pyproject = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    year = datetime.datetime.now(datetime.timezone.utc).year
    if license == "none":
        assert not (project / "LICENSE").exists()
        assert "license" not in pyproject
    else:
        text = (project / "LICENSE").read_text()
        assert pyproject["license"] == license
        title = {"MIT": "MIT License", "BSD-3-Clause": "BSD 3-Clause License", "Apache-2.0": "Apache License"}[license]
        assert text.lstrip().startswith(title), text[:80]
        assert f"{year}" in text and "Ada Lovelace" in text
        assert "[yyyy]" not in text and "[name of copyright owner]" not in text

    workflow = project / ".github" / "workflows" / "tests.yml"
    if github_actions == "yes":
        text = workflow.read_text()
        assert "${{ matrix.python-version }}" in text and "${{ github.ref }}" in text
        steps = [s.get("run", "") for s in yaml.safe_load(text)["jobs"]["test"]["steps"]]
        install = next(s for s in steps if "pip install" in s)
        assert install.index("download.pytorch.org/whl/cpu") < install.index('pip install -e ".[dev'), "CPU torch first"
        assert any("pytest" in s for s in steps)
    else:
        assert not (project / ".github").exists()

    if init_git == "yes":
        assert git(project, "rev-list", "--count", "HEAD").strip() == "1"
        assert git(project, "status", "--porcelain", "--ignored") == "", (
            "everything generated is committed, nothing ignored"
        )
        tracked = set(git(project, "ls-files").split())
        assert {"train.py", "configs/data/digits.yaml", "pyproject.toml", ".gitignore"} <= tracked
    else:
        assert not (project / ".git").exists()


@pytest.mark.parametrize("python_version", PYTHONS)
def test_python_version_reaches_pyproject_and_workflow(bake, tmp_path, python_version):
    project = bake(tmp_path, python_version=python_version, github_actions="yes")
    check_rendered(project)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert pyproject["requires-python"] == f">={python_version}"
    workflow = yaml.safe_load((project / ".github" / "workflows" / "tests.yml").read_text())
    matrix = workflow["jobs"]["test"]["strategy"]["matrix"]["python-version"]
    assert matrix[0] == python_version and "3.13" in matrix


def test_names_are_derived_from_the_project_name_and_editable(bake, tmp_path):
    derived = bake(tmp_path / "a", project_name="Digit Lab")
    assert derived.name == "digit-lab" and (derived / "src" / "digit_lab").is_dir()
    assert "digit_lab.user.sources.load_digits" in (derived / "configs" / "data" / "digits.yaml").read_text()

    edited = bake(tmp_path / "b", project_name="Digit Lab", project_slug="lab", package_name="digitlab")
    assert edited.name == "lab" and (edited / "src" / "digitlab").is_dir()
    assert "digitlab.user.nets.MLP" in (edited / "configs" / "model" / "mlp.yaml").read_text()
    assert (edited / "README.md").read_text().startswith("# Digit Lab")


def test_gitignore_keeps_sources_and_ignores_run_outputs(bake, tmp_path):
    project = bake(tmp_path, init_git="yes")
    for junk in [
        "data/raw.csv",
        "outputs/2026-01-01/12-00-00/x.txt",
        "multirun/a/0/x.txt",
        "logs/x.txt",
        "wandb/run/x",
        "lightning_logs/v0/x",
        ".env",
        "checkpoints/last.ckpt",
        "model.ckpt",
        ".venv/bin/python",
        f"src/{DEFAULT_PACKAGE}/__pycache__/x.pyc",
        "examples/animals.csv",
        "examples/digit_images/one/0001.png",
    ]:
        path = project / junk
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert git(project, "status", "--porcelain") == "", "run outputs, data and secrets must be ignored"
    assert "configs/data/digits.yaml" in git(project, "ls-files")


def test_help_does_not_import_torch(bake, tmp_path):
    """`python train.py --help` must answer without paying for torch or lightning."""
    project = bake(tmp_path)
    env = {"PYTHONPATH": str(project / "src"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "train.py", "--help"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "== Configuration groups ==" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "hydra" in imported, "importtime output was not parsed"
    assert not imported & {"torch", "lightning", "pytorch_lightning", "torchmetrics", "wandb"}

    bench = subprocess.run(
        [sys.executable, "benchmarks/bench_help.py", "--runs", "1"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "no torch, no lightning" in bench.stdout, bench.stdout + bench.stderr
    assert re.search(r"median\s+\d+\.\d+ s", bench.stdout)


def test_readme_is_short_its_links_resolve_and_every_cited_methodology_id_is_defined(bake, tmp_path):
    """The README is the newcomer's minute (the map of yours / recipe early, the rest in docs/);
    a link that leads nowhere, or an id like M31 cited in a comment but defined nowhere in the
    project, leaves a reader stuck."""
    import re

    project = bake(tmp_path)
    readme = (project / "README.md").read_text()
    assert len(readme.splitlines()) <= 210
    assert readme.index("yours") < readme.index("## Install")  # the map before the commands
    for page in [project / "README.md", *sorted((project / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"
    cited = {m for f in project.rglob("*.py") for m in re.findall(r"\bM([1-9][0-9]?)\b", f.read_text())}
    defined = set(re.findall(r"\bM([1-9][0-9]?)\b", (project / "docs" / "methodology.md").read_text()))
    assert cited and cited <= defined, (
        f"cited in the code, not in docs/methodology.md: {sorted(cited - defined, key=int)}"
    )
