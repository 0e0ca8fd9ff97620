"""LRLC whose K bases each have a kernel size and a dilation of their own ('same' padding).

The authors' layer accepts a list of K kernel sizes and K dilations: basis k then looks at
a kh_k x kw_k window whose taps are d_k pixels apart, so some bases see fine detail and
others a wide context, and the combining weights choose between them per position. The
responses have to line up, so every basis uses 'same' padding and stride 1: each output
has the input's size.

    x          (N, C_in, H, W)
    bases      K arrays, bases[k] (C_out, C_in, kh_k, kw_k)
    dilations  K ints d_k >= 1
    alpha      (K, H, W) shared by the batch, or (N, K, H, W) per example
    y          (N, C_out, H, W)

    z_k = x ⋆_{d_k} B_k,   z_k[n, o, i, j] = sum_{c,p,q} B_k[o, c, p, q] xpad_k[n, c, i + p*d_k, j + q*d_k]
    y[n, o, i, j] = sum_k alpha[k, i, j] z_k[n, o, i, j]

``xpad_k`` is x with d_k*(kh_k - 1)/2 zero rows and d_k*(kw_k - 1)/2 zero columns on each
side ('same' padding; the total d_k*(k - 1) must be even, which holds for odd kernels).

Backward, given dy (N, C_out, H, W):

    dalpha[k, i, j] = sum_{n, o} dy[n, o, i, j] z_k[n, o, i, j]     (per example: no sum over n)
    dz_k  = alpha_k * dy                                            (alpha broadcast over o)
    each z_k is a convolution, cols_k @ B_k^T, so
    dB_k  = dz_k^T cols_k,    dx = sum_k col2im(dz_k B_k)           (``conv.py``'s derivation)

The convolution is written out here (im2col with the dilation, one matrix product) because
``conv2d_forward`` has no dilation; ``lrlc2d_forward`` covers bases of one shape.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from . import _checks
from .im2col import col2im, im2col, same_padding

OWNER = "lrlc2d_per_basis_forward"


class LRLC2DPerBasisCache(NamedTuple):
    """What ``lrlc2d_per_basis_backward`` needs from the forward pass."""

    method: str         # "per_basis" (the route, as ``LRLC2DCache.method`` names its own)
    x_shape: tuple      # (N, C_in, H, W)
    bases: tuple        # K arrays (C_out, C_in, kh_k, kw_k)
    dilations: tuple    # K ints
    paddings: tuple     # K (ph, pw) pairs
    alpha: object       # (K, H, W) or (N, K, H, W)
    cols: tuple         # K im2col matrices (N*H*W, C_in*kh_k*kw_k)
    z: object           # (N, K, C_out, H, W): the K responses


def check_per_basis_inputs(x, bases, alpha, dilations, owner=OWNER):
    """Validate the arguments; return (N, C_in, H, W, K, C_out)."""
    _checks.float_tensor(x, "(N, C_in, H, W)", "x", owner)
    _checks.non_empty_batch(x, owner)
    n, c_in, h, w = x.shape
    if not isinstance(bases, (list, tuple)) or len(bases) < 1:
        raise TypeError(f"{owner}: expected bases as a list of K arrays (C_out, C_in, kh_k, kw_k), "
                        f"got {type(bases).__name__}")
    k = len(bases)
    if not isinstance(dilations, (list, tuple)) or len(dilations) != k:
        raise ValueError(f"{owner}: expected {k} dilations (one per basis), got {dilations!r}")
    c_out = None
    for index, basis in enumerate(bases):
        _checks.float_tensor(basis, "(C_out, C_in, kh, kw)", f"bases[{index}]", owner)
        c_out = basis.shape[0] if c_out is None else c_out
        _checks.shape(basis, (c_out, c_in, None, None), f"bases[{index}]", owner)
    _checks.float_array(alpha, "alpha", owner)
    if alpha.ndim == 3:
        _checks.shape(alpha, (k, h, w), "alpha", owner)
    else:
        _checks.ndim(alpha, 4, "(N, K, H, W)", "alpha", owner)
        _checks.shape(alpha, (n, k, h, w), "alpha", owner)
    named_bases = {f"bases[{i}]": basis for i, basis in enumerate(bases)}
    _checks.same_dtype({"x": x, "alpha": alpha, **named_bases}, owner)
    return n, c_in, h, w, k, c_out


def lrlc2d_per_basis_forward(x, bases, alpha, dilations):
    """y (N, C_out, H, W) = sum_k alpha_k * (x ⋆_{d_k} B_k), 'same' padding; -> (y, cache)."""
    n, c_in, h, w, k, c_out = check_per_basis_inputs(x, bases, alpha, dilations)
    xp = get_array_module(x)
    paddings = tuple(same_padding(basis.shape[2:], d, OWNER) for basis, d in zip(bases, dilations))
    z = xp.empty((n, k, c_out, h, w), dtype=x.dtype)
    cols = []
    for index, (basis, d, pad) in enumerate(zip(bases, dilations, paddings)):
        cols_k = im2col(x, basis.shape[2:], 1, pad, dilation=d)             # (N*H*W, C_in*kh_k*kw_k)
        z[:, index] = (cols_k @ basis.reshape(c_out, -1).T).reshape(n, h, w, c_out).transpose(0, 3, 1, 2)
        cols.append(cols_k)
    a = alpha[:, :, None] if alpha.ndim == 4 else alpha[None, :, None]      # (N or 1, K, 1, H, W)
    y = (a * z).sum(axis=1)                                                  # (N, C_out, H, W)
    return y, LRLC2DPerBasisCache("per_basis", tuple(x.shape), tuple(bases), tuple(dilations), paddings,
                                  alpha, tuple(cols), z)


def lrlc2d_per_basis_backward(dy, cache):
    """-> (dx (N, C_in, H, W), dbases: list of K arrays like the bases, dalpha like alpha)."""
    owner = "lrlc2d_per_basis_backward"
    n, c_in, h, w = cache.x_shape
    c_out = cache.bases[0].shape[0]
    _checks.float_array(dy, "dy", owner)
    _checks.shape(dy, (n, c_out, h, w), "dy", owner)
    alpha = cache.alpha
    per_example = (dy[:, None] * cache.z).sum(axis=2)                          # (N, K, H, W)
    dalpha = per_example if alpha.ndim == 4 else per_example.sum(axis=0)
    a = alpha[:, :, None] if alpha.ndim == 4 else alpha[None, :, None]        # (N or 1, K, 1, H, W)
    dz = a * dy[:, None]                                                       # (N, K, C_out, H, W)
    dx = get_array_module(dy).zeros(cache.x_shape, dtype=dy.dtype)
    dbases = []
    per_basis = zip(cache.bases, cache.dilations, cache.paddings, cache.cols)
    for index, (basis, d, pad, cols_k) in enumerate(per_basis):
        rows = dz[:, index].transpose(0, 2, 3, 1).reshape(n * h * w, c_out)   # (N*H*W, C_out)
        dbases.append((rows.T @ cols_k).reshape(basis.shape))
        dx += col2im(rows @ basis.reshape(c_out, -1), cache.x_shape, basis.shape[2:], 1, pad, dilation=d)
    return dx, dbases, dalpha
