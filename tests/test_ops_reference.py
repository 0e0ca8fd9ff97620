"""Forward passes of ``lrlc_np.ops`` against independent oracles, cheapest first.

(a) hand-worked convolutions with the numbers written out; (b) the naive loops of
``lrlc_np.reference``; (c) ``scipy.signal.correlate``; (d) the adjoint identity
``<im2col(x), c> == <x, col2im(c)>``, which pins down col2im exactly; then the identities
that tie the three layers together (LRLC with K = 1 is a convolution, an LC layer whose
positions share one kernel is a convolution, LRLC is the LC layer of ``effective_weight``),
the combining-weight normalisations, and dtype preservation in float32.

Float64 comparisons use rtol = atol = 1e-10: the vectorised and loop versions add the
same products in a different order, which changes only the last few bits.

The comparisons run on each backend (``backend_name``: NumPy, and CuPy where a GPU is
present, skipped with the reason otherwise): the op runs there, on inputs drawn on the host,
and its output comes back to NumPy to meet the oracle.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lrlc_np import ops, reference
from lrlc_np.backend import get_array_module, to_numpy

from .conftest import T, BACKEND_PARAMS, on_backend, use_backend
from .strategies import OP_NAMES, arrays, geometries, op_case, ranks, seeds

pytestmark = pytest.mark.usefixtures("each_tier")   # every test runs on both tiers (T)

RTOL = ATOL = 1e-10  # float64, same sums in a different order


def assert_close(actual, expected, what):
    """Both sides as NumPy arrays (either may come from the backend under test)."""
    np.testing.assert_allclose(to_numpy(actual), to_numpy(expected), rtol=RTOL, atol=ATOL, err_msg=what)


def run_on(backend_name, op, *args, **kwargs):
    """``op(*args, **kwargs)`` with ``backend_name`` active and every NumPy-array argument
    moved there; the result (y of a (y, cache) pair) comes back as a NumPy array.
    Under NumPy the arrays pass through untouched: the call is the plain one."""
    with use_backend(backend_name):
        args = [on_backend(a) if isinstance(a, np.ndarray) else a for a in args]
        out = op(*args, **kwargs)
    return to_numpy(out[0] if isinstance(out, tuple) else out)


# --- (a) hand-worked examples ---------------------------------------------------------------


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
def test_conv2d_hand_worked_valid(backend_name):
    """x = 1..9 on a 3x3 grid, kernel [[1, 2], [3, 4]], stride 1, no padding, bias 0.5.

    Each output is the kernel laid over a 2x2 window, no flip:
        y[0,0] = 1*1 + 2*2 + 3*4 + 4*5 = 37      y[0,1] = 1*2 + 2*3 + 3*5 + 4*6 = 47
        y[1,0] = 1*4 + 2*5 + 3*7 + 4*8 = 67      y[1,1] = 1*5 + 2*6 + 3*8 + 4*9 = 77
    plus the bias 0.5.
    """
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    weight = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    y = run_on(backend_name, T.conv2d_forward, x, weight, np.array([0.5]))
    assert y.shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(y[0, 0], [[37.5, 47.5], [67.5, 77.5]])


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
def test_conv2d_hand_worked_stride_and_padding(backend_name):
    """The same x and kernel with padding 1 and stride 2: the padded input is 5x5,
    H_out = (3 + 2 - 2) // 2 + 1 = 2, windows start at padded rows/columns 0 and 2.

        y[0,0]: window rows 0-1, cols 0-1 holds only x[0,0] = 1, under kernel entry 4  -> 4
        y[0,1]: rows 0-1, cols 2-3 holds x[0,1] = 2, x[0,2] = 3 under 3, 4  -> 6 + 12 = 18
        y[1,0]: rows 2-3, cols 0-1 holds x[1,0] = 4, x[2,0] = 7 under 2, 4  -> 8 + 28 = 36
        y[1,1]: rows 2-3, cols 2-3 holds 5, 6, 8, 9 under 1, 2, 3, 4       -> 77
    """
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    weight = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    y = run_on(backend_name, T.conv2d_forward, x, weight, None, stride=2, padding=1)
    np.testing.assert_array_equal(y[0, 0], [[4.0, 18.0], [36.0, 77.0]])


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
def test_conv2d_hand_worked_channels_and_non_square_kernel(backend_name):
    """Two input channels (1..9 and all ones), a 1x3 kernel per channel, two filters.

    Filter 0 sums channel 0's row windows ([1, 0, -1] on channel 0, zeros on channel 1):
        row r of 1..9 is (3r+1, 3r+2, 3r+3), so y = (3r+1) - (3r+3) = -2 for every row.
    Filter 1 is [1, 1, 1] on channel 1 only: three ones -> 3 for every row.
    H_out = 3, W_out = 3 - 3 + 1 = 1.
    """
    x = np.stack([np.arange(1.0, 10.0).reshape(3, 3), np.ones((3, 3))])[None]
    weight = np.zeros((2, 2, 1, 3))
    weight[0, 0, 0] = [1.0, 0.0, -1.0]
    weight[1, 1, 0] = [1.0, 1.0, 1.0]
    y = run_on(backend_name, T.conv2d_forward, x, weight)
    assert y.shape == (1, 2, 3, 1)
    np.testing.assert_array_equal(y[0, :, :, 0], [[-2.0, -2.0, -2.0], [3.0, 3.0, 3.0]])


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
def test_locally_connected2d_hand_worked(backend_name):
    """x = 1..9 on a 3x3 grid, 2x2 windows, each output position with its own kernel that
    picks one pixel of its window: (0,0) the top-left, (0,1) the top-right, (1,0) the
    bottom-left, (1,1) the bottom-right. The windows start at (0,0), (0,1), (1,0), (1,1), so
    y = [[x[0,0], x[0,2]], [x[2,0], x[2,2]]] = [[1, 3], [7, 9]], plus bias [[0, 10], [20, 30]].
    """
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    weight = np.zeros((2, 2, 1, 1, 2, 2))
    for i in range(2):
        for j in range(2):
            weight[i, j, 0, 0, i, j] = 1.0
    bias = np.array([[[0.0, 10.0], [20.0, 30.0]]])
    y = run_on(backend_name, T.locally_connected2d_forward, x, weight, bias)
    np.testing.assert_array_equal(y[0, 0], [[1.0, 13.0], [27.0, 39.0]])


# --- (b) the loop references ----------------------------------------------------------------


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), with_bias=st.booleans(), seed=seeds)
def test_conv2d_matches_reference(backend_name, geom, with_bias, seed):
    """conv2d_forward equals the six nested loops of reference.conv2d."""
    rng = np.random.default_rng(seed)
    x = arrays(rng, geom.x_shape)
    weight = arrays(rng, (geom.c_out, geom.c_in, *geom.kernel))
    bias = arrays(rng, (geom.c_out,)) if with_bias else None
    y = run_on(backend_name, T.conv2d_forward, x, weight, bias, geom.stride, geom.padding)
    assert_close(y, reference.conv2d(x, weight, bias, geom.stride, geom.padding), f"conv2d {geom}")


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), with_bias=st.booleans(), seed=seeds)
def test_locally_connected2d_matches_reference(backend_name, geom, with_bias, seed):
    """locally_connected2d_forward equals reference.locally_connected2d."""
    rng = np.random.default_rng(seed)
    h_out, w_out = geom.out_hw
    x = arrays(rng, geom.x_shape)
    weight = arrays(rng, (h_out, w_out, geom.c_out, geom.c_in, *geom.kernel))
    bias = arrays(rng, (geom.c_out, h_out, w_out)) if with_bias else None
    y = run_on(backend_name, T.locally_connected2d_forward, x, weight, bias, geom.stride, geom.padding)
    expected = reference.locally_connected2d(x, weight, bias, geom.stride, geom.padding)
    assert_close(y, expected, f"locally_connected2d {geom}")


LRLC_VARIANTS = [("conv", False), ("conv", True), ("lc", False), ("auto", False), ("auto", True)]


@pytest.mark.parametrize("method, per_example", LRLC_VARIANTS,
                         ids=[f"{m}-{'per_example' if p else 'shared'}" for m, p in LRLC_VARIANTS])
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), rank=ranks, seed=seeds)
def test_lrlc2d_matches_reference(backend_name, method, per_example, geom, rank, seed):
    """lrlc2d_forward equals reference.lrlc2d on every route, with shared and per-example alpha."""
    rng = np.random.default_rng(seed)
    h_out, w_out = geom.out_hw
    x = arrays(rng, geom.x_shape)
    bases = arrays(rng, (rank, geom.c_out, geom.c_in, *geom.kernel))
    alpha = arrays(rng, (geom.n, rank, h_out, w_out) if per_example else (rank, h_out, w_out))
    y = run_on(backend_name, T.lrlc2d_forward, x, bases, alpha, geom.stride, geom.padding, method=method)
    expected = reference.lrlc2d(x, bases, alpha, geom.stride, geom.padding)
    assert_close(y, expected, f"lrlc2d[{method}] {geom}")


# --- (c) scipy.signal.correlate -------------------------------------------------------------


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), seed=seeds)
def test_conv2d_matches_scipy_correlate(backend_name, geom, seed):
    """conv2d_forward is cross-correlation: for each (n, o), the sum over c of scipy's
    "valid" correlation of the padded channel with weight[o, c], sampled every stride."""
    from scipy.signal import correlate

    rng = np.random.default_rng(seed)
    x = arrays(rng, geom.x_shape)
    weight = arrays(rng, (geom.c_out, geom.c_in, *geom.kernel))
    (ph, pw), (sh, sw) = geom.padding, geom.stride
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    expected = np.stack([
        np.stack([
            sum(correlate(xpad[n, c], weight[o, c], mode="valid", method="direct")
                for c in range(geom.c_in))[::sh, ::sw]
            for o in range(geom.c_out)
        ])
        for n in range(geom.n)
    ])
    y = run_on(backend_name, T.conv2d_forward, x, weight, None, geom.stride, geom.padding)
    assert y.shape == expected.shape, f"{geom}: y {y.shape}, scipy {expected.shape}"
    assert_close(y, expected, f"conv2d vs scipy.signal.correlate {geom}")


# --- (d) im2col / col2im ----------------------------------------------------------------------


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), seed=seeds)
def test_im2col_matches_definition(backend_name, geom, seed):
    """cols[(n, i, j), (c, p, q)] == xpad[n, c, i*sh + p, j*sw + q], patch by patch: row
    (n, i, j) is the window under output (i, j), flattened in weight[o]'s (C, kh, kw) order."""
    rng = np.random.default_rng(seed)
    x = arrays(rng, geom.x_shape)
    (ph, pw), (sh, sw) = geom.padding, geom.stride
    cols = run_on(backend_name, ops.im2col, x, geom.kernel, geom.stride, geom.padding)
    h_out, w_out = geom.out_hw
    assert cols.shape == (geom.n * h_out * w_out, geom.c_in * geom.kernel[0] * geom.kernel[1])
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    rows = cols.reshape(geom.n, h_out, w_out, -1)
    for i in range(h_out):
        for j in range(w_out):
            window = xpad[:, :, i * sh : i * sh + geom.kernel[0], j * sw : j * sw + geom.kernel[1]]
            np.testing.assert_array_equal(rows[:, i, j], window.reshape(geom.n, -1),
                                          err_msg=f"position ({i}, {j}), {geom}")


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), seed=seeds)
def test_im2col_col2im_adjoint(backend_name, geom, seed):
    """col2im is the adjoint of im2col: <im2col(x), c> == <x, col2im(c)> for random x, c."""
    rng = np.random.default_rng(seed)
    x = arrays(rng, geom.x_shape)
    h_out, w_out = geom.out_hw
    c = arrays(rng, (geom.n * h_out * w_out, geom.c_in * geom.kernel[0] * geom.kernel[1]))
    cols = run_on(backend_name, ops.im2col, x, geom.kernel, geom.stride, geom.padding)
    back = run_on(backend_name, ops.col2im, c, x.shape, geom.kernel, geom.stride, geom.padding)
    assert back.shape == x.shape
    lhs, rhs = np.vdot(cols, c), np.vdot(x, back)
    np.testing.assert_allclose(lhs, rhs, rtol=RTOL, atol=ATOL, err_msg=f"{geom}")


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), seed=seeds)
def test_fast_im2col_nhwc_holds_the_same_patches(backend_name, geom, seed):
    """The fast tier's channels-last patches are the clear ones with (p, q, c) instead of
    (c, p, q) in a row, and its col2im_nhwc is the clear col2im read the same way."""
    from lrlc_np.fast.nhwc import col2im_nhwc, im2col_nhwc

    rng = np.random.default_rng(seed)
    x = arrays(rng, geom.x_shape)
    (kh, kw), n, c = geom.kernel, geom.n, geom.c_in
    h_out, w_out = geom.out_hw
    clear = run_on(backend_name, ops.im2col, x, geom.kernel, geom.stride, geom.padding)
    nhwc = run_on(backend_name, im2col_nhwc, x, geom.kernel, geom.stride, geom.padding)
    assert nhwc.shape == (n, h_out, w_out, kh, kw, c)
    np.testing.assert_array_equal(nhwc.transpose(0, 1, 2, 5, 3, 4).reshape(clear.shape), clear)
    cols = arrays(rng, nhwc.shape)
    back = run_on(backend_name, col2im_nhwc, cols, x.shape, geom.stride, geom.padding)
    expected = run_on(backend_name, ops.col2im, cols.transpose(0, 1, 2, 5, 3, 4).reshape(clear.shape),
                      x.shape, geom.kernel, geom.stride, geom.padding)
    np.testing.assert_allclose(back, expected, rtol=RTOL, atol=ATOL, err_msg=f"{geom}")


