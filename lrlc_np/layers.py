"""Stateful layers: thin wrappers around the pure functions in ``lrlc_np.ops``.

Every layer has

    params           dict name -> array, the learnable parameters
    grads            dict with the same keys, written by ``backward``
    buffers          dict of non-learned state (BatchNorm's running statistics), often empty
    forward(x, training=True) -> y          also ``layer(x)``
    backward(dy) -> dx                      overwrites ``grads``; calling it twice gives the same result
    zero_grad()                             sets every gradient to zero
    num_parameters                          total number of learnable numbers

A layer keeps the cache of its last forward pass, so ``backward`` belongs to the most
recent ``forward``. The optimiser lives elsewhere (``lrlc_np.optim``); layers never update
their own parameters.
"""

from __future__ import annotations

import math

import numpy

from . import backend
from .ops import _checks
from .ops.activations import relu_backward, relu_forward, sigmoid_backward, sigmoid_forward
from .ops.combining import NORMALIZATIONS, combining_weights_backward, combining_weights_forward
from .ops.conv import conv2d_backward, conv2d_forward
from .ops.dense import dense_backward, dense_forward
from .ops.depthwise import depthwise_conv2d_backward, depthwise_conv2d_forward
from .ops.im2col import output_hw
from .ops.local import locally_connected2d_backward, locally_connected2d_forward, with_lc_layout
from .ops.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from .ops.lrlc import effective_weight, lrlc2d_backward, lrlc2d_forward
from .ops.normalization import batchnorm2d_backward, batchnorm2d_forward
from .ops.pooling import (global_avg_pool2d_backward, global_avg_pool2d_forward, spatial_mean_backward,
                          spatial_mean_forward)
from .ops.resize import bilinear_resize_backward, bilinear_resize_forward
from .ops.shape import concat_channels_backward, concat_channels_forward

__all__ = [
    "Layer", "Conv2D", "LocallyConnected2D", "LowRankLocallyConnected2D", "InputDependentCombiningWeights",
    "Dense", "ReLU",
    "BatchNorm2D", "GlobalAvgPool2D", "AddCoordinates", "Flatten", "SoftmaxCrossEntropy", "Sequential",
]

COMBININGS = ("row_col", "row", "col", "full")
INITS = ("conv", "random")


# --------------------------------------------------------------------------- helpers

def _float_dtype(dtype, owner):
    try:
        dt = numpy.dtype(dtype)
    except TypeError:
        raise TypeError(f"{owner}: expected dtype float32 or float64, got {dtype!r}") from None
    if dt not in (numpy.float32, numpy.float64):
        raise TypeError(f"{owner}: expected dtype float32 or float64, got {dt}")
    return dt


def _he_uniform(rng, shape, fan_in, dtype):
    """U(-b, b) with b = sqrt(6 / fan_in): keeps the variance of ReLU activations steady."""
    bound = math.sqrt(6.0 / fan_in)
    return backend.to_device(rng.uniform(-bound, bound, size=shape).astype(dtype))


def _zeros(shape, dtype):
    return backend.xp.zeros(shape, dtype=dtype)


