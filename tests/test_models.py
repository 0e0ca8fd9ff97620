"""The paper's network builder: layer classes, shapes, parameter counts, CoordConv, summary,
errors, and a gradient check of a whole (tiny) network.

Parameter counts are computed here from the formulas, independently of the layers:

    conv   C_out * C_in * k * k            (+ C_out bias only without BatchNorm)
    lc     H_out * W_out * C_out * C_in * k * k + C_out * H_out * W_out   (always a bias)
    lrlc   K * C_out * C_in * k * k + K * H_out + K * W_out (row_col logits)
           + H_out + W_out (row/col spatial biases)      (+ C_out bias only without BatchNorm)
    wide   conv with int((K * C_in + C_out) / (C_in + C_out) * C_out) filters, C_out * K last
"""

import numpy as np
import pytest

from lrlc_np import layers as L
from lrlc_np.gradcheck import TOLERANCE, check_layer
from lrlc_np.models import LAYER_TYPES, Network, build_network, wide_conv_filters

CLASSES = {"conv": L.Conv2D, "wide_conv": L.Conv2D, "lc": L.LocallyConnected2D,
           "lrlc": L.LowRankLocallyConnected2D}


def _rng(seed=0):
    return np.random.default_rng(seed)


def _wide(c_in, c_out, rank, last):
    """The wide-conv width from the design doc, in exact integer arithmetic where possible."""
    return c_out * rank if last else (rank * c_in + c_out) * c_out // (c_in + c_out)


def _layer_params(kind, c_in, c_out, k, h_out, w_out, rank, batch_norm):
    """Expected parameter count of one 3x3 layer, and its number of output channels."""
    if kind == "lc":
        return h_out * w_out * c_out * c_in * k * k + c_out * h_out * w_out, c_out
    if kind == "lrlc":
        n = rank * c_out * c_in * k * k + rank * h_out + rank * w_out + h_out + w_out
        return n + (0 if batch_norm else c_out), c_out
    return c_out * c_in * k * k + (0 if batch_norm else c_out), c_out


def _expected_total(layer_types, filters, rank, input_shape, batch_norm=True, coord_conv=False,
                    num_classes=10, k=3):
    c, h, w = input_shape
    c += 2 if coord_conv else 0
    total = 0
    for position, kind in enumerate(layer_types):
        last = position == len(layer_types) - 1
        h_out, w_out = h - k + 1, w - k + 1
        c_out = _wide(c, filters, rank, last) if kind == "wide_conv" else filters
        n, c_out = _layer_params(kind, c, c_out, k, h_out, w_out, rank, batch_norm)
        total += n + (2 * c_out if batch_norm else 0)
        c, h, w = c_out, h_out, w_out
    return total + c * num_classes + num_classes


# --------------------------------------------------------------------------- the paper's numbers

def test_paper_network_parameter_counts():
    model = build_network(rng=_rng())
    assert isinstance(model, Network) and isinstance(model, L.Sequential)
    conv2 = model.layers[3]
    assert isinstance(conv2, L.Conv2D) and conv2.num_parameters == 36_864   # 3x3, 64 -> 64, no bias
    assert set(conv2.params) == {"weight"}
    # 576 + 128 + 36,864 + 128 + 36,864 + 128 + 650
    assert model.num_parameters == 75_338
    assert model.num_parameters == _expected_total(("conv",) * 3, 64, 1, (1, 28, 28))


def test_paper_lrlc_layer_in_the_last_position():
    model = build_network(("conv", "conv", "lrlc"), rank=4, rng=_rng())
    lrlc = model.layers[6]
    assert isinstance(lrlc, L.LowRankLocallyConnected2D)
    assert lrlc.rank == 4 and lrlc.combining == "row_col" and lrlc.normalize == "softmax"
    shapes = {name: p.shape for name, p in lrlc.params.items()}
    assert shapes == {"bases": (4, 64, 64, 3, 3), "row_logits": (4, 22), "col_logits": (4, 22),
                      "row_bias": (22,), "col_bias": (22,)}        # no channel bias: BatchNorm follows
    assert lrlc.num_parameters == 4 * 64 * 64 * 9 + 4 * 22 + 4 * 22 + 22 + 22 == 147_676


