"""The two tiers of ops and the switch between them.

reference == clear == fast: for conv, LC, LRLC (every route, shared and per-example alpha)
and the combining-weight normalisations, the loop definitions of ``lrlc_np.reference``
(forward *and* backward), the clear tier ``lrlc_np.ops`` and the fast tier ``lrlc_np.fast``
give the same numbers on hypothesis-drawn shapes, strides, paddings, ranks and modes
(float64, rtol = atol = 1e-10: the same sums in another order). The finite-difference
checks of both tiers are in test_ops_gradients.py (every test there runs on each tier).

Then the switch: ``set_ops`` / ``use_ops`` / ``LRLC_NP_OPS``, every layer following it, a
layer's backward pass staying on the tier of its forward pass, and the whole network
training to the same losses on both tiers.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lrlc_np
from lrlc_np import fast, layers as L, ops, reference, tiers

from .strategies import arrays, geometries, normalizations, ranks, seeds

RTOL = ATOL = 1e-10
TIERS = (ops, fast)


def assert_all_close(results, names, what):
    """results: {source: tuple of arrays}; every source agrees with the reference, array by array."""
    expected = results["reference"]
    for source, got in results.items():
        for name, a, b in zip(names, got, expected):
            if b is None:
                assert a is None, f"{what}: {source} {name} should be None"
                continue
            np.testing.assert_allclose(np.asarray(a), b, rtol=RTOL, atol=ATOL, err_msg=f"{what}: {source} {name}")


@given(geom=geometries(), with_bias=st.booleans(), seed=seeds)
def test_conv2d_reference_clear_fast_agree(geom, with_bias, seed):
    rng = np.random.default_rng(seed)
    x, w = arrays(rng, geom.x_shape), arrays(rng, (geom.c_out, geom.c_in, *geom.kernel))
    b = arrays(rng, (geom.c_out,)) if with_bias else None
    dy = arrays(rng, (geom.n, geom.c_out, *geom.out_hw))
    s, p = geom.stride, geom.padding
    results = {"reference": (reference.conv2d(x, w, b, s, p), *reference.conv2d_backward(dy, x, w, b, s, p))}
    for T in TIERS:
        y, cache = T.conv2d_forward(x, w, b, s, p)
        results[T.__name__] = (y, *T.conv2d_backward(dy, cache))
        # the transposed convolution is conv2d's dx
        np.testing.assert_allclose(T.conv_transpose2d(dy, w, x.shape, s, p), results["reference"][1],
                                   rtol=RTOL, atol=ATOL, err_msg=f"{T.__name__}.conv_transpose2d")
    assert_all_close(results, ("y", "dx", "dweight", "dbias"), f"conv2d {geom}")


@given(geom=geometries(max_size=7), with_bias=st.booleans(), seed=seeds)
def test_locally_connected2d_reference_clear_fast_agree(geom, with_bias, seed):
    rng = np.random.default_rng(seed)
    (h_out, w_out), s, p = geom.out_hw, geom.stride, geom.padding
    x = arrays(rng, geom.x_shape)
    w = arrays(rng, (h_out, w_out, geom.c_out, geom.c_in, *geom.kernel))
    b = arrays(rng, (geom.c_out, h_out, w_out)) if with_bias else None
    dy = arrays(rng, (geom.n, geom.c_out, h_out, w_out))
    results = {"reference": (reference.locally_connected2d(x, w, b, s, p),
                             *reference.locally_connected2d_backward(dy, x, w, b, s, p))}
    for T in TIERS:
        y, cache = T.locally_connected2d_forward(x, w, b, s, p)
        results[T.__name__] = tuple(None if a is None else np.array(a) for a in (y, *T.locally_connected2d_backward(dy, cache)))
    assert_all_close(results, ("y", "dx", "dweight", "dbias"), f"locally_connected2d {geom}")


@pytest.mark.parametrize("method,per_example", [("conv", False), ("lc", False), ("auto", False),
                                                ("conv", True), ("auto", True)])
@given(geom=geometries(max_size=7), rank=ranks, seed=seeds)
def test_lrlc2d_reference_clear_fast_agree(method, per_example, geom, rank, seed):
    rng = np.random.default_rng(seed)
    (h_out, w_out), s, p = geom.out_hw, geom.stride, geom.padding
    x = arrays(rng, geom.x_shape)
    bases = arrays(rng, (rank, geom.c_out, geom.c_in, *geom.kernel))
    alpha = arrays(rng, (geom.n, rank, h_out, w_out) if per_example else (rank, h_out, w_out))
    dy = arrays(rng, (geom.n, geom.c_out, h_out, w_out))
    results = {"reference": (reference.lrlc2d(x, bases, alpha, s, p),
                             *reference.lrlc2d_backward(dy, x, bases, alpha, s, p))}
    for T in TIERS:
        y, cache = T.lrlc2d_forward(x, bases, alpha, s, p, method)
        assert cache.method == ops.lrlc.resolve_method(method, alpha, rank)     # the same route on both tiers
        results[T.__name__] = (y, *T.lrlc2d_backward(dy, cache))
    assert_all_close(results, ("y", "dx", "dbases", "dalpha"), f"lrlc2d {method} {geom}")
    if not per_example:   # effective_weight of both tiers is sum_k alpha[k, i, j] B_k
        np.testing.assert_allclose(fast.effective_weight(bases, alpha), ops.effective_weight(bases, alpha),
                                   rtol=RTOL, atol=ATOL)


@given(geom=geometries(), rank=ranks, normalize=normalizations, per_example=st.booleans(),
       scale=st.sampled_from([1.0, 1e-14, 30.0]), seed=seeds)
def test_combining_weights_reference_and_tiers_agree(geom, rank, normalize, per_example, scale, seed):
    """Including tiny logits (the "norm" clamp at 1e-12) and large ones (softmax saturates)."""
    rng = np.random.default_rng(seed)
    h_out, w_out = geom.out_hw
    shape = (geom.n, rank, h_out, w_out) if per_example else (rank, h_out, w_out)
    logits, dalpha = scale * arrays(rng, shape), arrays(rng, shape)
    results = {"reference": (reference.combining_weights(logits, normalize),
                             reference.combining_weights_backward(dalpha, logits, normalize))}
    for T in TIERS:
        alpha, cache = T.combining_weights_forward(logits, normalize)
        results[T.__name__] = (alpha, T.combining_weights_backward(dalpha, cache))
    expected = results["reference"]
    for source, (alpha, dlogits) in results.items():
        np.testing.assert_allclose(alpha, expected[0], rtol=RTOL, atol=ATOL, err_msg=f"{source} alpha")
        # the clamped "norm" gradient is dalpha / 1e-12, so compare it relative to its size
        np.testing.assert_allclose(dlogits, expected[1], rtol=1e-9, atol=ATOL * max(1.0, np.abs(expected[1]).max()),
                                   err_msg=f"{source} dlogits")


def test_reference_backward_hand_worked():
    """A 1x1 convolution of a 2x2 image with weight 3 and bias 0.5: y = 3x + 0.5, so
    dx = 3 dy, dweight = sum(dy * x), dbias = sum(dy); with dy = [[1, 2], [3, 4]] and
    x = [[1, 0], [2, -1]]: dweight = 1 + 0 + 6 - 4 = 3, dbias = 10."""
    x = np.array([[1.0, 0.0], [2.0, -1.0]]).reshape(1, 1, 2, 2)
    dy = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    dx, dweight, dbias = reference.conv2d_backward(dy, x, np.full((1, 1, 1, 1), 3.0), np.array([0.5]))
    np.testing.assert_array_equal(dx, 3 * dy)
    assert dweight.item() == 3.0 and dbias.item() == 10.0


def test_every_op_exists_in_both_tiers_with_the_same_arguments():
    import inspect

    for name in ops.__all__:
        clear, tuned = getattr(ops, name), getattr(fast, name)
        assert inspect.signature(clear) == inspect.signature(tuned), name


def test_the_clear_tier_has_no_speed_machinery():
    """What the clear tier's files may not contain: threads, chunking, output arguments, the
    fast tier's NHWC helpers (a student reads these files as the formulas)."""
    from pathlib import Path

    banned = ("_parallel", "for_chunks", "threadpool", "Thread", "out=", "chunk", "nhwc", "fast.")
    for path in Path(ops.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found = [word for word in banned if word in text.replace("fast tier", "").replace("``lrlc_np.fast``", "")]
        assert not found, f"{path.name}: {found}"


# --------------------------------------------------------------------------- the switch

def test_set_ops_use_ops_and_get_ops():
    before = lrlc_np.get_ops()
    try:
        assert lrlc_np.set_ops("clear") is ops and lrlc_np.get_ops() == "clear" and tiers.active() is ops
        with lrlc_np.use_ops("fast") as module:
            assert module is fast and tiers.active() is fast
        assert lrlc_np.get_ops() == "clear"
        with pytest.raises(ValueError, match=r"set_ops: expected one of 'clear', 'fast', got 'quick'"):
            lrlc_np.set_ops("quick")
        assert lrlc_np.get_ops() == "clear"
    finally:
        lrlc_np.set_ops(before)


def _python(code, **env):
    environment = {k: v for k, v in os.environ.items() if k != tiers.ENV_VARIABLE}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment)


