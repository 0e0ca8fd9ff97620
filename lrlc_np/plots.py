"""Figures, saved as PNG files: training curves, first-layer filters, combining-weight maps
(fixed, or per example for input-dependent LRLC layers).

Matplotlib is imported inside each function with the non-interactive Agg backend, so
plotting works on machines without a display and ``import lrlc_np`` does not need it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy

from .backend import to_numpy


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path):
    """Write ``fig`` to the PNG file ``path`` (its folder made when missing), close it; -> the Path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    pyplot().close(fig)
    return path


_pyplot, _save = pyplot, save          # the names of earlier versions


def plot_training_curves(history, path, title="Training"):
    """Loss and accuracy per epoch from a list of metrics dicts (as in metrics.jsonl)."""
    plt = _pyplot()
    epochs = [m["epoch"] for m in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [m["train_loss"] for m in history], "o-", label="train")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Training loss")
    ax_loss.legend()
    for key, label in (("train_acc", "train"), ("val_acc", "validation"), ("test_acc", "test")):
        ax_acc.plot(epochs, [100 * m[key] for m in history], "o-", label=label)
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    ax_acc.legend()
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # epochs are whole numbers
    fig.suptitle(title)
    return _save(fig, path)


def plot_filters(weight, path, title="First-layer filters", max_filters=64):
    """Show the kernels of a (C_out, C_in, kh, kw) weight, one tile per output channel
    (the first input channel), on a shared symmetric colour scale."""
    plt = _pyplot()
    w = to_numpy(weight)
    if w.ndim != 4:
        raise ValueError(f"plot_filters: expected weight (C_out, C_in, kh, kw), got shape {w.shape}")
    w = w[:max_filters, 0]
    count = w.shape[0]
    cols = min(8, count)
    rows = math.ceil(count / cols)
    limit = float(numpy.abs(w).max()) or 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols + 1, 1.3 * rows + 0.6), squeeze=False)
    image = None
    for index, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if index < count:
            image = ax.imshow(w[index], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(str(index + 1), fontsize=7)        # numbered from 1, like the bases
        else:
            ax.axis("off")
    fig.colorbar(image, ax=axes, shrink=0.8, label="weight")
    fig.suptitle(title)
    return _save(fig, path)


def plot_digits(images, labels, path, title="Digits", cols=6):
    """uint8 images (N, H, W) in a grid, each titled with its label (None: untitled), with a frame
    that shows the image's border (a translated digit sits somewhere inside it)."""
    plt = _pyplot()
    images = numpy.asarray(to_numpy(images))
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"plot_digits: expected images (N, H, W) with N >= 1, got shape {images.shape}")
    count = len(images)
    cols = min(cols, count)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.7 * rows + 0.5), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if index < count:
            ax.imshow(images[index], cmap="gray", vmin=0, vmax=255)
            if labels is not None:
                ax.set_title(f"{int(labels[index])}", fontsize=9)
        else:
            ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_combining_weights(alpha, path, title="Combining weights"):
    """One map per basis: alpha[k] over output rows and columns, as in the paper's figures.

    alpha (K, H_out, W_out): bright where basis k is used.
    """
    plt = _pyplot()
    a = to_numpy(alpha)
    if a.ndim != 3:
        raise ValueError(f"plot_combining_weights: expected alpha (K, H_out, W_out), got shape {a.shape}")
    k = a.shape[0]
    fig, axes = plt.subplots(1, k, figsize=(2.6 * k + 1.2, 2.8), squeeze=False)
    low, high = float(a.min()), float(a.max())
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    image = None
    for index, ax in enumerate(axes.flat):
        image = ax.imshow(a[index], cmap="viridis", vmin=low, vmax=high)
        ax.set_title(f"basis {index + 1}")
        ax.set_xlabel("output column")
        if index == 0:
            ax.set_ylabel("output row")
    fig.colorbar(image, ax=axes, shrink=0.85, label="alpha")
    fig.suptitle(title)
    return _save(fig, path)


def layer_position(model, index):
    """The 1-based position of ``model.layers[index]`` among the 3x3 layers: "layer 3" of the
    network, as ``--layers`` and ``lrlc compare --position`` count (BatchNorm, ReLU ... skipped)."""
    return 1 + sum(1 for layer in model.layers[:index] if hasattr(layer, "kernel_size"))


def _input_dependent_layers(model):
    """Indices (into ``model.layers``) of the LRLC layers with input-dependent combining weights."""
    return [i for i, layer in enumerate(model.layers) if getattr(layer, "input_dependent", False)]


def one_per_class(labels, count):
    """Indices of the first example of each class 0, 1, ..., count - 1 that occurs in labels (N,)."""
    labels = numpy.asarray(labels)
    picked = []
    for c in range(int(count)):
        where = numpy.flatnonzero(labels == c)
        if where.size:
            picked.append(int(where[0]))
    return numpy.array(picked, dtype=numpy.int64)


