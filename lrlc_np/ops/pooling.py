"""Global average pooling: the mean of each channel over all positions.

    x (N, C, H, W)  ->  y (N, C)
"""

from __future__ import annotations

from ..backend import get_array_module
from . import _checks


def global_avg_pool2d_forward(x):
    """y[n, c] = mean_{i, j} x[n, c, i, j].   x (N, C, H, W) -> y (N, C)"""
    _checks.float_array(x, "x", "global_avg_pool2d_forward")
    _checks.ndim(x, 4, "(N, C, H, W)", "x", "global_avg_pool2d_forward")
    return x.mean(axis=(2, 3)), x.shape


def global_avg_pool2d_backward(dy, cache):
    """Every position receives an equal share: dx[n, c, i, j] = dy[n, c] / (H*W).

    dy (N, C) -> dx (N, C, H, W)
    """
    x_shape = cache
    _checks.float_array(dy, "dy", "global_avg_pool2d_backward")
    _checks.shape(dy, x_shape[:2], "dy", "global_avg_pool2d_backward")
    xp = get_array_module(dy)
    dx = xp.empty(x_shape, dtype=dy.dtype)
    dx[...] = (dy / (x_shape[2] * x_shape[3]))[:, :, None, None]
    return dx
