"""Element-wise activations.

    x, y (any shape)
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from . import _checks


class ReLUCache(NamedTuple):
    positive: object    # the mask x > 0, x's shape


class SigmoidCache(NamedTuple):
    slope: object       # s(x) * (1 - s(x)), x's shape


def _times(dy, factor, owner):
    """dy * factor, element-wise, after checking that dy is a float array of factor's shape."""
    _checks.float_array(dy, "dy", owner)
    _checks.shape(dy, factor.shape, "dy", owner)
    return dy * factor


def relu_forward(x):
    """ReLU: y = max(x, 0).  x (any shape) -> y (same shape); cache: the mask x > 0."""
    _checks.float_array(x, "x", "relu_forward")
    positive = x > 0
    return x * positive, ReLUCache(positive)


def relu_backward(dy, cache):
    """ReLU backward: dx = dy where x > 0, else 0 (the subgradient 0 is used at x = 0).

    dy (same shape as x) -> dx (same shape)
    """
    return _times(dy, cache.positive, "relu_backward")


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
    return y, SigmoidCache(s_abs * s_neg)


def sigmoid_backward(dy, cache):
    """Sigmoid backward: ds/dx = exp(-x) / (1 + exp(-x))^2 = s * (1 - s), so dx = dy * s * (1 - s).

    dy (same shape as x) -> dx (same shape)
    """
    return _times(dy, cache.slope, "sigmoid_backward")
