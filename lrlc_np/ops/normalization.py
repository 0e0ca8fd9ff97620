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
"""

from __future__ import annotations

from ..backend import get_array_module
from . import _checks, _parallel


def _check_bn_inputs(x, weight, bias, running_mean, running_var, owner):
    _checks.float_array(x, "x", owner)
    _checks.ndim(x, 4, "(N, C, H, W)", "x", owner)
    c = x.shape[1]
    for name, a in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        _checks.float_array(a, name, owner)
        _checks.shape(a, (c,), name, owner)
    _checks.same_dtype({"x": x, "weight": weight, "bias": bias}, owner)


def batchnorm2d_forward(x, weight, bias, running_mean, running_var, training=True,
                        momentum=0.1, eps=1e-5):
    """Batch-norm forward pass; in training mode updates running_mean/var in place.

    x (N, C, H, W); weight, bias, running_mean, running_var (C,) -> y (N, C, H, W)
    In training mode a batch needs more than one value per channel (N*H*W > 1).

    Every pass over x runs in chunks of the batch on all cores (``_parallel``): two passes
    for the statistics (the sum, then the squared deviations from the mean, which stays
    accurate in float32 where sum(x^2) - sum(x)^2 / M would not), one for xhat and y.
    """
    owner = "batchnorm2d_forward"
    _check_bn_inputs(x, weight, bias, running_mean, running_var, owner)
    xp = get_array_module(x)
    n = x.shape[0]
    count = n * x.shape[2] * x.shape[3]
    chunk = _parallel.chunk_size(x[0].nbytes)
    if training:
        if count < 2:
            raise ValueError(
                f"{owner}: training mode needs more than 1 value per channel to estimate a "
                f"variance, got x of shape {tuple(x.shape)}"
            )
        mean = sum(_parallel.for_chunks(                        # per-chunk (C,) sums, added in chunk order
            n, chunk, lambda lo, hi: x[lo:hi].sum(axis=(0, 2, 3)), xp=xp)) / count

        def squared_deviations(lo, hi):
            d = x[lo:hi] - mean[:, None, None]
            d *= d
            return d.sum(axis=(0, 2, 3))

        var = sum(_parallel.for_chunks(n, chunk, squared_deviations, xp=xp)) / count
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * (count / (count - 1))
    else:
        mean = running_mean.astype(x.dtype)
        var = running_var.astype(x.dtype)
    inv_std = 1 / (var + eps) ** 0.5                             # (C,)
    xhat = xp.empty_like(x)                                      # same memory layout as x
    y = xp.empty_like(x)

    def normalise(lo, hi):                                       # xhat = (x - mu) * inv_std; y = weight * xhat + bias
        xp.subtract(x[lo:hi], mean[:, None, None], out=xhat[lo:hi])
        xhat[lo:hi] *= inv_std[:, None, None]
        xp.multiply(xhat[lo:hi], weight[:, None, None], out=y[lo:hi])
        y[lo:hi] += bias[:, None, None]

    _parallel.for_chunks(n, chunk, normalise, xp=xp)
    return y, (xhat, inv_std, weight, training)


def batchnorm2d_backward(dy, cache):
    """Batch-norm backward pass.

    dy (N, C, H, W) -> dx (N, C, H, W), dweight (C,), dbias (C,)

        dbias   = sum dy          dweight = sum dy * xhat        (sums over n, i, j)
    Training: mu and var depend on x. With M = N*H*W values per channel,
        dx = weight * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat))
           = weight * inv_std * (dy - dbias / M - xhat * dweight / M)
    (the two means remove the components of dy along the constant and xhat directions,
    which the normalisation cannot pass on).
    Evaluation: the statistics are constants, so dx = weight * inv_std * dy.
    One pass over the chunks gives both sums, a second writes dx.
    """
    xhat, inv_std, weight, training = cache
    _checks.float_array(dy, "dy", "batchnorm2d_backward")
    _checks.shape(dy, xhat.shape, "dy", "batchnorm2d_backward")
    xp = get_array_module(dy)
    n = dy.shape[0]
    count = n * xhat.shape[2] * xhat.shape[3]
    chunk = _parallel.chunk_size(dy[0].nbytes)

    def sums(lo, hi):
        return dy[lo:hi].sum(axis=(0, 2, 3)), (dy[lo:hi] * xhat[lo:hi]).sum(axis=(0, 2, 3))

    parts = _parallel.for_chunks(n, chunk, sums, xp=xp)
    dbias = sum(p[0] for p in parts)
    dweight = sum(p[1] for p in parts)
    scale = (weight * inv_std)[:, None, None]                    # (C, 1, 1)
    dx = xp.empty_like(xhat)
    if training:
        xhat_coef = (-dweight / count)[:, None, None]            # - xhat * mean(dy * xhat)
        shift = (dbias / count)[:, None, None]                   # - mean(dy)

    def input_gradient(lo, hi):
        if training:
            xp.multiply(xhat[lo:hi], xhat_coef, out=dx[lo:hi])
            dx[lo:hi] += dy[lo:hi]
            dx[lo:hi] -= shift
            dx[lo:hi] *= scale
        else:
            xp.multiply(dy[lo:hi], scale, out=dx[lo:hi])

    _parallel.for_chunks(n, chunk, input_gradient, xp=xp)
    return dx, dweight, dbias
