"""The paper's input-dependent combining network: LRLC logits computed from the layer's input."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy

from .. import backend
from ..ops import _checks
from .base import Layer, _float_dtype, _zeros

class _CombinerCache(NamedTuple):
    """The caches of every op of the combining network's forward pass."""

    low: object
    pool: object
    dilated: list       # one per dilation
    resize: tuple       # one per branch
    concat: object
    hidden: object
    relu: object
    gate: object
    sigmoid: object
    out: object


def _glorot_uniform(rng, shape, fan_in, fan_out, dtype):
    """U(-b, b) with b = sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return backend.to_device(rng.uniform(-bound, bound, size=shape).astype(dtype))


class InputDependentCombiningWeights(Layer):
    """The paper's small network that computes LRLC combining logits from the layer's input.

    x (N, C_in, H, W) -> logits (N, K, H_out, W_out)    (normalise over K to get alpha)

        x_low   = 1x1 conv of x to K channels                      (N, K, H, W)
        x_pool  = spatial mean of x_low                            (N, K, 1, 1)
        d_r     = 3x3 depthwise conv of x_low, dilation r, valid   (N, K, H - 2r, W - 2r)
                  for r in (1, 2, 4, 8) with r <= (min(H, W) - 1) // 2
        maps    = [x_low, x_pool, d_1, d_2, ...], each resized to (H_out, W_out) by bilinear
                  interpolation with aligned corners (x_pool becomes a constant map)
        hidden  = ReLU(1x1 conv of concat(maps) to (6K)//2 channels)
        gate    = sigmoid(1x1 conv of hidden to 6K channels)
        logits  = 1x1 conv of gate to K channels

    The dilated branches see ever wider neighbourhoods (up to 17x17 pixels at r = 8) and the
    pooled branch the whole image, so each position's mix of bases can depend on where the
    digit is and what surrounds it. Every convolution has a bias; weights start
    Glorot-uniform (the depthwise ones with Keras's fans, 9*K in and 9 out), biases at zero.

    params  low.weight (K, C_in, 1, 1), low.bias (K,)
            dilated{r}.weight (K, 1, 3, 3), dilated{r}.bias (K,) for each dilation r used
            hidden.weight ((6K)//2, K*len(maps), 1, 1), hidden.bias
            gate.weight (6K, (6K)//2, 1, 1), gate.bias
            out.weight (K, 6K, 1, 1), out.bias (K,)
    """

    DILATIONS = (1, 2, 4, 8)

    def __init__(self, in_channels, rank, input_size, output_size, *, rng=None, dtype=numpy.float32):
        super().__init__()
        owner = type(self).__name__
        self.in_channels = _checks.positive_int(in_channels, "in_channels", owner)
        self.rank = k = _checks.positive_int(rank, "rank", owner)
        self.input_size = _checks.pair(input_size, "input_size", owner)
        self.output_size = _checks.pair(output_size, "output_size", owner)
        self.dtype = _float_dtype(dtype, owner)
        rng = numpy.random.default_rng() if rng is None else rng
        self.dilations = tuple(r for r in self.DILATIONS if r <= (min(self.input_size) - 1) // 2)
        hidden, gate = (6 * k) // 2, 6 * k
        maps = 2 + len(self.dilations)

        def conv1x1(name, c_out, c_in):
            weight = _glorot_uniform(rng, (c_out, c_in, 1, 1), c_in, c_out, self.dtype)
            self._add_param(f"{name}.weight", weight)
            self._add_param(f"{name}.bias", _zeros((c_out,), self.dtype))

        conv1x1("low", k, self.in_channels)
        for r in self.dilations:
            self._add_param(f"dilated{r}.weight", _glorot_uniform(rng, (k, 1, 3, 3), 9 * k, 9, self.dtype))
            self._add_param(f"dilated{r}.bias", _zeros((k,), self.dtype))
        conv1x1("hidden", hidden, k * maps)
        conv1x1("gate", gate, hidden)
        conv1x1("out", k, gate)
        self.decayed = tuple(name for name in self.params if name.endswith(".weight"))

    def forward(self, x, training=True):
        self._check_input(x, "(N, C, H, W)", channels=self.in_channels, spatial=self.input_size)
        tier, p, size = self._forward_ops(), self.params, self.output_size

        def conv1x1(name, x):
            return tier.conv2d_forward(x, p[f"{name}.weight"], p[f"{name}.bias"])

        x_low, low_cache = conv1x1("low", x)
        x_pool, pool_cache = tier.spatial_mean_forward(x_low)
        branches = [x_low, x_pool]
        dilated_caches = []
        for r in self.dilations:
            d, cache = tier.depthwise_conv2d_forward(x_low, p[f"dilated{r}.weight"], p[f"dilated{r}.bias"],
                                                     dilation=r)
            branches.append(d)
            dilated_caches.append(cache)
        resized, resize_caches = zip(*(tier.bilinear_resize_forward(b, size) for b in branches))
        stacked, concat_cache = tier.concat_channels_forward(list(resized))
        hidden, hidden_cache = conv1x1("hidden", stacked)
        hidden, relu_cache = tier.relu_forward(hidden)
        gate, gate_cache = conv1x1("gate", hidden)
        gate, sigmoid_cache = tier.sigmoid_forward(gate)
        logits, out_cache = conv1x1("out", gate)
        self._cache = _CombinerCache(low_cache, pool_cache, dilated_caches, resize_caches, concat_cache,
                                     hidden_cache, relu_cache, gate_cache, sigmoid_cache, out_cache)
        return logits

    def backward(self, dlogits):
        cache, tier, grads = self._need_cache(), self._backward_ops(), self.grads
        dgate, grads["out.weight"], grads["out.bias"] = tier.conv2d_backward(dlogits, cache.out)
        dgate = tier.sigmoid_backward(dgate, cache.sigmoid)
        dhidden, grads["gate.weight"], grads["gate.bias"] = tier.conv2d_backward(dgate, cache.gate)
        dhidden = tier.relu_backward(dhidden, cache.relu)
        dstacked, grads["hidden.weight"], grads["hidden.bias"] = tier.conv2d_backward(dhidden, cache.hidden)
        dresized = tier.concat_channels_backward(dstacked, cache.concat)
        dbranches = [tier.bilinear_resize_backward(d, c) for d, c in zip(dresized, cache.resize)]
        dx_low = dbranches[0] + tier.spatial_mean_backward(dbranches[1], cache.pool)
        for r, d, dilated_cache in zip(self.dilations, dbranches[2:], cache.dilated):
            dd, dweight, dbias = tier.depthwise_conv2d_backward(d, dilated_cache)
            grads[f"dilated{r}.weight"], grads[f"dilated{r}.bias"] = dweight, dbias
            dx_low = dx_low + dd
        dx, grads["low.weight"], grads["low.bias"] = tier.conv2d_backward(dx_low, cache.low)
        return dx

    def _describe(self):
        (h, w), (ho, wo) = self.input_size, self.output_size
        dil = ", ".join(str(r) for r in self.dilations) or "none"
        return f"{self.in_channels} -> K={self.rank}, input {h}x{w} -> output {ho}x{wo}, dilations {dil}"


