"""Loop versions of the layers, forward and backward: the definitions, line by line.

These read like the equations and are slow on purpose: the first thing to read, and the
oracle that both tiers (``lrlc_np.ops``, ``lrlc_np.fast``) are tested against. Shapes as in
``ops``:

    x (N, C_in, H, W) -> y (N, C_out, H_out, W_out),  H_out = (H + 2*ph - kh) // sh + 1

Each backward loop walks the forward loop's terms once and hands every term's upstream
gradient to the numbers that made it: a term ``w * v`` that adds into y[...] gives
``dy[...] * v`` to w and ``dy[...] * w`` to v. That is the chain rule for a sum of
products, and the vectorised backward passes are this loop rearranged into matrix products.
Backward functions take the forward's inputs (not a cache) and return the gradients.
"""

from __future__ import annotations

import math

import numpy as np

from .ops._checks import pair, steps_and_padding
from .ops.combining import NORM_EPS      # the "norm" normalisation divides by max(||l||_2, NORM_EPS)


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
    (sh, sw), padding = steps_and_padding(stride, padding, "reference.conv2d")
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
    (sh, sw), padding = steps_and_padding(stride, padding, "reference.locally_connected2d")
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
    """y[n, o, i, j] = sum_k alpha[k, i, j] * sum_{c, p, q} bases[k, o, c, p, q]
                                                 * xpad[n, c, i*sh + p, j*sw + q]

    x (N, C_in, H, W), bases (K, C_out, C_in, kh, kw),
    alpha (K, H_out, W_out) shared, or (N, K, H_out, W_out) per example
    """
    (sh, sw), padding = steps_and_padding(stride, padding, "reference.lrlc2d")
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


def conv2d_backward(dy, x, weight, bias=None, stride=1, padding=0):
    """Gradients of ``conv2d``: every term weight[o, c, p, q] * xpad[n, c, i*sh + p, j*sw + q]
    of y[n, o, i, j] passes dy[n, o, i, j] on to both factors.

    dy (N, C_out, H_out, W_out) -> dx (N, C_in, H, W), dweight (C_out, C_in, kh, kw),
    dbias (C_out,) or None
    """
    (sh, sw), (ph, pw) = steps_and_padding(stride, padding, "reference.conv2d_backward")
    xpad = _padded(np.asarray(x), (ph, pw))
    n, c_in, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    _, _, h_out, w_out = dy.shape
    dxpad = np.zeros_like(xpad)
    dweight = np.zeros_like(weight)
    dbias = None if bias is None else np.zeros_like(bias)
    for b in range(n):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    g = dy[b, o, i, j]
                    if dbias is not None:
                        dbias[o] += g
                    for c in range(c_in):
                        for p in range(kh):
                            for q in range(kw):
                                dweight[o, c, p, q] += g * xpad[b, c, i * sh + p, j * sw + q]
                                dxpad[b, c, i * sh + p, j * sw + q] += g * weight[o, c, p, q]
    return dxpad[:, :, ph : ph + h, pw : pw + w], dweight, dbias


def locally_connected2d_backward(dy, x, weight, bias=None, stride=1, padding=0):
    """Gradients of ``locally_connected2d``: as ``conv2d_backward``, with the weight of position (i, j).

    dy (N, C_out, H_out, W_out) -> dx (N, C_in, H, W), dweight (H_out, W_out, C_out, C_in, kh, kw),
    dbias (C_out, H_out, W_out) or None
    """
    (sh, sw), (ph, pw) = steps_and_padding(stride, padding, "reference.locally_connected2d_backward")
    xpad = _padded(np.asarray(x), (ph, pw))
    n, c_in, h, w = x.shape
    h_out, w_out, c_out, _, kh, kw = weight.shape
    dxpad = np.zeros_like(xpad)
    dweight = np.zeros(weight.shape, dtype=weight.dtype)
    dbias = None if bias is None else np.zeros_like(bias)
    for b in range(n):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    g = dy[b, o, i, j]
                    if dbias is not None:
                        dbias[o, i, j] += g
                    for c in range(c_in):
                        for p in range(kh):
                            for q in range(kw):
                                dweight[i, j, o, c, p, q] += g * xpad[b, c, i * sh + p, j * sw + q]
                                dxpad[b, c, i * sh + p, j * sw + q] += g * weight[i, j, o, c, p, q]
    return dxpad[:, :, ph : ph + h, pw : pw + w], dweight, dbias


