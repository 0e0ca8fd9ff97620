"""The package's layout: imports run one way (no circle, imports inside functions included),
and no function is longer than a screen."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lrlc_np"
#: lines of code a function may have (docstring, blank and comment lines not counted)
LONGEST = 60


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name, path):
    """The lrlc_np modules ``name`` imports, at any depth of its code (inside functions too)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    # a package's own submodules importing it for re-exports is how packages work, not a circle
    return {t for t in found if not name.startswith(t + ".")}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle():
    """One import circle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(GRAPH):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_import_graph_is_read():
    """An anchor for the checker: edges known to exist are found."""
    assert "lrlc_np.settings" in GRAPH["lrlc_np.rundir"]
    assert "lrlc_np.rundir" in GRAPH["lrlc_np.train"]
    assert "lrlc_np.train" in GRAPH["lrlc_np.scheduling"]
    assert "lrlc_np.layers.sequential" in GRAPH["lrlc_np.layers"]


def test_no_import_circle():
    assert _cycle() is None, " -> ".join(_cycle())


def test_the_lower_floors_import_nothing_above_them():
    """settings and rundir sit below train, compare and the command line; the ops below the layers."""
    above = {"lrlc_np.train", "lrlc_np.compare", "lrlc_np.cli", "lrlc_np.scheduling", "lrlc_np.bench"}
    for low in ("lrlc_np.settings", "lrlc_np.rundir", "lrlc_np.threads", "lrlc_np.options"):
        assert not GRAPH[low] & above, (low, GRAPH[low] & above)
    for name, imported in GRAPH.items():
        if name.startswith(("lrlc_np.ops", "lrlc_np.fast")):
            assert not {t for t in imported if t.startswith("lrlc_np.layers")}, name
        if name.startswith("lrlc_np.layers"):
            assert not {t for t in imported if t.startswith("lrlc_np.fast")}, (name, "the layers ask the tier switch")


def _code_lines(node, lines):
    body = node.body
    skip = set()
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        skip = set(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(1 for i in range(node.lineno, node.end_lineno + 1)
               if i not in skip and lines[i - 1].strip() and not lines[i - 1].strip().startswith("#"))


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_function_is_longer_than_a_screen(name):
    text = MODULES[name].read_text(encoding="utf-8")
    lines = text.splitlines()
    long = [(node.name, node.lineno, _code_lines(node, lines)) for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _code_lines(node, lines) > LONGEST]
    assert not long, f"{MODULES[name]}: functions longer than {LONGEST} lines of code: {long}"
