"""What tests/test_docs_*.py run: every shell command of the README and docs/*.md, in a copy
of this project, in the order each page shows them.

The rule, for whoever edits the docs:
  * Every line of a ```bash block is a command: a trailing `\\` joins the next line, `#` starts
    a comment (outside quotes), `&&` chains. In other blocks a line starting with `$ ` is one too.
    Inline code in prose and tables is not run.
  * `<!-- not run by tests/test_docs_*.py: WHY -->` on its own line before a block: none of the
    block's commands runs (a GPU, a cluster, a server, the network). WHY is required.
  * The README's "Install" section is not run either (it installs; the tests run installed).
  * A word in brackets is an optional part of a synopsis: run with its value where that is
    concrete or fresh (`[worst_k=24]`, `[overwrite=true]`, `[out_dir=DIR]`), left out where the
    value is for the reader to choose (`[study=NAME]`, `[sampler=random|grid|qmc|tpe]`).
  * Placeholders stand for what the reader has: `outputs/<date>/<time>` is the newest run (a
    folder under outputs/ with checkpoints/best.ckpt), `ckpt_path=...` its best.ckpt, `run1` /
    `run2` the two newest runs, `<table run>` / `<image run>` the newest run on a table / an image
    folder, `multirun/<date>/<time>` the newest multirun folder, `study=random-1a2b3c4d` the newest
    study of that sweep; `my.csv`, `my.parquet`, `big.parquet`, `new.npy`, `new_rows.csv`,
    `photo.jpg` and `data.path=DIR` are files the tests make (make_stand_ins); any other `DIR`,
    `FILE` or `PATH` is a fresh name under docs-out/. Pages that need runs of their own show the
    commands that make them.
  * `<!-- test_docs: append to PATH -->` / `<!-- test_docs: write PATH -->` before a block puts
    the block's text in that file of the copy first (the snippets a page asks the reader to add).
  * The tests keep runs short with documented overrides added to each command that does not
    set that key itself (SHORT), never by editing what the reader sees.
Project scripts (python X.py, python benchmarks/X.py) run in the test's process, the way
`python X.py` runs their `__main__` (the imports are paid once per test file, not per command);
anything else (ruff) as a subprocess.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
MARK = re.compile(r"<!--\s*not run by tests/test_docs_\*\.py:\s*(.*?)\s*-->")
SNIPPET = re.compile(r"<!--\s*test_docs:\s*(append to|write)\s+(\S+)\s*-->")


@dataclass
class Command:
    page: str
    line: int  # 1-based line in the page
    text: str  # as the page shows it (continuations joined, comment removed)
    skip: str | None = None  # why it is not run


@dataclass
class Snippet:
    page: str
    line: int
    how: str  # "append to" | "write"
    path: str
    text: str


@dataclass
class Page:
    name: str
    commands: list[Command] = field(default_factory=list)
    snippets: list[Snippet] = field(default_factory=list)
    python_blocks: list[tuple[int, str]] = field(default_factory=list)  # (line, code)
    steps: list = field(default_factory=list)  # commands and snippets, in page order


def strip_comment(line: str) -> str:
    """The command without its trailing `# comment` (a # outside quotes, after a space)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def read_page(path: Path) -> Page:
    page = Page(path.relative_to(PROJECT).as_posix())
    lines = path.read_text().splitlines()
    section, mark, snippet, block, lang, start = "", None, None, None, "", 0
    for number, line in enumerate(lines, 1):
        if block is None:
            if line.startswith("#"):
                section = line.lstrip("#").strip()
            if found := MARK.search(line):
                assert found.group(1), f"{page.name}:{number}: the marker must say why"
                mark = found.group(1)
            if found := SNIPPET.search(line):
                snippet = found.groups()
            if line.startswith("```"):
                block, lang, start = [], line[3:].strip(), number
            continue
        if not line.startswith("```"):
            block.append(line)
            continue
        if lang == "python":
            page.python_blocks.append((start + 1, "\n".join(block) + "\n"))
        if snippet:
            page.steps.append(Snippet(page.name, start, snippet[0], snippet[1], "\n".join(block) + "\n"))
            page.snippets.append(page.steps[-1])
        else:
            skip = mark or ("installs; the tests run in the installed project" if section == "Install" else None)
            for offset, text in commands_of(block, lang):
                command = Command(page.name, start + 1 + offset, text, skip)
                page.commands.append(command)
                page.steps.append(command)
        block, mark, snippet = None, None, None
    return page


def commands_of(block: list[str], lang: str):
    joined, first = "", None
    for offset, raw in enumerate(block):
        if lang != "bash":
            if raw.startswith("$ "):
                yield offset, strip_comment(raw[2:])
            continue
        if first is None:
            first = offset
        if raw.rstrip().endswith("\\"):
            joined += raw.rstrip()[:-1] + " "
            continue
        text = strip_comment(joined + raw).strip()
        joined, start, first = "", first, None
        if text:
            yield start, " ".join(text.split())


# ----------------------------------------------------------------------------- running them
# Added to every train.py / check.py / prepare_data.py command that does not set the key:
# short and quiet, all documented (docs/training.md, docs/sweeps.md).
SHORT = {
    "trainer.max_epochs": "2",
    "logger": "none",
    "trainer.enable_progress_bar": "false",
    "analysis.error_analysis": "false",  # diagnosis.md: the pictures and tables of mistakes
    "analysis.label_issues": "false",  # diagnosis.md / data.md: cleanlab's cross-validation
    "hydra.sweeper.n_trials": "3",  # refine_sweep.py keeps the best quarter, at least 3 trials
}
# Benchmarks: their own flags for a short run (each one's --help lists them).
BENCH_SHORT = {
    "bench_help.py": ["--runs", "1"],
    "bench_checks.py": ["--runs", "1"],
    "bench_training.py": ["--epochs", "1", "--rounds", "1", "--models", "default"],
    "bench_search.py": ["--trials", "2", "--seeds", "1", "--epochs", "1"],
    "bench_streaming.py": ["--scale", "1", "--rounds", "1", "--fit-rounds", "0"],
    "bench_quality.py": ["--runs", "1", "--examples", "2000"],
    "bench_imbalance.py": ["--seeds", "1", "--epochs", "2"],
    "bench_transfer.py": ["--seeds", "1", "--epochs", "2"],
    "bench_images.py": ["--rounds", "1"],
    "bench_tables.py": ["--rows", "2000", "--rounds", "1"],
}
HYDRA_SCRIPTS = {"train.py", "check.py", "prepare_data.py"}


@dataclass
class Result:
    command: str
    argv: list[str]
    code: int
    out: str
    seconds: float


def shorten(script: str, args: list[str], full: bool = False) -> list[str]:
    name = Path(script).name
    if full:
        return args
    if script.startswith("benchmarks/"):
        return [*args, *BENCH_SHORT.get(name, [])] if "--help" not in args else args
    if name not in HYDRA_SCRIPTS or "--help" in args:
        return args
    keys = {a.split("=", 1)[0].lstrip("+~") for a in args if "=" in a}
    sweep = "-m" in args and any(a.startswith("sweep=") for a in args)
    extra = []
    for key, value in SHORT.items():
        if key in keys or (key.startswith("hydra.sweeper") and not sweep):
            continue
        if key == "trainer.max_epochs" and any(a.startswith("debug=") for a in args):
            continue  # a debug mode is short, and what it shows needs its own epochs
        extra.append(f"{key}={value}")
    if name == "prepare_data.py":
        extra = [e for e in extra if e.startswith("logger=")]
    return [*args, *extra]


def run_in_process(script: Path, args: list[str]) -> tuple[int, str]:
    """`python script args` in this process: its output and exit code."""
    from hydra.core.global_hydra import GlobalHydra

    buffer = io.StringIO()
    argv, cwd_path = sys.argv, list(sys.path)
    sys.argv = [str(script), *args]
    sys.path.insert(0, str(script.parent))
    code = 0
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            try:
                runpy.run_path(str(script), run_name="__main__")
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else int(e.code is not None)
            except Exception as e:  # what a user sees as a traceback and exit 1
                import traceback

                traceback.print_exc(file=buffer)
                code = 1 if not isinstance(e, KeyboardInterrupt) else 130
    finally:
        sys.argv, sys.path[:] = argv, cwd_path
        GlobalHydra.instance().clear()
        import logging

        logging.getLogger().handlers.clear()  # the run's log file handler: closed with its run
    return code, buffer.getvalue()


def run(text: str, project: Path, full: bool = False) -> list[Result]:
    """One command line of a page (placeholders already filled in), in `project`."""
    results = []
    for part in re.split(r"\s&&\s", text):
        argv = shlex.split(part)
        started = time.perf_counter()
        if argv[0] == "python" and argv[1].endswith(".py"):
            script, args = argv[1], shorten(argv[1], argv[2:], full)
            code, out = run_in_process(project / script, args)
            argv = ["python", script, *args]
        else:
            exe = shutil.which(argv[0], path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
            done = subprocess.run([exe or argv[0], *argv[1:]], cwd=project, capture_output=True, text=True, timeout=300)
            code, out = done.returncode, done.stdout + done.stderr
        results.append(Result(part, argv, code, out, time.perf_counter() - started))
        if code != 0:
            break
    return results


# ----------------------------------------------------------------------------- the reader's files
@contextlib.contextmanager
def in_copy(project: Path):
    """Inside: the working directory is `project`, and the package is imported from its src/
    (a snippet a page adds to user/sources.py is then seen), as `python X.py` there would do."""
    package = "{{cookiecutter.package_name}}"
    saved = {k: m for k, m in sys.modules.items() if k == package or k.startswith(package + ".")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(project / "src"))
    here = os.getcwd()
    os.chdir(project)
    try:
        yield project
    finally:
        os.chdir(here)
        sys.path.remove(str(project / "src"))
        for name in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
            del sys.modules[name]
        sys.modules.update(saved)


def copy_project(to: Path) -> Path:
    """This project as baked, without anything a run or a test wrote: where the pages run."""
    skip = shutil.ignore_patterns("outputs", "multirun", "examples", "prepared", ".git", "__pycache__", ".*_cache")
    shutil.copytree(PROJECT, to, ignore=skip)
    return to


def project_fixture():
    """The module fixture every docs test file shares: a copy of the baked project with the
    stand-in files, the working directory while its pages run."""
    import pytest

    @pytest.fixture(scope="module")
    def project(tmp_path_factory):
        copy = copy_project(tmp_path_factory.mktemp("docs") / "project")
        with in_copy(copy):  # the commands' relative paths (outputs/, my.csv) are the copy's
            make_stand_ins(copy)
            yield copy

    return project


def make_stand_ins(project: Path) -> None:
    """The files a page assumes the reader has: my.csv (a target `price`), my.parquet (`label`,
    an `id` column), big.parquet (`label`), new.npy (digits), new_rows.csv (animals.csv rows
    without their `animal`, the first one's weight far out of range), photo.jpg, and an image
    folder docs-in/images/<class>/<files>."""
    import numpy as np
    import pandas as pd
    from PIL import Image
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

    from {{cookiecutter.package_name}}.data.examples import write_examples

    diabetes = load_diabetes(as_frame=True).frame.rename(columns={"target": "price"})
    diabetes.to_csv(project / "my.csv", index=False)
    cancer = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    cancer.insert(0, "id", range(len(cancer)))
    cancer.to_parquet(project / "my.parquet")
    digits = load_digits()
    big = pd.DataFrame(digits.data, columns=[f"p{i}" for i in range(64)]).assign(label=digits.target)
    big.to_parquet(project / "big.parquet")
    np.save(project / "new.npy", digits.images[:5, None].astype(np.float32))
    with contextlib.redirect_stdout(io.StringIO()):
        write_examples(project / "docs-in", False)
    for folder in (project / "docs-in" / "digit_images").iterdir():  # 20 a class: a small folder trains fast
        for extra in sorted(folder.iterdir())[20:]:
            extra.unlink()
    shutil.move(project / "docs-in" / "digit_images", project / "docs-in" / "images")
    rows = pd.read_csv(project / "docs-in" / "animals.csv").drop(columns="animal").head(6)
    rows.loc[0, "weight_kg"] = 10000
    rows.to_csv(project / "new_rows.csv", index=False)
    first = next(p for p in sorted((project / "docs-in" / "images").rglob("*.png")))
    Image.open(first).convert("RGB").save(project / "photo.jpg")


def runs(project: Path, kind: str = "") -> list[Path]:
    """Run folders under outputs/ holding a best.ckpt, oldest first; kind: a word of the run's
    overrides (table, image), or "" for any."""

    def overrides(run: Path) -> str:
        file = run / ".hydra" / "overrides.yaml"
        return file.read_text() if file.exists() else ""

    def fits(run: Path) -> bool:
        return kind in overrides(run)

    found = [p.parent.parent for p in (project / "outputs").glob("**/checkpoints/best.ckpt") if fits(p.parent.parent)]
    return sorted(found, key=lambda p: (p / "checkpoints" / "best.ckpt").stat().st_mtime)


def newest_study(project: Path, sweep: str) -> str:
    import optuna

    names = optuna.get_all_study_names(f"sqlite:///{project}/multirun/sweeps.db")
    return [n for n in names if n.startswith(f"{sweep}-")][-1]


def optional(part: re.Match) -> str:
    """`[key=value]` of a synopsis: the value when it is concrete or fresh, else nothing."""
    value = part.group(1)
    return "" if "|" in value or re.search(r"\b(?!DIR\b|FILE\b|PATH\b)[A-Z][A-Z_]*\b", value) else value


def fill(text: str, project: Path, counter: list[int]) -> str:
    """The command with the page's placeholders replaced by what this copy holds (see the rule)."""

    def rel(path: Path) -> str:
        return path.relative_to(project).as_posix()

    def fresh(kind: str) -> str:
        counter[0] += 1
        return f"docs-out/{kind}-{counter[0]}"

    text = re.sub(r"(?<=\s)\[([^\]\s]*)\](?=\s|$)", optional, text)
    if "outputs/<date>/<time>" in text or "ckpt_path=..." in text or "run1/" in text:
        done = runs(project)
        assert done, "no run yet (the page needs one first)"
        text = text.replace("outputs/<date>/<time>", rel(done[-1]))
        text = text.replace("ckpt_path=...", f"ckpt_path={rel(done[-1])}/checkpoints/best.ckpt")
        text = text.replace("run1/", rel(done[-2]) + "/").replace("run2/", rel(done[-1]) + "/")
    for kind in ("table", "image"):
        if f"<{kind} run>" in text:
            text = text.replace(f"<{kind} run>", rel(runs(project, kind)[-1]))
    if "multirun/<date>/<time>" in text:
        found = sorted((project / "multirun").glob("*-*-*/*"), key=lambda p: p.stat().st_mtime)
        text = text.replace("multirun/<date>/<time>", rel(found[-1]))
    text = re.sub(r"\bstudy=(\w+)-[0-9a-f]{8}\b", lambda m: f"study={newest_study(project, m.group(1))}", text)
    text = text.replace("data.path=DIR", "data.path=docs-in/images")
    text = re.sub(r"\bDIR\b", lambda m: fresh("dir"), text)
    text = re.sub(r"\bFILE\b", lambda m: fresh("file") + ".csv", text)
    text = re.sub(r"\bPATH\b", lambda m: fresh("ledger") + ".jsonl", text)
    return " ".join(text.split())


def apply_snippet(snippet: Snippet, project: Path) -> None:
    target = project / snippet.path
    target.parent.mkdir(parents=True, exist_ok=True)
    if snippet.how == "write":
        target.write_text(snippet.text)
    else:
        target.write_text(target.read_text().rstrip("\n") + "\n\n\n" + snippet.text)


def run_page(page: Page, project: Path, expect: dict, full: set, log: list[str]) -> list[str]:
    """Every step of `page` in order; what went wrong, one entry each (empty: all as the page says).
    expect maps a command as the page shows it to a check(results, project) -> list of problems;
    the commands in `full` run without SHORT (their page shows what a full run prints)."""
    problems, counter = [], [0]
    for step in page.steps:
        if isinstance(step, Snippet):
            apply_snippet(step, project)
            if step.path.endswith(".py"):  # the next command imports the edited file, as a new `python X.py` would
                package = "{{cookiecutter.package_name}}"
                for name in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
                    del sys.modules[name]
            continue
        if step.skip:
            log.append(f"{step.page}:{step.line}: not run ({step.skip}): {step.text}")
            continue
        try:
            filled = fill(step.text, project, counter)
        except (AssertionError, IndexError) as e:
            problems.append(f"{step.page}:{step.line}: {step.text}: cannot fill in its placeholders ({e})")
            continue
        results = run(filled, project, step.text in full)
        last = results[-1]
        log.append(f"{step.page}:{step.line}: {sum(r.seconds for r in results):5.1f} s  exit {last.code}  {filled}")
        if last.code != 0:
            problems.append(f"{step.page}:{step.line}: `{filled}` exited {last.code}:\n{last.out[-3000:]}")
            continue
        check = expect.get(step.text)
        if check:
            problems += [f"{step.page}:{step.line}: `{step.text}`: {p}" for p in check(results, project)]
    return problems


def check_pages(names: list[str], project: Path, expect: dict, full: set = frozenset()) -> None:
    """The test of one test_docs_*.py file: its pages in order, in one copy (a later page may
    use an earlier page's runs), every problem reported at the end, and each command's time."""
    pages = [read_page(PROJECT / name) for name in names]
    shown = {c.text for p in pages for c in p.commands}
    assert not (set(expect) | set(full)) - shown, f"commands no page shows: {(set(expect) | set(full)) - shown}"
    problems, log = [], []
    for page in pages:
        problems += run_page(page, project, expect, full, log)
    print("\n".join(log))
    assert not problems, "\n\n".join(problems) + "\n\nwhat ran:\n" + "\n".join(log)


# ----------------------------------------------------------------------------- for the checks
def newest_run(project: Path) -> Path:
    return runs(project)[-1]


def newest_multirun(project: Path) -> Path:
    return sorted((project / "multirun").glob("*-*-*/*"), key=lambda p: p.stat().st_mtime)[-1]


def printed(out: str, lines: list[str]) -> list[str]:
    """What of `lines` (each a piece of a line the page shows) the output lacks."""
    return [f"did not print {line!r}" for line in lines if line not in out]
