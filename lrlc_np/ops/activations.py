"""Element-wise activations.

    x, y (any shape)
"""

from __future__ import annotations

from . import _checks


def relu_forward(x):
    """ReLU: y = max(x, 0).  x (any shape) -> y (same shape)."""
    _checks.float_array(x, "x", "relu_forward")
    positive = x > 0
    return x * positive, positive


def relu_backward(dy, cache):
    """ReLU backward: dx = dy where x > 0, else 0 (the subgradient 0 is used at x = 0).

    dy (same shape as x) -> dx (same shape)
    """
    positive = cache
    _checks.float_array(dy, "dy", "relu_backward")
    _checks.shape(dy, positive.shape, "dy", "relu_backward")
    return dy * positive
