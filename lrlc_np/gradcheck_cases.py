"""The cases ``lrlc gradcheck`` runs: every layer type, combining mode, normalisation and route.

``gradcheck_cases(rng)`` yields ``(label, layer, x, kwargs)``, all float64, for
``gradcheck.layer_gradients(layer, x, **kwargs)``; ``check_all(seed, eps)`` runs them (and the
loss) and ``format_table(rows, tolerance)`` prints the result. It lives in the library (not
in the command line) so that a course's grader, a notebook or a test can run the same table.
"""

from __future__ import annotations

import numpy

from .backend import to_device
from .text import format_shape


def gradcheck_cases(rng):
    """The (label, layer, input, kwargs) cases that ``lrlc gradcheck`` runs, all float64.

    Shapes are small (the numerical gradient costs two forward passes per number) but not
    square, and use stride and padding, so a swapped axis or a missed offset shows up.
    """
    from . import layers as L

    f64 = numpy.float64
    x = to_device(rng.standard_normal((2, 3, 7, 6)))            # (N, C_in, H, W), on the active backend
    geom = dict(kernel_size=(3, 2), stride=(2, 1), padding=1)   # -> H_out, W_out = 4, 7
    yield "Conv2D", L.Conv2D(3, 4, **geom, rng=rng, dtype=f64), x, {}
    yield "LocallyConnected2D", L.LocallyConnected2D(3, 4, input_size=(7, 6), **geom, rng=rng, dtype=f64), x, {}
    for combining in ("row_col", "row", "col", "full"):
        for normalize in ("softmax", "norm", "none"):
            layer = L.LowRankLocallyConnected2D(
                3, 4, input_size=(7, 6), rank=3, combining=combining, normalize=normalize,
                init="random", **geom, rng=rng, dtype=f64)
            _randomise_biases(layer, rng)
            yield f"LRLC K=3 {combining}/{normalize}", layer, x, {}
    for method in ("conv", "lc"):
        layer = L.LowRankLocallyConnected2D(3, 4, input_size=(7, 6), rank=2, init="random",
                                           method=method, **geom, rng=rng, dtype=f64)
        _randomise_biases(layer, rng)
        yield f"LRLC K=2 row_col/softmax via {method}", layer, x, {}
    layer = L.LowRankLocallyConnected2D(3, 4, input_size=(7, 6), rank=2, combining="full",
                                       input_dependent=True, **geom, rng=rng, dtype=f64)
    _randomise_biases(layer, rng)
    yield "LRLC K=2 input-dependent alpha", layer, x, {}
    layer = L.LowRankLocallyConnected2D(3, 4, [3, (5, 3), 1], input_size=(7, 6), rank=3, padding="same",
                                       dilations=[2, 1, 1], init="random", rng=rng, dtype=f64)
    _randomise_biases(layer, rng)
    yield "LRLC K=3 bases 3x3 d2, 5x3, 1x1", layer, x, {}
    yield "Conv2D 5x3, padding same", L.Conv2D(3, 4, (5, 3), padding="same", rng=rng, dtype=f64), x, {}
    yield "Dense", L.Dense(5, 3, rng=rng, dtype=f64), to_device(rng.standard_normal((4, 5))), {}
    away_from_zero = rng.standard_normal((2, 3, 4, 5))
    away_from_zero += numpy.where(away_from_zero >= 0, 0.1, -0.1)  # ReLU has a kink at 0
    yield "ReLU", L.ReLU(), to_device(away_from_zero), {}
    bn = L.BatchNorm2D(3, dtype=f64)
    bn.params["weight"][:] = to_device(rng.uniform(0.5, 1.5, 3))
    bn.params["bias"][:] = to_device(rng.standard_normal(3))
    yield "BatchNorm2D (training)", bn, x, {"training": True}
    bn_eval = L.BatchNorm2D(3, dtype=f64)
    bn_eval.buffers["running_mean"][:] = to_device(rng.standard_normal(3))
    bn_eval.buffers["running_var"][:] = to_device(rng.uniform(0.5, 2.0, 3))
    yield "BatchNorm2D (evaluation)", bn_eval, x, {"training": False}
    pair_bn = L.BatchNorm2D(3, dtype=f64)
    pair_bn.params["weight"][:] = to_device(rng.uniform(0.5, 1.5, 3))
    pair_bn.params["bias"][:] = to_device(rng.uniform(-0.5, 0.5, 3))
    # Sequential runs the pair as one op on the fast tier (batchnorm2d_relu_forward)
    yield "BatchNorm2D + ReLU (fused)", L.Sequential(pair_bn, L.ReLU()), x, {"training": True}
    yield "GlobalAvgPool2D", L.GlobalAvgPool2D(), x, {}
    yield "Flatten", L.Flatten(), x, {}


