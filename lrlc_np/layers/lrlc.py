"""LowRankLocallyConnected2D: K basis filter banks mixed by per-position weights (``ops.lrlc``).

The layer is three parts: where the combining weights come from (a source: free logits per
position, row + column logits, or the input-dependent network of ``combiner``), the product
of the bases with the input (``ops.lrlc2d``, or ``ops.lrlc2d_per_basis`` for bases of their
own kernel sizes and dilations), and the biases. Its forward pass reads

    alpha = combining(x)            (K, H_out, W_out), or (N, K, H_out, W_out) per example
    y     = lrlc2d(x, bases, alpha) + bias[o] + sbias[i, j]
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy

from .. import backend, tiers
from ..ops import _checks
from ..ops.im2col import same_padding
from ..options import INITS, METHODS, NORMALIZATIONS, resolve_combining
from .base import PrefixedDict, _he_uniform, _SpatialLayer, _zeros
from .combiner import InputDependentCombiningWeights

#: the parts a map over the output positions is built from, by combining mode
PARTS = {"row_col": ("row", "col"), "row": ("row",), "col": ("col",), "full": ("full",)}
LOGIT_NAMES = {"row": "row_logits", "col": "col_logits", "full": "logits"}
BIAS_NAMES = {"row": "row_bias", "col": "col_bias", "full": "spatial_bias"}


class PositionMap:
    """Values over the output positions (..., H_out, W_out) made of free parameters of a layer:

        "full"      one per position        map[..., i, j] = full[..., i, j]
        "row_col"   one per row and column  map[..., i, j] = row[..., i] + col[..., j]
        "row", "col"   one per row, or one per column       (``ops.row_col_sum_forward``)

    The parameters are the layer's, under ``names[part]``; they are read from the layer's dicts
    on every call (so replacing an entry, or a dict, replaces the parameter), and the map holds
    no reference to the layer (none of its caches is kept alive by a cycle).
    """

    def __init__(self, combining, names):
        self.names = {part: names[part] for part in PARTS[combining]}

    def shapes(self, out_hw, lead=()):
        """{parameter name: shape} for outputs ``out_hw``; ``lead`` axes (K,) come first."""
        ho, wo = out_hw
        sizes = {"row": (ho,), "col": (wo,), "full": (ho, wo)}
        return {name: (*lead, *sizes[part]) for part, name in self.names.items()}

    def forward(self, layer, tier):
        """-> (the map, cache)"""
        p = layer.params
        if "full" in self.names:
            return p[self.names["full"]], None
        rows, cols = (p.get(self.names.get(part, "")) for part in ("row", "col"))
        return tier.row_col_sum_forward(rows, cols, layer.output_size)

    def backward(self, layer, dmap, cache, tier):
        """Write the gradients of the parameters into the layer's grads, given the map's ``dmap``."""
        if "full" in self.names:
            layer.grads[self.names["full"]] = dmap
            return
        for part, grad in zip(("row", "col"), tier.row_col_sum_backward(dmap, cache)):
            if grad is not None:
                layer.grads[self.names[part]] = grad


class FreeLogits:
    """Combining logits that are parameters of the layer (a ``PositionMap``), the same for every input."""

    def __init__(self, combining):
        self.map = PositionMap(combining, LOGIT_NAMES)

    def forward(self, layer, x, tier, training):
        return self.map.forward(layer, tier)

    def backward(self, layer, dlogits, cache, tier):
        self.map.backward(layer, dlogits, cache, tier)
        return None                                     # the logits do not depend on x


class NetworkLogits:
    """Combining logits computed from each input by the paper's small network (``combiner``)."""

    def __init__(self, network):
        self.network = network

    def forward(self, layer, x, tier, training):
        return self.network.forward(x, training=training), None

    def backward(self, layer, dlogits, cache, tier):
        return self.network.backward(dlogits)           # x's gradient through the network


class CombiningWeights:
    """alpha = normalize(logits(x)) over K: a logits source and a normalisation (``ops.combining``).

    Its methods take the layer whose parameters they use: a source holds no reference to it.
    """

    def __init__(self, logits, normalize):
        self.logits, self.normalize = logits, normalize

    def forward(self, layer, x, tier, training):
        """-> (alpha, cache)"""
        logits, logits_cache = self.logits.forward(layer, x, tier, training)
        alpha, alpha_cache = tier.combining_weights_forward(logits, self.normalize)
        return alpha, (logits_cache, alpha_cache)

    def backward(self, layer, dalpha, cache, tier):
        """Write the logits' gradients; -> x's gradient through the logits, or None."""
        logits_cache, alpha_cache = cache
        dlogits = tier.combining_weights_backward(dalpha, alpha_cache)
        return self.logits.backward(layer, dlogits, logits_cache, tier)