def _fmt_shape(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _fmt_pair(p):
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"


class Layer:
    """Base class: parameter bookkeeping, input checks and a readable ``repr``."""

    #: parameters that weight decay applies to (the weights; not biases, BatchNorm or logits)
    decayed: tuple = ()

    def __init__(self):
        self.params: dict = {}
        self.grads: dict = {}
        self.buffers: dict = {}
        self._cache = None

    # subclasses implement forward / backward
    def forward(self, x, training=True):  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, dy):  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, x, training=True):
        return self.forward(x, training=training)

    def zero_grad(self):
        """Set every gradient to zero."""
        for name, p in self.params.items():
            self.grads[name] = backend.get_array_module(p).zeros_like(p)

    def _add_param(self, name, value):
        self.params[name] = value
        self.grads[name] = backend.get_array_module(value).zeros_like(value)

    @property
    def num_parameters(self) -> int:
        """Total number of learnable numbers."""
        return int(sum(p.size for p in self.params.values()))

    def _need_cache(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}: backward called before forward")
        return self._cache

    def _check_input(self, x, layout, channels=None, spatial=None):
        """Check x's kind, dtype, dimensions, channels (axis 1) and spatial size (axes 2, 3).

        ``layout`` names the axes, e.g. "(N, C, H, W)"; known sizes replace the letters in
        the message: ``Conv2D: expected input (N, 3, H, W), got shape (8, 1, 28, 28)``.
        """
        owner = type(self).__name__
        _checks.float_array(x, "input", owner)
        axes = layout.strip("()").replace(" ", "").split(",")
        dims = len(axes)
        if channels is not None:
            axes[1] = str(channels)
        if spatial is not None:
            axes[2:4] = [str(spatial[0]), str(spatial[1])]
        expect = "(" + ", ".join(axes) + ")"
        if x.ndim != dims:
            raise ValueError(f"{owner}: expected input {expect}, got shape {tuple(x.shape)}")
        if channels is not None and x.shape[1] != channels:
            raise ValueError(f"{owner}: expected input {expect}, got shape {tuple(x.shape)}")
        if spatial is not None and tuple(x.shape[2:]) != tuple(spatial):
            raise ValueError(
                f"{owner}: expected input {expect} (this layer's weights are tied to "
                f"{spatial[0]}x{spatial[1]} inputs), got shape {tuple(x.shape)}"
            )
        dtype = getattr(self, "dtype", None)
        if dtype is not None and x.dtype != dtype:
            raise TypeError(
                f"{owner}: expected {dtype} input (the layer's dtype), got {x.dtype}; "
                f"convert with x.astype({dtype.name!r}) or build the layer with dtype={x.dtype.name!r}"
            )

    def _describe(self) -> str:
        """Hyper-parameters for ``repr``; subclasses override."""
        return ""

    def __repr__(self):
        inner = self._describe()
        if self.params:
            shapes = ", ".join(f"{k} {_fmt_shape(v.shape)}" for k, v in self.params.items())
            inner = f"{inner}; {shapes}; {self.num_parameters:,} params" if inner else f"{shapes}; {self.num_parameters:,} params"
        return f"{type(self).__name__}({inner})"


# --------------------------------------------------------------------------- spatial layers

