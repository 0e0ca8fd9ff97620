"""The NumPy/CuPy switch."""

import copy
import importlib.util
import re
import subprocess
import sys
import types

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


def _assert_no_chained_error(err):
    """The BackendError stands alone: no CuPy/CUDA exception is chained to the traceback."""
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__


def _assert_still_numpy():
    assert backend.get_backend() == "numpy"
    assert backend.xp is np


def test_cupy_not_installed_gives_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)   # `import cupy` now fails as if it were absent
    with pytest.raises(backend.BackendError) as info:
        backend.set_backend("cupy")
    assert str(info.value) == (
        "backend 'cupy' was requested but CuPy is not installed. Install it with: "
        'pip install "cupy-cuda12x[ctk]" (CUDA 12, with the CUDA libraries; needs an NVIDIA GPU '
        "and driver), or use the default backend 'numpy'."
    )
    _assert_no_chained_error(info.value)
    _assert_still_numpy()


def _cupy_device_count():
    """Number of CUDA devices CuPy sees; None when CuPy is missing, 0 when none answers."""
    if importlib.util.find_spec("cupy") is None:
        return None
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount()
    except Exception:
        return 0


@pytest.mark.skipif(_cupy_device_count() is None, reason="CuPy not installed")
@pytest.mark.skipif(bool(_cupy_device_count()), reason="a CUDA device is present")
def test_real_cupy_without_a_gpu_gives_one_clear_error():
    """The installed CuPy on a machine without a GPU: a BackendError, never a CUDA exception."""
    with pytest.raises(backend.BackendError) as info:
        backend.set_backend("cupy")
    message = str(info.value)
    assert message.startswith("backend 'cupy' was requested and CuPy is installed, but ")
    assert re.search(r"no NVIDIA driver was found|no usable CUDA device|no CUDA device was found|"
                     r"the NVIDIA driver supports CUDA up to", message), message
    assert message.endswith("or use the default backend 'numpy'.")
    _assert_no_chained_error(info.value)
    _assert_still_numpy()


class _FailingFinder:
    """A meta-path finder that makes `import cupy` raise ``error``."""

    def __init__(self, error):
        self.error = error

    def find_spec(self, name, path=None, target=None):
        if name == "cupy":
            raise self.error
        return None


@pytest.mark.parametrize("error, expected", [
    (ImportError("libcudart.so.12: cannot open shared object file: No such file or directory"),
     "backend 'cupy' was requested and CuPy is installed, but importing it failed (ImportError: "
     "libcudart.so.12: cannot open shared object file: No such file or directory): CUDA libraries "
     "are missing or do not match the CuPy package. Install the matching package with its "
     'libraries, e.g. pip install "cupy-cuda12x[ctk]" for CUDA 12, or use the default backend \'numpy\'.'),
    (ModuleNotFoundError("No module named 'fastrlock'", name="fastrlock"),
     "backend 'cupy' was requested and CuPy is installed, but importing it failed "
     "(ModuleNotFoundError: No module named 'fastrlock'). Reinstall it with: "
     'pip install "cupy-cuda12x[ctk]", or use the default backend \'numpy\'.'),
], ids=["cuda-library-missing", "dependency-missing"])
def test_cupy_that_cannot_be_imported_gives_one_clear_error(monkeypatch, error, expected):
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_FailingFinder(error), *sys.meta_path])
    with pytest.raises(backend.BackendError) as info:
        backend.set_backend("cupy")
    assert str(info.value) == expected
    _assert_still_numpy()


class DynamicLibNotFoundError(RuntimeError):
    """Stands in for cuda.pathfinder's error when libnvrtc cannot be found."""


def _fake_cupy(count=1, driver=12090, runtime_version=12090, compute_error=None):
    """A stand-in `cupy` module: getDeviceCount returns ``count`` or raises it (an exception)."""
    def get_device_count():
        if isinstance(count, Exception):
            raise count
        return count

    def arange(*args, **kwargs):
        if compute_error is not None:
            raise compute_error
        return np.arange(*args, **kwargs)

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(
        getDeviceCount=get_device_count, driverGetVersion=lambda: driver,
        runtimeGetVersion=lambda: runtime_version))
    fake.arange, fake.float32 = arange, np.float32
    return fake


class CUDARuntimeError(RuntimeError):
    """Stands in for cupy_backends.cuda.api.runtime.CUDARuntimeError."""


_INSUFFICIENT = CUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version")
_NO_DEVICE = CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
_FIX_GPU = "Check the GPU with `nvidia-smi` and CUDA_VISIBLE_DEVICES, or use the default backend 'numpy'."