def _randomise_biases(layer, rng):
    """Non-zero biases, so that their gradients and broadcasting are actually exercised."""
    for name, value in layer.params.items():
        if "bias" in name:
            value[...] = to_device(rng.standard_normal(value.shape))


def check_all(seed=0, eps=1e-6):
    """Every case's gradients against centred differences: [(label, parameter, shape, relative error)],
    the softmax cross-entropy loss last. In a student copy a layer whose op is an exercise not
    written yet gives one row whose error is that exercise's name (a str) instead."""
    from .gradcheck import check_loss, layer_gradients, relative_error
    from .layers import SoftmaxCrossEntropy

    rng = numpy.random.default_rng(seed)
    rows = []
    for label, layer, x, kwargs in gradcheck_cases(rng):
        try:
            grads = layer_gradients(layer, x, rng=rng, eps=eps, **kwargs)
        except NotImplementedError as err:
            rows.append((label, "-", (), _unwritten(err)))
            continue
        for name, (analytic, numeric) in grads.items():
            rows.append((label, name, analytic.shape, relative_error(analytic, numeric)))
    logits = to_device(rng.standard_normal((5, 4)))
    labels = to_device(rng.integers(0, 4, size=5))
    try:
        error = check_loss(SoftmaxCrossEntropy(), logits, labels, eps=eps)
    except NotImplementedError as err:
        error = _unwritten(err)
    rows.append(("SoftmaxCrossEntropy", "logits", logits.shape, error))
    return rows


def _unwritten(err):
    """The exercise a student copy has not written yet (NotImplementedError("exercise <name>: ...")), or re-raise."""
    text = str(err)
    if not text.startswith("exercise "):
        raise err
    return text.split(":")[0]


def format_table(rows, tolerance):
    """-> (the table as text, with a closing line, and how many rows failed)."""
    header = f"{'layer':<36} {'parameter':<24} {'shape':<20} {'rel. error':>10}  result"
    lines = [header, "-" * len(header)]
    failed, checked = 0, [r for r in rows if not isinstance(r[3], str)]
    for label, name, shape, err in rows:
        if isinstance(err, str):
            lines.append(f"{label:<36} {'':<24} {'':<20} {'':>10}  not checked: {err} is not written yet")
            continue
        ok = err <= tolerance
        failed += not ok
        lines.append(f"{label:<36} {name:<24} {format_shape(shape):<20} {err:>10.1e}  {'pass' if ok else 'FAIL'}")
    lines.append("-" * len(header))
    unwritten = len(rows) - len(checked)
    later = f"; {unwritten} layers wait for exercises not written yet" if unwritten else ""
    if failed:
        lines.append(f"{failed} of {len(checked)} gradients FAILED (relative error > {tolerance:g}){later}")
    elif checked:
        lines.append(f"all {len(checked)} gradients match (largest relative error "
                     f"{max(r[3] for r in checked):.1e}){later}")
    else:
        lines.append(f"no gradient checked{later}")
    return "\n".join(lines), failed
