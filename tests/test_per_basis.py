"""LRLC with a kernel size and a dilation per basis ('same' padding), and padding="same".

The op is checked against the loop definition (``reference.lrlc2d_per_basis``, which reads
the unpadded input with bounds checks, a different route from the op's padded im2col) and
the layer against centred finite differences in float64, with hypothesis drawing the rank,
every basis's kernel size and dilation, the image and batch sizes and shared or per-example
combining weights. Both tiers run every test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrlc_np import reference
from lrlc_np.gradcheck import layer_gradients, relative_error
from lrlc_np.layers import Conv2D, LocallyConnected2D, LowRankLocallyConnected2D

from .conftest import T

pytestmark = pytest.mark.usefixtures("each_tier")   # every test runs on both tiers (T)

TOLERANCE = 1e-5      # relative_error of a correct backward pass is about 1e-9 in float64


@st.composite
def per_basis_cases(draw):
    rank = draw(st.integers(1, 3))
    kernels = [(draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 3]))) for _ in range(rank)]
    dilations = [draw(st.integers(1, 3)) for _ in range(rank)]
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    per_example = draw(st.booleans())
    seed = draw(st.integers(0, 2 ** 16))
    return rank, kernels, dilations, (n, c_in, h, w), c_out, per_example, seed


@given(per_basis_cases())
def test_op_matches_the_loop_definition(case):
    rank, kernels, dilations, x_shape, c_out, per_example, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    bases = [rng.standard_normal((c_out, x_shape[1], kh, kw)) for kh, kw in kernels]
    alpha = rng.standard_normal((x_shape[0], rank, *x_shape[2:]) if per_example else (rank, *x_shape[2:]))
    x_before = x.copy()
    y, cache = T.lrlc2d_per_basis_forward(x, bases, alpha, dilations)
    np.testing.assert_allclose(y, reference.lrlc2d_per_basis(x, bases, alpha, dilations), rtol=1e-10, atol=1e-10)
    dy = rng.standard_normal(y.shape)
    dx, dbases, dalpha = T.lrlc2d_per_basis_backward(dy, cache)
    rx, rbases, ralpha = reference.lrlc2d_per_basis_backward(dy, x, bases, alpha, dilations)
    np.testing.assert_allclose(dx, rx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dalpha, ralpha, rtol=1e-10, atol=1e-10)
    for got, want in zip(dbases, rbases):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    assert np.array_equal(x, x_before)                                   # the input is not changed


@given(per_basis_cases(), st.sampled_from(["row_col", "full"]), st.sampled_from(["softmax", "norm", "none"]))
def test_layer_gradients_match_finite_differences(case, combining, normalize):
    rank, kernels, dilations, x_shape, c_out, _, seed = case
    rng = np.random.default_rng(seed)
    layer = LowRankLocallyConnected2D(x_shape[1], c_out, kernels, x_shape[2:], rank, padding="same",
                                      dilations=dilations, combining=combining, normalize=normalize,
                                      init="random", rng=rng, dtype=np.float64)
    for name, p in layer.params.items():
        if "bias" in name:
            p[...] = rng.standard_normal(p.shape)
    grads = layer_gradients(layer, rng.standard_normal(x_shape), rng=rng)
    assert {f"bases.{k}" for k in range(rank)} <= set(grads)
    for name, (analytic, numeric) in grads.items():
        assert relative_error(analytic, numeric) <= TOLERANCE, name


def test_input_dependent_per_basis_layer_gradients():
    rng = np.random.default_rng(4)
    layer = LowRankLocallyConnected2D(2, 3, [3, 5], (7, 7), 2, padding="same", dilations=[2, 1],
                                      input_dependent=True, rng=rng, dtype=np.float64)
    for name, (analytic, numeric) in layer_gradients(layer, rng.standard_normal((2, 2, 7, 7)), rng=rng).items():
        assert relative_error(analytic, numeric) <= TOLERANCE, name


def test_one_kernel_and_dilation_one_is_the_ordinary_layer():
    """Per basis with the same 3x3 kernel and dilation 1 computes what lrlc2d with padding 1 does."""
    rng = np.random.default_rng(0)
    x, bases, alpha = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 4, 3, 3, 3)), rng.standard_normal((2, 6, 5))
    y, _ = T.lrlc2d_per_basis_forward(x, list(bases), alpha, [1, 1])
    expected, _ = T.lrlc2d_forward(x, bases, alpha, 1, 1, "conv")
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_a_dilated_basis_reads_taps_d_pixels_apart():
    """A 3x1 basis of ones with dilation 2 sums x at rows i - 2, i, i + 2 (zero outside)."""
    x = np.arange(7.0).reshape(1, 1, 7, 1)
    y, _ = T.lrlc2d_per_basis_forward(x, [np.ones((1, 1, 3, 1))], np.ones((1, 7, 1)), [2])
    assert y.ravel().tolist() == [0 + 2, 1 + 3, 0 + 2 + 4, 1 + 3 + 5, 2 + 4 + 6, 3 + 5, 4 + 6]


def test_per_basis_settings_are_checked():
    with pytest.raises(ValueError, match="padding='same'"):
        LowRankLocallyConnected2D(2, 2, [3, 5], (6, 6), 2)
    with pytest.raises(ValueError, match="2 kernel sizes and 2 dilations"):
        LowRankLocallyConnected2D(2, 2, [3, 5, 1], (6, 6), 2, padding="same")
    with pytest.raises(ValueError, match="stride 1"):
        LowRankLocallyConnected2D(2, 2, [3, 5], (6, 6), 2, padding="same", stride=2)
    with pytest.raises(ValueError, match="does not split evenly"):
        LowRankLocallyConnected2D(2, 2, [4, 3], (6, 6), 2, padding="same")
    with pytest.raises(ValueError, match="method 'lc'"):
        LowRankLocallyConnected2D(2, 2, [3, 5], (6, 6), 2, padding="same", method="lc")
    layer = LowRankLocallyConnected2D(2, 2, [3, 5], (6, 6), 2, padding="same")
    with pytest.raises(ValueError, match="no\\s+single effective LC weight"):
        layer.effective_weight()


@pytest.mark.parametrize("make", [
    lambda pad: Conv2D(2, 3, (3, 5), padding=pad, rng=np.random.default_rng(0), dtype=np.float64),
    lambda pad: LocallyConnected2D(2, 3, (3, 5), (6, 7), padding=pad, rng=np.random.default_rng(0), dtype=np.float64),
    lambda pad: LowRankLocallyConnected2D(2, 3, (3, 5), (6, 7), 2, padding=pad, rng=np.random.default_rng(0),
                                          dtype=np.float64),
])
def test_same_padding_keeps_the_size_and_equals_the_explicit_padding(make):
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 7))
    same, explicit = make("same"), make((1, 2))
    assert same.padding == (1, 2)
    y = same(x)
    assert y.shape[2:] == (6, 7)
    np.testing.assert_array_equal(y, explicit(x))
    for name, (analytic, numeric) in layer_gradients(same, x, rng=np.random.default_rng(2)).items():
        assert relative_error(analytic, numeric) <= TOLERANCE, name


def test_same_padding_needs_stride_1_and_odd_kernels():
    with pytest.raises(ValueError, match="stride 1"):
        Conv2D(2, 3, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="does not split evenly"):
        Conv2D(2, 3, 2, padding="same")
    with pytest.raises(ValueError, match="'same'"):
        Conv2D(2, 3, 3, padding="valid")
