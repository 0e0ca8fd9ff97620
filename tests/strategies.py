"""Hypothesis strategies that draw valid layer geometries.

Sizes come first; kernel and stride are then drawn from what fits, so ``assume()`` only has
to reject the leftovers (there are none for these draws). Every draw has a label, which
hypothesis prints when it reports a failing example.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

COMBININGS = ("row_col", "row", "col", "full")
NORMALIZATIONS = ("softmax", "norm", "none")


@dataclass(frozen=True)
class Geometry:
    n: int
    c_in: int
    c_out: int
    h: int
    w: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    @property
    def out_hw(self) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        return (self.h + 2 * ph - kh) // sh + 1, (self.w + 2 * pw - kw) // sw + 1

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c_in, self.h, self.w)


@st.composite
def geometries(draw, max_batch=3, max_channels=4, max_size=9, max_kernel=4, max_stride=3, max_padding=2):
    """A valid conv geometry: batch 1-3, channels 1-4, H and W 1-9 drawn separately,
    padding 0-2, kernel 1-4 no larger than the padded input, stride 1-3."""
    n = draw(st.integers(1, max_batch), label="batch")
    c_in = draw(st.integers(1, max_channels), label="c_in")
    c_out = draw(st.integers(1, max_channels), label="c_out")
    h = draw(st.integers(1, max_size), label="height")
    w = draw(st.integers(1, max_size), label="width")
    ph = draw(st.integers(0, max_padding), label="pad_h")
    pw = draw(st.integers(0, max_padding), label="pad_w")
    kh = draw(st.integers(1, min(max_kernel, h + 2 * ph)), label="kernel_h")
    kw = draw(st.integers(1, min(max_kernel, w + 2 * pw)), label="kernel_w")
    sh = draw(st.integers(1, max_stride), label="stride_h")
    sw = draw(st.integers(1, max_stride), label="stride_w")
    return Geometry(n, c_in, c_out, h, w, (kh, kw), (sh, sw), (ph, pw))


def arrays(rng: np.random.Generator, shape, dtype=np.float64):
    """Standard-normal values (distinct almost surely) of the given shape."""
    return rng.standard_normal(shape).astype(dtype)


seeds = st.integers(0, 2**32 - 1)
ranks = st.integers(1, 4)
combinings = st.sampled_from(COMBININGS)
normalizations = st.sampled_from(NORMALIZATIONS)


# --- Op cases: one valid call of every forward/backward pair in lrlc_np.ops -----------------
# Used by the op tests that hold every op to the same property (no mutation, repeatable
# backward, dtype preserved); the per-op gradient and reference tests build their arrays
# themselves, so that each reads on its own.

OP_NAMES = (
    "conv2d", "conv2d_no_bias", "locally_connected2d", "locally_connected2d_no_bias",
    "combining_softmax", "combining_norm", "combining_none", "combining_softmax_per_example",
    "lrlc2d_conv", "lrlc2d_lc", "lrlc2d_auto", "lrlc2d_per_example",
    "dense", "dense_no_bias", "relu", "batchnorm2d_train", "batchnorm2d_eval",
    "global_avg_pool2d", "softmax_cross_entropy",
)


@dataclass
class OpCase:
    """One ready-to-run op call.

    ``forward(**inputs) -> (y, cache)``; ``backward(dy, cache)`` returns the gradients of
    the inputs named in ``grad_names``, in that order (``grads`` always gives a tuple).
    Inputs not in ``grad_names`` (labels) are passed through but not differentiated.
    """

    name: str
    forward: object
    backward: object
    inputs: dict
    grad_names: tuple

    def grads(self, dy, cache) -> tuple:
        out = self.backward(dy, cache)
        return out if isinstance(out, tuple) else (out,)


def away_from_zero(a, gap=0.1):
    """Shift every entry away from 0 by ``gap`` (keeps ReLU's kink out of finite differences)."""
    return np.where(a >= 0, a + gap, a - gap).astype(a.dtype)


def spread_channels(rng: np.random.Generator, shape, dtype=np.float64):
    """(N, C, H, W) values whose every channel spreads over about [-2, 2] across (N, H, W).

    Each channel is a shuffled ramp plus a little noise. Batch norm divides by the batch
    standard deviation, so two nearly equal values in a tiny batch would make its finite
    differences inaccurate; a ramp keeps the deviation near 1 for every batch size.
    """
    n, c, h, w = shape
    ramp = np.linspace(-2.0, 2.0, n * h * w)
    values = np.stack([rng.permutation(ramp) for _ in range(c)]) + 0.1 * rng.standard_normal((c, n * h * w))
    return np.ascontiguousarray(values.reshape(c, n, h, w).transpose(1, 0, 2, 3)).astype(dtype)


def op_case(name: str, geom: Geometry, rng: np.random.Generator, dtype=np.float64, rank: int = 2) -> OpCase:
    """Build the op call ``name`` (one of OP_NAMES) on geometry ``geom`` with random arrays,
    calling the active tier's functions (``lrlc_np.tiers``)."""
    from lrlc_np import tiers

    ops = tiers.active()

    def a(*shape):
        return arrays(rng, shape, dtype)

    n, c_in, c_out, (h_out, w_out) = geom.n, geom.c_in, geom.c_out, geom.out_hw
    kh, kw = geom.kernel
    s, p = geom.stride, geom.padding
    x = a(*geom.x_shape)
    if name.startswith("conv2d"):
        bias = None if name.endswith("no_bias") else a(c_out)
        return OpCase(name, lambda x, weight, bias: ops.conv2d_forward(x, weight, bias, s, p),
                      ops.conv2d_backward, dict(x=x, weight=a(c_out, c_in, kh, kw), bias=bias),
                      ("x", "weight", "bias"))
    if name.startswith("locally_connected2d"):
        bias = None if name.endswith("no_bias") else a(c_out, h_out, w_out)
        return OpCase(name, lambda x, weight, bias: ops.locally_connected2d_forward(x, weight, bias, s, p),
                      ops.locally_connected2d_backward,
                      dict(x=x, weight=a(h_out, w_out, c_out, c_in, kh, kw), bias=bias),
                      ("x", "weight", "bias"))
    if name.startswith("combining"):
        normalize = name.split("_")[1]
        shape = (n, rank, h_out, w_out) if name.endswith("per_example") else (rank, h_out, w_out)
        return OpCase(name, lambda logits: ops.combining_weights_forward(logits, normalize),
                      ops.combining_weights_backward, dict(logits=a(*shape)), ("logits",))
    if name.startswith("lrlc2d"):
        per_example = name.endswith("per_example")
        method = "conv" if per_example else name.split("_")[1]
        alpha = a(n, rank, h_out, w_out) if per_example else a(rank, h_out, w_out)
        return OpCase(name, lambda x, bases, alpha: ops.lrlc2d_forward(x, bases, alpha, s, p, method),
                      ops.lrlc2d_backward, dict(x=x, bases=a(rank, c_out, c_in, kh, kw), alpha=alpha),
                      ("x", "bases", "alpha"))
    if name.startswith("dense"):
        d_in = c_in * geom.h
        bias = None if name.endswith("no_bias") else a(c_out)
        return OpCase(name, ops.dense_forward, ops.dense_backward,
                      dict(x=a(n, d_in), weight=a(c_out, d_in), bias=bias), ("x", "weight", "bias"))
    if name == "relu":
        return OpCase(name, ops.relu_forward, ops.relu_backward, dict(x=away_from_zero(x)), ("x",))
    if name.startswith("batchnorm2d"):
        training = name.endswith("train")
        running_mean = a(c_in)
        running_var = (0.5 + rng.random(c_in)).astype(dtype)

        def forward(x, weight, bias):
            # fresh copies: training mode updates the running statistics in place
            return ops.batchnorm2d_forward(x, weight, bias, running_mean.copy(), running_var.copy(),
                                           training=training)

        return OpCase(name, forward, ops.batchnorm2d_backward,
                      dict(x=spread_channels(rng, geom.x_shape, dtype), weight=a(c_in), bias=a(c_in)),
                      ("x", "weight", "bias"))
    if name == "global_avg_pool2d":
        return OpCase(name, ops.global_avg_pool2d_forward, ops.global_avg_pool2d_backward,
                      dict(x=x), ("x",))
    if name == "softmax_cross_entropy":
        classes = c_out + 1
        return OpCase(name, ops.softmax_cross_entropy_forward, ops.softmax_cross_entropy_backward,
                      dict(logits=a(n, classes), labels=rng.integers(0, classes, size=n)), ("logits",))
    raise ValueError(f"op_case: unknown op {name!r}; expected one of {OP_NAMES}")


# --------------------------------------------------------------------------- layer set-ups
# Used by the layer-level tests (tests/test_layers_*.py): a drawn configuration of one layer
# kind plus a seed; ``LayerSetup.build(dtype)`` makes the layer and an input for it, the same
# numbers every time, so one draw can be built twice (float32 and float64, two methods, ...).

from hypothesis import assume  # noqa: E402  (kept with the helpers that use it)

LAYER_KINDS = ("conv", "lc", "lrlc", "dense", "relu", "batchnorm", "pool", "flatten", "sequential")
LRLC_INITS = ("conv", "random")
LRLC_METHODS = ("auto", "conv", "lc")


@st.composite
def lrlc_options(draw, combining=None, normalize=None, init=None, method=None, rank=None):
    """Keyword arguments of LowRankLocallyConnected2D besides the geometry; any option given
    here is fixed, the others are drawn (rank 1-4, every mode, normalisation, init, method,
    bias and spatial bias on or off)."""

    def pick(value, strategy, label):
        return value if value is not None else draw(strategy, label=label)

    return dict(
        rank=pick(rank, ranks, "rank"),
        combining=pick(combining, combinings, "combining"),
        normalize=pick(normalize, normalizations, "normalize"),
        init=pick(init, st.sampled_from(LRLC_INITS), "init"),
        method=pick(method, st.sampled_from(LRLC_METHODS), "method"),
        bias=draw(st.booleans(), label="bias"),
        spatial_bias=draw(st.booleans(), label="spatial_bias"),
    )


def layer_relu_input(rng, shape, dtype=np.float64, margin=0.1):
    """Random values with |x| >= margin, so a finite-difference step never crosses ReLU's kink."""
    sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return (sign * (margin + np.abs(rng.standard_normal(shape)))).astype(dtype)


def layer_batchnorm_input(rng, shape, dtype=np.float64):
    """(N, C, H, W) values whose per-channel spread over (N, H, W) is about 1 or more.

    Each channel holds a shuffled ramp from -2 to 2 plus noise: batch norm divides by the
    batch standard deviation, and a near-constant channel would make finite differences
    inaccurate (the function bends on the scale of that deviation).
    """
    n, c, h, w = shape
    m = n * h * w
    ramp = np.linspace(-2.0, 2.0, m)
    values = np.stack([rng.permutation(ramp) + 0.2 * rng.standard_normal(m) for _ in range(c)])
    return np.ascontiguousarray(values.reshape(c, n, h, w).transpose(1, 0, 2, 3)).astype(dtype)


@dataclass(frozen=True)
class LayerSetup:
    """One drawn layer: its kind, geometry, options (sorted (name, value) pairs) and seed."""

    kind: str
    geometry: Geometry
    options: tuple
    seed: int

    @property
    def opts(self) -> dict:
        return dict(self.options)

    def build(self, dtype=np.float64):
        """-> (layer, x): the layer with parameters from ``default_rng(seed)`` and an input.

        Parameters that start at a constant (biases, batch norm's scale and shift, its running
        statistics) get random values too, so no gradient or identity is checked at a
        special point. The same setup builds the same numbers every time.
        """
        from lrlc_np import layers  # here, so that importing the strategies stays light

        g, o = self.geometry, self.opts
        rng = np.random.default_rng(self.seed)
        kw = dict(rng=rng, dtype=dtype)
        x = None
        if self.kind == "conv":
            layer = layers.Conv2D(g.c_in, g.c_out, g.kernel, g.stride, g.padding, bias=o["bias"], **kw)
        elif self.kind == "lc":
            layer = layers.LocallyConnected2D(g.c_in, g.c_out, g.kernel, (g.h, g.w), g.stride, g.padding,
                                              bias=o["bias"], **kw)
        elif self.kind == "lrlc":
            layer = layers.LowRankLocallyConnected2D(g.c_in, g.c_out, g.kernel, (g.h, g.w), stride=g.stride,
                                                     padding=g.padding, **o, **kw)
        elif self.kind == "dense":
            layer = layers.Dense(o["in_features"], o["out_features"], bias=o["bias"], **kw)
            x = arrays(rng, (g.n, o["in_features"]), dtype)
        elif self.kind == "relu":
            layer = layers.ReLU()
            x = layer_relu_input(rng, g.x_shape, dtype)
        elif self.kind == "batchnorm":
            layer = layers.BatchNorm2D(g.c_in, dtype=dtype)
            x = layer_batchnorm_input(rng, g.x_shape, dtype)
        elif self.kind == "pool":
            layer = layers.GlobalAvgPool2D()
        elif self.kind == "flatten":
            layer = layers.Flatten()
        elif self.kind == "sequential":
            layer = layers.Sequential(
                layers.Conv2D(g.c_in, g.c_out, g.kernel, g.stride, g.padding, bias=False, **kw),
                layers.BatchNorm2D(g.c_out, dtype=dtype),
                layers.ReLU(),
                layers.GlobalAvgPool2D(),
                layers.Dense(g.c_out, o["classes"], **kw),
            )
        else:
            raise ValueError(f"LayerSetup: unknown kind {self.kind!r}, expected one of {LAYER_KINDS}")
        # constant starting values (biases, batch norm's affine parameters and running
        # statistics) -> random ones, same shapes and dtype
        for sub in layer.layers if isinstance(layer, layers.Sequential) else [layer]:
            for name, p in sub.params.items():
                if "bias" in name or isinstance(sub, layers.BatchNorm2D):
                    p[...] = rng.standard_normal(p.shape)
            for name, b in sub.buffers.items():
                b[...] = rng.standard_normal(b.shape) if name == "running_mean" else rng.uniform(0.5, 2.0, b.shape)
        if x is None:
            x = arrays(rng, g.x_shape, dtype)
        return layer, x


@st.composite
def layer_setups(draw, kind, max_size=9, max_channels=4, **fixed_lrlc_options):
    """A LayerSetup of the given kind (one of LAYER_KINDS) over a drawn geometry.

    max_size / max_channels shrink the geometry for the costliest checks. For "lrlc",
    keyword arguments fix options of ``lrlc_options`` (e.g. combining="row").
    """
    g = draw(geometries(max_size=max_size, max_channels=max_channels), label="geometry")
    options = {}
    if kind in ("conv", "lc", "dense"):
        options["bias"] = draw(st.booleans(), label="bias")
    if kind == "lrlc":
        options.update(draw(lrlc_options(**fixed_lrlc_options), label="lrlc_options"))
    if kind == "dense":
        options["in_features"] = draw(st.integers(1, 8), label="in_features")
        options["out_features"] = draw(st.integers(1, 8), label="out_features")
    if kind == "batchnorm":
        assume(g.n * g.h * g.w >= 2)  # training mode needs two values per channel
    if kind == "sequential":
        h_out, w_out = g.out_hw
        assume(g.n * h_out * w_out >= 4)  # batch norm after the conv: a spread-out batch
        options["classes"] = draw(st.integers(1, 4), label="classes")
    seed = draw(seeds, label="seed")
    return LayerSetup(kind, g, tuple(sorted(options.items())), seed)


# --------------------------------------------------------------------------- depthwise geometries
# Used by tests/test_ops_input_dependent.py: depthwise convolution (stride 1) with dilation.


@dataclass(frozen=True)
class DepthwiseGeometry:
    n: int
    c: int
    h: int
    w: int
    kernel: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int]

    @property
    def out_hw(self) -> tuple[int, int]:
        (kh, kw), (dh, dw), (ph, pw) = self.kernel, self.dilation, self.padding
        return self.h + 2 * ph - dh * (kh - 1), self.w + 2 * pw - dw * (kw - 1)

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c, self.h, self.w)

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.c, 1, *self.kernel)


