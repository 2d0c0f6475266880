"""Reject answers that cannot give a working project, before any file is written.

Each problem is reported on one line that names the answer and the fix; the hook then
exits non-zero and cookiecutter removes the (still empty) project folder.
Standard library only: this runs in whatever Python cookiecutter runs in.
"""

import keyword
import os
import re
import shutil
import subprocess
import sys

PROJECT_SLUG = {{ cookiecutter.project_slug | tojson }}
PACKAGE_NAME = {{ cookiecutter.package_name | tojson }}
PYTHON_VERSION = {{ cookiecutter.python_version | tojson }}
DEFAULT_LOGGER = {{ cookiecutter.default_logger | tojson }}
LICENSE = {{ cookiecutter.license | tojson }}
GITHUB_ACTIONS = {{ cookiecutter.github_actions | tojson }}
INIT_GIT = {{ cookiecutter.init_git | tojson }}
AUTHOR_NAME = {{ cookiecutter.author_name | tojson }}
AUTHOR_EMAIL = {{ cookiecutter.author_email | tojson }}
DESCRIPTION = {{ cookiecutter.description | tojson }}
OUTPUT_DIR = {{ cookiecutter._output_dir | default("") | tojson }}  # unset when cruft update renders the template
REPO_DIR = {{ cookiecutter._repo_dir | default("") | tojson }}

SUPPORTED_PYTHON = ("3.10", "3.11", "3.12", "3.13")
LOGGERS = ("wandb", "tensorboard", "csv")
LICENSES = ("MIT", "BSD-3-Clause", "Apache-2.0", "none")
YES_NO = ("yes", "no")

# What the generated project imports or puts on sys.path next to its package: a package
# with one of these names would shadow it (or be shadowed) and break `import`.
PROJECT_MODULES = {
    # third-party packages the project imports
    "torch", "torchvision", "lightning", "lightning_fabric", "lightning_utilities", "pytorch_lightning",
    "hydra", "omegaconf", "antlr4", "torchmetrics", "wandb", "tensorboard", "sklearn", "scipy",
    "numpy", "matplotlib", "yaml", "PIL", "pytest", "setuptools", "pip", "pkg_resources", "cookiecutter",
    # the project's own top-level scripts and folders
    "train", "check", "diagnose", "evaluate", "predict", "data", "tests", "configs", "benchmarks",
    "src", "outputs", "multirun",
}
# Python < 3.10 has no sys.stdlib_module_names; these are the ones most likely to clash.
STDLIB_FALLBACK = {
    "abc", "argparse", "array", "ast", "asyncio", "base64", "bisect", "builtins", "calendar", "cmd",
    "code", "collections", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "email",
    "enum", "functools", "glob", "hashlib", "heapq", "html", "http", "importlib", "inspect", "io",
    "itertools", "json", "logging", "math", "multiprocessing", "numbers", "operator", "os", "pathlib",
    "pickle", "platform", "profile", "queue", "random", "re", "select", "shutil", "signal", "site",
    "socket", "sqlite3", "stat", "statistics", "string", "struct", "subprocess", "sys", "tempfile",
    "test", "threading", "time", "token", "tokenize", "trace", "types", "typing", "unittest", "urllib",
    "uuid", "warnings", "weakref", "xml", "zipfile",
}
STDLIB = set(getattr(sys, "stdlib_module_names", ())) | STDLIB_FALLBACK

IMPORT = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", re.MULTILINE)


def template_modules():
    """What the template itself imports or ships at top level, read from its sources.

    Keeps the list above honest when the template grows a script or a dependency.
    """
    template = os.path.join(str(REPO_DIR), "{{ '{{' }}cookiecutter.project_slug{{ '}}' }}")
    found = set()
    if not REPO_DIR or not os.path.isdir(template):
        return found
    for folder in (template, os.path.join(template, "src")):
        for entry in os.listdir(folder):
            name, ext = os.path.splitext(entry)
            if ext == ".py" or (not ext and os.path.isdir(os.path.join(folder, entry))):
                found.add(name)
    for folder, dirs, files in os.walk(template):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for file in files:
            if file.endswith(".py"):
                with open(os.path.join(folder, file), encoding="utf-8", errors="replace") as f:
                    found.update(IMPORT.findall(f.read()))
    return {n for n in found if n.isidentifier() and n != "__future__"}

SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def problems():
    """Yield one line per bad answer (all of them, so one re-run fixes everything)."""
    slug, pkg = str(PROJECT_SLUG), str(PACKAGE_NAME)

    if not SLUG.match(slug) or slug.endswith("."):
        yield (
            f"project_slug={slug!r} is not a usable folder name: use letters, digits, '-', '_' and '.', "
            "starting with a letter or digit, no spaces or path separators (e.g. project_slug=my-project)"
        )

    suggestion = re.sub(r"\W+", "_", pkg.lower()).strip("_") or "my_project"
    if suggestion[0].isdigit():
        suggestion = "p_" + suggestion
    if not pkg.isidentifier() or not pkg.isascii():
        yield f"package_name={pkg!r} is not a valid Python identifier: use lowercase letters, digits and '_', not starting with a digit (e.g. package_name={suggestion})"
    elif keyword.iskeyword(pkg):
        yield f"package_name={pkg!r} is a Python keyword and cannot be imported: pick another name (e.g. package_name={pkg}_lib)"
    elif pkg in PROJECT_MODULES or pkg.lower() in PROJECT_MODULES or pkg in template_modules() - STDLIB:
        yield f"package_name={pkg!r} would shadow the module '{pkg}' that the project imports or ships: pick another name (e.g. package_name=my_{pkg.lower()})"
    elif pkg in STDLIB:
        yield f"package_name={pkg!r} would shadow Python's standard-library module '{pkg}': pick another name (e.g. package_name=my_{pkg})"

    version = str(PYTHON_VERSION)
    if version not in SUPPORTED_PYTHON:
        too_old = re.fullmatch(r"(\d+)\.(\d+)", version) and tuple(map(int, version.split("."))) < (3, 10)
        reason = "is older than 3.10, the lowest this template supports" if too_old else "is not supported"
        yield f"python_version={version!r} {reason}: use one of {', '.join(SUPPORTED_PYTHON)}"

    if DEFAULT_LOGGER not in LOGGERS:
        hint = " (to log nothing, run with logger=none)" if str(DEFAULT_LOGGER).lower() == "none" else ""
        yield f"default_logger={DEFAULT_LOGGER!r} is not supported: use one of {', '.join(LOGGERS)}{hint}"
    if LICENSE not in LICENSES:
        yield f"license={LICENSE!r} is not offered: use one of {', '.join(LICENSES)} (or none, and add your own LICENSE file)"
    for key, value in (("github_actions", GITHUB_ACTIONS), ("init_git", INIT_GIT)):
        if value not in YES_NO:
            yield f"{key}={value!r} is not an answer: use {key}=yes or {key}=no"

    # Free text that lands inside pyproject.toml strings.
    for key, value in (("description", DESCRIPTION), ("author_name", AUTHOR_NAME), ("author_email", AUTHOR_EMAIL)):
        bad = [c for c in ('"', "\\", "\n", "\r") if c in str(value)]
        if bad:
            yield f"{key}={value!r} contains {' and '.join(map(repr, bad))}, which would break pyproject.toml: remove it"
    email = str(AUTHOR_EMAIL)
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        yield f"author_email={email!r} is not an e-mail address (pyproject.toml needs one): e.g. author_email=you@example.com"

    # Combinations that cannot work.
    if LICENSE in LICENSES and LICENSE != "none" and not str(AUTHOR_NAME).strip():
        yield f"license={LICENSE} needs a copyright holder but author_name is empty: set author_name (or license=none)"
    if INIT_GIT == "yes" and shutil.which("git") is None:
        yield "init_git=yes but git is not installed (not on PATH): install git, or answer init_git=no"


def remove_created_parents(project_dir: str) -> None:
    """A slug like 'a/b' made cookiecutter create 'a/' before this hook ran.

    Cookiecutter deletes the project folder itself after this hook fails; a detached helper
    then removes the parents it left, but only empty ones and only inside the output folder.
    """
    if not OUTPUT_DIR:
        return
    output_dir = os.path.abspath(OUTPUT_DIR)
    project_dir = os.path.abspath(project_dir)
    parents = []
    parent = os.path.dirname(project_dir)
    while parent.startswith(output_dir + os.sep) and parent != output_dir:
        parents.append(parent)
        parent = os.path.dirname(parent)
    if not parents:
        return
    code = (
        "import os, sys, time\n"
        "project, parents = sys.argv[1], sys.argv[2:]\n"
        "for _ in range(100):\n"
        "    if not os.path.exists(project): break\n"
        "    time.sleep(0.05)\n"
        "for p in parents:\n"
        "    try: os.rmdir(p)\n"
        "    except OSError: break\n"
    )
    subprocess.Popen(
        [sys.executable, "-c", code, project_dir, *parents],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True,
    )


def main() -> int:
    found = list(problems())
    if not found:
        return 0
    for line in found:
        print(f"ERROR: {line}", file=sys.stderr)
    if any(line.startswith("project_slug=") for line in found):
        remove_created_parents(os.getcwd())
    return 1


if __name__ == "__main__":
    sys.exit(main())
