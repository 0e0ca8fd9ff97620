"""Bad input is refused with an exception that names the layer, what it expected and what
it got (DESIGN.md, STYLE.md section 9): nothing is silently broadcast, truncated or cast.

Each case checks the exception type, a ``match`` on the start of the message, and that the
message contains the class name and both the expected and the received value.
"""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest

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


@contextlib.contextmanager
def raises(exc, cls_name, *fragments):
    """pytest.raises(exc) whose message starts with "<cls_name>: " and contains every fragment
    (what was expected and what was received)."""
    with pytest.raises(exc, match=rf"^{re.escape(cls_name)}: ") as info:
        yield info
    message = str(info.value)
    for fragment in fragments:
        assert str(fragment) in message, f"{fragment!r} missing from: {message}"


def x4(shape, dtype=np.float64):
    return np.zeros(shape, dtype=dtype)


F64 = dict(dtype=np.float64)

# layers with a fixed input layout: a factory (taking the layer's dtype), a valid input
# shape and the layout the error message should spell out
SHAPED = {
    "Conv2D": (lambda dtype=np.float64: Conv2D(3, 4, 3, dtype=dtype), (2, 3, 8, 8), "(N, 3, H, W)"),
    "LocallyConnected2D": (lambda dtype=np.float64: LocallyConnected2D(3, 4, 3, 8, dtype=dtype), (2, 3, 8, 8),
                           "(N, 3, 8, 8)"),
    "LowRankLocallyConnected2D": (lambda dtype=np.float64: LowRankLocallyConnected2D(3, 4, 3, 8, 2, dtype=dtype),
                                  (2, 3, 8, 8), "(N, 3, 8, 8)"),
    "Dense": (lambda dtype=np.float64: Dense(5, 2, dtype=dtype), (2, 5), "(N, 5)"),
    "BatchNorm2D": (lambda dtype=np.float64: BatchNorm2D(3, dtype=dtype), (2, 3, 8, 8), "(N, 3, H, W)"),
    "GlobalAvgPool2D": (lambda: GlobalAvgPool2D(), (2, 3, 8, 8), "(N, C, H, W)"),
}
ALL_LAYERS = {**{k: v[:2] for k, v in SHAPED.items()}, "ReLU": (lambda: ReLU(), (2, 3)),
              "Flatten": (lambda: Flatten(), (2, 3, 4))}


# --------------------------------------------------------------------------- input shape

@pytest.mark.parametrize("name", list(SHAPED))
def test_wrong_number_of_dimensions(name):
    """An input with one axis too few (e.g. a missing batch axis) or too many is refused."""
    make, shape, expected = SHAPED[name]
    for bad in (shape[1:], (1, *shape)):
        with raises(ValueError, name, f"expected input {expected}", f"got shape {bad}"):
            make().forward(x4(bad))


@pytest.mark.parametrize("name", ["Conv2D", "LocallyConnected2D", "LowRankLocallyConnected2D", "Dense", "BatchNorm2D"])
def test_wrong_channel_count(name):
    """An input with another number of channels (features) than the layer's is refused."""
    make, shape, expected = SHAPED[name]
    bad = (shape[0], shape[1] + 1, *shape[2:])
    with raises(ValueError, name, f"expected input {expected}", f"got shape {bad}"):
        make().forward(x4(bad))


@pytest.mark.parametrize("name", ["LocallyConnected2D", "LowRankLocallyConnected2D"])
@pytest.mark.parametrize("bad", [(2, 3, 9, 8), (2, 3, 8, 7), (2, 3, 16, 16)])
def test_lc_and_lrlc_refuse_another_spatial_size(name, bad):
    """LC and LRLC weights belong to positions: another H or W (even one that would give
    a valid output size) is refused, naming the size the layer was built for."""
    make = SHAPED[name][0]
    with raises(ValueError, name, "expected input (N, 3, 8, 8)", "8x8 inputs", f"got shape {bad}"):
        make().forward(x4(bad))


def test_conv_accepts_any_spatial_size():
    """Conv2D is not tied to an input size (the contrast to the test above)."""
    layer = Conv2D(3, 4, 3, **F64)
    assert layer.forward(x4((1, 3, 8, 8))).shape == (1, 4, 6, 6)
    assert layer.forward(x4((1, 3, 5, 11))).shape == (1, 4, 3, 9)


