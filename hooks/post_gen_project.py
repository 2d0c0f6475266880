"""Remove what the answers switched off; create a git repository only when asked.

Never prompts (works with no TTY, e.g. `cookiecutter --no-input` in CI). Standard library only.
Runs inside the freshly generated project folder.
"""

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

PROJECT = Path.cwd()


def remove_switched_off() -> None:
    if LICENSE == "none":
        (PROJECT / "LICENSE").unlink(missing_ok=True)
    if GITHUB_ACTIONS != "yes":
        shutil.rmtree(PROJECT / ".github", ignore_errors=True)


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
    if INIT_GIT == "yes":
        init_git()
    return 0


if __name__ == "__main__":
    sys.exit(main())
