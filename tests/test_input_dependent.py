"""The input-dependent LRLC layer: its combining network, gradients, identities and errors.

``LowRankLocallyConnected2D(..., combining="full", input_dependent=True)`` computes alpha
(N, K, H_out, W_out) from the layer's input with ``InputDependentCombiningWeights``. Checked:

- finite differences (float64, random dy, relative_error <= 1e-5) for x and every
  parameter, on drawn geometries that reach every dilation branch (inputs up to 18x18, so
  r = 8 is used whenever min(H, W) >= 17), and on a fixed 17x17 case that uses all four;
- which dilations are used for which input size;
- each example's output depends on that example alone;
- with the last projection at zero the softmax alpha is uniform, and the layer equals the
  fixed LRLC layer at init="conv" with the same bases and biases;
- the layer's params are the source of truth for the combining network, and bad options fail
  with messages that name the layer.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrlc_np.backend import to_device, to_numpy
from lrlc_np.gradcheck import check_layer, relative_error
from lrlc_np.layers import InputDependentCombiningWeights, LowRankLocallyConnected2D
from lrlc_np.options import NORMALIZATIONS

from .conftest import BACKEND_PARAMS, use_backend
from .strategies import seeds


@st.composite
def input_dependent_setups(draw, max_size=18):
    """(layer kwargs, x shape): channels 1-2, rank 1-3, H and W 3..max_size, kernel 1-3,
    stride 1-2, padding 0-1; every normalisation."""
    kernel = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 1))
    h = draw(st.integers(max(3, kernel - 2 * padding), max_size))
    w = draw(st.integers(max(3, kernel - 2 * padding), max_size))
    c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kwargs = dict(in_channels=c_in, out_channels=c_out, kernel_size=kernel, input_size=(h, w),
                  rank=draw(st.integers(1, 3)), stride=draw(st.integers(1, 2)), padding=padding,
                  normalize=draw(st.sampled_from(NORMALIZATIONS)), combining="full", input_dependent=True)
    return kwargs, (draw(st.integers(1, 2)), c_in, h, w)


def _layer(kwargs, seed, dtype=np.float64):
    """The layer with random (not zero) biases everywhere, so nothing sits at a special point."""
    rng = np.random.default_rng(seed)
    layer = LowRankLocallyConnected2D(**kwargs, rng=rng, dtype=dtype)
    for name, p in layer.params.items():
        if name.endswith("bias"):
            p[...] = to_device(layer.rng.standard_normal(p.shape) * 0.5)   # drawn on the host
    return layer


def _assert_all_small(errors, what):
    worst = max(errors, key=errors.get)
    assert errors[worst] <= 1e-5, f"{what}: d{worst} relative error {errors[worst]:.3g} > 1e-5 ({errors})"


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(setup=input_dependent_setups(), seed=seeds)
def test_input_dependent_layer_gradients(backend_name, setup, seed):
    kwargs, x_shape = setup
    with use_backend(backend_name) as xp:
        layer = _layer(kwargs, seed)
        x = xp.asarray(np.random.default_rng(seed + 1).standard_normal(x_shape))
        errors = check_layer(layer, x, rng=np.random.default_rng(seed + 2))
    assert set(errors) == {"x", *layer.params}
    _assert_all_small(errors, f"input-dependent LRLC {kwargs}")


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
def test_every_dilation_branch_gradients(backend_name):
    """17x17 input: the combining network uses r = 1, 2, 4, 8, and every branch's gradient checks."""
    kwargs = dict(in_channels=2, out_channels=2, kernel_size=3, input_size=17, rank=2,
                  combining="full", input_dependent=True)
    with use_backend(backend_name) as xp:
        layer = _layer(kwargs, seed=3)
        assert layer.combiner.dilations == (1, 2, 4, 8)
        x = xp.asarray(np.random.default_rng(4).standard_normal((2, 2, 17, 17)))
        errors = check_layer(layer, x, rng=np.random.default_rng(5))
    for r in (1, 2, 4, 8):
        assert f"combiner.dilated{r}.weight" in errors and f"combiner.dilated{r}.bias" in errors
    _assert_all_small(errors, "17x17 input-dependent LRLC")


