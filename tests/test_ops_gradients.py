"""Every backward pass in ``lrlc_np.ops`` against centred finite differences.

Each test draws a geometry and a seed, runs ``forward``, calls ``backward`` with a random
upstream gradient ``dy`` (never ones: a backward pass that permutes dy passes with ones) and
compares every returned gradient with ``numerical_gradient`` of ``sum(f(...) * dy)`` in
float64, at ``relative_error <= 1e-5`` (one figure per array, see ``lrlc_np.gradcheck``).
Every gradient check runs on each backend (``backend_name``: NumPy, and CuPy where a GPU
is present, skipped with the reason otherwise): the inputs are drawn on the host, moved to
the backend, and the gradients brought back to NumPy for the comparison.

The last tests hold every op to the same contract: backward mutates neither its inputs nor
dy, returns no array that shares memory with dy, and gives the same answer when called
twice with one cache. Batch norm's running statistics and the loss's stability for huge
logits are checked against formulas written out here.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from lrlc_np.backend import to_device, to_numpy
from lrlc_np.gradcheck import numerical_gradient, relative_error

from .conftest import T, BACKEND_PARAMS, on_backend, use_backend
from .strategies import (
    OP_NAMES,
    arrays,
    Geometry,
    away_from_zero,
    geometries,
    normalizations,
    op_case,
    ranks,
    seeds,
    spread_channels,
)

pytestmark = pytest.mark.usefixtures("each_tier")   # every test runs on both tiers (T)

# (method, per-example alpha) pairs that lrlc2d_forward accepts: "lc" needs shared alpha.
LRLC_VARIANTS = [("conv", False), ("conv", True), ("lc", False), ("auto", False), ("auto", True)]


def _preview(a, count=6):
    return np.array2string(np.ravel(a)[:count], precision=6)


def assert_gradients(op, forward, backward, inputs, grad_names, rng):
    """Check ``backward`` against finite differences for every input in ``grad_names``.

    forward(**inputs) -> (y, cache); backward(dy, cache) -> the gradients of ``grad_names``
    in that order (a tuple, or one array). An input that is None (no bias) must get a None
    gradient. dy is standard normal, shaped like y. The inputs and dy go to the active
    backend (arrays ``forward`` closes over must be there already); both gradients come
    back to NumPy before they are compared.
    """
    inputs = {name: on_backend(value) for name, value in inputs.items()}
    y, cache = forward(**inputs)
    dy = to_device(rng.standard_normal(np.shape(y)))
    grads = backward(dy, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(grad_names), f"{op}: backward returned {len(grads)} arrays, expected {grad_names}"
    for name, analytic in zip(grad_names, grads):
        value = inputs[name]
        if value is None:
            assert analytic is None, f"{op}: {name} is None, so d{name} should be None, got {type(analytic)}"
            continue
        analytic = np.array(to_numpy(analytic))  # a host copy: later forward calls must not change it

        def f(v, name=name):
            return forward(**{**inputs, name: v})[0]

        numeric = to_numpy(numerical_gradient(f, value, dy))
        assert analytic.shape == numeric.shape, (
            f"{op} d{name}: analytic shape {analytic.shape}, expected {numeric.shape} (like {name})"
        )
        err = relative_error(analytic, numeric)
        assert err <= 1e-5, (
            f"{op} d{name}: relative error {err:.3g} > 1e-5\n"
            f"  {name} shape {value.shape}, y shape {np.shape(y)}, d{name} shape {analytic.shape}\n"
            f"  analytic[:6] = {_preview(analytic)}\n"
            f"  numeric[:6]  = {_preview(numeric)}"
        )


# --- convolution, locally connected, combining weights, LRLC -------------------------------


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), with_bias=st.booleans(), seed=seeds)
# dx's two routes, whatever hypothesis draws: stride 1 with padding < kernel (a convolution
# of the padded dy), padding >= kernel along W and a stride of 2 (col2im)
@example(geom=Geometry(2, 3, 2, 6, 5, (3, 2), (1, 1), (2, 1)), with_bias=True, seed=1)
@example(geom=Geometry(2, 3, 2, 6, 5, (3, 2), (1, 1), (1, 2)), with_bias=False, seed=2)
@example(geom=Geometry(2, 3, 2, 6, 5, (3, 2), (1, 2), (1, 1)), with_bias=True, seed=3)
def test_conv2d_gradients(backend_name, geom, with_bias, seed):
    """conv2d_backward: dx, dweight and dbias (None without bias) are the VJP of the forward."""
    rng = np.random.default_rng(seed)
    inputs = dict(
        x=arrays(rng, geom.x_shape),
        weight=arrays(rng, (geom.c_out, geom.c_in, *geom.kernel)),
        bias=arrays(rng, (geom.c_out,)) if with_bias else None,
    )

    def forward(x, weight, bias):
        return T.conv2d_forward(x, weight, bias, geom.stride, geom.padding)

    with use_backend(backend_name):
        assert_gradients("conv2d", forward, T.conv2d_backward, inputs, ("x", "weight", "bias"), rng)


def _lc_inputs(geom, with_bias, rng):
    h_out, w_out = geom.out_hw
    return dict(
        x=arrays(rng, geom.x_shape),
        weight=arrays(rng, (h_out, w_out, geom.c_out, geom.c_in, *geom.kernel)),
        bias=arrays(rng, (geom.c_out, h_out, w_out)) if with_bias else None,
    )


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), with_bias=st.booleans(), seed=seeds)
def test_locally_connected2d_input_and_bias_gradients(backend_name, geom, with_bias, seed):
    """locally_connected2d_backward: dx and dbias (None without bias) match finite differences."""
    rng = np.random.default_rng(seed)
    inputs = _lc_inputs(geom, with_bias, rng)

    def forward(x, bias):
        return T.locally_connected2d_forward(x, weight, bias, geom.stride, geom.padding)

    def backward(dy, cache):
        dx, _, dbias = T.locally_connected2d_backward(dy, cache)
        return dx, dbias

    with use_backend(backend_name):
        weight = on_backend(inputs["weight"])
        assert_gradients("locally_connected2d", forward, backward,
                         dict(x=inputs["x"], bias=inputs["bias"]), ("x", "bias"), rng)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), seed=seeds)
def test_locally_connected2d_weight_layout_changes_speed_not_values(backend_name, geom, seed):
    """The LC weight in its fast memory order (``with_lc_layout``, what LocallyConnected2D
    stores) gives the same y, dx, dweight and dbias as a plain C-ordered weight, on the active
    tier; the values and shape are unchanged. On the fast tier dweight comes back in the fast
    order whatever the weight's, and is one buffer per weight: a second backward pass writes
    the new gradient into the same array (``fast._workspace``)."""
    with_lc_layout = pytest.importorskip("lrlc_np.fast.local", reason="a student copy has no fast tier").with_lc_layout
    rng = np.random.default_rng(seed)
    inputs = _lc_inputs(geom, True, rng)
    with use_backend(backend_name):
        x, weight, bias = on_backend(inputs["x"], inputs["weight"], inputs["bias"])
        laid_out = with_lc_layout(weight)
        assert laid_out.shape == weight.shape and not np.shares_memory(to_numpy(laid_out), inputs["weight"])
        assert laid_out.transpose(0, 1, 4, 5, 3, 2).flags.c_contiguous     # memory (H_out, W_out, kh, kw, C_in, C_out)
        np.testing.assert_array_equal(to_numpy(laid_out), inputs["weight"])
        dy = to_device(rng.standard_normal((geom.n, geom.c_out, *geom.out_hw)))
        results = []
        for w in (weight, laid_out):
            y, cache = T.locally_connected2d_forward(x, w, bias, geom.stride, geom.padding)
            grads = T.locally_connected2d_backward(dy, cache)
            if T.__name__ == "lrlc_np.fast":
                assert grads[1].transpose(0, 1, 4, 5, 3, 2).flags.c_contiguous
            results.append([to_numpy(a).copy() for a in (y, *grads)])   # copies: dweight is reused
        for name, plain, fast_order in zip(("y", "dx", "dweight", "dbias"), *results):
            np.testing.assert_allclose(fast_order, plain, rtol=1e-12, atol=1e-12, err_msg=name)
        if T.__name__ == "lrlc_np.fast":
            first = T.locally_connected2d_backward(dy, cache)[1]
            second = T.locally_connected2d_backward(2 * dy, cache)[1]
            assert second is first                                          # the weight's buffer
            np.testing.assert_allclose(to_numpy(second), 2 * results[1][2], rtol=1e-12, atol=1e-12)


# The weight has H_out*W_out*C_out*C_in*kh*kw entries, two forward calls each: the costliest
# numerical gradient in the suite, so this one test draws inputs of at most 7x7.
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(max_size=7), seed=seeds)
def test_locally_connected2d_weight_gradient(backend_name, geom, seed):
    """locally_connected2d_backward: dweight, one filter bank per output position, is the VJP."""
    rng = np.random.default_rng(seed)
    inputs = _lc_inputs(geom, True, rng)

    def forward(weight):
        return T.locally_connected2d_forward(x, weight, bias, geom.stride, geom.padding)

    def backward(dy, cache):
        return T.locally_connected2d_backward(dy, cache)[1]

    with use_backend(backend_name):
        x, bias = on_backend(inputs["x"], inputs["bias"])
        assert_gradients("locally_connected2d", forward, backward, dict(weight=inputs["weight"]), ("weight",), rng)


@pytest.mark.parametrize("per_example", [False, True], ids=["shared", "per_example"])
@pytest.mark.parametrize("normalize", ["softmax", "norm", "none"])
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), rank=ranks, seed=seeds)
def test_combining_weights_gradients(backend_name, normalize, per_example, geom, rank, seed):
    """combining_weights_backward: dlogits is the VJP of each normalisation over K,
    for logits shared by the batch (K, H_out, W_out) and per example (N, K, H_out, W_out)."""
    rng = np.random.default_rng(seed)
    h_out, w_out = geom.out_hw
    shape = (geom.n, rank, h_out, w_out) if per_example else (rank, h_out, w_out)
    inputs = dict(logits=arrays(rng, shape))

    def forward(logits):
        return T.combining_weights_forward(logits, normalize)

    with use_backend(backend_name):
        assert_gradients(f"combining_weights[{normalize}]", forward, T.combining_weights_backward,
                         inputs, ("logits",), rng)


@pytest.mark.parametrize("method, per_example", LRLC_VARIANTS,
                         ids=[f"{m}-{'per_example' if p else 'shared'}" for m, p in LRLC_VARIANTS])
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), rank=ranks, seed=seeds)
def test_lrlc2d_gradients(backend_name, method, per_example, geom, rank, seed):
    """lrlc2d_backward: dx, dbases and dalpha are the VJP, on both routes ("conv", "lc", and
    whichever "auto" picks) and for shared and per-example alpha."""
    rng = np.random.default_rng(seed)
    h_out, w_out = geom.out_hw
    alpha_shape = (geom.n, rank, h_out, w_out) if per_example else (rank, h_out, w_out)
    inputs = dict(
        x=arrays(rng, geom.x_shape),
        bases=arrays(rng, (rank, geom.c_out, geom.c_in, *geom.kernel)),
        alpha=arrays(rng, alpha_shape),
    )

    def forward(x, bases, alpha):
        return T.lrlc2d_forward(x, bases, alpha, geom.stride, geom.padding, method=method)

    with use_backend(backend_name):
        assert_gradients(f"lrlc2d[{method}]", forward, T.lrlc2d_backward, inputs, ("x", "bases", "alpha"), rng)


@st.composite
def lrlc_settings(draw):
    """(normalize, per_example, method): a valid combination, drawn without filtering."""
    normalize = draw(normalizations, label="normalize")
    per_example = draw(st.booleans(), label="per_example")
    methods = ["conv", "auto"] if per_example else ["conv", "lc", "auto"]
    method = draw(st.sampled_from(methods), label="method")
    return normalize, per_example, method


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), rank=ranks, variant=lrlc_settings(), seed=seeds)
def test_lrlc2d_through_combining_weights_gradients(backend_name, geom, rank, variant, seed):
    """The chain logits -> combining weights -> LRLC, as the layer runs it: chaining the two
    backward passes gives the VJP with respect to x, the bases and the logits."""
    normalize, per_example, method = variant
    rng = np.random.default_rng(seed)
    h_out, w_out = geom.out_hw
    logit_shape = (geom.n, rank, h_out, w_out) if per_example else (rank, h_out, w_out)
    inputs = dict(
        x=arrays(rng, geom.x_shape),
        bases=arrays(rng, (rank, geom.c_out, geom.c_in, *geom.kernel)),
        logits=arrays(rng, logit_shape),
    )

    def forward(x, bases, logits):
        alpha, combine_cache = T.combining_weights_forward(logits, normalize)
        y, lrlc_cache = T.lrlc2d_forward(x, bases, alpha, geom.stride, geom.padding, method=method)
        return y, (combine_cache, lrlc_cache)

    def backward(dy, cache):
        combine_cache, lrlc_cache = cache
        dx, dbases, dalpha = T.lrlc2d_backward(dy, lrlc_cache)
        return dx, dbases, T.combining_weights_backward(dalpha, combine_cache)

    with use_backend(backend_name):
        assert_gradients(f"lrlc2d[{method}]+combining_weights[{normalize}]", forward, backward,
                         inputs, ("x", "bases", "logits"), rng)


# --- dense, ReLU, batch norm, pooling, loss ------------------------------------------------


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(
    n=st.integers(1, 3),
    d_in=st.integers(1, 8),
    d_out=st.integers(1, 8),
    with_bias=st.booleans(),
    seed=seeds,
)
def test_dense_gradients(backend_name, n, d_in, d_out, with_bias, seed):
    """dense_backward: dx, dweight and dbias (None without bias) are the VJP of x W^T + b."""
    rng = np.random.default_rng(seed)
    inputs = dict(
        x=arrays(rng, (n, d_in)),
        weight=arrays(rng, (d_out, d_in)),
        bias=arrays(rng, (d_out,)) if with_bias else None,
    )
    with use_backend(backend_name):
        assert_gradients("dense", T.dense_forward, T.dense_backward, inputs, ("x", "weight", "bias"), rng)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), seed=seeds)
def test_relu_gradient(backend_name, geom, seed):
    """relu_backward: dx = dy where x > 0, else 0; inputs are kept at |x| >= 0.1 so that
    finite differences never straddle the kink at 0."""
    rng = np.random.default_rng(seed)
    inputs = dict(x=away_from_zero(arrays(rng, geom.x_shape), 0.1))
    with use_backend(backend_name):
        assert_gradients("relu", T.relu_forward, T.relu_backward, inputs, ("x",), rng)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), seed=seeds)
def test_batchnorm2d_gradients(backend_name, training, geom, seed):
    """batchnorm2d_backward: dx (through the batch statistics in training mode, through the
    fixed running statistics in evaluation mode), dweight and dbias are the VJP."""
    if training:
        assume(geom.n * geom.h * geom.w >= 2)  # a variance needs two values per channel
    rng = np.random.default_rng(seed)
    c = geom.c_in
    running_mean = arrays(rng, (c,))
    running_var = 0.5 + rng.random(c)
    # spread_channels: no near-constant channel, whose tiny batch deviation would bend the
    # function on the scale of the finite-difference step
    inputs = dict(x=spread_channels(rng, geom.x_shape), weight=arrays(rng, (c,)), bias=arrays(rng, (c,)))

    def forward(x, weight, bias):
        # fresh copies each call: training mode updates the running statistics in place
        return T.batchnorm2d_forward(x, weight, bias, running_mean.copy(), running_var.copy(),
                                       training=training)

    with use_backend(backend_name):
        running_mean, running_var = on_backend(running_mean, running_var)
        assert_gradients(f"batchnorm2d[training={training}]", forward, T.batchnorm2d_backward,
                         inputs, ("x", "weight", "bias"), rng)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), seed=seeds)
def test_global_avg_pool2d_gradient(backend_name, geom, seed):
    """global_avg_pool2d_backward spreads dy[n, c] evenly over the H*W positions."""
    rng = np.random.default_rng(seed)
    inputs = dict(x=arrays(rng, geom.x_shape))
    with use_backend(backend_name):
        assert_gradients("global_avg_pool2d", T.global_avg_pool2d_forward, T.global_avg_pool2d_backward,
                         inputs, ("x",), rng)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(
    n=st.integers(1, 3),
    classes=st.integers(1, 6),
    scale=st.sampled_from([0.1, 1.0, 5.0]),
    seed=seeds,
)
def test_softmax_cross_entropy_gradient(backend_name, n, classes, scale, seed):
    """softmax_cross_entropy_backward(dloss): dlogits is dloss times the gradient of the mean
    loss, for a random scalar dloss (not 1)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=n)
    inputs = dict(logits=scale * arrays(rng, (n, classes)))

    def forward(logits):
        return T.softmax_cross_entropy_forward(logits, labels)

    with use_backend(backend_name):
        labels = on_backend(labels)
        assert_gradients("softmax_cross_entropy", forward, T.softmax_cross_entropy_backward,
                         inputs, ("logits",), rng)


