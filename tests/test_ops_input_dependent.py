"""The ops of the input-dependent combining network: depthwise convolution with dilation,
bilinear resizing (aligned corners), sigmoid, channel concatenation and the spatial mean.

Each op is held to the same oracles as the layers' ops, cheapest first: hand-worked
examples with the numbers written out; the naive loops of ``lrlc_np.reference``; an
independent route (conv2d with a block-diagonal dilated kernel, ``scipy.ndimage``'s linear
interpolation, ``scipy.special.expit``); float64 finite differences of every backward pass
with a random dy at ``relative_error <= 1e-5`` (``assert_gradients``). Forward, reference
and gradient checks run on each backend (``backend_name``: NumPy, and CuPy where a GPU is
present). Then the contract every backward pass keeps (no mutation, no array sharing
memory with dy, repeatable), float32 in float32 out, and bad input rejected with a message
that names the op, what it expected and what it got.

Depthwise geometries reach dilation 8 on inputs up to 20x20 (``depthwise_geometries``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrlc_np import ops, reference
from lrlc_np.backend import to_numpy

from .conftest import BACKEND_PARAMS, on_backend, use_backend
from .strategies import OpCase, arrays, depthwise_geometries, seeds
from .test_ops_errors import assert_helpful_error
from .test_ops_gradients import assert_backward_contract, assert_gradients
from .test_ops_reference import assert_close, run_on

# (N, C, H, W) and output sizes for resizing: small, non-square, up- and downsampling
resize_sizes = st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 7), st.integers(1, 7))
out_sizes = st.tuples(st.integers(1, 9), st.integers(1, 9))


@st.composite
def concat_shapes(draw):
    """Shapes of 1-3 arrays that concatenate: equal N, H, W; channels 1-3 each."""
    n = draw(st.integers(1, 2), label="batch")
    h = draw(st.integers(1, 5), label="height")
    w = draw(st.integers(1, 5), label="width")
    channels = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3), label="channels")
    return [(n, c, h, w) for c in channels]


def block_diagonal_dilated(weight, dilation):
    """The conv2d weight (C, C, dh*(kh-1)+1, dw*(kw-1)+1) equal to a depthwise weight: channel
    c's kernel on the diagonal, its taps dh rows and dw columns apart, zeros in between."""
    c, _, kh, kw = weight.shape
    dh, dw = dilation
    full = np.zeros((c, c, dh * (kh - 1) + 1, dw * (kw - 1) + 1))
    for ch in range(c):
        full[ch, ch, ::dh, ::dw] = weight[ch, 0]
    return full


