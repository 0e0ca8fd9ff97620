"""The identities of DESIGN.md that tie the layers to each other, on drawn geometry.

Conv, LC and LRLC are one family: LRLC with K = 1 is a convolution plus a spatial bias, an
LC layer whose positions share one kernel is a convolution, LRLC is the LC layer built from
its effective weights, and "row_col" / "row" / "col" are "full" with summed logits. Each
identity is checked on the outputs and, where the parameters correspond, on the gradients
(the chain rule through the correspondence). Then the contract details: normalised
combining weights, conv-like initialisation, the two LRLC methods, float32 all the way,
reproducible initialisation, batch norm's running statistics, Sequential's parameter
names and every layer's ``repr``.

Expected values are computed here from the parameters by name (logits assembled, softmax
and norms written out), never by calling the method under test on both sides.

The identities, the dtype checks and batch norm's statistics run on each backend
(``backend_name``: NumPy, and CuPy where a GPU is present, skipped with the reason
otherwise): the layers are built there, the numbers are drawn on the host and moved, and
results come back to NumPy for the comparisons. Seeding, Sequential's names and ``repr``
are bookkeeping and stay NumPy-only.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrlc_np.backend import to_device, to_numpy
from lrlc_np.layers import (
    BatchNorm2D,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool2D,
    LocallyConnected2D,
    LowRankLocallyConnected2D,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
)

from .conftest import BACKEND_PARAMS, build_on_backend, on_backend, use_backend
from .strategies import (
    COMBININGS,
    LAYER_KINDS,
    LRLC_METHODS,
    NORMALIZATIONS,
    arrays,
    geometries,
    layer_batchnorm_input,
    layer_setups,
    lrlc_options,
    normalizations,
    ranks,
    seeds,
)

TIGHT = dict(rtol=1e-10, atol=1e-10)  # float64, same maths in another order


# --------------------------------------------------------------------------- independent formulas

def host_params(layer):
    """layer.params as NumPy arrays (under NumPy: the parameters themselves)."""
    return {name: to_numpy(value) for name, value in layer.params.items()}


def assembled_logits(layer):
    """logits (K, H_out, W_out) from the layer's logit parameters, per DESIGN.md (on the host)."""
    p, (ho, wo) = host_params(layer), layer.output_size
    if "logits" in p:
        return p["logits"].copy()
    logits = np.zeros((layer.rank, ho, wo))
    if "row_logits" in p:
        logits = logits + p["row_logits"][:, :, None]
    if "col_logits" in p:
        logits = logits + p["col_logits"][:, None, :]
    return logits


def assembled_spatial_bias(layer):
    """sbias (H_out, W_out) from row_bias / col_bias / spatial_bias (zeros if none), on the host."""
    p = host_params(layer)
    if "spatial_bias" in p:
        return p["spatial_bias"].copy()
    sbias = np.zeros(layer.output_size)
    if "row_bias" in p:
        sbias = sbias + p["row_bias"][:, None]
    if "col_bias" in p:
        sbias = sbias + p["col_bias"][None, :]
    return sbias


def normalised(logits, normalize):
    """Combining weights over axis 0 (K), written out."""
    if normalize == "softmax":
        e = np.exp(logits - logits.max(axis=0))
        return e / e.sum(axis=0)
    if normalize == "norm":
        return logits / np.maximum(np.sqrt((logits**2).sum(axis=0)), 1e-12)
    return logits.copy()


def lrlc_layer(g, seed, **options):
    """An LRLC layer over geometry g with float64 parameters from default_rng(seed)."""
    return LowRankLocallyConnected2D(g.c_in, g.c_out, g.kernel, (g.h, g.w), stride=g.stride,
                                     padding=g.padding, rng=np.random.default_rng(seed),
                                     dtype=np.float64, **options)


def randomise(layer, rng, *names):
    """Give the named parameters (those present) standard-normal values (drawn on the host)."""
    for name in names:
        if name in layer.params:
            layer.params[name][...] = to_device(rng.standard_normal(layer.params[name].shape))


BIAS_NAMES = ("bias", "row_bias", "col_bias", "spatial_bias")
LOGIT_NAMES = ("row_logits", "col_logits", "logits")


