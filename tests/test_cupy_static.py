"""Static checks that the library can run on CuPy, without a GPU.

1. Every attribute chain used on an array module in ``lrlc_np`` (``xp.zeros``,
   ``xp.lib.stride_tricks.sliding_window_view``, ``backend.xp.ones``,
   ``get_array_module(p).zeros_like``, and any name assigned from ``get_array_module(...)``
   or ``backend.xp``) must exist in CuPy. Runs where ``cupy`` can be imported (the wheel
   imports without a GPU), skips otherwise.

2. Only ``lrlc_np/backend.py`` reaches NumPy for array maths. Every other module that
   imports NumPy may use only the NumPy attributes on its allow-list below: dtypes and dtype
   checks (``numpy.issubdtype``, ``numpy.float32``), ``numpy.random`` generators for
   initialisation, and host-side work on arrays already brought back with ``to_numpy`` or
   not yet sent with ``to_device``. A new ``numpy.exp(x)`` in ``ops/`` fails with the file
   and line. This part needs no CuPy and always runs.

   Exempt, host-side by design (they never touch backend arrays): ``data/`` (IDX files,
   batches as NumPy arrays), ``plots.py`` and ``figures.py`` (matplotlib), ``bench.py`` (timings),
   ``compare.py`` (result tables) and ``reference.py`` (the naive loop definitions, the
   NumPy oracle of the tests).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lrlc_np"
SOURCES = sorted(PACKAGE.rglob("*.py"))

#: Host-side by design: never handed backend arrays (see the module docstring); stand_ins.py
#: holds loop definitions for a student copy's tutorials, NumPy like reference.py.
EXEMPT = {"plots.py", "figures.py", "reference.py", "stand_ins.py"}
#: Host-side packages: lrlc_np/data/ (files, checksums, batches on the host), lrlc_np/course/
#: (the grader's checks, which build their float64 cases with NumPy), lrlc_np/bench/ (timings,
#: machine information) and lrlc_np/compare/ (tables and figures of finished runs' metrics).
EXEMPT_FOLDERS = ("data/", "course/", "bench/", "compare/")


def _exempt(relative: str) -> bool:
    return Path(relative).name in EXEMPT or relative.startswith(EXEMPT_FOLDERS)
#: The one module that imports NumPy as an array module.
BACKEND = "backend.py"

_DTYPES = {"dtype", "issubdtype", "floating", "integer", "float32", "float64"}
#: NumPy attributes each module may use (chains, as written after ``numpy.``). Anything
#: else, e.g. ``numpy.exp`` or ``numpy.zeros``, bypasses the backend.
NUMPY_ALLOWED = {
    "ops/_checks.py": _DTYPES,
    "ops/losses.py": _DTYPES,
    # initialisation on the host with a Generator, moved by backend.to_device
    **{f"layers/{name}.py": _DTYPES | {"random.default_rng", "random.Generator", "full"}
       for name in ("base", "basic", "combiner", "conv", "local", "lrlc")},
    "models.py": _DTYPES | {"random.default_rng"},
    # relative_error works on to_numpy copies; numerical_gradient walks indices with ndindex
    "gradcheck.py": _DTYPES | {"random.default_rng", "abs", "ndindex"},
    # the generators of a run; the finiteness check of its state goes through the backend
    "train.py": _DTYPES | {"random.default_rng", "random.SeedSequence", "random.Generator"},
    # checkpoints: to_numpy copies written with savez, read with load (and checked on the host),
    # sent with to_device
    "rundir.py": _DTYPES | {"array", "savez", "load", "isfinite"},
    # `lrlc gradcheck` builds its float64 inputs on the host
    "gradcheck_cases.py": _DTYPES | {"random.default_rng", "where"},
}


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _chain(node: ast.Attribute) -> tuple[ast.expr, list[str]]:
    """``a.b.c`` -> (node of ``a``, ["b", "c"])."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    return node, names[::-1]


def _outermost_attributes(tree: ast.Module):
    """Every Attribute node that is not itself the ``.value`` of another Attribute."""
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    return [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and id(n) not in inner]


# --------------------------------------------------------------------------- array-module chains

