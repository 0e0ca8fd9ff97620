"""Shared test set-up: hypothesis profiles.

Profiles set the number of hypothesis examples: ``dev`` (default, quick), ``ci`` (chosen
automatically when the CI environment variable is set) and ``thorough`` (many examples,
for a careful local run). Pick one with HYPOTHESIS_PROFILE=thorough pytest.
"""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=15, **_common)
settings.register_profile("ci", max_examples=30, print_blob=True, **_common)
settings.register_profile("thorough", max_examples=300, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


# --------------------------------------------------------------------------- backends

import pytest  # noqa: E402  (appended section: backend fixtures)


@pytest.fixture(params=["numpy", "cupy"])
def xp_backend(request):
    """The array module of each backend, made the active backend for the test.

    Yields ``numpy`` or ``cupy``; layers built inside the test put their parameters there.
    The cupy case skips with the reason ("CuPy not installed" or "no CUDA device: ...")
    when CuPy or a usable GPU is missing. The previous backend is restored afterwards.
    """
    import importlib.util

    from lrlc_np import backend

    previous = backend.get_backend()
    if request.param == "cupy" and importlib.util.find_spec("cupy") is None:
        pytest.skip("CuPy not installed")
    try:
        module = backend.set_backend(request.param)
    except backend.BackendError as err:
        pytest.skip(f"no CUDA device: {err}")
    try:
        yield module
    finally:
        backend.set_backend(previous)
