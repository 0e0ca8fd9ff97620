"""Low-rank locally connected (LRLC) 2-D layer: K basis filter banks mixed per position.

    x      (N, C_in, H, W)
    bases  (K, C_out, C_in, kh, kw)            K basis filter banks B_1..B_K
    alpha  (K, H_out, W_out)                   combining weights shared by the batch, or
           (N, K, H_out, W_out)                per example
    y      (N, C_out, H_out, W_out)

    y[n, o, i, j] = sum_k alpha[k, i, j] * (x ⋆ B_k)[n, o, i, j]

(⋆ is the convolution of ``conv.py``.) The same layer, read the other way round, is a
locally connected layer whose filter bank at (i, j) is ``sum_k alpha[k, i, j] * B_k``: a
rank-K family of LC kernels. That gives two ways to compute it:

    method="conv"  one convolution with all K*C_out basis filters, then a per-position mix
                   over K. Costs K convolutions; works for shared and per-example alpha.
    method="lc"    build the per-position effective weights W[i, j] = sum_k alpha[k, i, j] B_k,
                   one band of output rows at a time, and run the LC product on them. Costs
                   about one LC layer, almost flat in K; shared alpha only (per-example
                   alpha would need N weight sets).
    method="auto"  "lc" for shared alpha with K >= 2, else "conv" (the crossover measured
                   at the paper's layer, batch 64: K = 2 runs about 8% faster through "lc").

Both give the same numbers up to rounding (the tests hold them to it). The layer's channel
and spatial biases are added by ``layers.LowRankLocallyConnected2D``, not here.
"""

from __future__ import annotations

from ..backend import get_array_module
from . import _checks, _parallel
from .conv import conv2d_backward, conv2d_forward
from .im2col import output_hw, padded_nhwc
from .local import lc_rows_backward, lc_rows_forward

METHODS = ("auto", "conv", "lc")
OWNER = "lrlc2d_forward"


def _check_lrlc_inputs(x, bases, alpha, stride, padding, method):
    _checks.choice(method, METHODS, "method", OWNER)
    _checks.float_array(x, "x", OWNER)
    _checks.ndim(x, 4, "(N, C_in, H, W)", "x", OWNER)
    _checks.float_array(bases, "bases", OWNER)
    _checks.ndim(bases, 5, "(K, C_out, C_in, kh, kw)", "bases", OWNER)
    _checks.float_array(alpha, "alpha", OWNER)
    _checks.same_dtype({"x": x, "bases": bases, "alpha": alpha}, OWNER)
    k, _, c_in, kh, kw = bases.shape
    if x.shape[1] != c_in:
        raise ValueError(
            f"{OWNER}: bases expect {c_in} input channels, so x should be "
            f"(N, {c_in}, H, W); got shape {tuple(x.shape)}"
        )
    stride = _checks.pair(stride, "stride", OWNER)
    padding = _checks.pair(padding, "padding", OWNER, minimum=0)
    h_out, w_out = output_hw(x.shape[2], x.shape[3], (kh, kw), stride, padding, OWNER)
    if alpha.ndim == 3:
        _checks.shape(alpha, (k, h_out, w_out), "alpha (K, H_out, W_out)", OWNER)
    elif alpha.ndim == 4:
        _checks.shape(alpha, (x.shape[0], k, h_out, w_out), "alpha (N, K, H_out, W_out)", OWNER)
    else:
        raise ValueError(
            f"{OWNER}: expected alpha of shape ({k}, {h_out}, {w_out}) or "
            f"({x.shape[0]}, {k}, {h_out}, {w_out}), got {tuple(alpha.shape)}"
        )
    if method == "lc" and alpha.ndim == 4:
        raise ValueError(
            f"{OWNER}: method 'lc' needs alpha shared by the batch (K, H_out, W_out), "
            f"got per-example alpha {tuple(alpha.shape)}; use method 'conv'"
        )
    if method == "auto":
        method = "lc" if alpha.ndim == 3 and k >= 2 else "conv"
    return stride, padding, method


