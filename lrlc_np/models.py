"""The paper's "simple network", with any layer swapped for LC, LRLC or a wider convolution.

    input (N, 1, 28, 28)
    3 x [ layer 3x3, 64 filters, stride 1, valid  ->  BatchNorm  ->  ReLU ]   28 -> 26 -> 24 -> 22
    global average pooling -> dense -> class logits

Each layer is one of

    "conv"       Conv2D
    "lc"         LocallyConnected2D
    "lrlc"       LowRankLocallyConnected2D of the given rank, combining and normalisation
    "wide_conv"  a convolution widened to about the parameter count of the LRLC layer:
                 int((rank*C_in + C_out) / (C_in + C_out) * C_out) filters (the next layer's
                 input grows with it), or C_out*rank filters in the last position

Conv and LRLC layers drop their channel bias when BatchNorm follows (BatchNorm's shift
replaces it); LRLC keeps its spatial bias, which BatchNorm cannot replace. LC keeps its
bias. ``coord_conv=True`` first appends two coordinate channels (the CoordConv baseline).
``input_dependent=True`` makes every LRLC layer compute its combining weights from its input
with the paper's small combining network (``combining="full"``, one alpha map per example).
"""

from __future__ import annotations

import numpy

from . import backend
from . import layers as L
from .ops import _checks
from .ops.im2col import conv_output_size
from .options import LAYER_TYPES, check_input_dependent, resolve_combining
from .text import format_shape


def wide_conv_filters(in_channels, out_channels, rank, last):
    """Filters of a convolution with about as many parameters as an LRLC layer of ``rank``."""
    if last:
        return out_channels * rank
    # int((rank*C_in + C_out) / (C_in + C_out) * C_out), in integers so rounding cannot drop one
    return (rank * in_channels + out_channels) * out_channels // (in_channels + out_channels)


class Network(L.Sequential):
    """A Sequential that remembers its input shape and prints a summary."""

    def __init__(self, *layers, input_shape, config=None):
        super().__init__(*layers)
        self.input_shape = tuple(input_shape)
        self.config = dict(config or {})

    def summary(self) -> str:
        """A table of every layer's output shape and parameter count (also returned)."""
        xp = backend.get_array_module(next(iter(self.params.values())))
        dtype = next(iter(self.params.values())).dtype
        x = xp.zeros((1, *self.input_shape), dtype=dtype)
        rows = [("input", "", format_shape(x.shape, batch="N"), "")]
        for i, layer in enumerate(self.layers):
            x = layer.forward(x, training=False)    # evaluation mode: changes no statistics
            rows.append((str(i), type(layer).__name__, format_shape(x.shape, batch="N"),
                         f"{layer.num_parameters:,}" if layer.params else ""))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        header = ("#", "layer", "output shape", "params")
        widths = [max(w, len(h)) for w, h in zip(widths, header)]
        line = lambda r: f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>{widths[3]}}"
        out = [line(header), "-" * len(line(header))] + [line(r) for r in rows]
        out += ["-" * len(line(header)), f"total parameters: {self.num_parameters:,}"]
        text = "\n".join(out)
        print(text)
        return text


def _spatial_layer(kind, channels, filters, kernel_size, size, last, options, common):
    """One 3x3 layer of the network (see the module docstring) and its output channels."""
    bias = not options["batch_norm"]                 # BatchNorm's shift replaces a channel bias
    if kind == "conv":
        return L.Conv2D(channels, filters, kernel_size, bias=bias, **common), filters
    if kind == "wide_conv":
        out = wide_conv_filters(channels, filters, options["rank"], last)
        return L.Conv2D(channels, out, kernel_size, bias=bias, **common), out
    if kind == "lc":
        return L.LocallyConnected2D(channels, filters, kernel_size, size, init=options["lc_init"], **common), filters
    return L.LowRankLocallyConnected2D(
        channels, filters, kernel_size, size, options["rank"], combining=options["combining"],
        normalize=options["normalize"], bias=bias, spatial_bias=True, input_dependent=options["input_dependent"],
        **common), filters


