"""Combining weights: turn logits into the per-position mixing weights alpha of an LRLC layer.

    logits, alpha  (K, H_out, W_out)  shared by the batch, or (N, K, H_out, W_out) per example

The normalisation runs over the K axis (axis -3), separately at every position:

    "softmax"  alpha = exp(l) / sum_k exp(l_k)         each position's weights sum to 1
    "norm"     alpha = l / max(||l||_2, 1e-12)         unit L2 norm at each position
    "none"     alpha = l
"""

from __future__ import annotations

from ..backend import get_array_module
from . import _checks

NORMALIZATIONS = ("softmax", "norm", "none")
NORM_EPS = 1e-12
K_AXIS = -3


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
        shifted = logits - logits.max(axis=K_AXIS, keepdims=True)  # same result, no overflow
        e = xp.exp(shifted)
        alpha = e / e.sum(axis=K_AXIS, keepdims=True)
        return alpha, (normalize, alpha, None, logits.shape)
    if normalize == "norm":
        norm = xp.sqrt((logits * logits).sum(axis=K_AXIS, keepdims=True))
        scale = xp.maximum(norm, NORM_EPS)
        alpha = logits / scale
        return alpha, (normalize, alpha, (norm, scale), logits.shape)
    return logits.copy(), (normalize, None, None, logits.shape)


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
    normalize, alpha, extra, shape = cache
    _checks.float_array(dalpha, "dalpha", "combining_weights_backward")
    _checks.shape(dalpha, shape, "dalpha", "combining_weights_backward")
    if normalize == "none":
        return dalpha.copy()
    xp = get_array_module(dalpha)
    projection = (dalpha * alpha).sum(axis=K_AXIS, keepdims=True)  # <dalpha, alpha> per position
    if normalize == "softmax":
        return alpha * (dalpha - projection)
    norm, scale = extra
    return xp.where(norm > NORM_EPS, dalpha - alpha * projection, dalpha) / scale
