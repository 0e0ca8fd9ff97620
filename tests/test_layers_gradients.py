"""Every layer's backward pass against centred finite differences, and its bookkeeping.

``layer_gradients`` runs forward, then backward with a random (standard-normal) upstream
gradient dy, then ``numerical_gradient`` of ``sum(layer.forward(x) * dy)`` for the input and
every parameter, in float64. Each one must agree to ``relative_error <= 1e-5`` (one figure
per array, see ``lrlc_np.gradcheck``): a correct pass scores about 1e-9, a wrong one near 1.

The layers are drawn by ``strategies.layer_setups``: geometry (batch 1-3, channels 1-4, H
and W 1-9 drawn separately, kernel 1-4 non-square, stride 1-3, padding 0-2), options and a
seed. Biases and batch norm's parameters get random values, so nothing is checked at a
special point. LC weights cost two forward passes per entry, so the LC check draws H and W
up to 7 only; a fixed grid covers every LRLC option combination once at a small size.

Every finite-difference check runs on each backend (``backend_name``: NumPy, and CuPy where
a GPU is present, skipped with the reason otherwise): the layer's parameters and the input
live there, the numbers are the same as on NumPy (drawn on the host), and the gradients are
compared on the host.

The last tests hold every layer to the contract of ``lrlc_np.layers``: ``backward`` is a
pure function of the cache and dy (same answer twice, nothing mutated, nothing aliased
to dy), ``zero_grad`` zeroes, and ``grads`` mirrors ``params``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lrlc_np.backend import to_device, to_numpy
from lrlc_np.gradcheck import layer_gradients, numerical_gradient, relative_error
from lrlc_np.layers import (
    BatchNorm2D,
    LowRankLocallyConnected2D,
    SoftmaxCrossEntropy,
)

from .conftest import BACKEND_PARAMS, build_on_backend, on_backend, use_backend
from .strategies import (
    COMBININGS,
    LAYER_KINDS,
    LRLC_INITS,
    LRLC_METHODS,
    NORMALIZATIONS,
    layer_batchnorm_input,
    layer_setups,
    seeds,
)


def _preview(a, count=5):
    return np.array2string(np.ravel(to_numpy(a))[:count], precision=6, separator=", ")


def _mismatch(what, analytic, numeric, err):
    """Failure text: which gradient, its shape and the first entries of both versions."""
    return (
        f"{what}: relative error {err:.3e} > 1e-5 for shape {np.shape(analytic)}\n"
        f"  analytic {_preview(analytic)}\n  numeric  {_preview(numeric)}"
    )


def assert_layer_gradients(layer, x, seed):
    """layer_gradients(layer, x) for "x" and every parameter name, each at <= 1e-5.

    Works on either backend's layer and x (relative_error compares on the host)."""
    results = layer_gradients(layer, x, rng=np.random.default_rng(seed))
    assert set(results) == {"x", *layer.params}, f"checked {sorted(results)}, params {sorted(layer.params)}"
    for name, (analytic, numeric) in results.items():
        assert analytic.shape == numeric.shape, f"{name}: analytic {analytic.shape}, numeric {numeric.shape}"
        err = relative_error(analytic, numeric)
        assert err <= 1e-5, _mismatch(f"{type(layer).__name__} d{name}", analytic, numeric, err)


# --------------------------------------------------------------------------- finite differences

@pytest.mark.parametrize("kind", ["conv", "dense", "relu", "batchnorm", "pool", "flatten", "sequential"])
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(data=st.data())
def test_gradients_match_finite_differences(backend_name, kind, data):
    """Analytic dx and every parameter gradient equal centred finite differences (<= 1e-5).

    Covers Conv2D and Dense with and without bias, ReLU (|x| >= 0.1, away from the kink),
    BatchNorm2D in training mode (batch statistics depend on x), GlobalAvgPool2D, Flatten
    and a conv -> batch norm -> ReLU -> pool -> dense Sequential.
    """
    setup = data.draw(layer_setups(kind), label="setup")
    with use_backend(backend_name):
        layer, x = build_on_backend(setup, np.float64)
        if kind == "sequential":
            # keep the ReLU's inputs off its kink, as the relu case does: a batch-norm output
            # within 1e-4 of 0 could change sign under the finite-difference step
            pre_relu = layer.layers[1].forward(layer.layers[0].forward(x))
            assume(float(abs(to_numpy(pre_relu)).min()) > 1e-4)
        assert_layer_gradients(layer, x, setup.seed)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(setup=layer_setups("lc", max_size=7))