def plot_input_dependent_alpha(model, images, labels, path, layer_index=None, max_examples=6):
    """Per-example combining weights of an input-dependent LRLC layer, one row per example.

    model        a Sequential (e.g. from ``build_network(..., input_dependent=True)``)
    images       model input (N, C, H, W), float, or uint8 pixels (N, H, W) (converted with
                 ``data.to_model_input``); the first ``max_examples`` are shown
    labels       (N,) class of each image, shown at the left of its row, or None
    layer_index  index into ``model.layers`` of the layer to show (None: the first
                 input-dependent LRLC layer)

    The network runs in evaluation mode (``training=False``, no statistics change) up to the
    layer, whose input h gives alpha = layer.combining_weights(h), (N, K, H_out, W_out). Each
    row shows the image, then the K maps alpha[n, k], all on one colour scale (the range of
    the values shown), so the same colour means the same weight everywhere.
    """
    from . import backend
    from .data import to_model_input

    owner = "plot_input_dependent_alpha"
    candidates = _input_dependent_layers(model)
    if not candidates:
        raise ValueError(f"{owner}: the model has no LRLC layer with input-dependent combining weights "
                         f"(build it with input_dependent=True)")
    if layer_index is None:
        layer_index = candidates[0]
    elif layer_index not in candidates:
        raise ValueError(f"{owner}: expected layer_index in {candidates} (the input-dependent LRLC "
                         f"layers), got {layer_index!r}")
    if isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 1:
        raise ValueError(f"{owner}: expected max_examples as an int >= 1, got {max_examples!r}")
    x = numpy.asarray(to_numpy(images))
    if x.dtype == numpy.uint8:
        x = to_model_input(x)
    shape = tuple(getattr(model, "input_shape", ()))       # (C, H, W) of a Network
    want = "(N, " + ", ".join(map(str, shape or ("C", "H", "W"))) + ")"
    if x.ndim != 4 or len(x) == 0 or (shape and x.shape[1:] != shape):
        raise ValueError(f"{owner}: expected images {want} with N >= 1, got shape {x.shape}")
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"{owner}: {len(x)} images but {len(labels)} labels")
    x = x[:max_examples]
    dtype = next(iter(model.params.values())).dtype
    h = backend.to_device(x.astype(dtype, copy=False))
    for layer in model.layers[:layer_index]:
        h = layer.forward(h, training=False)
    layer = model.layers[layer_index]
    alpha = to_numpy(layer.combining_weights(h))          # (N, K, H_out, W_out)

    plt = _pyplot()
    n, k = alpha.shape[:2]
    low, high = float(alpha.min()), float(alpha.max())     # one scale for every map, so they compare
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    height = 1.7 * n + 0.9
    fig, axes = plt.subplots(n, k + 1, figsize=(1.7 * (k + 1) + 1.2, height), squeeze=False)
    fig.subplots_adjust(top=1 - 0.75 / height)       # the title's room, not a fixed fraction
    image = None
    for row in range(n):
        ax = axes[row, 0]
        ax.imshow(x[row, 0], cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        if labels is not None:
            ax.set_ylabel(f"class {int(labels[row])}")
        for col in range(k):
            ax = axes[row, col + 1]
            image = ax.imshow(alpha[row, col], cmap="viridis", vmin=low, vmax=high)
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("input")
    for col in range(k):
        axes[0, col + 1].set_title(f"basis {col + 1}")
    fig.colorbar(image, ax=axes, shrink=0.8, label="alpha")
    fig.suptitle(f"Input-dependent combining weights of layer {layer_position(model, layer_index)} "
                 f"(K={layer.rank}, {layer.normalize})")
    return _save(fig, path)


def plot_run(model, history, out_dir, examples=None):
    """All figures of a finished run, saved into ``out_dir``; returns the paths written.

    examples  (images uint8 (N, 28, 28), labels (N,)), e.g. the test set: for a model with
              input-dependent LRLC layers, one image of each of the first six classes goes
              into alpha_per_digit.png (the first such layer; later ones get
              alpha_per_digit_layer<position>.png). Without examples those figures are skipped.
    Layers are named by their position among the 3x3 layers (``layer_position``), the number
    ``--layers`` and ``--position`` use: combining_weights_layer3.png is the third layer's.
    """
    from .layers import Conv2D, LowRankLocallyConnected2D

    out = Path(out_dir)
    paths = [plot_training_curves(history, out / "curves.png")] if history else []
    spatial = [layer for layer in model.layers if hasattr(layer, "kernel_size")]
    if spatial and isinstance(spatial[0], Conv2D):
        paths.append(plot_filters(spatial[0].params["weight"], out / "filters_layer1.png",
                                  title="First-layer filters (first input channel)"))
    for i, layer in enumerate(model.layers):
        if isinstance(layer, LowRankLocallyConnected2D) and not layer.input_dependent:
            paths.append(plot_combining_weights(
                layer.combining_weights(), out / f"combining_weights_layer{layer_position(model, i)}.png",
                title=f"Combining weights of layer {layer_position(model, i)} "
                      f"(K={layer.rank}, {layer.combining}, {layer.normalize})"))
    if examples is not None:
        images, labels = examples
        chosen = one_per_class(labels, 6)
        if len(chosen) == 0:                  # none of the classes 0..5: take the first images
            chosen = numpy.arange(min(6, len(labels)))
        for number, i in enumerate(_input_dependent_layers(model)):
            name = "alpha_per_digit.png" if number == 0 else f"alpha_per_digit_layer{layer_position(model, i)}.png"
            paths.append(plot_input_dependent_alpha(model, images[chosen], numpy.asarray(labels)[chosen],
                                                    out / name, layer_index=i))
    return paths
