"""SGD (heavy-ball and Nesterov momentum, weight decay, state) and learning-rate schedules.

The oracle for SGD is PyTorch's ``torch.optim.SGD`` (dampening 0), written out by hand:

    g' = g + weight_decay * p            (only for names in ``decay``)
    v  = momentum * v + g'
    p  = p - lr * v                      (heavy ball)
    p  = p - lr * (g' + momentum * v)    (Nesterov)
"""

import math

import numpy as np
import pytest

from lrlc_np.models import build_network
from lrlc_np.optim import SGD, learning_rate


def _reference_sgd(p0, grads, lr, momentum, nesterov, weight_decay):
    """The equations above, one float at a time, in plain Python (no lrlc_np code)."""
    out = []
    for j, p in enumerate(p0):
        v = 0.0
        trajectory = []
        for g_all in grads:
            g = g_all[j] + weight_decay * p
            v = momentum * v + g
            p = p - lr * ((g + momentum * v) if nesterov else v)
            trajectory.append(p)
        out.append(trajectory)
    return np.array(out).T   # (steps, len(p0))


# --------------------------------------------------------------------------- SGD updates

@pytest.mark.parametrize("nesterov,expected", [
    # p0 = 1, g = 1 every step, lr 0.1, momentum 0.9, worked by hand:
    # heavy ball: v = 1, 1.9, 2.71            -> p = 0.9, 0.71, 0.439
    # Nesterov:   step = 1.9, 2.71, 3.439     -> p = 0.81, 0.539, 0.1951
    (False, [0.9, 0.71, 0.439]),
    (True, [0.81, 0.539, 0.1951]),
])
def test_sgd_scalar_worked_example(nesterov, expected):
    p = {"w": np.array([1.0])}
    opt = SGD(p, lr=0.1, momentum=0.9, nesterov=nesterov)
    for want in expected:
        opt.step({"w": np.array([1.0])})
        assert p["w"][0] == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_sgd_matches_the_written_out_equations_over_three_steps(nesterov, weight_decay):
    rng = np.random.default_rng(7)
    p0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(3)]
    params = {"w": p0.copy()}
    opt = SGD(params, lr=0.05, momentum=0.8, nesterov=nesterov, weight_decay=weight_decay)
    expected = _reference_sgd(p0, grads, 0.05, 0.8, nesterov, weight_decay)
    for step, g in enumerate(grads):
        opt.step({"w": g.copy()})
        np.testing.assert_allclose(params["w"], expected[step], rtol=1e-12, atol=1e-14,
                                   err_msg=f"step {step + 1}, nesterov={nesterov}")


def test_sgd_without_momentum_is_plain_gradient_descent():
    params = {"w": np.array([2.0, -1.0])}
    opt = SGD(params, lr=0.5, momentum=0.0)
    opt.step({"w": np.array([1.0, 1.0])})
    np.testing.assert_array_equal(params["w"], [1.5, -1.5])
    opt.step({"w": np.array([1.0, 1.0])})        # no velocity carried over
    np.testing.assert_array_equal(params["w"], [1.0, -2.0])


def test_sgd_updates_in_place_and_keeps_dtype():
    w = np.ones((2, 3), dtype=np.float32)
    params = {"w": w}
    SGD(params, lr=0.1).step({"w": np.ones((2, 3), dtype=np.float64)})
    assert params["w"] is w and w.dtype == np.float32
    np.testing.assert_allclose(w, 0.9, rtol=1e-6)


def test_sgd_does_not_modify_the_gradients():
    params = {"w": np.ones(3)}
    g = np.array([1.0, 2.0, 3.0])
    opt = SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)
    for _ in range(2):
        opt.step({"w": g})
    np.testing.assert_array_equal(g, [1.0, 2.0, 3.0])


# --------------------------------------------------------------------------- weight decay

