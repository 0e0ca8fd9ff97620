"""Figures, saved as PNG files: training curves, first-layer filters, combining-weight maps.

Matplotlib is imported inside each function with the non-interactive Agg backend, so
plotting works on machines without a display and ``import lrlc_np`` does not need it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy

from .backend import to_numpy


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


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
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
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
            ax.set_title(str(index), fontsize=7)
        else:
            ax.axis("off")
    fig.colorbar(image, ax=axes, shrink=0.8, label="weight")
    fig.suptitle(title)
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


def plot_run(model, history, out_dir):
    """All figures of a finished run, saved into ``out_dir``; returns the paths written."""
    from .layers import Conv2D, LowRankLocallyConnected2D

    out = Path(out_dir)
    paths = [plot_training_curves(history, out / "curves.png")] if history else []
    spatial = [layer for layer in model.layers if hasattr(layer, "kernel_size")]
    if spatial and isinstance(spatial[0], Conv2D):
        paths.append(plot_filters(spatial[0].params["weight"], out / "filters_layer1.png",
                                  title="First-layer filters (first input channel)"))
    for i, layer in enumerate(model.layers):
        if isinstance(layer, LowRankLocallyConnected2D):
            paths.append(plot_combining_weights(
                layer.combining_weights(), out / f"combining_weights_{i}.png",
                title=f"Combining weights of layer {i} (K={layer.rank}, {layer.combining}, {layer.normalize})"))
    return paths