# --- combining weights --------------------------------------------------------------------


def _logits(geom, rank, per_example, rng, scale=1.0):
    h_out, w_out = geom.out_hw
    shape = (geom.n, rank, h_out, w_out) if per_example else (rank, h_out, w_out)
    return scale * arrays(rng, shape)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), rank=ranks, per_example=st.booleans(),
       scale=st.sampled_from([1.0, 100.0, 1e4]), seed=seeds)
def test_combining_softmax_is_a_distribution_over_k(backend_name, geom, rank, per_example, scale, seed):
    """"softmax": alpha >= 0, sums to 1 over K at every position, equals exp(l)/sum exp(l)
    (computed here with the max shift), and stays finite for logits of size 1e4."""
    rng = np.random.default_rng(seed)
    logits = _logits(geom, rank, per_example, rng, scale)
    alpha = run_on(backend_name, T.combining_weights_forward, logits, "softmax")
    assert alpha.shape == logits.shape
    assert np.all(alpha >= 0)
    assert_close(alpha.sum(axis=-3), np.ones(alpha.shape[:-3] + alpha.shape[-2:]), "softmax sum over K")
    e = np.exp(logits - logits.max(axis=-3, keepdims=True))
    assert_close(alpha, e / e.sum(axis=-3, keepdims=True), "softmax formula")


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), rank=ranks, per_example=st.booleans(), seed=seeds)
def test_combining_norm_has_unit_norm_over_k(backend_name, geom, rank, per_example, seed):
    """"norm": alpha has unit L2 norm over K at every position and points along the logits."""
    rng = np.random.default_rng(seed)
    logits = _logits(geom, rank, per_example, rng)
    alpha = run_on(backend_name, T.combining_weights_forward, logits, "norm")
    assert alpha.shape == logits.shape
    assert_close(np.linalg.norm(alpha, axis=-3), np.ones(alpha.shape[:-3] + alpha.shape[-2:]), "norm over K")
    assert_close(alpha * np.linalg.norm(logits, axis=-3, keepdims=True), logits, "norm direction")


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
def test_combining_norm_clamps_zero_logits(backend_name):
    """"norm" at a position whose logits are all 0 divides by 1e-12, not by 0: alpha = 0."""
    logits = np.zeros((3, 1, 2))
    logits[:, 0, 1] = [3.0, 0.0, 4.0]
    alpha = run_on(backend_name, T.combining_weights_forward, logits, "norm")
    np.testing.assert_array_equal(alpha[:, 0, 0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(alpha[:, 0, 1], [0.6, 0.0, 0.8], rtol=1e-15)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), rank=ranks, per_example=st.booleans(), seed=seeds)