def test_weight_decay_only_touches_the_decay_names_of_a_network():
    """A step with zero gradients: decayed parameters shrink by lr*wd*p, the rest stay put."""
    model = build_network(("conv", "lc", "lrlc"), filters=3, rank=2, input_shape=(1, 8, 8),
                          rng=np.random.default_rng(0), dtype=np.float64)
    # make every parameter non-zero, so "unchanged" is a real check
    rng = np.random.default_rng(1)
    for p in model.params.values():
        p[...] = rng.uniform(0.5, 1.5, p.shape)
    decay = model.decay_names()
    names = set(model.params)
    # independently: the weights, bases and the dense weight, nothing else
    kinds = {name: type(model.layers[int(name.split(".")[0])]).__name__ for name in names}
    expected = {n for n in names if n.endswith((".weight", ".bases")) and kinds[n] != "BatchNorm2D"}
    assert set(decay) == expected
    for name in names - expected:   # biases, BatchNorm, LRLC logits and row/col biases
        assert name.endswith((".bias", ".weight", "_logits", "_bias")), name
    assert any(n.endswith("row_logits") for n in names - set(decay))
    assert any(n.endswith("col_bias") for n in names - set(decay))

    before = {n: p.copy() for n, p in model.params.items()}
    lr, wd = 0.1, 0.01
    opt = SGD(model.params, lr=lr, momentum=0.9, nesterov=False, weight_decay=wd, decay=decay)
    opt.step({n: np.zeros_like(p) for n, p in model.params.items()})
    for name, p in model.params.items():
        if name in decay:
            np.testing.assert_allclose(p, before[name] * (1 - lr * wd), rtol=1e-13, err_msg=name)
        else:
            np.testing.assert_array_equal(p, before[name], err_msg=name)


def test_weight_decay_defaults_to_every_parameter():
    params = {"a": np.ones(2), "b": np.ones(3)}
    opt = SGD(params, lr=0.1, momentum=0.0, weight_decay=0.5)
    opt.step({"a": np.zeros(2), "b": np.zeros(3)})
    np.testing.assert_allclose(params["a"], 0.95)
    np.testing.assert_allclose(params["b"], 0.95)


# --------------------------------------------------------------------------- state

