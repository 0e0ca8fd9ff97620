"""Locally connected 2-D layer: a convolution without weight sharing.

Every output position (i, j) has its own filter bank ``weight[i, j]`` (C_out, C_in, kh, kw):

    x      (N, C_in, H, W)
    weight (H_out, W_out, C_out, C_in, kh, kw)
    bias   (C_out, H_out, W_out) or None
    y      (N, C_out, H_out, W_out),   H_out = (H + 2*ph - kh) // sh + 1,  same for W

    y[n, o, i, j] = bias[o, i, j] + sum_{c, p, q} weight[i, j, o, c, p, q] * xpad[n, c, i*sh + p, j*sw + q]

The patches are the convolution's (``im2col``); only the product changes. With the P =
H_out*W_out positions written as one index t = (i, j), X_t (N, R) the N patches at t and
W_t = weight[i, j].reshape(C_out, R), every position is its own small dense layer,

    Y_t = X_t W_t^T + b_t          (N, R) @ (R, C_out) -> (N, C_out), for each of P positions

which one ``einsum`` over the position index writes for all of them at once. Backward,
position by position as for a dense layer: dW_t = dY_t^T X_t, db_t = sum_n dY_t,
dX_t = dY_t W_t, and dx = col2im(dX).
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from . import _checks
from .im2col import col2im, im2col, output_hw

OWNER = "locally_connected2d_forward"


class LocallyConnected2DCache(NamedTuple):
    """What ``locally_connected2d_backward`` needs from the forward pass."""

    x_shape: tuple      # (N, C_in, H, W)
    cols: object        # the patches, (N, P, R)
    weight: object      # (H_out, W_out, C_out, C_in, kh, kw)
    stride: tuple
    padding: tuple
    has_bias: bool


def check_lc_inputs(x, weight, bias, stride, padding, owner=OWNER):
    """Validate an LC layer's arguments; return (stride, padding) as pairs."""
    _checks.float_tensor(x, "(N, C_in, H, W)", "x", owner)
    _checks.float_tensor(weight, "(H_out, W_out, C_out, C_in, kh, kw)", "weight", owner)
    h_out, w_out, c_out, c_in, kh, kw = weight.shape
    if x.shape[1] != c_in:
        raise ValueError(
            f"{owner}: weight expects {c_in} input channels, so x should be "
            f"(N, {c_in}, H, W); got shape {tuple(x.shape)}"
        )
    _checks.same_dtype({"x": x, "weight": weight, "bias": bias}, owner)
    stride, padding = _checks.steps_and_padding(stride, padding, owner)
    got = output_hw(x.shape[2], x.shape[3], (kh, kw), stride, padding, owner)
    if got != (h_out, w_out):
        raise ValueError(
            f"{owner}: weight has {h_out}x{w_out} output positions, but x of spatial size "
            f"{x.shape[2]}x{x.shape[3]} with stride {stride} and padding {padding} gives "
            f"{got[0]}x{got[1]}"
        )
    _checks.optional_float(bias, (c_out, h_out, w_out), "bias", owner)
    _checks.non_empty_batch(x, owner)
    return stride, padding


def locally_connected2d_forward(x, weight, bias=None, stride=1, padding=0):
    """Locally connected forward pass: Y_t = X_t W_t^T + b_t at every position t.

    x (N, C_in, H, W), weight (H_out, W_out, C_out, C_in, kh, kw), bias (C_out, H_out, W_out)
    or None  ->  y (N, C_out, H_out, W_out), cache
    """
    stride, padding = check_lc_inputs(x, weight, bias, stride, padding)
    xp = get_array_module(x)
    n = x.shape[0]
    h_out, w_out, c_out = weight.shape[:3]
    # BEGIN SOLUTION locally_connected2d_forward
    # HINT: the patches as (N, P, R) and the weights as (P, C_out, R); one einsum over the position
    #       t: y[n, o, t] = sum_r X[n, t, r] W[t, o, r]; then add the bias
    cols = im2col(x, weight.shape[4:], stride, padding).reshape(n, h_out * w_out, -1)   # (N, P, R)
    w = weight.reshape(h_out * w_out, c_out, -1)                 # W_t for every t: (P, C_out, R)
    y = xp.einsum("ntr,tor->not", cols, w, optimize=True)        # per t: (N, R) @ (R, C_out)
    y = y.reshape(n, c_out, h_out, w_out)
    if bias is not None:
        y = y + bias                                             # (C_out, H_out, W_out) broadcasts over N
    # END SOLUTION
    return y, LocallyConnected2DCache(x.shape, cols, weight, stride, padding, bias is not None)


def locally_connected2d_backward(dy, cache):
    """Locally connected backward pass.

    dy (N, C_out, H_out, W_out) -> dx (N, C_in, H, W),
    dweight (H_out, W_out, C_out, C_in, kh, kw), dbias (C_out, H_out, W_out) or None

    Per position t, from Y_t = X_t W_t^T + b_t:
        dW_t = dY_t^T X_t      dweight[i, j, o, (c, p, q)] = sum_n dy[n, o, i, j] * patch[n, t, (c, p, q)]
        db_t = sum_n dY_t      dbias = dy summed over the batch
        dX_t = dY_t W_t        then dx = col2im of all the patch gradients
    """
    x_shape, cols, weight, stride, padding, has_bias = cache
    xp = get_array_module(dy)
    h_out, w_out, c_out = weight.shape[:3]
    _checks.float_array(dy, "dy", "locally_connected2d_backward")
    _checks.shape(dy, (x_shape[0], c_out, h_out, w_out), "dy", "locally_connected2d_backward")
    # BEGIN SOLUTION locally_connected2d_backward
    # HINT: per position t, as for a dense layer: dW_t = dY_t^T X_t, db_t = sum over n,
    #       dX_t = dY_t W_t (einsums over t), then dx = col2im of the patch gradients
    dy_t = dy.reshape(x_shape[0], c_out, h_out * w_out)          # (N, C_out, P)
    w = weight.reshape(h_out * w_out, c_out, -1)                 # (P, C_out, R)
    dweight = xp.einsum("not,ntr->tor", dy_t, cols, optimize=True)  # per t: (C_out, N) @ (N, R)
    dweight = dweight.reshape(weight.shape)
    dbias = dy.sum(axis=0) if has_bias else None                 # (C_out, H_out, W_out)
    dcols = xp.einsum("not,tor->ntr", dy_t, w, optimize=True)    # per t: (N, C_out) @ (C_out, R)
    dx = col2im(dcols.reshape(-1, cols.shape[2]), x_shape, weight.shape[4:], stride, padding)
    # END SOLUTION
    return dx, dweight, dbias
