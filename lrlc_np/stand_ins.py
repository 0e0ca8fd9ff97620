"""Stand-ins for the exercises a student has not written yet, so that a copy's tutorials still run.

In a student copy (``lrlc course make-student``) every exercise of the handout raises
``NotImplementedError("exercise <name>: <hint>")`` until the student writes it. A tutorial
that reads like a lecture should not stop there, so it starts with::

    from lrlc_np import stand_ins
    stand_ins.for_unwritten_exercises()

In this package, where every exercise is written, that does nothing. In a copy it puts, for
each exercise still unwritten, a stand-in in its place and prints one note naming the
exercise to write. A stand-in is the exercise's definition, slow on purpose: the loops of
``lrlc_np.reference`` (or loops written out here) for a forward pass and for conv, LC, LRLC
and the combining weights' backward passes, and centred finite differences for the others.
A forward pass and its backward pass are stood in for together (the backward pass needs the
inputs, which the loop versions keep in a ``StandInCache``).

Tutorials that train a network need the vectorised code, not loops, so they start with
``stand_ins.require_written("05")``, which stops the tutorial with one line naming what to
write first. The grader never uses stand-ins (this module is not in the package a graded
process imports).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import NamedTuple

import numpy

#: the functions of lrlc_np.ops that are exercises, grouped so that a pair is replaced together
PAIRS = (
    ("im2col",), ("col2im",),
    ("conv2d_forward", "conv2d_backward"),
    ("locally_connected2d_forward", "locally_connected2d_backward"),
    ("combining_weights_forward", "combining_weights_backward"),
    ("lrlc2d_forward", "lrlc2d_backward"),
    ("batchnorm2d_backward",), ("softmax_cross_entropy_backward",), ("bilinear_resize_backward",),
)

_originals: dict = {}        # name -> the student's function, once replaced
_noted: set = set()


class StandInCache(NamedTuple):
    """The cache of a stood-in forward pass: its inputs, for the loop backward pass."""

    op: str
    args: tuple
    x_shape: tuple
    method: str = "conv"     # what LowRankLocallyConnected2D.method reports


# --------------------------------------------------------------------------- the stand-ins

def _im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    from .ops._checks import pair

    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (pair(kernel_size, "kernel_size", "im2col"), pair(stride, "stride", "im2col"),
                                              pair(padding, "padding", "im2col", minimum=0),
                                              pair(dilation, "dilation", "im2col"))
    n, c, h, w = x.shape
    h_out = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xpad = numpy.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = numpy.zeros((n * h_out * w_out, c * kh * kw), dtype=x.dtype)
    for b in range(n):
        for i in range(h_out):
            for j in range(w_out):
                patch = xpad[b, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh, j * sw : j * sw + dw * (kw - 1) + 1 : dw]
                cols[(b * h_out + i) * w_out + j] = patch.ravel()
    return cols


def _col2im(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1):
    from .ops._checks import pair

    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (pair(kernel_size, "kernel_size", "col2im"), pair(stride, "stride", "col2im"),
                                              pair(padding, "padding", "col2im", minimum=0),
                                              pair(dilation, "dilation", "col2im"))
    n, c, h, w = x_shape
    h_out = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    dxpad = numpy.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for b in range(n):
        for i in range(h_out):
            for j in range(w_out):
                row = cols[(b * h_out + i) * w_out + j].reshape(c, kh, kw)
                dxpad[b, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh, j * sw : j * sw + dw * (kw - 1) + 1 : dw] += row
    return dxpad[:, :, ph : ph + h, pw : pw + w]


def _forward(op, loops):
    def forward(x, weight, bias=None, stride=1, padding=0):
        return loops(x, weight, bias, stride, padding), StandInCache(op, (x, weight, bias, stride, padding), x.shape)
    return forward


def _backward(loops):
    def backward(dy, cache):
        return loops(dy, *cache.args)
    return backward


def _lrlc_forward(x, bases, alpha, stride=1, padding=0, method="auto"):
    from . import reference

    return reference.lrlc2d(x, bases, alpha, stride, padding), StandInCache("lrlc2d", (x, bases, alpha, stride, padding),
                                                                             x.shape)


def _lrlc_backward(dy, cache):
    from . import reference

    return reference.lrlc2d_backward(dy, *cache.args)


def _combining_forward(logits, normalize="softmax"):
    from . import reference

    return reference.combining_weights(logits, normalize), StandInCache("combining", (logits, normalize), logits.shape)


def _combining_backward(dalpha, cache):
    from . import reference

    return reference.combining_weights_backward(dalpha, *cache.args)


def _numerical(f, x, dy, dtype):
    """Centred differences of sum(f(x) * dy) in float64, handed back in ``dtype``."""
    from .gradcheck import numerical_gradient

    dy = None if dy is None else numpy.asarray(dy, dtype=numpy.float64)
    return numerical_gradient(f, numpy.array(x, dtype=numpy.float64), dy).astype(dtype)


def _batchnorm_backward(dy, cache):
    """Finite differences of batch norm. The cache holds xhat = (x - mean) * inv_std, so
    x - mean = xhat / inv_std, which gives the same output and gradient (batch norm ignores a
    shift of its input in training mode, and is affine in evaluation mode)."""
    xhat, inv_std, weight, training = cache
    shape = (1, -1, 1, 1)
    x = (xhat / inv_std.reshape(shape)).astype(numpy.float64)
    eps = 1 / inv_std.astype(numpy.float64) ** 2 - x.var(axis=(0, 2, 3))       # inv_std = 1 / sqrt(var + eps)

    def forward(v, w=numpy.asarray(weight, numpy.float64), b=numpy.zeros(len(weight))):
        if training:
            mean, var = v.mean(axis=(0, 2, 3)), v.var(axis=(0, 2, 3))
            v_hat = (v - mean.reshape(shape)) / numpy.sqrt(var + eps).reshape(shape)
        else:
            v_hat = v * inv_std.reshape(shape)
        return w.reshape(shape) * v_hat + b.reshape(shape)

    dx = _numerical(forward, x, dy, dy.dtype)
    dweight = _numerical(lambda w: forward(x, w=w), weight, dy, dy.dtype)
    dbias = _numerical(lambda b: forward(x, b=b), numpy.zeros(len(weight)), dy, dy.dtype)
    return dx, dweight, dbias


def _softmax_cross_entropy_backward(dloss, cache):
    """Finite differences of the mean loss at the log-probabilities (softmax ignores a shift
    of each row, so they give the same loss and gradient as the logits)."""
    from .ops.losses import softmax_cross_entropy_forward

    log_probs, labels = cache[0], cache[1]
    grad = _numerical(lambda v: softmax_cross_entropy_forward(v, labels)[0], log_probs, None, log_probs.dtype)
    return grad * numpy.asarray(dloss, dtype=log_probs.dtype)


def _bilinear_resize_backward(dy, cache):
    """Finite differences of the resize's loop definition (it is linear: exact up to rounding)."""
    from . import reference

    r_h, r_w, x_shape = cache[0], cache[1], cache[2]
    size = (r_h.shape[0], r_w.shape[0])
    return _numerical(lambda v: reference.bilinear_resize(v, size), numpy.zeros(x_shape), dy, dy.dtype)


