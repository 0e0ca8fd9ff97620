"""Dense, ReLU, BatchNorm2D, GlobalAvgPool2D, AddCoordinates, Flatten and the loss."""

from __future__ import annotations

import math

import numpy

from .. import backend, tiers
from ..ops import _checks
from ..ops.losses import check_loss_inputs, softmax_cross_entropy_backward, softmax_cross_entropy_forward
from .base import Layer, _float_dtype, _he_uniform, _zeros


class Dense(Layer):
    """Fully connected layer.  x (N, in_features) -> y (N, out_features)

    params: weight (out_features, in_features), He-uniform; bias (out_features,), zeros
    """

    decayed = ("weight",)

    def __init__(self, in_features, out_features, bias=True, *, rng=None, dtype=numpy.float32):
        super().__init__()
        owner = "Dense"
        self.in_features = _checks.positive_int(in_features, "in_features", owner)
        self.out_features = _checks.positive_int(out_features, "out_features", owner)
        self.dtype = _float_dtype(dtype, owner)
        rng = numpy.random.default_rng() if rng is None else rng
        shape = (self.out_features, self.in_features)
        self._add_param("weight", _he_uniform(rng, shape, self.in_features, self.dtype))
        if bias:
            self._add_param("bias", _zeros((self.out_features,), self.dtype))

    def forward(self, x, training=True):
        self._check_input(x, "(N, F)", channels=self.in_features)
        return self._run("dense_forward", x, self.params["weight"], self.params.get("bias"))

    def backward(self, dy):
        return self._run_backward("dense_backward", dy)

    def _describe(self):
        return f"{self.in_features} -> {self.out_features}"


class ReLU(Layer):
    """max(x, 0), element-wise.  x (any shape) -> y (same shape)"""

    def forward(self, x, training=True):
        _checks.float_array(x, "input", "ReLU")
        return self._run("relu_forward", x)

    def backward(self, dy):
        return self._run_backward("relu_backward", dy)


class BatchNorm2D(Layer):
    """Batch normalisation per channel over (N, H, W); see ``ops.normalization``.

    x (N, C, H, W) -> y (N, C, H, W)
    params: weight (C,) ones, bias (C,) zeros; buffers: running_mean (C,) zeros, running_var (C,) ones
    forward(x, training=True) uses the batch statistics and updates the running ones;
    forward(x, training=False) uses the running statistics.
    """

    def __init__(self, num_features, momentum=0.1, eps=1e-5, *, dtype=numpy.float32):
        super().__init__()
        owner = "BatchNorm2D"
        self.num_features = _checks.positive_int(num_features, "num_features", owner)
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"{owner}: expected momentum in [0, 1], got {momentum!r}")
        if not float(eps) > 0:
            raise ValueError(f"{owner}: expected eps > 0, got {eps!r}")
        self.momentum, self.eps = float(momentum), float(eps)
        self.dtype = _float_dtype(dtype, owner)
        xp = backend.xp
        self._add_param("weight", xp.ones((self.num_features,), dtype=self.dtype))
        self._add_param("bias", _zeros((self.num_features,), self.dtype))
        self.buffers = {"running_mean": _zeros((self.num_features,), self.dtype),
                        "running_var": xp.ones((self.num_features,), dtype=self.dtype)}

    def forward(self, x, training=True):
        self._check_input(x, "(N, C, H, W)", channels=self.num_features)
        return self._run("batchnorm2d_forward", x, self.params["weight"], self.params["bias"],
                         self.buffers["running_mean"], self.buffers["running_var"], training=training,
                         momentum=self.momentum, eps=self.eps)

    def backward(self, dy):
        return self._run_backward("batchnorm2d_backward", dy)

    def fused_with(self, following):
        """A ``BatchNormReLU`` unit when ``following`` is a ReLU and the active tier runs the pair
        as one op (the fast tier's ``batchnorm2d_relu_forward``); else None."""
        if type(following) is ReLU and tiers.fuses("batchnorm2d_relu"):
            return BatchNormReLU(self, following)
        return None

    def forward_with_relu(self, x, relu, training=True):
        """max(self(x), 0) as one op of the active tier; ``relu`` (the ReLU layer after this one)
        keeps the cache of its part, so that either layer can also run its backward pass alone."""
        self._check_input(x, "(N, C, H, W)", channels=self.num_features)
        ops = self._forward_ops()
        y, (self._cache, relu_cache) = ops.batchnorm2d_relu_forward(
            x, self.params["weight"], self.params["bias"], self.buffers["running_mean"],
            self.buffers["running_var"], training=training, momentum=self.momentum, eps=self.eps)
        relu.ran(relu_cache, ops)
        return y

    def backward_with_relu(self, relu, dy):
        """The backward pass of ``forward_with_relu``: the ReLU's, then this layer's, as one op."""
        self._check_dy(dy)
        dx, dweight, dbias = self._backward_ops().batchnorm2d_relu_backward(dy, (self._cache, relu.cache))
        self._set_grads(weight=dweight, bias=dbias)
        return dx

    def _describe(self):
        return f"{self.num_features}, momentum {self.momentum}, eps {self.eps}"