def test_locally_connected_gradients(backend_name, setup):
    """LocallyConnected2D (with and without bias): dx, dweight, dbias equal finite differences.

    H and W at most 7 (not 9): the weight has an entry per position, each costing two
    forward passes in the finite differences.
    """
    with use_backend(backend_name):
        layer, x = build_on_backend(setup, np.float64)
        assert_layer_gradients(layer, x, setup.seed)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(setup=layer_setups("lrlc"))
def test_lrlc_gradients(backend_name, setup):
    """LowRankLocallyConnected2D over drawn geometry, rank, combining mode, normalisation,
    init, method and bias flags: dx, dbases, the logits and the biases equal finite differences."""
    with use_backend(backend_name):
        layer, x = build_on_backend(setup, np.float64)
        assert_layer_gradients(layer, x, setup.seed)


LRLC_GRID = list(itertools.product(COMBININGS, NORMALIZATIONS, LRLC_INITS, LRLC_METHODS))


@pytest.mark.parametrize("combining, normalize, init, method", LRLC_GRID)
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
def test_lrlc_gradients_every_option(backend_name, combining, normalize, init, method):
    """Each of the 72 (combining, normalize, init, method) combinations at least once, on a
    small non-square geometry with overlapping windows, padding and stride 2 along W (K = 3)."""
    rng = np.random.default_rng(7)
    with use_backend(backend_name):
        layer = LowRankLocallyConnected2D(2, 3, (3, 2), (5, 6), 3, stride=(1, 2), padding=(1, 0),
                                          combining=combining, normalize=normalize, init=init,
                                          method=method, rng=rng, dtype=np.float64)
        for name, p in layer.params.items():
            if "bias" in name:
                p[...] = to_device(rng.standard_normal(p.shape))
        assert_layer_gradients(layer, to_device(rng.standard_normal((2, 2, 5, 6))), seed=11)


