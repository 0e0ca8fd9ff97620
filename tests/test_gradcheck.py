"""The gradient checker itself: it must find wrong gradients, not only accept right ones."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrlc_np import gradcheck
from lrlc_np.gradcheck import TOLERANCE, check_layer, check_loss, numerical_gradient, relative_error
from lrlc_np.layers import Conv2D, Dense, SoftmaxCrossEntropy

from .strategies import seeds


@given(data=st.data())
def test_numerical_gradient_of_known_function(data):
    """d/dx sum(sin(x) * dy) = cos(x) * dy, to the accuracy of centred differences."""
    shape = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3), label="shape")
    rng = np.random.default_rng(data.draw(seeds, label="seed"))
    x = rng.standard_normal(shape)
    dy = rng.standard_normal(shape)
    num = numerical_gradient(np.sin, x, dy)
    err = relative_error(np.cos(x) * dy, num)
    assert err <= TOLERANCE, f"relative error {err:.2e} > {TOLERANCE}"


def test_numerical_gradient_restores_input():
    """x is perturbed in place during the check and must come back bit for bit."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    before = x.copy()
    numerical_gradient(lambda z: (z**3).sum(), x)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_needs_dy_for_arrays():
    with pytest.raises(ValueError, match=r"numerical_gradient: f\(x\) returned shape \(2, 2\); pass dy"):
        numerical_gradient(lambda z: z * 2, np.ones((2, 2)))


def test_numerical_gradient_rejects_integer_x():
    with pytest.raises(TypeError, match="numerical_gradient: expected a floating-point x, got int64"):
        numerical_gradient(lambda z: z.sum(), np.arange(4))


def test_numerical_gradient_of_a_strided_view_perturbs_the_view_and_restores_it():
    """Parameters may be transposed views (the LC weight is): the gradient of sum(z**2) is
    2z entry by entry, and the array underneath comes back unchanged."""
    base = np.random.default_rng(0).standard_normal((3, 4, 5))
    before = base.copy()
    view = base.transpose(2, 0, 1)[:, ::2]
    grad = numerical_gradient(lambda z: (z**2).sum(), view)
    np.testing.assert_allclose(grad, 2 * view, rtol=1e-7, atol=1e-9)
    assert np.array_equal(base, before)


def test_relative_error_definition():
    """One figure per array: max |a - b| over the largest entry, floored at 1e-2."""
    a = np.array([1.0, -4.0, 0.0])
    b = np.array([1.0, -3.0, 0.5])
    assert relative_error(a, b) == pytest.approx(1.0 / 4.0)
    tiny = np.array([1e-9, 0.0])
    assert relative_error(tiny, np.zeros(2)) == pytest.approx(1e-9 / 1e-2)
    with pytest.raises(ValueError, match=r"relative_error: shapes differ, \(2,\) and \(3,\)"):
        relative_error(np.zeros(2), np.zeros(3))


def test_check_layer_catches_a_transposed_gradient():
    """A backward pass that returns the right numbers in the wrong places must fail."""
    rng = np.random.default_rng(1)
    layer = Conv2D(2, 3, 3, rng=rng, dtype=np.float64)
    right = check_layer(layer, rng.standard_normal((2, 2, 5, 5)), rng=rng)
    assert max(right.values()) <= TOLERANCE

    honest_backward = layer.backward

    def wrong_backward(dy):
        dx = honest_backward(dy)
        layer.grads["weight"] = layer.grads["weight"].transpose(0, 1, 3, 2).copy()
        return dx

    layer.backward = wrong_backward
    errors = check_layer(layer, rng.standard_normal((2, 2, 5, 5)), rng=rng)
    assert errors["x"] <= TOLERANCE
    assert errors["weight"] > 1e-2, errors


def test_check_layer_uses_a_random_upstream_gradient():
    """A backward pass that ignores dy's layout (sums it) passes with dy = ones only."""
    rng = np.random.default_rng(2)
    layer = Dense(4, 3, rng=rng, dtype=np.float64)
    honest_backward = layer.backward
    layer.backward = lambda dy: honest_backward(np.broadcast_to(dy.mean(), dy.shape).copy())
    errors = check_layer(layer, rng.standard_normal((5, 4)), rng=rng)
    assert errors["x"] > 1e-2 and errors["weight"] > 1e-2, errors


def test_check_loss():
    rng = np.random.default_rng(3)
    err = check_loss(SoftmaxCrossEntropy(), rng.standard_normal((6, 5)), rng.integers(0, 5, 6))
    assert err <= TOLERANCE


def test_module_docstring_states_the_metric():
    assert "max |a - n| / max(max |a|, max |n|, 1e-2)" in gradcheck.__doc__
