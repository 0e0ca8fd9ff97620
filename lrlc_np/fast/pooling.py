"""Fast global average pooling: the same results as ``ops.pooling``, with NHWC gradients.

What changes: the backward pass writes dx with NHWC memory (an NCHW-shaped view), the
layout of the fast layers' activations, so that ReLU and batch norm, which meet it next,
never mix two layouts in one element-wise loop. The forward pass is the clear one.
"""

from __future__ import annotations

from ..backend import get_array_module
from ..ops.pooling import check_mean_dy, global_avg_pool2d_forward, spatial_mean_forward

__all__ = ["global_avg_pool2d_forward", "global_avg_pool2d_backward",
           "spatial_mean_forward", "spatial_mean_backward"]


def _mean_backward_nhwc(dy, x_shape, expected, owner):
    """dy of shape ``expected`` ((N, C) or (N, C, 1, 1)) -> dx (N, C, H, W), NHWC memory."""
    check_mean_dy(dy, expected, owner)
    n, c, h, w = x_shape
    dx = get_array_module(dy).empty((n, h, w, c), dtype=dy.dtype)
    dx[...] = (dy / (h * w)).reshape(n, 1, 1, c)   # broadcast into a real array, not a view
    return dx.transpose(0, 3, 1, 2)


def global_avg_pool2d_backward(dy, cache):
    """Same result as ``ops.global_avg_pool2d_backward``: dx[n, c, i, j] = dy[n, c] / (H*W)."""
    return _mean_backward_nhwc(dy, cache, cache[:2], "global_avg_pool2d_backward")


def spatial_mean_backward(dy, cache):
    """Same result as ``ops.spatial_mean_backward``: dx[n, c, i, j] = dy[n, c, 0, 0] / (H*W)."""
    return _mean_backward_nhwc(dy, cache, (*cache[:2], 1, 1), "spatial_mean_backward")