@pytest.mark.parametrize("rank,expected", [(1, [64, 64, 64]), (2, [64, 96, 128]), (4, [66, 160, 256]),
                                           (8, [70, 288, 512])])
def test_paper_wide_conv_widths(rank, expected):
    # position 1: C_in = 1, int((rank + 64) / 65 * 64); middle: C_in = 64, (rank + 1) * 32;
    # last: 64 * rank. Each network has one wide_conv, at one position.
    widths = []
    for position in range(3):
        kinds = tuple("wide_conv" if i == position else "conv" for i in range(3))
        model = build_network(kinds, rank=rank, rng=_rng())
        widths.append(model.layers[3 * position].out_channels)
    assert widths == expected
    assert expected[0] == int((rank + 64) / 65 * 64) and expected[1] == (rank + 1) * 32


# --------------------------------------------------------------------------- every type at every position

@pytest.mark.parametrize("position", [0, 1, 2])
@pytest.mark.parametrize("kind", LAYER_TYPES)
def test_each_layer_type_at_each_position(kind, position):
    filters, rank = 4, 3
    kinds = tuple(kind if i == position else "conv" for i in range(3))
    model = build_network(kinds, filters=filters, rank=rank, rng=_rng())
    # layer classes: [layer, BatchNorm, ReLU] x 3, pooling, dense
    assert len(model.layers) == 11
    for i, k in enumerate(kinds):
        assert type(model.layers[3 * i]) is CLASSES[k]
        assert type(model.layers[3 * i + 1]) is L.BatchNorm2D
        assert type(model.layers[3 * i + 2]) is L.ReLU
    assert type(model.layers[9]) is L.GlobalAvgPool2D and type(model.layers[10]) is L.Dense

    # channels: a wide conv widens its output and the next layer's input follows
    swapped = model.layers[3 * position]
    c_in = 1 if position == 0 else filters
    out = (_wide(c_in, filters, rank, position == 2) if kind == "wide_conv" else filters)
    assert swapped.in_channels == c_in and swapped.out_channels == out
    assert model.layers[3 * position + 1].num_features == out
    if position < 2:
        assert model.layers[3 * position + 3].in_channels == out
    else:
        assert model.layers[10].in_features == out

    # spatial sizes: 28 -> 26 -> 24 -> 22
    if kind in ("lc", "lrlc"):
        size = 28 - 2 * position
        assert swapped.input_size == (size, size) and swapped.output_size == (size - 2, size - 2)

    # biases: conv and LRLC drop the channel bias before BatchNorm, LC keeps it
    assert ("bias" in swapped.params) == (kind == "lc")

    assert model.num_parameters == _expected_total(kinds, filters, rank, (1, 28, 28))
    x = _rng(1).standard_normal((2, 1, 28, 28)).astype(np.float32)
    logits = model.forward(x, training=False)
    assert logits.shape == (2, 10) and logits.dtype == np.float32 and np.isfinite(logits).all()


@pytest.mark.parametrize("kind", LAYER_TYPES)
def test_without_batch_norm_every_layer_keeps_its_bias(kind):
    kinds = ("conv", kind, "conv")
    model = build_network(kinds, filters=4, rank=2, batch_norm=False, rng=_rng())
    assert not any(isinstance(layer, L.BatchNorm2D) for layer in model.layers)
    assert [type(layer) for layer in model.layers[1::2][:3]] == [L.ReLU] * 3
    for layer in model.layers[0:6:2]:
        assert "bias" in layer.params and layer.params["bias"].shape[0] == layer.out_channels
    assert model.num_parameters == _expected_total(kinds, 4, 2, (1, 28, 28), batch_norm=False)
    assert model.forward(np.zeros((1, 1, 28, 28), np.float32)).shape == (1, 10)


