"""Conv2D: one filter bank shared by every position (``ops.conv``)."""

from __future__ import annotations

import numpy

from ..ops.im2col import output_hw
from .base import _he_uniform, _SpatialLayer, _zeros

class Conv2D(_SpatialLayer):
    """Convolution: one filter bank shared by every position.

    x (N, C_in, H, W) -> y (N, C_out, H_out, W_out)
    params: weight (C_out, C_in, kh, kw), He-uniform; bias (C_out,), zeros (if bias=True)
    """

    decayed = ("weight",)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 *, rng=None, dtype=numpy.float32):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, rng, dtype)
        kh, kw = self.kernel_size
        shape = (self.out_channels, self.in_channels, kh, kw)
        self._add_param("weight", _he_uniform(self.rng, shape, self.fan_in, self.dtype))
        if bias:
            self._add_param("bias", _zeros((self.out_channels,), self.dtype))

    def forward(self, x, training=True):
        self._check_input(x, "(N, C, H, W)", channels=self.in_channels)
        output_hw(x.shape[2], x.shape[3], self.kernel_size, self.stride, self.padding, type(self).__name__)
        return self._run("conv2d_forward", x, self.params["weight"], self.params.get("bias"), self.stride,
                         self.padding)

    def backward(self, dy):
        return self._run_backward("conv2d_backward", dy)


