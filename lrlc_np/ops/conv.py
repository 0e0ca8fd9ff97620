"""2-D convolution (cross-correlation): one filter bank shared by every position.

    x      (N, C_in, H, W)
    weight (C_out, C_in, kh, kw)
    bias   (C_out,) or None
    y      (N, C_out, H_out, W_out),   H_out = (H + 2*ph - kh) // sh + 1,  same for W

    y[n, o, i, j] = bias[o] + sum_{c, p, q} weight[o, c, p, q] * xpad[n, c, i*sh + p, j*sw + q]

As matrices: X = im2col(x) has one patch per row (M = N*H_out*W_out rows, R = C_in*kh*kw
columns), W = weight.reshape(C_out, R) has one filter per row in the same (c, p, q) order,
and the layer is one matrix product,

    Y = X W^T + 1 b^T          (M, R) @ (R, C_out) -> (M, C_out)

Backward, as for any product Y = X W^T:  dW = dY^T X,  db = the column sums of dY,
dX = dY W, and dx = col2im(dX) adds every patch's gradient back onto its pixels.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from . import _checks
from .im2col import col2im, im2col, output_hw


class Conv2DCache(NamedTuple):
    """What ``conv2d_backward`` needs from the forward pass."""

    x_shape: tuple      # (N, C_in, H, W)
    cols: object        # X = im2col(x), (M, R)
    weight: object      # (C_out, C_in, kh, kw)
    stride: tuple       # (sh, sw)
    padding: tuple      # (ph, pw)
    has_bias: bool


OWNER = "conv2d_forward"


def check_conv_inputs(x, weight, bias, stride, padding, owner=OWNER):
    """Validate a convolution's arguments; return (stride, padding) as pairs."""
    _checks.float_tensor(x, "(N, C_in, H, W)", "x", owner)
    _checks.float_tensor(weight, "(C_out, C_in, kh, kw)", "weight", owner)
    c_out, c_in, kh, kw = weight.shape
    if x.shape[1] != c_in:
        raise ValueError(
            f"{owner}: weight expects {c_in} input channels, so x should be "
            f"(N, {c_in}, H, W); got shape {tuple(x.shape)}"
        )
    _checks.optional_float(bias, (c_out,), "bias", owner)
    _checks.same_dtype({"x": x, "weight": weight, "bias": bias}, owner)
    stride, padding = _checks.steps_and_padding(stride, padding, owner)
    output_hw(x.shape[2], x.shape[3], (kh, kw), stride, padding, owner)
    return stride, padding


def conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    """Convolution forward pass: Y = X W^T + b.

    x (N, C_in, H, W), weight (C_out, C_in, kh, kw), bias (C_out,) or None,
    stride, padding: int or (h, w) pair  ->  y (N, C_out, H_out, W_out), cache
    """
    stride, padding = check_conv_inputs(x, weight, bias, stride, padding)
    n, c_out = x.shape[0], weight.shape[0]
    h_out, w_out = output_hw(x.shape[2], x.shape[3], weight.shape[2:], stride, padding, "conv2d_forward")
    # BEGIN SOLUTION conv2d_forward
    # HINT: cols = im2col(x, ...) is X (M, R); W = weight.reshape(C_out, R); Y = X W^T (+ b); rows
    #       are (n, i, j), so reshape to (N, H_out, W_out, C_out) and move the channels to axis 1
    cols = im2col(x, weight.shape[2:], stride, padding)         # X (M, R)
    w_mat = weight.reshape(c_out, -1)                           # W (C_out, R)
    y_mat = cols @ w_mat.T                                      # (M, R) @ (R, C_out) -> (M, C_out)
    if bias is not None:
        y_mat = y_mat + bias                                    # b added to every row
    y = y_mat.reshape(n, h_out, w_out, c_out).transpose(0, 3, 1, 2)   # rows (n, i, j) -> NCHW
    # END SOLUTION
    return y, Conv2DCache(x.shape, cols, weight, stride, padding, bias is not None)


def conv2d_backward(dy, cache):
    """Convolution backward pass.

    dy (N, C_out, H_out, W_out) -> dx (N, C_in, H, W), dweight (C_out, C_in, kh, kw),
    dbias (C_out,) or None when the forward pass had no bias

    From Y = X W^T + 1 b^T, with dY the (M, C_out) matrix of dy:
        dW = dY^T X          (C_out, M) @ (M, R)
        db = sum of dY over its M rows
        dX = dY W            (M, C_out) @ (C_out, R), then dx = col2im(dX)
    """
    x_shape, cols, weight, stride, padding, has_bias = cache
    c_out = weight.shape[0]
    n, _, h, w = x_shape
    h_out, w_out = output_hw(h, w, weight.shape[2:], stride, padding, "conv2d_backward")
    _checks.float_array(dy, "dy", "conv2d_backward")
    _checks.shape(dy, (n, c_out, h_out, w_out), "dy", "conv2d_backward")
    # BEGIN SOLUTION conv2d_backward
    # HINT: dY = dy as (M, C_out) with rows (n, i, j) (transpose before reshaping!);
    #       dW = dY^T X, db = dY summed over rows (None without a bias), dx = col2im(dY W)
    dy_mat = dy.transpose(0, 2, 3, 1).reshape(-1, c_out)        # dY (M, C_out), rows (n, i, j)
    dweight = (dy_mat.T @ cols).reshape(weight.shape)           # (C_out, M) @ (M, R) -> (C_out, R)
    dbias = dy_mat.sum(axis=0) if has_bias else None            # (C_out,)
    dcols = dy_mat @ weight.reshape(c_out, -1)                  # (M, C_out) @ (C_out, R) -> (M, R)
    dx = col2im(dcols, x_shape, weight.shape[2:], stride, padding)
    # END SOLUTION
    return dx, dweight, dbias