def lrlc2d_backward(dy, x, bases, alpha, stride=1, padding=0):
    """Gradients of ``lrlc2d``. A term of y[n, o, i, j] is

        alpha[k, i, j] * bases[k, o, c, p, q] * xpad[n, c, i*sh + p, j*sw + q]

    a product of three numbers, so dy[n, o, i, j] times the other two goes to each of them.

    dy (N, C_out, H_out, W_out) -> dx (N, C_in, H, W), dbases (K, C_out, C_in, kh, kw),
    dalpha like alpha: (K, H_out, W_out) shared (summed over the batch), or (N, K, H_out, W_out)
    """
    (sh, sw), (ph, pw) = steps_and_padding(stride, padding, "reference.lrlc2d_backward")
    xpad = _padded(np.asarray(x), (ph, pw))
    n, c_in, h, w = x.shape
    rank, c_out, _, kh, kw = bases.shape
    h_out, w_out = alpha.shape[-2:]
    dxpad = np.zeros_like(xpad)
    dbases = np.zeros_like(bases)
    dalpha = np.zeros_like(alpha)
    for b in range(n):
        a = alpha if alpha.ndim == 3 else alpha[b]
        da = dalpha if alpha.ndim == 3 else dalpha[b]
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    g = dy[b, o, i, j]
                    for k in range(rank):
                        for c in range(c_in):
                            for p in range(kh):
                                for q in range(kw):
                                    r, s = i * sh + p, j * sw + q
                                    v = xpad[b, c, r, s]
                                    da[k, i, j] += g * bases[k, o, c, p, q] * v
                                    dbases[k, o, c, p, q] += g * a[k, i, j] * v
                                    dxpad[b, c, r, s] += g * a[k, i, j] * bases[k, o, c, p, q]
    return dxpad[:, :, ph : ph + h, pw : pw + w], dbases, dalpha


def lrlc2d_per_basis(x, bases, alpha, dilations):
    """y[n, o, i, j] = sum_k alpha[k, i, j] * sum_{c, p, q} bases[k][o, c, p, q]
                                                 * x[n, c, i - t_k + p*d_k, j - u_k + q*d_k]

    with x = 0 outside the image ('same' padding: t_k = d_k*(kh_k - 1)/2, u_k = d_k*(kw_k - 1)/2),
    x (N, C_in, H, W), bases a list of K (C_out, C_in, kh_k, kw_k), dilations K ints,
    alpha (K, H, W) shared or (N, K, H, W) per example; y (N, C_out, H, W)
    """
    x = np.asarray(x)
    n, c_in, h, w = x.shape
    c_out = bases[0].shape[0]
    y = np.zeros((n, c_out, h, w), dtype=x.dtype)
    for b in range(n):
        a = alpha if alpha.ndim == 3 else alpha[b]
        for o in range(c_out):
            for i in range(h):
                for j in range(w):
                    total = 0.0
                    for k, (basis, d) in enumerate(zip(bases, dilations)):
                        kh, kw = basis.shape[2:]
                        t, u = d * (kh - 1) // 2, d * (kw - 1) // 2
                        response = 0.0
                        for c in range(c_in):
                            for p in range(kh):
                                for q in range(kw):
                                    r, s = i - t + p * d, j - u + q * d
                                    if 0 <= r < h and 0 <= s < w:
                                        response += basis[o, c, p, q] * x[b, c, r, s]
                        total += a[k, i, j] * response
                    y[b, o, i, j] = total
    return y


def lrlc2d_per_basis_backward(dy, x, bases, alpha, dilations):
    """Gradients of ``lrlc2d_per_basis``: each term alpha[k, i, j] * bases[k][o, c, p, q] * x[n, c, r, s]
    hands dy[n, o, i, j] times the other two to each of its three numbers.

    -> dx (N, C_in, H, W), dbases (a list like bases), dalpha like alpha
    """
    x = np.asarray(x)
    n, c_in, h, w = x.shape
    c_out = bases[0].shape[0]
    dx = np.zeros_like(x)
    dbases = [np.zeros_like(basis) for basis in bases]
    dalpha = np.zeros_like(alpha)
    for b in range(n):
        a = alpha if alpha.ndim == 3 else alpha[b]
        da = dalpha if alpha.ndim == 3 else dalpha[b]
        for o in range(c_out):
            for i in range(h):
                for j in range(w):
                    g = dy[b, o, i, j]
                    for k, (basis, d) in enumerate(zip(bases, dilations)):
                        kh, kw = basis.shape[2:]
                        t, u = d * (kh - 1) // 2, d * (kw - 1) // 2
                        for c in range(c_in):
                            for p in range(kh):
                                for q in range(kw):
                                    r, s = i - t + p * d, j - u + q * d
                                    if 0 <= r < h and 0 <= s < w:
                                        v = x[b, c, r, s]
                                        da[k, i, j] += g * basis[o, c, p, q] * v
                                        dbases[k][o, c, p, q] += g * a[k, i, j] * v
                                        dx[b, c, r, s] += g * a[k, i, j] * basis[o, c, p, q]
    return dx, dbases, dalpha




