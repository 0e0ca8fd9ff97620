"""Batch normalisation over the batch and both spatial axes (one mean/variance per channel).

    x       (N, C, H, W)
    weight  (C,)   gamma, the learned scale
    bias    (C,)   beta, the learned shift
    running_mean, running_var (C,)   estimates used in evaluation mode
    y       (N, C, H, W)

Training:   mu, var = mean and (biased) variance of x over (n, i, j), per channel
            xhat = (x - mu) / sqrt(var + eps);   y = weight * xhat + bias
            running_mean <- (1 - momentum) * running_mean + momentum * mu
            running_var  <- (1 - momentum) * running_var  + momentum * var * M / (M - 1)
            (M = N*H*W; the running variance is the unbiased estimate, as in PyTorch)
Evaluation: the same with running_mean and running_var in place of mu and var.

A per-channel vector v of shape (C,) meets x as ``v.reshape(1, C, 1, 1)`` (``_per_channel``),
which broadcasts it over n, i and j.
"""

from __future__ import annotations

from typing import NamedTuple

from . import _checks

AXES = (0, 2, 3)            # the axes a channel's statistics run over: n, i, j


class BatchNorm2DCache(NamedTuple):
    """What ``batchnorm2d_backward`` needs from the forward pass."""

    xhat: object        # (N, C, H, W), the normalised input
    inv_std: object     # (C,), 1 / sqrt(var + eps)
    weight: object      # (C,)
    training: bool      # batch statistics (True) or the running ones (False)


OWNER = "batchnorm2d_forward"


def check_bn_inputs(x, weight, bias, running_mean, running_var, owner=OWNER):
    """Validate batch norm's arguments."""
    _checks.float_array(x, "x", owner)
    _checks.ndim(x, 4, "(N, C, H, W)", "x", owner)
    c = x.shape[1]
    for name, a in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        _checks.float_array(a, name, owner)
        _checks.shape(a, (c,), name, owner)
    _checks.same_dtype({"x": x, "weight": weight, "bias": bias}, owner)


def check_batch_size(x, training, owner):
    """Training mode estimates a variance per channel: it needs two values or more."""
    n, _, h, w = x.shape
    if training and n * h * w < 2:
        raise ValueError(
            f"{owner}: training mode needs more than 1 value per channel to estimate a "
            f"variance, got x of shape {tuple(x.shape)}"
        )


def update_running_statistics(running_mean, running_var, mean, var, count, momentum):
    """In place: running <- (1 - momentum) * running + momentum * batch value (variance unbiased)."""
    running_mean *= 1 - momentum
    running_mean += momentum * mean
    running_var *= 1 - momentum
    running_var += momentum * var * (count / (count - 1))


def _per_channel(v):
    """(C,) -> (1, C, 1, 1), which broadcasts against (N, C, H, W)."""
    return v.reshape(1, -1, 1, 1)


def batchnorm2d_forward(x, weight, bias, running_mean, running_var, training=True,
                        momentum=0.1, eps=1e-5):
    """Batch-norm forward pass; in training mode updates running_mean/var in place.

    x (N, C, H, W); weight, bias, running_mean, running_var (C,) -> y (N, C, H, W), cache
    """
    owner = "batchnorm2d_forward"
    check_bn_inputs(x, weight, bias, running_mean, running_var, owner)
    check_batch_size(x, training, owner)
    if training:
        mean, var = x.mean(axis=AXES), x.var(axis=AXES)           # (C,) each, over n, i, j
        n, _, h, w = x.shape
        update_running_statistics(running_mean, running_var, mean, var, n * h * w, momentum)
    else:
        mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
    inv_std = 1 / (var + eps) ** 0.5                             # (C,)
    xhat = (x - _per_channel(mean)) * _per_channel(inv_std)      # (N, C, H, W)
    y = _per_channel(weight) * xhat + _per_channel(bias)
    return y, BatchNorm2DCache(xhat, inv_std, weight, training)


def batchnorm2d_backward(dy, cache):
    """Batch-norm backward pass.

    dy (N, C, H, W) -> dx (N, C, H, W), dweight (C,), dbias (C,)

    y = weight * xhat + bias, so (sums over n, i, j)
        dbias   = sum dy          dweight = sum dy * xhat
    Training: mean and var depend on x. With M = N*H*W values per channel,
        dx = weight * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat))
           = weight * inv_std * (dy - dbias / M - xhat * dweight / M)
    (the two means remove the components of dy along the constant and xhat directions,
    which the normalisation cannot pass on).
    Evaluation: the statistics are constants, so dx = weight * inv_std * dy.
    """
    xhat, inv_std, weight, training = cache
    _checks.float_array(dy, "dy", "batchnorm2d_backward")
    _checks.shape(dy, xhat.shape, "dy", "batchnorm2d_backward")
    n, _, h, w = xhat.shape
    count = n * h * w
    # BEGIN SOLUTION batchnorm2d_backward
    # HINT: dbias = sum dy, dweight = sum dy * xhat over (n, i, j);
    #       training: dx = weight*inv_std*(dy - dbias/M - xhat*dweight/M),
    #       evaluation: dx = weight*inv_std*dy
    dbias = dy.sum(axis=AXES)                                    # (C,)
    dweight = (dy * xhat).sum(axis=AXES)                         # (C,)
    scale = _per_channel(weight * inv_std)
    if training:
        dx = scale * (dy - _per_channel(dbias) / count - xhat * _per_channel(dweight) / count)
    else:
        dx = scale * dy
    # END SOLUTION
    return dx, dweight, dbias
