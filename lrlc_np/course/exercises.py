"""The checks behind ``lrlc course grade``: one function per exercise.

Each check calls the clear tier's function (``lrlc_np.ops``) of the package being graded on
a few fixed float64 cases (non-square inputs and kernels, strides, paddings, with and without
bias, shared and per-example alpha) and holds it to independent oracles:

- the loop definitions of ``lrlc_np.reference`` (or loops written out here);
- centred finite differences with a random upstream gradient, relative error <= 1e-5;
- the design identities (LRLC with K = 1 is a convolution, LRLC is the LC layer of its
  ``effective_weight``, softmax weights sum to 1, col2im is the adjoint of im2col);
- non-mutation: a backward pass changes neither its inputs nor dy.

A check raises ``CheckFailure`` with the first failure in plain words: which output, which
oracle, the relative error and the shapes. Run as a script (``python exercises.py NAME``)
it grades the ``lrlc_np`` that comes first on ``sys.path`` and prints one JSON line,
``{"status": ..., "message": ...}``: that is how the grader runs each exercise in a
process of its own, with a time limit.
"""

from __future__ import annotations

import json
import sys

TOLERANCE = 1e-5         # against finite differences (as lrlc_np.gradcheck.TOLERANCE)
EXACT = 1e-9             # against the loop definitions (the same sums in another order)


class CheckFailure(AssertionError):
    """An exercise gives a wrong answer; the message says where."""


# --------------------------------------------------------------------------- helpers

def _rng(seed=0):
    import numpy

    return numpy.random.default_rng(seed)


def _shapes(**arrays):
    return ", ".join(f"{name} {tuple(a.shape)}" for name, a in arrays.items() if a is not None)


def _compare(exercise, what, got, expected, oracle, context, tol=EXACT):
    import numpy

    from lrlc_np.gradcheck import relative_error

    if expected is None:
        if got is not None:
            raise CheckFailure(f"{exercise}: {what} should be None ({context}), got an array")
        return
    if got is None:
        raise CheckFailure(f"{exercise}: {what} is None, expected an array of shape {tuple(expected.shape)} ({context})")
    got = numpy.asarray(got)
    if got.shape != expected.shape:
        raise CheckFailure(f"{exercise}: {what} has shape {got.shape}, expected {tuple(expected.shape)} ({context})")
    err = relative_error(got, expected)
    if not err <= tol:
        raise CheckFailure(f"{exercise}: {what}: relative error {err:.2g} against {oracle} "
                           f"(tolerance {tol:g}); {context}")


def _numerical(f, x, dy):
    from lrlc_np.gradcheck import numerical_gradient

    return numerical_gradient(f, x.copy(), dy)       # perturbs a copy: the case's arrays stay as they are


def _unchanged(exercise, before, after, context):
    import numpy

    for name, old in before.items():
        if old is not None and not numpy.array_equal(old, after[name]):
            raise CheckFailure(f"{exercise}: the backward pass changed its input {name} in place ({context})")


GEOMETRIES = [
    # (x shape, C_out, kernel, stride, padding): non-square everything, so a swapped kh/kw shows
    ((2, 3, 7, 6), 4, (3, 2), (2, 1), (1, 1)),
    ((1, 2, 5, 5), 3, (3, 3), (1, 1), (0, 0)),
    ((2, 1, 6, 4), 2, (2, 3), (1, 2), (0, 1)),
]


def _context(x_shape, kernel, stride, padding):
    return f"x {x_shape}, kernel {kernel}, stride {stride}, padding {padding}"


