"""Shared test set-up: hypothesis profiles and the array backends.

Profiles set the number of hypothesis examples: ``dev`` (default, quick), ``ci`` (chosen
automatically when the CI environment variable is set) and ``thorough`` (many examples,
for a careful local run). Pick one with HYPOTHESIS_PROFILE=thorough pytest.

Backends: ``BACKEND_PARAMS`` parametrises a test over NumPy and CuPy (the cupy case skips
with the reason when CuPy or a GPU is missing), ``use_backend`` activates one for a block,
``on_backend`` / ``build_on_backend`` put arrays and layers there; ``xp_backend`` is the
fixture form for tests without hypothesis.
"""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=15, **_common)
settings.register_profile("ci", max_examples=30, print_blob=True, **_common)
settings.register_profile("thorough", max_examples=300, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


# --------------------------------------------------------------------------- backends

import contextlib  # noqa: E402  (appended section: backend fixtures and helpers)
import importlib.util  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def _cupy_skip_reason():
    """Why the cupy cases cannot run here, or None when CuPy and a CUDA device work.

    Tries ``set_backend("cupy")`` (which checks the import, the driver, a device and a tiny
    computation) and always puts the previous backend back.
    """
    from lrlc_np import backend

    if "cupy" not in sys.modules and importlib.util.find_spec("cupy") is None:
        return "CuPy not installed"
    previous = backend.get_backend()
    try:
        backend.set_backend("cupy")
    except backend.BackendError as err:
        return f"no CUDA device: {err}"
    finally:
        backend.set_backend(previous)
    return None


#: None when the cupy backend works on this machine, else the reason its cases are skipped.
#: Determined once, when the test session starts.
CUPY_SKIP_REASON = _cupy_skip_reason()

#: Parametrise a test over every backend: ``@pytest.mark.parametrize("backend_name",
#: BACKEND_PARAMS)``, then run its body under ``with use_backend(backend_name):``. Unlike the
#: ``xp_backend`` fixture this works with hypothesis' @given (which refuses function-scoped
#: fixtures). The cupy cases are skipped, with the reason, when CuPy or a GPU is missing.
BACKEND_PARAMS = [
    pytest.param("numpy", id="numpy"),
    pytest.param("cupy", id="cupy", marks=pytest.mark.skipif(
        CUPY_SKIP_REASON is not None, reason=str(CUPY_SKIP_REASON))),
]


@contextlib.contextmanager
def use_backend(name):
    """Make ``name`` ("numpy" or "cupy") the active backend inside the block; yield its module.

    Layers built inside put their parameters there, and ``backend.to_device`` copies to it.
    The previous backend is restored afterwards, also when the block fails.
    """
    from lrlc_np import backend

    previous = backend.get_backend()
    module = backend.set_backend(name)
    try:
        yield module
    finally:
        backend.set_backend(previous)


def on_backend(*arrays):
    """The arrays as arrays of the active backend (None stays None); one array -> one result.

    Under NumPy, NumPy arrays come back as the very same objects, so a test parametrised over
    the backends checks exactly what it did before on its numpy case.
    """
    from lrlc_np import backend

    moved = tuple(None if a is None else backend.to_device(a) for a in arrays)
    return moved[0] if len(moved) == 1 else moved


def layer_on_backend(layer):
    """Move ``layer``'s parameters, gradients and buffers (a Sequential's children's too)
    to the active backend, in place, and return it: the layer that building it there gives.

    Needed for layers built from host numbers that are written into the parameters with
    ``p[...] = ndarray`` (``LayerSetup.build``), which a CuPy array refuses. Under NumPy every
    array stays the same object.
    """
    from lrlc_np import backend

    for sub in getattr(layer, "layers", [layer]):
        for attribute in ("params", "grads", "buffers"):
            arrays = getattr(sub, attribute)
            for name, value in arrays.items():
                arrays[name] = backend.to_device(value)
    return layer


def build_on_backend(setup, dtype=np.float64):
    """``setup.build(dtype)`` (a ``strategies.LayerSetup``) with the layer and its input on the
    active backend: the same numbers as on NumPy, drawn on the host, then moved."""
    with use_backend("numpy"):
        layer, x = setup.build(dtype)
    return layer_on_backend(layer), on_backend(x)


@pytest.fixture(params=["numpy", "cupy"])
def xp_backend(request):
    """The array module of each backend, made the active backend for the test.

    Yields ``numpy`` or ``cupy``; layers built inside the test put their parameters there.
    The cupy case skips with the reason ("CuPy not installed" or "no CUDA device: ...")
    when CuPy or a usable GPU is missing. The previous backend is restored afterwards.
    """
    if request.param == "cupy" and CUPY_SKIP_REASON is not None:
        pytest.skip(CUPY_SKIP_REASON)
    with use_backend(request.param) as module:
        yield module


# --------------------------------------------------------------------------- tiers of ops

#: Parametrise a test over both tiers of ops, ``lrlc_np.ops`` (clear) and ``lrlc_np.fast``.
TIER_PARAMS = [pytest.param("clear", id="clear"), pytest.param("fast", id="fast")]


@pytest.fixture(scope="module", params=["clear", "fast"])
def each_tier(request):
    """Run every test of a module once per tier, with that tier active (``lrlc_np.use_ops``).

    Module-scoped, so hypothesis' ``@given`` tests can use it (it refuses function-scoped
    fixtures); a module opts in with ``pytestmark = pytest.mark.usefixtures("each_tier")``
    and calls the ops through ``T``.
    """
    from lrlc_np import tiers

    with tiers.use_ops(request.param):
        yield request.param


class _ActiveTier:
    """``T.conv2d_forward`` is the function of the active tier: the op under test."""

    def __getattr__(self, name):
        from lrlc_np import tiers

        return getattr(tiers.active(), name)


T = _ActiveTier()


# --------------------------------------------------------------------------- isolation


@pytest.fixture(autouse=True)
def _restore_ops_switch():
    """Put the tier switch and ``$LRLC_NP_OPS`` back after every test.

    ``lrlc ... --ops clear`` sets both for the rest of its process (so that ``compare --jobs``
    workers inherit the tier); a test that calls ``cli.main`` in-process must not pass that
    on to the tests after it, or to the subprocesses they start.
    """
    from lrlc_np import tiers

    saved_env, saved_ops = os.environ.get(tiers.ENV_VARIABLE), tiers.get_ops()
    yield
    if saved_env is None:
        os.environ.pop(tiers.ENV_VARIABLE, None)
    else:
        os.environ[tiers.ENV_VARIABLE] = saved_env
    tiers.set_ops(saved_ops)


# --------------------------------------------------------------------------- in a student copy

def _student_copy_skip(excinfo):
    """Why a failure in a student copy is a skip, or None: an exercise not written yet, or a
    test of the fast tier, which a copy leaves out (``lrlc course make-student``). A group of
    failures (hypothesis reports each distinct one) is a skip when each of them is."""
    errors = [excinfo.value]
    while any(isinstance(e, BaseExceptionGroup) for e in errors):
        errors = [leaf for e in errors for leaf in (e.exceptions if isinstance(e, BaseExceptionGroup) else [e])]
    reasons = [_skip_reason(err) for err in errors]
    return reasons[0] if all(reasons) else None


def _skip_reason(err):
    text = str(err)
    if isinstance(err, NotImplementedError) and text.startswith("exercise "):
        name = text.split(":")[0].removeprefix("exercise ").strip()
        return f"exercise {name} is not written yet ({text.split(':', 1)[1].strip()[:60]}...)"
    from lrlc_np import stand_ins, tiers

    if "fast" in tiers.available():
        return None
    named = [name for name in stand_ins.unwritten() if f"exercise {name}:" in text]
    if named:                       # e.g. a subprocess (lrlc train) that stopped at the exercise
        return f"needs exercise {named[0]}, which is not written yet"
    if ((isinstance(err, ModuleNotFoundError) and (err.name or "").startswith("lrlc_np.fast"))
            or (isinstance(err, ValueError) and "has no 'fast' tier" in text)):
        return "needs the fast tier, which a student copy leaves out"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In a student copy, report a test that stops at an unwritten exercise (or needs the fast
    tier) as skipped, naming the exercise, instead of as a failure."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and report.failed:
        reason = _student_copy_skip(call.excinfo)
        if reason is not None:
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {reason}")