# --- the contract every backward pass keeps ------------------------------------------------


def _snapshot(values):
    return {k: None if v is None else np.array(v, copy=True) for k, v in values.items()}


def _assert_unchanged(before, after, what, op):
    for key, old in before.items():
        new = after[key]
        if old is None:
            assert new is None, f"{op}: {what} {key} changed from None"
        else:
            assert np.array_equal(old, new), f"{op}: {what} {key} was modified in place"


def assert_backward_contract(name, case, rng):
    """backward(dy, cache) mutates neither the forward inputs nor dy, returns one array per
    name in ``case.grad_names``, none sharing memory with dy or an input, and a second call
    with the same cache gives identical gradients without changing the first call's arrays
    (nothing accumulates)."""
    inputs_before = _snapshot(case.inputs)
    y, cache = case.forward(**case.inputs)
    dy = rng.standard_normal(np.shape(y))
    dy_before = dy.copy()

    first = case.grads(dy, cache)
    assert len(first) == len(case.grad_names), f"{name}: {len(first)} gradients for {case.grad_names}"
    first_before = [None if g is None else g.copy() for g in first]
    _assert_unchanged(inputs_before, case.inputs, "input", name)
    assert np.array_equal(dy, dy_before), f"{name}: backward modified dy in place"
    for grad_name, g in zip(case.grad_names, first):
        if g is None:
            continue
        assert g.shape == np.shape(case.inputs[grad_name]), f"{name}: d{grad_name} has shape {g.shape}"
        assert not np.shares_memory(g, dy), f"{name}: d{grad_name} shares memory with dy"
        for input_name, value in case.inputs.items():
            if value is not None:
                assert not np.shares_memory(g, value), (
                    f"{name}: d{grad_name} shares memory with the input {input_name}"
                )

    second = case.grads(dy, cache)
    for grad_name, g1, g1_before, g2 in zip(case.grad_names, first, first_before, second):
        if g1 is None:
            assert g2 is None, f"{name}: d{grad_name} was None, then not"
            continue
        assert np.array_equal(g1_before, g2), f"{name}: second backward gave a different d{grad_name}"
        assert np.array_equal(g1_before, g1), f"{name}: second backward changed the first d{grad_name}"
    _assert_unchanged(inputs_before, case.inputs, "input", name)
    assert np.array_equal(dy, dy_before), f"{name}: backward modified dy in place"