@given(c_in=st.integers(1, 2), rank=st.integers(1, 3), h=st.integers(3, 18), w=st.integers(3, 18),
       out_h=st.integers(1, 9), out_w=st.integers(1, 9), seed=seeds)
def test_combining_network_alone_gradients(c_in, rank, h, w, out_h, out_w, seed):
    """The combining network on its own, any input and output size (resizing up or down)."""
    rng = np.random.default_rng(seed)
    net = InputDependentCombiningWeights(c_in, rank, (h, w), (out_h, out_w), rng=rng, dtype=np.float64)
    for p in net.params.values():
        p[...] += 0.1 * rng.standard_normal(p.shape)
    errors = check_layer(net, rng.standard_normal((2, c_in, h, w)), rng=rng)
    _assert_all_small(errors, f"InputDependentCombiningWeights {h}x{w} -> {out_h}x{out_w}, K={rank}")


@pytest.mark.parametrize("size, dilations", [(3, (1,)), (4, (1,)), (5, (1, 2)), (8, (1, 2)), (9, (1, 2, 4)),
                                             (16, (1, 2, 4)), (17, (1, 2, 4, 8)), (28, (1, 2, 4, 8)),
                                             ((30, 6), (1, 2))])
def test_dilations_used_for_each_input_size(size, dilations):
    """r is used when r <= (min(H, W) - 1) // 2, the largest a valid 3x3 kernel at dilation r fits."""
    net = InputDependentCombiningWeights(1, 2, size, 3, rng=np.random.default_rng(0))
    assert net.dilations == dilations
    hidden_in = net.params["hidden.weight"].shape[1]
    assert hidden_in == 2 * (2 + len(dilations))          # K channels per map: x_low, x_pool, one per r
    assert net.params["gate.weight"].shape == (12, 6, 1, 1)


def test_parameter_names_and_shapes():
    layer = LowRankLocallyConnected2D(3, 5, 3, 12, 4, combining="full", input_dependent=True,
                                      rng=np.random.default_rng(0))
    expected = {
        "bases": (4, 5, 3, 3, 3), "bias": (5,), "spatial_bias": (10, 10),
        "combiner.low.weight": (4, 3, 1, 1), "combiner.low.bias": (4,),
        "combiner.dilated1.weight": (4, 1, 3, 3), "combiner.dilated1.bias": (4,),
        "combiner.dilated2.weight": (4, 1, 3, 3), "combiner.dilated2.bias": (4,),
        "combiner.dilated4.weight": (4, 1, 3, 3), "combiner.dilated4.bias": (4,),
        "combiner.hidden.weight": (12, 20, 1, 1), "combiner.hidden.bias": (12,),
        "combiner.gate.weight": (24, 12, 1, 1), "combiner.gate.bias": (24,),
        "combiner.out.weight": (4, 24, 1, 1), "combiner.out.bias": (4,),
    }
    assert {k: tuple(v.shape) for k, v in layer.params.items()} == expected
    assert set(layer.grads) == set(expected)
    assert set(layer.decayed) == {"bases"} | {k for k in expected if k.startswith("combiner.") and k.endswith("weight")}
    for name in expected:                                   # biases start at zero, weights do not
        assert (np.count_nonzero(layer.params[name]) == 0) == name.endswith("bias")
    # Glorot-uniform bound of the 1x1 convolutions: sqrt(6 / (fan_in + fan_out))
    assert np.abs(layer.params["combiner.gate.weight"]).max() <= np.sqrt(6 / (12 + 24))


@given(setup=input_dependent_setups(max_size=12), seed=seeds)
def test_each_example_depends_on_itself_only(setup, seed):
    """Output n from the whole batch equals the output of example n alone (training mode)."""
    kwargs, x_shape = setup
    layer = _layer(kwargs, seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, *x_shape[1:]))
    batch = layer.forward(x)
    for n in range(3):
        alone = layer.forward(x[n : n + 1])
        assert relative_error(batch[n], alone[0]) <= 1e-12, f"example {n} changed with the batch"
    changed = x.copy()
    changed[0] = rng.standard_normal(x.shape[1:])
    other = layer.forward(changed)
    np.testing.assert_allclose(other[1:], batch[1:], rtol=1e-12, atol=1e-12)
    assert not np.allclose(other[0], batch[0])


