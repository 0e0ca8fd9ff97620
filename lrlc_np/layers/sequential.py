"""Sequential: layers applied in order, parameters under dotted names.

One fast-tier addition: with the fast tier active, a BatchNorm2D followed by a ReLU runs as
one op (``fast.batchnorm2d_relu_forward`` / ``_backward``: one pass over the activations
fewer each way, and no copy of the ReLU's output kept). The results are the same, bit for
bit, and each of the two layers still holds a cache of its own, so either one's ``backward``
can also be called alone. The clear tier runs every layer on its own.
"""

from __future__ import annotations

from .. import tiers
from .base import Layer
from .basic import BatchNorm2D, ReLU

class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse.

    Parameters are exposed under dotted names, ``"<index>.<name>"`` (e.g. ``"0.weight"``),
    through ``params``, ``grads``, ``buffers`` and ``named_parameters()``.
    """

    def __init__(self, *layers):  # no Layer.__init__: params/grads/buffers are views below
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: expected layers, got {type(layer).__name__} at position {i}")
        self.layers = list(layers)
        self._fused = {}          # i -> the caches of layers i, i+1, which ran as one op

    def forward(self, x, training=True):
        self._fused = {}
        for lo, hi in units(self.layers):
            if hi - lo == 2:
                x = fused_forward(self.layers[lo], self.layers[lo + 1], x, training)
                self._fused[lo] = (self.layers[lo]._cache, self.layers[lo + 1]._cache)
            else:
                x = self.layers[lo].forward(x, training=training)
        return x

    def backward(self, dy):
        i = len(self.layers) - 1
        while i >= 0:
            pair = self._fused.get(i - 1)
            if pair is not None and pair[0] is self.layers[i - 1]._cache and pair[1] is self.layers[i]._cache:
                dy = fused_backward(self.layers[i - 1], pair, dy)   # ReLU i and BatchNorm i-1
                i -= 2
            else:                  # (also a fused pair whose layers ran forward on their own since)
                dy = self.layers[i].backward(dy)
                i -= 1
        return dy

    def _collect(self, attribute):
        return {f"{i}.{name}": value for i, layer in enumerate(self.layers)
                for name, value in getattr(layer, attribute).items()}

    # dotted views over the children's dicts (rebuilt on every access; the arrays are shared)
    @property
    def params(self):
        return self._collect("params")

    @property
    def grads(self):
        return self._collect("grads")

    @property
    def buffers(self):
        return self._collect("buffers")

    def decay_names(self):
        """Dotted names of the parameters that weight decay applies to."""
        return [f"{i}.{name}" for i, layer in enumerate(self.layers)
                for name in layer.params if name in layer.decayed]

    def named_parameters(self):
        """Yield ("<index>.<name>", param, grad) for every parameter, in layer order."""
        for i, layer in enumerate(self.layers):
            for name, param in layer.params.items():
                yield f"{i}.{name}", param, layer.grads[name]

    def zero_grad(self):
        for layer in self.layers:
            layer.zero_grad()

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, index):
        return self.layers[index]

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        lines = [f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + f"\n)  {self.num_parameters:,} params"


def fused_pairs(layers):
    """Indices i where layers i, i+1 are a BatchNorm2D and a ReLU and the active tier fuses them."""
    if not hasattr(tiers.active(), "batchnorm2d_relu_forward"):       # the clear tier: no fused ops
        return ()
    return tuple(i for i in range(len(layers) - 1)
                 if type(layers[i]) is BatchNorm2D and type(layers[i + 1]) is ReLU)


def units(layers):
    """What ``Sequential`` runs, in order: (lo, hi) spans of layers, one layer each, or two
    for a BatchNorm2D + ReLU pair that the active tier fuses (``fused_pairs``)."""
    fused = fused_pairs(layers)
    return [(i, i + 2) if i in fused else (i, i + 1) for i in range(len(layers)) if i - 1 not in fused]


def fused_forward(bn, relu, x, training):
    """Run bn then relu as one op, leaving each layer the cache of its own part."""
    bn._check_input(x, "(N, C, H, W)", channels=bn.num_features)
    ops = bn._forward_ops()
    relu._ops = ops
    y, (bn._cache, relu._cache) = ops.batchnorm2d_relu_forward(
        x, bn.params["weight"], bn.params["bias"], bn.buffers["running_mean"], bn.buffers["running_var"],
        training=training, momentum=bn.momentum, eps=bn.eps)
    return y


def fused_backward(bn, caches, dy):
    """The backward pass of a fused pair, the ReLU's and then bn's, as one op."""
    bn._check_dy(dy)
    dx, dweight, dbias = bn._backward_ops().batchnorm2d_relu_backward(dy, caches)
    bn._set_grads(weight=dweight, bias=dbias)
    return dx