# --- depthwise convolution ------------------------------------------------------------------


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
def test_depthwise_conv2d_hand_worked_dilation(backend_name):
    """x[i, j] = 5i + j + 1 on a 5x5 grid, kernel [[1, 0], [0, 1]] with dilation 2: each output
    adds the pixel and the one two rows down and two columns right, and H_out = 5 - 2*1 = 3:

        y[i, j] = (5i + j + 1) + (5(i + 2) + (j + 2) + 1) = 10i + 2j + 14

    The second channel has kernel [[0, 0], [0, -1]] and bias 0.5: y = 0.5 - x[i + 2, j + 2].
    """
    grid = np.arange(1.0, 26.0).reshape(5, 5)
    x = np.stack([grid, grid])[None]
    weight = np.array([[[[1.0, 0.0], [0.0, 1.0]]], [[[0.0, 0.0], [0.0, -1.0]]]])
    y = run_on(backend_name, ops.depthwise_conv2d_forward, x, weight, np.array([0.0, 0.5]), dilation=2)
    assert y.shape == (1, 2, 3, 3)
    np.testing.assert_array_equal(y[0, 0], [[14.0, 16.0, 18.0], [24.0, 26.0, 28.0], [34.0, 36.0, 38.0]])
    np.testing.assert_array_equal(y[0, 1], 0.5 - grid[2:, 2:])


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
def test_depthwise_conv2d_same_padding_keeps_the_size(backend_name):
    """A 3x3 kernel with dilation d and padding d keeps H x W; the centre tap alone (a one-hot
    kernel) gives back x, whatever the dilation."""
    rng = np.random.default_rng(0)
    x = arrays(rng, (2, 3, 11, 7))
    weight = np.zeros((3, 1, 3, 3))
    weight[:, 0, 1, 1] = 1.0
    for d in (1, 2, 5):
        y = run_on(backend_name, ops.depthwise_conv2d_forward, x, weight, None, dilation=d, padding=d)
        np.testing.assert_array_equal(y, x, err_msg=f"dilation {d}")


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=depthwise_geometries(), with_bias=st.booleans(), seed=seeds)
def test_depthwise_conv2d_matches_reference(backend_name, geom, with_bias, seed):
    """depthwise_conv2d_forward equals the nested loops of reference.depthwise_conv2d."""
    rng = np.random.default_rng(seed)
    x, weight = arrays(rng, geom.x_shape), arrays(rng, geom.weight_shape)
    bias = arrays(rng, (geom.c,)) if with_bias else None
    y = run_on(backend_name, ops.depthwise_conv2d_forward, x, weight, bias, geom.dilation, geom.padding)
    assert y.shape == (geom.n, geom.c, *geom.out_hw)
    expected = reference.depthwise_conv2d(x, weight, bias, geom.dilation, geom.padding)
    assert_close(y, expected, f"depthwise_conv2d {geom}")


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=depthwise_geometries(), with_bias=st.booleans(), seed=seeds)
def test_depthwise_conv2d_is_conv2d_with_a_block_diagonal_dilated_kernel(backend_name, geom, with_bias, seed):
    """Depthwise convolution is the convolution whose weight (C, C, ...) holds channel c's
    kernel at [c, c] only, spread out by the dilation with zeros between the taps."""
    rng = np.random.default_rng(seed)
    x, weight = arrays(rng, geom.x_shape), arrays(rng, geom.weight_shape)
    bias = arrays(rng, (geom.c,)) if with_bias else None
    y = run_on(backend_name, ops.depthwise_conv2d_forward, x, weight, bias, geom.dilation, geom.padding)
    expected = run_on(backend_name, ops.conv2d_forward, x, block_diagonal_dilated(weight, geom.dilation),
                      bias, 1, geom.padding)
    assert_close(y, expected, f"depthwise_conv2d vs conv2d {geom}")


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=depthwise_geometries(), with_bias=st.booleans(), seed=seeds)
def test_depthwise_conv2d_gradients(backend_name, geom, with_bias, seed):
    """depthwise_conv2d_backward: dx, dweight and dbias (None without bias) are the VJP."""
    rng = np.random.default_rng(seed)
    inputs = dict(
        x=arrays(rng, geom.x_shape),
        weight=arrays(rng, geom.weight_shape),
        bias=arrays(rng, (geom.c,)) if with_bias else None,
    )

    def forward(x, weight, bias):
        return ops.depthwise_conv2d_forward(x, weight, bias, geom.dilation, geom.padding)

    with use_backend(backend_name):
        assert_gradients("depthwise_conv2d", forward, ops.depthwise_conv2d_backward, inputs,
                         ("x", "weight", "bias"), rng)


