"""LocallyConnected2D: a separate filter bank at every output position (``ops.local``)."""

from __future__ import annotations

import numpy

from .. import tiers
from ..ops import _checks
from ..options import LC_INITS
from .base import _he_uniform, _SpatialLayer, _zeros

class LocallyConnected2D(_SpatialLayer):
    """Locally connected: a separate filter bank at every output position.

    x (N, C_in, H, W) with (H, W) == input_size -> y (N, C_out, H_out, W_out)
    params: weight (H_out, W_out, C_out, C_in, kh, kw); bias (C_out, H_out, W_out), zeros

    init  how the weight starts, U(-b, b):
          "he"     b = sqrt(6 / (C_in*kh*kw)), the fan-in of one output value, as for Conv2D
          "keras"  b = sqrt(6 / (C_in*kh*kw*H_out*W_out)), as Keras's LocallyConnected2D (the
                   layer the paper's code used) computes He-uniform: its kernel has shape
                   (H_out*W_out, kh*kw*C_in, C_out) and Keras's fan-in multiplies every axis but
                   the last, so the positions count too. That is sqrt(H_out*W_out) times smaller:
                   22 times at the paper's layer 3 (22x22 outputs, 64 channels in): b = 0.0046
                   against 0.102.

    The weight is stored in the memory order the active tier reads fastest (``tiers.stored``:
    on the fast tier (H_out, W_out, kh, kw, C_in, C_out), see ``fast.local``; on the clear tier
    the usual C order); its shape, its values and every result are the same either way. On the
    fast tier ``grads["weight"]`` is one buffer per weight, written again by every backward
    pass (copy it to keep an old gradient).
    """

    decayed = ("weight",)

    def __init__(self, in_channels, out_channels, kernel_size, input_size, stride=1, padding=0,
                 bias=True, *, init="he", rng=None, dtype=numpy.float32):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, rng, dtype)
        self._bind_input_size(input_size)
        self.init = _checks.choice(init, LC_INITS, "init", type(self).__name__)
        ho, wo = self.output_size
        shape = (ho, wo, self.out_channels, self.in_channels, *self.kernel_size)
        fan_in = self.fan_in * (ho * wo if self.init == "keras" else 1)
        self._add_param("weight", tiers.stored("lc_weight", _he_uniform(self.rng, shape, fan_in, self.dtype)))
        if bias:
            self._add_param("bias", _zeros((self.out_channels, ho, wo), self.dtype))

    def forward(self, x, training=True):
        self._check_input(x, "(N, C, H, W)", channels=self.in_channels, spatial=self.input_size)
        return self._run("locally_connected2d_forward", x, self.params["weight"], self.params.get("bias"),
                         self.stride, self.padding)

    def backward(self, dy):
        return self._run_backward("locally_connected2d_backward", dy)