def test_combining_none_is_identity(backend_name, geom, rank, per_example, seed):
    """"none": alpha equals the logits, in a new array (changing alpha leaves the logits)."""
    rng = np.random.default_rng(seed)
    logits = _logits(geom, rank, per_example, rng)
    with use_backend(backend_name):
        on_device = on_backend(logits)
        alpha, _ = T.combining_weights_forward(on_device, "none")
        shares = get_array_module(alpha).shares_memory(alpha, on_device)
    np.testing.assert_array_equal(to_numpy(alpha), logits)
    assert not shares


# --- identities between the layers ----------------------------------------------------------


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), rank=ranks, seed=seeds)
def test_effective_weight_is_the_sum_over_k(backend_name, geom, rank, seed):
    """effective_weight(bases, alpha)[i, j] == sum_k alpha[k, i, j] * bases[k], by explicit loop."""
    rng = np.random.default_rng(seed)
    h_out, w_out = geom.out_hw
    bases = arrays(rng, (rank, geom.c_out, geom.c_in, *geom.kernel))
    alpha = arrays(rng, (rank, h_out, w_out))
    w = run_on(backend_name, T.effective_weight, bases, alpha)
    assert w.shape == (h_out, w_out, geom.c_out, geom.c_in, *geom.kernel)
    for i in range(h_out):
        for j in range(w_out):
            explicit = sum(alpha[k, i, j] * bases[k] for k in range(rank))
            assert_close(w[i, j], explicit, f"position ({i}, {j})")