def check_conv_transpose_inputs(dy, weight, x_shape, stride, padding, owner="conv_transpose2d"):
    """Validate a transposed convolution's arguments: dy must be what conv2d_forward of an
    x of ``x_shape`` with ``weight`` gives. -> (stride, padding) as pairs."""
    _checks.float_tensor(dy, "(N, C_out, H_out, W_out)", "dy", owner)
    _checks.float_tensor(weight, "(C_out, C_in, kh, kw)", "weight", owner)
    _checks.same_dtype({"dy": dy, "weight": weight}, owner)
    if len(x_shape) != 4:
        raise ValueError(f"{owner}: expected x_shape (N, C_in, H, W), got {tuple(x_shape)!r}")
    stride, padding = _checks.steps_and_padding(stride, padding, owner)
    c_out, c_in, kh, kw = weight.shape
    h_out, w_out = output_hw(x_shape[2], x_shape[3], (kh, kw), stride, padding, owner)
    _checks.shape(dy, (x_shape[0], c_out, h_out, w_out), "dy (conv2d's output for x_shape and weight)", owner)
    if x_shape[1] != c_in:
        raise ValueError(f"{owner}: weight expects {c_in} input channels, got x_shape {tuple(x_shape)}")
    return stride, padding


def conv_transpose2d(dy, weight, x_shape, stride=1, padding=0):
    """Transposed convolution: the adjoint of ``conv2d_forward`` in x, i.e. conv2d's dx.

    dy (N, C_out, H_out, W_out), weight (C_out, C_in, kh, kw), x_shape (N, C_in, H, W)
    -> dx (N, C_in, H, W)

    Frameworks call this "transposed convolution" (or "deconvolution") because its matrix
    is the transpose of the convolution's. ``conv2d_backward`` computes it as col2im(dY W);
    here it is computed the other way, as an ordinary convolution (tutorial 01 derives it):

    1. spread dy out: sh - 1 zero rows between its rows, sw - 1 zero columns between its
       columns, so that dy[i] sits where output row i started reading, at row i*sh;
    2. pad with kh - 1 - ph zero rows on top and kh - 1 - ph + r below, where
       r = (H + 2*ph - kh) % sh counts the input rows the forward pass never reached (their
       gradient is 0); the same for columns. A negative amount crops instead;
    3. convolve (stride 1, no padding) with every filter turned by 180 degrees and C_in and
       C_out swapped: dx[n, c, y, x] = sum_{o, p, q} weight[o, c, kh-1-p, kw-1-q] * spread[n, o, y+p, x+q].
    """
    (sh, sw), (ph, pw) = check_conv_transpose_inputs(dy, weight, x_shape, stride, padding)
    n, c_in, h, w = x_shape
    c_out, _, kh, kw = weight.shape
    xp = get_array_module(dy)
    h_out, w_out = dy.shape[2:]
    spread = xp.zeros((n, c_out, (h_out - 1) * sh + 1, (w_out - 1) * sw + 1), dtype=dy.dtype)
    spread[:, :, ::sh, ::sw] = dy
    top, left = kh - 1 - ph, kw - 1 - pw
    bottom, right = top + (h + 2 * ph - kh) % sh, left + (w + 2 * pw - kw) % sw
    padded = _pad_or_crop(spread, top, bottom, left, right)
    flipped = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)           # (C_in, C_out, kh, kw)
    dx, _ = conv2d_forward(padded, xp.ascontiguousarray(flipped))
    return dx


def _pad_or_crop(a, top, bottom, left, right):
    """a (N, C, H, W) with zero rows and columns added on each side; a negative amount removes
    that many instead."""
    n, c, h, w = a.shape
    grown = get_array_module(a).zeros((n, c, h + max(top, 0) + max(bottom, 0), w + max(left, 0) + max(right, 0)),
                                      dtype=a.dtype)
    grown[:, :, max(top, 0) : max(top, 0) + h, max(left, 0) : max(left, 0) + w] = a
    return grown[:, :, max(-top, 0) : grown.shape[2] - max(-bottom, 0), max(-left, 0) : grown.shape[3] - max(-right, 0)]
