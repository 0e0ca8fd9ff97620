"""One switch between the two tiers of ops: the clear formulas and the fast code.

    lrlc_np.ops    the clear tier: what a student reads (and, in a course, writes)
    lrlc_np.fast   the fast tier: the same functions, tuned; the default

Every layer asks ``active()`` for the tier when it runs its forward pass, and runs the
backward pass of that same tier (the two tiers' caches differ)::

    import lrlc_np
    lrlc_np.set_ops("clear")            # or LRLC_NP_OPS=clear before start-up, or --ops clear
    with lrlc_np.use_ops("fast"):       # for one block
        ...

The environment variable ``LRLC_NP_OPS`` picks the start-up tier.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import types
from pathlib import Path

from .options import TIERS, EnvironmentVariableError

ENV_VARIABLE = "LRLC_NP_OPS"
_MODULES = {"clear": "lrlc_np.ops", "fast": "lrlc_np.fast"}


_HERE = Path(__file__).resolve().parent             # this copy's own folders, not another install's
_AVAILABLE = tuple(t for t in TIERS if (_HERE / _MODULES[t].split(".")[1] / "__init__.py").is_file())


def available() -> tuple:
    """The tiers this copy of the package has: ("clear", "fast"), or ("clear",) in a student
    copy (``lrlc course make-student``), which leaves the fast tier out."""
    return _AVAILABLE


#: the start-up tier: "fast" where it exists
DEFAULT = "fast" if "fast" in available() else "clear"
_active = DEFAULT


def _check(name, owner):
    if not isinstance(name, str) or name not in TIERS:
        raise ValueError(f"{owner}: expected one of {', '.join(repr(t) for t in TIERS)}, got {name!r}")
    if name not in available():
        raise ValueError(f"{owner}: this copy of lrlc_np has no {name!r} tier (a student copy has only "
                         f"'clear'); use {', '.join(repr(t) for t in available())}")
    return name


def module(name: str) -> types.ModuleType:
    """The module of tier ``name``: ``lrlc_np.ops`` for "clear", ``lrlc_np.fast`` for "fast"."""
    return importlib.import_module(_MODULES[_check(name, "tiers.module")])


def set_ops(name: str) -> types.ModuleType:
    """Make ``name`` ("clear" or "fast") the tier every layer runs from now on; return its module."""
    global _active
    _active = _check(name, "set_ops")
    return module(_active)


def get_ops() -> str:
    """The name of the active tier: "clear" or "fast"."""
    return _active


def active() -> types.ModuleType:
    """The module of the active tier (what a layer calls on every forward pass; the name was
    checked when it was set)."""
    return importlib.import_module(_MODULES[_active])


def stored(kind: str, array):
    """``array`` in the memory layout the active tier reads fastest for a parameter of ``kind``
    (its ``LAYOUTS``: the fast tier stores the LC weight, "lc_weight", in the order its product
    reads); ``array`` itself where the tier has none. The shape and values are the same."""
    arrange = getattr(active(), "LAYOUTS", {}).get(kind)
    return array if arrange is None else arrange(array)


def fuses(pair: str) -> bool:
    """Whether the active tier runs two layers as one op (its ``FUSED`` ops: the fast tier's
    "batchnorm2d_relu" runs a batch norm and the ReLU after it)."""
    return f"{pair}_forward" in getattr(active(), "FUSED", ())


@contextlib.contextmanager
def use_ops(name: str):
    """Make ``name`` the active tier inside a ``with`` block; yield its module."""
    previous = _active
    chosen = set_ops(name)
    try:
        yield chosen
    finally:
        set_ops(previous)


def _from_environment():
    requested = os.environ.get(ENV_VARIABLE, "").strip()
    if requested:
        try:
            _check(requested, f"{ENV_VARIABLE}={requested}")
        except ValueError as err:
            raise EnvironmentVariableError(str(err)) from None
        set_ops(requested)


_from_environment()
