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
