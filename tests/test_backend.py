"""The NumPy/CuPy switch."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from lrlc_np import backend


def test_numpy_is_the_default():
    assert backend.get_backend() == "numpy"
    assert backend.xp is np
    assert backend.get_array_module(np.zeros(2), 3.0) is np


def test_to_numpy_and_to_device_round_trip():
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(backend.to_numpy(backend.to_device(a)), a)


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match=r"set_backend: expected one of \('numpy', 'cupy'\), got 'torch'"):
        backend.set_backend("torch")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_cupy_without_cupy_gives_one_clear_error():
    with pytest.raises(backend.BackendError, match="CuPy is not installed.*pip install"):
        backend.set_backend("cupy")
    assert backend.get_backend() == "numpy"


def test_environment_variable_picks_the_start_up_backend():
    code = "import lrlc_np.backend as b; print(b.get_backend())"
    env = {"LRLC_NP_BACKEND": "numpy", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "numpy"
    env["LRLC_NP_BACKEND"] = "fortran"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode != 0 and "got 'fortran'" in out.stderr


def test_import_needs_only_numpy():
    """`import lrlc_np` and its layers must not pull in scipy, matplotlib or tqdm."""
    code = ("import sys, lrlc_np, lrlc_np.layers, lrlc_np.ops, lrlc_np.gradcheck, lrlc_np.cli; "
            "print(sorted(m for m in ('scipy', 'matplotlib', 'tqdm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