def test_two_wide_convs_chain_their_widths():
    model = build_network(("wide_conv", "wide_conv", "wide_conv"), filters=8, rank=3, rng=_rng())
    w1 = _wide(1, 8, 3, False)            # (3 + 8) * 8 // 9 = 9
    w2 = _wide(w1, 8, 3, False)           # (27 + 8) * 8 // 17 = 16
    w3 = 8 * 3
    assert [model.layers[i].out_channels for i in (0, 3, 6)] == [w1, w2, w3] == [9, 16, 24]
    assert [model.layers[i].in_channels for i in (0, 3, 6)] == [1, w1, w2]
    assert model.layers[10].in_features == w3
    assert model.num_parameters == _expected_total(("wide_conv",) * 3, 8, 3, (1, 28, 28))


# Widths worked out by hand from int((rank*C_in + C_out) / (C_in + C_out) * C_out):
#   64 -> 64, K=4: (256 + 64) / 128 * 64 = 160;  K=2: 192 / 128 * 64 = 96;  K=8: 576 / 128 * 64 = 288
#   1 -> 64 (the first layer), K=4: 68 / 65 * 64 = 66.95.. -> 66;  K=8: 72 / 65 * 64 = 70.89.. -> 70
#   5 -> 45, K=5: 70 / 50 * 45 = 63 exactly (in floats, 70 / 50 * 45 = 62.99.. -> 62)
@pytest.mark.parametrize("c_in,c_out,rank,width", [(64, 64, 4, 160), (64, 64, 2, 96), (64, 64, 8, 288),
                                                   (1, 64, 4, 66), (1, 64, 8, 70), (5, 45, 5, 63),
                                                   (64, 64, 1, 64), (1, 64, 1, 64)])
def test_wide_conv_filters_hand_worked(c_in, c_out, rank, width):
    assert wide_conv_filters(c_in, c_out, rank, last=False) == width


def test_wide_conv_filters_of_the_last_layer_match_the_lrlc_bases():
    """In the last position the width is C_out*K: K*C_out filters, as many as the K bases."""
    assert wide_conv_filters(64, 64, 4, last=True) == 256
    assert wide_conv_filters(1, 16, 3, last=True) == 48


def test_lrlc_options_reach_the_layer():
    model = build_network(("conv", "lrlc", "conv"), filters=4, rank=3, combining="full",
                          normalize="norm", rng=_rng())
    lrlc = model.layers[3]
    assert lrlc.combining == "full" and lrlc.normalize == "norm" and lrlc.rank == 3
    assert set(lrlc.params) == {"bases", "logits", "spatial_bias"}
    assert lrlc.params["logits"].shape == (3, 24, 24)


def test_dtype_and_seed():
    a = build_network(("conv", "lc", "lrlc"), filters=3, rank=2, input_shape=(1, 10, 10),
                      rng=_rng(5), dtype=np.float64)
    b = build_network(("conv", "lc", "lrlc"), filters=3, rank=2, input_shape=(1, 10, 10),
                      rng=_rng(5), dtype=np.float64)
    assert all(p.dtype == np.float64 for p in a.params.values())
    assert all(v.dtype == np.float64 for v in a.buffers.values())
    assert a.params.keys() == b.params.keys()
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name], err_msg=name)
    c = build_network(("conv", "lc", "lrlc"), filters=3, rank=2, input_shape=(1, 10, 10),
                      rng=_rng(6), dtype=np.float64)
    assert not np.array_equal(a.params["0.weight"], c.params["0.weight"])


