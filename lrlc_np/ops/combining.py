"""Combining weights: turn logits into the per-position mixing weights alpha of an LRLC layer.

    logits, alpha  (K, H_out, W_out)  shared by the batch, or (N, K, H_out, W_out) per example

The normalisation runs over the K axis (axis -3), separately at every position:

    "softmax"  alpha = exp(l) / sum_k exp(l_k)         each position's weights sum to 1
    "norm"     alpha = l / max(||l||_2, 1e-12)         unit L2 norm at each position
    "none"     alpha = l

The logits themselves are often assembled from a few free parameters: one logit per row
plus one per column ("row_col", the paper's default). ``row_col_sum_forward`` builds that
sum, and the same function builds the layer's spatial bias from a row and a column bias.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from ..options import NORMALIZATIONS
from . import _checks

NORM_EPS = 1e-12
K_AXIS = -3


class CombiningCache(NamedTuple):
    """What ``combining_weights_backward`` needs from the forward pass."""

    normalize: str
    alpha: object       # the output (softmax, norm); None for "none"
    norm: object        # ||logits||_2 over K ("norm" only), shape (..., 1, H_out, W_out)
    shape: tuple        # logits.shape


def combining_weights_forward(logits, normalize="softmax"):
    """Normalise logits over K.

    logits (K, H_out, W_out) or (N, K, H_out, W_out)
    alpha  same shape as logits
    cache  what ``combining_weights_backward`` needs
    """
    owner = "combining_weights_forward"
    _checks.choice(normalize, NORMALIZATIONS, "normalize", owner)
    _checks.float_array(logits, "logits", owner)
    if logits.ndim not in (3, 4):
        raise ValueError(
            f"{owner}: expected logits with 3 dimensions (K, H_out, W_out) or 4 "
            f"(N, K, H_out, W_out), got shape {tuple(logits.shape)}"
        )
    xp = get_array_module(logits)
    if normalize == "softmax":
        # BEGIN SOLUTION combining_weights_forward
        # HINT: softmax over the K axis (axis -3): subtract the max over K first so exp never
        #       overflows
        shifted = logits - logits.max(axis=K_AXIS, keepdims=True)  # same result, no overflow
        e = xp.exp(shifted)
        alpha = e / e.sum(axis=K_AXIS, keepdims=True)
        # END SOLUTION
        return alpha, CombiningCache(normalize, alpha, None, logits.shape)
    if normalize == "norm":
        # BEGIN SOLUTION combining_weights_forward
        # HINT: the L2 norm over K (keepdims), clamped below at NORM_EPS; keep the unclamped norm
        #       for the backward pass
        norm = xp.sqrt((logits * logits).sum(axis=K_AXIS, keepdims=True))
        alpha = logits / xp.maximum(norm, NORM_EPS)
        # END SOLUTION
        return alpha, CombiningCache(normalize, alpha, norm, logits.shape)
    return logits.copy(), CombiningCache(normalize, None, None, logits.shape)


def combining_weights_backward(dalpha, cache):
    """Gradient of the normalisation.

    dalpha  (K, H_out, W_out) or (N, K, H_out, W_out), like alpha
    dlogits same shape

    softmax: d alpha_k / d l_j = alpha_k (delta_kj - alpha_j), so
             dl = alpha * (dalpha - sum_k dalpha_k alpha_k)
    norm:    where ||l|| > 1e-12, alpha = l / ||l|| and d alpha / d l = (I - alpha alpha^T) / ||l||, so
             dl = (dalpha - alpha * sum_k dalpha_k alpha_k) / ||l||;
             where the norm is clamped, alpha = l / 1e-12 and dl = dalpha / 1e-12
    none:    dl = dalpha
    """
    normalize, alpha, norm, shape = cache
    _checks.float_array(dalpha, "dalpha", "combining_weights_backward")
    _checks.shape(dalpha, shape, "dalpha", "combining_weights_backward")
    if normalize == "none":
        return dalpha.copy()
    xp = get_array_module(dalpha)
    # BEGIN SOLUTION combining_weights_backward
    # HINT: both need <dalpha, alpha> over K at each position;
    #       softmax: alpha * (dalpha - <dalpha, alpha>);
    #       norm: (dalpha - alpha <dalpha, alpha>) / ||l||, or dalpha / 1e-12 where it was clamped
    projection = (dalpha * alpha).sum(axis=K_AXIS, keepdims=True)  # <dalpha, alpha> per position
    if normalize == "softmax":
        return alpha * (dalpha - projection)
    return xp.where(norm > NORM_EPS, dalpha - alpha * projection, dalpha) / xp.maximum(norm, NORM_EPS)
    # END SOLUTION


class RowColSumCache(NamedTuple):
    """What ``row_col_sum_backward`` needs: which of the two terms the map had."""

    has_rows: bool
    has_cols: bool


def row_col_sum_forward(rows, cols, out_hw):
    """y[..., i, j] = rows[..., i] + cols[..., j]: a map built from one number per row and per column.

    rows  (..., H_out) or None (no row term);  cols (..., W_out) or None (no column term)
    out_hw (H_out, W_out)
    y     (..., H_out, W_out)   e.g. LRLC logits (K, H_out, W_out) from row_logits (K, H_out)
                                and col_logits (K, W_out), or a spatial bias from (H_out,), (W_out,)
    cache (whether each term is present)
    """
    present = [t for t in (rows, cols) if t is not None]
    if not present:
        raise ValueError("row_col_sum_forward: expected rows, cols or both, got neither")
    xp = get_array_module(present[0])
    lead = present[0].shape[:-1]
    y = xp.zeros((*lead, *out_hw), dtype=present[0].dtype)
    if rows is not None:
        y += rows[..., :, None]                  # the same value along each row
    if cols is not None:
        y += cols[..., None, :]                  # the same value down each column
    return y, RowColSumCache(rows is not None, cols is not None)


def row_col_sum_backward(dy, cache):
    """Each row term fed every column of its row, each column term every row of its column:

        drows[..., i] = sum_j dy[..., i, j]        dcols[..., j] = sum_i dy[..., i, j]

    dy (..., H_out, W_out) -> (drows (..., H_out) or None, dcols (..., W_out) or None)
    """
    has_rows, has_cols = cache
    return (dy.sum(axis=-1) if has_rows else None), (dy.sum(axis=-2) if has_cols else None)
