"""Batch norm fused with the ReLU after it (``fast.batchnorm2d_relu_forward`` / ``_backward``),
and ``Sequential`` running a BatchNorm2D + ReLU pair through it on the fast tier.

The fused op must give the bits of the two fast ops run one after the other, the clear tier's
results to rounding, and gradients that finite differences confirm; every layer must still be
able to run its own backward pass after a fused forward pass. No assertion here is about speed.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrlc_np import fast, layers as L, ops, tiers
from lrlc_np.fast.normalization import FusedReLUCache
from lrlc_np.gradcheck import check_layer
from lrlc_np.models import build_network

TOLERANCE = 1e-6          # relative error of float64 gradients against centred differences


@st.composite
def bn_relu_cases(draw):
    n = draw(st.integers(1, 5))
    c = draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    training = draw(st.booleans()) if n * h * w > 1 else False   # training needs 2+ values per channel
    seed = draw(st.integers(0, 2**16))
    nhwc = draw(st.booleans())                                    # the input's memory layout
    return n, c, h, w, training, seed, nhwc


def _arrays(n, c, h, w, seed, nhwc, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    if nhwc:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    params = dict(weight=rng.uniform(-1.5, 1.5, c).astype(dtype),     # negative scales flip the mask
                  bias=rng.standard_normal(c).astype(dtype),
                  running_mean=rng.standard_normal(c).astype(dtype),
                  running_var=rng.uniform(0.5, 2.0, c).astype(dtype))
    dy = rng.standard_normal((n, c, h, w)).astype(dtype)
    return x, params, dy


def _bn_args(params):
    return (params["weight"], params["bias"], params["running_mean"], params["running_var"])


@given(bn_relu_cases(), st.sampled_from([np.float32, np.float64]))
def test_fused_op_gives_the_bits_of_the_two_fast_ops(case, dtype):
    n, c, h, w, training, seed, nhwc = case
    x, params, dy = _arrays(n, c, h, w, seed, nhwc, dtype)
    x_before, dy_before = x.copy(), dy.copy()
    two = {k: v.copy() for k, v in params.items()}
    y_bn, bn_cache = fast.batchnorm2d_forward(x, *_bn_args(two), training=training)
    y_two, relu_cache = fast.relu_forward(y_bn)
    d_bn = fast.relu_backward(dy, relu_cache)
    dx_two, dw_two, db_two = fast.batchnorm2d_backward(d_bn, bn_cache)

    y, cache = fast.batchnorm2d_relu_forward(x, *_bn_args(params), training=training)
    dx, dw, db = fast.batchnorm2d_relu_backward(dy, cache)
    for got, expected in ((y, y_two), (dx, dx_two), (dw, dw_two), (db, db_two),
                          (params["running_mean"], two["running_mean"]),
                          (params["running_var"], two["running_var"])):
        np.testing.assert_array_equal(got, expected)
    # the ReLU's part of the cache, run alone, is the ReLU's gradient
    np.testing.assert_array_equal(fast.relu_backward(dy, cache[1]), d_bn)
    np.testing.assert_array_equal(x, x_before)                 # neither input is modified
    np.testing.assert_array_equal(dy, dy_before)


@given(bn_relu_cases())
def test_fused_op_matches_the_clear_tier(case):
    n, c, h, w, training, seed, nhwc = case
    x, params, dy = _arrays(n, c, h, w, seed, nhwc, np.float64)
    clear = {k: v.copy() for k, v in params.items()}
    y_bn, bn_cache = ops.batchnorm2d_forward(x, *_bn_args(clear), training=training)
    y_clear, relu_cache = ops.relu_forward(y_bn)
    dx_clear, dw_clear, db_clear = ops.batchnorm2d_backward(ops.relu_backward(dy, relu_cache), bn_cache)
    y, cache = fast.batchnorm2d_relu_forward(x, *_bn_args(params), training=training)
    dx, dw, db = fast.batchnorm2d_relu_backward(dy, cache)
    for got, expected in ((y, y_clear), (dx, dx_clear), (dw, dw_clear), (db, db_clear),
                          (params["running_var"], clear["running_var"])):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@given(bn_relu_cases())
def test_fused_gradients_match_finite_differences(case):
    """Sequential(BatchNorm2D, ReLU) on the fast tier runs the fused op; its gradients for x,
    the weight and the bias against centred differences in float64."""
    n, c, h, w, training, seed, nhwc = case
    x, params, _ = _arrays(n, c, h, w, seed, nhwc, np.float64)
    bn = L.BatchNorm2D(c, dtype=np.float64)
    bn.params["weight"][:], bn.params["bias"][:] = params["weight"], params["bias"]
    bn.buffers["running_mean"][:], bn.buffers["running_var"][:] = params["running_mean"], params["running_var"]
    pair = L.Sequential(bn, L.ReLU())
    with tiers.use_ops("fast"):
        # keep every output away from ReLU's kink, where a finite difference is meaningless
        y = pair.forward(x, training=training)
        assert _fused_at(pair) == [0]                             # the fused path ran
        pre = fast.batchnorm2d_forward(x, *_bn_args({k: v.copy() for k, v in params.items()}),
                                       training=training)[0]
        if np.min(np.abs(pre)) < 1e-4:
            return
        errors = check_layer(pair, x, rng=np.random.default_rng(seed), training=training)
    assert set(errors) == {"x", "0.weight", "0.bias"}
    assert max(errors.values()) < TOLERANCE, errors
    assert y.shape == x.shape


def _fused_at(model):
    """Indices of the layers that start a unit of two (a pair the active tier runs as one op)."""
    return [next(i for i, layer in enumerate(model.layers) if layer is unit.parts[0])
            for unit in model.units() if hasattr(unit, "parts")]


def _network_and_batch(seed=0):
    rng = np.random.default_rng(seed)
    model = build_network(("conv", "conv", "lrlc"), filters=8, rank=2, rng=rng)
    x = rng.uniform(-1, 1, (6, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, 6)
    return model, x, labels


def _gradients(model, x, labels, one_by_one, training=True):
    loss = L.SoftmaxCrossEntropy()
    if one_by_one:
        h = x
        for layer in model.layers:
            h = layer.forward(h, training=training)
        loss.forward(h, labels)
        d = loss.backward()
        for layer in reversed(model.layers):
            d = layer.backward(d)
    else:
        loss.forward(model.forward(x, training=training), labels)
        d = model.backward(loss.backward())
    return d, {k: v.copy() for k, v in model.grads.items()}, {k: v.copy() for k, v in model.buffers.items()}


@pytest.mark.parametrize("training", [True, False])
def test_sequential_fuses_on_the_fast_tier_with_the_bits_of_the_layers_one_by_one(training):
    model, x, labels = _network_and_batch()
    state = {k: v.copy() for k, v in model.buffers.items()}
    with tiers.use_ops("fast"):
        dx_fused, grads_fused, buffers_fused = _gradients(model, x, labels, one_by_one=False, training=training)
        assert _fused_at(model) == [1, 4, 7]                     # the three BatchNorm2D + ReLU pairs
        for k, v in model.buffers.items():
            v[...] = state[k]
        dx, grads, buffers = _gradients(model, x, labels, one_by_one=True, training=training)
    np.testing.assert_array_equal(dx_fused, dx)
    for name in grads:
        np.testing.assert_array_equal(grads_fused[name], grads[name], err_msg=name)
    for name in buffers:
        np.testing.assert_array_equal(buffers_fused[name], buffers[name], err_msg=name)


def test_the_clear_tier_runs_every_layer_on_its_own():
    model, x, labels = _network_and_batch()
    with tiers.use_ops("clear"):
        model.forward(x)
        assert _fused_at(model) == []
        assert not hasattr(ops, "batchnorm2d_relu_forward")
    assert set(fast.FUSED) <= set(fast.__all__) and not set(fast.FUSED) & set(ops.__all__)


def test_each_layer_of_a_fused_pair_can_run_its_backward_alone():
    model, x, labels = _network_and_batch()
    with tiers.use_ops("fast"):
        model.forward(x)
        bn, relu = model.layers[1], model.layers[2]
        assert isinstance(relu._cache, FusedReLUCache)
        assert relu._cache.rows is bn._cache[0]                  # no copy of the ReLU's output is kept
        dy = np.random.default_rng(1).standard_normal(relu._cache.x_shape).astype(np.float32)
        d_relu = relu.backward(dy)
        dx_alone = bn.backward(d_relu)
        dx_fused, _, _ = fast.batchnorm2d_relu_backward(dy, (bn._cache, relu._cache))
    np.testing.assert_array_equal(dx_alone, dx_fused)


def test_layers_run_on_their_own_after_a_fused_pass_are_not_fused_in_backward():
    """After Sequential's fused forward, running the pair's layers one by one replaces their
    caches; Sequential's backward then runs them one by one too, with the right gradients."""
    model, x, labels = _network_and_batch()
    loss = L.SoftmaxCrossEntropy()
    with tiers.use_ops("fast"):
        model.forward(x)
        h = x
        for layer in model.layers:                              # the caches of a plain pass
            h = layer.forward(h)
        loss.forward(h, labels)
        dx = model.backward(loss.backward())
        _, expected, _ = _gradients(model, x, labels, one_by_one=True)
    assert dx.shape == x.shape
    for name in expected:
        np.testing.assert_array_equal(model.grads[name], expected[name], err_msg=name)


def test_fused_backward_checks_dy():
    with tiers.use_ops("fast"):
        x = (np.ones((2, 3, 4, 4)) * np.arange(3)[:, None, None]).astype(np.float32)
        y, cache = fast.batchnorm2d_relu_forward(x,
                                                 np.ones(3, np.float32), np.zeros(3, np.float32),
                                                 np.zeros(3, np.float32), np.ones(3, np.float32))
        with pytest.raises(ValueError, match="batchnorm2d_relu_backward"):
            fast.batchnorm2d_relu_backward(np.ones((2, 3, 4, 5), np.float32), cache)
        pair = L.Sequential(L.BatchNorm2D(3), L.ReLU())
        pair.forward(np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32))
        with pytest.raises(TypeError, match="BatchNorm2D.backward: expected dy of dtype float32"):
            pair.backward(np.ones((2, 3, 4, 4)))