# --- bilinear resize ------------------------------------------------------------------------


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
def test_bilinear_resize_hand_worked_2x2_to_3x3(backend_name):
    """[[0, 1], [2, 3]] to 3x3: output rows/columns 0, 1, 2 sample input coordinates
    0, 0.5, 1 (i * (2 - 1) / (3 - 1)). The corners stay, the edge midpoints average two
    pixels, the centre averages all four: (0 + 1 + 2 + 3) / 4 = 1.5."""
    x = np.array([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 1, 2, 2)
    y = run_on(backend_name, ops.bilinear_resize_forward, x, 3)
    assert y.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(y[0, 0], [[0.0, 0.5, 1.0], [1.0, 1.5, 2.0], [2.0, 2.5, 3.0]])


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
def test_bilinear_resize_hand_worked_edge_sizes(backend_name):
    """One input row (H = 1): every output row copies it; along W, 3 -> 5 samples columns
    0, 0.5, 1, 1.5, 2 of [0, 4, 8]. One output pixel (out_size 1) samples coordinate 0,
    the top-left pixel. 3 -> 2 keeps the two ends, [0, 8]."""
    x = np.array([[0.0, 4.0, 8.0]]).reshape(1, 1, 1, 3)
    y = run_on(backend_name, ops.bilinear_resize_forward, x, (2, 5))
    np.testing.assert_array_equal(y[0, 0], [[0.0, 2.0, 4.0, 6.0, 8.0]] * 2)
    corner = np.array([[5.0, 1.0], [2.0, 3.0]]).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(run_on(backend_name, ops.bilinear_resize_forward, corner, 1), [[[[5.0]]]])
    np.testing.assert_array_equal(run_on(backend_name, ops.bilinear_resize_forward, x, (1, 2)), [[[[0.0, 8.0]]]])


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(size=resize_sizes, out=out_sizes, seed=seeds)
def test_bilinear_resize_matches_reference(backend_name, size, out, seed):
    """bilinear_resize_forward equals the per-pixel loops of reference.bilinear_resize
    (PyTorch's align_corners=True kernel, written out)."""
    x = arrays(np.random.default_rng(seed), size)
    y = run_on(backend_name, ops.bilinear_resize_forward, x, out)
    assert y.shape == (*size[:2], *out)
    assert_close(y, reference.bilinear_resize(x, out), f"bilinear_resize {size} -> {out}")


@given(size=resize_sizes, out=out_sizes, seed=seeds)
def test_bilinear_resize_matches_scipy_map_coordinates(size, out, seed):
    """Per channel, scipy.ndimage.map_coordinates with linear interpolation (order=1) at the
    aligned-corner coordinates i * (H - 1) / (H_out - 1), j * (W - 1) / (W_out - 1)."""
    from scipy.ndimage import map_coordinates

    x = arrays(np.random.default_rng(seed), size)
    (h, w), (h_out, w_out) = size[2:], out
    rows = np.arange(h_out) * (h - 1) / (h_out - 1) if h_out > 1 else np.zeros(1)
    cols = np.arange(w_out) * (w - 1) / (w_out - 1) if w_out > 1 else np.zeros(1)
    grid = np.stack(np.meshgrid(rows, cols, indexing="ij"))           # (2, H_out, W_out)
    expected = np.stack([[map_coordinates(x[n, c], grid, order=1, mode="nearest")
                          for c in range(size[1])] for n in range(size[0])])
    y, _ = ops.bilinear_resize_forward(x, out)
    assert_close(y, expected, f"bilinear_resize vs scipy {size} -> {out}")


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(size=resize_sizes, seed=seeds)
def test_bilinear_resize_to_the_same_size_is_the_identity(backend_name, size, seed):
    """out_size == (H, W): every output pixel lands on its input pixel, so y == x exactly."""
    x = arrays(np.random.default_rng(seed), size)
    np.testing.assert_array_equal(run_on(backend_name, ops.bilinear_resize_forward, x, size[2:]), x)


@given(in_size=st.integers(1, 12), out_size=st.integers(1, 12))
def test_interpolation_matrix_rows(in_size, out_size):
    """Each row of R (out_size, in_size): non-negative, sums to 1, at most two nonzeros, and
    those adjacent; the first row picks input 0 and the last row input in_size - 1."""
    r = ops.interpolation_matrix(in_size, out_size, np, np.float64)
    assert r.shape == (out_size, in_size) and r.dtype == np.float64
    assert np.all(r >= 0)
    np.testing.assert_allclose(r.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    for i, row in enumerate(r):
        nonzero = np.flatnonzero(row)
        assert 1 <= len(nonzero) <= 2 and nonzero[-1] - nonzero[0] <= 1, f"row {i}: {row}"
    assert r[0, 0] == 1.0
    if out_size > 1:
        assert r[-1, -1] == 1.0


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(size=resize_sizes, out=out_sizes, seed=seeds)
def test_bilinear_resize_gradient(backend_name, size, out, seed):
    """bilinear_resize_backward: dx = R_h^T dy R_w is the VJP."""
    rng = np.random.default_rng(seed)

    def forward(x):
        return ops.bilinear_resize_forward(x, out)

    with use_backend(backend_name):
        assert_gradients("bilinear_resize", forward, ops.bilinear_resize_backward,
                         dict(x=arrays(rng, size)), ("x",), rng)


# --- sigmoid --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(size=resize_sizes, seed=seeds)
def test_sigmoid_gradient(backend_name, size, seed):
    """sigmoid_backward: dx = dy * s * (1 - s) is the VJP (inputs spread over about [-9, 9])."""
    rng = np.random.default_rng(seed)
    with use_backend(backend_name):
        assert_gradients("sigmoid", ops.sigmoid_forward, ops.sigmoid_backward,
                         dict(x=3.0 * arrays(rng, size)), ("x",), rng)


HUGE = [-1e4, -1e3, -100.0, -89.0, -30.0, -1.0, 0.0, 1.0, 30.0, 89.0, 100.0, 1e3, 1e4]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(scale=st.sampled_from([1.0, 100.0, 1e4]), seed=seeds)
def test_sigmoid_is_stable_and_exact(backend_name, dtype, scale, seed):
    """Inputs up to |x| = 1e4, where exp(-x) overflows, give no warning (on NumPy, warnings
    are errors and overflow, division and invalid operations raise), finite outputs equal to
    scipy.special.expit, s(x) + s(-x) = 1, and a finite dx = dy * s * (1 - s)."""
    from scipy.special import expit

    rng = np.random.default_rng(seed)
    x = np.concatenate([HUGE, scale * rng.standard_normal(20)]).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    with use_backend(backend_name), warnings.catch_warnings(), \
            np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        xd, dyd = on_backend(x, dy)
        y, cache = ops.sigmoid_forward(xd)
        dx = ops.sigmoid_backward(dyd, cache)
        y_neg, _ = ops.sigmoid_forward(-xd)
        y, dx, y_neg = to_numpy(y), to_numpy(dx), to_numpy(y_neg)
    assert y.dtype == dtype and dx.dtype == dtype
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx)), f"not finite: y {y}, dx {dx}"
    assert np.all((y >= 0) & (y <= 1))
    # float32: y near 1 is rounded to a multiple of 6e-8, so 1 - y, and with it dx, carries
    # that much absolute error (times |dy|)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-16)
    x64 = x.astype(np.float64)
    expected, expected_neg = expit(x64), expit(-x64)     # s(-x) = 1 - s(x), without cancellation
    np.testing.assert_allclose(y, expected, **tol)
    np.testing.assert_allclose(y_neg, expected_neg, **tol)
    np.testing.assert_allclose(y + y_neg, 1.0, rtol=0, atol=2 * np.finfo(dtype).eps)
    np.testing.assert_allclose(dx, dy * expected * expected_neg, **tol)


