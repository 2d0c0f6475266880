#!/usr/bin/env bash
# All of the template's tests, from nothing:  bash tests/run.sh [pytest args]
#
# 1. creates .venv/ at the repository root if it is missing (python3 -m venv; PYTHON=... to pick another),
# 2. installs, in ONE pip command, torch==2.13.0 (pinned: an unpinned torch would let pip
#    pick a multi-GB CUDA build), cookiecutter, pytest and every dependency the generated
#    project declares (read from the template's pyproject.toml),
# 3. runs `python -m pytest tests`, the template tests; they bake projects into temporary
#    folders and run the default baked project's own suite once.
# A second run skips step 2 when nothing it installs has changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
TORCH_PIN="${TORCH_PIN:-torch==2.13.0}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || { echo "tests/run.sh: $PYTHON is $("$PYTHON" -V 2>&1); Python 3.10 or newer is needed (PYTHON=python3.11 bash tests/run.sh)" >&2; exit 1; }
    echo "== creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

# The generated project's dependencies (runtime and every extra), from its templated pyproject.
mapfile -t PROJECT_DEPS < <("$PY" - "$ROOT/{{cookiecutter.project_slug}}/pyproject.toml" <<'EOF'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
text = re.sub(r"\{%.*?%\}", "", text, flags=re.S)       # Jinja statements: keep both branches
text = re.sub(r"\{\{[^}]*\|\s*tojson\s*\}\}", '"x"', text)  # Jinja expressions that render a quoted string
text = re.sub(r"\{\{.*?\}\}", "x", text, flags=re.S)     # Jinja expressions: any placeholder
try:
    import tomllib
    project = tomllib.loads(text)["project"]
    deps = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        deps += extra
except ImportError:  # Python 3.10 has no tomllib: read the arrays by hand
    main, _, extras = text.partition("[project.optional-dependencies]")
    found = re.search(r"^dependencies\s*=\s*\[(.*?)\]", main, re.S | re.M)
    blocks = ([found.group(1)] if found else []) + re.findall(r"^[\w-]+\s*=\s*\[(.*?)\]", extras.split("\n[")[0], re.S | re.M)
    deps = [dep for block in blocks for dep in re.findall(r'"([^"]+)"', block)]
for dep in deps:
    if not re.match(r"torch\b(?![-_])", dep):  # torch comes pinned, below
        print(dep)
EOF
)
[ "${#PROJECT_DEPS[@]}" -gt 0 ] || { echo "tests/run.sh: could not read the dependencies from {{cookiecutter.project_slug}}/pyproject.toml" >&2; exit 1; }
REQUIREMENTS=("$TORCH_PIN" cookiecutter pytest "${PROJECT_DEPS[@]}")

STAMP="$VENV/.tests-run-installed"
WANT="$(printf '%s\n' "${REQUIREMENTS[@]}")"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    echo "== pip install ${REQUIREMENTS[*]}"
    "$PY" -m pip install --disable-pip-version-check -q "${REQUIREMENTS[@]}"
    # The streaming extra (litdata) declares torchvision, and PyPI's torchvision does not load
    # beside a CPU build of torch ("operator torchvision::nms does not exist"): the project then
    # stops every script with one line saying so (its guard; .ci/run shows it on a uv install).
    # Nothing here needs torchvision (litdata imports without it), so it is removed, as that
    # line tells a user to do. The README's command 1 installs no extra and gets no torchvision.
    if "$PY" -m pip show -q torchvision >/dev/null 2>&1 && ! "$PY" -c "import torchvision" >/dev/null 2>&1; then
        echo "== removing torchvision: it does not load beside this torch build, and nothing here needs it"
        "$PY" -m pip uninstall -y -q torchvision
    fi
    printf '%s\n' "$WANT" > "$STAMP"
else
    echo "== dependencies already installed in $VENV (delete $STAMP to reinstall)"
fi

echo "== $PY -m pytest tests $*"
export WANDB_MODE=offline  # nothing in the tests talks to the network
status=0
"$PY" -m pytest tests -ra -p no:cacheprovider "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "tests/run.sh: pytest collected no tests (exit 5); that is a failure here" >&2
    exit 1
fi
exit "$status"
