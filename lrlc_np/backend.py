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

from .options import BACKENDS, EnvironmentVariableError

__all__ = [
    "xp",
    "set_backend",
    "get_backend",
    "get_array_module",
    "to_numpy",
    "to_device",
    "BackendError",
]


#: The active array module (``numpy`` or ``cupy``). Read it as ``backend.xp`` so that a
#: later ``set_backend`` call is seen; ``from lrlc_np.backend import xp`` freezes a copy.
xp: types.ModuleType = numpy
_name = "numpy"


class BackendError(RuntimeError):
    """The requested backend cannot be used on this machine."""


_NUMPY_HINT = "or use the default backend 'numpy'"
_CUPY_INSTALL = 'pip install "cupy-cuda12x[ctk]"'


def _cupy_error(problem: str, fix: str) -> BackendError:
    return BackendError(f"backend 'cupy' was requested {problem}. {fix}, {_NUMPY_HINT}.")


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}".strip().rstrip(":")


def _import_cupy():
    """Import CuPy and check that a CUDA device computes, or raise one clear BackendError.

    Four failure modes, each with its own message: CuPy is not installed; CuPy cannot be
    imported (a broken install, or CUDA libraries it links against are missing); CuPy
    imports but no NVIDIA driver or no CUDA device answers; or the device answers but a
    tiny computation fails (the CUDA libraries loaded at first use, NVRTC and cuBLAS, are
    missing). Raw CuPy/CUDA exceptions never escape; their text is quoted in the message.
    """
    try:
        import cupy
    except ModuleNotFoundError as err:
        if err.name != "cupy":  # CuPy is there but one of its own dependencies is not
            raise _cupy_error(
                f"and CuPy is installed, but importing it failed ({_describe(err)})",
                f"Reinstall it with: {_CUPY_INSTALL}",
            ) from None
        raise _cupy_error(
            "but CuPy is not installed",
            f"Install it with: {_CUPY_INSTALL} (CUDA 12, with the CUDA libraries; needs an "
            "NVIDIA GPU and driver)",
        ) from None
    except Exception as err:  # ImportError/OSError from a shared library CuPy links against
        raise _cupy_error(
            f"and CuPy is installed, but importing it failed ({_describe(err)}): CUDA "
            "libraries are missing or do not match the CuPy package",
            f"Install the matching package with its libraries, e.g. {_CUPY_INSTALL} for CUDA 12",
        ) from None
    runtime = cupy.cuda.runtime
    try:
        count = runtime.getDeviceCount()
    except Exception as err:  # CUDARuntimeError and friends; classify by the driver version
        try:
            driver, needed = runtime.driverGetVersion(), runtime.runtimeGetVersion()
        except Exception:
            driver = needed = None
        if driver == 0:
            raise _cupy_error(
                f"and CuPy is installed, but no NVIDIA driver was found ({_describe(err)})",
                "Run on a machine with an NVIDIA GPU and its driver (check with `nvidia-smi`)",
            ) from None
        if driver is not None and needed is not None and driver < needed:
            raise _cupy_error(
                f"and CuPy is installed, but the NVIDIA driver supports CUDA up to "
                f"{_cuda_version(driver)} while this CuPy needs CUDA {_cuda_version(needed)} "
                f"({_describe(err)})",
                "Update the NVIDIA driver, or install the CuPy package of an older CUDA",
            ) from None
        raise _cupy_error(
            f"and CuPy is installed, but no usable CUDA device was found ({_describe(err)})",
            "Check the GPU with `nvidia-smi` and CUDA_VISIBLE_DEVICES",
        ) from None
    if count < 1:
        raise _cupy_error(
            "and CuPy is installed, but no CUDA device was found",
            "Check the GPU with `nvidia-smi` and CUDA_VISIBLE_DEVICES",
        )
    try:  # compiles a kernel (NVRTC) and runs a matrix product (cuBLAS); float() waits for both
        a = cupy.arange(4, dtype=cupy.float32).reshape(2, 2)
        float((a @ a).sum())
    except Exception as err:
        raise _cupy_error(
            f"and a CUDA device was found, but a test computation on it failed "
            f"({_describe(err)}): CUDA libraries (NVRTC, cuBLAS) are missing or broken",
            f"Install them with: {_CUPY_INSTALL}",
        ) from None
    return cupy


def _cuda_version(v: int) -> str:
    """CUDA's integer version (12040) as text ("12.4")."""
    return f"{v // 1000}.{v % 1000 // 10}"


def set_backend(name: str) -> types.ModuleType:
    """Make ``name`` ("numpy" or "cupy") the active backend and return its module.

    Layers created afterwards put their parameters on that backend. Raises ValueError for
    an unknown name and BackendError (the backend stays as it was) when CuPy, the NVIDIA
    driver, a CUDA device or the CUDA libraries are missing; the message says which.
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


ENV_VARIABLE = "LRLC_NP_BACKEND"


def _backend_from_environment() -> None:
    requested = os.environ.get(ENV_VARIABLE, "").strip()
    if not requested:
        return
    if requested.lower() not in BACKENDS:
        raise EnvironmentVariableError(f"{ENV_VARIABLE}={requested}: expected one of {', '.join(BACKENDS)}, got "
                                       f"{requested!r}; unset it to use numpy")
    try:
        set_backend(requested)
    except BackendError as err:
        raise EnvironmentVariableError(f"{ENV_VARIABLE}={requested}: {err}") from None


_backend_from_environment()
