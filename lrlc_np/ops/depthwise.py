"""Depthwise 2-D convolution with dilation: one kh x kw filter per channel, no channel mixing.

    x      (N, C, H, W)
    weight (C, 1, kh, kw)      PyTorch's layout for ``groups=C``
    bias   (C,) or None
    y      (N, C, H_out, W_out),   H_out = H + 2*ph - dh*(kh - 1),  W_out = W + 2*pw - dw*(kw - 1)

    y[n, c, i, j] = bias[c] + sum_{p, q} weight[c, 0, p, q] * xpad[n, c, i + dh*p, j + dw*q]

Stride 1; dilation (dh, dw) spaces the kernel taps dh rows and dw columns apart, so a 3x3
kernel with dilation 4 sees a 9x9 neighbourhood through 9 taps. Padding ``ph = dh*(kh-1)//2``
keeps the size for odd kernels ("same" padding).

Tap (p, q) reads one slice of the padded input for every sample, channel and position
at once, ``xpad[:, :, dh*p : dh*p + H_out, dw*q : dw*q + W_out]``, so the forward pass,
dweight and dx are each a loop over the kh*kw taps of whole-array operations (no im2col, no
index arrays: the same code runs on CuPy).
"""

from __future__ import annotations

from ..backend import get_array_module
from . import _checks

OWNER = "depthwise_conv2d_forward"


def _check_inputs(x, weight, bias, dilation, padding):
    """Validate the arguments; return (dilation, padding, (H_out, W_out))."""
    _checks.float_array(x, "x", OWNER)
    _checks.ndim(x, 4, "(N, C, H, W)", "x", OWNER)
    _checks.float_array(weight, "weight", OWNER)
    _checks.ndim(weight, 4, "(C, 1, kh, kw)", "weight", OWNER)
    n, c, h, w = x.shape
    if weight.shape[0] != c or weight.shape[1] != 1:
        raise ValueError(
            f"{OWNER}: expected weight of shape (C, 1, kh, kw) with C = {c} (the channels of x, "
            f"shape {tuple(x.shape)}), got {tuple(weight.shape)}"
        )
    if bias is not None:
        _checks.float_array(bias, "bias", OWNER)
        _checks.shape(bias, (c,), "bias", OWNER)
    _checks.same_dtype({"x": x, "weight": weight, "bias": bias}, OWNER)
    dh, dw = _checks.pair(dilation, "dilation", OWNER)
    ph, pw = _checks.pair(padding, "padding", OWNER, minimum=0)
    kh, kw = weight.shape[2:]
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1    # rows/columns one output reads
    if span_h > h + 2 * ph or span_w > w + 2 * pw:
        raise ValueError(
            f"{OWNER}: kernel {kh}x{kw} with dilation {dh},{dw} spans {span_h}x{span_w}, larger "
            f"than the padded input {h + 2 * ph}x{w + 2 * pw} (input {h}x{w}, padding {ph},{pw})"
        )
    return (dh, dw), (ph, pw), (h + 2 * ph - span_h + 1, w + 2 * pw - span_w + 1)


def _padded(x, padding):
    """x (N, C, H, W) -> xpad (N, C, H + 2*ph, W + 2*pw), zeros around; x itself without padding."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    xpad = get_array_module(x).zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xpad[:, :, ph : ph + h, pw : pw + w] = x
    return xpad


def _tap(p, q, dilation, out_hw):
    """Index of the slice of xpad that kernel tap (p, q) reads: (N, C, H_out, W_out)."""
    (dh, dw), (h_out, w_out) = dilation, out_hw
    return (slice(None), slice(None), slice(dh * p, dh * p + h_out), slice(dw * q, dw * q + w_out))


def depthwise_conv2d_forward(x, weight, bias=None, dilation=1, padding=0):
    """Depthwise convolution forward pass.

    x        (N, C, H, W)
    weight   (C, 1, kh, kw)
    bias     (C,) or None
    dilation int or (dh, dw) pair, >= 1;  padding int or (ph, pw) pair, >= 0 (zeros)
    y        (N, C, H_out, W_out),  H_out = H + 2*ph - dh*(kh - 1)
    cache    (xpad, weight, dilation, padding, x.shape, bias is None)

    y = bias + sum over taps (p, q) of weight[:, 0, p, q] (one number per channel) times the
    tap's slice of xpad.
    """
    dilation, padding, out_hw = _check_inputs(x, weight, bias, dilation, padding)
    xp = get_array_module(x)
    n, c = x.shape[:2]
    xpad = _padded(x, padding)
    y = xp.zeros((n, c, *out_hw), dtype=x.dtype)
    if bias is not None:
        y += bias[:, None, None]
    kh, kw = weight.shape[2:]
    for p in range(kh):
        for q in range(kw):
            y += weight[:, 0, p, q, None, None] * xpad[_tap(p, q, dilation, out_hw)]  # (C, 1, 1) * (N, C, H_out, W_out)
    return y, (xpad, weight, dilation, padding, x.shape, bias is None)


def depthwise_conv2d_backward(dy, cache):
    """Depthwise convolution backward pass.

    dy      (N, C, H_out, W_out)
    dx      (N, C, H, W)
    dweight (C, 1, kh, kw)
    dbias   (C,) or None when the forward pass had no bias

    y[n,c,i,j] = bias[c] + sum_{p,q} weight[c,0,p,q] * xpad[n,c,i + dh*p, j + dw*q], so
        dweight[c,0,p,q] = sum_{n,i,j} dy[n,c,i,j] * xpad[n,c,i + dh*p, j + dw*q]
        dbias[c]         = sum_{n,i,j} dy[n,c,i,j]
        dxpad[n,c,i + dh*p, j + dw*q] += weight[c,0,p,q] * dy[n,c,i,j]   for every tap (p, q)
    and dx is dxpad without its padding border.
    """
    xpad, weight, dilation, padding, x_shape, no_bias = cache
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
    dbias = None if no_bias else dy.sum(axis=(0, 2, 3))
    dx = dxpad[:, :, ph : ph + h, pw : pw + w]                   # a view of the fresh dxpad
    return dx, dweight, dbias