class BatchNormReLU:
    """A BatchNorm2D and the ReLU after it, run as one op (the fast tier's trick; see
    ``fast.batchnorm2d_relu_forward``): one pass over the activations fewer each way, and no copy
    of the ReLU's output kept. The results are the two layers', bit for bit. ``Sequential``
    runs it in place of the two layers (``BatchNorm2D.fused_with``).

    Each layer keeps the cache of its own part, so either can run its backward pass alone; when
    they have run forward on their own since, ``backward`` runs them one by one.
    """

    def __init__(self, batch_norm, relu):
        self.parts = (batch_norm, relu)
        self._ran = None

    def forward(self, x, training=True):
        batch_norm, relu = self.parts
        y = batch_norm.forward_with_relu(x, relu, training)
        self._ran = (batch_norm.cache, relu.cache)
        return y

    def backward(self, dy):
        batch_norm, relu = self.parts
        if self._ran is not None and self._ran[0] is batch_norm.cache and self._ran[1] is relu.cache:
            return batch_norm.backward_with_relu(relu, dy)
        return batch_norm.backward(relu.backward(dy))


class GlobalAvgPool2D(Layer):
    """Mean over positions.  x (N, C, H, W) -> y (N, C)"""

    def forward(self, x, training=True):
        self._check_input(x, "(N, C, H, W)")
        return self._run("global_avg_pool2d_forward", x)

    def backward(self, dy):
        return self._run_backward("global_avg_pool2d_backward", dy)


class AddCoordinates(Layer):
    """CoordConv: append two channels holding each pixel's row and column coordinate.

    x (N, C, H, W) -> y (N, C + 2, H, W);  y[:, C] = row in [-1, 1], y[:, C + 1] = column in [-1, 1]
    (a size-1 axis gets coordinate 0). The gradient simply drops the two added channels.
    """

    def forward(self, x, training=True):
        self._check_input(x, "(N, C, H, W)")
        xp = backend.get_array_module(x)
        n, c, h, w = x.shape
        rows = xp.linspace(-1.0, 1.0, h) if h > 1 else xp.zeros(1)
        cols = xp.linspace(-1.0, 1.0, w) if w > 1 else xp.zeros(1)
        y = xp.empty((n, c + 2, h, w), dtype=x.dtype)
        y[:, :c] = x
        y[:, c] = rows[:, None].astype(x.dtype)
        y[:, c + 1] = cols[None, :].astype(x.dtype)
        self._cache = c
        return y

    def backward(self, dy):
        c = self._need_cache()
        _checks.float_array(dy, "dy", "AddCoordinates")
        return dy[:, :c].copy()


class Flatten(Layer):
    """x (N, d1, d2, ...) -> y (N, d1*d2*...); backward restores the shape."""

    def forward(self, x, training=True):
        _checks.float_array(x, "input", "Flatten")
        if x.ndim < 1:
            raise ValueError(f"Flatten: expected input with a batch axis (N, ...), "
                             f"got shape {tuple(x.shape)}")
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        shape = self._need_cache()
        _checks.float_array(dy, "dy", "Flatten")
        if dy.size != math.prod(shape) or dy.shape[0] != shape[0]:
            raise ValueError(f"Flatten: expected dy of shape ({shape[0]}, {math.prod(shape[1:])}), "
                             f"got {tuple(dy.shape)}")
        return dy.reshape(shape).copy()   # a copy, so dx never aliases dy


class SoftmaxCrossEntropy:
    """The classification loss: mean over the batch of -log softmax(logits)[label].

    forward(logits (N, classes), labels (N,) int) -> loss, a Python float
    backward() -> dlogits (N, classes), the gradient of that loss
    """

    def __init__(self):
        self._cache = None

    def forward(self, logits, labels):
        check_loss_inputs(logits, labels, owner="SoftmaxCrossEntropy")      # errors name the layer
        loss, self._cache = softmax_cross_entropy_forward(logits, labels)
        return float(loss)

    __call__ = forward

    def backward(self):
        if self._cache is None:
            raise RuntimeError("SoftmaxCrossEntropy: backward called before forward")
        return softmax_cross_entropy_backward(1.0, self._cache)

    def __repr__(self):
        return "SoftmaxCrossEntropy()"


