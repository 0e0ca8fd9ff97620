"""Depthwise 2-D convolution with dilation: one kh x kw filter per channel, no channel mixing.

    x      (N, C, H, W)
    weight (C, 1, kh, kw)      PyTorch's layout for ``groups=C``
    bias   (C,) or None
    y      (N, C, H_out, W_out),   H_out = H + 2*ph - dil_h*(kh - 1),  W_out = W + 2*pw - dil_w*(kw - 1)

    y[n, c, i, j] = bias[c] + sum_{p, q} weight[c, 0, p, q] * xpad[n, c, i + dil_h*p, j + dil_w*q]

Stride 1; dilation (dil_h, dil_w) spaces the kernel taps dil_h rows and dil_w columns apart, so a
3x3 kernel with dilation 4 sees a 9x9 neighbourhood through 9 taps. Padding
``ph = dil_h*(kh-1)//2`` keeps the size for odd kernels ("same" padding).

Tap (p, q) reads one slice of the padded input for every sample, channel and position
at once, ``xpad[:, :, dil_h*p : dil_h*p + H_out, dil_w*q : dil_w*q + W_out]``, so the forward
pass, dweight and dx are each a loop over the kh*kw taps of whole-array operations (no
im2col, no index arrays: the same code runs on CuPy).
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from . import _checks
from .im2col import output_hw, pad2d

OWNER = "depthwise_conv2d_forward"


class DepthwiseConv2DCache(NamedTuple):
    """What ``depthwise_conv2d_backward`` needs from the forward pass."""

    xpad: object        # (N, C, H + 2*ph, W + 2*pw), the padded input (x itself without padding)
    weight: object      # (C, 1, kh, kw)
    dilation: tuple     # (dil_h, dil_w)
    padding: tuple      # (ph, pw)
    x_shape: tuple      # (N, C, H, W)
    has_bias: bool


def check_depthwise_inputs(x, weight, bias, dilation, padding, owner=OWNER):
    """Validate the arguments; return (dilation, padding, (H_out, W_out))."""
    _checks.float_tensor(x, "(N, C, H, W)", "x", owner)
    _checks.float_tensor(weight, "(C, 1, kh, kw)", "weight", owner)
    n, c, h, w = x.shape
    if weight.shape[0] != c or weight.shape[1] != 1:
        raise ValueError(
            f"{owner}: expected weight of shape (C, 1, kh, kw) with C = {c} (the channels of x, "
            f"shape {tuple(x.shape)}), got {tuple(weight.shape)}"
        )
    _checks.optional_float(bias, (c,), "bias", owner)
    _checks.same_dtype({"x": x, "weight": weight, "bias": bias}, owner)
    dilation, padding = _checks.steps_and_padding(dilation, padding, owner, "dilation")
    return dilation, padding, output_hw(h, w, weight.shape[2:], (1, 1), padding, owner, dilation)


def _tap(p, q, dilation, out_hw):
    """Index of the slice of xpad that kernel tap (p, q) reads: (N, C, H_out, W_out)."""
    (dil_h, dil_w), (h_out, w_out) = dilation, out_hw
    top, left = dil_h * p, dil_w * q
    return slice(None), slice(None), slice(top, top + h_out), slice(left, left + w_out)


def depthwise_conv2d_forward(x, weight, bias=None, dilation=1, padding=0):
    """Depthwise convolution forward pass.

    x        (N, C, H, W)
    weight   (C, 1, kh, kw)
    bias     (C,) or None
    dilation int or (dil_h, dil_w) pair, >= 1;  padding int or (ph, pw) pair, >= 0 (zeros)
    y        (N, C, H_out, W_out),  H_out = H + 2*ph - dil_h*(kh - 1)
    cache    DepthwiseConv2DCache

    y = bias + sum over taps (p, q) of weight[:, 0, p, q] (one number per channel) times the
    tap's slice of xpad.
    """
    dilation, padding, out_hw = check_depthwise_inputs(x, weight, bias, dilation, padding)
    xp = get_array_module(x)
    n, c = x.shape[:2]
    xpad = pad2d(x, padding)
    y = xp.zeros((n, c, *out_hw), dtype=x.dtype)
    if bias is not None:
        y += bias[:, None, None]
    kh, kw = weight.shape[2:]
    for p in range(kh):
        for q in range(kw):
            # (C, 1, 1) * (N, C, H_out, W_out): one number per channel times the tap's slice
            y += weight[:, 0, p, q, None, None] * xpad[_tap(p, q, dilation, out_hw)]
    return y, DepthwiseConv2DCache(xpad, weight, dilation, padding, x.shape, bias is not None)


def depthwise_conv2d_backward(dy, cache):
    """Depthwise convolution backward pass.

    dy      (N, C, H_out, W_out)
    dx      (N, C, H, W)
    dweight (C, 1, kh, kw)
    dbias   (C,) or None when the forward pass had no bias

    y[n,c,i,j] = bias[c] + sum_{p,q} weight[c,0,p,q] * xpad[n,c,i + dil_h*p, j + dil_w*q], so
        dweight[c,0,p,q] = sum_{n,i,j} dy[n,c,i,j] * xpad[n,c,i + dil_h*p, j + dil_w*q]
        dbias[c]         = sum_{n,i,j} dy[n,c,i,j]
        dxpad[n,c,i + dil_h*p, j + dil_w*q] += weight[c,0,p,q] * dy[n,c,i,j]   for every tap (p, q)
    and dx is dxpad without its padding border.
    """
    xpad, weight, dilation, padding, x_shape, has_bias = cache
    owner = "depthwise_conv2d_backward"
    n, c, h, w = x_shape
    (ph, pw), (kh, kw) = padding, weight.shape[2:]
    out_hw = (xpad.shape[2] - dilation[0] * (kh - 1), xpad.shape[3] - dilation[1] * (kw - 1))
    _checks.float_array(dy, "dy", owner)
    _checks.shape(dy, (n, c, *out_hw), "dy", owner)
    xp = get_array_module(dy)
    dweight = xp.empty(weight.shape, dtype=weight.dtype)
    dxpad = xp.zeros(xpad.shape, dtype=dy.dtype)
    for p in range(kh):
        for q in range(kw):
            tap = _tap(p, q, dilation, out_hw)
            dweight[:, 0, p, q] = xp.einsum("nchw,nchw->c", dy, xpad[tap])
            # Within one tap every output position reads a different input pixel, so this
            # strided += never writes a pixel twice and is exact; pixels that several taps
            # read collect their contributions across iterations of the loop.
            dxpad[tap] += weight[:, 0, p, q, None, None] * dy
    dbias = dy.sum(axis=(0, 2, 3)) if has_bias else None
    dx = dxpad[:, :, ph : ph + h, pw : pw + w]                   # a view of the fresh dxpad
    return dx, dweight, dbias