def forward_backward(layer, x, dy):
    """-> (y, dx, grads copy), as NumPy arrays; x and dy may be host arrays (moved to the
    active backend, where the layer's parameters are)."""
    y = layer.forward(on_backend(x))
    dx = layer.backward(on_backend(dy))
    return to_numpy(y), to_numpy(dx), {k: to_numpy(v).copy() for k, v in layer.grads.items()}


# --------------------------------------------------------------------------- conv / LC / LRLC

@pytest.mark.parametrize("combining", COMBININGS)
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(g=geometries(), seed=seeds, method=st.sampled_from(LRLC_METHODS))
def test_rank_one_softmax_lrlc_is_conv_plus_spatial_bias(backend_name, combining, g, seed, method):
    """K = 1 with softmax: alpha = 1 everywhere, so LRLC = Conv2D(weight = bases[0], same
    channel bias) + the spatial bias; dx, dbases[0] and dbias equal the conv gradients."""
    rng = np.random.default_rng(seed)
    with use_backend(backend_name):
        lrlc = lrlc_layer(g, seed, rank=1, combining=combining, normalize="softmax", init="random", method=method)
        randomise(lrlc, rng, *BIAS_NAMES)
        conv = Conv2D(g.c_in, g.c_out, g.kernel, g.stride, g.padding, dtype=np.float64)
        conv.params["weight"][...] = lrlc.params["bases"][0]
        conv.params["bias"][...] = lrlc.params["bias"]
        x = arrays(rng, g.x_shape)
        dy = rng.standard_normal((g.n, g.c_out, *g.out_hw))

        y, dx, grads = forward_backward(lrlc, x, dy)
        y_conv, dx_conv, grads_conv = forward_backward(conv, x, dy)
    np.testing.assert_allclose(y, y_conv + assembled_spatial_bias(lrlc), **TIGHT)
    np.testing.assert_allclose(dx, dx_conv, **TIGHT)
    np.testing.assert_allclose(grads["bases"][0], grads_conv["weight"], **TIGHT)
    np.testing.assert_allclose(grads["bias"], grads_conv["bias"], **TIGHT)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(g=geometries(), seed=seeds, bias=st.booleans())
def test_lc_with_one_shared_kernel_is_conv(backend_name, g, seed, bias):
    """An LC layer whose every position holds the conv kernel (and the conv bias broadcast
    over positions) computes the convolution; its dweight and dbias summed over positions
    are the conv gradients, and dx is the same."""
    rng = np.random.default_rng(seed)
    with use_backend(backend_name):
        conv = Conv2D(g.c_in, g.c_out, g.kernel, g.stride, g.padding, bias=bias, rng=rng, dtype=np.float64)
        lc = LocallyConnected2D(g.c_in, g.c_out, g.kernel, (g.h, g.w), g.stride, g.padding, bias=bias,
                                dtype=np.float64)
        lc.params["weight"][...] = conv.params["weight"]            # broadcast over (H_out, W_out)
        if bias:
            conv.params["bias"][...] = to_device(rng.standard_normal(g.c_out))
            lc.params["bias"][...] = conv.params["bias"][:, None, None]
        x = arrays(rng, g.x_shape)
        dy = rng.standard_normal((g.n, g.c_out, *g.out_hw))

        y_lc, dx_lc, grads_lc = forward_backward(lc, x, dy)
        y_conv, dx_conv, grads_conv = forward_backward(conv, x, dy)
    np.testing.assert_allclose(y_lc, y_conv, **TIGHT)
    np.testing.assert_allclose(dx_lc, dx_conv, **TIGHT)
    np.testing.assert_allclose(grads_lc["weight"].sum(axis=(0, 1)), grads_conv["weight"], **TIGHT)
    if bias:
        np.testing.assert_allclose(grads_lc["bias"].sum(axis=(1, 2)), grads_conv["bias"], **TIGHT)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(g=geometries(), seed=seeds, options=lrlc_options(init="random"))
