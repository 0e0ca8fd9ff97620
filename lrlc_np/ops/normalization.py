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

from . import _checks


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
    """
    owner = "batchnorm2d_forward"
    _check_bn_inputs(x, weight, bias, running_mean, running_var, owner)
    count = x.shape[0] * x.shape[2] * x.shape[3]
    if training:
        if count < 2:
            raise ValueError(
                f"{owner}: training mode needs more than 1 value per channel to estimate a "
                f"variance, got x of shape {tuple(x.shape)}"
            )
        mean = x.mean(axis=(0, 2, 3))
        centred = x - mean[:, None, None]
        var = (centred * centred).mean(axis=(0, 2, 3))
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * (count / (count - 1))
    else:
        centred = x - running_mean.astype(x.dtype)[:, None, None]
        var = running_var.astype(x.dtype)
    inv_std = 1 / (var + eps) ** 0.5                             # (C,)
    xhat = centred                                               # reuse the buffer: xhat = centred * inv_std
    xhat *= inv_std[:, None, None]
    y = xhat * weight[:, None, None]
    y += bias[:, None, None]
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
    """
    xhat, inv_std, weight, training = cache
    _checks.float_array(dy, "dy", "batchnorm2d_backward")
    _checks.shape(dy, xhat.shape, "dy", "batchnorm2d_backward")
    dbias = dy.sum(axis=(0, 2, 3))
    dweight = (dy * xhat).sum(axis=(0, 2, 3))
    scale = (weight * inv_std)[:, None, None]                    # (C, 1, 1)
    if not training:
        return dy * scale, dweight, dbias
    count = xhat.shape[0] * xhat.shape[2] * xhat.shape[3]
    dx = xhat * (-dweight / count)[:, None, None]                # - xhat * mean(dy * xhat)
    dx += dy
    dx -= (dbias / count)[:, None, None]                         # - mean(dy)
    dx *= scale
    return dx, dweight, dbias