@pytest.mark.parametrize("nesterov", [False, True])
def test_state_dict_round_trip_gives_identical_next_steps(nesterov):
    rng = np.random.default_rng(3)
    grads = [{"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)} for _ in range(5)]
    params_a = {"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}
    opt_a = SGD(params_a, lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=1e-3, decay=["w"])
    for g in grads[:2]:
        opt_a.step(g)
    # save (copies, as a checkpoint file would hold them), then restore into a fresh optimiser
    state = {k: np.array(v, copy=True) for k, v in opt_a.state_dict().items()}
    assert float(state["lr"]) == 0.05
    params_b = {k: v.copy() for k, v in params_a.items()}
    opt_b = SGD(params_b, lr=1.0, momentum=0.9, nesterov=nesterov, weight_decay=1e-3, decay=["w"])
    opt_b.load_state_dict(state)
    assert opt_b.lr == 0.05
    for g in grads[2:]:
        opt_a.step(g)
        opt_b.step(g)
        for k in params_a:
            np.testing.assert_array_equal(params_a[k], params_b[k])
            np.testing.assert_array_equal(opt_a.velocity[k], opt_b.velocity[k])


def test_load_state_dict_rejects_a_wrong_shape():
    opt = SGD({"w": np.zeros(3)}, lr=0.1)
    with pytest.raises(ValueError, match=r"SGD: saved velocity for w has shape \(4,\), expected \(3,\)"):
        opt.load_state_dict({"velocity/w": np.zeros(4), "lr": 0.1})


# --------------------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("kwargs,message", [
    (dict(lr=-0.1), r"SGD: expected lr as a finite number >= 0, got -0\.1"),
    (dict(lr=float("nan")), r"SGD: expected lr as a finite number >= 0"),
    (dict(lr="0.1"), r"SGD: expected lr as a finite number >= 0, got '0\.1'"),
    (dict(lr=0.1, momentum=-0.5), r"SGD: expected momentum as a finite number >= 0"),
    (dict(lr=0.1, weight_decay=float("inf")), r"SGD: expected weight_decay as a finite number >= 0"),
    (dict(lr=0.1, momentum=0.0, nesterov=True), r"SGD: Nesterov momentum needs momentum > 0, got 0\.0"),
    (dict(lr=0.1, decay=["w", "nope"]), r"SGD: decay names not among the parameters: \['nope'\]"),
])
def test_bad_arguments_raise_clear_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SGD({"w": np.zeros(2)}, **kwargs)


def test_step_without_a_gradient_names_the_parameter():
    opt = SGD({"w": np.zeros(2), "b": np.zeros(1)}, lr=0.1)
    with pytest.raises(ValueError, match=r"SGD\.step: no gradient for \['b'\]"):
        opt.step({"w": np.zeros(2)})


def test_repr_summarises_the_settings():
    text = repr(SGD({"w": np.zeros(2), "b": np.zeros(1)}, lr=0.1, nesterov=True, decay=["w"]))
    assert "lr=0.1" in text and "nesterov=True" in text and "1/2 decayed" in text


# --------------------------------------------------------------------------- schedules

def test_constant_schedule():
    assert [learning_rate("constant", s, 100, 0.05) for s in (0, 50, 99)] == [0.05] * 3


def test_step_schedule_drops_by_gamma_every_third_of_the_run():
    lrs = [learning_rate("step", s, 9, 1.0) for s in range(9)]
    assert lrs == pytest.approx([1.0] * 3 + [0.1] * 3 + [0.01] * 3, rel=1e-12)
    # a run that does not divide by three: ceil(10 / 3) = 4 steps per stage
    lrs = [learning_rate("step", s, 10, 1.0, gamma=0.5) for s in range(10)]
    assert lrs == pytest.approx([1.0] * 4 + [0.5] * 4 + [0.25] * 2, rel=1e-12)
    # an explicit step_every
    assert learning_rate("step", 5, 100, 2.0, step_every=5, gamma=0.5) == pytest.approx(1.0)


def test_cosine_schedule_with_warm_up():
    base, total, warmup = 0.1, 100, 10
    lrs = [learning_rate("cosine", s, total, base, warmup_steps=warmup) for s in range(total)]
    # linear warm-up from base/warmup up to base at the last warm-up step
    assert lrs[:warmup] == pytest.approx([base * (s + 1) / warmup for s in range(warmup)], rel=1e-12)
    assert all(a < b for a, b in zip(lrs[:warmup - 1], lrs[1:warmup]))
    assert lrs[warmup - 1] == pytest.approx(base)
    # cosine from base at the end of warm-up, monotone down to about 0
    assert lrs[warmup] == pytest.approx(base)
    after = lrs[warmup:]
    assert all(a >= b for a, b in zip(after, after[1:]))
    assert max(lrs) == pytest.approx(base)
    assert 0 <= lrs[-1] < 1e-3 * base
    # halfway through the cosine part: half the base rate
    assert learning_rate("cosine", warmup + (total - warmup) // 2, total, base, warmup) == pytest.approx(base / 2)
    # beyond the end it stays at 0, it does not come back up
    assert learning_rate("cosine", total + 5, total, base, warmup) == pytest.approx(0.0, abs=1e-15)


def test_cosine_schedule_without_warm_up_starts_at_the_base_rate():
    assert learning_rate("cosine", 0, 50, 0.2) == pytest.approx(0.2)
    assert learning_rate("cosine", 25, 50, 0.2) == pytest.approx(0.1)
    assert learning_rate("cosine", 49, 50, 0.2) == pytest.approx(0.2 * 0.5 * (1 + math.cos(math.pi * 49 / 50)))


def test_unknown_schedule_is_a_value_error():
    with pytest.raises(ValueError, match=r"learning_rate: expected schedule to be one of .*'cosine'.*got 'linear'"):
        learning_rate("linear", 0, 10, 0.1)