def test_lrlc_is_lc_with_effective_weight(backend_name, g, seed, options):
    """combining_weights() is normalize(assembled logits); effective_weight()[i, j] is
    sum_k alpha[k, i, j] bases[k]; the LC layer with that weight and bias[o] + sbias[i, j]
    gives LRLC's output and dx, and its dweight maps back to dbases and the bias gradients."""
    rng = np.random.default_rng(seed)
    with use_backend(backend_name):
        lrlc = lrlc_layer(g, seed, **options)
        randomise(lrlc, rng, *BIAS_NAMES)
        p = host_params(lrlc)
        alpha = normalised(assembled_logits(lrlc), options["normalize"])
        np.testing.assert_allclose(to_numpy(lrlc.combining_weights()), alpha, **TIGHT)
        weight = np.einsum("kij,kocpq->ijocpq", alpha, p["bases"])
        np.testing.assert_allclose(to_numpy(lrlc.effective_weight()), weight, **TIGHT)

        has_bias = options["bias"] or options["spatial_bias"]
        lc = LocallyConnected2D(g.c_in, g.c_out, g.kernel, (g.h, g.w), g.stride, g.padding, bias=has_bias,
                                dtype=np.float64)
        lc.params["weight"][...] = to_device(weight)
        if has_bias:
            channel = p["bias"][:, None, None] if options["bias"] else 0.0
            lc.params["bias"][...] = to_device(channel + assembled_spatial_bias(lrlc)[None])
        x = arrays(rng, g.x_shape)
        dy = rng.standard_normal((g.n, g.c_out, *g.out_hw))

        y, dx, grads = forward_backward(lrlc, x, dy)
        y_lc, dx_lc, grads_lc = forward_backward(lc, x, dy)
    np.testing.assert_allclose(y, y_lc, **TIGHT)
    np.testing.assert_allclose(dx, dx_lc, **TIGHT)
    # chain rule through W[i, j] = sum_k alpha[k, i, j] B_k
    np.testing.assert_allclose(grads["bases"], np.einsum("kij,ijocpq->kocpq", alpha, grads_lc["weight"]), **TIGHT)
    if options["bias"]:
        np.testing.assert_allclose(grads["bias"], grads_lc["bias"].sum(axis=(1, 2)), **TIGHT)


@pytest.mark.parametrize("combining", ["row_col", "row", "col"])
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(g=geometries(), seed=seeds, rank=ranks, normalize=normalizations, method=st.sampled_from(LRLC_METHODS))
def test_row_and_column_modes_are_full_with_summed_logits(backend_name, combining, g, seed, rank, normalize, method):
    """combining="row_col"/"row"/"col" equals "full" with logits[k, i, j] = row_logits[k, i]
    + col_logits[k, j] and spatial_bias = row_bias[:, None] + col_bias[None, :] (the parts a
    mode has); the full layer's dlogits and dspatial_bias summed over columns (rows) are the
    row (column) gradients, and dx, dbases, dbias agree."""
    rng = np.random.default_rng(seed)
    with use_backend(backend_name):
        part = lrlc_layer(g, seed, rank=rank, combining=combining, normalize=normalize, init="random",
                          method=method)
        randomise(part, rng, *BIAS_NAMES)
        full = lrlc_layer(g, seed + 1, rank=rank, combining="full", normalize=normalize, method=method)
        full.params["bases"][...] = part.params["bases"]
        full.params["bias"][...] = part.params["bias"]
        full.params["logits"][...] = to_device(assembled_logits(part))
        full.params["spatial_bias"][...] = to_device(assembled_spatial_bias(part))
        x = arrays(rng, g.x_shape)
        dy = rng.standard_normal((g.n, g.c_out, *g.out_hw))

        y, dx, grads = forward_backward(part, x, dy)
        y_full, dx_full, grads_full = forward_backward(full, x, dy)
    np.testing.assert_allclose(y, y_full, **TIGHT)
    np.testing.assert_allclose(dx, dx_full, **TIGHT)
    for name in ("bases", "bias"):
        np.testing.assert_allclose(grads[name], grads_full[name], **TIGHT, err_msg=name)
    # a row parameter feeds every column of its row: sum the full gradient over columns
    expected = {"row_logits": grads_full["logits"].sum(axis=2), "col_logits": grads_full["logits"].sum(axis=1),
                "row_bias": grads_full["spatial_bias"].sum(axis=1), "col_bias": grads_full["spatial_bias"].sum(axis=0)}
    present = [name for name in expected if name in part.params]
    assert len(present) == {"row_col": 4, "row": 2, "col": 2}[combining], sorted(part.params)
    for name in present:
        np.testing.assert_allclose(grads[name], expected[name], **TIGHT, err_msg=name)


