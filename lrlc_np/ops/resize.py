"""Bilinear resizing with aligned corners (PyTorch's ``F.interpolate(x, size, mode="bilinear",
align_corners=True)``).

    x (N, C, H, W)  ->  y (N, C, H_out, W_out)

Output row i samples the input at the real coordinate

    s_i = i * (H - 1) / (H_out - 1)          (s_i = 0 when H_out == 1)

so the first and last rows land exactly on the first and last input rows; between them the
value is the linear blend of the two neighbouring rows, r = floor(s_i), t = s_i - r:
(1 - t) * x[r] + t * x[r + 1]. Columns work the same way, one axis after the other.

Both axes are matrices. ``R_h`` (H_out, H) holds in row i the weights of the input rows that
output row i blends: at most two nonzeros, 1 - t at r and t at r + 1. They are the "hat"
function of the distance, R[i, r'] = max(0, 1 - |s_i - r'|), which gives 1 - t and t at the
two neighbours and 0 elsewhere (and a single 1 when s_i is a whole number). Then

    y[n, c] = R_h x[n, c] R_w^T          (H_out, H) @ (H, W) @ (W, W_out)

and, since y is linear in x, the backward pass multiplies by the transposes:

    dx[n, c] = R_h^T dy[n, c] R_w        (H, H_out) @ (H_out, W_out) @ (W_out, W)

A pixel's gradient is the sum of dy over the outputs that blended it, weighted by the
blend weights: every 1 - t and t in column r of R_h (and of R_w).
"""

from __future__ import annotations

from ..backend import get_array_module
from . import _checks


def interpolation_matrix(in_size, out_size, xp, dtype):
    """Linear-interpolation weights with aligned corners along one axis.

    in_size, out_size  lengths of the input and output axis (ints >= 1)
    xp, dtype          array module and dtype of the result
    R                  (out_size, in_size): y = R @ x resamples x along that axis

    R[i, r] = max(0, 1 - |s_i - r|) with s_i = i * (in_size - 1) / (out_size - 1), or s_i = 0
    when out_size == 1. Each row holds at most two nonzeros, 1 - t and t at r = floor(s_i)
    and r + 1, and sums to 1. With in_size == 1 every s_i is 0: R is a column of ones.
    """
    owner = "interpolation_matrix"
    in_size = _checks.positive_int(in_size, "in_size", owner)
    out_size = _checks.positive_int(out_size, "out_size", owner)
    i = xp.arange(out_size, dtype=xp.float64)
    # multiply before dividing: whole-number positions come out exact
    src = i * (in_size - 1) / (out_size - 1) if out_size > 1 else xp.zeros_like(i)   # (out_size,)
    r = xp.arange(in_size, dtype=xp.float64)
    weights = xp.maximum(0.0, 1.0 - xp.abs(src[:, None] - r[None, :]))              # (out_size, in_size)
    return weights.astype(dtype)


def bilinear_resize_forward(x, out_size):
    """Bilinear resize with aligned corners, forward pass.

    x        (N, C, H, W)
    out_size int or (H_out, W_out) pair, >= 1
    y        (N, C, H_out, W_out),  y[n, c] = R_h x[n, c] R_w^T
    cache    (R_h (H_out, H), R_w (W_out, W), x.shape)
    """
    owner = "bilinear_resize_forward"
    _checks.float_array(x, "x", owner)
    _checks.ndim(x, 4, "(N, C, H, W)", "x", owner)
    h_out, w_out = _checks.pair(out_size, "out_size", owner)
    xp = get_array_module(x)
    h, w = x.shape[2:]
    r_h = interpolation_matrix(h, h_out, xp, x.dtype)           # (H_out, H)
    r_w = interpolation_matrix(w, w_out, xp, x.dtype)           # (W_out, W)
    y = xp.matmul(xp.matmul(r_h, x), r_w.T)   # (H_out, H) @ (N, C, H, W) @ (W, W_out) -> (N, C, H_out, W_out)
    return y, (r_h, r_w, x.shape)


def bilinear_resize_backward(dy, cache):
    """Bilinear resize backward pass.

    dy (N, C, H_out, W_out)
    dx (N, C, H, W),  dx[n, c] = R_h^T dy[n, c] R_w  (y is linear in x: the adjoint)
    """
    r_h, r_w, x_shape = cache
    owner = "bilinear_resize_backward"
    _checks.float_array(dy, "dy", owner)
    _checks.shape(dy, (*x_shape[:2], r_h.shape[0], r_w.shape[0]), "dy", owner)
    # BEGIN SOLUTION bilinear_resize_backward
    # HINT: y = R_h x R_w^T is linear in x, so dx = R_h^T dy R_w (two matmuls broadcast over
    #       N and C)
    xp = get_array_module(dy)
    # (H, H_out) @ (N, C, H_out, W_out) @ (W_out, W) -> (N, C, H, W)
    return xp.matmul(xp.matmul(r_h.T, dy), r_w)
    # END SOLUTION