def _stand_ins():
    from . import reference

    return {
        "im2col": (_im2col, "loops over every patch"),
        "col2im": (_col2im, "loops over every patch"),
        "conv2d_forward": (_forward("conv2d", reference.conv2d), "reference.conv2d"),
        "conv2d_backward": (_backward(reference.conv2d_backward), "reference.conv2d_backward"),
        "locally_connected2d_forward": (_forward("locally_connected2d", reference.locally_connected2d),
                                        "reference.locally_connected2d"),
        "locally_connected2d_backward": (_backward(reference.locally_connected2d_backward),
                                         "reference.locally_connected2d_backward"),
        "combining_weights_forward": (_combining_forward, "reference.combining_weights"),
        "combining_weights_backward": (_combining_backward, "reference.combining_weights_backward"),
        "lrlc2d_forward": (_lrlc_forward, "reference.lrlc2d"),
        "lrlc2d_backward": (_lrlc_backward, "reference.lrlc2d_backward"),
        "batchnorm2d_backward": (_batchnorm_backward, "finite differences"),
        "softmax_cross_entropy_backward": (_softmax_cross_entropy_backward, "finite differences"),
        "bilinear_resize_backward": (_bilinear_resize_backward, "finite differences of reference.bilinear_resize"),
    }


# --------------------------------------------------------------------------- finding and replacing

def _is_unwritten(name, function) -> bool:
    """True if ``function`` is still the copy's ``raise NotImplementedError("exercise <name>: ...")``."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return "NotImplementedError(" in source and (f"'exercise {name}:" in source or f'"exercise {name}:' in source)


def unwritten() -> list:
    """The exercises of ``lrlc_np.ops`` still unwritten (none in this package)."""
    ops = importlib.import_module("lrlc_np.ops")
    return [name for group in PAIRS for name in group
            if _is_unwritten(name, _originals.get(name, getattr(ops, name, None)))]


def _file_of(name):
    ops = importlib.import_module("lrlc_np.ops")
    function = _originals.get(name, getattr(ops, name))
    return f"lrlc_np/ops/{function.__module__.rsplit('.', 1)[-1]}.py"


def _replace(name, stand_in):
    """Put ``stand_in`` in place of ``lrlc_np.ops.<name>`` wherever a module of lrlc_np holds it."""
    ops = importlib.import_module("lrlc_np.ops")
    original = _originals.setdefault(name, getattr(ops, name))
    for module_name, module in list(sys.modules.items()):
        if (module_name == "lrlc_np" or module_name.startswith("lrlc_np.")) and module is not None:
            if getattr(module, name, None) is original:
                setattr(module, name, stand_in)


def for_unwritten_exercises(log=print) -> list:
    """Put stand-ins in place of the unwritten exercises (and their forward or backward
    partner); print a note per exercise; -> the names replaced ([] where all are written)."""
    missing = set(unwritten())
    if not missing:
        return []
    stand_ins = _stand_ins()
    replaced = []
    for group in PAIRS:
        if missing.intersection(group):
            for name in group:
                _replace(name, stand_ins[name][0])
                replaced.append(name)
    for name in replaced:
        if name not in _noted:
            _noted.add(name)
            why = "is not written yet" if name in missing else f"goes with {', '.join(sorted(missing & set(_group(name))))}"
            log(f"note: exercise {name} {why} ({_file_of(name)}): this tutorial uses "
                f"{stand_ins[name][1]} in its place, which is slow")
    return replaced


def _group(name):
    return next(group for group in PAIRS if name in group)


def require_written(tutorial: str) -> None:
    """Stop ``tutorial`` with one clear line when an exercise is not written yet (a tutorial
    that trains a network needs them all, vectorised)."""
    missing = unwritten()
    if missing:
        files = sorted({_file_of(name) for name in missing})
        raise SystemExit(f"Tutorial {tutorial} trains a network on your own ops and needs every exercise written; "
                         f"still to write: {', '.join(missing)} (in {', '.join(files)}). Write them, check them "
                         f"with pytest, then run this tutorial again.")
