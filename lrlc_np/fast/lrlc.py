"""Fast LRLC layer: the same results as ``ops.lrlc``, tuned for a CPU.

Same signatures and results as ``ops.lrlc2d_forward`` / ``_backward`` (both routes, the
same "auto" rule, ``ops.lrlc.resolve_method``). What changes, and what it buys:

- "lc" route: the effective filter banks W[i, j] = sum_k alpha[k, i, j] B_k are made one
  band of output rows at a time, as one (p, K) @ (K, R*C_out) product, and fed straight to
  the fast LC bands (``local.lc_rows_forward``); the P effective filter banks never exist
  all at once (71 MB at the paper's layer). In the backward pass each band's dW goes into
  dbases and dalpha at once (``band_grads``) and is thrown away. dalpha = dW B^T ran
  faster than B dW^T. At K = 2 this route beat the conv route by 8% (114 vs 124 ms).
- "conv" route: the fast convolution, then the mix over K (and its backward) in chunks of
  the batch on all cores, channels last: mix 20 -> 7 ms, its backward 27 -> 8 ms.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from ..ops import _checks
from ..ops.lrlc import check_lrlc_inputs
from . import _parallel
from .conv import conv2d_backward, conv2d_forward
from .nhwc import padded_nhwc
from .local import lc_rows_backward, lc_rows_forward


class FastLRLC2DCache(NamedTuple):
    """What the fast ``lrlc2d_backward`` needs from the forward pass."""

    method: str         # "conv" or "lc"
    bases: object
    alpha: object
    x_shape: tuple
    inner: object       # "conv": the fast convolution's cache; "lc": (xpad, bases_p, stride, padding)
    z: object           # "conv": the K responses (N, H_out, W_out, K, C_out); "lc": None


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
    """Same result as ``ops.lrlc2d_forward`` (see the module docstring for what changes).

    x (N, C_in, H, W), bases (K, C_out, C_in, kh, kw), alpha (K, H_out, W_out) or
    (N, K, H_out, W_out), method "auto", "conv" or "lc"  ->  y (N, C_out, H_out, W_out), cache
    """
    stride, padding, method = check_lrlc_inputs(x, bases, alpha, stride, padding, method)
    xp = get_array_module(x)
    k, c_out = bases.shape[:2]
    if method == "lc":
        h_out, w_out = alpha.shape[1:]
        xpad = padded_nhwc(x, padding)                              # (N, Hp, Wp, C_in)
        bases_p = _bases_patch_matrix(bases)                         # (K, C_out*R)
        y_pos = lc_rows_forward(xpad, bases.shape[3:], stride, (h_out, w_out), c_out,
                                _effective_weight_rows(alpha, bases_p, c_out))
        cache = FastLRLC2DCache("lc", bases, alpha, x.shape, (xpad, bases_p, stride, padding), None)
        return y_pos.transpose(2, 3, 0, 1), cache
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
    return y.transpose(0, 3, 1, 2), FastLRLC2DCache("conv", bases, alpha, x.shape, conv_cache, z)


def _alpha_nhwk(alpha, lo, hi):
    """alpha channels last, for samples lo..hi-1: (H_out, W_out, K) shared, or (m, H_out, W_out, K)."""
    return alpha.transpose(1, 2, 0) if alpha.ndim == 3 else alpha[lo:hi].transpose(0, 2, 3, 1)


def lrlc2d_backward(dy, cache):
    """Same result as ``ops.lrlc2d_backward``.

    dy (N, C_out, H_out, W_out) -> dx (N, C_in, H, W), dbases (K, C_out, C_in, kh, kw),
    dalpha like alpha: (K, H_out, W_out) or (N, K, H_out, W_out)

    conv route, with z_k = x ⋆ B_k and y = sum_k alpha_k z_k (product per position):
        dalpha[k, i, j] = sum_{n, o} dy[n, o, i, j] z[n, k, o, i, j]   (no sum over n per example)
        dz[n, k]        = alpha[k] * dy[n]          then conv2d_backward gives dx and dbases
    lc route, with W[i, j] = sum_k alpha[k, i, j] B_k and dW the LC layer's weight gradient:
        dbases[k]       = sum_{i, j} alpha[k, i, j] dW[i, j]
        dalpha[k, i, j] = <dW[i, j], B_k>           (sum over o, c, p, q)
    """
    method, bases, alpha, x_shape, inner, z = cache
    xp = get_array_module(dy)
    k, c_out, c_in, kh, kw = bases.shape
    _checks.float_array(dy, "dy", "lrlc2d_backward")
    _checks.shape(dy, (x_shape[0], c_out, *alpha.shape[-2:]), "dy", "lrlc2d_backward")
    if method == "lc":
        xpad, bases_p, stride, padding = inner
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
    n, h_out, w_out = z.shape[:3]                                    # z (N, H_out, W_out, K, C_out)
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
    dx, dbases, _ = conv2d_backward(dz, inner)
    return dx, dbases.reshape(bases.shape), dalpha