@pytest.mark.parametrize("method", ["conv", "lc", "auto"])
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), rank=ranks, seed=seeds)
def test_lrlc2d_equals_lc_of_effective_weight(backend_name, method, geom, rank, seed):
    """LRLC with shared alpha is the LC layer whose kernel at (i, j) is sum_k alpha[k,i,j] B_k."""
    rng = np.random.default_rng(seed)
    h_out, w_out = geom.out_hw
    x = arrays(rng, geom.x_shape)
    bases = arrays(rng, (rank, geom.c_out, geom.c_in, *geom.kernel))
    alpha = arrays(rng, (rank, h_out, w_out))
    with use_backend(backend_name):
        x, bases, alpha = on_backend(x, bases, alpha)
        y, _ = T.lrlc2d_forward(x, bases, alpha, geom.stride, geom.padding, method=method)
        weight = T.effective_weight(bases, alpha)
        expected, _ = T.locally_connected2d_forward(x, weight, None, geom.stride, geom.padding)
    assert_close(y, expected, f"lrlc2d[{method}] vs LC of effective_weight {geom}")


@pytest.mark.parametrize("method", ["conv", "lc", "auto"])
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), per_example=st.booleans(), seed=seeds)
def test_lrlc2d_rank_one_is_conv(backend_name, method, geom, per_example, seed):
    """K = 1 with alpha = 1 everywhere (what softmax gives for K = 1) is the convolution with
    bases[0]."""
    assume(not (per_example and method == "lc"))
    rng = np.random.default_rng(seed)
    h_out, w_out = geom.out_hw
    x = arrays(rng, geom.x_shape)
    bases = arrays(rng, (1, geom.c_out, geom.c_in, *geom.kernel))
    alpha = np.ones((geom.n, 1, h_out, w_out) if per_example else (1, h_out, w_out))
    y = run_on(backend_name, T.lrlc2d_forward, x, bases, alpha, geom.stride, geom.padding, method=method)
    expected = run_on(backend_name, T.conv2d_forward, x, bases[0], None, geom.stride, geom.padding)
    assert_close(y, expected, f"lrlc2d[{method}] K=1 vs conv2d {geom}")


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), with_bias=st.booleans(), seed=seeds)
def test_locally_connected2d_with_one_shared_kernel_is_conv(backend_name, geom, with_bias, seed):
    """An LC layer whose every position holds the same filter bank (and the same bias per
    channel) is the convolution with that filter bank."""
    rng = np.random.default_rng(seed)
    h_out, w_out = geom.out_hw
    x = arrays(rng, geom.x_shape)
    kernel = arrays(rng, (geom.c_out, geom.c_in, *geom.kernel))
    bias = arrays(rng, (geom.c_out,)) if with_bias else None
    lc_weight = np.broadcast_to(kernel, (h_out, w_out, *kernel.shape)).copy()
    lc_bias = None if bias is None else np.broadcast_to(bias[:, None, None], (geom.c_out, h_out, w_out)).copy()
    y = run_on(backend_name, T.locally_connected2d_forward, x, lc_weight, lc_bias, geom.stride, geom.padding)
    expected = run_on(backend_name, T.conv2d_forward, x, kernel, bias, geom.stride, geom.padding)
    assert_close(y, expected, f"shared-kernel LC vs conv2d {geom}")