def effective_weight(bases, alpha):
    """Per-position LC weights of an LRLC layer with shared alpha.

    bases (K, C_out, C_in, kh, kw), alpha (K, H_out, W_out)
    W     (H_out, W_out, C_out, C_in, kh, kw),   W[i, j] = sum_k alpha[k, i, j] * bases[k]
    """
    k, h_out, w_out = alpha.shape
    # (H_out*W_out, K) @ (K, C_out*C_in*kh*kw)
    w = alpha.reshape(k, -1).T @ bases.reshape(k, -1)
    return w.reshape(h_out, w_out, *bases.shape[1:])


def _bases_patch_matrix(bases):
    """bases (K, C_out, C_in, kh, kw) -> (K, kh*kw*C_in*C_out): each B_k^T, rows in im2col's (p, q, c) order."""
    return bases.transpose(0, 3, 4, 2, 1).reshape(bases.shape[0], -1)


def _effective_weight_rows(alpha, bases_p, c_out):
    """weight_rows for the LC path: the effective filter banks of a band of output rows.

    -> function (lo, hi) -> (p, R, C_out), W[i, j]^T = sum_k alpha[k, i, j] B_k^T for the
    positions of rows lo..hi-1, as one (p, K) @ (K, R*C_out) product. Made band by band, so
    the P effective filter banks never exist all at once.
    """
    k, _, w_out = alpha.shape
    alpha_p = alpha.reshape(k, -1)                                   # (K, P)

    def weight_rows(lo, hi):
        return (alpha_p[:, lo * w_out : hi * w_out].T @ bases_p).reshape(-1, bases_p.shape[1] // c_out, c_out)

    return weight_rows


def lrlc2d_forward(x, bases, alpha, stride=1, padding=0, method="auto"):
    """LRLC forward pass (without biases).

    x      (N, C_in, H, W)
    bases  (K, C_out, C_in, kh, kw)
    alpha  (K, H_out, W_out) or (N, K, H_out, W_out)
    method "auto", "conv" or "lc" (see the module docstring); the result is the same
    y      (N, C_out, H_out, W_out)
    """
    stride, padding, method = _check_lrlc_inputs(x, bases, alpha, stride, padding, method)
    xp = get_array_module(x)
    k, c_out = bases.shape[:2]
    if method == "lc":
        h_out, w_out = alpha.shape[1:]
        xpad = padded_nhwc(x, padding)                              # (N, Hp, Wp, C_in)
        bases_p = _bases_patch_matrix(bases)                         # (K, C_out*R)
        y_pos = lc_rows_forward(xpad, bases.shape[3:], stride, (h_out, w_out), c_out,
                                _effective_weight_rows(alpha, bases_p, c_out))
        sub_cache = (xpad, bases_p, x.shape, stride, padding)
        return y_pos.transpose(2, 3, 0, 1), ("lc", sub_cache, bases, alpha)
    # conv route: one convolution with all K*C_out filters, z[n, i, j, k, o] = (x ⋆ B_k)[n, o, i, j]
    z, conv_cache = conv2d_forward(x, bases.reshape(k * c_out, *bases.shape[2:]), None, stride, padding)
    n, _, h_out, w_out = z.shape
    z = z.transpose(0, 2, 3, 1).reshape(n, h_out, w_out, k, c_out)  # free: conv output is NHWC in memory
    y = xp.empty((n, h_out, w_out, c_out), dtype=z.dtype)

    def mix(lo, hi):                                                 # y = sum_k alpha_k z_k, samples lo..hi-1
        a = _alpha_nhwk(alpha, lo, hi)                               # (H_out, W_out, K) or (m, H_out, W_out, K)
        xp.multiply(z[lo:hi, ..., 0, :], a[..., 0:1], out=y[lo:hi])
        for b in range(1, k):
            y[lo:hi] += z[lo:hi, ..., b, :] * a[..., b : b + 1]

    _parallel.for_chunks(n, _parallel.chunk_size(z[0].nbytes), mix, xp=xp)
    return y.transpose(0, 3, 1, 2), ("conv", conv_cache, bases, alpha, z)


def _alpha_nhwk(alpha, lo, hi):
    """alpha channels last, for samples lo..hi-1: (H_out, W_out, K) shared, or (m, H_out, W_out, K)."""
    return alpha.transpose(1, 2, 0) if alpha.ndim == 3 else alpha[lo:hi].transpose(0, 2, 3, 1)


def lrlc2d_backward(dy, cache):
    """LRLC backward pass.

    dy     (N, C_out, H_out, W_out)
    dx     (N, C_in, H, W)
    dbases (K, C_out, C_in, kh, kw)
    dalpha like alpha: (K, H_out, W_out) or (N, K, H_out, W_out)

    conv route, with z_k = x ⋆ B_k and y = sum_k alpha_k z_k (product per position):
        dalpha[k, i, j] = sum_{n, o} dy[n, o, i, j] z[n, k, o, i, j]   (no sum over n per example)
        dz[n, k]        = alpha[k] * dy[n]          then conv2d_backward gives dx and dbases
    lc route, with W[i, j] = sum_k alpha[k, i, j] B_k and dW the LC layer's weight gradient:
        dbases[k]       = sum_{i, j} alpha[k, i, j] dW[i, j]
        dalpha[k, i, j] = <dW[i, j], B_k>           (sum over o, c, p, q)
    """
    route, sub_cache, bases, alpha = cache[:4]
    xp = get_array_module(dy)
    k, c_out, c_in, kh, kw = bases.shape
    _checks.float_array(dy, "dy", "lrlc2d_backward")
    if route == "lc":
        xpad, bases_p, x_shape, stride, padding = sub_cache
        _checks.shape(dy, (x_shape[0], c_out, *alpha.shape[1:]), "dy", "lrlc2d_backward")
        h_out, w_out = alpha.shape[1:]
        alpha_p = alpha.reshape(k, -1)                                # (K, P)

        def band_grads(lo, hi, dw):                                  # dw (p, R, C_out): this band's dW^T
            dw = dw.reshape(dw.shape[0], -1)                          # (p, R*C_out)
            # (K, R*C_out) and (K, p); dw @ bases_p.T runs faster here than bases_p @ dw.T
            return alpha_p[:, lo * w_out : hi * w_out] @ dw, (dw @ bases_p.T).T

        dx, parts = lc_rows_backward(dy.transpose(2, 3, 0, 1), xpad, (kh, kw), stride, (h_out, w_out),
                                     _effective_weight_rows(alpha, bases_p, c_out), band_grads, padding=padding)
        dbases_p = sum(p[0] for p in parts)                          # sum over positions, band by band
        dbases = xp.ascontiguousarray(dbases_p.reshape(k, kh, kw, c_in, c_out).transpose(0, 4, 3, 1, 2))
        dalpha = xp.concatenate([p[1] for p in parts], axis=1).reshape(alpha.shape)
        dx = dx.transpose(0, 3, 1, 2)                                # NHWC memory seen as NCHW
        return dx, dbases, dalpha
    z = cache[4]                                                     # (N, H_out, W_out, K, C_out)
    n, h_out, w_out = z.shape[:3]
    _checks.shape(dy, (n, c_out, h_out, w_out), "dy", "lrlc2d_backward")
    dy_nhwc = dy.transpose(0, 2, 3, 1)                               # (N, H_out, W_out, C_out)
    dalpha = xp.empty((n, h_out, w_out, k), dtype=z.dtype)
    dz = xp.empty_like(z)                                            # (N, H_out, W_out, K, C_out)

    def mix_backward(lo, hi):                                        # samples lo..hi-1
        dalpha[lo:hi] = xp.einsum("nijko,nijo->nijk", z[lo:hi], dy_nhwc[lo:hi])   # sum over o (CuPy's einsum has no out=)
        xp.multiply(_alpha_nhwk(alpha, lo, hi)[..., None], dy_nhwc[lo:hi, ..., None, :], out=dz[lo:hi])

    _parallel.for_chunks(n, _parallel.chunk_size(z[0].nbytes), mix_backward, xp=xp)
    if alpha.ndim == 3:
        dalpha = xp.ascontiguousarray(dalpha.sum(axis=0).transpose(2, 0, 1))   # (K, H_out, W_out)
    else:
        dalpha = xp.ascontiguousarray(dalpha.transpose(0, 3, 1, 2))            # (N, K, H_out, W_out)
    dz = dz.reshape(n, h_out, w_out, k * c_out).transpose(0, 3, 1, 2)  # as the conv's dy, NHWC in memory
    dx, dbases, _ = conv2d_backward(dz, sub_cache)
    return dx, dbases.reshape(bases.shape), dalpha