@pytest.mark.parametrize("combining", COMBININGS)
@pytest.mark.parametrize("bias, spatial_bias", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
def test_lrlc_gradients_every_bias_flag(backend_name, combining, bias, spatial_bias):
    """Channel bias and spatial bias on and off, in every combining mode: the parameter set
    changes (no bias, row_bias/col_bias or spatial_bias) and every gradient still checks."""
    rng = np.random.default_rng(3)
    with use_backend(backend_name):
        layer = LowRankLocallyConnected2D(2, 2, (2, 3), (4, 5), 2, padding=(0, 1), combining=combining,
                                          bias=bias, spatial_bias=spatial_bias, init="random",
                                          rng=rng, dtype=np.float64)
        has_spatial = any(name in layer.params for name in ("row_bias", "col_bias", "spatial_bias"))
        assert ("bias" in layer.params) == bias and has_spatial == spatial_bias, sorted(layer.params)
        assert_layer_gradients(layer, to_device(rng.standard_normal((2, 2, 4, 5))), seed=5)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(data=st.data())
def test_batchnorm_eval_gradients(backend_name, data):
    """BatchNorm2D in evaluation mode (running statistics are constants): dx, dweight and
    dbias of forward(x, training=False) equal finite differences."""
    setup = data.draw(layer_setups("batchnorm"), label="setup")
    with use_backend(backend_name):
        layer, x = build_on_backend(setup, np.float64)
        rng = np.random.default_rng(setup.seed)
        running = {k: to_numpy(v).copy() for k, v in layer.buffers.items()}
        y = layer.forward(x, training=False)
        dy = to_device(rng.standard_normal(y.shape))
        analytic = {"x": to_numpy(layer.backward(dy)).copy(),
                    **{k: to_numpy(g).copy() for k, g in layer.grads.items()}}

        def forward(_):
            return layer.forward(x, training=False)

        for name, value in [("x", x), *layer.params.items()]:
            numeric = to_numpy(numerical_gradient(forward, value, dy))
            err = relative_error(analytic[name], numeric)
            assert err <= 1e-5, _mismatch(f"BatchNorm2D (eval) d{name}", analytic[name], numeric, err)
        for k, v in running.items():  # evaluation mode leaves the running statistics alone
            np.testing.assert_array_equal(to_numpy(layer.buffers[k]), v, err_msg=k)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(n=st.integers(1, 5), classes=st.integers(2, 6), seed=seeds, scale=st.sampled_from([0.1, 1.0, 10.0]))
def test_softmax_cross_entropy_gradient(backend_name, n, classes, seed, scale):
    """SoftmaxCrossEntropy.backward() equals the finite-difference gradient of the mean loss
    (numerical_gradient with dy=None), for small and large logits."""
    rng = np.random.default_rng(seed)
    logits = scale * rng.standard_normal((n, classes))
    labels = rng.integers(0, classes, size=n)
    loss = SoftmaxCrossEntropy()
    with use_backend(backend_name):
        logits, labels = on_backend(logits, labels)
        loss.forward(logits, labels)
        analytic = to_numpy(loss.backward()).copy()
        numeric = to_numpy(numerical_gradient(lambda z: loss.forward(z, labels), logits))
    err = relative_error(analytic, numeric)
    assert err <= 1e-5, _mismatch("SoftmaxCrossEntropy dlogits", analytic, numeric, err)
    # each row of softmax - onehot sums to zero, scaled by 1/N
    np.testing.assert_allclose(analytic.sum(axis=1), 0.0, atol=1e-12)


# --------------------------------------------------------------------------- bookkeeping

@pytest.mark.parametrize("kind", LAYER_KINDS)
@given(data=st.data())
def test_backward_is_pure_and_repeatable(kind, data):
    """backward(dy) twice gives identical dx and grads; it mutates neither x, dy nor an
    earlier result; no gradient or dx shares memory with dy (or a gradient with its param)."""
    setup = data.draw(layer_setups(kind), label="setup")
    layer, x = setup.build(np.float64)
    rng = np.random.default_rng(setup.seed)
    x_before = x.copy()
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dy_before = dy.copy()

    dx1 = layer.backward(dy)
    grads1 = dict(layer.grads)
    copies1 = {"x": dx1.copy(), **{k: g.copy() for k, g in grads1.items()}}
    dx2 = layer.backward(dy)
    grads2 = dict(layer.grads)

    np.testing.assert_array_equal(x, x_before, err_msg="backward changed x")
    np.testing.assert_array_equal(dy, dy_before, err_msg="backward changed dy")
    np.testing.assert_array_equal(dx2, copies1["x"], err_msg="second backward gave another dx")
    np.testing.assert_array_equal(dx1, copies1["x"], err_msg="second backward overwrote the first dx")
    assert dx2.shape == x.shape and dx2.dtype == x.dtype
    assert not np.shares_memory(dx2, dy), "dx shares memory with dy"
    for name in layer.params:
        np.testing.assert_array_equal(grads2[name], copies1[name], err_msg=f"second backward changed d{name}")
        np.testing.assert_array_equal(grads1[name], copies1[name], err_msg=f"second backward overwrote d{name}")
        assert not np.shares_memory(grads2[name], dy), f"d{name} shares memory with dy"
        assert not np.shares_memory(grads2[name], layer.params[name]), f"d{name} shares memory with {name}"


@pytest.mark.parametrize("kind", LAYER_KINDS)
@given(data=st.data())
def test_grads_mirror_params_and_zero_grad(kind, data):
    """grads and params have the same keys, shapes and dtypes, before and after backward;
    zero_grad() sets every gradient to zero (after backward made them non-zero)."""
    setup = data.draw(layer_setups(kind), label="setup")
    layer, x = setup.build(np.float64)

    def assert_mirrored(when):
        assert list(layer.grads) == list(layer.params), f"{when}: {list(layer.grads)} vs {list(layer.params)}"
        for name, p in layer.params.items():
            g = layer.grads[name]
            assert g.shape == p.shape and g.dtype == p.dtype, (
                f"{when}: d{name} {g.shape} {g.dtype}, {name} {p.shape} {p.dtype}")

    assert_mirrored("after construction")
    y = layer.forward(x)
    layer.backward(np.random.default_rng(setup.seed).standard_normal(y.shape))
    assert_mirrored("after backward")
    layer.zero_grad()
    assert_mirrored("after zero_grad")
    for name, g in layer.grads.items():
        assert not np.any(g), f"zero_grad left d{name} = {_preview(g)}"


def test_zero_grad_really_resets_a_nonzero_gradient():
    """zero_grad() clears gradients that backward filled (guards the test above against
    layers whose gradients happen to be zero already)."""
    rng = np.random.default_rng(0)
    layer = BatchNorm2D(2, dtype=np.float64)
    x = layer_batchnorm_input(rng, (2, 2, 3, 3))
    layer.backward(rng.standard_normal(layer.forward(x).shape))
    assert all(np.any(g) for g in layer.grads.values())
    layer.zero_grad()
    assert not any(np.any(g) for g in layer.grads.values())