# --------------------------------------------------------------------------- kernel does not fit

@pytest.mark.parametrize("make, name, kernel, padded", [
    (lambda: LocallyConnected2D(3, 4, (5, 2), 4), "LocallyConnected2D", "kernel 5x2", "padded input 4x4"),
    (lambda: LocallyConnected2D(3, 4, 3, (6, 1)), "LocallyConnected2D", "kernel 3x3", "padded input 6x1"),
    (lambda: LocallyConnected2D(3, 4, 4, 1, padding=1), "LocallyConnected2D", "kernel 4x4", "padded input 3x3"),
    (lambda: LowRankLocallyConnected2D(3, 4, (5, 2), 4, 2), "LowRankLocallyConnected2D", "kernel 5x2",
     "padded input 4x4"),
    (lambda: LowRankLocallyConnected2D(3, 4, 3, (6, 1), 2), "LowRankLocallyConnected2D", "kernel 3x3",
     "padded input 6x1"),
])
def test_lc_and_lrlc_kernel_larger_than_padded_input_at_construction(make, name, kernel, padded):
    """LC / LRLC know their input size, so a kernel that does not fit is refused when the
    layer is built: the message gives the kernel and the padded input size."""
    with raises(ValueError, name, f"{kernel} is larger than the {padded}"):
        make()


def test_lc_kernel_fits_thanks_to_padding():
    """The same kernel fits once padding makes the input large enough (the boundary)."""
    layer = LocallyConnected2D(3, 4, (5, 2), 4, padding=(1, 0))
    assert layer.output_size == (2, 3)


def test_conv_kernel_larger_than_padded_input_at_forward():
    """Conv2D learns the input size only at forward, so that is where it refuses."""
    layer = Conv2D(3, 4, (3, 5), padding=(0, 1), **F64)
    assert layer.forward(x4((1, 3, 4, 3))).shape == (1, 4, 2, 1)     # 4x5 padded: fits
    with raises(ValueError, "Conv2D", "kernel 3x5 is larger than the padded input 4x4", "input 4x2"):
        layer.forward(x4((1, 3, 4, 2)))


# --------------------------------------------------------------------------- constructor arguments

@pytest.mark.parametrize("what, value", [
    ("combining", "rows"), ("combining", "row-col"), ("normalize", "l2"), ("normalize", "Softmax"),
    ("init", "zeros"), ("method", "fft"),
])
def test_unknown_option_strings(what, value):
    """LRLC's combining / normalize / init / method must be one of the listed strings; the
    message lists them and repeats the bad one."""
    allowed = {"combining": "'row_col', 'row', 'col', 'full'", "normalize": "'softmax', 'norm', 'none'",
               "init": "'conv', 'random'", "method": "'auto', 'conv', 'lc'"}[what]
    with raises(ValueError, "LowRankLocallyConnected2D", f"expected {what} to be one of {allowed}", f"got {value!r}"):
        LowRankLocallyConnected2D(3, 4, 3, 8, 2, **{what: value})


NON_POSITIVE = [
    (lambda: Conv2D(0, 4, 3), "Conv2D", "in_channels >= 1", "got 0"),
    (lambda: Conv2D(3, -2, 3), "Conv2D", "out_channels >= 1", "got -2"),
    (lambda: Conv2D(3, 4, 0), "Conv2D", "kernel_size >= 1", "got 0"),
    (lambda: Conv2D(3, 4, (3, 0)), "Conv2D", "kernel_size >= 1", "got (3, 0)"),
    (lambda: Conv2D(3, 4, 3, stride=0), "Conv2D", "stride >= 1", "got 0"),
    (lambda: Conv2D(3, 4, 3, padding=-1), "Conv2D", "padding >= 0", "got -1"),
    (lambda: LocallyConnected2D(3, 4, 3, 0), "LocallyConnected2D", "input_size >= 1", "got 0"),
    (lambda: LocallyConnected2D(0, 4, 3, 8), "LocallyConnected2D", "in_channels >= 1", "got 0"),
    (lambda: LocallyConnected2D(3, 4, 3, 8, padding=(0, -1)), "LocallyConnected2D", "padding >= 0", "got (0, -1)"),
    (lambda: LowRankLocallyConnected2D(3, 4, 3, 8, 0), "LowRankLocallyConnected2D", "rank >= 1", "got 0"),
    (lambda: LowRankLocallyConnected2D(3, 4, 3, 8, -1), "LowRankLocallyConnected2D", "rank >= 1", "got -1"),
    (lambda: LowRankLocallyConnected2D(3, 4, 3, 8, 2, stride=(1, 0)), "LowRankLocallyConnected2D", "stride >= 1",
     "got (1, 0)"),
    (lambda: Dense(0, 3), "Dense", "in_features >= 1", "got 0"),
    (lambda: Dense(3, 0), "Dense", "out_features >= 1", "got 0"),
    (lambda: BatchNorm2D(0), "BatchNorm2D", "num_features >= 1", "got 0"),
    (lambda: BatchNorm2D(3, momentum=1.5), "BatchNorm2D", "momentum in [0, 1]", "got 1.5"),
    (lambda: BatchNorm2D(3, eps=0.0), "BatchNorm2D", "eps > 0", "got 0.0"),
]


