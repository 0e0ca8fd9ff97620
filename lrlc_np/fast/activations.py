"""Fast ReLU: the same results as ``ops.activations``, in chunks on all cores.

What changes: the mask and the product run in chunks of the first axis on every core
(``_parallel``), into arrays with x's memory layout (NHWC after a fast layer), and the
backward pass writes into one fresh array. What it buys: the three ReLUs of a training
step took 18 ms of 429 (PERF_NOTES); NumPy alone runs these loops on one core.
"""

from __future__ import annotations

from ..backend import get_array_module
from ..ops import _checks
from . import _parallel


def relu_forward(x):
    """Same result as ``ops.relu_forward``.  x (any shape) -> y (same shape and memory layout)."""
    _checks.float_array(x, "x", "relu_forward")
    if x.ndim == 0:
        positive = x > 0
        return x * positive, positive
    xp = get_array_module(x)
    y = xp.empty_like(x)                                     # same memory layout as x
    positive = xp.empty_like(x, dtype=bool)

    def chunk(lo, hi):
        xp.greater(x[lo:hi], 0, out=positive[lo:hi])
        xp.multiply(x[lo:hi], positive[lo:hi], out=y[lo:hi])

    _for_leading_axis(x, chunk)
    return y, positive


def relu_backward(dy, cache):
    """Same result as ``ops.relu_backward``: dx = dy where x > 0, else 0."""
    positive = cache
    _checks.float_array(dy, "dy", "relu_backward")
    _checks.shape(dy, positive.shape, "dy", "relu_backward")
    if dy.ndim == 0:
        return dy * positive
    xp = get_array_module(dy)
    dx = xp.empty_like(dy)
    _for_leading_axis(dy, lambda lo, hi: xp.multiply(dy[lo:hi], positive[lo:hi], out=dx[lo:hi]))
    return dx


def _for_leading_axis(a, body):
    """Run ``body(lo, hi)`` over chunks of a's first axis, on all cores."""
    _parallel.for_chunks(a.shape[0], _parallel.chunk_size(a[0].nbytes if a.shape[0] else 1), body,
                         xp=get_array_module(a))
