"""The shape of the code a reader relies on: no import circles between modules, and no
module but data.py reaching past the declared data interface (interface.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

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
    assert graph["training"] >= {"build", "checks"}, "the import graph must see relative imports"
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
        if p.name != "data.py" and (m := PRIVATE.search(p.read_text()))
    }
    assert offenders == {}, "go through interface.DataInterface (loader, sample, targets, ...) instead"