@pytest.mark.parametrize("combining", COMBININGS)
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(g=geometries(), seed=seeds, rank=ranks, normalize=normalizations, scale=st.sampled_from([0.01, 1.0, 30.0]))
def test_combining_weights_are_normalised_over_k(backend_name, combining, g, seed, rank, normalize, scale):
    """softmax weights are >= 0 and sum to 1 over K; "norm" weights have unit L2 norm over K;
    "none" weights are the assembled logits themselves; at every position, for small and
    large logits."""
    with use_backend(backend_name):
        layer = lrlc_layer(g, seed, rank=rank, combining=combining, normalize=normalize, init="random")
        for name in LOGIT_NAMES:
            if name in layer.params:
                layer.params[name] *= scale
        alpha = to_numpy(layer.combining_weights())
    assert alpha.shape == (rank, *g.out_hw)
    if normalize == "softmax":
        assert np.all(alpha >= 0)
        np.testing.assert_allclose(alpha.sum(axis=0), 1.0, rtol=1e-12)
    elif normalize == "norm":
        np.testing.assert_allclose(np.sqrt((alpha**2).sum(axis=0)), 1.0, rtol=1e-12)
    else:
        np.testing.assert_allclose(alpha, assembled_logits(layer), rtol=1e-12)


@pytest.mark.parametrize("combining", COMBININGS)
@pytest.mark.parametrize("normalize", NORMALIZATIONS)
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(g=geometries(), seed=seeds, rank=ranks)
def test_conv_init_starts_as_a_convolution(backend_name, combining, normalize, g, seed, rank):
    """init="conv": alpha = 1/K (softmax) or 1/sqrt(K) (norm, none) at every position, so
    every position's effective kernel is the same, c * sum_k B_k; biases start at zero and
    the layer computes Conv2D with that kernel."""
    with use_backend(backend_name):
        layer = lrlc_layer(g, seed, rank=rank, combining=combining, normalize=normalize, init="conv")
        p = host_params(layer)
        value = 1 / rank if normalize == "softmax" else 1 / np.sqrt(rank)
        np.testing.assert_allclose(to_numpy(layer.combining_weights()), np.full((rank, *g.out_hw), value),
                                   rtol=1e-12)
        kernel = value * p["bases"].sum(axis=0)
        weight = to_numpy(layer.effective_weight())
        np.testing.assert_allclose(weight, np.broadcast_to(kernel, weight.shape), rtol=1e-10, atol=1e-12)
        for name in BIAS_NAMES:
            if name in p:
                assert not np.any(p[name]), f"{name} should start at zero"
        conv = Conv2D(g.c_in, g.c_out, g.kernel, g.stride, g.padding, bias=False, dtype=np.float64)
        conv.params["weight"][...] = to_device(kernel)
        x = on_backend(arrays(np.random.default_rng(seed), g.x_shape))
        np.testing.assert_allclose(to_numpy(layer.forward(x)), to_numpy(conv.forward(x)), **TIGHT)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(setup=layer_setups("lrlc", method="conv"))
def test_lrlc_methods_agree(backend_name, setup):
    """method="conv", "lc" and "auto" give the same output, dx and parameter gradients."""
    results = {}
    with use_backend(backend_name):
        for method in LRLC_METHODS:
            options = tuple((k, method if k == "method" else v) for k, v in setup.options)
            layer, x = build_on_backend(dataclasses.replace(setup, options=options), np.float64)
            assert layer.method == method
            dy = np.random.default_rng(setup.seed + 1).standard_normal(
                (x.shape[0], layer.out_channels, *layer.output_size))
            results[method] = forward_backward(layer, x, dy)
    y_c, dx_c, g_c = results["conv"]
    for other in ("lc", "auto"):
        y_o, dx_o, g_o = results[other]
        np.testing.assert_allclose(y_o, y_c, **TIGHT, err_msg=f"{other} output")
        np.testing.assert_allclose(dx_o, dx_c, **TIGHT, err_msg=f"{other} dx")
        assert list(g_o) == list(g_c)
        for name in g_c:
            np.testing.assert_allclose(g_o[name], g_c[name], **TIGHT, err_msg=f"{other} d{name}")


# --------------------------------------------------------------------------- dtype, seeds

