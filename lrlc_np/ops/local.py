"""Locally connected 2-D layer: a convolution without weight sharing.

Every output position (i, j) has its own filter bank ``weight[i, j]`` (C_out, C_in, kh, kw):

    x      (N, C_in, H, W)
    weight (H_out, W_out, C_out, C_in, kh, kw)
    bias   (C_out, H_out, W_out) or None
    y      (N, C_out, H_out, W_out),   H_out = (H + 2*ph - kh) // sh + 1,  same for W

    y[n, o, i, j] = bias[o, i, j] + sum_{c, p, q} weight[i, j, o, c, p, q] * xpad[n, c, i*sh + p, j*sw + q]

The patches are the same as a convolution's (``im2col``); only the product changes. With
P = H_out*W_out positions and R = C_in*kh*kw, each position is a small matrix product,
(N, R) @ (R, C_out), and ``matmul`` runs all P of them as one batched product with the
position as the batch axis. Nothing of size (H*W*C_in) x (P*C_out) is ever built.
"""

from __future__ import annotations

from ..backend import get_array_module
from . import _checks
from .im2col import col2im, im2col, output_hw

OWNER = "locally_connected2d_forward"


def _check_lc_inputs(x, weight, bias, stride, padding):
    _checks.float_array(x, "x", OWNER)
    _checks.ndim(x, 4, "(N, C_in, H, W)", "x", OWNER)
    _checks.float_array(weight, "weight", OWNER)
    _checks.ndim(weight, 6, "(H_out, W_out, C_out, C_in, kh, kw)", "weight", OWNER)
    h_out, w_out, c_out, c_in, kh, kw = weight.shape
    if x.shape[1] != c_in:
        raise ValueError(
            f"{OWNER}: weight expects {c_in} input channels, so x should be "
            f"(N, {c_in}, H, W); got shape {tuple(x.shape)}"
        )
    _checks.same_dtype({"x": x, "weight": weight, "bias": bias}, OWNER)
    stride = _checks.pair(stride, "stride", OWNER)
    padding = _checks.pair(padding, "padding", OWNER, minimum=0)
    got = output_hw(x.shape[2], x.shape[3], (kh, kw), stride, padding, OWNER)
    if got != (h_out, w_out):
        raise ValueError(
            f"{OWNER}: weight has {h_out}x{w_out} output positions, but x of spatial size "
            f"{x.shape[2]}x{x.shape[3]} with stride {stride} and padding {padding} gives "
            f"{got[0]}x{got[1]}"
        )
    if bias is not None:
        _checks.float_array(bias, "bias", OWNER)
        _checks.shape(bias, (c_out, h_out, w_out), "bias", OWNER)
    return stride, padding


def lc_patch_weight(weight):
    """weight (H_out, W_out, C_out, C_in, kh, kw) -> (P, C_out, kh*kw*C_in), in im2col's (p, q, c) order."""
    h_out, w_out, c_out = weight.shape[:3]
    return weight.transpose(0, 1, 2, 4, 5, 3).reshape(h_out * w_out, c_out, -1)


def lc_forward_patches(cols, w_p):
    """The LC product on im2col patches: one (N, R) @ (R, C_out) product per position.

    cols (N, H_out, W_out, kh, kw, C_in), w_p (P, C_out, R) -> y (N, C_out, H_out, W_out)
    """
    xp = get_array_module(cols)
    n, h_out, w_out = cols.shape[:3]
    cols_p = cols.reshape(n, h_out * w_out, -1).transpose(1, 0, 2)   # (P, N, R), a view
    y_p = xp.matmul(cols_p, w_p.transpose(0, 2, 1))                 # (P, N, R) @ (P, R, C_out) -> (P, N, C_out)
    return y_p.reshape(h_out, w_out, n, -1).transpose(2, 3, 0, 1)   # -> (N, C_out, H_out, W_out), a view


def lc_backward_patches(dy, cols, w_p):
    """Gradients of ``lc_forward_patches``.

    dy (N, C_out, H_out, W_out) -> dcols (N, H_out, W_out, kh, kw, C_in), dw_p (P, C_out, R)
    Per position: Y = X W^T, so dW = dY^T X and dX = dY W.
    """
    xp = get_array_module(dy)
    n, h_out, w_out = cols.shape[:3]
    positions = h_out * w_out
    cols_p = cols.reshape(n, positions, -1).transpose(1, 0, 2)      # (P, N, R)
    dy_p = dy.transpose(2, 3, 0, 1).reshape(positions, n, -1)       # (P, N, C_out)
    dw_p = xp.matmul(dy_p.transpose(0, 2, 1), cols_p)              # (P, C_out, N) @ (P, N, R) -> (P, C_out, R)
    dcols_p = xp.matmul(dy_p, w_p)                                  # (P, N, C_out) @ (P, C_out, R) -> (P, N, R)
    dcols = dcols_p.reshape(h_out, w_out, n, *cols.shape[3:]).transpose(2, 0, 1, 3, 4, 5)
    return dcols, dw_p


def locally_connected2d_forward(x, weight, bias=None, stride=1, padding=0):
    """Locally connected forward pass.

    x      (N, C_in, H, W)
    weight (H_out, W_out, C_out, C_in, kh, kw)
    bias   (C_out, H_out, W_out) or None
    y      (N, C_out, H_out, W_out)
    cache  what ``locally_connected2d_backward`` needs
    """
    stride, padding = _check_lc_inputs(x, weight, bias, stride, padding)
    cols = im2col(x, weight.shape[4:], stride, padding)           # (N, H_out, W_out, kh, kw, C_in)
    w_p = lc_patch_weight(weight)                                 # (P, C_out, R)
    y = lc_forward_patches(cols, w_p)
    if bias is not None:
        y = y + bias
    cache = (cols, w_p, x.shape, weight.shape, bias is None, stride, padding)
    return y, cache


def locally_connected2d_backward(dy, cache):
    """Locally connected backward pass.

    dy      (N, C_out, H_out, W_out)
    dx      (N, C_in, H, W)
    dweight (H_out, W_out, C_out, C_in, kh, kw)
    dbias   (C_out, H_out, W_out) or None

    Per position (i, j) the layer is Y_ij = X_ij W_ij^T (X_ij: the N patches at (i, j), N x R),
    so as for a dense layer:
        dW_ij = dY_ij^T X_ij    -> dweight[i, j] = sum_n dy[n, :, i, j] (outer) patch[n, i, j]
        dX_ij = dY_ij W_ij      -> dcols, then dx = col2im(dcols)
        dbias = sum_n dy        (one bias per channel and position)
    """
    cols, w_p, x_shape, weight_shape, no_bias, stride, padding = cache
    xp = get_array_module(dy)
    h_out, w_out, c_out, c_in, kh, kw = weight_shape
    _checks.float_array(dy, "dy", "locally_connected2d_backward")
    _checks.shape(dy, (x_shape[0], c_out, h_out, w_out), "dy", "locally_connected2d_backward")
    dcols, dw_p = lc_backward_patches(dy, cols, w_p)
    dweight = xp.ascontiguousarray(                               # back to (H_out, W_out, C_out, C_in, kh, kw)
        dw_p.reshape(h_out, w_out, c_out, kh, kw, c_in).transpose(0, 1, 2, 5, 3, 4))
    dx = col2im(dcols, x_shape, stride, padding)
    dbias = None if no_bias else dy.sum(axis=0)
    return dx, dweight, dbias
