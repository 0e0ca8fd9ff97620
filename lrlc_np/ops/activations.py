"""Element-wise activations.

    x, y (any shape)
"""

from __future__ import annotations

from ..backend import get_array_module
from . import _checks, _parallel


def relu_forward(x):
    """ReLU: y = max(x, 0).  x (any shape) -> y (same shape).

    Runs in chunks of the first axis on all cores (``_parallel``), like batch norm.
    """
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
    """ReLU backward: dx = dy where x > 0, else 0 (the subgradient 0 is used at x = 0).

    dy (same shape as x) -> dx (same shape)
    """
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


def sigmoid_forward(x):
    """Logistic sigmoid: y = s(x) = 1 / (1 + exp(-x)).  x (any shape) -> y (same shape).

    cache  s(x) * (1 - s(x)), the slope that the backward pass needs, same shape

    exp(-x) overflows for x below about -89 (float32) or -710 (float64). With e = exp(-|x|),
    which lies in (0, 1] and never overflows, both halves are safe:

        s(|x|) = 1 / (1 + e),    s(-|x|) = e / (1 + e) = e * s(|x|)

    and y is the first where x >= 0, the second where x < 0 (e underflows to 0 for huge |x|:
    y = 1 or 0). Since 1 - s(x) = s(-x), the slope is s(|x|) * s(-|x|) whatever the sign of x;
    taking it from these two, not as y * (1 - y), avoids the cancellation in 1 - y for y near 1.
    """
    _checks.float_array(x, "x", "sigmoid_forward")
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    s_abs = 1 / (1 + e)                  # s(|x|), in [1/2, 1]
    s_neg = e * s_abs                    # s(-|x|) = 1 - s(|x|), in [0, 1/2]
    y = xp.where(x >= 0, s_abs, s_neg)
    return y, s_abs * s_neg


def sigmoid_backward(dy, cache):
    """Sigmoid backward: ds/dx = exp(-x) / (1 + exp(-x))^2 = s * (1 - s), so dx = dy * s * (1 - s).

    dy (same shape as x) -> dx (same shape)
    """
    slope = cache
    _checks.float_array(dy, "dy", "sigmoid_backward")
    _checks.shape(dy, slope.shape, "dy", "sigmoid_backward")
    return dy * slope