@pytest.mark.parametrize("make, name, expected, got", NON_POSITIVE)
def test_non_positive_sizes(make, name, expected, got):
    """Sizes below their minimum (0 channels, rank 0, kernel 0, stride 0, negative padding,
    ...) raise ValueError with the minimum and the value received."""
    with raises(ValueError, name, f"expected {expected}", got):
        make()


NON_INT = [
    (lambda: Conv2D(3, 4, 2.5), "Conv2D", "kernel_size as an int or a pair of ints", "2.5"),
    (lambda: Conv2D(3.0, 4, 3), "Conv2D", "in_channels as a positive int", "3.0"),
    (lambda: Conv2D(3, 4, (3, 2.5)), "Conv2D", "kernel_size as an int or a pair of ints", "(3, 2.5)"),
    (lambda: Conv2D(3, 4, (3, 3, 3)), "Conv2D", "kernel_size as an int or a pair of ints", "(3, 3, 3)"),
    (lambda: Conv2D(3, 4, True), "Conv2D", "kernel_size as an int or a pair of ints", "True"),
    (lambda: Conv2D(3, 4, 3, stride=1.5), "Conv2D", "stride as an int or a pair of ints", "1.5"),
    (lambda: LocallyConnected2D(3, 4, 3, 8.0), "LocallyConnected2D", "input_size as an int or a pair of ints", "8.0"),
    (lambda: LowRankLocallyConnected2D(3, 4, 3, 8, 2.5), "LowRankLocallyConnected2D", "rank as a positive int", "2.5"),
    (lambda: LowRankLocallyConnected2D(3, 4, 3, 8, 2, padding=1.5), "LowRankLocallyConnected2D",
     "padding as an int or a pair of ints", "1.5"),
    (lambda: Dense(2.5, 3), "Dense", "in_features as a positive int", "2.5"),
    (lambda: BatchNorm2D(2.5), "BatchNorm2D", "num_features as a positive int", "2.5"),
    (lambda: Conv2D(3, 4, 3, rng=0), "Conv2D", "rng as a numpy.random.Generator or None", "int"),
]


@pytest.mark.parametrize("make, name, expected, got", NON_INT)
def test_non_integer_sizes(make, name, expected, got):
    """Sizes must be ints (or (h, w) pairs of ints): 2.5, 3.0, True, a triple or a string
    raise TypeError; so does an rng that is not a numpy Generator."""
    with raises(TypeError, name, f"expected {expected}", f"got {got}"):
        make()


@pytest.mark.parametrize("make, name", [
    (lambda d: Conv2D(3, 4, 3, dtype=d), "Conv2D"),
    (lambda d: LocallyConnected2D(3, 4, 3, 8, dtype=d), "LocallyConnected2D"),
    (lambda d: LowRankLocallyConnected2D(3, 4, 3, 8, 2, dtype=d), "LowRankLocallyConnected2D"),
    (lambda d: Dense(3, 4, dtype=d), "Dense"),
    (lambda d: BatchNorm2D(3, dtype=d), "BatchNorm2D"),
])
@pytest.mark.parametrize("dtype, shown", [(np.int32, "int32"), (np.float16, "float16"), (np.complex128, "complex128"),
                                          ("banana", "'banana'")])