def test_config_records_the_settings():
    model = build_network("conv, lrlc ,lc", filters=4, rank=2, rng=_rng())
    assert model.config["layer_types"] == ["conv", "lrlc", "lc"]
    assert model.config["filters"] == 4 and model.config["rank"] == 2
    assert model.input_shape == (1, 28, 28)


# --------------------------------------------------------------------------- CoordConv

def test_coord_conv_adds_two_coordinate_channels():
    model = build_network(filters=4, coord_conv=True, rng=_rng())
    assert type(model.layers[0]) is L.AddCoordinates
    first = model.layers[1]
    assert isinstance(first, L.Conv2D) and first.in_channels == 3
    assert model.num_parameters == _expected_total(("conv",) * 3, 4, 1, (1, 28, 28), coord_conv=True)
    plain = build_network(filters=4, rng=_rng())
    assert model.num_parameters - plain.num_parameters == 2 * 4 * 9

    x = _rng(2).standard_normal((2, 1, 5, 7)).astype(np.float32)
    y = model.layers[0].forward(x)
    assert y.shape == (2, 3, 5, 7) and y.dtype == np.float32
    np.testing.assert_array_equal(y[:, 0], x[:, 0])
    rows = np.linspace(-1, 1, 5, dtype=np.float32)
    cols = np.linspace(-1, 1, 7, dtype=np.float32)
    for n in range(2):
        np.testing.assert_allclose(y[n, 1], np.repeat(rows[:, None], 7, axis=1), atol=1e-7)
        np.testing.assert_allclose(y[n, 2], np.repeat(cols[None, :], 5, axis=0), atol=1e-7)
    assert y[:, 1:].min() == -1 and y[:, 1:].max() == 1
    assert model.forward(_rng(3).standard_normal((2, 1, 28, 28)).astype(np.float32)).shape == (2, 10)


def test_coord_conv_with_an_lc_first_layer():
    model = build_network(("lc", "conv", "conv"), filters=3, coord_conv=True, rng=_rng())
    assert model.layers[1].in_channels == 3
    assert model.num_parameters == _expected_total(("lc", "conv", "conv"), 3, 1, (1, 28, 28), coord_conv=True)


# --------------------------------------------------------------------------- summary

