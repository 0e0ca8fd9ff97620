"""Low-rank locally connected (LRLC) 2-D layer: K basis filter banks mixed per position.

    x      (N, C_in, H, W)
    bases  (K, C_out, C_in, kh, kw)            K basis filter banks B_1..B_K
    alpha  (K, H_out, W_out)                   combining weights shared by the batch, or
           (N, K, H_out, W_out)                per example
    y      (N, C_out, H_out, W_out)

    y[n, o, i, j] = sum_k alpha[k, i, j] * (x ⋆ B_k)[n, o, i, j]

(⋆ is the convolution of ``conv.py``.) Read the other way round, the same layer is a
locally connected layer whose filter bank at (i, j) is ``W[i, j] = sum_k alpha[k, i, j] B_k``:
a rank-K family of LC kernels. Hence two ways to compute it, with the same result:

    method="conv"  z = x ⋆ [B_1, ..., B_K] (one convolution with all K*C_out filters), then
                   y = sum_k alpha_k z_k at every position. Costs K convolutions; works for
                   shared and per-example alpha.
    method="lc"    W = effective_weight(bases, alpha), then the LC layer with W. Costs about
                   one LC layer, almost flat in K; shared alpha only.
    method="auto"  "lc" for shared alpha with K >= 2, else "conv" (``resolve_method``).

The layer's channel and spatial biases are added by the layer, not here.
"""

from __future__ import annotations

from typing import NamedTuple

from ..options import METHODS
from . import _checks
from .conv import conv2d_backward, conv2d_forward
from .im2col import output_hw
from .local import locally_connected2d_backward, locally_connected2d_forward

OWNER = "lrlc2d_forward"


class LRLC2DCache(NamedTuple):
    """What ``lrlc2d_backward`` needs from the forward pass."""

    method: str         # the route taken: "conv" or "lc"
    bases: object       # (K, C_out, C_in, kh, kw)
    alpha: object       # (K, H_out, W_out) or (N, K, H_out, W_out)
    inner: object       # the convolution's cache ("conv") or the LC layer's ("lc")
    z: object           # "conv": the K responses (N, K, C_out, H_out, W_out); "lc": None


def resolve_method(method, alpha, rank):
    """The route "auto" stands for: "lc" for shared alpha (3-D) with K >= 2, else "conv"."""
    if method != "auto":
        return method
    return "lc" if alpha.ndim == 3 and rank >= 2 else "conv"


def check_lrlc_inputs(x, bases, alpha, stride, padding, method, owner=OWNER):
    """Validate the arguments; return (stride, padding, the resolved method)."""
    _checks.choice(method, METHODS, "method", owner)
    _checks.float_tensor(x, "(N, C_in, H, W)", "x", owner)
    _checks.float_tensor(bases, "(K, C_out, C_in, kh, kw)", "bases", owner)
    _checks.float_array(alpha, "alpha", owner)
    _checks.same_dtype({"x": x, "bases": bases, "alpha": alpha}, owner)
    k, _, c_in, kh, kw = bases.shape
    if x.shape[1] != c_in:
        raise ValueError(
            f"{owner}: bases expect {c_in} input channels, so x should be "
            f"(N, {c_in}, H, W); got shape {tuple(x.shape)}"
        )
    stride, padding = _checks.steps_and_padding(stride, padding, owner)
    h_out, w_out = output_hw(x.shape[2], x.shape[3], (kh, kw), stride, padding, owner)
    if alpha.ndim == 3:
        _checks.shape(alpha, (k, h_out, w_out), "alpha (K, H_out, W_out)", owner)
    elif alpha.ndim == 4:
        _checks.shape(alpha, (x.shape[0], k, h_out, w_out), "alpha (N, K, H_out, W_out)", owner)
    else:
        raise ValueError(
            f"{owner}: expected alpha of shape ({k}, {h_out}, {w_out}) or "
            f"({x.shape[0]}, {k}, {h_out}, {w_out}), got {tuple(alpha.shape)}"
        )
    if method == "lc" and alpha.ndim == 4:
        raise ValueError(
            f"{owner}: method 'lc' needs alpha shared by the batch (K, H_out, W_out), "
            f"got per-example alpha {tuple(alpha.shape)}; use method 'conv'"
        )
    _checks.non_empty_batch(x, owner)
    return stride, padding, resolve_method(method, alpha, k)


def effective_weight(bases, alpha):
    """Per-position LC weights of an LRLC layer with shared alpha.

    bases (K, C_out, C_in, kh, kw), alpha (K, H_out, W_out)
    W     (H_out, W_out, C_out, C_in, kh, kw),   W[i, j] = sum_k alpha[k, i, j] * bases[k]

    With the positions as P rows and each basis flattened to a row, this is one product.
    """
    k, h_out, w_out = alpha.shape
    w = alpha.reshape(k, -1).T @ bases.reshape(k, -1)            # (P, K) @ (K, C_out*C_in*kh*kw)
    return w.reshape(h_out, w_out, *bases.shape[1:])


