"""Sequential: layers applied in order, parameters under dotted names.

``forward`` runs the network's units one after the other and ``backward`` runs them in
reverse. A unit is a layer, or two layers that the active tier runs as one op (a layer's
``fused_with``: on the fast tier, a BatchNorm2D and the ReLU after it; see
``layers.basic.BatchNormReLU``). The results are the same, bit for bit, either way.
"""

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
        self._units = None        # the units of the last forward pass

    def units(self):
        """What ``forward`` runs, in order: each layer, or a pair of layers that the active tier
        runs as one op (``Layer.fused_with``)."""
        units, i = [], 0
        while i < len(self.layers):
            pair = self.layers[i].fused_with(self.layers[i + 1]) if i + 1 < len(self.layers) else None
            units.append(pair or self.layers[i])
            i += 2 if pair else 1
        return units

    def forward(self, x, training=True):
        self._units = self.units()
        for unit in self._units:
            x = unit.forward(x, training=training)
        return x

    def backward(self, dy):
        for unit in reversed(self._units if self._units is not None else self.layers):
            dy = unit.backward(dy)
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