@pytest.mark.parametrize("kind", LAYER_KINDS)
@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(data=st.data())
def test_float32_layers_stay_float32(backend_name, kind, data):
    """A float32 layer fed float32 returns float32 output, dx and grads (and keeps float32
    params), with values close to the same layer built in float64."""
    setup = data.draw(layer_setups(kind), label="setup")
    with use_backend(backend_name):
        layer32, x32 = build_on_backend(setup, np.float32)
        layer64, x64 = build_on_backend(setup, np.float64)
        for name, p in layer32.params.items():
            assert p.dtype == np.float32, f"param {name} is {p.dtype}"
        y32 = layer32.forward(x32)
        dy = np.random.default_rng(setup.seed).standard_normal(y32.shape)
        dx32 = layer32.backward(on_backend(dy.astype(np.float32)))
        assert y32.dtype == np.float32 and dx32.dtype == np.float32, (y32.dtype, dx32.dtype)
        for name, g in layer32.grads.items():
            assert g.dtype == np.float32, f"d{name} is {g.dtype}"
        y64 = layer64.forward(x64)
        dx64 = layer64.backward(on_backend(dy))
        y32, dx32, y64, dx64 = (to_numpy(a) for a in (y32, dx32, y64, dx64))
    scale = max(1.0, np.abs(y64).max())
    assert np.abs(y32 - y64).max() <= 1e-4 * scale, "float32 output far from float64"
    assert np.abs(dx32 - dx64).max() <= 1e-4 * max(1.0, np.abs(dx64).max()), "float32 dx far from float64"


def test_float32_softmax_cross_entropy():
    """The loss keeps float32 logits' gradient in float32."""
    rng = np.random.default_rng(0)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(rng.standard_normal((4, 3)).astype(np.float32), np.array([0, 2, 1, 2]))
    assert isinstance(value, float)
    assert loss.backward().dtype == np.float32


SEEDED = {
    "Conv2D": lambda rng: Conv2D(3, 4, (3, 2), rng=rng, dtype=np.float64),
    "LocallyConnected2D": lambda rng: LocallyConnected2D(3, 4, (3, 2), (5, 6), rng=rng, dtype=np.float64),
    "LowRankLocallyConnected2D": lambda rng: LowRankLocallyConnected2D(3, 4, (3, 2), (5, 6), 3, combining="row_col",
                                                                       init="random", rng=rng, dtype=np.float64),
    "LowRankLocallyConnected2D-full": lambda rng: LowRankLocallyConnected2D(3, 4, 2, 5, 2, combining="full",
                                                                            init="random", rng=rng),
    "Dense": lambda rng: Dense(7, 5, rng=rng),
}


@pytest.mark.parametrize("name", list(SEEDED))
@given(seed=seeds)
def test_same_seed_same_parameters(name, seed):
    """Two layers built with default_rng(seed) have identical parameters; another seed gives
    other random parameters; the global NumPy random state is never touched."""
    make = SEEDED[name]
    state = np.random.get_state()
    a, b = make(np.random.default_rng(seed)), make(np.random.default_rng(seed))
    c = make(np.random.default_rng(seed + 1))
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:], "global RNG used"
    assert list(a.params) == list(b.params)
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key], err_msg=key)
    random_names = [k for k in a.params if "bias" not in k]   # biases start at zero
    for key in random_names:
        assert not np.array_equal(a.params[key], c.params[key]), f"{key} ignores the seed"


def test_no_rng_gives_fresh_random_weights():
    """rng=None means a fresh unseeded generator: two layers get different weights."""
    assert not np.array_equal(Conv2D(2, 3, 3).params["weight"], Conv2D(2, 3, 3).params["weight"])


# --------------------------------------------------------------------------- batch norm

def bn_expected(x, mean, var, weight, bias, eps=1e-5):
    return (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + eps) * weight[:, None, None] + bias[:, None, None]


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(setup=layer_setups("batchnorm"))
def test_batchnorm_eval_uses_running_statistics(backend_name, setup):
    """forward(x, training=False) normalises with running_mean / running_var (not the
    batch's) and leaves them unchanged."""
    with use_backend(backend_name):
        layer, x = build_on_backend(setup, np.float64)
        running = {k: to_numpy(v).copy() for k, v in layer.buffers.items()}
        y = to_numpy(layer.forward(x, training=False))
        p = host_params(layer)
        buffers = {k: to_numpy(v) for k, v in layer.buffers.items()}
    expected = bn_expected(to_numpy(x), running["running_mean"], running["running_var"], p["weight"], p["bias"])
    np.testing.assert_allclose(y, expected, **TIGHT)
    for k, v in running.items():
        np.testing.assert_array_equal(buffers[k], v, err_msg=k)


