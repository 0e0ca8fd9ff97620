"""What the grader asks of each exercise, and how it decides: cases, oracles, verdicts.

Everything here runs in the grader's own process, with the grader's own installed package;
graded code never sees it. For each exercise:

- ``draw(rng)`` makes the cases: fixed edge geometries (non-square inputs and kernels, a
  stride larger than the kernel, padding, a 1x1 kernel, no bias, per-example alpha ...)
  with values drawn from ``rng``, plus geometries drawn from ``rng``, plus one float32 case;
  the grader seeds ``rng`` at grading time, so no copy holds the numbers;
- ``oracle(case)`` gives the expected arrays from the loop definitions
  (``lrlc_np.reference``) or loops written out here, and for backward passes centred finite
  differences (float64, random upstream gradient) of the grader's own forward pass;
- ``speed(rng)`` is one realistic float32 case, timed against the grader's solution.

A case passes when every result has the expected shape and dtype (float32 in, float32 out),
agrees with every oracle (relative error at most EXACT against loops, TOLERANCE against
finite differences, FLOAT32 in float32) and the inputs are unchanged after the call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy

from .. import reference
from ..gradcheck import numerical_gradient, relative_error

EXACT = 1e-9             # against the loop definitions: the same sums in another order
TOLERANCE = 1e-5         # against finite differences (as lrlc_np.gradcheck.TOLERANCE)
FLOAT32 = 1e-4           # a float32 case against float64 loops


@dataclass
class Case:
    """One call of the exercise: its inputs (arrays, parameters as small arrays) and a label."""

    label: str
    inputs: dict
    dtype: str = "float64"
    oracles: dict = field(default_factory=dict)      # filled by ``expected``: {output: [(array, name, tol)]}


# --------------------------------------------------------------------------- geometry

#: (x shape, C_out, kernel, stride, padding): the edges a correct op must get right
EDGES = [
    ((2, 3, 7, 6), 4, (3, 2), (2, 1), (1, 1)),     # non-square everything: a swapped kh/kw shows
    ((1, 2, 5, 5), 3, (3, 3), (1, 1), (0, 0)),     # plain
    ((2, 1, 6, 4), 2, (2, 3), (1, 2), (0, 1)),
    ((1, 2, 8, 7), 2, (2, 2), (3, 3), (0, 0)),     # stride larger than the kernel: pixels left out
    ((2, 2, 4, 5), 3, (1, 1), (1, 1), (0, 0)),     # a 1x1 kernel
]


def _random_geometry(rng):
    """A valid geometry of small, non-square sizes."""
    n, c_in, c_out = (int(v) for v in rng.integers(1, 4, size=3))
    h, w = (int(v) for v in rng.integers(3, 9, size=2))
    ph, pw = (int(v) for v in rng.integers(0, 3, size=2))
    kh, kw = int(rng.integers(1, min(h + 2 * ph, 4) + 1)), int(rng.integers(1, min(w + 2 * pw, 4) + 1))
    sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
    return (n, c_in, h, w), c_out, (kh, kw), (sh, sw), (ph, pw)


def geometries(rng, random=2):
    """The edge geometries and ``random`` drawn ones."""
    return EDGES + [_random_geometry(rng) for _ in range(random)]


def out_hw(x_shape, kernel, stride, padding):
    return tuple((x_shape[2 + a] + 2 * padding[a] - kernel[a]) // stride[a] + 1 for a in (0, 1))


def _params(kernel, stride, padding):
    return {"kernel": numpy.array(kernel), "stride": numpy.array(stride), "padding": numpy.array(padding)}


def _geometry_label(kernel, stride, padding):
    return f"kernel {kernel}, stride {stride}, padding {padding}"


def _shapes(**arrays):
    return ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())


def _as32(case):
    """A float32 copy of ``case`` (for the dtype check)."""
    inputs = {k: v.astype(numpy.float32) if v.dtype == numpy.float64 else v for k, v in case.inputs.items()}
    return Case(case.label.replace("float64", "float32"), inputs, "float32")


def _pair(a):
    return tuple(int(v) for v in a)


# --------------------------------------------------------------------------- im2col / col2im

def _patch_loops(x, kernel, stride, padding):
    """cols[(n, i, j), (c, p, q)] = xpad[n, c, i*sh + p, j*sw + q], by loops."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    h_out, w_out = out_hw(x.shape, kernel, stride, padding)
    xpad = numpy.pad(x.astype(numpy.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = numpy.zeros((n * h_out * w_out, c * kh * kw))
    for b in range(n):
        for i in range(h_out):
            for j in range(w_out):
                cols[(b * h_out + i) * w_out + j] = xpad[b, :, i * sh : i * sh + kh, j * sw : j * sw + kw].ravel()
    return cols


def _add_back_loops(cols, x_shape, kernel, stride, padding):
    """The adjoint of the copy, by loops: every patch row added back onto its pixels."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    h_out, w_out = out_hw(x_shape, kernel, stride, padding)
    dxpad = numpy.zeros((n, c, h + 2 * ph, w + 2 * pw))
    for b in range(n):
        for i in range(h_out):
            for j in range(w_out):
                row = cols[(b * h_out + i) * w_out + j].reshape(c, kh, kw)
                dxpad[b, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += row
    return dxpad[:, :, ph : ph + h, pw : pw + w]


def _draw_im2col(rng):
    cases = []
    for x_shape, _, kernel, stride, padding in geometries(rng):
        x = rng.standard_normal(x_shape)
        cases.append(Case(f"x {x_shape}, {_geometry_label(kernel, stride, padding)}, float64",
                          {"x": x, **_params(kernel, stride, padding)}))
    return cases + [_as32(cases[0])]


def _oracle_im2col(case):
    c = case.inputs
    return {"cols": [(_patch_loops(c["x"], _pair(c["kernel"]), _pair(c["stride"]), _pair(c["padding"])),
                      "the patches copied by loops", EXACT)]}


def _draw_col2im(rng):
    cases = []
    for x_shape, _, kernel, stride, padding in geometries(rng):
        h_out, w_out = out_hw(x_shape, kernel, stride, padding)
        cols = rng.standard_normal((x_shape[0] * h_out * w_out, x_shape[1] * kernel[0] * kernel[1]))
        cases.append(Case(f"x_shape {x_shape}, cols {cols.shape}, {_geometry_label(kernel, stride, padding)}, float64",
                          {"cols": cols, "x_shape": numpy.array(x_shape), **_params(kernel, stride, padding)}))
    return cases + [_as32(cases[0])]


def _oracle_col2im(case):
    c = case.inputs
    return {"dx": [(_add_back_loops(c["cols"].astype(numpy.float64), _pair(c["x_shape"]), _pair(c["kernel"]),
                                    _pair(c["stride"]), _pair(c["padding"])),
                    "every patch row added back by loops (overlapping patches add up)",
                    EXACT if case.dtype == "float64" else FLOAT32)]}


# --------------------------------------------------------------------------- conv and LC

def _draw_layer(kind, backward):
    def draw(rng):
        cases = []
        for index, (x_shape, c_out, kernel, stride, padding) in enumerate(geometries(rng)):
            h_out, w_out = out_hw(x_shape, kernel, stride, padding)
            x = rng.standard_normal(x_shape)
            if kind == "conv":
                weight, bias = rng.standard_normal((c_out, x_shape[1], *kernel)), rng.standard_normal(c_out)
            else:
                weight = rng.standard_normal((h_out, w_out, c_out, x_shape[1], *kernel))
                bias = rng.standard_normal((c_out, h_out, w_out))
            inputs = {"x": x, "weight": weight, **_params(kernel, stride, padding)}
            with_bias = index % 2 == 0
            if with_bias:
                inputs["bias"] = bias
            if backward:
                inputs["dy"] = rng.standard_normal((x_shape[0], c_out, h_out, w_out))
            label = (_shapes(x=x, weight=weight) + (", bias" if with_bias else ", no bias") + ", "
                     + _geometry_label(kernel, stride, padding) + ", float64")
            cases.append(Case(label, inputs))
        return cases + [_as32(cases[0])]
    return draw


def _finite_differences(forward, inputs, names, dy):
    """{name: the centred-difference gradient of sum(forward(**inputs) * dy) in inputs[name]}."""
    out = {}
    for name in names:
        def f(v, name=name):
            return forward(**{**inputs, name: v})
        out[name] = numerical_gradient(f, inputs[name].copy(), dy)
    return out


def _add_differences(expected, case, forward, as64, names):
    """For a float64 case, add the finite differences of ``forward`` in each of ``names`` to
    the oracles of its gradient ("d" + name); -> ``expected``."""
    if case.dtype == "float64":
        numeric = _finite_differences(forward, {k: as64[k] for k in names}, names, as64["dy"])
        for name, value in numeric.items():
            expected["d" + name].append((value, "finite differences", TOLERANCE))
    return expected


def _oracle_layer(kind, backward):
    from .. import ops

    forward_loops = reference.conv2d if kind == "conv" else reference.locally_connected2d
    backward_loops = reference.conv2d_backward if kind == "conv" else reference.locally_connected2d_backward
    forward_op = ops.conv2d_forward if kind == "conv" else ops.locally_connected2d_forward

    def oracle(case):
        c = case.inputs
        as64 = {k: c[k].astype(numpy.float64) for k in ("x", "weight", "bias", "dy") if k in c}
        geometry = (_pair(c["stride"]), _pair(c["padding"]))
        tol = EXACT if case.dtype == "float64" else FLOAT32
        if not backward:
            return {"y": [(forward_loops(as64["x"], as64["weight"], as64.get("bias"), *geometry),
                           f"reference.{forward_loops.__name__}", tol)]}
        loops = backward_loops(as64["dy"], as64["x"], as64["weight"], as64.get("bias"), *geometry)
        expected = {name: [(value, f"reference.{backward_loops.__name__}", tol)]
                    for name, value in zip(("dx", "dweight", "dbias"), loops)}
        names = ["x", "weight"] + (["bias"] if "bias" in c else [])
        return _add_differences(expected, case, lambda x, weight, bias=None: forward_op(x, weight, bias, *geometry)[0],
                                as64, names)
    return oracle


# --------------------------------------------------------------------------- combining weights

def _draw_combining(backward):
    def draw(rng):
        cases = []
        shapes = [("shared (K, H_out, W_out)", (3, 4, 5), 1.0), ("per example (N, K, H_out, W_out)", (2, 4, 3, 2), 3.0),
                  ("K = 1", (1, 3, 2), 1.0), ("drawn", tuple(int(v) for v in rng.integers(1, 5, size=4)), 2.0)]
        for normalize in ("softmax", "norm"):
            for label, shape, scale in shapes:
                logits = scale * rng.standard_normal(shape)
                inputs = {"logits": logits, "normalize": numpy.array(normalize)}
                if backward:
                    inputs["dalpha"] = rng.standard_normal(shape)
                cases.append(Case(f"normalize {normalize!r}, logits {label} {shape}, float64", inputs))
        if not backward:
            cases.append(Case("normalize 'softmax', logits [1000, 0] (exp must not overflow), float64",
                              {"logits": numpy.array([[[1000.0]], [[0.0]]]), "normalize": numpy.array("softmax")}))
            cases.append(Case("normalize 'norm', all-zero logits (the norm is clamped at 1e-12), float64",
                              {"logits": numpy.zeros((3, 2, 2)), "normalize": numpy.array("norm")}))
        return cases + [_as32(cases[0])]
    return draw


def _oracle_combining(backward):
    from .. import ops

    def oracle(case):
        c = case.inputs
        normalize = str(c["normalize"][()])
        logits = c["logits"].astype(numpy.float64)
        tol = EXACT if case.dtype == "float64" else FLOAT32
        if not backward:
            return {"alpha": [(reference.combining_weights(logits, normalize),
                               "reference.combining_weights (the normalisation over K, axis -3)", tol)]}
        dalpha = c["dalpha"].astype(numpy.float64)
        expected = [(reference.combining_weights_backward(dalpha, logits, normalize),
                     "reference.combining_weights_backward (the Jacobian written out)", tol)]
        if case.dtype == "float64":
            expected.append((numerical_gradient(lambda v: ops.combining_weights_forward(v, normalize)[0],
                                                logits.copy(), dalpha), "finite differences", TOLERANCE))
        return {"dlogits": expected}
    return oracle


# --------------------------------------------------------------------------- LRLC

def _draw_lrlc(backward):
    def draw(rng):
        cases = []
        for index, (x_shape, c_out, kernel, stride, padding) in enumerate(geometries(rng)):
            h_out, w_out = out_hw(x_shape, kernel, stride, padding)
            rank = (3, 2, 1, 2, 4, 2, 3)[index % 7]
            x = rng.standard_normal(x_shape)
            bases = rng.standard_normal((rank, c_out, x_shape[1], *kernel))
            dy = rng.standard_normal((x_shape[0], c_out, h_out, w_out))
            shared = rng.standard_normal((rank, h_out, w_out))
            per_example = rng.standard_normal((x_shape[0], rank, h_out, w_out))
            routes = [(shared, "conv"), (shared, "lc"), (per_example, "conv")] if index < 3 else \
                [((shared, per_example)[index % 2], "conv"), (shared, "lc")]
            for alpha, method in routes:
                inputs = {"x": x, "bases": bases, "alpha": alpha, "method": numpy.array(method),
                          **_params(kernel, stride, padding)}
                if backward:
                    inputs["dy"] = dy
                label = (_shapes(x=x, bases=bases, alpha=alpha) + f", method {method!r}, "
                         + _geometry_label(kernel, stride, padding) + ", float64")
                cases.append(Case(label, inputs))
        x_shape, c_out, kernel, stride, padding = EDGES[0]                  # K = 1, alpha = 1: a convolution
        h_out, w_out = out_hw(x_shape, kernel, stride, padding)
        inputs = {"x": rng.standard_normal(x_shape), "bases": rng.standard_normal((1, c_out, x_shape[1], *kernel)),
                  "alpha": numpy.ones((1, h_out, w_out)), "method": numpy.array("conv"), **_params(kernel, stride, padding)}
        if backward:
            inputs["dy"] = rng.standard_normal((x_shape[0], c_out, h_out, w_out))
        cases.append(Case("K = 1 and alpha = 1 (a convolution), " + _geometry_label(kernel, stride, padding)
                          + ", float64", inputs))
        return cases + [_as32(cases[0])]
    return draw


def _oracle_lrlc(backward):
    from .. import ops

    def oracle(case):
        c = case.inputs
        as64 = {k: c[k].astype(numpy.float64) for k in ("x", "bases", "alpha", "dy") if k in c}
        geometry = (_pair(c["stride"]), _pair(c["padding"]))
        tol = EXACT if case.dtype == "float64" else FLOAT32
        if not backward:
            expected = [(reference.lrlc2d(as64["x"], as64["bases"], as64["alpha"], *geometry), "reference.lrlc2d", tol)]
            if as64["bases"].shape[0] == 1 and numpy.all(as64["alpha"] == 1):
                expected.append((reference.conv2d(as64["x"], as64["bases"][0], None, *geometry),
                                 "reference.conv2d with bases[0]", tol))
            return {"y": expected}
        loops = reference.lrlc2d_backward(as64["dy"], as64["x"], as64["bases"], as64["alpha"], *geometry)
        expected = {name: [(value, "reference.lrlc2d_backward", tol)]
                    for name, value in zip(("dx", "dbases", "dalpha"), loops)}
        method = str(c["method"][()])
        return _add_differences(expected, case, lambda x, bases, alpha: ops.lrlc2d_forward(x, bases, alpha, *geometry,
                                                                                            method)[0],
                                as64, ("x", "bases", "alpha"))
    return oracle


# --------------------------------------------------------------------------- the rest

def _draw_batchnorm(rng):
    cases = []
    for shape in ((3, 2, 4, 5), (2, 3, 3, 2), tuple(int(v) for v in rng.integers(2, 5, size=4))):
        n, channels, h, w = shape
        ramp = numpy.linspace(-2.0, 2.0, n * h * w)   # a spread-out batch: finite differences stay accurate
        x = numpy.stack([rng.permutation(ramp) for _ in range(channels)]).reshape(channels, n, h, w)
        for training in (True, False):
            inputs = {"x": x.transpose(1, 0, 2, 3).copy(), "weight": rng.uniform(0.5, 1.5, channels),
                      "bias": rng.standard_normal(channels), "running_mean": rng.standard_normal(channels),
                      "running_var": rng.uniform(0.5, 2.0, channels), "training": numpy.array(training),
                      "dy": rng.standard_normal(shape)}
            cases.append(Case(f"x {shape}, training={training}, float64", inputs))
    return cases + [_as32(cases[0])]


def _oracle_batchnorm(case):
    from .. import ops

    c = case.inputs
    as64 = {k: c[k].astype(numpy.float64) for k in ("x", "weight", "bias", "running_mean", "running_var", "dy")}
    training = bool(c["training"][()])

    def forward(x, weight, bias):
        return ops.batchnorm2d_forward(x, weight, bias, as64["running_mean"].copy(), as64["running_var"].copy(),
                                       training=training)[0]

    tol = TOLERANCE if case.dtype == "float64" else FLOAT32
    numeric = _finite_differences(forward, {k: as64[k] for k in ("x", "weight", "bias")}, ("x", "weight", "bias"),
                                  as64["dy"])
    return {"d" + name: [(value, "finite differences", tol)] for name, value in numeric.items()}


def _draw_softmax_cross_entropy(rng):
    cases = []
    for n, classes in ((5, 4), (1, 3), tuple(int(v) for v in rng.integers(2, 9, size=2))):
        for dloss in (1.0, 2.5):
            logits = rng.standard_normal((n, classes))
            labels = rng.integers(0, classes, size=n)
            cases.append(Case(f"logits ({n}, {classes}), dloss {dloss}, float64",
                              {"logits": logits, "labels": labels, "dloss": numpy.array(dloss)}))
    return cases + [_as32(cases[0])]


def _oracle_softmax_cross_entropy(case):
    from .. import ops

    c = case.inputs
    logits, labels = c["logits"].astype(numpy.float64), c["labels"]
    numeric = numerical_gradient(lambda v: ops.softmax_cross_entropy_forward(v, labels)[0], logits.copy(),
                                 numpy.asarray(float(c["dloss"])))
    return {"dlogits": [(numeric, "finite differences of the mean loss",
                         TOLERANCE if case.dtype == "float64" else FLOAT32)]}


def _draw_resize(rng):
    cases = []
    for x_shape, size in (((2, 3, 4, 5), (7, 3)), ((1, 2, 6, 6), (6, 2)), ((1, 1, 1, 3), (4, 5)),
                          (tuple(int(v) for v in rng.integers(1, 6, size=4)), tuple(int(v) for v in rng.integers(1, 8, size=2)))):
        x = rng.standard_normal(x_shape)
        cases.append(Case(f"x {x_shape} resized to {size}, float64",
                          {"x": x, "size": numpy.array(size), "dy": rng.standard_normal((*x_shape[:2], *size))}))
    return cases + [_as32(cases[0])]


def _oracle_resize(case):
    c = case.inputs
    size = _pair(c["size"])
    numeric = numerical_gradient(lambda v: reference.bilinear_resize(v, size), c["x"].astype(numpy.float64).copy(),
                                 c["dy"].astype(numpy.float64))
    return {"dx": [(numeric, "finite differences of reference.bilinear_resize",
                    TOLERANCE if case.dtype == "float64" else FLOAT32)]}


# --------------------------------------------------------------------------- speed cases

def _speed_layer(kind, backward):
    def case(rng):
        n, c, h = 16, 16, 24
        x = rng.standard_normal((n, c, h, h), dtype=numpy.float32)
        inputs = {"x": x, **_params((3, 3), (1, 1), (0, 0))}
        if kind == "conv":
            inputs["weight"] = rng.standard_normal((c, c, 3, 3), dtype=numpy.float32)
        else:
            inputs["weight"] = rng.standard_normal((h - 2, h - 2, c, c, 3, 3), dtype=numpy.float32)
        if backward:
            inputs["dy"] = rng.standard_normal((n, c, h - 2, h - 2), dtype=numpy.float32)
        return Case(f"x {x.shape}, weight {inputs['weight'].shape}, 3x3, float32", inputs, "float32")
    return case


def _speed_im2col(rng):
    x = rng.standard_normal((16, 16, 24, 24), dtype=numpy.float32)
    return Case(f"x {x.shape}, 3x3, float32", {"x": x, **_params((3, 3), (1, 1), (0, 0))}, "float32")


def _speed_col2im(rng):
    cols = rng.standard_normal((16 * 22 * 22, 16 * 9), dtype=numpy.float32)
    return Case(f"cols {cols.shape} onto (16, 16, 24, 24), 3x3, float32",
                {"cols": cols, "x_shape": numpy.array((16, 16, 24, 24)), **_params((3, 3), (1, 1), (0, 0))}, "float32")


def _speed_combining(backward):
    def case(rng):
        logits = rng.standard_normal((128, 4, 22, 22), dtype=numpy.float32)
        inputs = {"logits": logits, "normalize": numpy.array("softmax")}
        if backward:
            inputs["dalpha"] = rng.standard_normal(logits.shape, dtype=numpy.float32)
        return Case(f"logits {logits.shape}, softmax, float32", inputs, "float32")
    return case


def _speed_lrlc(backward):
    def case(rng):
        x = rng.standard_normal((16, 16, 24, 24), dtype=numpy.float32)
        inputs = {"x": x, "bases": rng.standard_normal((4, 16, 16, 3, 3), dtype=numpy.float32),
                  "alpha": rng.standard_normal((4, 22, 22), dtype=numpy.float32), "method": numpy.array("conv"),
                  **_params((3, 3), (1, 1), (0, 0))}
        if backward:
            inputs["dy"] = rng.standard_normal((16, 16, 22, 22), dtype=numpy.float32)
        return Case(f"x {x.shape}, K = 4, 16 -> 16 channels, 3x3, float32", inputs, "float32")
    return case


def _speed_batchnorm(rng):
    x = rng.standard_normal((32, 16, 24, 24), dtype=numpy.float32)
    inputs = {"x": x, "weight": numpy.ones(16, numpy.float32), "bias": numpy.zeros(16, numpy.float32),
              "running_mean": numpy.zeros(16, numpy.float32), "running_var": numpy.ones(16, numpy.float32),
              "training": numpy.array(True), "dy": rng.standard_normal(x.shape, dtype=numpy.float32)}
    return Case(f"x {x.shape}, training, float32", inputs, "float32")


def _speed_softmax_cross_entropy(rng):
    logits = rng.standard_normal((20000, 10), dtype=numpy.float32)
    return Case(f"logits {logits.shape}, float32", {"logits": logits, "labels": rng.integers(0, 10, size=20000),
                                                    "dloss": numpy.array(1.0, numpy.float32)}, "float32")


def _speed_resize(rng):
    x = rng.standard_normal((32, 16, 7, 7), dtype=numpy.float32)
    return Case(f"x {x.shape} resized to (22, 22), float32",
                {"x": x, "size": numpy.array((22, 22)), "dy": rng.standard_normal((32, 16, 22, 22), dtype=numpy.float32)},
                "float32")


@dataclass(frozen=True)
class Spec:
    draw: object          # rng -> [Case]
    oracle: object        # Case -> {output name: [(expected array, oracle name, tolerance)]}
    speed: object         # rng -> Case
    likely: str = ""      # the usual cause of a wrong result, said after the failures
    mutable: tuple = ()   # inputs the call may change (batch norm's running statistics)


SPECS = {
    "im2col": Spec(_draw_im2col, _oracle_im2col, _speed_im2col,
                   "check the order of the offset loops (kh, then kw) and the reshape to rows (n, i, j), columns (c, p, q)"),
    "col2im": Spec(_draw_col2im, _oracle_col2im, _speed_col2im,
                   "overlapping patches must add up (+=), and the padding is cut off at the end"),
    "conv2d_forward": Spec(_draw_layer("conv", False), _oracle_layer("conv", False), _speed_layer("conv", False),
                           "the rows of X W^T are (n, i, j): reshape to (N, H_out, W_out, C_out), then move C_out to axis 1"),
    "conv2d_backward": Spec(_draw_layer("conv", True), _oracle_layer("conv", True), _speed_layer("conv", True),
                            "dy as (M, C_out) needs transpose(0, 2, 3, 1) before the reshape; dbias is None without a bias"),
    "locally_connected2d_forward": Spec(_draw_layer("lc", False), _oracle_layer("lc", False), _speed_layer("lc", False),
                                        "check the einsum's output axes and which axis the bias lives on"),
    "locally_connected2d_backward": Spec(_draw_layer("lc", True), _oracle_layer("lc", True), _speed_layer("lc", True),
                                         "per position t: dW_t = dY_t^T X_t; the bias gradient sums over the batch only"),
    "combining_weights_forward": Spec(_draw_combining(False), _oracle_combining(False), _speed_combining(False),
                                      "normalise over K (axis -3), subtracting the largest logit before exp"),
    "combining_weights_backward": Spec(_draw_combining(True), _oracle_combining(True), _speed_combining(True),
                                       "the softmax backward is alpha * (dalpha - <dalpha, alpha>): keep the second term"),
    "lrlc2d_forward": Spec(_draw_lrlc(False), _oracle_lrlc(False), _speed_lrlc(False),
                           "sum over K (axis 1 of z), with alpha broadcast over C_out"),
    "lrlc2d_backward": Spec(_draw_lrlc(True), _oracle_lrlc(True), _speed_lrlc(True),
                            "a shared alpha's gradient is summed over the batch"),
    "batchnorm2d_backward": Spec(_draw_batchnorm, _oracle_batchnorm, _speed_batchnorm,
                                 "in training mode dx has three terms: dy, its mean, and xhat times the mean of dy * xhat",
                                 mutable=("running_mean", "running_var")),   # the forward pass updates them
    "softmax_cross_entropy_backward": Spec(_draw_softmax_cross_entropy, _oracle_softmax_cross_entropy,
                                           _speed_softmax_cross_entropy, "the loss is a mean: divide by N"),
    "bilinear_resize_backward": Spec(_draw_resize, _oracle_resize, _speed_resize,
                                     "y = R_h x R_w^T, so dx = R_h^T dy R_w"),
}


# --------------------------------------------------------------------------- verdicts

def _float_inputs(case):
    return {k: v for k, v in case.inputs.items() if v.dtype.kind == "f"}


def verify(exercise, case, results) -> list:
    """The problems of one case (empty: it passes).

    results  {"outputs": {name: array}, "none": [names], "after": {name: array}}, read from the
             graded process's output file
    """
    problems = []
    expected = SPECS[exercise].oracle(case)
    dtype = numpy.dtype(case.dtype)
    for name, oracles in expected.items():
        want_none = oracles[0][0] is None
        got = results["outputs"].get(name)
        if want_none:
            if got is not None:
                problems.append(f"{name} should be None (the forward pass had no bias), got an array")
            continue
        if got is None:
            problems.append(f"{name} is None" if name in results["none"] else f"{name} is missing")
            continue
        if got.shape != oracles[0][0].shape:
            problems.append(f"{name} has shape {tuple(got.shape)}, expected {tuple(oracles[0][0].shape)}")
            continue
        if got.dtype != dtype:
            problems.append(f"{name} is {got.dtype} for {case.dtype} inputs: make new arrays with the inputs' "
                            f"dtype (e.g. xp.zeros(..., dtype=x.dtype))")
            continue
        for value, oracle, tol in oracles:
            err = relative_error(got, value)
            if not err <= tol:
                problems.append(f"{name}: relative error {err:.2g} against {oracle} (tolerance {tol:g})")
                break
    unrecorded = [k for k in case.inputs if k not in results["after"]]
    if unrecorded:                                   # the runner records every input: a forged result
        problems.append(f"no record of the input{'s' if len(unrecorded) > 1 else ''} {', '.join(unrecorded)} "
                        "after the call (the result was not written by the grader's runner)")
    changed = [k for k, v in case.inputs.items() if k not in SPECS[exercise].mutable
               and k in results["after"] and not numpy.array_equal(results["after"][k], v)]
    if changed:
        problems.append(f"changed its input{'s' if len(changed) > 1 else ''} {', '.join(changed)} in place: "
                        "compute new arrays (a = a * b, not a *= b, on an input)")
    return problems
