"""Bad input to the ops raises ValueError or TypeError with the numbers in the message.

Every message must name the op, what it expected and what it received (STYLE.md, section 9):
each case lists fragments that must all appear in the message: the op's name first, then
the expected and the offending shape, value or dtype. Nothing is silently broadcast.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrlc_np import ops

from .conftest import T
from .strategies import OP_NAMES, geometries, op_case, seeds

pytestmark = pytest.mark.usefixtures("each_tier")   # every test runs on both tiers (T)


def f64(*shape):
    return np.zeros(shape)


def f32(*shape):
    return np.zeros(shape, dtype=np.float32)


# A valid set-up everything below breaks in one place: x (2, 3, 5, 5), 3x3 kernels, 4 output
# channels, so H_out = W_out = 3; K = 2 for LRLC.
X = f64(2, 3, 5, 5)
W = f64(4, 3, 3, 3)
LC_W = f64(3, 3, 4, 3, 3, 3)
BASES = f64(2, 4, 3, 3, 3)
ALPHA = f64(2, 3, 3)
ONES = np.ones(3)



def _of_active_tier(name):
    """The op ``name`` of whichever tier is active when the case runs."""
    return lambda *args, **kwargs: getattr(T, name)(*args, **kwargs)


conv, lc, lrlc = map(_of_active_tier, ("conv2d_forward", "locally_connected2d_forward", "lrlc2d_forward"))
combine, dense, bn = map(_of_active_tier, ("combining_weights_forward", "dense_forward", "batchnorm2d_forward"))
relu, pool, loss = map(_of_active_tier, ("relu_forward", "global_avg_pool2d_forward", "softmax_cross_entropy_forward"))

# (id, exception, call, fragments that must appear in the message; the first is the op)
CASES = [
    # wrong number of dimensions
    ("conv-x-3d", ValueError, lambda: conv(f64(3, 5, 5), W), ["conv2d_forward", "4 dimensions", "(3, 5, 5)"]),
    ("conv-weight-3d", ValueError, lambda: conv(X, f64(4, 3, 3)),
     ["conv2d_forward", "(C_out, C_in, kh, kw)", "(4, 3, 3)"]),
    ("lc-x-5d", ValueError, lambda: lc(f64(1, 2, 3, 5, 5), LC_W),
     ["locally_connected2d_forward", "4 dimensions", "(1, 2, 3, 5, 5)"]),
    ("lc-weight-4d", ValueError, lambda: lc(X, W),
     ["locally_connected2d_forward", "(H_out, W_out, C_out, C_in, kh, kw)", "(4, 3, 3, 3)"]),
    ("lrlc-bases-4d", ValueError, lambda: lrlc(X, W, ALPHA),
     ["lrlc2d_forward", "(K, C_out, C_in, kh, kw)", "(4, 3, 3, 3)"]),
    ("lrlc-alpha-2d", ValueError, lambda: lrlc(X, BASES, f64(3, 3)),
     ["lrlc2d_forward", "(2, 3, 3)", "(2, 2, 3, 3)", "(3, 3)"]),
    ("combining-logits-2d", ValueError, lambda: combine(f64(3, 3), "softmax"),
     ["combining_weights_forward", "(K, H_out, W_out)", "(3, 3)"]),
    ("dense-x-3d", ValueError, lambda: dense(f64(2, 3, 4), f64(5, 12)), ["dense_forward", "(N, D_in)", "(2, 3, 4)"]),
    ("batchnorm-x-2d", ValueError, lambda: bn(f64(2, 3), ONES, ONES, ONES, ONES),
     ["batchnorm2d_forward", "(N, C, H, W)", "(2, 3)"]),
    ("pool-x-3d", ValueError, lambda: pool(f64(3, 5, 5)), ["global_avg_pool2d_forward", "(N, C, H, W)", "(3, 5, 5)"]),
    ("loss-logits-1d", ValueError, lambda: loss(f64(3), np.array([0])),
     ["softmax_cross_entropy_forward", "(N, classes)", "(3,)"]),
    # wrong channel / feature count
    ("conv-channels", ValueError, lambda: conv(f64(2, 2, 5, 5), W), ["conv2d_forward", "(N, 3, H, W)", "(2, 2, 5, 5)"]),
    ("lc-channels", ValueError, lambda: lc(f64(2, 1, 5, 5), LC_W),
     ["locally_connected2d_forward", "(N, 3, H, W)", "(2, 1, 5, 5)"]),
    ("lrlc-channels", ValueError, lambda: lrlc(f64(2, 4, 5, 5), BASES, ALPHA),
     ["lrlc2d_forward", "(N, 3, H, W)", "(2, 4, 5, 5)"]),
    ("dense-features", ValueError, lambda: dense(f64(2, 3), f64(4, 5)), ["dense_forward", "(N, 5)", "(2, 3)"]),
    ("batchnorm-channels", ValueError, lambda: bn(f64(2, 3, 4, 4), np.ones(2), ONES, ONES, ONES),
     ["batchnorm2d_forward", "weight", "(3,)", "(2,)"]),
    # parameter shapes that do not fit
    ("conv-bias", ValueError, lambda: conv(X, W, f64(5)), ["conv2d_forward", "bias", "(4,)", "(5,)"]),
    ("lc-bias", ValueError, lambda: lc(X, LC_W, f64(4, 3, 4)), ["locally_connected2d_forward", "(4, 3, 3)", "(4, 3, 4)"]),
    ("dense-bias", ValueError, lambda: dense(f64(2, 3), f64(4, 3), f64(3)), ["dense_forward", "(4,)", "(3,)"]),
    # an empty batch
    ("lc-empty-batch", ValueError, lambda: lc(f64(0, 3, 5, 5), LC_W),
     ["locally_connected2d_forward", "at least one example", "(0, 3, 5, 5)"]),
    ("lrlc-empty-batch", ValueError, lambda: lrlc(f64(0, 3, 5, 5), BASES, ALPHA),
     ["lrlc2d_forward", "at least one example", "(0, 3, 5, 5)"]),
    ("lrlc-alpha-positions", ValueError, lambda: lrlc(X, BASES, f64(2, 4, 4)), ["lrlc2d_forward", "(2, 3, 3)", "(2, 4, 4)"]),
    ("lrlc-alpha-rank", ValueError, lambda: lrlc(X, BASES, f64(3, 3, 3)), ["lrlc2d_forward", "(2, 3, 3)", "(3, 3, 3)"]),
    ("lrlc-alpha-batch", ValueError, lambda: lrlc(X, BASES, f64(5, 2, 3, 3)),
     ["lrlc2d_forward", "(2, 2, 3, 3)", "(5, 2, 3, 3)"]),
    # LC weight built for another input size or stride
    ("lc-positions", ValueError, lambda: lc(X, f64(4, 4, 4, 3, 3, 3)),
     ["locally_connected2d_forward", "4x4", "5x5", "3x3"]),
    ("lc-positions-stride", ValueError, lambda: lc(X, LC_W, stride=2), ["locally_connected2d_forward", "3x3", "2x2"]),
    ("lc-positions-non-square", ValueError, lambda: lc(X, f64(3, 2, 4, 3, 3, 3)),
     ["locally_connected2d_forward", "3x2", "3x3"]),
    # kernel larger than the padded input
    ("conv-kernel", ValueError, lambda: conv(X, f64(4, 3, 6, 3)), ["conv2d_forward", "6x3", "5x5"]),
    ("conv-kernel-padded", ValueError, lambda: conv(X, f64(4, 3, 3, 8), padding=1), ["conv2d_forward", "3x8", "7x7"]),
    ("lc-kernel", ValueError, lambda: lc(X, f64(1, 1, 4, 3, 6, 6)), ["locally_connected2d_forward", "6x6", "5x5"]),
    ("lrlc-kernel", ValueError, lambda: lrlc(X, f64(2, 4, 3, 7, 1), ALPHA), ["lrlc2d_forward", "7x1", "5x5"]),
    ("im2col-kernel", ValueError, lambda: ops.im2col(X, (6, 6), (1, 1), (0, 0)), ["im2col", "6x6", "5x5"]),
    # unknown strings
    ("combining-normalize", ValueError, lambda: combine(ALPHA, "sigmoid"),
     ["combining_weights_forward", "normalize", "'softmax'", "'sigmoid'"]),
    ("lrlc-method", ValueError, lambda: lrlc(X, BASES, ALPHA, method="fast"), ["lrlc2d_forward", "method", "'lc'", "'fast'"]),
    # non-positive stride, negative padding, non-integer geometry
    ("conv-stride-0", ValueError, lambda: conv(X, W, stride=0), ["conv2d_forward", "stride >= 1", "0"]),
    ("conv-stride-pair", ValueError, lambda: conv(X, W, stride=(1, -2)), ["conv2d_forward", "stride >= 1", "(1, -2)"]),
    ("lc-stride-0", ValueError, lambda: lc(X, LC_W, stride=0), ["locally_connected2d_forward", "stride >= 1", "0"]),
    ("lrlc-stride-neg", ValueError, lambda: lrlc(X, BASES, ALPHA, stride=-1), ["lrlc2d_forward", "stride >= 1", "-1"]),
    ("conv-padding-neg", ValueError, lambda: conv(X, W, padding=-1), ["conv2d_forward", "padding >= 0", "-1"]),
    ("lc-padding-neg", ValueError, lambda: lc(X, LC_W, padding=(0, -1)), ["locally_connected2d_forward", "padding >= 0", "(0, -1)"]),
    ("lrlc-padding-neg", ValueError, lambda: lrlc(X, BASES, ALPHA, padding=-2), ["lrlc2d_forward", "padding >= 0", "-2"]),
    ("conv-stride-float", TypeError, lambda: conv(X, W, stride=1.5), ["conv2d_forward", "stride", "int", "1.5"]),
    ("conv-stride-triple", TypeError, lambda: conv(X, W, stride=(1, 1, 1)), ["conv2d_forward", "pair of ints", "(1, 1, 1)"]),
    # integer and complex arrays
    ("conv-x-int", TypeError, lambda: conv(X.astype(np.int64), W), ["conv2d_forward", "floating-point", "int64"]),
    ("conv-weight-complex", TypeError, lambda: conv(X, W.astype(complex)), ["conv2d_forward", "floating-point", "complex128"]),
    ("lc-x-int", TypeError, lambda: lc(X.astype(np.int32), LC_W), ["locally_connected2d_forward", "floating-point", "int32"]),
    ("lrlc-alpha-int", TypeError, lambda: lrlc(X, BASES, ALPHA.astype(np.int64)), ["lrlc2d_forward", "floating-point", "int64"]),
    ("combining-complex", TypeError, lambda: combine(ALPHA.astype(complex), "softmax"),
     ["combining_weights_forward", "floating-point", "complex128"]),
    ("dense-x-int", TypeError, lambda: dense(np.zeros((2, 3), dtype=int), f64(4, 3)), ["dense_forward", "floating-point", "int64"]),
    ("relu-int", TypeError, lambda: relu(np.arange(3)), ["relu_forward", "floating-point", "int64"]),
    ("batchnorm-complex", TypeError, lambda: bn(X.astype(complex), ONES, ONES, ONES, ONES),
     ["batchnorm2d_forward", "floating-point", "complex128"]),
    ("pool-int", TypeError, lambda: pool(X.astype(np.int16)), ["global_avg_pool2d_forward", "floating-point", "int16"]),
    ("loss-logits-int", TypeError, lambda: loss(np.zeros((2, 3), dtype=int), np.array([0, 1])),
     ["softmax_cross_entropy_forward", "floating-point", "int64"]),
    ("conv-x-list", TypeError, lambda: conv(X.tolist(), W), ["conv2d_forward", "array", "list"]),
    # mismatched dtypes
    ("conv-dtypes", TypeError, lambda: conv(X.astype(np.float32), W), ["conv2d_forward", "float32", "float64"]),
    ("conv-bias-dtype", TypeError, lambda: conv(X, W, f32(4)), ["conv2d_forward", "bias", "float64", "float32"]),
    ("lc-dtypes", TypeError, lambda: lc(X.astype(np.float32), LC_W), ["locally_connected2d_forward", "float32", "float64"]),
    ("lrlc-dtypes", TypeError, lambda: lrlc(X, BASES, ALPHA.astype(np.float32)), ["lrlc2d_forward", "alpha", "float64", "float32"]),
    ("dense-dtypes", TypeError, lambda: dense(f32(2, 3), f64(4, 3)), ["dense_forward", "float32", "float64"]),
    ("batchnorm-dtypes", TypeError, lambda: bn(X.astype(np.float32), ONES, ONES, ONES, ONES),
     ["batchnorm2d_forward", "float32", "float64"]),
    # per-example alpha cannot take the LC route
    ("lrlc-lc-per-example", ValueError, lambda: lrlc(X, BASES, f64(2, 2, 3, 3), method="lc"),
     ["lrlc2d_forward", "'lc'", "(K, H_out, W_out)", "(2, 2, 3, 3)"]),
    # batch norm needs two values per channel to train
    ("batchnorm-one-value", ValueError, lambda: bn(f64(1, 3, 1, 1), ONES, ONES, ONES, ONES, training=True),
     ["batchnorm2d_forward", "more than 1", "(1, 3, 1, 1)"]),
    # labels
    ("loss-label-high", ValueError, lambda: loss(f64(2, 3), np.array([0, 3])), ["softmax_cross_entropy_forward", "[0, 2]", "3"]),
    ("loss-label-negative", ValueError, lambda: loss(f64(2, 3), np.array([-1, 2])),
     ["softmax_cross_entropy_forward", "[0, 2]", "-1"]),
    ("loss-label-float", TypeError, lambda: loss(f64(2, 3), np.array([0.0, 1.0])),
     ["softmax_cross_entropy_forward", "integer", "float64"]),
    ("loss-label-list", TypeError, lambda: loss(f64(2, 3), [0, 1]), ["softmax_cross_entropy_forward", "integer", "list"]),
    ("loss-label-shape", ValueError, lambda: loss(f64(2, 3), np.array([0, 1, 2])),
     ["softmax_cross_entropy_forward", "(2,)", "(3,)"]),
]


def assert_helpful_error(exception, call, fragments):
    """call() raises ``exception`` whose message contains every fragment (the first names the op)."""
    with pytest.raises(exception, match=re.escape(fragments[0])) as info:
        call()
    message = str(info.value)
    missing = [f for f in fragments if f not in message]
    assert not missing, f"message {message!r} lacks {missing}"


@pytest.mark.parametrize("exception, call, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_with_a_helpful_message(exception, call, fragments):
    """Each bad call raises the stated exception; the message names the op (first fragment),
    what was expected and what was received."""
    assert_helpful_error(exception, call, fragments)


@given(geom=geometries(), dh=st.integers(-2, 2), dw=st.integers(-2, 2))
def test_lc_weight_for_another_output_size_is_rejected(geom, dh, dw):
    """An LC weight whose (H_out, W_out) differs from what x, stride and padding give is
    rejected, and the message shows both sizes."""
    h_out, w_out = geom.out_hw
    wrong = (h_out + dh, w_out + dw)
    if wrong == (h_out, w_out) or min(wrong) < 1:
        wrong = (h_out + 1, w_out)
    x = np.zeros(geom.x_shape)
    weight = np.zeros((*wrong, geom.c_out, geom.c_in, *geom.kernel))
    with pytest.raises(ValueError, match="locally_connected2d_forward") as info:
        T.locally_connected2d_forward(x, weight, None, geom.stride, geom.padding)
    message = str(info.value)
    assert f"{wrong[0]}x{wrong[1]}" in message and f"{h_out}x{w_out}" in message, message


@given(geom=geometries(), extra_h=st.integers(1, 3), extra_w=st.integers(0, 3))
def test_kernel_larger_than_padded_input_is_rejected(geom, extra_h, extra_w):
    """A kernel taller (and maybe wider) than the padded input is rejected by conv, LC and
    LRLC alike, naming the kernel and the padded size."""
    (ph, pw) = geom.padding
    kh, kw = geom.h + 2 * ph + extra_h, max(1, geom.w + 2 * pw + extra_w - 1)
    x = np.zeros(geom.x_shape)
    calls = {
        "conv2d_forward": lambda: T.conv2d_forward(x, np.zeros((geom.c_out, geom.c_in, kh, kw)),
                                                     None, geom.stride, geom.padding),
        "locally_connected2d_forward": lambda: T.locally_connected2d_forward(
            x, np.zeros((1, 1, geom.c_out, geom.c_in, kh, kw)), None, geom.stride, geom.padding),
        "lrlc2d_forward": lambda: T.lrlc2d_forward(
            x, np.zeros((2, geom.c_out, geom.c_in, kh, kw)), np.zeros((2, 1, 1)), geom.stride, geom.padding),
    }
    for owner, call in calls.items():
        with pytest.raises(ValueError, match=owner) as info:
            call()
        message = str(info.value)
        assert f"{kh}x{kw}" in message and f"{geom.h + 2 * ph}x{geom.w + 2 * pw}" in message, message


@pytest.mark.parametrize("name", OP_NAMES)
@given(geom=geometries(), seed=seeds)
def test_backward_rejects_dy_of_the_wrong_shape(name, geom, seed):
    """Every backward pass checks dy against the forward output's shape (a loss takes a
    scalar) instead of broadcasting it, and names itself in the error."""
    if name == "batchnorm2d_train":
        geom = dataclasses.replace(geom, n=2)  # two values per channel
    rng = np.random.default_rng(seed)
    case = op_case(name, geom, rng)
    y, cache = case.forward(**case.inputs)
    shape = np.shape(y)
    bad_shape = (2,) if shape == () else (*shape[:-1], shape[-1] + 1)
    dy = np.ones(bad_shape)
    owner = case.backward.__name__
    with pytest.raises(ValueError, match=owner) as info:
        case.grads(dy, cache)
    assert str(bad_shape) in str(info.value), str(info.value)
