"""Softmax cross-entropy, the classification loss.

    logits (N, classes), labels (N,) integers in [0, classes)
    loss   mean over the batch of -log softmax(logits)[n, labels[n]]   (a scalar)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy

from ..backend import get_array_module
from . import _checks

OWNER = "softmax_cross_entropy_forward"


class SoftmaxCrossEntropyCache(NamedTuple):
    """What ``softmax_cross_entropy_backward`` needs from the forward pass."""

    log_probs: object   # (N, classes), log softmax(logits)
    labels: object      # (N,)


def check_loss_inputs(logits, labels, owner=OWNER):
    """Validate the loss's arguments: float logits (N, classes), integer labels (N,) in range."""
    _checks.float_tensor(logits, "(N, classes)", "logits", owner)
    if not hasattr(labels, "dtype") or not numpy.issubdtype(labels.dtype, numpy.integer):
        got = getattr(labels, "dtype", type(labels).__name__)
        raise TypeError(f"{owner}: expected labels as an integer array, got {got}")
    _checks.shape(labels, (logits.shape[0],), "labels", owner)
    n, classes = logits.shape
    if n and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(
            f"{owner}: expected labels in [0, {classes - 1}], got values from "
            f"{int(labels.min())} to {int(labels.max())}"
        )


def softmax_cross_entropy_forward(logits, labels):
    """Mean cross-entropy of softmax(logits) against integer labels.

    logits (N, classes) float, labels (N,) int -> loss (0-d array), cache

    Stable form: log softmax(z)_c = z_c - m - log sum_j exp(z_j - m) with m = max_j z_j, so
    no exp overflows and the log never sees 0.
    """
    check_loss_inputs(logits, labels)
    xp = get_array_module(logits)
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    rows = xp.arange(n)
    loss = -log_probs[rows, labels].mean()
    return loss, SoftmaxCrossEntropyCache(log_probs, labels)


def softmax_cross_entropy_backward(dloss, cache):
    """Gradient of the mean cross-entropy.

    dloss scalar (1.0 for the loss itself) -> dlogits (N, classes)
        dlogits = dloss * (softmax(logits) - onehot(labels)) / N
    """
    log_probs, labels = cache
    if getattr(dloss, "ndim", 0) != 0:
        raise ValueError(
            "softmax_cross_entropy_backward: expected dloss as a scalar (the loss is a mean), "
            f"got shape {tuple(dloss.shape)}"
        )
    xp = get_array_module(log_probs)
    n = log_probs.shape[0]
    # BEGIN SOLUTION softmax_cross_entropy_backward
    # HINT: softmax(logits) is exp(log_probs); subtract 1 at each row's label, then scale by
    #       dloss / N (the loss is a mean)
    dlogits = xp.exp(log_probs)
    dlogits[xp.arange(n), labels] -= 1
    dlogits *= dloss / n
    # END SOLUTION
    return dlogits
