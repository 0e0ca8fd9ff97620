"""The graded process: call one exercise's function on the grader's inputs and hand back arrays.

The grader copies this file into a temporary folder and runs it, sandboxed, as

    python -I -S -B runner.py PACKAGE_DIR NUMPY_DIR EXERCISE INPUTS OUTPUTS SPEED_DIR MESSAGE_FD

It imports nothing from the grader. ``PACKAGE_DIR`` holds a fresh ``lrlc_np`` made of the
student's files and the grader's own package; ``NUMPY_DIR`` is where NumPy is installed.
``INPUTS`` (.npz, no pickles) holds the cases as arrays named ``c<i>/<name>``; this process
writes the function's results into ``OUTPUTS`` (a file the grader created), as arrays named
the same way, plus ``c<i>/after/<name>`` (the inputs after the call, to see whether they were
changed in place), ``c<i>/!error`` (an exception's type and first line) and ``c<i>/!none``
(results that were None). It decides nothing: the grader compares the arrays.

Then the speed check: it writes "R" on MESSAGE_FD and waits for a line "G" on its standard
input; the grader has put ``SPEED_DIR/speed<r>.npz`` in place by then. It computes that
case, writes ``speed<r>.out.npz`` and says "D". The grader times "G" to "D" and stops the
process at "D". End of input ends the process.

Everything this process says can be forged by the code it imports; that is why it only
carries arrays, and why the grader checks every one of them itself.
"""

import sys


def _pair(a):
    return tuple(int(v) for v in a)


def _text(a):
    return str(a[()])


def _geometry(c):
    return _pair(c["kernel"]), _pair(c["stride"]), _pair(c["padding"])


def _layer(ops, c, forward, backward=None):
    """A layer's forward pass (and backward, given dy) on case ``c``."""
    _, stride, padding = _geometry(c)
    y, cache = forward(c["x"], c["weight"], c.get("bias"), stride, padding)
    if backward is None:
        return {"y": y}
    dx, dweight, dbias = backward(c["dy"], cache)
    return {"dx": dx, "dweight": dweight, "dbias": dbias}


def _lrlc(ops, c, backward):
    _, stride, padding = _geometry(c)
    y, cache = ops.lrlc2d_forward(c["x"], c["bases"], c["alpha"], stride, padding, _text(c["method"]))
    if not backward:
        return {"y": y}
    dx, dbases, dalpha = ops.lrlc2d_backward(c["dy"], cache)
    return {"dx": dx, "dbases": dbases, "dalpha": dalpha}


def _combining(ops, c, backward):
    alpha, cache = ops.combining_weights_forward(c["logits"], _text(c["normalize"]))
    if not backward:
        return {"alpha": alpha}
    return {"dlogits": ops.combining_weights_backward(c["dalpha"], cache)}


def _batchnorm(ops, c):
    _, cache = ops.batchnorm2d_forward(c["x"], c["weight"], c["bias"], c["running_mean"], c["running_var"],
                                       training=bool(c["training"][()]))
    dx, dweight, dbias = ops.batchnorm2d_backward(c["dy"], cache)
    return {"dx": dx, "dweight": dweight, "dbias": dbias}


def _softmax_cross_entropy(ops, c):
    _, cache = ops.softmax_cross_entropy_forward(c["logits"], c["labels"])
    return {"dlogits": ops.softmax_cross_entropy_backward(c["dloss"], cache)}


def _resize(ops, c):
    _, cache = ops.bilinear_resize_forward(c["x"], _pair(c["size"]))
    return {"dx": ops.bilinear_resize_backward(c["dy"], cache)}


PROGRAMS = {
    "im2col": lambda ops, c: {"cols": ops.im2col(c["x"], *_geometry(c))},
    "col2im": lambda ops, c: {"dx": ops.col2im(c["cols"], _pair(c["x_shape"]), *_geometry(c))},
    "conv2d_forward": lambda ops, c: _layer(ops, c, ops.conv2d_forward),
    "conv2d_backward": lambda ops, c: _layer(ops, c, ops.conv2d_forward, ops.conv2d_backward),
    "locally_connected2d_forward": lambda ops, c: _layer(ops, c, ops.locally_connected2d_forward),
    "locally_connected2d_backward": lambda ops, c: _layer(ops, c, ops.locally_connected2d_forward,
                                                          ops.locally_connected2d_backward),
    "combining_weights_forward": lambda ops, c: _combining(ops, c, False),
    "combining_weights_backward": lambda ops, c: _combining(ops, c, True),
    "lrlc2d_forward": lambda ops, c: _lrlc(ops, c, False),
    "lrlc2d_backward": lambda ops, c: _lrlc(ops, c, True),
    "batchnorm2d_backward": _batchnorm,
    "softmax_cross_entropy_backward": _softmax_cross_entropy,
    "bilinear_resize_backward": _resize,
}


def _first_line(err):
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}"[:300]


def _cases(arrays):
    """{index: {name: array}} from the flat ``c<i>/<name>`` keys."""
    cases = {}
    for key in arrays.files:
        head, name = key.split("/", 1)
        cases.setdefault(int(head[1:]), {})[name] = arrays[key]
    return cases


def _run(numpy, ops, program, case, prefix, out, keep_inputs=True):
    """Run one case; put its results, any error and (``keep_inputs``) its inputs after the call
    into ``out``."""
    try:
        results = program(ops, case)
        nones = []
        for name, value in results.items():
            if value is None:
                nones.append(name)
            else:
                value = numpy.asarray(value)
                if value.dtype.hasobject:
                    raise TypeError(f"{name} is not an array of numbers")
                out[f"{prefix}{name}"] = value
        if nones:
            out[f"{prefix}!none"] = numpy.array(nones)
    except BaseException as err:                     # SystemExit and KeyboardInterrupt too
        out[f"{prefix}!error"] = numpy.array(_first_line(err))
    if keep_inputs:
        for name, value in case.items():
            out[f"{prefix}after/{name}"] = numpy.asarray(value)


def main(argv):
    package_dir, numpy_dir, exercise, inputs, outputs, speed_dir, message_fd = argv
    sys.path[:0] = [package_dir, numpy_dir]
    import os

    import numpy

    messages = os.fdopen(int(message_fd), "w", buffering=1)
    out = {}
    try:
        import lrlc_np.ops as ops
    except BaseException as err:
        out["!import"] = numpy.array(_first_line(err))
        ops = None
    with numpy.load(inputs, allow_pickle=False) as data:
        cases = _cases(data)
    if ops is not None:
        for index in sorted(cases):
            _run(numpy, ops, PROGRAMS[exercise], cases[index], f"c{index}/", out)
    with open(outputs, "r+b") as f:
        f.truncate()
        numpy.savez(f, **out)
    if ops is None:
        return
    messages.write("R\n")
    for rep, line in enumerate(sys.stdin):
        if line.strip() != "G":
            break
        with numpy.load(os.path.join(speed_dir, f"speed{rep}.npz"), allow_pickle=False) as data:
            case = _cases(data)[0]
        result = {}
        _run(numpy, ops, PROGRAMS[exercise], case, "", result, keep_inputs=False)
        with open(os.path.join(speed_dir, f"speed{rep}.out.npz"), "wb") as f:
            numpy.savez(f, **result)
        messages.write("D\n")


if __name__ == "__main__":
    main(sys.argv[1:])