def test_summary_lists_every_layer_and_the_total(capsys):
    model = build_network(("conv", "wide_conv", "lrlc"), filters=8, rank=2, rng=_rng())
    before = {k: v.copy() for k, v in model.buffers.items()}
    text = model.summary()
    printed = capsys.readouterr().out
    assert text.strip() == printed.strip()
    shapes = ["(N, 1, 28, 28)", "(N, 8, 26, 26)", "(N, 12, 24, 24)", "(N, 8, 22, 22)", "(N, 8)", "(N, 10)"]
    for shape in shapes:
        assert shape in text, shape
    lines = text.splitlines()
    for i, layer in enumerate(model.layers):
        row = [line for line in lines if line.split()[:2] == [str(i), type(layer).__name__]]
        assert len(row) == 1, (i, type(layer).__name__)
        if layer.params:
            assert row[0].rstrip().endswith(f"{layer.num_parameters:,}")
    assert f"total parameters: {model.num_parameters:,}" in text
    assert model.num_parameters == _expected_total(("conv", "wide_conv", "lrlc"), 8, 2, (1, 28, 28))
    for k, v in model.buffers.items():      # evaluation mode: no running statistics changed
        np.testing.assert_array_equal(v, before[k], err_msg=k)


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("kwargs,message", [
    (dict(layer_types=("conv", "foo", "conv")), r"build_network: expected each layer type .*'lrlc'.*got 'foo'"),
    (dict(layer_types=()), r"build_network: expected at least one layer type"),
    (dict(filters=0), r"build_network: expected filters >= 1, got 0"),
    (dict(rank=0), r"build_network: expected rank >= 1, got 0"),
    (dict(kernel_size=0), r"build_network: expected kernel_size >= 1"),
    (dict(num_classes=0), r"build_network: expected num_classes >= 1"),
    (dict(input_shape=(28, 28)), r"build_network: expected input_shape \(C, H, W\), got \(28, 28\)"),
    (dict(input_shape=(1, 6, 6)), r"build_network: layer 3 gets a 2x2 input, smaller than the 3x3 kernel"),
    (dict(input_shape=(1, 2, 9)), r"build_network: layer 1 gets a 2x9 input"),
])
def test_bad_arguments_raise_value_errors_naming_build_network(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_network(rng=_rng(), **kwargs)


def test_wrong_input_to_a_built_network_names_the_layer():
    model = build_network(("lc", "conv", "conv"), filters=2, rng=_rng())
    with pytest.raises(ValueError, match=r"LocallyConnected2D: expected input \(N, 1, 28, 28\)"):
        model.forward(np.zeros((1, 1, 30, 30), np.float32))


# --------------------------------------------------------------------------- gradient check

def test_whole_network_gradient_check():
    """Every hand-derived backward pass chained: x and every parameter of a tiny float64 net."""
    rng = _rng(11)
    model = build_network(("conv", "lrlc", "conv"), filters=3, rank=2, input_shape=(1, 8, 8), rng=rng,
                          dtype=np.float64)
    # move the LRLC combining weights and biases off their constant start, so that their
    # gradients are not special
    for name, p in model.params.items():
        if name.endswith(("_logits", "_bias")):
            p[...] = rng.standard_normal(p.shape)
    x = rng.standard_normal((4, 1, 8, 8))
    errors = check_layer(model, x, rng=rng)
    assert set(errors) == {"x"} | set(model.params)
    bad = {k: v for k, v in errors.items() if not v <= TOLERANCE}
    assert not bad, f"relative errors above {TOLERANCE}: {bad}"


# --------------------------------------------------------------------------- input-dependent LRLC

def _combiner_params(c_in, k, size):
    """Parameters of the combining network from its documented layout (LRLC input size x size)."""
    dilations = [r for r in (1, 2, 4, 8) if r <= (size - 1) // 2]
    hidden, gate, maps = (6 * k) // 2, 6 * k, 2 + len(dilations)
    return ((k * c_in + k) + len(dilations) * (9 * k + k) + (hidden * k * maps + hidden)
            + (gate * hidden + gate) + (k * gate + k))


def test_input_dependent_lrlc_layers():
    model = build_network(("conv", "lrlc", "lrlc"), filters=4, rank=2, input_dependent=True, rng=_rng())
    assert type(model.layers[0]) is L.Conv2D
    for index, size in ((3, 26), (6, 24)):
        layer = model.layers[index]
        assert type(layer) is L.LowRankLocallyConnected2D
        assert layer.input_dependent and layer.combining == "full" and layer.rank == 2
        names = set(layer.params)
        assert {"bases", "spatial_bias", "combiner.low.weight", "combiner.dilated8.weight",
                "combiner.hidden.weight", "combiner.gate.weight", "combiner.out.bias"} <= names
        assert "logits" not in names and "bias" not in names     # alpha comes from the input; BatchNorm follows
        fixed = build_network(("conv", "lrlc", "lrlc"), filters=4, rank=2, combining="full", rng=_rng())[index]
        h_out = size - 2
        assert layer.num_parameters == (fixed.num_parameters - 2 * h_out * h_out
                                        + _combiner_params(4, 2, size))
    assert {n for n in model.params if ".combiner." in n} == (
        {f"3.{n}" for n in model.layers[3].params if n.startswith("combiner.")}
        | {f"6.{n}" for n in model.layers[6].params if n.startswith("combiner.")})
    # weight decay reaches the combining network's weights, not its biases
    decayed = set(model.decay_names())
    assert "3.combiner.low.weight" in decayed and "3.combiner.low.bias" not in decayed
    x = _rng(1).standard_normal((3, 1, 28, 28)).astype(np.float32)
    logits = model.forward(x, training=False)
    assert logits.shape == (3, 10) and np.isfinite(logits).all()
    # one alpha map per example: the examples' maps differ
    h = x
    for layer in model.layers[:3]:
        h = layer.forward(h, training=False)
    alpha = model.layers[3].combining_weights(h)
    assert alpha.shape == (3, 2, 24, 24)
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(alpha[0], alpha[1])


def test_input_dependent_config_round_trip():
    model = build_network(("conv", "conv", "lrlc"), filters=4, rank=3, input_dependent=True, rng=_rng(4))
    assert model.config["input_dependent"] is True and model.config["combining"] == "full"
    again = build_network(**model.config, rng=_rng(4))
    assert again.config == model.config
    assert again.params.keys() == model.params.keys()
    for name, p in model.params.items():
        np.testing.assert_array_equal(again.params[name], p, err_msg=name)
    # a config recorded before input_dependent existed builds the fixed-alpha layer
    old = {k: v for k, v in model.config.items() if k != "input_dependent"}
    fixed = build_network(**old, rng=_rng(4))
    assert not fixed.layers[6].input_dependent and "logits" in fixed.layers[6].params
    assert fixed.config["input_dependent"] is False
    plain = build_network(("conv", "conv", "lrlc"), filters=4, rng=_rng())
    assert plain.config["input_dependent"] is False and plain.config["combining"] == "row_col"


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(layer_types=("conv", "conv", "lrlc"), combining="row_col"), ValueError,
     r"build_network: input_dependent=True .* needs combining='full' \(its default\), got combining='row_col'"),
    (dict(layer_types=("conv", "lc", "wide_conv")), ValueError,
     r"build_network: input_dependent=True changes LRLC layers only, but layers=\('conv', 'lc', 'wide_conv'\) has no 'lrlc'"),
])
def test_input_dependent_errors_name_build_network(kwargs, error, message):
    with pytest.raises(error, match=message):
        build_network(filters=2, input_dependent=True, rng=_rng(), **kwargs)


