"""The layer base class and the helpers every layer uses.

Every layer has

    params           dict name -> array, the learnable parameters
    grads            dict with the same keys, replaced by ``backward`` with the gradients of
                     the last forward pass (one convention for every layer)
    buffers          dict of non-learned state (BatchNorm's running statistics), often empty
    forward(x, training=True) -> y          also ``layer(x)``
    backward(dy) -> dx                      calling it twice gives the same result
    zero_grad()                             sets every gradient to zero
    num_parameters                          total number of learnable numbers

A layer keeps the cache of its last forward pass, so ``backward`` belongs to the most
recent ``forward``, and it runs the backward function of the tier (``lrlc_np.tiers``) that
ran that forward pass. The optimiser lives elsewhere (``lrlc_np.optim``); layers never
update their own parameters.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping

import numpy

from .. import backend, tiers
from ..ops import _checks
from ..ops.im2col import output_hw, same_padding
from ..text import format_shape

#: the dtypes layers are built with: float32 to train, float64 for gradient checks
SUPPORTED_DTYPES = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))


def _float_dtype(dtype, owner):
    try:
        dt = numpy.dtype(dtype)
    except TypeError:
        raise TypeError(f"{owner}: expected dtype float32 or float64, got {dtype!r}") from None
    if dt not in (numpy.float32, numpy.float64):
        raise TypeError(f"{owner}: expected dtype float32 or float64, got {dt}")
    return dt


def _he_uniform(rng, shape, fan_in, dtype):
    """U(-b, b) with b = sqrt(6 / fan_in): keeps the variance of ReLU activations steady."""
    bound = math.sqrt(6.0 / fan_in)
    return backend.to_device(rng.uniform(-bound, bound, size=shape).astype(dtype))


def _zeros(shape, dtype):
    return backend.xp.zeros(shape, dtype=dtype)


def _fmt_pair(p):
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"


class Layer:
    """Base class: parameter bookkeeping, input checks and a readable ``repr``."""

    #: parameters that weight decay applies to (the weights; not biases, BatchNorm or logits)
    decayed: tuple = ()

    def __init__(self):
        self.params: dict = {}
        self.grads: dict = {}
        self.buffers: dict = {}
        self._cache = None
        self._ops = None          # the tier module that ran the last forward pass

    # subclasses implement forward / backward
    def forward(self, x, training=True):  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, dy):  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, x, training=True):
        return self.forward(x, training=training)

    def zero_grad(self):
        """Set every gradient to zero."""
        for name, p in self.params.items():
            self.grads[name] = backend.get_array_module(p).zeros_like(p)

    @property
    def cache(self):
        """The cache of the last forward pass (what ``backward`` uses), or None before one."""
        return self._cache

    def ran(self, cache, ops):
        """Take the cache of a forward pass that an op outside ``forward`` made for this layer
        (a fused op of the tier module ``ops``), so that ``backward`` follows it as usual."""
        self._cache, self._ops = cache, ops

    def fused_with(self, following):
        """A unit that runs this layer and ``following`` as one op of the active tier, or None
        (the default: every layer runs on its own). ``Sequential`` asks every pair."""
        return None

    def _add_param(self, name, value):
        self.params[name] = value
        self.grads[name] = backend.get_array_module(value).zeros_like(value)

    @property
    def num_parameters(self) -> int:
        """Total number of learnable numbers."""
        return int(sum(p.size for p in self.params.values()))

    def _forward_ops(self):
        """The active tier's module (``lrlc_np.tiers``), remembered for the backward pass."""
        self._ops = tiers.active()
        return self._ops

    def _need_cache(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}: backward called before forward")
        return self._cache

    def _backward_ops(self):
        """The tier module of the last forward pass, whose backward functions fit its cache."""
        self._need_cache()
        return self._ops

    def _run(self, op, *args, **kwargs):
        """Run the active tier's op named ``op`` and keep its cache for ``backward``; -> its output."""
        y, self._cache = getattr(self._forward_ops(), op)(*args, **kwargs)
        return y

    def _run_backward(self, op, dy):
        """Check dy and run the op named ``op`` of the last forward pass's tier on it and the
        cache. An op that returns (dx, dweight, dbias) replaces the "weight" and "bias"
        gradients. -> dx"""
        self._check_dy(dy)
        result = getattr(self._backward_ops(), op)(dy, self._cache)
        if not isinstance(result, tuple):
            return result
        dx, dweight, dbias = result
        self._set_grads(weight=dweight, bias=dbias)
        return dx

    def _set_grads(self, **grads):
        """Replace the named gradients; a None gradient (a missing bias) is skipped."""
        for name, value in grads.items():
            if value is not None:
                self.grads[name] = value

    def _check_input(self, x, layout, channels=None, spatial=None):
        """Check x's kind, dtype, dimensions, channels (axis 1) and spatial size (axes 2, 3).

        ``layout`` names the axes, e.g. "(N, C, H, W)"; known sizes replace the letters in
        the message: ``Conv2D: expected input (N, 3, H, W), got shape (8, 1, 28, 28)``.
        """
        owner = type(self).__name__
        _checks.float_array(x, "input", owner)
        axes = layout.strip("()").replace(" ", "").split(",")
        dims = len(axes)
        if channels is not None:
            axes[1] = str(channels)
        if spatial is not None:
            axes[2:4] = [str(spatial[0]), str(spatial[1])]
        expect = "(" + ", ".join(axes) + ")"
        if x.ndim != dims:
            raise ValueError(f"{owner}: expected input {expect}, got shape {tuple(x.shape)}")
        if channels is not None and x.shape[1] != channels:
            raise ValueError(f"{owner}: expected input {expect}, got shape {tuple(x.shape)}")
        if spatial is not None and tuple(x.shape[2:]) != tuple(spatial):
            raise ValueError(
                f"{owner}: expected input {expect} (this layer's weights are tied to "
                f"{spatial[0]}x{spatial[1]} inputs), got shape {tuple(x.shape)}"
            )
        if x.shape[0] == 0:
            raise ValueError(f"{owner}: expected a batch of at least one example, got shape {tuple(x.shape)}")
        dtype = getattr(self, "dtype", None)
        if dtype is not None and x.dtype != dtype:
            other = (f" or build the layer with dtype={x.dtype.name!r}" if x.dtype in SUPPORTED_DTYPES
                     else " (layers support float32 and float64 only)")
            raise TypeError(f"{owner}: expected {dtype} input (the layer's dtype), got {x.dtype}; "
                            f"convert with x.astype({dtype.name!r}){other}")

    def _check_dy(self, dy):
        """Check the upstream gradient: a float array of the layer's dtype (its output's)."""
        owner = f"{type(self).__name__}.backward"
        _checks.float_array(dy, "dy", owner)
        dtype = getattr(self, "dtype", None)
        if dtype is not None and dy.dtype != dtype:
            raise TypeError(f"{owner}: expected dy of dtype {dtype} (the layer's dtype, that of its output), "
                            f"got {dy.dtype}; convert with dy.astype({dtype.name!r})")
        return dy

    def _describe(self) -> str:
        """Hyper-parameters for ``repr``; subclasses override."""
        return ""

    def __repr__(self):
        inner = self._describe()
        if self.params:
            shapes = ", ".join(f"{k} {format_shape(v.shape)}" for k, v in self.params.items())
            counted = f"{shapes}; {self.num_parameters:,} params"
            inner = f"{inner}; {counted}" if inner else counted
        return f"{type(self).__name__}({inner})"