def test_environment_variable_picks_the_start_up_tier():
    code = "import lrlc_np; print(lrlc_np.get_ops())"
    assert _python(code).stdout.strip() == "fast"                        # the default
    assert _python(code, LRLC_NP_OPS="clear").stdout.strip() == "clear"
    bad = _python(code, LRLC_NP_OPS="slow")
    assert bad.returncode != 0 and "LRLC_NP_OPS=slow: expected one of 'clear', 'fast', got 'slow'" in bad.stderr


def _lrlc_layer(rank=3):
    from lrlc_np.layers import LowRankLocallyConnected2D

    layer = LowRankLocallyConnected2D(2, 3, 3, (6, 5), rank, init="random", rng=np.random.default_rng(0),
                                      dtype=np.float64)
    for name, p in layer.params.items():
        if "bias" in name:
            p[...] = np.random.default_rng(1).standard_normal(p.shape)
    return layer


def test_a_layer_runs_backward_on_the_tier_of_its_forward():
    """Switching tiers between forward and backward does not mix caches: the backward pass
    belongs to the forward pass's tier, and gives the same gradients as a pure run."""
    x = np.random.default_rng(2).standard_normal((2, 2, 6, 5))
    dy = np.random.default_rng(3).standard_normal((2, 3, 4, 3))
    grads = {}
    for first, second in (("clear", "fast"), ("fast", "clear"), ("clear", "clear")):
        layer = _lrlc_layer()
        with lrlc_np.use_ops(first):
            layer.forward(x)
        with lrlc_np.use_ops(second):
            dx = layer.backward(dy)
        grads[first, second] = (dx, {k: v.copy() for k, v in layer.grads.items()})
    base_dx, base = grads["clear", "clear"]
    for key, (dx, g) in grads.items():
        np.testing.assert_allclose(dx, base_dx, rtol=RTOL, atol=ATOL, err_msg=str(key))
        for name in base:
            np.testing.assert_allclose(g[name], base[name], rtol=RTOL, atol=ATOL, err_msg=f"{key} {name}")


