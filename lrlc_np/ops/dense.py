"""Fully connected (dense) layer.

    x      (N, D_in)
    weight (D_out, D_in)
    bias   (D_out,) or None
    y      (N, D_out),   y = x weight^T + bias
"""

from __future__ import annotations

from . import _checks


def dense_forward(x, weight, bias=None):
    """Dense forward pass: y = x @ weight.T + bias.

    x (N, D_in), weight (D_out, D_in), bias (D_out,) or None -> y (N, D_out)
    """
    owner = "dense_forward"
    _checks.float_tensor(x, "(N, D_in)", "x", owner)
    _checks.float_tensor(weight, "(D_out, D_in)", "weight", owner)
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"{owner}: weight expects {weight.shape[1]} input features, so x should be "
            f"(N, {weight.shape[1]}); got shape {tuple(x.shape)}"
        )
    _checks.optional_float(bias, (weight.shape[0],), "bias", owner)
    _checks.same_dtype({"x": x, "weight": weight, "bias": bias}, owner)
    y = x @ weight.T                                     # (N, D_in) @ (D_in, D_out)
    if bias is not None:
        y += bias
    return y, (x, weight, bias is None)


def dense_backward(dy, cache):
    """Dense backward pass.

    dy (N, D_out) -> dx (N, D_in), dweight (D_out, D_in), dbias (D_out,) or None

        dx = dy W          dW = dy^T x          db = sum_n dy
    """
    x, weight, no_bias = cache
    _checks.float_array(dy, "dy", "dense_backward")
    _checks.shape(dy, (x.shape[0], weight.shape[0]), "dy", "dense_backward")
    dx = dy @ weight                                     # (N, D_out) @ (D_out, D_in)
    dweight = dy.T @ x                                   # (D_out, N) @ (N, D_in)
    dbias = None if no_bias else dy.sum(axis=0)
    return dx, dweight, dbias