def test_input_dependent_must_be_a_bool():
    with pytest.raises(TypeError, match=r"build_network: expected input_dependent as True or False, got 'yes'"):
        build_network(("lrlc",), filters=2, input_dependent="yes", rng=_rng())


def test_whole_network_gradient_check_with_input_dependent_alpha():
    """The combining network's gradients flow through the rest of the network."""
    rng = _rng(12)
    model = build_network(("conv", "lrlc"), filters=2, rank=2, input_shape=(1, 8, 8), input_dependent=True,
                          rng=rng, dtype=np.float64)
    for name, p in model.params.items():
        if name.endswith("bias"):           # biases start at zero: move them off it
            p[...] = rng.standard_normal(p.shape)
    errors = check_layer(model, rng.standard_normal((3, 1, 8, 8)), rng=rng)
    assert set(errors) == {"x"} | set(model.params)
    assert any(".combiner." in name for name in errors)
    bad = {k: v for k, v in errors.items() if not v <= TOLERANCE}
    assert not bad, f"relative errors above {TOLERANCE}: {bad}"


def test_a_network_is_freed_when_its_last_reference_goes():
    """No reference cycle inside a layer: a network's arrays (and its layers' caches, tens of MB
    at the paper's size) are freed as soon as it is dropped, not at the next garbage collection."""
    import gc
    import weakref

    gc.disable()
    try:
        for types in (("conv", "lc", "lrlc"), ("conv", "conv", "lrlc")):
            model = build_network(types, filters=2, rank=2, input_dependent=types[1] == "conv",
                                  rng=np.random.default_rng(0))
            model.forward(np.zeros((2, 1, 28, 28), np.float32))
            gone = weakref.ref(next(layer for layer in model.layers if type(layer).__name__ == "LowRankLocallyConnected2D"))
            del model
            assert gone() is None, types
    finally:
        gc.enable()