# --- float32 in, float32 out ----------------------------------------------------------------


@pytest.mark.parametrize("name", OP_NAMES)
@given(geom=geometries(), rank=ranks, seed=seeds)
def test_float32_stays_float32(name, geom, rank, seed):
    """Every op keeps float32: the forward output and every gradient are float32, and they
    agree with the float64 computation on the same numbers to float32 precision."""
    if name == "batchnorm2d_train":
        assume(geom.n * geom.h * geom.w >= 2)
    case32 = op_case(name, geom, np.random.default_rng(seed), dtype=np.float32, rank=rank)
    case64 = op_case(name, geom, np.random.default_rng(seed), dtype=np.float32, rank=rank)
    case64.inputs = {k: v if v is None or v.dtype.kind != "f" else v.astype(np.float64)
                     for k, v in case64.inputs.items()}
    y32, cache32 = case32.forward(**case32.inputs)
    assert np.asarray(y32).dtype == np.float32, f"{name}: forward gave {np.asarray(y32).dtype}"
    dy = np.random.default_rng(seed + 1).standard_normal(np.shape(y32)).astype(np.float32)
    grads32 = case32.grads(dy, cache32)
    y64, cache64 = case64.forward(**case64.inputs)
    grads64 = case64.grads(dy.astype(np.float64), cache64)
    scale = max(1.0, float(np.max(np.abs(y64), initial=0.0)))
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4 * scale, err_msg=f"{name}: y")
    for grad_name, g32, g64 in zip(case32.grad_names, grads32, grads64):
        if g32 is None:
            continue
        assert g32.dtype == np.float32, f"{name}: d{grad_name} is {g32.dtype}, expected float32"
        scale = max(1.0, float(np.max(np.abs(g64), initial=0.0)))
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4 * scale, err_msg=f"{name}: d{grad_name}")