def test_every_layer_calls_the_active_tier(monkeypatch):
    """With the clear tier active, no function of the fast tier runs, and the other way round."""
    from lrlc_np.models import build_network

    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8))
    for active, other in (("clear", fast), ("fast", ops)):
        with monkeypatch.context() as m:
            for name in ops.__all__:
                if getattr(ops, name) is not getattr(fast, name):          # a function the tiers do not share
                    m.setattr(other, name, lambda *a, _n=name, **k: pytest.fail(f"{other.__name__}.{_n} ran"))
            with lrlc_np.use_ops(active):
                for dependent in (False, True):
                    model = build_network(("conv", "lc", "lrlc"), filters=3, rank=2, input_shape=(1, 8, 8),
                                          input_dependent=dependent, rng=np.random.default_rng(0), dtype=np.float64)
                    model.backward(np.ones_like(model.forward(x)))


def test_the_network_trains_to_the_same_losses_on_both_tiers():
    """Five SGD steps of the paper's network (every layer kind, LRLC input-dependent too) from
    the same start: the losses agree to rounding (float64)."""
    from lrlc_np.layers import SoftmaxCrossEntropy
    from lrlc_np.models import build_network
    from lrlc_np.optim import SGD

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (6, 1, 10, 10))
    labels = rng.integers(0, 10, size=6)
    losses = {}
    for tier in ("clear", "fast"):
        with lrlc_np.use_ops(tier):
            for layers, dependent in ((("conv", "lc", "lrlc"), False), (("wide_conv", "lrlc", "conv"), True)):
                model = build_network(layers, filters=4, rank=2, input_shape=(1, 10, 10), input_dependent=dependent,
                                      rng=np.random.default_rng(1), dtype=np.float64)
                sgd = SGD(model.params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4, decay=model.decay_names())
                loss = SoftmaxCrossEntropy()
                run = []
                for _ in range(5):
                    run.append(loss(model.forward(x), labels))
                    model.backward(loss.backward())
                    sgd.step(model.grads)
                losses[tier, dependent] = run
    for dependent in (False, True):
        clear, tuned = losses["clear", dependent], losses["fast", dependent]
        assert clear[-1] < clear[0]                                   # it trains
        np.testing.assert_allclose(tuned, clear, rtol=1e-9, err_msg=f"input_dependent={dependent}")