class PrefixedDict(MutableMapping):
    """A live view of the entries of ``parent`` whose names start with ``prefix``, without it.

    A sub-layer (the input-dependent combining network) keeps its parameters in its owner's
    dicts this way: ``owner.params["combiner.out.weight"]`` is ``combiner.params["out.weight"]``,
    the same entry, so replacing or updating either is seen by both.
    """

    def __init__(self, parent: dict, prefix: str):
        self._parent, self._prefix = parent, prefix

    def __getitem__(self, name):
        return self._parent[self._prefix + name]

    def __setitem__(self, name, value):
        self._parent[self._prefix + name] = value

    def __delitem__(self, name):
        del self._parent[self._prefix + name]

    def __iter__(self):
        return (k[len(self._prefix):] for k in list(self._parent) if k.startswith(self._prefix))

    def __len__(self):
        return sum(1 for _ in self)


class _SpatialLayer(Layer):
    """Shared set-up of Conv2D, LocallyConnected2D and LowRankLocallyConnected2D."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, rng, dtype):
        super().__init__()
        owner = type(self).__name__
        self.in_channels = _checks.positive_int(in_channels, "in_channels", owner)
        self.out_channels = _checks.positive_int(out_channels, "out_channels", owner)
        self.kernel_size = _checks.pair(kernel_size, "kernel_size", owner)
        self.stride = _checks.pair(stride, "stride", owner)
        self.dilation = (1, 1)
        if isinstance(padding, str):
            padding = self._same_padding(padding, self.kernel_size, 1)
        self.padding = _checks.pair(padding, "padding", owner, minimum=0)
        self.dtype = _float_dtype(dtype, owner)
        self.rng = numpy.random.default_rng() if rng is None else rng
        if not isinstance(self.rng, numpy.random.Generator):
            raise TypeError(f"{owner}: expected rng as a numpy.random.Generator or None, "
                            f"got {type(rng).__name__}")
        self.fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    def _same_padding(self, padding, kernel_size, dilation):
        """padding="same": the (ph, pw) that keeps the input's size, which needs stride 1 and a
        padding that splits evenly, d*(k - 1)/2 on each side (odd kernels)."""
        owner = type(self).__name__
        if padding != "same":
            raise ValueError(f"{owner}: expected padding as an int, a pair or 'same', got {padding!r}")
        if self.stride != (1, 1):
            raise ValueError(f"{owner}: padding='same' keeps the input's size, which needs stride 1, got "
                             f"stride {self.stride}")
        return same_padding(kernel_size, dilation, owner)

    def _bind_input_size(self, input_size):
        """Fix the input size (LC and LRLC weights belong to positions) and compute H_out, W_out."""
        owner = type(self).__name__
        self.input_size = _checks.pair(input_size, "input_size", owner)
        self.output_size = output_hw(*self.input_size, self.kernel_size, self.stride, self.padding, owner,
                                     self.dilation)
        if min(self.output_size) < 1:  # pragma: no cover - output_hw already rejects this
            raise ValueError(f"{owner}: no output positions for input_size {self.input_size}")

    def _describe(self):
        text = (f"{self.in_channels} -> {self.out_channels}, kernel {_fmt_pair(self.kernel_size)}, "
                f"stride {_fmt_pair(self.stride)}, padding {_fmt_pair(self.padding)}")
        if hasattr(self, "input_size"):
            (h, w), (ho, wo) = self.input_size, self.output_size
            text += f", input {h}x{w} -> output {ho}x{wo}"
        return text


