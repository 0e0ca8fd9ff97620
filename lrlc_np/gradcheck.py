"""Finite-difference gradient checking.

A backward pass computes a vector-Jacobian product: given an upstream gradient dy, it
returns d/dx sum(f(x) * dy). The check computes the same number by centred differences,

    num[idx] = (sum(f(x + eps*e_idx) * dy) - sum(f(x - eps*e_idx) * dy)) / (2*eps),

one input entry at a time, and compares it with the analytic gradient. Use float64 and a
random dy: with dy = ones, a backward pass that permutes or transposes dy would pass.

How to read the error (``relative_error``): one figure per array,

    max |a - n| / max(max |a|, max |n|, 1e-2).

In float64 with eps = 1e-6 the numerical gradient carries about 1e-8 of absolute round-off.
The element-wise ratio |a - n| / (|a| + |n|) blows that up on tiny entries (a ReLU edge, a
saturated softmax) and reports 1e-4..1e-2 for a correct backward pass; dividing by the
array's largest entry does not. A correct backward pass scores about 1e-9, a wrong one
close to 1; the tests pass at <= 1e-5.
"""

from __future__ import annotations

import numpy

from .backend import get_array_module, to_numpy

#: A backward pass passes the check when its relative error is at most this.
TOLERANCE = 1e-5


def numerical_gradient(f, x, dy=None, eps=1e-6):
    """Centred-difference gradient of ``sum(f(x) * dy)`` with respect to ``x``.

    f   a function of x returning an array (or a scalar when ``dy`` is None)
    x   float array (any memory layout, views too), perturbed in place one entry at a time
        and restored afterwards
    dy  upstream gradient, shaped like f(x); None when f(x) is a scalar (a loss)
    ->  array shaped like x

    Cost: two calls of f per entry of x, so keep x small.
    """
    if not numpy.issubdtype(x.dtype, numpy.floating):
        raise TypeError(f"numerical_gradient: expected a floating-point x, got {x.dtype}")
    xp = get_array_module(x)

    def objective():
        out = f(x)
        if dy is None:
            if getattr(out, "size", 1) != 1:
                raise ValueError(
                    "numerical_gradient: f(x) returned shape "
                    f"{tuple(out.shape)}; pass dy (shaped like f(x)) for a non-scalar f"
                )
            return float(out)
        return float((out * dy).sum())

    grad = xp.zeros_like(x)
    for idx in numpy.ndindex(x.shape):          # any memory layout: x is indexed, not flattened
        original = x[idx].item()
        x[idx] = original + eps
        plus = objective()
        x[idx] = original - eps
        minus = objective()
        x[idx] = original
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def relative_error(a, b) -> float:
    """max|a - b| / max(max|a|, max|b|, 1e-2): one figure for a whole array (see module doc)."""
    a = to_numpy(a).astype(numpy.float64)
    b = to_numpy(b).astype(numpy.float64)
    if a.shape != b.shape:
        raise ValueError(f"relative_error: shapes differ, {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(numpy.abs(a).max(), numpy.abs(b).max(), 1e-2)
    return float(numpy.abs(a - b).max() / scale)


def layer_gradients(layer, x, *, rng=None, eps=1e-6, training=True):
    """Analytic and numerical gradients of a layer, for ``x`` and every parameter.

    Runs ``y = layer.forward(x, training)`` and ``layer.backward(dy)`` with a random dy,
    then the finite differences of ``sum(layer.forward(x, training) * dy)``. Parameters are
    perturbed in place and restored. ``training=False`` checks evaluation mode (BatchNorm
    with its running statistics).
    -> {"x": (analytic, numerical), "<param name>": (analytic, numerical), ...}
    """
    rng = numpy.random.default_rng() if rng is None else rng
    xp = get_array_module(x)
    x = x.copy()
    y = layer.forward(x, training=training)
    dy = xp.asarray(rng.standard_normal(y.shape)).astype(y.dtype)
    dx = layer.backward(dy)
    analytic = {"x": dx.copy()}
    analytic.update({name: g.copy() for name, g in layer.grads.items()})

    def forward(_):
        return layer.forward(x, training=training)

    result = {"x": (analytic["x"], numerical_gradient(forward, x, dy, eps))}
    for name, param in layer.params.items():
        result[name] = (analytic[name], numerical_gradient(forward, param, dy, eps))
    return result


def check_layer(layer, x, *, rng=None, eps=1e-6, training=True) -> dict[str, float]:
    """Relative error between analytic and numerical gradients, for "x" and every parameter.

    layer  any lrlc_np layer (use float64 parameters and a float64 x)
    x      an input the layer accepts
    ->     {"x": err, "weight": err, ...}; each should be <= TOLERANCE (1e-5)
    """
    grads = layer_gradients(layer, x, rng=rng, eps=eps, training=training)
    return {name: relative_error(a, n) for name, (a, n) in grads.items()}


def check_loss(loss, logits, labels, *, eps=1e-6) -> float:
    """Relative error of a loss's gradient, e.g. ``layers.SoftmaxCrossEntropy()``.

    loss    object with forward(logits, labels) -> scalar and backward() -> dlogits
    logits  (N, classes) float64; labels (N,) int
    """
    logits = logits.copy()
    loss.forward(logits, labels)
    analytic = loss.backward().copy()
    numeric = numerical_gradient(lambda z: loss.forward(z, labels), logits, None, eps)
    return relative_error(analytic, numeric)