@given(setup=input_dependent_setups(max_size=12), seed=seeds)
def test_zero_projection_gives_uniform_alpha_and_the_fixed_layer(setup, seed):
    """out.weight = out.bias = 0: logits 0, softmax alpha = 1/K everywhere, and the layer
    equals the fixed LRLC layer at init="conv" with the same bases and biases."""
    kwargs, x_shape = setup
    kwargs = dict(kwargs, normalize="softmax")
    layer = _layer(kwargs, seed)
    layer.params["combiner.out.weight"][...] = 0
    layer.params["combiner.out.bias"][...] = 0
    x = np.random.default_rng(seed).standard_normal(x_shape)
    alpha = layer.combining_weights(x)
    assert alpha.shape == (x_shape[0], kwargs["rank"], *layer.output_size)
    np.testing.assert_allclose(alpha, 1 / kwargs["rank"], rtol=1e-14)
    fixed_kwargs = {k: v for k, v in kwargs.items() if k != "input_dependent"}
    fixed = LowRankLocallyConnected2D(**fixed_kwargs, init="conv", rng=np.random.default_rng(seed + 9),
                                      dtype=np.float64)
    for name in ("bases", "bias", "spatial_bias"):
        fixed.params[name][...] = layer.params[name]
    assert relative_error(layer.forward(x), fixed.forward(x)) <= 1e-12


def test_layer_params_are_the_source_of_truth():
    """Replacing an entry of layer.params (as a checkpoint loader might) changes the combiner."""
    layer = _layer(dict(in_channels=1, out_channels=2, kernel_size=3, input_size=9, rank=2,
                        combining="full", input_dependent=True), seed=0)
    x = np.random.default_rng(1).standard_normal((2, 1, 9, 9))
    before = layer.combining_weights(x)
    layer.params["combiner.out.bias"] = np.array([5.0, -5.0])
    after = layer.combining_weights(x)
    assert np.all(after[:, 0] > before[:, 0])
    layer.forward(x)
    layer.backward(np.ones((2, 2, 7, 7)))
    assert layer.grads["combiner.out.bias"].shape == (2,)


def test_float32_layer_keeps_float32():
    layer = LowRankLocallyConnected2D(2, 3, 3, 10, 2, combining="full", input_dependent=True,
                                      rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((2, 2, 10, 10)).astype(np.float32)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(combining="row_col"), ValueError, "LowRankLocallyConnected2D: input_dependent=True .* needs combining='full' \\(its default\\), got combining='row_col'"),
    (dict(combining="row"), ValueError, "needs combining='full' \\(its default\\), got combining='row'"),
    (dict(combining="full", method="lc"), ValueError, "LowRankLocallyConnected2D: input_dependent=True .* method 'lc'"),
    (dict(combining="full", input_dependent=1), TypeError, "expected input_dependent as True or False, got 1"),
])
def test_bad_options_are_named(kwargs, error, message):
    kwargs = {"input_dependent": True, **kwargs}
    with pytest.raises(error, match=message):
        LowRankLocallyConnected2D(1, 2, 3, 8, 2, rng=np.random.default_rng(0), **kwargs)


def test_combining_weights_needs_the_input_and_no_effective_weight():
    layer = LowRankLocallyConnected2D(1, 2, 3, 8, 2, combining="full", input_dependent=True,
                                      rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"LowRankLocallyConnected2D: input-dependent combining weights need .*\(N, 1, 8, 8\)"):
        layer.combining_weights()
    with pytest.raises(ValueError, match="expected input .*got shape"):
        layer.combining_weights(np.zeros((1, 1, 7, 8), np.float32))
    with pytest.raises(ValueError, match="no single effective weight"):
        layer.effective_weight()


def test_alpha_depends_on_the_input():
    """Two different digits-like inputs get different alpha maps (the point of the variant)."""
    layer = _layer(dict(in_channels=1, out_channels=2, kernel_size=3, input_size=12, rank=3,
                        combining="full", input_dependent=True), seed=2)
    rng = np.random.default_rng(0)
    alpha = to_numpy(layer.combining_weights(rng.standard_normal((2, 1, 12, 12))))
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, rtol=1e-12)     # softmax over K
    assert np.abs(alpha[0] - alpha[1]).max() > 1e-3
