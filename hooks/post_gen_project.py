"""Remove what the answers switched off; record where the project came from (.cruft.json, so
that `cruft update` can bring later template changes into it); create a git repository only
when asked.

Never prompts (works with no TTY, e.g. `cookiecutter --no-input` in CI). Standard library only.
Runs inside the freshly generated project folder.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

LICENSE = {{ cookiecutter.license | tojson }}
GITHUB_ACTIONS = {{ cookiecutter.github_actions | tojson }}
INIT_GIT = {{ cookiecutter.init_git | tojson }}
AUTHOR_NAME = {{ cookiecutter.author_name | tojson }}
AUTHOR_EMAIL = {{ cookiecutter.author_email | tojson }}

TEMPLATE = {{ cookiecutter._template | default("") | tojson }}
REPO_DIR = {{ cookiecutter._repo_dir | default("") | tojson }}
# JSON in a Python string: null/true would not be Python literals
CHECKOUT = json.loads({{ cookiecutter._checkout | default(none) | tojson | tojson }})
CONTEXT = json.loads({{ cookiecutter | tojson | tojson }})

PROJECT = Path.cwd()
# What a template update must never diff or patch: the project's own history, this record itself
# (cruft rewrites it after an update), and the user folder, which is the user's alone. cruft
# removes each entry from both renders of the template before it diffs them: a path without a *
# is taken as one path relative to the project (a folder goes whole), one with a * as a glob.
# Also in pyproject.toml's [tool.cruft] (which cruft reads from the project at update time).
CRUFT_SKIP = [".git", ".cruft.json", {{ ("src/" ~ cookiecutter.package_name ~ "/user") | tojson }}]


def remove_switched_off() -> None:
    if LICENSE == "none":
        (PROJECT / "LICENSE").unlink(missing_ok=True)
    if GITHUB_ACTIONS != "yes":
        shutil.rmtree(PROJECT / ".github", ignore_errors=True)


def record_template() -> None:
    """.cruft.json as `cruft create` writes it: the template's source, commit and the answers.
    `cruft update` then renders the template at that commit and at the newest one with the same
    answers and applies the difference to this project with a three-way merge, so the user's
    own edits stay. Nothing is written for a template that is not a git checkout (no commit to
    start from): `cruft link <template>` records it later."""
    record = PROJECT / ".cruft.json"
    if record.exists() or not REPO_DIR or not os.path.isdir(REPO_DIR):
        return
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_DIR, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if head.returncode != 0:
        return
    local = not any(TEMPLATE.startswith(p) for p in ("gh:", "gl:", "bb:", "git+", "git@", "https://", "http://", "ssh://", "file://"))
    source = os.path.abspath(REPO_DIR) if local else TEMPLATE  # a relative path would not resolve from the project
    answers = {k: v for k, v in CONTEXT.items() if k != "_output_dir"}  # where it was baked is not an answer
    answers["_template"] = source
    state = {"template": source, "commit": head.stdout.strip(), "checkout": CHECKOUT,
             "context": {"cookiecutter": answers}, "directory": None, "skip": CRUFT_SKIP}
    record.write_text(json.dumps(state, indent=2) + "\n")


def git(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_EDITOR": "true"}
    return subprocess.run(["git", *args], cwd=PROJECT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)


def init_git() -> None:
    """`git init` + a first commit of everything generated.

    The author comes from the user's git config; where there is none (a CI box), from
    the template answers, so the commit never stops to ask.
    """
    if (PROJECT / ".git").exists():
        return
    if git("init", "-q", "-b", "main").returncode != 0 and git("init", "-q").returncode != 0:  # git < 2.28 has no -b
        print("warning: `git init` failed; the project was generated without a repository", file=sys.stderr)
        return
    git("add", "-A")
    identity = []
    if not git("config", "user.name").stdout.strip():
        identity += ["-c", f"user.name={AUTHOR_NAME or 'lightning-recipe'}"]
    if not git("config", "user.email").stdout.strip():
        identity += ["-c", f"user.email={AUTHOR_EMAIL or 'you@example.com'}"]
    commit = git(*identity, "commit", "-q", "--no-verify", "-m", "Initial commit from the lightning-recipe template")
    if commit.returncode != 0:
        reason = (commit.stderr or commit.stdout).strip().splitlines()
        print(
            "warning: the repository was created but the first commit failed"
            f" ({reason[-1] if reason else 'no reason given'}); run `git commit` yourself",
            file=sys.stderr,
        )


def main() -> int:
    remove_switched_off()
    record_template()
    if INIT_GIT == "yes":
        init_git()
    return 0


if __name__ == "__main__":
    sys.exit(main())
