"""The shape of the code a reader relies on: the package in stage folders, each importing only
the stages its __init__ docstring names; no import circles between modules; the user folder
imported by nothing of the recipe; no module but data/datamodule.py reaching past the declared
data interface (data/interface.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "{{cookiecutter.package_name}}"


def imports_between_modules() -> dict[str, set[str]]:
    """module -> the package modules it imports, at the top or inside a function."""
    modules = {
        ".".join(p.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__").removesuffix("__init__")
        or "": p
        for p in PACKAGE.rglob("*.py")
    }
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *(node.module or "").split(".")]).strip(".")
                for candidate in [target, *(f"{target}.{a.name}".strip(".") for a in node.names)]:
                    if candidate in modules and candidate != name:
                        graph[name].add(candidate)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_circles_between_modules():
    graph = imports_between_modules()
    assert graph["training.fit"] >= {"build", "checks"}, "the import graph must see relative imports"
    assert cycles(graph) == []


def test_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]


# a data module's private state, or the whole-split accessors it no longer has
PRIVATE = re.compile(r"\b(dm|datamodule|data_module|self\.dm)\.(split\(|indices\b|label_prior\b|_\w+)")


def test_the_private_state_pattern_catches_what_it_should():
    assert (
        PRIVATE.search("x = datamodule._z[idx]")
        and PRIVATE.search("dm.split('dev')")
        and PRIVATE.search("self.dm.indices")
    )
    assert not PRIVATE.search("ctx.split('dev')") and not PRIVATE.search("grad.topk(3).indices")


def test_only_data_py_reaches_into_the_data_modules_state():
    offenders = {
        p.relative_to(PACKAGE).as_posix(): m.group(0)
        for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE).as_posix() != "data/datamodule.py" and (m := PRIVATE.search(p.read_text()))
    }
    assert offenders == {}, "go through interface.DataInterface (loader, sample, targets, ...) instead"


# The package's top level: a folder per stage of the README's flow, the user's folder, and three
# shared modules. Each stage may import the stages listed (its __init__ docstring says the same).
TOP_LEVEL = {
    "__init__.py", "common.py", "cli.py", "build.py",
    "data", "tasks", "model", "checks", "training", "evaluation", "search", "vault", "user",
}  # fmt: skip
RECIPE = {"common", "cli", "build", "data", "tasks", "model", "checks", "training", "evaluation", "search", "vault"}
MAY_IMPORT = {
    "common": set(),
    "cli": {"common"},
    "tasks": {"common"},
    "data": {"common", "tasks"},
    "model": {"common", "tasks", "data"},
    "build": RECIPE - {"build", "cli", "checks", "search", "vault"},  # builds every stage from the config
    "evaluation": {"common", "tasks", "data", "model", "build"},
    "checks": {"common", "cli", "tasks", "data", "model", "build", "evaluation"},
    "training": {"common", "cli", "tasks", "data", "model", "build", "checks", "evaluation"},
    "vault": {"common", "tasks", "data", "model", "build", "evaluation", "training"},
    "search": {"common", "cli", "build", "evaluation", "training"},
    "user": RECIPE,  # your code may use any part of the recipe
}
# Known exceptions, each with its reason; a new one needs a reason here.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def stage(module: str) -> str:
    return module.split(".")[0] if module else "__init__"


def test_the_package_top_level_is_the_stage_folders():
    entries = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__" and not p.name.endswith(".egg-info")}
    assert entries == TOP_LEVEL
    for folder in (p for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"):
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text())) or ""
        modules = {p.name for p in folder.glob("*.py") if p.name != "__init__.py"}
        if folder.name != "user":
            assert "May import: " in doc, f"{folder.name}/__init__.py: say what it may import"
            assert [m for m in sorted(modules) if m not in doc] == [], (
                f"{folder.name}/__init__.py: say what lives there"
            )


def test_each_stage_imports_only_the_stages_it_may():
    offenders = []
    for module, targets in imports_between_modules().items():
        for target in targets:
            a, b = stage(module), stage(target)
            if a == b or b == "__init__" or (module, target) in EXCEPTIONS:
                continue
            if b not in MAY_IMPORT.get(a, set()):
                offenders.append(f"{module} -> {target}")
    assert offenders == [], f"a stage reaches one it may not (tests/test_structure.py MAY_IMPORT): {offenders}"


def test_nothing_of_the_recipe_imports_the_user_folder():
    offenders = [
        f"{module} -> {target}"
        for module, targets in imports_between_modules().items()
        for target in targets
        if stage(target) == "user" and stage(module) != "user"
    ]
    assert offenders == [], (
        f"the recipe finds your code through the registries and configs, never by import: {offenders}"
    )


def test_the_stage_rules_catch_a_stage_reaching_up(tmp_path, monkeypatch):
    """A planted import of training from data, and of the user folder from model, are caught."""
    import shutil

    copy = tmp_path / "pkg"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    tables = copy / "data" / "tables.py"
    tables.write_text(tables.read_text() + "\nfrom ..training.fit import train  # planted\n")
    (copy / "model" / "planted.py").write_text("from ..user.nets import MLP  # planted\n")
    monkeypatch.setitem(globals(), "PACKAGE", copy)

    with pytest.raises(AssertionError, match="data.tables -> training.fit"):
        test_each_stage_imports_only_the_stages_it_may()
    with pytest.raises(AssertionError, match="model.planted -> user.nets"):
        test_nothing_of_the_recipe_imports_the_user_folder()


# The raw config stops at the entry and build layer: what Hydra composes goes no deeper than
# these modules (each with its reason); below them, code takes typed arguments.
CONFIG_LAYER = {
    "cli": "every script's Hydra entry",
    "build": "turns the config into the data module, the model, the trainer and typed settings",
    "training.fit": "train.py's recipe",
    "checks": "check.py's recipe (checks/__init__.py); the checks get CheckSettings",
    "search.sweeper": "a Hydra sweeper plug-in: Hydra hands it the config",
    "evaluation.crossval": "a Hydra callback: Hydra hands it the config",
}
READS_SAVED_CONFIG = {"evaluation.report_page": "the facts atop a run's page come from its saved .hydra/*.yaml files"}


def config_below_the_build_layer(package: Path) -> list[str]:
    """Modules outside CONFIG_LAYER that import omegaconf or take a `cfg` / DictConfig argument."""
    found = []
    for path in package.rglob("*.py"):
        module = ".".join(path.relative_to(package).with_suffix("").parts).removesuffix(".__init__")
        if module in CONFIG_LAYER:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "omegaconf":
                names = {a.name for a in node.names}
                if not (module in READS_SAVED_CONFIG and names == {"OmegaConf"}):
                    found.append(f"{module}: imports {', '.join(sorted(names))} from omegaconf")
            elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "omegaconf" for a in node.names):
                found.append(f"{module}: imports omegaconf")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
                    if arg.arg == "cfg" or "DictConfig" in ast.unparse(arg.annotation or ast.Constant(None)):
                        found.append(f"{module}: {node.name}({arg.arg})")
    return found


def test_the_raw_config_stops_at_the_entry_and_build_layer():
    assert config_below_the_build_layer(PACKAGE) == [], "take typed arguments; build.py makes them from the config"


def test_the_config_rule_catches_a_config_passed_down(tmp_path):
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "report_page.py").write_text("from omegaconf import OmegaConf\n")  # reading saved files
    (tmp_path / "evaluation" / "scores.py").write_text("def score(cfg, model):\n    return cfg.objective\n")
    (tmp_path / "vault.py").write_text("from omegaconf import DictConfig\n\n\ndef f(c: DictConfig): ...\n")
    (tmp_path / "build.py").write_text("from omegaconf import DictConfig\n\n\ndef build(cfg: DictConfig): ...\n")
    assert sorted(config_below_the_build_layer(tmp_path)) == [
        "evaluation.scores: score(cfg)", "vault: f(c)", "vault: imports DictConfig from omegaconf",
    ]  # fmt: skip


LONG = 60  # lines: a function longer than this says why, in a "# long: ..." comment right above it


def long_functions_without_a_reason(package: Path) -> list[str]:
    found = []
    for path in package.rglob("*.py"):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > LONG:
                top = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
                if top == 0 or not lines[top - 1].strip().startswith("# long: "):
                    found.append(f"{path.relative_to(package).as_posix()}:{node.lineno} {node.name}")
    return found


def test_a_long_function_says_why_it_is_long():
    assert long_functions_without_a_reason(PACKAGE) == []


def test_the_long_function_rule_catches_one_without_a_reason(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(LONG))
    (tmp_path / "a.py").write_text(f"def short():\n    pass\n\n\ndef long_one():\n{body}\n")
    (tmp_path / "b.py").write_text(f"# long: a table of values\ndef reasoned():\n{body}\n")
    assert long_functions_without_a_reason(tmp_path) == ["a.py:5 long_one"]
