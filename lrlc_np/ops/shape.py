"""Ops that only move numbers: stacking feature maps along the channel axis.

    arrays  a list of (N, C_i, H, W), equal N, H, W and dtype
    y       (N, sum_i C_i, H, W)

(The channel mean to (N, C, 1, 1), ``spatial_mean``, lives with global average pooling in
``pooling.py``: it is the same computation.)
"""

from __future__ import annotations

from ..backend import get_array_module
from . import _checks


def concat_channels_forward(arrays):
    """Concatenate feature maps along the channel axis.

    arrays (list or tuple of) (N, C_i, H, W), at least one, equal N, H, W and dtype
    y      (N, C_0 + C_1 + ..., H, W);  y[:, C_0 + ... + C_{i-1} : ... + C_i] = arrays[i]
    cache  (the channel counts (C_0, C_1, ...), y.shape)
    """
    owner = "concat_channels_forward"
    if not isinstance(arrays, (list, tuple)) or len(arrays) == 0:
        got = type(arrays).__name__
        got = f"{got} of length 0" if isinstance(arrays, (list, tuple)) else got
        raise TypeError(f"{owner}: expected a non-empty list of (N, C_i, H, W) arrays, got {got}")
    for i, a in enumerate(arrays):
        _checks.float_array(a, f"arrays[{i}]", owner)
        _checks.ndim(a, 4, "(N, C_i, H, W)", f"arrays[{i}]", owner)
    n, _, h, w = arrays[0].shape
    for i, a in enumerate(arrays[1:], start=1):
        _checks.shape(a, (n, None, h, w), f"arrays[{i}]", owner)   # N, H, W of arrays[0]
    _checks.same_dtype({f"arrays[{i}]": a for i, a in enumerate(arrays)}, owner)
    xp = get_array_module(arrays[0])
    y = xp.concatenate(arrays, axis=1)                     # (N, sum C_i, H, W), a new array
    return y, (tuple(a.shape[1] for a in arrays), y.shape)


def concat_channels_backward(dy, cache):
    """Split the gradient back into the inputs' channel blocks.

    dy (N, sum_i C_i, H, W) -> (dx_0, dx_1, ...), dx_i (N, C_i, H, W)

    y is a copy of the inputs side by side, so each input's gradient is its block of dy:
    dx_i = dy[:, start_i : start_i + C_i], returned as a copy (never a view of dy).
    """
    channels, y_shape = cache
    owner = "concat_channels_backward"
    _checks.float_array(dy, "dy", owner)
    _checks.shape(dy, y_shape, "dy", owner)
    grads, start = [], 0
    for c in channels:
        grads.append(dy[:, start : start + c].copy())
        start += c
    return tuple(grads)
