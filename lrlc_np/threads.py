"""How many threads the ops use, and pinning that number for a run.

The fast tier runs its chunks on ``count()`` Python threads (``fast._parallel``), and the
chunks are cut by that number, so float32 sums are taken in an order that depends on it: a
run is reproducible bit for bit with the same number of threads, not across numbers. A run
therefore records the number it trained with (kept in its checkpoint; ``record()`` adds it and
the CPU to every epoch's metrics) and a resumed run is pinned to it (``pinned``); runs that
``lrlc compare`` schedules are pinned to one thread, so that they give the same bits however
they are scheduled.

    count()             $LRLC_NP_THREADS if set, else the cores this process may run on;
                        inside ``pinned(n)``, n
    pinned(n)           a ``with`` block in which the ops use n threads; with n = 1 the BLAS
                        runs on one thread too (``threadpoolctl``)
    record()            {"threads", "cpu"}: what each epoch's metrics say of where it ran
    ENVIRONMENT         the BLAS variables of a process whose products run on one thread
                        (compare's workers; their ops are pinned with ``pinned(1)``)
"""

from __future__ import annotations

import contextlib
import functools
import os

from .options import EnvironmentVariableError

VARIABLE = "LRLC_NP_THREADS"
#: the environment of a process whose BLAS runs on one thread (set before NumPy loads). The ops'
#: own count is not set here but pinned per run (``pinned``), so that a run of an older version,
#: which recorded no count, continues on the count of the environment, as that version did.
ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

_pinned = None


class ThreadsError(EnvironmentVariableError):
    """$LRLC_NP_THREADS holds something other than a positive whole number."""


def from_environment():
    """$LRLC_NP_THREADS as an int, or None when it is not set; ThreadsError naming it when bad."""
    value = os.environ.get(VARIABLE, "").strip()
    if not value:
        return None
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise ThreadsError(f"{VARIABLE}={value}: expected a positive whole number of threads (1 runs the "
                           f"ops on one thread); unset it to use every core")
    return count


def count() -> int:
    """Threads the ops use now: the pinned number, else $LRLC_NP_THREADS, else the usable cores."""
    if _pinned is not None:
        return _pinned
    chosen = from_environment()
    if chosen is not None:
        return chosen
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                     # macOS, Windows
        return os.cpu_count() or 1


@contextlib.contextmanager
def pinned(n):
    """Run the block's ops on ``n`` threads (None: as the environment says); with n = 1 the
    BLAS too runs on one thread (through threadpoolctl, when it is installed)."""
    global _pinned
    if n is None:
        yield
        return
    previous, _pinned = _pinned, int(n)
    try:
        with _blas_limit(1 if n == 1 else None):
            yield
    finally:
        _pinned = previous


@contextlib.contextmanager
def _blas_limit(limit):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                                 # pragma: no cover - a dependency
        limit = None
    if limit is None:
        yield
        return
    with threadpool_limits(limits=limit, user_api="blas"):
        yield


@functools.lru_cache(maxsize=None)
def cpu_name() -> str:
    """The processor's model name ("AMD EPYC 7B13"), from /proc/cpuinfo on Linux, else from
    ``platform``; "unknown" when neither says (read once per process). Speeds and last-bit
    results depend on it."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:                             # not Linux
        pass
    return platform.processor() or platform.machine() or "unknown"


def record() -> dict:
    """What every epoch of a run records about where it ran: {"threads": the ops' thread count,
    "cpu": ``cpu_name()``}. The bits of a run depend on the thread count, its speed on both."""
    return {"threads": count(), "cpu": cpu_name()}