@pytest.mark.parametrize("backend_name", BACKEND_PARAMS)
@given(setup=layer_setups("batchnorm"), momentum=st.sampled_from([None, 0.3, 1.0]))
def test_batchnorm_training_updates_running_statistics(backend_name, setup, momentum):
    """Training mode normalises with the batch mean and biased variance, then moves the
    running statistics: r <- (1 - m) r + m * stat, with the unbiased variance (ddof=1) as
    PyTorch does; m = 0.1 by default. Two steps, so the old values matter."""
    with use_backend(backend_name):
        built, x = build_on_backend(setup, np.float64)   # random weight, bias and running statistics
        layer = built if momentum is None else BatchNorm2D(x.shape[1], momentum=momentum, dtype=np.float64)
        for source, target in ((built.params, layer.params), (built.buffers, layer.buffers)):
            for k, v in source.items():
                target[k][...] = v
        x, p = to_numpy(x), host_params(layer)   # the formulas below run on the host
        m = 0.1 if momentum is None else momentum
        rng = np.random.default_rng(setup.seed)
        mean, var = to_numpy(layer.buffers["running_mean"]).copy(), to_numpy(layer.buffers["running_var"]).copy()
        for step in range(2):
            batch = x if step == 0 else layer_batchnorm_input(rng, x.shape) * 3 + 1
            y = to_numpy(layer.forward(on_backend(batch), training=True))
            axes = (0, 2, 3)
            expected = bn_expected(batch, batch.mean(axis=axes), batch.var(axis=axes), p["weight"], p["bias"])
            np.testing.assert_allclose(y, expected, **TIGHT)
            unbiased = batch.transpose(1, 0, 2, 3).reshape(batch.shape[1], -1).var(axis=1, ddof=1)
            mean = (1 - m) * mean + m * batch.mean(axis=axes)
            var = (1 - m) * var + m * unbiased
            np.testing.assert_allclose(to_numpy(layer.buffers["running_mean"]), mean, **TIGHT,
                                       err_msg=f"step {step}")
            np.testing.assert_allclose(to_numpy(layer.buffers["running_var"]), var, **TIGHT,
                                       err_msg=f"step {step}")


# --------------------------------------------------------------------------- Sequential, repr

def test_sequential_named_parameters():
    """named_parameters() yields ("<index>.<name>", param, grad) in layer order, with the
    children's own arrays; params / grads / buffers use the same dotted names."""
    rng = np.random.default_rng(0)
    layers = [Conv2D(2, 3, 3, rng=rng, dtype=np.float64), BatchNorm2D(3, dtype=np.float64), ReLU(),
              GlobalAvgPool2D(), Dense(3, 4, rng=rng, dtype=np.float64)]
    model = Sequential(*layers)
    y = model.forward(rng.standard_normal((2, 2, 5, 5)))
    model.backward(rng.standard_normal(y.shape))
    named = list(model.named_parameters())
    names = [n for n, _, _ in named]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]
    for name, param, grad in named:
        index, key = name.split(".")
        assert param is layers[int(index)].params[key], name
        assert grad is layers[int(index)].grads[key], name
    assert list(model.params) == names and list(model.grads) == names
    assert list(model.buffers) == ["1.running_mean", "1.running_var"]
    assert model.num_parameters == 3 * 2 * 9 + 3 + 3 + 3 + 4 * 3 + 4


def lrlc_count(c_in, c_out, k, out_hw, rank, combining, bias=True, spatial_bias=True):
    ho, wo = out_hw
    logits = {"row_col": rank * (ho + wo), "row": rank * ho, "col": rank * wo, "full": rank * ho * wo}[combining]
    sbias = {"row_col": ho + wo, "row": ho, "col": wo, "full": ho * wo}[combining]
    return rank * c_out * c_in * k[0] * k[1] + logits + (c_out if bias else 0) + (sbias if spatial_bias else 0)


