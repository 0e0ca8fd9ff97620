"""Naive loop versions of the three layers' forward passes: the definitions, line by line.

These read like the equations and are slow on purpose. They are the oracle that the
vectorised functions in ``lrlc_np.ops`` are tested against. Shapes as in ``ops``:

    x (N, C_in, H, W) -> y (N, C_out, H_out, W_out),  H_out = (H + 2*ph - kh) // sh + 1
"""

from __future__ import annotations

import numpy as np

from .ops._checks import pair


def _padded(x, padding):
    ph, pw = padding
    n, c, h, w = x.shape
    xpad = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xpad[:, :, ph : ph + h, pw : pw + w] = x
    return xpad


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """y[n, o, i, j] = bias[o] + sum_{c, p, q} weight[o, c, p, q] * xpad[n, c, i*sh + p, j*sw + q]

    x (N, C_in, H, W), weight (C_out, C_in, kh, kw), bias (C_out,) or None
    """
    (sh, sw), padding = pair(stride, "stride", "reference.conv2d"), pair(padding, "padding", "reference.conv2d", minimum=0)
    xpad = _padded(np.asarray(x), padding)
    n, c_in = x.shape[:2]
    c_out, _, kh, kw = weight.shape
    h_out = (xpad.shape[2] - kh) // sh + 1
    w_out = (xpad.shape[3] - kw) // sw + 1
    y = np.zeros((n, c_out, h_out, w_out), dtype=x.dtype)
    for b in range(n):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    total = 0.0 if bias is None else bias[o]
                    for c in range(c_in):
                        for p in range(kh):
                            for q in range(kw):
                                total += weight[o, c, p, q] * xpad[b, c, i * sh + p, j * sw + q]
                    y[b, o, i, j] = total
    return y


def locally_connected2d(x, weight, bias=None, stride=1, padding=0):
    """y[n, o, i, j] = bias[o, i, j] + sum_{c, p, q} weight[i, j, o, c, p, q] * xpad[n, c, i*sh + p, j*sw + q]

    x (N, C_in, H, W), weight (H_out, W_out, C_out, C_in, kh, kw), bias (C_out, H_out, W_out) or None
    """
    (sh, sw), padding = pair(stride, "stride", "reference.locally_connected2d"), pair(padding, "padding", "reference.locally_connected2d", minimum=0)
    xpad = _padded(np.asarray(x), padding)
    n, c_in = x.shape[:2]
    h_out, w_out, c_out, _, kh, kw = weight.shape
    y = np.zeros((n, c_out, h_out, w_out), dtype=x.dtype)
    for b in range(n):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    total = 0.0 if bias is None else bias[o, i, j]
                    for c in range(c_in):
                        for p in range(kh):
                            for q in range(kw):
                                total += weight[i, j, o, c, p, q] * xpad[b, c, i * sh + p, j * sw + q]
                    y[b, o, i, j] = total
    return y


def lrlc2d(x, bases, alpha, stride=1, padding=0):
    """y[n, o, i, j] = sum_k alpha[k, i, j] * sum_{c, p, q} bases[k, o, c, p, q] * xpad[n, c, i*sh + p, j*sw + q]

    x (N, C_in, H, W), bases (K, C_out, C_in, kh, kw),
    alpha (K, H_out, W_out) shared, or (N, K, H_out, W_out) per example
    """
    (sh, sw), padding = pair(stride, "stride", "reference.lrlc2d"), pair(padding, "padding", "reference.lrlc2d", minimum=0)
    xpad = _padded(np.asarray(x), padding)
    n, c_in = x.shape[:2]
    rank, c_out, _, kh, kw = bases.shape
    h_out, w_out = alpha.shape[-2:]
    y = np.zeros((n, c_out, h_out, w_out), dtype=x.dtype)
    for b in range(n):
        a = alpha if alpha.ndim == 3 else alpha[b]
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    total = 0.0
                    for k in range(rank):
                        response = 0.0
                        for c in range(c_in):
                            for p in range(kh):
                                for q in range(kw):
                                    response += bases[k, o, c, p, q] * xpad[b, c, i * sh + p, j * sw + q]
                        total += a[k, i, j] * response
                    y[b, o, i, j] = total
    return y


def depthwise_conv2d(x, weight, bias=None, dilation=1, padding=0):
    """y[n, c, i, j] = bias[c] + sum_{p, q} weight[c, 0, p, q] * xpad[n, c, i + dh*p, j + dw*q]

    x (N, C, H, W), weight (C, 1, kh, kw), bias (C,) or None; stride 1,
    H_out = H + 2*ph - dh*(kh - 1)
    """
    (dh, dw), padding = pair(dilation, "dilation", "reference.depthwise_conv2d"), pair(padding, "padding", "reference.depthwise_conv2d", minimum=0)
    xpad = _padded(np.asarray(x), padding)
    n, c_in = x.shape[:2]
    _, _, kh, kw = weight.shape
    h_out = xpad.shape[2] - dh * (kh - 1)
    w_out = xpad.shape[3] - dw * (kw - 1)
    y = np.zeros((n, c_in, h_out, w_out), dtype=x.dtype)
    for b in range(n):
        for c in range(c_in):
            for i in range(h_out):
                for j in range(w_out):
                    total = 0.0 if bias is None else bias[c]
                    for p in range(kh):
                        for q in range(kw):
                            total += weight[c, 0, p, q] * xpad[b, c, i + dh * p, j + dw * q]
                    y[b, c, i, j] = total
    return y


def _source_position(i, in_size, out_size):
    """Aligned corners: output index i samples input coordinate i * (in - 1) / (out - 1)."""
    return 0.0 if out_size == 1 else i * (in_size - 1) / (out_size - 1)


def bilinear_resize(x, out_size):
    """Bilinear interpolation with aligned corners, as PyTorch's
    ``F.interpolate(x, size=out_size, mode="bilinear", align_corners=True)``:

        s = i * (H - 1) / (H_out - 1),  r = floor(s), r1 = min(r + 1, H - 1), a = s - r
        t = j * (W - 1) / (W_out - 1),  c = floor(t), c1 = min(c + 1, W - 1), b = t - c
        y[n, ch, i, j] = (1 - a) * ((1 - b) * x[r, c]  + b * x[r, c1])
                       +      a  * ((1 - b) * x[r1, c] + b * x[r1, c1])

    x (N, C, H, W) -> y (N, C, H_out, W_out); out_size int or (H_out, W_out)
    """
    h_out, w_out = pair(out_size, "out_size", "reference.bilinear_resize")
    n, channels, h, w = x.shape
    y = np.zeros((n, channels, h_out, w_out), dtype=x.dtype)
    for b in range(n):
        for ch in range(channels):
            for i in range(h_out):
                s = _source_position(i, h, h_out)
                r = min(int(s), h - 1)
                r1 = min(r + 1, h - 1)
                a = s - r
                for j in range(w_out):
                    t = _source_position(j, w, w_out)
                    c = min(int(t), w - 1)
                    c1 = min(c + 1, w - 1)
                    bw = t - c
                    top = (1 - bw) * x[b, ch, r, c] + bw * x[b, ch, r, c1]
                    bottom = (1 - bw) * x[b, ch, r1, c] + bw * x[b, ch, r1, c1]
                    y[b, ch, i, j] = (1 - a) * top + a * bottom
    return y