@pytest.mark.parametrize("name", OP_NAMES)
@given(geom=geometries(), rank=ranks, seed=seeds)
def test_backward_leaves_inputs_alone_and_is_repeatable(name, geom, rank, seed):
    """Every op keeps the backward contract (``assert_backward_contract``)."""
    if name == "batchnorm2d_train":
        assume(geom.n * geom.h * geom.w >= 2)
    rng = np.random.default_rng(seed)
    assert_backward_contract(name, op_case(name, geom, rng, rank=rank), rng)


# --- batch norm statistics and loss stability ----------------------------------------------


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(geom=geometries(), seed=seeds)
def test_batchnorm2d_running_statistics(backend_name, geom, seed):
    """Training mode: running_mean <- 0.9 running_mean + 0.1 batch mean and running_var <-
    0.9 running_var + 0.1 unbiased batch variance (momentum 0.1), per channel, in place;
    the output uses the biased batch variance. Evaluation mode normalises with the running
    statistics and leaves them unchanged."""
    assume(geom.n * geom.h * geom.w >= 2)
    rng = np.random.default_rng(seed)
    c = geom.c_in
    x = 3.0 + 2.0 * arrays(rng, geom.x_shape)
    weight, bias = arrays(rng, (c,)), arrays(rng, (c,))
    running_mean, running_var = arrays(rng, (c,)), 0.5 + rng.random(c)
    eps = 1e-5

    with use_backend(backend_name):   # the op runs on the backend, the formulas on the host
        rm, rv = on_backend(running_mean.copy(), running_var.copy())
        y, _ = T.batchnorm2d_forward(*on_backend(x, weight, bias), rm, rv, training=True)
        y, rm, rv = to_numpy(y), to_numpy(rm), to_numpy(rv)
    per_channel = x.transpose(1, 0, 2, 3).reshape(c, -1)            # (C, N*H*W)
    mean = per_channel.mean(axis=1)
    np.testing.assert_allclose(rm, 0.9 * running_mean + 0.1 * mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rv, 0.9 * running_var + 0.1 * per_channel.var(axis=1, ddof=1),
                               rtol=1e-12, atol=1e-12)
    expected = (x - mean[:, None, None]) / np.sqrt(per_channel.var(axis=1)[:, None, None] + eps)
    np.testing.assert_allclose(y, weight[:, None, None] * expected + bias[:, None, None],
                               rtol=1e-10, atol=1e-10)

    with use_backend(backend_name):
        rm_eval, rv_eval = on_backend(rm.copy(), rv.copy())
        y_eval, _ = T.batchnorm2d_forward(*on_backend(x, weight, bias), rm_eval, rv_eval, training=False)
        y_eval, rm_eval, rv_eval = to_numpy(y_eval), to_numpy(rm_eval), to_numpy(rv_eval)
    np.testing.assert_array_equal(rm_eval, rm)
    np.testing.assert_array_equal(rv_eval, rv)
    expected = (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + eps)
    np.testing.assert_allclose(y_eval, weight[:, None, None] * expected + bias[:, None, None],
                               rtol=1e-10, atol=1e-10)


