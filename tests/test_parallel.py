"""The chunked, multi-threaded ops give the numbers of the one-chunk ops, and correct gradients.

Conv, batch norm and ReLU split the batch into chunks, LC and LRLC's "lc" route split the
output rows into bands (``lrlc_np.fast._parallel``). The test shapes are small, so by
default every op runs as a single chunk; ``tiny_chunks()`` forces one sample (or
one output row) per chunk on two threads, which exercises everything the chunking adds:
partial weight gradients summed over chunks, bands whose input rows overlap (kh > stride)
added back one by one, padding cut off at the right place, per-chunk statistics in batch
norm. Under it each op must reproduce its one-chunk result and pass the finite-difference
check.
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np
import pytest
from hypothesis import assume, given

from lrlc_np.gradcheck import relative_error
from lrlc_np import threads, tiers
from lrlc_np.fast import _parallel

from .strategies import geometries, op_case, seeds
from .test_ops_gradients import assert_gradients

CHUNKED_OPS = (
    "conv2d", "conv2d_no_bias", "locally_connected2d", "locally_connected2d_no_bias",
    "lrlc2d_lc", "lrlc2d_conv", "lrlc2d_per_example", "relu", "batchnorm2d_train", "batchnorm2d_eval",
)


@contextlib.contextmanager
def tiny_chunks():
    """One sample (or output row) per chunk, spread over two threads, inside the block.

    (A context manager rather than a fixture: hypothesis runs many examples per test call.)
    """
    saved_size, saved_env = _parallel.chunk_size, os.environ.get(threads.VARIABLE)
    _parallel.chunk_size = lambda per_item_bytes, target_bytes=0: 1
    os.environ[threads.VARIABLE] = "2"
    try:
        yield
    finally:
        _parallel.chunk_size = saved_size
        if saved_env is None:
            os.environ.pop(threads.VARIABLE, None)
        else:
            os.environ[threads.VARIABLE] = saved_env


def _run(case, dy):
    y, cache = case.forward(**case.inputs)
    return np.array(y), [None if g is None else np.array(g) for g in case.grads(dy, cache)]


# --------------------------------------------------------------------------- for_chunks

def test_for_chunks_covers_the_range_in_order(monkeypatch):
    """Every item is visited once, and results come back in chunk order whichever thread ran them."""
    monkeypatch.setenv(threads.VARIABLE, "2")
    seen = []

    def body(lo, hi):
        seen.extend(range(lo, hi))
        return (lo, hi)

    results = _parallel.for_chunks(10, 3, body)
    assert results == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert sorted(seen) == list(range(10))


def test_for_chunks_runs_two_chunks_at_the_same_time(monkeypatch):
    """With two workers, two chunks really run at once on two threads other than the caller:
    each body waits at a two-party barrier, which only opens when both are inside it (one
    thread running the chunks one after the other would time out and break the barrier)."""
    monkeypatch.setenv(threads.VARIABLE, "2")
    barrier = threading.Barrier(2, timeout=10)
    ran_on = set()

    def body(lo, hi):
        barrier.wait()
        ran_on.add(threading.get_ident())
        return hi - lo

    assert _parallel.for_chunks(4, 2, body) == [2, 2]
    assert len(ran_on) == 2 and threading.get_ident() not in ran_on


def test_for_chunks_with_one_worker_runs_in_the_calling_thread(monkeypatch):
    monkeypatch.setenv(threads.VARIABLE, "1")
    caller = threading.get_ident()
    assert _parallel.for_chunks(5, 2, lambda lo, hi: threading.get_ident()) == [caller] * 3


def test_for_chunks_of_nothing_calls_nothing():
    assert _parallel.for_chunks(0, 4, lambda lo, hi: pytest.fail("called")) == []


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_bad_thread_count_is_named(monkeypatch, value):
    monkeypatch.setenv(threads.VARIABLE, value)
    with pytest.raises(ValueError, match=f"LRLC_NP_THREADS={value}: expected a positive whole number"):
        _parallel.worker_count()


def test_chunk_size_targets_bytes():
    assert _parallel.chunk_size(1 << 20, target_bytes=4 << 20) == 4
    assert _parallel.chunk_size(10 << 20, target_bytes=4 << 20) == 1      # never below one item
    assert _parallel.chunk_size(0) >= 1


# --------------------------------------------------------------------------- chunked ops

@pytest.mark.parametrize("name", CHUNKED_OPS)
@given(geom=geometries(max_batch=4, max_size=8), seed=seeds)
def test_chunked_ops_match_one_chunk(name, geom, seed):
    """Forward output and every gradient, one sample/row per chunk on two threads, against
    the same call as a single chunk (float64, relative error <= 1e-12)."""
    assume(name != "batchnorm2d_train" or geom.n * geom.h * geom.w > 1)   # a variance needs two values
    rng = np.random.default_rng(seed)
    with tiers.use_ops("fast"):      # the chunked code is the fast tier's
        case = op_case(name, geom, rng)
    y, _ = case.forward(**case.inputs)
    dy = rng.standard_normal(np.shape(y))
    whole_y, whole_grads = _run(case, dy)
    with tiny_chunks():
        chunked_y, chunked_grads = _run(case, dy)
    assert relative_error(chunked_y, whole_y) <= 1e-12, f"{name}: forward differs when chunked"
    for grad_name, chunked, whole in zip(case.grad_names, chunked_grads, whole_grads):
        if whole is None:
            assert chunked is None
            continue
        err = relative_error(chunked, whole)
        assert err <= 1e-12, f"{name} d{grad_name}: relative error {err:.3g} between chunked and one chunk"


@pytest.mark.parametrize("name", CHUNKED_OPS)
@given(geom=geometries(max_batch=3, max_size=7), seed=seeds)
def test_chunked_ops_gradients(name, geom, seed):
    """The finite-difference check with one sample/row per chunk on two threads."""
    assume(name != "batchnorm2d_train" or geom.n * geom.h * geom.w > 1)
    rng = np.random.default_rng(seed)
    with tiers.use_ops("fast"):      # the chunked code is the fast tier's
        case = op_case(name, geom, rng)
    with tiny_chunks():
        assert_gradients(name, case.forward, case.backward, case.inputs, case.grad_names, rng)


def test_nested_for_chunks_runs_serially_inside_a_chunk(monkeypatch):
    """A body that itself calls for_chunks must not wait for the busy pool (no deadlock)."""
    monkeypatch.setenv(threads.VARIABLE, "2")

    def outer(lo, hi):
        return sum(_parallel.for_chunks(4, 1, lambda a, b: b - a))

    assert _parallel.for_chunks(6, 1, outer) == [4] * 6