REPR_CASES = [
    # (layer factory, parameter count from the constructor arguments)
    (lambda: Conv2D(64, 64, 3), 64 * 64 * 9 + 64),                       # the paper's layer: 36,928
    (lambda: Conv2D(3, 8, (3, 5), stride=2, bias=False), 8 * 3 * 15),
    (lambda: LocallyConnected2D(3, 8, 3, 28), 26 * 26 * 8 * 3 * 9 + 8 * 26 * 26),
    (lambda: LocallyConnected2D(2, 4, (2, 3), (7, 9), stride=2, padding=1, bias=False), 4 * 5 * 4 * 2 * 6),
    (lambda: LowRankLocallyConnected2D(64, 64, 3, 24, 4), lrlc_count(64, 64, (3, 3), (22, 22), 4, "row_col")),
    (lambda: LowRankLocallyConnected2D(3, 5, (2, 3), (6, 8), 2, combining="row", bias=False),
     lrlc_count(3, 5, (2, 3), (5, 6), 2, "row", bias=False)),
    (lambda: LowRankLocallyConnected2D(3, 5, (2, 3), (6, 8), 3, combining="col", spatial_bias=False),
     lrlc_count(3, 5, (2, 3), (5, 6), 3, "col", spatial_bias=False)),
    (lambda: LowRankLocallyConnected2D(3, 5, 3, (6, 8), 2, stride=(1, 2), padding=1, combining="full"),
     lrlc_count(3, 5, (3, 3), (6, 4), 2, "full")),
    (lambda: Dense(10, 3), 33),
    (lambda: Dense(10, 3, bias=False), 30),
    (lambda: BatchNorm2D(5), 10),
    (lambda: ReLU(), 0),
    (lambda: GlobalAvgPool2D(), 0),
    (lambda: Flatten(), 0),
]


@pytest.mark.parametrize("make, count", REPR_CASES)
def test_repr_shows_class_shapes_and_parameter_count(make, count):
    """repr names the class, every parameter with its shape and "<count with commas> params";
    num_parameters equals the count worked out from the constructor arguments."""
    layer = make()
    text = repr(layer)
    assert layer.num_parameters == count == sum(p.size for p in layer.params.values())
    assert text.startswith(type(layer).__name__ + "("), text
    for name, p in layer.params.items():
        assert f"{name} {tuple(p.shape)}" in text, f"{name} {tuple(p.shape)} missing from {text}"
    if count:
        assert f"{count:,} params" in text, text


def test_repr_of_the_paper_conv_layer():
    """The worked example: Conv2D(64, 64, 3) has 64*64*9 + 64 = 36,928 parameters."""
    text = repr(Conv2D(64, 64, 3))
    assert "36,928 params" in text and "weight (64, 64, 3, 3)" in text and "bias (64,)" in text, text


def test_repr_of_sequential_lists_children_and_total():
    """Sequential's repr shows each child's repr and the total parameter count."""
    children = [Conv2D(1, 2, 3), BatchNorm2D(2), ReLU(), GlobalAvgPool2D(), Dense(2, 10)]
    model = Sequential(*children)
    text = repr(model)
    total = (2 * 9 + 2) + 4 + (20 + 10)
    assert model.num_parameters == total
    assert text.startswith("Sequential(") and f"{total:,} params" in text, text
    for child in children:
        assert repr(child) in text, f"{child!r} missing from {text}"


def test_lc_weight_keeps_its_fast_memory_order_through_training():
    """LocallyConnected2D stores its weight in the order the product reads, (H_out, W_out,
    kh, kw, C_in, C_out) in memory, with the documented shape; its gradient comes back in that
    order, and an SGD step and a checkpoint-style in-place load keep it."""
    pytest.importorskip("lrlc_np.fast", reason="the fast tier's memory order: a student copy has no fast tier")
    from lrlc_np.optim import SGD

    layer = LocallyConnected2D(3, 4, (3, 2), (6, 5), rng=np.random.default_rng(0), dtype=np.float64)
    weight = layer.params["weight"]
    assert weight.shape == (4, 4, 4, 3, 3, 2)
    assert weight.transpose(0, 1, 4, 5, 3, 2).flags.c_contiguous
    layer.forward(np.random.default_rng(1).standard_normal((2, 3, 6, 5)))
    layer.backward(np.ones((2, 4, 4, 4)))
    assert layer.grads["weight"].transpose(0, 1, 4, 5, 3, 2).flags.c_contiguous
    SGD(layer.params, lr=0.1, momentum=0.9).step(layer.grads)
    weight[...] = np.arange(weight.size, dtype=np.float64).reshape(weight.shape)   # as load_checkpoint does
    assert layer.params["weight"] is weight and weight.transpose(0, 1, 4, 5, 3, 2).flags.c_contiguous
    assert weight[1, 2, 3, 0, 2, 1] == np.ravel_multi_index((1, 2, 3, 0, 2, 1), weight.shape)