@st.composite
def depthwise_geometries(draw, max_batch=2, max_channels=3, max_size=20, max_kernel=3,
                         max_dilation=8, max_padding=3):
    """A valid depthwise geometry: batch 1-2, channels 1-3, H and W 1-20 drawn separately,
    padding 0-3, kernel 1-3 no larger than the padded input, then a dilation 1-8 with which
    the dilated kernel, dilation*(k - 1) + 1 taps wide, still fits the padded input."""
    n = draw(st.integers(1, max_batch), label="batch")
    c = draw(st.integers(1, max_channels), label="channels")
    h = draw(st.integers(1, max_size), label="height")
    w = draw(st.integers(1, max_size), label="width")
    ph = draw(st.integers(0, max_padding), label="pad_h")
    pw = draw(st.integers(0, max_padding), label="pad_w")
    kh = draw(st.integers(1, min(max_kernel, h + 2 * ph)), label="kernel_h")
    kw = draw(st.integers(1, min(max_kernel, w + 2 * pw)), label="kernel_w")

    def dilations(size, k):   # the largest dilation whose span fits: d*(k - 1) + 1 <= size
        return st.integers(1, max_dilation if k == 1 else min(max_dilation, (size - 1) // (k - 1)))

    dh = draw(dilations(h + 2 * ph, kh), label="dilation_h")
    dw = draw(dilations(w + 2 * pw, kw), label="dilation_w")
    return DepthwiseGeometry(n, c, h, w, (kh, kw), (dh, dw), (ph, pw))