def test_bad_dtype_argument(make, name, dtype, shown):
    """A layer's dtype must be float32 or float64; others raise TypeError naming both."""
    with raises(TypeError, name, "expected dtype float32 or float64", f"got {shown}"):
        make(dtype)


# --------------------------------------------------------------------------- input dtype

@pytest.mark.parametrize("name", list(ALL_LAYERS))
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.complex128])
def test_integer_or_complex_input(name, dtype):
    """Integer, boolean and complex inputs are refused (no silent cast), naming the dtype."""
    make, shape = ALL_LAYERS[name]
    with raises(TypeError, name, "floating-point dtype (float32 or float64)", f"got {np.dtype(dtype).name}"):
        make().forward(x4(shape, dtype))


@pytest.mark.parametrize("name", ["Conv2D", "LocallyConnected2D", "LowRankLocallyConnected2D", "Dense", "BatchNorm2D"])
@pytest.mark.parametrize("layer_dtype, input_dtype", [("float32", "float64"), ("float64", "float32")])
def test_input_dtype_must_match_layer_dtype(name, layer_dtype, input_dtype):
    """A float64 input to a float32 layer (or the reverse) raises TypeError naming both
    dtypes, instead of a silent up- or down-cast."""
    make, shape, _ = SHAPED[name]
    layer = make(np.dtype(layer_dtype))
    assert layer.dtype == np.dtype(layer_dtype)
    with raises(TypeError, name, f"expected {layer_dtype} input", f"got {input_dtype}"):
        layer.forward(x4(shape, input_dtype))


def test_non_array_input():
    """A nested list is not an array: TypeError naming the type received."""
    with raises(TypeError, "Conv2D", "expected input as an array", "got list"):
        Conv2D(1, 1, 1).forward([[[[1.0]]]])


# --------------------------------------------------------------------------- order of calls, loss

@pytest.mark.parametrize("name", list(ALL_LAYERS))
def test_backward_before_forward(name):
    """backward without a forward pass has no cache: RuntimeError naming the layer."""
    make, _ = ALL_LAYERS[name]
    with raises(RuntimeError, name, "backward called before forward"):
        make().backward(np.zeros((2, 4)))


def test_loss_backward_before_forward():
    with raises(RuntimeError, "SoftmaxCrossEntropy", "backward called before forward"):
        SoftmaxCrossEntropy().backward()


def test_sequential_refuses_non_layers():
    """Sequential takes layers only; the message gives the type and its position."""
    with raises(TypeError, "Sequential", "expected layers", "got SoftmaxCrossEntropy at position 1"):
        Sequential(ReLU(), SoftmaxCrossEntropy())


@pytest.mark.parametrize("labels, low, high", [([0, 3, 1], 0, 3), ([-1, 0, 2], -1, 2), ([0, 1, 7], 0, 7)])
def test_labels_out_of_range(labels, low, high):
    """Labels must lie in [0, classes - 1]; the message gives that range and the values received."""
    logits = np.zeros((3, 3))
    with raises(ValueError, "SoftmaxCrossEntropy", "expected labels in [0, 2]", f"got values from {low} to {high}"):
        SoftmaxCrossEntropy().forward(logits, np.array(labels))


@pytest.mark.parametrize("labels, expected, got", [
    (np.array([0.0, 1.0]), "labels as an integer array", "float64"),
    (np.array([0, 1, 1]), "labels of shape (2,)", "(3,)"),
])
def test_loss_label_kind_and_shape(labels, expected, got):
    """Labels are an integer array with one entry per row of logits."""
    exc = TypeError if "integer" in expected else ValueError
    with raises(exc, "SoftmaxCrossEntropy", f"expected {expected}", f"got {got}"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3)), labels)


def test_loss_logits_shape_and_dtype():
    """Logits are a float (N, classes) array."""
    with raises(ValueError, "SoftmaxCrossEntropy", "expected logits with 2 dimensions (N, classes)", "got shape (6,)"):
        SoftmaxCrossEntropy().forward(np.zeros(6), np.array([0]))
    with raises(TypeError, "SoftmaxCrossEntropy", "floating-point dtype", "got int64"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3), dtype=np.int64), np.array([0, 1]))