# --- concat along channels, spatial mean ----------------------------------------------------


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(shapes=concat_shapes(), seed=seeds)
def test_concat_channels_values(backend_name, shapes, seed):
    """y (N, sum C_i, H, W) holds the inputs' channels side by side, in order, in a new array."""
    rng = np.random.default_rng(seed)
    parts = [arrays(rng, s) for s in shapes]
    with use_backend(backend_name) as xp:
        on_device = [on_backend(a) for a in parts]
        y, _ = ops.concat_channels_forward(on_device)
        shared = any(xp.shares_memory(y, a) for a in on_device)
        y = to_numpy(y)
    assert not shared, "y shares memory with an input"
    assert y.shape == (shapes[0][0], sum(s[1] for s in shapes), *shapes[0][2:])
    start = 0
    for i, a in enumerate(parts):
        np.testing.assert_array_equal(y[:, start : start + a.shape[1]], a, err_msg=f"block {i}")
        start += a.shape[1]


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(shapes=concat_shapes(), seed=seeds)
def test_concat_channels_gradients(backend_name, shapes, seed):
    """concat_channels_backward: dx_i, input i's block of dy, is the VJP for every input."""
    rng = np.random.default_rng(seed)
    names = tuple(f"a{i}" for i in range(len(shapes)))
    inputs = {name: arrays(rng, s) for name, s in zip(names, shapes)}

    def forward(**parts):
        return ops.concat_channels_forward([parts[name] for name in names])

    with use_backend(backend_name):
        assert_gradients("concat_channels", forward, ops.concat_channels_backward, inputs, names, rng)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(size=resize_sizes, seed=seeds)
def test_spatial_mean_values(backend_name, size, seed):
    """y (N, C, 1, 1) is the mean over H, W: global_avg_pool2d's numbers, kept 4-D."""
    x = arrays(np.random.default_rng(seed), size)
    y = run_on(backend_name, ops.spatial_mean_forward, x)
    assert y.shape == (*size[:2], 1, 1)
    assert_close(y, x.mean(axis=(2, 3), keepdims=True), f"spatial_mean {size}")
    assert_close(y[:, :, 0, 0], run_on(backend_name, ops.global_avg_pool2d_forward, x), "vs global_avg_pool2d")


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(size=resize_sizes, seed=seeds)
def test_spatial_mean_gradient(backend_name, size, seed):
    """spatial_mean_backward: dx = dy / (H*W) at every position is the VJP."""
    rng = np.random.default_rng(seed)
    with use_backend(backend_name):
        assert_gradients("spatial_mean", ops.spatial_mean_forward, ops.spatial_mean_backward,
                         dict(x=arrays(rng, size)), ("x",), rng)


