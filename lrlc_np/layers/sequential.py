"""Sequential: layers applied in order, parameters under dotted names."""

from __future__ import annotations

from .base import Layer

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

    def forward(self, x, training=True):
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
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