def lrlc2d_forward(x, bases, alpha, stride=1, padding=0, method="auto"):
    """LRLC forward pass (without biases).

    x (N, C_in, H, W), bases (K, C_out, C_in, kh, kw), alpha (K, H_out, W_out) or
    (N, K, H_out, W_out), method "auto", "conv" or "lc"  ->  y (N, C_out, H_out, W_out), cache
    """
    stride, padding, method = check_lrlc_inputs(x, bases, alpha, stride, padding, method)
    k, c_out = bases.shape[:2]
    if method == "lc":                                           # y = LC(x; sum_k alpha_k B_k)
        # BEGIN SOLUTION lrlc2d_forward
        # HINT: the lc route is the LC layer whose weight is effective_weight(bases, alpha)
        y, lc_cache = locally_connected2d_forward(x, effective_weight(bases, alpha), None, stride, padding)
        # END SOLUTION
        return y, LRLC2DCache("lc", bases, alpha, lc_cache, None)
    # conv route: z[n, k, o] = (x ⋆ B_k)[n, o], one convolution with the K*C_out filters
    # BEGIN SOLUTION lrlc2d_forward
    # HINT: one conv2d_forward with the K*C_out basis filters (no bias) gives
    #       z (N, K, C_out, H_out, W_out); y = sum over k of alpha_k * z_k, with alpha broadcast
    #       over C_out (and over N when shared)
    z, conv_cache = conv2d_forward(x, bases.reshape(k * c_out, *bases.shape[2:]), None, stride, padding)
    n, _, h_out, w_out = z.shape
    z = z.reshape(n, k, c_out, h_out, w_out)
    a = alpha if alpha.ndim == 4 else alpha[None]                # (N or 1, K, H_out, W_out)
    y = (a[:, :, None] * z).sum(axis=1)                          # sum_k alpha_k z_k, per position
    # END SOLUTION
    return y, LRLC2DCache("conv", bases, alpha, conv_cache, z)


def lrlc2d_backward(dy, cache):
    """LRLC backward pass.

    dy (N, C_out, H_out, W_out) -> dx (N, C_in, H, W), dbases (K, C_out, C_in, kh, kw),
    dalpha like alpha: (K, H_out, W_out) or (N, K, H_out, W_out)

    conv route, y = sum_k alpha_k z_k with z_k = x ⋆ B_k (a product at every position):
        dalpha[n, k, i, j] = sum_o dy[n, o, i, j] z[n, k, o, i, j]   (then summed over n when shared)
        dz[n, k]           = alpha[k] * dy[n], and conv2d_backward(dz) gives dx and dbases
    lc route, y = LC(x; W) with W[i, j] = sum_k alpha[k, i, j] B_k, and dW the LC weight gradient
    (as matrices: W = alpha^T B with alpha (K, P) and B (K, F), F = C_out*C_in*kh*kw):
        dbases[k]       = sum_{i, j} alpha[k, i, j] dW[i, j]
        dalpha[k, i, j] = <dW[i, j], B_k>          (summed over o, c, p, q)
    """
    method, bases, alpha, inner, z = cache
    k, c_out = bases.shape[:2]
    _checks.float_array(dy, "dy", "lrlc2d_backward")
    _checks.shape(dy, (inner.x_shape[0], c_out, *alpha.shape[-2:]), "dy", "lrlc2d_backward")
    if method == "lc":
        # BEGIN SOLUTION lrlc2d_backward
        # HINT: locally_connected2d_backward gives dx and dW; with W = alpha^T B as matrices
        #       (alpha (K, P), B (K, F)): dbases = alpha dW, dalpha = B dW^T
        dx, dw, _ = locally_connected2d_backward(dy, inner)      # dW (H_out, W_out, C_out, C_in, kh, kw)
        dw_rows, bases_rows = dw.reshape(alpha[0].size, -1), bases.reshape(k, -1)   # (P, F), (K, F)
        dbases = (alpha.reshape(k, -1) @ dw_rows).reshape(bases.shape)      # (K, P) @ (P, F)
        dalpha = (bases_rows @ dw_rows.T).reshape(alpha.shape)              # (K, F) @ (F, P)
        # END SOLUTION
        return dx, dbases, dalpha
    n, _, _, h_out, w_out = z.shape
    # BEGIN SOLUTION lrlc2d_backward
    # HINT: dalpha = dy * z summed over C_out (and over N when alpha is shared); dz = alpha_k * dy,
    #       reshaped to the convolution's (N, K*C_out, H_out, W_out) and sent through
    #       conv2d_backward
    a = alpha if alpha.ndim == 4 else alpha[None]                # (N or 1, K, H_out, W_out)
    dalpha = (dy[:, None] * z).sum(axis=2)                       # sum over o: (N, K, H_out, W_out)
    if alpha.ndim == 3:
        dalpha = dalpha.sum(axis=0)                              # alpha is shared by the batch
    dz = a[:, :, None] * dy[:, None]                             # alpha_k * dy, (N, K, C_out, H_out, W_out)
    dx, dbases, _ = conv2d_backward(dz.reshape(n, k * c_out, h_out, w_out), inner)
    # END SOLUTION
    return dx, dbases.reshape(bases.shape), dalpha