def _is_array_module(node: ast.expr, names: set[str]) -> bool:
    """Is ``node`` an array module: a known name, ``get_array_module(...)`` or ``<...>backend.xp``?"""
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Call):
        f = node.func
        return (isinstance(f, ast.Name) and f.id == "get_array_module") or (
            isinstance(f, ast.Attribute) and f.attr == "get_array_module")
    if isinstance(node, ast.Attribute) and node.attr == "xp":
        base = node.value
        return (isinstance(base, ast.Name) and base.id == "backend") or (
            isinstance(base, ast.Attribute) and base.attr == "backend")
    return False


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _own_nodes(scope: ast.AST):
    """The nodes of one scope, without descending into nested functions and classes."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def _array_module_names(nodes: list, inherited: set[str]) -> set[str]:
    """``inherited`` plus every name the scope assigns from an array module (to a fixed point)."""
    names = set(inherited)
    while True:
        found = set(names)
        for node in nodes:
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                targets, value = [node.target], node.value
            else:
                continue
            if _is_array_module(value, names):
                found |= {t.id for t in targets if isinstance(t, ast.Name)}
        if found == names:
            return names
        names = found


def _scope_chains(scope: ast.AST, inherited: set[str], outermost: set[int]):
    """(line, chain) for the array-module uses of a scope and, recursively, its nested scopes.

    Names are resolved lexically: a nested function sees the array-module names of the
    functions around it (closures), and ``xp`` is always an array module.
    """
    nodes = list(_own_nodes(scope))
    names = _array_module_names(nodes, inherited)
    for node in nodes:
        if isinstance(node, ast.Attribute) and id(node) in outermost:
            root, attrs = _chain(node)
            if _is_array_module(root, names):              # xp.<...>, get_array_module(x).<...>
                yield node.lineno, ".".join(attrs)
                continue
            dotted = ([root.id] if isinstance(root, ast.Name) else []) + attrs
            for i in range(len(dotted) - 2):               # backend.xp.<...>, L.backend.xp.<...>
                if dotted[i] == "backend" and dotted[i + 1] == "xp":
                    yield node.lineno, ".".join(dotted[i + 2:])
                    break
        elif isinstance(node, _SCOPES):
            yield from _scope_chains(node, names, outermost)


def array_module_chains():
    """(file, line, "zeros" / "lib.stride_tricks.sliding_window_view") for every use."""
    uses = []
    for path in SOURCES:
        tree = _parse(path)
        outermost = {id(n) for n in _outermost_attributes(tree)}
        uses += [(_relative(path), line, chain) for line, chain in _scope_chains(tree, {"xp"}, outermost)]
    return uses


def _has_chain(module, chain: str) -> bool:
    obj = module
    for name in chain.split("."):
        if not hasattr(obj, name):
            return False
        obj = getattr(obj, name)
    return True


def test_the_scan_finds_the_array_module_uses():
    """Guard against a scan that silently finds nothing."""
    chains = {chain for _, _, chain in array_module_chains()}
    expected = ["zeros", "zeros_like", "matmul", "einsum", "exp", "broadcast_to"]
    if (PACKAGE / "fast").is_dir():                # a student copy has no fast tier
        expected += ["ascontiguousarray", "lib.stride_tricks.sliding_window_view"]
    for name in expected:
        assert name in chains, f"the scan missed xp.{name}; found {sorted(chains)}"


def test_the_chain_scan_on_a_sample():
    """Every spelling of an array module is followed, and other objects are not."""
    source = (
        "from lrlc_np import backend\n"
        "from lrlc_np.backend import get_array_module\n"
        "def f(x, cache):\n"
        "    mod = get_array_module(x)\n"
        "    alias = mod\n"
        "    a = alias.lib.stride_tricks.sliding_window_view(x, 2)\n"
        "    b = get_array_module(x).zeros_like(x).sum()\n"
        "    c = backend.xp.ones(3) + backend.get_array_module(x).fancy_name(x)\n"
        "    def inner():\n"
        "        return mod.exp(x)\n"
        "    return x.mean(), cache.module.zeros(2)\n"
        "def g(module):\n"
        "    return module.startswith('cupy'), xp.linspace(0, 1, 3)\n")
    tree = ast.parse(source)
    outermost = {id(n) for n in _outermost_attributes(tree)}
    assert sorted(_scope_chains(tree, {"xp"}, outermost)) == [
        (6, "lib.stride_tricks.sliding_window_view"), (7, "zeros_like"), (8, "fancy_name"),
        (8, "ones"), (10, "exp"), (13, "linspace")]


def test_every_array_module_name_exists_in_cupy():
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as err:
        pytest.skip(f"CuPy cannot be imported ({err}); install cupy-cuda12x to run this check")
    missing = [f"lrlc_np/{path}:{line}: xp.{chain}" for path, line, chain in array_module_chains()
               if not _has_chain(cupy, chain)]
    assert not missing, "names CuPy (" + cupy.__version__ + ") lacks:\n" + "\n".join(missing)


# --------------------------------------------------------------------------- numpy outside backend.py

def numpy_uses(tree: ast.Module):
    """(line, what) for every use of NumPy: attribute chains after the module, imported names,
    and the module itself used bare (e.g. ``xp = numpy``)."""
    aliases, uses = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "numpy" or a.name.startswith("numpy."):
                    aliases.add(a.asname or "numpy")
                    if a.asname and a.name != "numpy":   # import numpy.random as npr
                        uses.append((node.lineno, a.name[len("numpy."):]))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module == "numpy" or node.module.startswith("numpy.")):
            prefix = node.module[len("numpy."):] + "." if node.module != "numpy" else ""
            uses += [(node.lineno, prefix + a.name) for a in node.names]
    attribute_roots = set()
    for node in _outermost_attributes(tree):
        root, attrs = _chain(node)
        if isinstance(root, ast.Name) and root.id in aliases:
            attribute_roots.add(id(root))
            uses.append((node.lineno, ".".join(attrs)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in aliases and id(node) not in attribute_roots:
            uses.append((node.lineno, "<the module itself>"))
    return aliases, uses


def _allowed(chain: str, allowed: set[str]) -> bool:
    """Listed chains and their attributes (``float32.__name__``) are allowed."""
    return any(chain == a or chain.startswith(a + ".") for a in allowed)


def test_which_modules_import_numpy():
    """Every module that imports NumPy is the backend, exempt, or has an allow-list."""
    importers = sorted(_relative(p) for p in SOURCES if numpy_uses(_parse(p))[0])
    unlisted = [m for m in importers
                if m != BACKEND and not _exempt(m) and m not in NUMPY_ALLOWED]
    assert not unlisted, (
        f"these modules import numpy but have no allow-list in {Path(__file__).name}: {unlisted}. "
        "Array maths goes through lrlc_np.backend (xp = get_array_module(x)); if the module "
        "only needs dtypes or host-side work, add it to NUMPY_ALLOWED")
    assert BACKEND in importers


def test_only_the_backend_uses_numpy_for_array_maths():
    problems = []
    for path in SOURCES:
        rel = _relative(path)
        if rel == BACKEND or _exempt(rel):
            continue
        allowed = NUMPY_ALLOWED.get(rel, set())
        for line, chain in numpy_uses(_parse(path))[1]:
            if not _allowed(chain, allowed):
                problems.append(f"lrlc_np/{rel}:{line}: numpy.{chain}")
    assert not problems, (
        "NumPy used outside lrlc_np/backend.py beyond the allow-list (this bypasses the "
        "backend, so it breaks on CuPy arrays); use xp = get_array_module(x) and xp.<name>, "
        "or, for genuinely host-side work, extend NUMPY_ALLOWED:\n" + "\n".join(problems))


def test_the_numpy_scan_catches_array_maths(tmp_path):
    """The scan itself: a numpy.exp on an array, in any spelling, is reported with its line."""
    source = ("import numpy\nimport numpy as np\nfrom numpy import exp\n\n"
              "def f(x):\n    y = np.exp(x) + numpy.lib.stride_tricks.sliding_window_view(x, 2)\n"
              "    ok = numpy.issubdtype(x.dtype, numpy.floating)\n    mod = np\n    return exp(y)\n")
    _, uses = numpy_uses(ast.parse(source))
    bad = sorted((line, chain) for line, chain in uses if not _allowed(chain, _DTYPES))
    assert bad == [(3, "exp"), (6, "exp"), (6, "lib.stride_tricks.sliding_window_view"),
                   (8, "<the module itself>")]