def build_network(layer_types=("conv", "conv", "conv"), filters=64, kernel_size=3, rank=1,
                  combining=None, normalize="softmax", batch_norm=True, coord_conv=False,
                  input_shape=(1, 28, 28), num_classes=10, rng=None, dtype=numpy.float32,
                  input_dependent=False, lc_init="he"):
    """Build the paper's network; see the module docstring.

    layer_types      one entry per 3x3 layer: "conv", "lc", "lrlc" or "wide_conv"
    filters          output channels of every layer (C_out)
    rank             K of the LRLC layers, and the width target of "wide_conv"
    combining        how LRLC logits vary over positions (None: "row_col", or "full" with
                     input_dependent=True)
    input_dependent  True: every LRLC layer computes alpha (N, K, H_out, W_out) from its input
                     with a small network; needs an "lrlc" layer and combining "full" (or None)
    lc_init          how LC layers start: "he" or "keras" (``layers.LocallyConnected2D``)
    input_shape      (C, H, W) of one example
    rng              numpy.random.Generator for the initial weights (None: unseeded)
    -> Network (a Sequential); input (N, C, H, W) -> class logits (N, num_classes).
       ``network.config`` holds the resolved arguments: ``build_network(**network.config)``
       builds the same architecture.
    """
    owner = "build_network"
    if isinstance(layer_types, str):
        layer_types = tuple(t.strip() for t in layer_types.split(","))
    if not layer_types:
        raise ValueError(f"{owner}: expected at least one layer type, got {layer_types!r}")
    for t in layer_types:
        _checks.choice(t, LAYER_TYPES, "each layer type", owner)
    if not isinstance(input_dependent, bool):
        raise TypeError(f"{owner}: expected input_dependent as True or False, got {input_dependent!r}")
    check_input_dependent(layer_types, input_dependent, owner)
    combining = resolve_combining(combining, input_dependent, owner)
    filters = _checks.positive_int(filters, "filters", owner)
    kernel_size = _checks.positive_int(kernel_size, "kernel_size", owner)
    rank = _checks.positive_int(rank, "rank", owner)
    num_classes = _checks.positive_int(num_classes, "num_classes", owner)
    if len(input_shape) != 3:
        raise ValueError(f"{owner}: expected input_shape (C, H, W), got {input_shape!r}")
    rng = numpy.random.default_rng() if rng is None else rng
    channels, height, width = input_shape
    layers = []
    if coord_conv:
        layers.append(L.AddCoordinates())
        channels += 2
    common = dict(rng=rng, dtype=dtype)
    options = dict(rank=rank, combining=combining, normalize=normalize, batch_norm=batch_norm,
                   input_dependent=input_dependent, lc_init=lc_init)
    for position, kind in enumerate(layer_types):
        if min(height, width) < kernel_size:
            raise ValueError(f"{owner}: layer {position + 1} gets a {height}x{width} input, "
                             f"smaller than the {kernel_size}x{kernel_size} kernel")
        last = position == len(layer_types) - 1
        layer, out = _spatial_layer(kind, channels, filters, kernel_size, (height, width), last, options, common)
        layers.append(layer)
        if batch_norm:
            layers.append(L.BatchNorm2D(out, dtype=dtype))
        layers.append(L.ReLU())
        channels = out
        height = conv_output_size(height, kernel_size, 1, 0)
        width = conv_output_size(width, kernel_size, 1, 0)
    layers += [L.GlobalAvgPool2D(), L.Dense(channels, num_classes, **common)]
    config = dict(layer_types=list(layer_types), filters=filters, kernel_size=kernel_size, rank=rank,
                  combining=combining, normalize=normalize, batch_norm=batch_norm,
                  coord_conv=coord_conv, input_shape=list(input_shape), num_classes=num_classes,
                  input_dependent=input_dependent, lc_init=lc_init)
    return Network(*layers, input_shape=input_shape, config=config)