def _softmax_minus_onehot(logits, labels):
    """(softmax(logits) - onehot(labels)) / N, written out with the max shift."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    grad = e / e.sum(axis=1, keepdims=True)
    grad[np.arange(len(labels)), labels] -= 1
    return grad / len(labels)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(n=st.integers(1, 3), classes=st.integers(2, 6), seed=seeds)
def test_softmax_cross_entropy_huge_logits(backend_name, n, classes, seed):
    """Logits of size 1e4 (exp would overflow) give a finite loss equal to the log-sum-exp
    formula and the gradient (softmax - onehot) / N."""
    rng = np.random.default_rng(seed)
    logits = 1e4 * arrays(rng, (n, classes))
    labels = rng.integers(0, classes, size=n)
    with use_backend(backend_name):
        loss, cache = T.softmax_cross_entropy_forward(*on_backend(logits, labels))
        dlogits = T.softmax_cross_entropy_backward(1.0, cache)
        loss, dlogits = to_numpy(loss), to_numpy(dlogits)
    assert np.isfinite(loss), f"loss is {loss} for logits of size 1e4"
    assert np.all(np.isfinite(dlogits)), f"dlogits not finite: {dlogits}"
    top = logits.max(axis=1)
    expected_loss = np.mean(top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
                            - logits[np.arange(n), labels])
    # atol: both sides subtract numbers of size 1e4, so a loss near 0 carries ~1e-12 of round-off
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(dlogits, _softmax_minus_onehot(logits, labels), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
def test_softmax_cross_entropy_huge_logits_known_values(backend_name):
    """A hand-checked case: the label's logit wins by 1e4, so the loss and gradient are 0;
    in the second row the label loses by 1e4, so the loss is 1e4 and the gradient is
    (e_winner - e_label) / 2."""
    logits = np.array([[1e4, 0.0, -1e4], [1e4, -1e4, 0.0]])
    labels = np.array([0, 2])
    with use_backend(backend_name):
        loss, cache = T.softmax_cross_entropy_forward(*on_backend(logits, labels))
        dlogits = to_numpy(T.softmax_cross_entropy_backward(1.0, cache))
    # row 0: -log softmax = log(1 + e^-1e4 + e^-2e4) = 0; row 1: 1e4 + log(1 + ...) = 1e4
    np.testing.assert_allclose(to_numpy(loss), (0.0 + 1e4) / 2, rtol=1e-12)
    expected = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, -0.5]])
    np.testing.assert_allclose(dlogits, expected, atol=1e-15)
