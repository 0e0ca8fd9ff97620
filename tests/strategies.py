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
    """Build the op call ``name`` (one of OP_NAMES) on geometry ``geom`` with random arrays."""
    from lrlc_np import ops

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