@pytest.mark.parametrize("tier", ["clear", "fast"])
def test_spatial_mean_backward_gives_a_real_array(tier):
    """dx is a writable array of its own (no zero strides, not a broadcast view of dy); the
    fast tier's has NHWC memory like the activations it is added to."""
    from lrlc_np import tiers

    T = tiers.module(tier)
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    _, cache = T.spatial_mean_forward(x)
    dy = np.arange(6.0).reshape(2, 3, 1, 1)
    dx = T.spatial_mean_backward(dy, cache)
    assert dx.flags.writeable and 0 not in dx.strides
    assert dx.transpose(0, 2, 3, 1).flags.c_contiguous if tier == "fast" else dx.flags.c_contiguous
    assert not np.shares_memory(dx, dy)
    np.testing.assert_array_equal(dx, np.broadcast_to(dy / 4.0, x.shape))


# --- the contract every backward pass keeps, float32, dy shape ------------------------------

NEW_OP_NAMES = ("depthwise_conv2d", "depthwise_conv2d_no_bias", "bilinear_resize", "sigmoid",
                "concat_channels", "spatial_mean")


def new_op_case(name, geom, rng, dtype=np.float64):
    """One call of the op ``name`` (one of NEW_OP_NAMES) with random inputs built from ``geom``."""

    def a(*shape):
        return arrays(rng, shape, dtype)

    x = a(*geom.x_shape)
    if name.startswith("depthwise_conv2d"):
        bias = None if name.endswith("no_bias") else a(geom.c)
        return OpCase(name, lambda x, weight, bias: ops.depthwise_conv2d_forward(x, weight, bias, geom.dilation,
                                                                                 geom.padding),
                      ops.depthwise_conv2d_backward, dict(x=x, weight=a(*geom.weight_shape), bias=bias),
                      ("x", "weight", "bias"))
    if name == "bilinear_resize":
        out = (geom.h + geom.dilation[0] - 1, max(1, geom.w - geom.padding[1]))   # up and down
        return OpCase(name, lambda x: ops.bilinear_resize_forward(x, out), ops.bilinear_resize_backward,
                      dict(x=x), ("x",))
    if name == "sigmoid":
        return OpCase(name, ops.sigmoid_forward, ops.sigmoid_backward, dict(x=x), ("x",))
    if name == "concat_channels":
        return OpCase(name, lambda a0, a1: ops.concat_channels_forward([a0, a1]), ops.concat_channels_backward,
                      dict(a0=x, a1=a(geom.n, geom.c + 1, geom.h, geom.w)), ("a0", "a1"))
    if name == "spatial_mean":
        return OpCase(name, ops.spatial_mean_forward, ops.spatial_mean_backward, dict(x=x), ("x",))
    raise ValueError(f"new_op_case: unknown op {name!r}; expected one of {NEW_OP_NAMES}")


@pytest.mark.parametrize("name", NEW_OP_NAMES)
@given(geom=depthwise_geometries(max_size=9), seed=seeds)
def test_backward_leaves_inputs_alone_and_is_repeatable(name, geom, seed):
    """Every new op keeps the backward contract (``assert_backward_contract``)."""
    rng = np.random.default_rng(seed)
    assert_backward_contract(name, new_op_case(name, geom, rng), rng)


@pytest.mark.parametrize("name", NEW_OP_NAMES)
@given(geom=depthwise_geometries(max_size=9), seed=seeds)
def test_float32_stays_float32(name, geom, seed):
    """float32 in, float32 out (forward and every gradient), agreeing with float64 on the
    same numbers to float32 precision."""
    case32 = new_op_case(name, geom, np.random.default_rng(seed), dtype=np.float32)
    case64 = new_op_case(name, geom, np.random.default_rng(seed), dtype=np.float32)
    case64.inputs = {k: None if v is None else v.astype(np.float64) for k, v in case64.inputs.items()}
    y32, cache32 = case32.forward(**case32.inputs)
    assert y32.dtype == np.float32, f"{name}: forward gave {y32.dtype}"
    dy = np.random.default_rng(seed + 1).standard_normal(y32.shape).astype(np.float32)
    grads32 = case32.grads(dy, cache32)
    y64, cache64 = case64.forward(**case64.inputs)
    grads64 = case64.grads(dy.astype(np.float64), cache64)
    scale = max(1.0, float(np.max(np.abs(y64))))
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4 * scale, err_msg=f"{name}: y")
    for grad_name, g32, g64 in zip(case32.grad_names, grads32, grads64):
        if g32 is None:
            continue
        assert g32.dtype == np.float32, f"{name}: d{grad_name} is {g32.dtype}, expected float32"
        scale = max(1.0, float(np.max(np.abs(g64))))
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4 * scale, err_msg=f"{name}: d{grad_name}")