def _out_hw(x_shape, kernel, stride, padding):
    return tuple((x_shape[2 + a] + 2 * padding[a] - kernel[a]) // stride[a] + 1 for a in (0, 1))


# --------------------------------------------------------------------------- im2col / col2im

def _patch_loops(x, kernel, stride, padding):
    """cols[(n, i, j), (c, p, q)] = xpad[n, c, i*sh + p, j*sw + q], by loops."""
    import numpy

    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    h_out, w_out = _out_hw(x.shape, kernel, stride, padding)
    xpad = numpy.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = numpy.zeros((n * h_out * w_out, c * kh * kw))
    for b in range(n):
        for i in range(h_out):
            for j in range(w_out):
                row = (b * h_out + i) * w_out + j
                cols[row] = xpad[b, :, i * sh : i * sh + kh, j * sw : j * sw + kw].ravel()
    return cols


def check_im2col():
    from lrlc_np import ops

    rng = _rng(1)
    for x_shape, _, kernel, stride, padding in GEOMETRIES:
        x = rng.standard_normal(x_shape)
        _compare("im2col", "cols", ops.im2col(x, kernel, stride, padding), _patch_loops(x, kernel, stride, padding),
                 "the patches copied by loops", _context(x_shape, kernel, stride, padding))


def check_col2im():
    import numpy

    from lrlc_np import ops

    rng = _rng(2)
    for x_shape, _, kernel, stride, padding in GEOMETRIES:
        n, c, h, w = x_shape
        (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
        h_out, w_out = _out_hw(x_shape, kernel, stride, padding)
        cols = rng.standard_normal((n * h_out * w_out, c * kh * kw))
        dxpad = numpy.zeros((n, c, h + 2 * ph, w + 2 * pw))        # the adjoint of the copy, by loops
        for b in range(n):
            for i in range(h_out):
                for j in range(w_out):
                    row = cols[(b * h_out + i) * w_out + j].reshape(c, kh, kw)
                    dxpad[b, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += row
        expected = dxpad[:, :, ph : ph + h, pw : pw + w]
        _compare("col2im", "dx", ops.col2im(cols, x_shape, kernel, stride, padding), expected,
                 "every patch row added back by loops (overlapping patches add up)",
                 _context(x_shape, kernel, stride, padding))


# --------------------------------------------------------------------------- convolution and LC

def _layer_case(rng, kind, x_shape, c_out, kernel, stride, padding, with_bias):
    x = rng.standard_normal(x_shape)
    h_out, w_out = _out_hw(x_shape, kernel, stride, padding)
    if kind == "conv":
        weight, bias = rng.standard_normal((c_out, x_shape[1], *kernel)), rng.standard_normal(c_out)
    else:
        weight = rng.standard_normal((h_out, w_out, c_out, x_shape[1], *kernel))
        bias = rng.standard_normal((c_out, h_out, w_out))
    dy = rng.standard_normal((x_shape[0], c_out, h_out, w_out))
    return x, weight, bias if with_bias else None, dy


def _layer_cases(kind, seed):
    """(x, weight, bias, dy, stride, padding, context) of every geometry, with and without a bias."""
    rng = _rng(seed)
    for with_bias in (True, False):
        for x_shape, c_out, kernel, stride, padding in GEOMETRIES:
            x, weight, bias, dy = _layer_case(rng, kind, x_shape, c_out, kernel, stride, padding, with_bias)
            context = _shapes(x=x, weight=weight, bias=bias) + f", stride {stride}, padding {padding}"
            yield x, weight, bias, dy, stride, padding, context


def _check_forward(exercise, kind):
    from lrlc_np import ops, reference

    forward = ops.conv2d_forward if kind == "conv" else ops.locally_connected2d_forward
    loops = reference.conv2d if kind == "conv" else reference.locally_connected2d
    for x, weight, bias, _, stride, padding, context in _layer_cases(kind, 3):
        y, _ = forward(x, weight, bias, stride, padding)
        _compare(exercise, "y", y, loops(x, weight, bias, stride, padding), f"reference.{loops.__name__}", context)


def _check_backward(exercise, kind):
    from lrlc_np import ops, reference

    forward = ops.conv2d_forward if kind == "conv" else ops.locally_connected2d_forward
    backward = ops.conv2d_backward if kind == "conv" else ops.locally_connected2d_backward
    loops = reference.conv2d_backward if kind == "conv" else reference.locally_connected2d_backward
    for x, weight, bias, dy, stride, padding, context in _layer_cases(kind, 4):
        inputs = dict(x=x, weight=weight, bias=bias, dy=dy)
        before = {k: None if v is None else v.copy() for k, v in inputs.items()}
        _, cache = forward(x, weight, bias, stride, padding)
        grads = backward(dy, cache)
        _unchanged(exercise, before, inputs, context)
        expected = loops(dy, x, weight, bias, stride, padding)
        for name, got, want in zip(("dx", "dweight", "dbias"), grads, expected):
            _compare(exercise, name, got, want, f"reference.{loops.__name__}", context)
        numeric = {"dx": _numerical(lambda v: forward(v, weight, bias, stride, padding)[0], x, dy),
                   "dweight": _numerical(lambda v: forward(x, v, bias, stride, padding)[0], weight, dy)}
        if bias is not None:
            numeric["dbias"] = _numerical(lambda v: forward(x, weight, v, stride, padding)[0], bias, dy)
        for name, got in zip(("dx", "dweight", "dbias"), grads):
            if name in numeric:
                _compare(exercise, name, got, numeric[name], "finite differences", context, TOLERANCE)


def check_conv2d_forward():
    _check_forward("conv2d_forward", "conv")


def check_conv2d_backward():
    _check_backward("conv2d_backward", "conv")


def check_locally_connected2d_forward():
    _check_forward("locally_connected2d_forward", "lc")


def check_locally_connected2d_backward():
    _check_backward("locally_connected2d_backward", "lc")


# --------------------------------------------------------------------------- combining weights

def _logit_cases(rng):
    yield "shared (K, H_out, W_out)", rng.standard_normal((3, 4, 5))
    yield "per example (N, K, H_out, W_out)", 3.0 * rng.standard_normal((2, 4, 3, 2))


def check_combining_weights_forward():
    import numpy

    from lrlc_np import ops, reference

    rng = _rng(5)
    for normalize in ("softmax", "norm"):
        for label, logits in _logit_cases(rng):
            context = f"normalize {normalize!r}, logits {label} {logits.shape}"
            alpha, _ = ops.combining_weights_forward(logits, normalize)
            _compare("combining_weights_forward", "alpha", alpha, reference.combining_weights(logits, normalize),
                     "reference.combining_weights (the normalisation over K, axis -3)", context)
    alpha, _ = ops.combining_weights_forward(numpy.array([[[1000.0]], [[0.0]]]), "softmax")
    if not numpy.all(numpy.isfinite(alpha)):
        raise CheckFailure("combining_weights_forward: softmax of logits [1000, 0] is not finite: subtract the "
                           "largest logit over K before exp")
    zero, _ = ops.combining_weights_forward(numpy.zeros((3, 2, 2)), "norm")
    if not numpy.array_equal(zero, numpy.zeros((3, 2, 2))):
        raise CheckFailure("combining_weights_forward: 'norm' of all-zero logits should be 0 (the norm is "
                           "clamped at 1e-12), got a non-zero or NaN result")


def check_combining_weights_backward():
    from lrlc_np import ops, reference

    rng = _rng(6)
    for normalize in ("softmax", "norm"):
        for label, logits in _logit_cases(rng):
            context = f"normalize {normalize!r}, logits {label} {logits.shape}"
            dalpha = rng.standard_normal(logits.shape)
            before = {"logits": logits.copy(), "dalpha": dalpha.copy()}
            _, cache = ops.combining_weights_forward(logits, normalize)
            dlogits = ops.combining_weights_backward(dalpha, cache)
            _unchanged("combining_weights_backward", before, {"logits": logits, "dalpha": dalpha}, context)
            _compare("combining_weights_backward", "dlogits", dlogits,
                     reference.combining_weights_backward(dalpha, logits, normalize),
                     "reference.combining_weights_backward (the Jacobian written out)", context)
            numeric = _numerical(lambda v: ops.combining_weights_forward(v, normalize)[0], logits, dalpha)
            _compare("combining_weights_backward", "dlogits", dlogits, numeric, "finite differences", context, TOLERANCE)


# --------------------------------------------------------------------------- LRLC

def _lrlc_cases(rng):
    for (x_shape, c_out, kernel, stride, padding), rank in zip(GEOMETRIES, (3, 2, 1)):
        h_out, w_out = _out_hw(x_shape, kernel, stride, padding)
        x = rng.standard_normal(x_shape)
        bases = rng.standard_normal((rank, c_out, x_shape[1], *kernel))
        for alpha in (rng.standard_normal((rank, h_out, w_out)), rng.standard_normal((x_shape[0], rank, h_out, w_out))):
            for method in (("conv", "lc") if alpha.ndim == 3 else ("conv",)):
                context = (_shapes(x=x, bases=bases, alpha=alpha) + f", stride {stride}, padding {padding}, "
                           f"method {method!r}")
                yield x, bases, alpha, stride, padding, method, context


def check_lrlc2d_forward():
    import numpy

    from lrlc_np import ops, reference

    for x, bases, alpha, stride, padding, method, context in _lrlc_cases(_rng(7)):
        y, _ = ops.lrlc2d_forward(x, bases, alpha, stride, padding, method)
        _compare("lrlc2d_forward", "y", y, reference.lrlc2d(x, bases, alpha, stride, padding), "reference.lrlc2d", context)
        if alpha.ndim == 3:        # LRLC is the LC layer of its effective weight
            lc, _ = ops.locally_connected2d_forward(x, ops.effective_weight(bases, alpha), None, stride, padding)
            _compare("lrlc2d_forward", "y", y, lc, "the LC layer of effective_weight(bases, alpha)", context)
        ones = numpy.ones((1, *alpha.shape[-2:]))   # K = 1 with alpha = 1 is a convolution
        y1, _ = ops.lrlc2d_forward(x, bases[:1], ones, stride, padding, method)
        conv, _ = ops.conv2d_forward(x, bases[0], None, stride, padding)
        _compare("lrlc2d_forward", "y with K = 1 and alpha = 1", y1, conv, "conv2d_forward with bases[0]", context)


def check_lrlc2d_backward():
    from lrlc_np import ops, reference

    rng = _rng(8)
    for x, bases, alpha, stride, padding, method, context in _lrlc_cases(rng):
        _, cache = ops.lrlc2d_forward(x, bases, alpha, stride, padding, method)
        dy = rng.standard_normal(reference.lrlc2d(x, bases, alpha, stride, padding).shape)
        inputs = dict(x=x, bases=bases, alpha=alpha, dy=dy)
        before = {k: v.copy() for k, v in inputs.items()}
        grads = ops.lrlc2d_backward(dy, cache)
        _unchanged("lrlc2d_backward", before, inputs, context)
        names = ("dx", "dbases", "dalpha")
        for name, got, want in zip(names, grads, reference.lrlc2d_backward(dy, x, bases, alpha, stride, padding)):
            _compare("lrlc2d_backward", name, got, want, "reference.lrlc2d_backward", context)

        def f(which):
            def run(v):
                args = {"x": x, "bases": bases, "alpha": alpha}
                args[which] = v
                return ops.lrlc2d_forward(args["x"], args["bases"], args["alpha"], stride, padding, method)[0]
            return run

        for name, got, key in zip(names, grads, ("x", "bases", "alpha")):
            _compare("lrlc2d_backward", name, got, _numerical(f(key), inputs[key], dy), "finite differences",
                     context, TOLERANCE)


# --------------------------------------------------------------------------- the rest

def check_batchnorm2d_backward():
    import numpy

    from lrlc_np import ops

    rng = _rng(9)
    shape = (3, 2, 4, 5)
    ramp = numpy.linspace(-2.0, 2.0, 3 * 4 * 5)      # a spread-out batch: finite differences stay accurate
    x = numpy.stack([rng.permutation(ramp) for _ in range(2)]).reshape(2, 3, 4, 5).transpose(1, 0, 2, 3).copy()
    weight, bias = rng.uniform(0.5, 1.5, 2), rng.standard_normal(2)
    dy = rng.standard_normal(shape)
    for training in (True, False):
        context = f"x {shape}, training={training}"

        def f(x_=x, w_=weight, b_=bias):
            return ops.batchnorm2d_forward(x_, w_, b_, numpy.zeros(2), numpy.full(2, 1.5), training=training)[0]

        before = {"x": x.copy(), "dy": dy.copy()}
        _, cache = ops.batchnorm2d_forward(x, weight, bias, numpy.zeros(2), numpy.full(2, 1.5), training=training)
        dx, dweight, dbias = ops.batchnorm2d_backward(dy, cache)
        _unchanged("batchnorm2d_backward", before, {"x": x, "dy": dy}, context)
        for name, got, numeric in (("dx", dx, _numerical(lambda v: f(x_=v), x, dy)),
                                   ("dweight", dweight, _numerical(lambda v: f(w_=v), weight, dy)),
                                   ("dbias", dbias, _numerical(lambda v: f(b_=v), bias, dy))):
            _compare("batchnorm2d_backward", name, got, numeric, "finite differences", context, TOLERANCE)


def check_softmax_cross_entropy_backward():
    import numpy

    from lrlc_np import ops

    rng = _rng(10)
    logits, labels = rng.standard_normal((5, 4)), numpy.array([0, 3, 1, 1, 2])
    context = "logits (5, 4), labels [0, 3, 1, 1, 2]"
    _, cache = ops.softmax_cross_entropy_forward(logits, labels)
    for dloss in (1.0, 2.5):
        dlogits = ops.softmax_cross_entropy_backward(numpy.asarray(dloss), cache)
        numeric = _numerical(lambda v: ops.softmax_cross_entropy_forward(v, labels)[0],
                             logits, numpy.asarray(dloss))
        _compare("softmax_cross_entropy_backward", f"dlogits (dloss = {dloss})", dlogits, numeric,
                 "finite differences of the mean loss", context, TOLERANCE)


def check_bilinear_resize_backward():
    from lrlc_np import ops

    rng = _rng(11)
    for x_shape, size in (((2, 3, 4, 5), (7, 3)), ((1, 2, 6, 6), (6, 2)), ((1, 1, 1, 3), (4, 5))):
        x = rng.standard_normal(x_shape)
        context = f"x {x_shape} resized to {size}"
        y, cache = ops.bilinear_resize_forward(x, size)
        dy = rng.standard_normal(y.shape)
        dx = ops.bilinear_resize_backward(dy, cache)
        _compare("bilinear_resize_backward", "dx", dx,
                 _numerical(lambda v: ops.bilinear_resize_forward(v, size)[0], x, dy), "finite differences",
                 context, TOLERANCE)


#: name -> (points, check, what it is). Backward passes weigh more: they are the derivations.
EXERCISES = {
    "im2col": (1, check_im2col, "patches to rows"),
    "col2im": (1, check_col2im, "rows back onto the image (the adjoint of im2col)"),
    "conv2d_forward": (1, check_conv2d_forward, "convolution as one matrix product"),
    "conv2d_backward": (2, check_conv2d_backward, "dW = dY^T X, db, dx = col2im(dY W)"),
    "locally_connected2d_forward": (1, check_locally_connected2d_forward, "a filter bank per position"),
    "locally_connected2d_backward": (2, check_locally_connected2d_backward, "the LC layer's gradients"),
    "combining_weights_forward": (1, check_combining_weights_forward, "softmax and L2 norm over K"),
    "combining_weights_backward": (2, check_combining_weights_backward, "their Jacobians"),
    "lrlc2d_forward": (2, check_lrlc2d_forward, "both LRLC routes"),
    "lrlc2d_backward": (3, check_lrlc2d_backward, "dx, dbases and dalpha on both routes"),
    "batchnorm2d_backward": (2, check_batchnorm2d_backward, "batch norm's gradient, training and evaluation"),
    "softmax_cross_entropy_backward": (1, check_softmax_cross_entropy_backward, "the loss's gradient"),
    "bilinear_resize_backward": (1, check_bilinear_resize_backward, "stretch: the resize's adjoint"),
}


def run(name) -> dict:
    """Run one exercise's check; {"status": "pass" | "fail" | "not implemented" | "error", "message"}."""
    try:
        EXERCISES[name][1]()
    except NotImplementedError as err:
        message = str(err) or f"exercise {name}: not implemented yet"
        other = message.split(":")[0].removeprefix("exercise ").strip()
        if message.startswith("exercise ") and other != name:   # e.g. a backward pass needs its forward's cache
            message = f"exercise {name}: can only be checked once exercise {other} is done ({message})"
        return {"status": "not implemented", "message": message}
    except CheckFailure as err:
        return {"status": "fail", "message": str(err)}
    except Exception as err:                                   # the student's code crashed
        return {"status": "error", "message": f"{name} raised {type(err).__name__}: {err}".splitlines()[0]}
    return {"status": "pass", "message": ""}


if __name__ == "__main__":    # python exercises.py NAME, with the package to grade first on sys.path
    print(json.dumps(run(sys.argv[1])))
