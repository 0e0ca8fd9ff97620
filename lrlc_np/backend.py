"""The array module: NumPy by default, CuPy on request.

Every array operation in ``lrlc_np.ops``, the layers, the optimiser and the gradient
checker reaches NumPy or CuPy through this module, so one switch moves the whole library
between CPU and GPU::

    from lrlc_np import backend
    backend.set_backend("cupy")      # or set LRLC_NP_BACKEND=cupy before start-up
    xp = backend.xp                  # the active module: numpy or cupy

Functions that receive arrays should not rely on the active module but on the arrays
themselves: ``xp = get_array_module(x)`` returns ``cupy`` for device arrays and ``numpy``
otherwise (DeZero's idiom), so an op works on whichever device its inputs live on.
"""

from __future__ import annotations

import os
import types

import numpy

__all__ = [
    "xp",
    "set_backend",
    "get_backend",
    "get_array_module",
    "to_numpy",
    "to_device",
    "BackendError",
]

BACKENDS = ("numpy", "cupy")

#: The active array module (``numpy`` or ``cupy``). Read it as ``backend.xp`` so that a
#: later ``set_backend`` call is seen; ``from lrlc_np.backend import xp`` freezes a copy.
xp: types.ModuleType = numpy
_name = "numpy"


class BackendError(RuntimeError):
    """The requested backend cannot be used on this machine."""


def _import_cupy():
    """Import CuPy and check that a CUDA device answers, or raise one clear BackendError."""
    try:
        import cupy
    except ImportError as err:
        raise BackendError(
            "backend 'cupy' was requested but CuPy is not installed "
            f"({err}). Install it with: pip install -e \".[gpu]\" (CUDA 12), "
            "or use the default backend 'numpy'."
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA raises several types; report them all the same way
        raise BackendError(
            "backend 'cupy' was requested and CuPy is installed, but no usable CUDA "
            f"device was found ({type(err).__name__}: {err}). Check the NVIDIA driver "
            "with `nvidia-smi`, or use the default backend 'numpy'."
        ) from None
    if count < 1:
        raise BackendError(
            "backend 'cupy' was requested and CuPy is installed, but no CUDA device was "
            "found. Check the NVIDIA driver with `nvidia-smi`, or use the default "
            "backend 'numpy'."
        )
    return cupy


def set_backend(name: str) -> types.ModuleType:
    """Make ``name`` ("numpy" or "cupy") the active backend and return its module.

    Layers created afterwards put their parameters on that backend. Raises ValueError for
    an unknown name and BackendError when CuPy or a CUDA device is missing.
    """
    global xp, _name
    if not isinstance(name, str) or name.lower() not in BACKENDS:
        raise ValueError(f"set_backend: expected one of {BACKENDS}, got {name!r}")
    name = name.lower()
    module = numpy if name == "numpy" else _import_cupy()
    xp, _name = module, name
    return module


def get_backend() -> str:
    """Name of the active backend: "numpy" or "cupy"."""
    return _name


def get_array_module(*arrays) -> types.ModuleType:
    """The module (numpy or cupy) that owns ``arrays``; numpy when none is a CuPy array.

    Unlike ``xp``, this follows the data: an op called on device arrays computes on the
    device even if the active backend is NumPy.
    """
    for a in arrays:
        module = type(a).__module__
        if module.startswith("cupy"):
            import cupy

            return cupy
    return numpy


def to_numpy(a):
    """Return ``a`` as a host (NumPy) array; NumPy arrays and scalars pass through."""
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return numpy.asarray(a)


def to_device(a):
    """Return ``a`` as an array of the active backend (copied to the GPU under CuPy)."""
    return xp.asarray(a)


def _backend_from_environment() -> None:
    requested = os.environ.get("LRLC_NP_BACKEND", "").strip()
    if requested:
        set_backend(requested)


_backend_from_environment()