@pytest.mark.parametrize("name", NEW_OP_NAMES)
@given(geom=depthwise_geometries(max_size=9), seed=seeds)
def test_backward_rejects_dy_of_the_wrong_shape(name, geom, seed):
    """Every backward pass checks dy against the forward output's shape and names itself."""
    case = new_op_case(name, geom, np.random.default_rng(seed))
    y, cache = case.forward(**case.inputs)
    bad_shape = (*y.shape[:-1], y.shape[-1] + 1)
    owner = case.backward.__name__
    with pytest.raises(ValueError, match=owner) as info:
        case.grads(np.ones(bad_shape), cache)
    assert str(bad_shape) in str(info.value), str(info.value)


# --- bad input --------------------------------------------------------------------------------


def f64(*shape):
    return np.zeros(shape)


# A valid set-up each case breaks in one place: x (2, 4, 5, 5), 3x3 depthwise kernels.
X = f64(2, 4, 5, 5)
DW = f64(4, 1, 3, 3)
depthwise, resize = ops.depthwise_conv2d_forward, ops.bilinear_resize_forward
concat, mean, sigmoid = ops.concat_channels_forward, ops.spatial_mean_forward, ops.sigmoid_forward

# (id, exception, call, fragments that must appear in the message; the first is the op)
CASES = [
    # depthwise convolution
    ("depthwise-x-3d", ValueError, lambda: depthwise(f64(4, 5, 5), DW),
     ["depthwise_conv2d_forward", "4 dimensions", "(4, 5, 5)"]),
    ("depthwise-weight-3d", ValueError, lambda: depthwise(X, f64(4, 3, 3)),
     ["depthwise_conv2d_forward", "(C, 1, kh, kw)", "(4, 3, 3)"]),
    ("depthwise-channels", ValueError, lambda: depthwise(X, f64(3, 1, 3, 3)),
     ["depthwise_conv2d_forward", "(C, 1, kh, kw)", "C = 4", "(3, 1, 3, 3)"]),
    ("depthwise-weight-not-depthwise", ValueError, lambda: depthwise(X, f64(4, 4, 3, 3)),
     ["depthwise_conv2d_forward", "(C, 1, kh, kw)", "C = 4", "(4, 4, 3, 3)"]),
    ("depthwise-bias", ValueError, lambda: depthwise(X, DW, f64(3)), ["depthwise_conv2d_forward", "bias", "(4,)", "(3,)"]),
    ("depthwise-dilation-0", ValueError, lambda: depthwise(X, DW, dilation=0),
     ["depthwise_conv2d_forward", "dilation >= 1", "0"]),
    ("depthwise-dilation-pair", ValueError, lambda: depthwise(X, DW, dilation=(2, 0)),
     ["depthwise_conv2d_forward", "dilation >= 1", "(2, 0)"]),
    ("depthwise-dilation-float", TypeError, lambda: depthwise(X, DW, dilation=1.5),
     ["depthwise_conv2d_forward", "dilation", "int", "1.5"]),
    ("depthwise-padding-neg", ValueError, lambda: depthwise(X, DW, padding=-1),
     ["depthwise_conv2d_forward", "padding >= 0", "-1"]),
    ("depthwise-dilated-too-large", ValueError, lambda: depthwise(X, DW, dilation=(3, 1)),
     ["depthwise_conv2d_forward", "3x3", "dilation 3,1", "7x3", "5x5"]),
    ("depthwise-dilated-too-large-padded", ValueError, lambda: depthwise(X, DW, dilation=4, padding=1),
     ["depthwise_conv2d_forward", "9x9", "7x7"]),
    ("depthwise-x-int", TypeError, lambda: depthwise(X.astype(np.int64), DW),
     ["depthwise_conv2d_forward", "floating-point", "int64"]),
    ("depthwise-dtypes", TypeError, lambda: depthwise(X, DW.astype(np.float32)),
     ["depthwise_conv2d_forward", "weight", "float64", "float32"]),
    # bilinear resize
    ("resize-x-3d", ValueError, lambda: resize(f64(4, 5, 5), 3), ["bilinear_resize_forward", "4 dimensions", "(4, 5, 5)"]),
    ("resize-out-0", ValueError, lambda: resize(X, 0), ["bilinear_resize_forward", "out_size >= 1", "0"]),
    ("resize-out-pair", ValueError, lambda: resize(X, (3, -1)), ["bilinear_resize_forward", "out_size >= 1", "(3, -1)"]),
    ("resize-out-float", TypeError, lambda: resize(X, 2.5), ["bilinear_resize_forward", "out_size", "int", "2.5"]),
    ("resize-x-int", TypeError, lambda: resize(X.astype(np.int32), 3), ["bilinear_resize_forward", "floating-point", "int32"]),
    ("interpolation-in-0", ValueError, lambda: ops.interpolation_matrix(0, 3, np, np.float64),
     ["interpolation_matrix", "in_size >= 1", "0"]),
    # sigmoid, spatial mean
    ("sigmoid-int", TypeError, lambda: sigmoid(np.arange(3)), ["sigmoid_forward", "floating-point", "int64"]),
    ("mean-x-3d", ValueError, lambda: mean(f64(4, 5, 5)), ["spatial_mean_forward", "(N, C, H, W)", "(4, 5, 5)"]),
    ("mean-int", TypeError, lambda: mean(X.astype(np.int16)), ["spatial_mean_forward", "floating-point", "int16"]),
    # concat
    ("concat-empty", TypeError, lambda: concat([]), ["concat_channels_forward", "non-empty list", "length 0"]),
    ("concat-array", TypeError, lambda: concat(X), ["concat_channels_forward", "list", "ndarray"]),
    ("concat-3d", ValueError, lambda: concat([X, f64(2, 5, 5)]),
     ["concat_channels_forward", "arrays[1]", "4 dimensions", "(2, 5, 5)"]),
    ("concat-height", ValueError, lambda: concat([X, f64(2, 1, 4, 5)]),
     ["concat_channels_forward", "arrays[1]", "(2, *, 5, 5)", "(2, 1, 4, 5)"]),
    ("concat-batch", ValueError, lambda: concat([X, X, f64(3, 4, 5, 5)]),
     ["concat_channels_forward", "arrays[2]", "(2, *, 5, 5)", "(3, 4, 5, 5)"]),
    ("concat-dtypes", TypeError, lambda: concat([X, X.astype(np.float32)]),
     ["concat_channels_forward", "arrays[1]", "float64", "float32"]),
    ("concat-int", TypeError, lambda: concat([X, X.astype(np.int64)]),
     ["concat_channels_forward", "arrays[1]", "floating-point", "int64"]),
]