class _SpatialLayer(Layer):
    """Shared set-up of Conv2D, LocallyConnected2D and LowRankLocallyConnected2D."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, rng, dtype):
        super().__init__()
        owner = type(self).__name__
        self.in_channels = _checks.positive_int(in_channels, "in_channels", owner)
        self.out_channels = _checks.positive_int(out_channels, "out_channels", owner)
        self.kernel_size = _checks.pair(kernel_size, "kernel_size", owner)
        self.stride = _checks.pair(stride, "stride", owner)
        self.padding = _checks.pair(padding, "padding", owner, minimum=0)
        self.dtype = _float_dtype(dtype, owner)
        self.rng = numpy.random.default_rng() if rng is None else rng
        if not isinstance(self.rng, numpy.random.Generator):
            raise TypeError(f"{owner}: expected rng as a numpy.random.Generator or None, got {type(rng).__name__}")
        self.fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    def _bind_input_size(self, input_size):
        """Fix the input size (LC and LRLC weights belong to positions) and compute H_out, W_out."""
        owner = type(self).__name__
        self.input_size = _checks.pair(input_size, "input_size", owner)
        self.output_size = output_hw(*self.input_size, self.kernel_size, self.stride, self.padding, owner)
        if min(self.output_size) < 1:  # pragma: no cover - output_hw already rejects this
            raise ValueError(f"{owner}: no output positions for input_size {self.input_size}")

    def _describe(self):
        text = (f"{self.in_channels} -> {self.out_channels}, kernel {_fmt_pair(self.kernel_size)}, "
                f"stride {_fmt_pair(self.stride)}, padding {_fmt_pair(self.padding)}")
        if hasattr(self, "input_size"):
            (h, w), (ho, wo) = self.input_size, self.output_size
            text += f", input {h}x{w} -> output {ho}x{wo}"
        return text


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
        self._add_param("weight", _he_uniform(self.rng, (self.out_channels, self.in_channels, kh, kw), self.fan_in, self.dtype))
        if bias:
            self._add_param("bias", _zeros((self.out_channels,), self.dtype))

    def forward(self, x, training=True):
        self._check_input(x, "(N, C, H, W)", channels=self.in_channels)
        output_hw(x.shape[2], x.shape[3], self.kernel_size, self.stride, self.padding, type(self).__name__)
        y, self._cache = conv2d_forward(x, self.params["weight"], self.params.get("bias"), self.stride, self.padding)
        return y

    def backward(self, dy):
        dx, dweight, dbias = conv2d_backward(dy, self._need_cache())
        self.grads["weight"] = dweight
        if dbias is not None:
            self.grads["bias"] = dbias
        return dx


class LocallyConnected2D(_SpatialLayer):
    """Locally connected: a separate filter bank at every output position.

    x (N, C_in, H, W) with (H, W) == input_size -> y (N, C_out, H_out, W_out)
    params: weight (H_out, W_out, C_out, C_in, kh, kw), He-uniform; bias (C_out, H_out, W_out), zeros
    ``backward`` overwrites ``grads["weight"]`` in place (copy it to keep an old gradient).
    """

    decayed = ("weight",)

    def __init__(self, in_channels, out_channels, kernel_size, input_size, stride=1, padding=0,
                 bias=True, *, rng=None, dtype=numpy.float32):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, rng, dtype)
        self._bind_input_size(input_size)
        ho, wo = self.output_size
        shape = (ho, wo, self.out_channels, self.in_channels, *self.kernel_size)
        # memory order (H_out, W_out, kh, kw, C_in, C_out), the order the product reads (ops/local.py)
        self._add_param("weight", with_lc_layout(_he_uniform(self.rng, shape, self.fan_in, self.dtype)))
        if bias:
            self._add_param("bias", _zeros((self.out_channels, ho, wo), self.dtype))

    def forward(self, x, training=True):
        self._check_input(x, "(N, C, H, W)", channels=self.in_channels, spatial=self.input_size)
        y, self._cache = locally_connected2d_forward(x, self.params["weight"], self.params.get("bias"), self.stride, self.padding)
        return y

    def backward(self, dy):
        # the weight gradient is written into the previous one (71 MB at the paper's shape)
        dx, dweight, dbias = locally_connected2d_backward(dy, self._need_cache(), self.grads.get("weight"))
        self.grads["weight"] = dweight
        if dbias is not None:
            self.grads["bias"] = dbias
        return dx


class LowRankLocallyConnected2D(_SpatialLayer):
    """Low-rank locally connected: K basis filter banks mixed by per-position weights.

    x (N, C_in, H, W) with (H, W) == input_size -> y (N, C_out, H_out, W_out)

        y[n, o, i, j] = sum_k alpha[k, i, j] (x ⋆ B_k)[n, o, i, j] + bias[o] + sbias[i, j]
        alpha = normalize(logits) over k

    combining  how logits (and the spatial bias) vary over positions:
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
    params     bases (K, C_out, C_in, kh, kw) He-uniform; the logits above (none when
               input_dependent); bias (C_out,) if bias=True; the spatial biases above if
               spatial_bias=True (all zeros)
    """

    decayed = ("bases",)

    def __init__(self, in_channels, out_channels, kernel_size, input_size, rank, stride=1,
                 padding=0, combining="row_col", normalize="softmax", bias=True, spatial_bias=True,
                 init="conv", *, rng=None, dtype=numpy.float32, method="auto", input_dependent=False):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, rng, dtype)
        owner = type(self).__name__
        self.rank = _checks.positive_int(rank, "rank", owner)
        self.combining = _checks.choice(combining, COMBININGS, "combining", owner)
        self.normalize = _checks.choice(normalize, NORMALIZATIONS, "normalize", owner)
        self.init = _checks.choice(init, INITS, "init", owner)
        self.method = _checks.choice(method, ("auto", "conv", "lc"), "method", owner)
        if not isinstance(input_dependent, bool):
            raise TypeError(f"{owner}: expected input_dependent as True or False, got {input_dependent!r}")
        if input_dependent and self.combining != "full":
            raise ValueError(
                f"{owner}: input_dependent=True computes a logit for every position, so it needs "
                f"combining='full', got combining={self.combining!r}"
            )
        if input_dependent and self.method == "lc":
            raise ValueError(
                f"{owner}: input_dependent=True gives every example its own alpha, which method "
                f"'lc' cannot use; use method 'auto' or 'conv'"
            )
        self.input_dependent = input_dependent
        self._bind_input_size(input_size)
        k, (ho, wo) = self.rank, self.output_size
        shape = (k, self.out_channels, self.in_channels, *self.kernel_size)
        self._add_param("bases", _he_uniform(self.rng, shape, self.fan_in, self.dtype))
        logit_shapes = {"row_col": {"row_logits": (k, ho), "col_logits": (k, wo)},
                        "row": {"row_logits": (k, ho)},
                        "col": {"col_logits": (k, wo)},
                        "full": {"logits": (k, ho, wo)}}[self.combining]
        if input_dependent:   # the logits come from the combining network instead
            logit_shapes = {}
            self.combiner = InputDependentCombiningWeights(
                self.in_channels, k, self.input_size, self.output_size, rng=self.rng, dtype=self.dtype)
            for name, value in self.combiner.params.items():
                self._add_param(f"combiner.{name}", value)     # the same arrays, shared
            self.decayed = ("bases",) + tuple(f"combiner.{n}" for n in self.combiner.decayed)
        # With init="conv" every logit gets the same value; the full logit of a position is
        # the sum of len(logit_shapes) parts, so each part holds an equal share of it.
        full_value = 0.0 if self.normalize == "softmax" else 1.0 / math.sqrt(k)
        for name, s in logit_shapes.items():
            if self.init == "conv":
                value = numpy.full(s, full_value / len(logit_shapes))
            else:
                value = self.rng.standard_normal(s)
            self._add_param(name, backend.to_device(value.astype(self.dtype)))
        if bias:
            self._add_param("bias", _zeros((self.out_channels,), self.dtype))
        if spatial_bias:
            bias_shapes = {"row_col": {"row_bias": (ho,), "col_bias": (wo,)},
                           "row": {"row_bias": (ho,)},
                           "col": {"col_bias": (wo,)},
                           "full": {"spatial_bias": (ho, wo)}}[self.combining]
            for name, s in bias_shapes.items():
                self._add_param(name, _zeros(s, self.dtype))

    # -- combining weights ------------------------------------------------------------
    def _full_logits(self):
        """logits (K, H_out, W_out), assembled from the row/column parts."""
        p = self.params
        xp = backend.get_array_module(p["bases"])
        k, (ho, wo) = self.rank, self.output_size
        if self.combining == "full":
            return p["logits"]
        logits = xp.zeros((k, ho, wo), dtype=self.dtype)
        if "row_logits" in p:
            logits += p["row_logits"][:, :, None]      # (K, H_out, 1) broadcast over columns
        if "col_logits" in p:
            logits += p["col_logits"][:, None, :]      # (K, 1, W_out) broadcast over rows
        return logits

    def _spatial_bias(self):
        """sbias (H_out, W_out) or None."""
        p = self.params
        if "spatial_bias" in p:
            return p["spatial_bias"]
        if "row_bias" not in p and "col_bias" not in p:
            return None
        xp = backend.get_array_module(p["bases"])
        sbias = xp.zeros(self.output_size, dtype=self.dtype)
        if "row_bias" in p:
            sbias += p["row_bias"][:, None]
        if "col_bias" in p:
            sbias += p["col_bias"][None, :]
        return sbias

    def _combiner_logits(self, x, training):
        """Input-dependent logits (N, K, H_out, W_out), computed with this layer's parameters."""
        for name in self.combiner.params:                # this layer's params are the source of truth
            self.combiner.params[name] = self.params[f"combiner.{name}"]
        return self.combiner.forward(x, training=training)

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
            logits = self._combiner_logits(x, training=False)
        else:
            logits = self._full_logits()
        alpha, _ = combining_weights_forward(logits, self.normalize)
        return alpha

    def effective_weight(self):
        """(H_out, W_out, C_out, C_in, kh, kw): the LC kernel at each position, sum_k alpha[k] B_k."""
        if self.input_dependent:
            raise ValueError(f"{type(self).__name__}: with input_dependent=True every example has its "
                             f"own kernels; there is no single effective weight")
        return effective_weight(self.params["bases"], self.combining_weights())

    # -- forward / backward -----------------------------------------------------------
    def forward(self, x, training=True):
        self._check_input(x, "(N, C, H, W)", channels=self.in_channels, spatial=self.input_size)
        logits = self._combiner_logits(x, training) if self.input_dependent else self._full_logits()
        alpha, alpha_cache = combining_weights_forward(logits, self.normalize)
        y, lrlc_cache = lrlc2d_forward(x, self.params["bases"], alpha, self.stride, self.padding, self.method)
        if "bias" in self.params:                      # y is a fresh array: add in place
            y += self.params["bias"][:, None, None]
        sbias = self._spatial_bias()
        if sbias is not None:
            y += sbias
        self._cache = (alpha_cache, lrlc_cache)
        return y

    def backward(self, dy):
        alpha_cache, lrlc_cache = self._need_cache()
        dx, dbases, dalpha = lrlc2d_backward(dy, lrlc_cache)
        dlogits = combining_weights_backward(dalpha, alpha_cache)   # (K, H_out, W_out) or (N, K, H_out, W_out)
        g = self.grads
        g["bases"] = dbases
        if self.input_dependent:                    # x feeds both the LRLC product and the combiner
            dx = dx + self.combiner.backward(dlogits)
            for name, grad in self.combiner.grads.items():
                g[f"combiner.{name}"] = grad
        elif self.combining == "full":
            g["logits"] = dlogits
        if "row_logits" in g:
            g["row_logits"] = dlogits.sum(axis=2)   # each row logit feeds every column of its row
        if "col_logits" in g:
            g["col_logits"] = dlogits.sum(axis=1)
        if "bias" in g:
            g["bias"] = dy.sum(axis=(0, 2, 3))
        if any(k in g for k in ("spatial_bias", "row_bias", "col_bias")):
            dsbias = dy.sum(axis=(0, 1))            # (H_out, W_out)
            if "spatial_bias" in g:
                g["spatial_bias"] = dsbias
            if "row_bias" in g:
                g["row_bias"] = dsbias.sum(axis=1)
            if "col_bias" in g:
                g["col_bias"] = dsbias.sum(axis=0)
        return dx

    def _describe(self):
        return (f"{super()._describe()}, rank {self.rank}, combining {self.combining!r}"
                f"{' (input-dependent)' if self.input_dependent else ''}, normalize {self.normalize!r}")