def test_input_dependent_combiner_parameters_are_the_layers_entries():
    """The combining network reads and writes the LRLC layer's own dict entries: replacing
    ``layer.params["combiner.out.bias"]`` changes what the combiner computes with."""
    from lrlc_np.layers import LowRankLocallyConnected2D

    layer = LowRankLocallyConnected2D(2, 3, 3, (9, 9), 2, input_dependent=True, rng=np.random.default_rng(0),
                                      dtype=np.float64)
    assert set(layer.combiner.params) == {k[len("combiner."):] for k in layer.params if k.startswith("combiner.")}
    layer.params["combiner.out.bias"] = np.array([5.0, -5.0])
    x = np.random.default_rng(1).standard_normal((1, 2, 9, 9))
    alpha = layer.combining_weights(x)
    assert (alpha[:, 0] > 0.99).all()                     # the logits moved by +5 / -5 : softmax follows
    layer.backward(np.ones_like(layer.forward(x)))
    assert layer.grads["combiner.out.bias"] is layer.combiner.grads["out.bias"]


def test_row_col_sum_is_the_outer_sum_and_its_backward_the_row_and_column_sums():
    """rows [1, 2], cols [10, 20, 30]: y = [[11, 21, 31], [12, 22, 32]]; with dy = ones the row
    terms each fed 3 entries and the column terms 2."""
    y, cache = ops.row_col_sum_forward(np.array([1.0, 2.0]), np.array([10.0, 20.0, 30.0]), (2, 3))
    np.testing.assert_array_equal(y, [[11, 21, 31], [12, 22, 32]])
    drows, dcols = ops.row_col_sum_backward(np.ones((2, 3)), cache)
    np.testing.assert_array_equal(drows, [3, 3])
    np.testing.assert_array_equal(dcols, [2, 2, 2])
    y, cache = ops.row_col_sum_forward(None, np.array([[1.0, 2.0]]), (3, 2))        # columns only, K = 1
    np.testing.assert_array_equal(y, [[[1, 2], [1, 2], [1, 2]]])
    assert ops.row_col_sum_backward(np.ones((1, 3, 2)), cache)[0] is None


# --------------------------------------------------------------------------- the LC weight's layout

def test_each_tier_stores_the_lc_weight_its_own_way():
    """The layer asks the tier switch (``tiers.stored``): the fast tier keeps the order its
    product reads, the clear tier the usual C order; the shape and values are the same."""
    weights = {}
    for tier in ("fast", "clear"):
        with tiers.use_ops(tier):
            layer = L.LocallyConnected2D(3, 4, 3, (6, 5), rng=np.random.default_rng(0))
        weights[tier] = layer.params["weight"]
    assert weights["clear"].flags.c_contiguous and not weights["fast"].flags.c_contiguous
    assert weights["fast"].transpose(0, 1, 4, 5, 3, 2).flags.c_contiguous      # (H_out, W_out, kh, kw, C_in, C_out)
    np.testing.assert_array_equal(weights["fast"], weights["clear"])


@pytest.mark.parametrize("written", ["fast", "clear"])
def test_a_checkpoint_of_either_tier_loads_into_either_tier_with_identical_results(tmp_path, written):
    """A run with an LC layer trained on one tier; its checkpoint loaded into networks built on
    each tier (so with either weight layout) gives the same parameters and, on each tier, the
    same outputs bit for bit, and saved again, the same arrays."""
    from lrlc_np.optim import SGD
    from lrlc_np.rundir import read_checkpoint, restore, save_checkpoint
    from lrlc_np.train import TrainConfig, build_model, train

    config = TrainConfig(layers=("conv", "lc", "conv"), filters=3, limit_train=64, batch_size=32, epochs=1,
                         dataset="mnist-sample", warmup_epochs=0.5)
    with tiers.use_ops(written):
        train(config, tmp_path / "run", progress=False, log=lambda m: None)
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    with np.load(checkpoint) as f:
        written_arrays = {k: f[k] for k in f.files}
    x = np.random.default_rng(1).uniform(-1, 1, (5, 1, 28, 28)).astype(np.float32)
    models = {}
    for built in ("fast", "clear"):
        with tiers.use_ops(built):
            model = build_model(config, np.random.default_rng(7))
        optimizer, rng = SGD(model.params, config.lr, momentum=config.momentum), np.random.default_rng()
        restore(read_checkpoint(checkpoint, model, optimizer, rng), model, optimizer, rng)
        save_checkpoint(tmp_path / f"again_{built}.npz", model, optimizer, rng, 1, 2, [])
        with np.load(tmp_path / f"again_{built}.npz") as f:
            for key, value in written_arrays.items():
                if key.startswith(("param/", "buffer/", "optim/")):
                    assert f[key].tobytes() == value.tobytes(), (built, key)
        models[built] = model
    for tier in ("fast", "clear"):
        with tiers.use_ops(tier):
            outputs = [models[built].forward(x, training=False) for built in ("fast", "clear")]
        np.testing.assert_array_equal(outputs[0], outputs[1], err_msg=f"read on the {tier} tier")