@pytest.mark.parametrize("exception, call, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_with_a_helpful_message(exception, call, fragments):
    """Each bad call raises the stated exception; the message names the op (first fragment),
    what was expected and what was received."""
    assert_helpful_error(exception, call, fragments)


@given(geom=depthwise_geometries(), extra=st.integers(1, 4))
def test_dilated_kernel_larger_than_padded_input_is_rejected(geom, extra):
    """A dilation that makes the kernel span more rows than the padded input has is rejected,
    and the message shows the span and the padded size."""
    (kh, kw), (ph, pw) = geom.kernel, geom.padding
    kh = max(kh, 2)
    dh = (geom.h + 2 * ph + extra - 1) // (kh - 1) + 1           # span dh*(kh-1)+1 > H + 2*ph
    span_h, span_w = dh * (kh - 1) + 1, geom.dilation[1] * (kw - 1) + 1
    with pytest.raises(ValueError, match="depthwise_conv2d_forward") as info:
        ops.depthwise_conv2d_forward(np.zeros(geom.x_shape), np.zeros((geom.c, 1, kh, kw)), None,
                                     (dh, geom.dilation[1]), geom.padding)
    message = str(info.value)
    assert f"{span_h}x{span_w}" in message and f"{geom.h + 2 * ph}x{geom.w + 2 * pw}" in message, message