def _positions(logits):
    """Every (leading index, i, j) of logits (K, H, W) or (N, K, H, W), with the K values there."""
    lead = [()] if logits.ndim == 3 else [(b,) for b in range(logits.shape[0])]
    h, w = logits.shape[-2:]
    for b in lead:
        for i in range(h):
            for j in range(w):
                yield b, i, j


def combining_weights(logits, normalize="softmax"):
    """alpha at every position from the K logits there, l = logits[..., :, i, j]:

        "softmax"  alpha_k = exp(l_k) / sum_m exp(l_m)
        "norm"     alpha_k = l_k / max(sqrt(sum_m l_m^2), 1e-12)
        "none"     alpha_k = l_k

    logits (K, H_out, W_out) or (N, K, H_out, W_out) -> alpha, same shape
    """
    logits = np.asarray(logits)
    rank = logits.shape[-3]
    alpha = np.zeros_like(logits)
    for b, i, j in _positions(logits):
        l = [logits[(*b, k, i, j)] for k in range(rank)]
        if normalize == "softmax":
            top = max(l)                                  # exp(l - top): the same ratios, no overflow
            e = [math.exp(v - top) for v in l]
            values = [v / sum(e) for v in e]
        elif normalize == "norm":
            scale = max(math.sqrt(sum(v * v for v in l)), NORM_EPS)
            values = [v / scale for v in l]
        else:
            values = l
        for k in range(rank):
            alpha[(*b, k, i, j)] = values[k]
    return alpha


def combining_weights_backward(dalpha, logits, normalize="softmax"):
    """Gradient of ``combining_weights`` through its Jacobian, written out entry by entry:

        dlogits_m = sum_k dalpha_k * d alpha_k / d l_m, with
        "softmax"  d alpha_k / d l_m = alpha_k * ([k == m] - alpha_m)
        "norm"     d alpha_k / d l_m = ([k == m] - alpha_k * alpha_m) / ||l||   (||l|| > 1e-12)
                                     = [k == m] / 1e-12                        (clamped)
        "none"     d alpha_k / d l_m = [k == m]

    dalpha, logits (K, H_out, W_out) or (N, K, H_out, W_out) -> dlogits, same shape
    """
    logits = np.asarray(logits)
    alpha = combining_weights(logits, normalize)
    rank = logits.shape[-3]
    dlogits = np.zeros_like(logits)
    for b, i, j in _positions(logits):
        a = [alpha[(*b, k, i, j)] for k in range(rank)]
        norm = math.sqrt(sum(logits[(*b, k, i, j)] ** 2 for k in range(rank)))
        for m in range(rank):
            total = 0.0
            for k in range(rank):
                same = 1.0 if k == m else 0.0
                if normalize == "softmax":
                    jacobian = a[k] * (same - a[m])
                elif normalize == "norm":
                    jacobian = (same - a[k] * a[m]) / norm if norm > NORM_EPS else same / NORM_EPS
                else:
                    jacobian = same
                total += dalpha[(*b, k, i, j)] * jacobian
            dlogits[(*b, m, i, j)] = total
    return dlogits


def depthwise_conv2d(x, weight, bias=None, dilation=1, padding=0):
    """y[n, c, i, j] = bias[c] + sum_{p, q} weight[c, 0, p, q] * xpad[n, c, i + dil_h*p, j + dil_w*q]

    x (N, C, H, W), weight (C, 1, kh, kw), bias (C,) or None; stride 1,
    H_out = H + 2*ph - dil_h*(kh - 1)
    """
    (dil_h, dil_w), padding = steps_and_padding(dilation, padding, "reference.depthwise_conv2d", "dilation")
    xpad = _padded(np.asarray(x), padding)
    n, c_in = x.shape[:2]
    _, _, kh, kw = weight.shape
    h_out = xpad.shape[2] - dil_h * (kh - 1)
    w_out = xpad.shape[3] - dil_w * (kw - 1)
    y = np.zeros((n, c_in, h_out, w_out), dtype=x.dtype)
    for b in range(n):
        for c in range(c_in):
            for i in range(h_out):
                for j in range(w_out):
                    total = 0.0 if bias is None else bias[c]
                    for p in range(kh):
                        for q in range(kw):
                            total += weight[c, 0, p, q] * xpad[b, c, i + dil_h * p, j + dil_w * q]
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
