"""The fast tier's building blocks, checked on their own: the strided im2col on both memory
layouts, batch norm's one-read statistics, and the fast
ReLU's cache. (Every fast op is also checked against the clear tier in the op and layer
tests, through ``each_tier``.) No assertion here is about speed."""

from __future__ import annotations

import numpy as np
import pytest

from lrlc_np import fast, ops
from lrlc_np.fast.activations import FastReLUCache
from lrlc_np.fast.nhwc import im2col_nhwc
from lrlc_np.fast.normalization import _chunked_mean_var, channels_last_rows


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), ((1, 2), (2, 0))])
def test_im2col_nhwc_is_im2col_in_channels_last_order_for_both_memory_layouts(stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    x_nhwc_memory = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    expected = ops.im2col(x, 3, stride, padding)                       # rows (n, i, j), columns (c, p, q)
    for source in (x, x_nhwc_memory):
        cols = im2col_nhwc(source, 3, stride, padding)                  # (N, H_out, W_out, p, q, c)
        assert cols.flags.c_contiguous
        got = cols.transpose(0, 1, 2, 5, 3, 4).reshape(expected.shape)  # columns (c, p, q)
        np.testing.assert_array_equal(got, expected)
    out = np.empty_like(cols)
    assert im2col_nhwc(x, 3, stride, padding, out=out) is out


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_chunked_mean_var_is_accurate_in_float32(chunk):
    """Per-chunk statistics combined exactly: the float64 answer to float32 accuracy, even
    with a large offset, where sum(x^2) - sum(x)^2 / M would lose every digit."""
    rng = np.random.default_rng(1)
    x = (1000 + rng.standard_normal((10, 5, 4, 3))).astype(np.float32)
    mean, var = _chunked_mean_var(channels_last_rows(x), 5, chunk, np)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(var, x64.var(axis=(0, 2, 3)), rtol=1e-3)
    assert mean.dtype == np.float32 and var.dtype == np.float32


def test_fast_relu_keeps_its_output_as_the_cache_and_matches_the_clear_one():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    x_before = x.copy()
    y, cache = fast.relu_forward(x)
    assert isinstance(cache, FastReLUCache) and cache.y is y
    dy = rng.standard_normal(x.shape).astype(np.float32)
    y_clear, cache_clear = ops.relu_forward(x)
    np.testing.assert_array_equal(y, y_clear)
    np.testing.assert_array_equal(fast.relu_backward(dy, cache), ops.relu_backward(dy, cache_clear))
    np.testing.assert_array_equal(x, x_before)                         # the input is not touched
    scalar_y, scalar_cache = fast.relu_forward(np.float32(-2.0) * np.ones((), np.float32))
    assert float(scalar_y) == 0.0 and float(fast.relu_backward(np.ones((), np.float32), scalar_cache)) == 0.0