# --------------------------------------------------------------------------- input-dependent alpha

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
        h       = ReLU(1x1 conv of concat(maps) to (6K)//2 channels)
        g       = sigmoid(1x1 conv of h to 6K channels)
        logits  = 1x1 conv of g to K channels

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
            self._add_param(f"{name}.weight", _glorot_uniform(rng, (c_out, c_in, 1, 1), c_in, c_out, self.dtype))
            self._add_param(f"{name}.bias", _zeros((c_out,), self.dtype))

        conv1x1("low", k, self.in_channels)
        for r in self.dilations:
            self._add_param(f"dilated{r}.weight", _glorot_uniform(rng, (k, 1, 3, 3), 9 * k, 9, self.dtype))
            self._add_param(f"dilated{r}.bias", _zeros((k,), self.dtype))
        conv1x1("hidden", hidden, k * maps)
        conv1x1("gate", gate, hidden)
        conv1x1("out", k, gate)
        self.decayed = tuple(name for name in self.params if name.endswith(".weight"))

    def _conv1x1(self, name, x):
        return conv2d_forward(x, self.params[f"{name}.weight"], self.params[f"{name}.bias"])

    def forward(self, x, training=True):
        self._check_input(x, "(N, C, H, W)", channels=self.in_channels, spatial=self.input_size)
        size = self.output_size
        x_low, low_cache = self._conv1x1("low", x)
        x_pool, pool_cache = spatial_mean_forward(x_low)
        branches = [x_low, x_pool]
        dilated_caches = []
        for r in self.dilations:
            d, cache = depthwise_conv2d_forward(x_low, self.params[f"dilated{r}.weight"],
                                                self.params[f"dilated{r}.bias"], dilation=r)
            branches.append(d)
            dilated_caches.append(cache)
        resized, resize_caches = zip(*(bilinear_resize_forward(b, size) for b in branches))
        stacked, concat_cache = concat_channels_forward(list(resized))
        h, hidden_cache = self._conv1x1("hidden", stacked)
        h, relu_cache = relu_forward(h)
        g, gate_cache = self._conv1x1("gate", h)
        g, sigmoid_cache = sigmoid_forward(g)
        logits, out_cache = self._conv1x1("out", g)
        self._cache = (low_cache, pool_cache, dilated_caches, resize_caches, concat_cache,
                       hidden_cache, relu_cache, gate_cache, sigmoid_cache, out_cache)
        return logits

    def backward(self, dlogits):
        (low_cache, pool_cache, dilated_caches, resize_caches, concat_cache,
         hidden_cache, relu_cache, gate_cache, sigmoid_cache, out_cache) = self._need_cache()
        g = self.grads
        dg, g["out.weight"], g["out.bias"] = conv2d_backward(dlogits, out_cache)
        dg = sigmoid_backward(dg, sigmoid_cache)
        dh, g["gate.weight"], g["gate.bias"] = conv2d_backward(dg, gate_cache)
        dh = relu_backward(dh, relu_cache)
        dstacked, g["hidden.weight"], g["hidden.bias"] = conv2d_backward(dh, hidden_cache)
        dresized = concat_channels_backward(dstacked, concat_cache)
        dbranches = [bilinear_resize_backward(d, c) for d, c in zip(dresized, resize_caches)]
        dx_low = dbranches[0] + spatial_mean_backward(dbranches[1], pool_cache)
        for r, d, cache in zip(self.dilations, dbranches[2:], dilated_caches):
            dd, g[f"dilated{r}.weight"], g[f"dilated{r}.bias"] = depthwise_conv2d_backward(d, cache)
            dx_low += dd
        dx, g["low.weight"], g["low.bias"] = conv2d_backward(dx_low, low_cache)
        return dx

    def _describe(self):
        (h, w), (ho, wo) = self.input_size, self.output_size
        dil = ", ".join(str(r) for r in self.dilations) or "none"
        return f"{self.in_channels} -> K={self.rank}, input {h}x{w} -> output {ho}x{wo}, dilations {dil}"


# --------------------------------------------------------------------------- other layers

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
        self._add_param("weight", _he_uniform(rng, (self.out_features, self.in_features), self.in_features, self.dtype))
        if bias:
            self._add_param("bias", _zeros((self.out_features,), self.dtype))

    def forward(self, x, training=True):
        self._check_input(x, "(N, F)", channels=self.in_features)
        y, self._cache = dense_forward(x, self.params["weight"], self.params.get("bias"))
        return y

    def backward(self, dy):
        dx, dweight, dbias = dense_backward(dy, self._need_cache())
        self.grads["weight"] = dweight
        if dbias is not None:
            self.grads["bias"] = dbias
        return dx

    def _describe(self):
        return f"{self.in_features} -> {self.out_features}"


class ReLU(Layer):
    """max(x, 0), element-wise.  x (any shape) -> y (same shape)"""

    def forward(self, x, training=True):
        _checks.float_array(x, "input", "ReLU")
        y, self._cache = relu_forward(x)
        return y

    def backward(self, dy):
        return relu_backward(dy, self._need_cache())


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
        y, self._cache = batchnorm2d_forward(
            x, self.params["weight"], self.params["bias"], self.buffers["running_mean"],
            self.buffers["running_var"], training=training, momentum=self.momentum, eps=self.eps)
        return y

    def backward(self, dy):
        dx, dweight, dbias = batchnorm2d_backward(dy, self._need_cache())
        self.grads["weight"], self.grads["bias"] = dweight, dbias
        return dx

    def _describe(self):
        return f"{self.num_features}, momentum {self.momentum}, eps {self.eps}"


class GlobalAvgPool2D(Layer):
    """Mean over positions.  x (N, C, H, W) -> y (N, C)"""

    def forward(self, x, training=True):
        self._check_input(x, "(N, C, H, W)")
        y, self._cache = global_avg_pool2d_forward(x)
        return y

    def backward(self, dy):
        return global_avg_pool2d_backward(dy, self._need_cache())


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
            raise ValueError(f"Flatten: expected input with a batch axis (N, ...), got shape {tuple(x.shape)}")
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        shape = self._need_cache()
        _checks.float_array(dy, "dy", "Flatten")
        if dy.size != math.prod(shape) or dy.shape[0] != shape[0]:
            raise ValueError(f"Flatten: expected dy of shape ({shape[0]}, {math.prod(shape[1:])}), got {tuple(dy.shape)}")
        return dy.reshape(shape).copy()   # a copy, so dx never aliases dy


class SoftmaxCrossEntropy:
    """The classification loss: mean over the batch of -log softmax(logits)[label].

    forward(logits (N, classes), labels (N,) int) -> loss, a Python float
    backward() -> dlogits (N, classes), the gradient of that loss
    """

    def __init__(self):
        self._cache = None

    def forward(self, logits, labels):
        try:
            loss, self._cache = softmax_cross_entropy_forward(logits, labels)
        except (TypeError, ValueError) as err:  # name the layer in the message, as every layer does
            raise type(err)(str(err).replace("softmax_cross_entropy_forward", "SoftmaxCrossEntropy", 1)) from None
        return float(loss)

    __call__ = forward

    def backward(self):
        if self._cache is None:
            raise RuntimeError("SoftmaxCrossEntropy: backward called before forward")
        return softmax_cross_entropy_backward(1.0, self._cache)

    def __repr__(self):
        return "SoftmaxCrossEntropy()"


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
