"""Global average pooling: the mean of each channel over all positions.

    x (N, C, H, W)  ->  y (N, C)          global_avg_pool2d, before a dense layer
    x (N, C, H, W)  ->  y (N, C, 1, 1)    spatial_mean, the same numbers kept 4-D, so that
                                          they broadcast against (N, C, H, W) maps

Both are one piece of code: y[n, c] = mean_{i, j} x[n, c, i, j], and its backward pass
hands every position an equal share, dx[n, c, i, j] = dy[n, c] / (H*W).
"""

from __future__ import annotations

from ..backend import get_array_module
from . import _checks


def mean_forward(x, owner):
    """(N, C, H, W) -> (N, C, 1, 1) channel means, after checking x."""
    _checks.float_array(x, "x", owner)
    _checks.ndim(x, 4, "(N, C, H, W)", "x", owner)
    return x.mean(axis=(2, 3), keepdims=True)


def check_mean_dy(dy, expected, owner):
    """dy of shape ``expected``: (N, C) or (N, C, 1, 1)."""
    _checks.float_array(dy, "dy", owner)
    _checks.shape(dy, expected, "dy", owner)


def _mean_backward(dy, x_shape, expected, owner):
    """dy of shape ``expected`` ((N, C) or (N, C, 1, 1)) -> dx (N, C, H, W), a new array."""
    check_mean_dy(dy, expected, owner)
    n, c, h, w = x_shape
    share = (dy / (h * w)).reshape(n, c, 1, 1)                    # one equal share per position
    return get_array_module(dy).broadcast_to(share, x_shape).copy()   # a real array, not a view


def global_avg_pool2d_forward(x):
    """y[n, c] = mean_{i, j} x[n, c, i, j].   x (N, C, H, W) -> y (N, C); cache x.shape"""
    y = mean_forward(x, "global_avg_pool2d_forward")
    return y.reshape(x.shape[:2]), x.shape


def global_avg_pool2d_backward(dy, cache):
    """Every position receives an equal share: dx[n, c, i, j] = dy[n, c] / (H*W).

    dy (N, C) -> dx (N, C, H, W)
    """
    x_shape = cache
    return _mean_backward(dy, x_shape, x_shape[:2], "global_avg_pool2d_backward")


def spatial_mean_forward(x):
    """y[n, c, 0, 0] = mean_{i, j} x[n, c, i, j].   x (N, C, H, W) -> y (N, C, 1, 1); cache x.shape"""
    return mean_forward(x, "spatial_mean_forward"), x.shape


def spatial_mean_backward(dy, cache):
    """Every position receives an equal share: dx[n, c, i, j] = dy[n, c, 0, 0] / (H*W).

    dy (N, C, 1, 1) -> dx (N, C, H, W), a new array (not a broadcast view of dy)
    """
    x_shape = cache
    return _mean_backward(dy, x_shape, (*x_shape[:2], 1, 1), "spatial_mean_backward")