@pytest.mark.parametrize("fake, expected", [
    (dict(count=_INSUFFICIENT, driver=0),
     "backend 'cupy' was requested and CuPy is installed, but no NVIDIA driver was found "
     "(CUDARuntimeError: cudaErrorInsufficientDriver: CUDA driver version is insufficient for "
     "CUDA runtime version). Run on a machine with an NVIDIA GPU and its driver (check with "
     "`nvidia-smi`), or use the default backend 'numpy'."),
    (dict(count=_INSUFFICIENT, driver=11080),
     "backend 'cupy' was requested and CuPy is installed, but the NVIDIA driver supports CUDA up "
     "to 11.8 while this CuPy needs CUDA 12.9 (CUDARuntimeError: cudaErrorInsufficientDriver: "
     "CUDA driver version is insufficient for CUDA runtime version). Update the NVIDIA driver, or "
     "install the CuPy package of an older CUDA, or use the default backend 'numpy'."),
    (dict(count=_NO_DEVICE),
     "backend 'cupy' was requested and CuPy is installed, but no usable CUDA device was found "
     "(CUDARuntimeError: cudaErrorNoDevice: no CUDA-capable device is detected). " + _FIX_GPU),
    (dict(count=0),
     "backend 'cupy' was requested and CuPy is installed, but no CUDA device was found. " + _FIX_GPU),
    (dict(compute_error=DynamicLibNotFoundError('Failure finding "libnvrtc.so.12"')),
     "backend 'cupy' was requested and a CUDA device was found, but a test computation on it "
     "failed (DynamicLibNotFoundError: Failure finding \"libnvrtc.so.12\"): CUDA libraries "
     "(NVRTC, cuBLAS) are missing or broken. Install them with: pip install "
     "\"cupy-cuda12x[ctk]\", or use the default backend 'numpy'."),
], ids=["no-driver", "old-driver", "no-device", "zero-devices", "cuda-libraries-missing"])
def test_cupy_without_a_usable_gpu_gives_one_clear_error(monkeypatch, fake, expected):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(**fake))
    with pytest.raises(backend.BackendError) as info:
        backend.set_backend("cupy")
    assert str(info.value) == expected
    _assert_no_chained_error(info.value)
    _assert_still_numpy()


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


# --------------------------------------------------------------------------- each backend

def _numpy_twin(model):
    """A copy of ``model`` whose parameters, gradients and buffers are NumPy arrays."""
    twin = copy.deepcopy(model)
    for layer in getattr(twin, "layers", [twin]):
        for attribute in ("params", "grads", "buffers"):
            setattr(layer, attribute, {k: backend.to_numpy(v).copy() for k, v in getattr(layer, attribute).items()})
    return twin


def _assert_on(xp, *arrays):
    for a in arrays:
        assert backend.get_array_module(a) is xp, type(a)


def test_conv2d_on_each_backend_matches_numpy(xp_backend):
    from lrlc_np.ops import conv2d_backward, conv2d_forward

    xp, rng = xp_backend, np.random.default_rng(0)
    x, weight, bias = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    y_ref, cache_ref = conv2d_forward(x, weight, bias, stride=(2, 1), padding=1)
    dy = rng.standard_normal(y_ref.shape)
    y, cache = conv2d_forward(xp.asarray(x), xp.asarray(weight), xp.asarray(bias), stride=(2, 1), padding=1)
    grads = conv2d_backward(xp.asarray(dy), cache)
    _assert_on(xp, y, *grads)
    np.testing.assert_allclose(backend.to_numpy(y), y_ref, rtol=1e-10, atol=1e-12)
    for got, want in zip(grads, conv2d_backward(dy, cache_ref)):
        np.testing.assert_allclose(backend.to_numpy(got), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", ["conv", "lc"])
def test_lrlc_layer_on_each_backend_matches_numpy(xp_backend, method):
    from lrlc_np.layers import LowRankLocallyConnected2D

    xp, rng = xp_backend, np.random.default_rng(1)
    layer = LowRankLocallyConnected2D(3, 4, (3, 2), input_size=(7, 6), rank=3, stride=(2, 1), padding=1,
                                      init="random", method=method, rng=rng, dtype=np.float64)
    for name, value in layer.params.items():
        if "bias" in name:
            layer.params[name] = xp.asarray(rng.standard_normal(value.shape))
    _assert_on(xp, *layer.params.values())
    twin = _numpy_twin(layer)
    x = rng.standard_normal((2, 3, 7, 6))
    y_ref = twin.forward(x)
    dy = rng.standard_normal(y_ref.shape)
    y = layer.forward(xp.asarray(x))
    dx = layer.backward(xp.asarray(dy))
    _assert_on(xp, y, dx, *layer.grads.values())
    np.testing.assert_allclose(backend.to_numpy(y), y_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(dx), twin.backward(dy), rtol=1e-10, atol=1e-12)
    for name, g in layer.grads.items():
        np.testing.assert_allclose(backend.to_numpy(g), twin.grads[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_training_step_on_each_backend_matches_numpy(xp_backend):
    """Forward, loss, backward and an SGD step of a small network, BatchNorm included."""
    from lrlc_np.layers import (BatchNorm2D, Conv2D, Dense, GlobalAvgPool2D, ReLU,
                                Sequential, SoftmaxCrossEntropy)
    from lrlc_np.optim import SGD

    xp, rng = xp_backend, np.random.default_rng(2)
    model = Sequential(Conv2D(1, 4, 3, padding=1, rng=rng, dtype=np.float64), BatchNorm2D(4, dtype=np.float64),
                       ReLU(), GlobalAvgPool2D(), Dense(4, 3, rng=rng, dtype=np.float64))
    twin = _numpy_twin(model)
    x, labels = rng.standard_normal((5, 1, 6, 6)), rng.integers(0, 3, 5)
    results = []
    for net, data, target in ((model, xp.asarray(x), xp.asarray(labels)), (twin, x, labels)):
        optimizer = SGD(net.params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3,
                        decay=net.decay_names())
        loss_fn = SoftmaxCrossEntropy()
        loss = loss_fn.forward(net.forward(data), target)
        net.backward(loss_fn.backward())
        optimizer.step(net.grads)
        results.append((loss, {k: backend.to_numpy(v) for k, v in {**net.params, **net.buffers}.items()}))
    _assert_on(xp, *model.params.values(), *model.buffers.values())
    (loss, state), (loss_ref, state_ref) = results
    assert loss == pytest.approx(loss_ref, rel=1e-10)
    for name, value in state.items():
        np.testing.assert_allclose(value, state_ref[name], rtol=1e-10, atol=1e-12, err_msg=name)
