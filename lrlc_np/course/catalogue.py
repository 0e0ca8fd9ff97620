"""The exercises: their points, where they live, and which other exercises each one calls.

An exercise is a function of the clear tier (``lrlc_np/ops/*.py``) whose body holds one or
more blocks fenced ``# BEGIN SOLUTION <name>`` (see ``markers``); the fence's name is the
function's name. This module reads the fences and the functions' calls from the source, so
a teacher who fences a new block only adds a line to ``EXERCISES`` (and its checks).

    EXERCISES        name -> (points, what it is)
    locate(name)     -> Location: the file (relative to the package) and the hint
    dependencies(name)  the other exercises the grader puts solved in place when it grades
                     ``name`` alone: the exercises its body calls, and for a backward pass
                     its forward pass (which makes the cache), all of theirs, transitively
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

from .markers import find_blocks

#: name -> (points, what). Backward passes weigh more: they are the derivations.
EXERCISES = {
    "im2col": (1, "patches to rows"),
    "col2im": (1, "rows back onto the image (the adjoint of im2col)"),
    "conv2d_forward": (1, "convolution as one matrix product"),
    "conv2d_backward": (2, "dW = dY^T X, db, dx = col2im(dY W)"),
    "locally_connected2d_forward": (1, "a filter bank per position"),
    "locally_connected2d_backward": (2, "the LC layer's gradients"),
    "combining_weights_forward": (1, "softmax and L2 norm over K"),
    "combining_weights_backward": (2, "their Jacobians"),
    "lrlc2d_forward": (2, "both LRLC routes"),
    "lrlc2d_backward": (3, "dx, dbases and dalpha on both routes"),
    "batchnorm2d_backward": (2, "batch norm's gradient, training and evaluation"),
    "softmax_cross_entropy_backward": (1, "the loss's gradient"),
    "bilinear_resize_backward": (1, "stretch: the resize's adjoint"),
}

#: the package whose clear tier holds the exercises (this installation's)
PACKAGE = Path(__file__).resolve().parent.parent
OPS = "ops"


@dataclass(frozen=True)
class Location:
    """Where exercise ``name`` lives: ``file`` relative to the package ("ops/conv.py"), its hint."""

    name: str
    file: str
    hint: str


@functools.lru_cache(maxsize=None)
def _fenced(package=PACKAGE) -> dict:
    """{name: Location} of every fenced block under ``package/ops``."""
    found = {}
    for path in sorted((Path(package) / OPS).glob("*.py")):
        for block in find_blocks(path.read_text(encoding="utf-8"), str(path)):
            found.setdefault(block.name, Location(block.name, f"{OPS}/{path.name}", block.hint))
    return found


def locate(name, package=PACKAGE) -> Location:
    """The file and hint of exercise ``name``; KeyError if no block is fenced with that name."""
    return _fenced(package)[name]


def files(names, package=PACKAGE) -> list:
    """The files (relative to the package) that hold the exercises ``names``, in order, once each."""
    out = []
    for name in names:
        file = locate(name, package).file
        if file not in out:
            out.append(file)
    return out


def function_node(tree: ast.Module, name: str):
    """The last module-level ``def name`` of ``tree`` (the one Python keeps), or None."""
    found = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            found = node
    return found


def _called_names(node) -> set:
    """Names a function body calls, as ``f(...)`` or ``module.f(...)``."""
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            if isinstance(sub.func, ast.Name):
                names.add(sub.func.id)
            elif isinstance(sub.func, ast.Attribute):
                names.add(sub.func.attr)
    return names


@functools.lru_cache(maxsize=None)
def _direct(name, package=PACKAGE) -> frozenset:
    """The exercises that exercise ``name`` needs directly: the ones its body calls, and for a
    backward pass its forward pass."""
    fenced = _fenced(package)
    path = Path(package) / fenced[name].file
    node = function_node(ast.parse(path.read_text(encoding="utf-8")), name)
    needed = {n for n in _called_names(node) if n in fenced and n != name}
    forward = name.removesuffix("_backward") + "_forward"
    if name.endswith("_backward") and forward in fenced:
        needed.add(forward)
    return frozenset(needed)


def dependencies(name, package=PACKAGE) -> list:
    """Every exercise that grading ``name`` alone puts solved in its place (transitively), in
    the order of ``EXERCISES`` then of the files."""
    seen, todo = set(), [name]
    while todo:
        for other in _direct(todo.pop(), package):
            if other not in seen and other != name:
                seen.add(other)
                todo.append(other)
    order = list(EXERCISES) + sorted(_fenced(package))
    return sorted(seen, key=order.index)