class _LRLCLayerCache(NamedTuple):
    combining: object   # CombiningWeights' cache
    lrlc: object        # the product's cache (lrlc2d, or lrlc2d_per_basis)
    sbias: object       # the spatial bias map's cache, or None


class LowRankLocallyConnected2D(_SpatialLayer):
    """Low-rank locally connected: K basis filter banks mixed by per-position weights.

    x (N, C_in, H, W) with (H, W) == input_size -> y (N, C_out, H_out, W_out)

        y[n, o, i, j] = sum_k alpha[k, i, j] (x ⋆ B_k)[n, o, i, j] + bias[o] + sbias[i, j]
        alpha = normalize(logits) over k

    combining  how logits (and the spatial bias) vary over positions (None: "row_col", or
               "full" with input_dependent=True):
               "row_col"  logits[k, i, j] = row_logits[k, i] + col_logits[k, j]   (paper default)
                          sbias[i, j] = row_bias[i] + col_bias[j]
               "row"      logits[k, i, j] = row_logits[k, i];   sbias = row_bias[i]
               "col"      logits[k, i, j] = col_logits[k, j];   sbias = col_bias[j]
               "full"     one free logit per position, logits[k, i, j];  sbias = spatial_bias[i, j]
    normalize  "softmax" (weights sum to 1), "norm" (unit L2 norm) or "none", over K
    init       "conv": constant logits, so every position starts with the same filter bank
               (alpha = 1/K for softmax, 1/sqrt(K) for norm and none): the layer starts
               as a convolution. "random": standard-normal logits.
    input_dependent
               True: the logits come from the input instead of free parameters, one map per
               example, logits (N, K, H_out, W_out) = InputDependentCombiningWeights(x)
               (the paper's input-dependent variant; needs combining="full"). Its
               parameters appear here as "combiner.<name>" (e.g. "combiner.low.weight").
               ``init`` does not apply: the network starts as in the authors' code
               (Glorot-uniform weights, zero biases), so alpha starts near uniform, not at it.
    padding    an int, a pair, or "same" (stride 1, odd kernels: the output keeps the input's size)
    kernel_size, dilations
               one kernel for every basis (an int or a pair; dilations 1), or, as the authors'
               layer allows, a list of K kernel sizes and/or a list of K dilations (an int
               applies to all): basis k is a kh_k x kw_k kernel whose taps are d_k apart
               (``ops.lrlc_per_basis``). The responses must line up, so that needs
               padding="same" and stride 1; the bases are then "bases.0" ... "bases.<K-1>",
               and there is no single effective LC weight.
    params     bases (K, C_out, C_in, kh, kw) He-uniform (per basis: bases.k (C_out, C_in,
               kh_k, kw_k), each He-uniform over its own fan-in); the logits above (none when
               input_dependent); bias (C_out,) if bias=True; the spatial biases above if
               spatial_bias=True (all zeros)
    """

    decayed = ("bases",)

    def __init__(self, in_channels, out_channels, kernel_size, input_size, rank, stride=1,
                 padding=0, combining=None, normalize="softmax", bias=True, spatial_bias=True,
                 init="conv", *, rng=None, dtype=numpy.float32, method="auto", input_dependent=False,
                 dilations=1):
        owner = type(self).__name__
        self.rank = _checks.positive_int(rank, "rank", owner)
        self.per_basis = isinstance(kernel_size, list) or isinstance(dilations, list) or dilations != 1
        if self.per_basis:
            kernels, dilations = self._per_basis_geometry(kernel_size, dilations, padding, stride, owner)
            super().__init__(in_channels, out_channels, kernels[0], stride, 0, rng, dtype)
            self.kernel_sizes, self.dilations = kernels, dilations
            self.dilation = (dilations[0], dilations[0])
            self.padding = same_padding(kernels[0], dilations[0], owner)
        else:
            super().__init__(in_channels, out_channels, kernel_size, stride, padding, rng, dtype)
        if not isinstance(input_dependent, bool):
            raise TypeError(f"{owner}: expected input_dependent as True or False, got {input_dependent!r}")
        self.combining = resolve_combining(combining, input_dependent, owner)
        self.normalize = _checks.choice(normalize, NORMALIZATIONS, "normalize", owner)
        self.init = _checks.choice(init, INITS, "init", owner)
        self.method = _checks.choice(method, METHODS, "method", owner)
        self._check_method(input_dependent, owner)
        self.input_dependent = input_dependent
        self._bind_input_size(input_size)
        self._add_bases()
        self.source = CombiningWeights(self._add_logits(), self.normalize)
        if bias:
            self._add_param("bias", _zeros((self.out_channels,), self.dtype))
        self.spatial_bias = PositionMap(self.combining, BIAS_NAMES) if spatial_bias else None
        bias_shapes = {} if self.spatial_bias is None else self.spatial_bias.shapes(self.output_size)
        for name, shape in bias_shapes.items():
            self._add_param(name, _zeros(shape, self.dtype))

    def _check_method(self, input_dependent, owner):
        if input_dependent and self.method == "lc":
            raise ValueError(f"{owner}: input_dependent=True gives every example its own alpha, which method "
                             f"'lc' cannot use; use method 'auto' or 'conv'")
        if self.per_basis and self.method == "lc":
            raise ValueError(f"{owner}: bases of their own kernel sizes or dilations have no single LC "
                             f"weight, which method 'lc' needs; use method 'auto' or 'conv'")

    def _per_basis_geometry(self, kernel_size, dilations, padding, stride, owner):
        """K kernel sizes (pairs) and K dilations from ints or lists; checks 'same' and stride 1."""
        k = self.rank
        kernels = kernel_size if isinstance(kernel_size, list) else [kernel_size] * k
        dilations = dilations if isinstance(dilations, list) else [dilations] * k
        if len(kernels) != k or len(dilations) != k:
            raise ValueError(f"{owner}: expected {k} kernel sizes and {k} dilations (one per basis, "
                             f"rank {k}), got kernel_size {kernel_size!r} and dilations {dilations!r}")
        if padding != "same":
            raise ValueError(f"{owner}: bases of their own kernel sizes or dilations need padding='same' "
                             f"(so that their responses line up), got padding {padding!r}")
        if _checks.pair(stride, "stride", owner) != (1, 1):
            raise ValueError(f"{owner}: bases of their own kernel sizes or dilations need stride 1, "
                             f"got {stride!r}")
        kernels = [_checks.pair(kk, "each kernel size", owner) for kk in kernels]
        dilations = [_checks.positive_int(d, "each dilation", owner) for d in dilations]
        return kernels, dilations

    def _add_bases(self):
        """The K basis filter banks, He-uniform: one (K, C_out, C_in, kh, kw) array, or one per basis."""
        if not self.per_basis:
            shape = (self.rank, self.out_channels, self.in_channels, *self.kernel_size)
            self._add_param("bases", _he_uniform(self.rng, shape, self.fan_in, self.dtype))
            return
        for index, (kh, kw) in enumerate(self.kernel_sizes):
            shape = (self.out_channels, self.in_channels, kh, kw)
            fan_in = self.in_channels * kh * kw                  # each basis over its own fan-in
            self._add_param(f"bases.{index}", _he_uniform(self.rng, shape, fan_in, self.dtype))
        self.decayed = tuple(f"bases.{index}" for index in range(self.rank))

    def _add_logits(self):
        """The source of the logits: the input-dependent network, or free logits (``init``)."""
        if self.input_dependent:
            self.combiner = InputDependentCombiningWeights(self.in_channels, self.rank, self.input_size,
                                                           self.output_size, rng=self.rng, dtype=self.dtype)
            for name, value in self.combiner.params.items():
                self._add_param(f"combiner.{name}", value)
            # from now on the combiner's params and grads are views of this layer's entries
            self.combiner.params = PrefixedDict(self.params, "combiner.")
            self.combiner.grads = PrefixedDict(self.grads, "combiner.")
            self.decayed = self.decayed + tuple(f"combiner.{n}" for n in self.combiner.decayed)
            return NetworkLogits(self.combiner)
        logits = FreeLogits(self.combining)
        shapes = logits.map.shapes(self.output_size, lead=(self.rank,))
        # With init="conv" every logit gets the same value; the full logit of a position is
        # the sum of len(shapes) parts, so each part holds an equal share of it.
        full_value = 0.0 if self.normalize == "softmax" else 1.0 / math.sqrt(self.rank)
        for name, shape in shapes.items():
            if self.init == "conv":
                value = numpy.full(shape, full_value / len(shapes))
            else:
                value = self.rng.standard_normal(shape)
            self._add_param(name, backend.to_device(value.astype(self.dtype)))
        return logits

    def _bases(self):
        """The bases as the op takes them: one (K, C_out, C_in, kh, kw) array, or a list of K."""
        if self.per_basis:
            return [self.params[f"bases.{index}"] for index in range(self.rank)]
        return self.params["bases"]

    # -- combining weights ------------------------------------------------------------
    def combining_weights(self, x=None):
        """alpha: the weight of each basis at each output position.

        -> (K, H_out, W_out); with input_dependent=True, pass the layer's input x
           (N, C_in, H, W) and get one map per example, (N, K, H_out, W_out)
        """
        if self.input_dependent:
            if x is None:
                raise ValueError(f"{type(self).__name__}: input-dependent combining weights need the "
                                 f"layer's input, combining_weights(x) with x (N, {self.in_channels}, "
                                 f"{self.input_size[0]}, {self.input_size[1]})")
            self._check_input(x, "(N, C, H, W)", channels=self.in_channels, spatial=self.input_size)
        alpha, _ = self.source.forward(self, x, tiers.active(), training=False)
        return alpha

    def effective_weight(self):
        """(H_out, W_out, C_out, C_in, kh, kw): the LC kernel at each position, sum_k alpha[k] B_k."""
        if self.input_dependent:
            raise ValueError(f"{type(self).__name__}: with input_dependent=True every example has its "
                             f"own kernels; there is no single effective weight")
        if self.per_basis:
            raise ValueError(f"{type(self).__name__}: bases of different kernel sizes or dilations have no "
                             f"single effective LC weight")
        return tiers.active().effective_weight(self.params["bases"], self.combining_weights())

    @property
    def resolved_method(self) -> str:
        """The route the last forward pass took, "conv" or "lc" ("auto" resolved); None before one."""
        return None if self._cache is None else self._cache.lrlc.method

    # -- forward / backward -----------------------------------------------------------
    def forward(self, x, training=True):
        self._check_input(x, "(N, C, H, W)", channels=self.in_channels, spatial=self.input_size)
        tier, p = self._forward_ops(), self.params
        alpha, combining_cache = self.source.forward(self, x, tier, training)   # the combining weights
        if self.per_basis:
            y, lrlc_cache = tier.lrlc2d_per_basis_forward(x, self._bases(), alpha, self.dilations)
        else:
            y, lrlc_cache = tier.lrlc2d_forward(x, p["bases"], alpha, self.stride, self.padding, self.method)
        if "bias" in p:
            y += p["bias"][:, None, None]         # (C_out, 1, 1): one per channel (y is a fresh array)
        if self.spatial_bias is not None:
            sbias, sbias_cache = self.spatial_bias.forward(self, tier)
            y += sbias                                        # (H_out, W_out): one per position
        else:
            sbias_cache = None
        self._cache = _LRLCLayerCache(combining_cache, lrlc_cache, sbias_cache)
        return y

    def backward(self, dy):
        self._check_dy(dy)
        cache, tier, grads = self._need_cache(), self._backward_ops(), self.grads
        if self.per_basis:
            dx, dbases, dalpha = tier.lrlc2d_per_basis_backward(dy, cache.lrlc)
            for index, d in enumerate(dbases):
                grads[f"bases.{index}"] = d
        else:
            dx, grads["bases"], dalpha = tier.lrlc2d_backward(dy, cache.lrlc)
        dx_logits = self.source.backward(self, dalpha, cache.combining, tier)
        if dx_logits is not None:                   # x feeds both the LRLC product and the combiner
            dx = dx + dx_logits
        if "bias" in grads:
            grads["bias"] = dy.sum(axis=(0, 2, 3))
        if self.spatial_bias is not None:
            self.spatial_bias.backward(self, dy.sum(axis=(0, 1)), cache.sbias, tier)
        return dx

    def _describe(self):
        kind = (f"rank {self.rank}, combining {self.combining!r}"
                f"{' (input-dependent)' if self.input_dependent else ''}, normalize {self.normalize!r}")
        if not self.per_basis:
            return f"{super()._describe()}, {kind}"
        (h, w), bases = self.input_size, ", ".join(
            f"{kh}x{kw}" + (f" dilation {d}" if d != 1 else "")
            for (kh, kw), d in zip(self.kernel_sizes, self.dilations))
        return (f"{self.in_channels} -> {self.out_channels}, bases {bases}, padding same, "
                f"input {h}x{w} -> output {h}x{w}, {kind}")
