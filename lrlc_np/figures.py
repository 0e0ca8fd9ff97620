"""Teaching figures for the tutorials: drawn with matplotlib, saved as PNG, shown inline in notebooks.

    fig = figures.figure(6, 3)              # a matplotlib Figure (no pyplot, no window, no global state)
    ax = fig.subplots()
    ...
    figures.show(fig, "tutorial02_eps_sweep")

``show`` saves the figure as ``<name>.png`` in the tutorials' output folder
(``$LRLC_NP_TUTORIAL_OUT``, else the working directory) and, inside a Jupyter kernel (an
executed notebook, or a percent-format script run cell by cell), also displays it inline, so
the same tutorial gives a PNG file as a script and a figure in the notebook. It takes a PNG
path too, for the figures of ``lrlc_np.plots``, which are saved already.

The functions below draw the pictures the tutorials teach with (a convolution sliding over
an image, im2col's patches becoming rows, the three layers' weight sharing, the LRLC layer as
bases times combining-weight maps, ...). Each returns the Figure, labelled (title, axes, colour
bars with what they measure), for ``show``. Matplotlib is imported inside the functions, so
``import lrlc_np`` does not need it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy

from .backend import to_numpy

ENV_OUT = "LRLC_NP_TUTORIAL_OUT"


def output_folder() -> Path:
    """Where the tutorials write their figures: ``$LRLC_NP_TUTORIAL_OUT``, else the working directory."""
    return Path(os.environ.get(ENV_OUT, "."))


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where a figure can be displayed inline)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def figure(width=6.0, height=4.0):
    """A new matplotlib Figure of ``width`` x ``height`` inches, drawn by Agg, not tied to pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def show(fig, name=None, alt=None) -> None:
    """Save ``fig`` as ``<output folder>/<name>.png``, or take an existing PNG path; display it
    inline in a notebook, print where it is otherwise. (Returns nothing, so that a notebook
    cell ending in ``show(...)`` shows the figure and no value.)

    alt  a one-line description for readers who cannot see the picture (default: its title)
    """
    if isinstance(fig, (str, Path)):
        path = Path(fig)
        if not path.is_file():
            raise FileNotFoundError(f"figures.show: no figure at {path}")
    else:
        if not name:
            raise ValueError("figures.show: a Figure needs a name for its PNG file, e.g. show(fig, 'tutorial01_im2col')")
        path = output_folder() / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        alt = alt or _title(fig)
        fig.savefig(path, dpi=110, bbox_inches="tight")
    if in_notebook():
        from IPython.display import Image, display

        display(Image(filename=str(path), alt=alt or path.stem))
    else:
        print(f"figure: {path}")


def _title(fig):
    text = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    if not text:
        text = next((ax.get_title() for ax in fig.axes if ax.get_title()), "")
    return text


# --------------------------------------------------------------------------- helpers

def _annotate(ax, a, image, fmt="{:g}", size=9):
    """Write every entry of the 2-D array ``a`` in its cell of ``image`` (what imshow returned),
    in white on dark cells and black on light ones."""
    for (r, c), v in numpy.ndenumerate(a):
        red, green, blue, _ = image.cmap(image.norm(v))
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        ax.text(c, r, fmt.format(v), ha="center", va="center", color="white" if dark else "black", fontsize=size)


def _pixels(ax, title=None, xlabel="column", ylabel="row"):
    """Integer ticks and labels for an image of pixels."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)


def _box(ax, top, left, height, width, color, lw=2.5, inset=0.0):
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((left - 0.5 + inset, top - 0.5 + inset), width - 2 * inset, height - 2 * inset,
                           fill=False, edgecolor=color, linewidth=lw))


def _colors(count):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(count)]


def kernel_mosaic(kernels, gap=1):
    """(H_out, W_out, kh, kw) kernels -> one 2-D array with the kernels as tiles, NaN between them."""
    k = numpy.asarray(to_numpy(kernels), dtype=float)
    h_out, w_out, kh, kw = k.shape
    mosaic = numpy.full((h_out * (kh + gap) - gap, w_out * (kw + gap) - gap), numpy.nan)
    for i in range(h_out):
        for j in range(w_out):
            mosaic[i * (kh + gap):i * (kh + gap) + kh, j * (kw + gap):j * (kw + gap) + kw] = k[i, j]
    return mosaic


def _mosaic_axes(ax, kernels, title, limit, cmap="RdBu_r"):
    """Draw a kernel mosaic with ticks at the tiles' centres, numbered by output position."""
    h_out, w_out, kh, kw = kernels.shape
    image = ax.imshow(kernel_mosaic(kernels), cmap=cmap, vmin=-limit, vmax=limit)
    ax.set_xticks([j * (kw + 1) + (kw - 1) / 2 for j in range(w_out)], [str(j) for j in range(w_out)])
    ax.set_yticks([i * (kh + 1) + (kh - 1) / 2 for i in range(h_out)], [str(i) for i in range(h_out)])
    ax.set(xlabel="output column j", ylabel="output row i", title=title)
    ax.tick_params(length=0)
    return image


# --------------------------------------------------------------------------- 01: convolution

def convolution_steps(image, kernel, output):
    """A convolution sliding over an image: one panel per output position, then the output.

    image (H, W), kernel (kh, kw), output (H_out, W_out) = the valid, stride-1 convolution.
    Each panel shows the image with the window of one output position and the sum it gives.
    """
    x, w, y = (numpy.asarray(to_numpy(a), dtype=float) for a in (image, kernel, output))
    (kh, kw), (h_out, w_out) = w.shape, y.shape
    positions = [(i, j) for i in range(h_out) for j in range(w_out)]
    fig = figure(2.3 * (len(positions) + 2), 2.9)
    axes = fig.subplots(1, len(positions) + 2)
    limit = float(numpy.abs(w).max()) or 1.0
    _annotate(axes[0], w, axes[0].imshow(w, cmap="RdBu_r", vmin=-limit, vmax=limit))
    _pixels(axes[0], "kernel w", "q", "p")
    colors = _colors(len(positions))
    for ax, (i, j), color in zip(axes[1:], positions, colors):
        _annotate(ax, x, ax.imshow(x, cmap="Greys", vmin=x.min() - 1, vmax=x.max() + 1))
        _box(ax, i, j, kh, kw, color)
        _pixels(ax, f"y[{i}, {j}] = {y[i, j]:g}")
    ax = axes[-1]
    _annotate(ax, y, ax.imshow(y, cmap="Greys", vmin=y.min() - 1, vmax=y.max() + 1))
    for (i, j), color in zip(positions, colors):
        _box(ax, i, j, 1, 1, color, inset=0.06)
    _pixels(ax, "output y")
    fig.suptitle("A convolution slides one kernel over the image: y[i, j] = sum of w * the window at (i, j)")
    return fig


def im2col_rows(image, kernel_hw, cols):
    """im2col as a picture: each output position's patch of the image becomes one row of X.

    image (H, W) one channel; kernel_hw (kh, kw), stride 1, no padding; cols (M, kh*kw) = im2col.
    """
    x, X = numpy.asarray(to_numpy(image), dtype=float), numpy.asarray(to_numpy(cols), dtype=float)
    kh, kw = kernel_hw
    h_out, w_out = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    colors = _colors(h_out * w_out)
    fig = figure(10, 3.6)
    ax_img, ax_cols = fig.subplots(1, 2, width_ratios=[1, 2.2])
    _annotate(ax_img, x, ax_img.imshow(x, cmap="Greys", vmin=x.min() - 1, vmax=x.max() + 1))
    for m, color in enumerate(colors):
        i, j = divmod(m, w_out)
        _box(ax_img, i, j, kh, kw, color, inset=0.05 * (m + 1))
    _pixels(ax_img, "image x: one patch per output position")
    _annotate(ax_cols, X, ax_cols.imshow(X, cmap="Greys", vmin=x.min() - 1, vmax=x.max() + 1, aspect="equal"))
    for m, color in enumerate(colors):
        _box(ax_cols, m, 0, 1, X.shape[1], color, inset=0.06)
    ax_cols.set_yticks(range(X.shape[0]), [f"({m // w_out}, {m % w_out})" for m in range(X.shape[0])])
    ax_cols.set_xticks(range(X.shape[1]), [f"({p},{q})" for p in range(kh) for q in range(kw)], fontsize=7)
    ax_cols.set(xlabel="column: kernel offset (p, q)", ylabel="row: output position (i, j)",
                title="X = im2col(x): each patch read row by row")
    fig.suptitle("im2col: patch (i, j) of the image becomes row (i, j) of the matrix X")
    return fig


def image_row(images, titles, suptitle, cmaps=None, colorbar_label="value"):
    """Images side by side, each with its title and colour bar (e.g. a digit and its feature maps)."""
    images = [numpy.asarray(to_numpy(a), dtype=float) for a in images]
    cmaps = cmaps or ["Greys_r"] + ["RdBu_r"] * (len(images) - 1)
    fig = figure(3.7 * len(images), 3.3)
    for ax, a, title, cmap in zip(fig.subplots(1, len(images)), images, titles, cmaps):
        if cmap == "RdBu_r":
            limit = float(numpy.abs(a).max()) or 1.0
            image = ax.imshow(a, cmap=cmap, vmin=-limit, vmax=limit)
        else:
            image = ax.imshow(a, cmap=cmap)
        _pixels(ax, title)
        fig.colorbar(image, ax=ax, shrink=0.8, fraction=0.08, label=colorbar_label)
    fig.suptitle(suptitle)
    return fig


# --------------------------------------------------------------------------- 03: LC and LRLC

def weight_sharing(kernels, titles, suptitle="Which kernel each output position uses"):
    """The kernels of several layers side by side, each as a mosaic of one kernel per position.

    kernels  a list of (H_out, W_out, kh, kw) arrays (one input and one output channel), e.g.
             conv (the same kernel tiled), LC (a free kernel per position), LRLC (mixes of bases)
    """
    kernels = [numpy.asarray(to_numpy(k), dtype=float) for k in kernels]
    limit = max(float(numpy.abs(k).max()) for k in kernels) or 1.0
    fig = figure(4.2 * len(kernels), 4.4)
    image = None
    for ax, k, title in zip(fig.subplots(1, len(kernels)), kernels, titles):
        image = _mosaic_axes(ax, k, title, limit)
    fig.colorbar(image, ax=fig.axes, shrink=0.7, label="weight")
    fig.suptitle(suptitle)
    return fig


def lrlc_layer(bases, alpha, effective):
    """The LRLC layer as a picture: K basis kernels, K combining-weight maps, and the kernel they
    give at every position, W[i, j] = sum_k alpha[k, i, j] * B_k.

    bases (K, kh, kw), alpha (K, H_out, W_out), effective (H_out, W_out, kh, kw)
    """
    b, a, w = (numpy.asarray(to_numpy(v), dtype=float) for v in (bases, alpha, effective))
    k = b.shape[0]
    fig = figure(11, 2.2 * k + 0.8)
    grid = fig.add_gridspec(k, 3, width_ratios=[1, 1.4, 3])
    limit = max(float(numpy.abs(b).max()), float(numpy.abs(w).max())) or 1.0
    alpha_image = None
    for index in range(k):
        ax_b = fig.add_subplot(grid[index, 0])
        ax_b.imshow(b[index], cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax_b.set_xticks([])
        ax_b.set_yticks([])
        ax_b.set_ylabel(f"basis B_{index + 1}")
        if index == 0:
            ax_b.set_title("K basis kernels")
        ax_a = fig.add_subplot(grid[index, 1])
        alpha_image = ax_a.imshow(a[index], cmap="viridis", vmin=float(a.min()), vmax=float(a.max()))
        _pixels(ax_a, "alpha_k: weight of B_k\nat each position" if index == 0 else None, "j", "i")
        if index < k - 1:
            ax_a.set_xlabel("")
    fig.colorbar(alpha_image, ax=fig.axes[1::2], shrink=0.6, label="alpha")
    ax_w = fig.add_subplot(grid[:, 2])
    image = _mosaic_axes(ax_w, w, "one kernel per position:\nW[i, j] = sum_k alpha[k, i, j] B_k", limit)
    fig.colorbar(image, ax=ax_w, shrink=0.6, label="weight")
    fig.suptitle("LRLC: K shared bases, mixed at every position by the combining weights")
    return fig


# --------------------------------------------------------------------------- 04: backward passes

def row_col_sum(dlogits, drows, dcols, basis=0):
    """The row + column logits' backward pass as a picture: dlogits of one basis, with its row sums
    (the gradient of the row logits) beside it and its column sums below it.

    dlogits (K, H_out, W_out), drows (K, H_out), dcols (K, W_out)
    """
    d, r, c = (numpy.asarray(to_numpy(v), dtype=float)[basis] for v in (dlogits, drows, dcols))
    fig = figure(7, 6)
    grid = fig.add_gridspec(2, 2, width_ratios=[3, 1], height_ratios=[3, 1])
    ax = fig.add_subplot(grid[0, 0])
    limit = float(numpy.abs(d).max()) or 1.0
    image = ax.imshow(d, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    _pixels(ax, f"dlogits of basis {basis + 1}", "output column j", "output row i")
    fig.colorbar(image, ax=ax, location="left", shrink=0.8, label="dL/dlogits")
    ax_r = fig.add_subplot(grid[0, 1], sharey=ax)
    ax_r.barh(range(len(r)), r, color="tab:orange")
    ax_r.axvline(0, color="gray", lw=0.8)
    ax_r.set(title="row sums =\ndrow_logits", xlabel="sum over j")
    ax_c = fig.add_subplot(grid[1, 0], sharex=ax)
    ax_c.bar(range(len(c)), c, color="tab:green")
    ax_c.axhline(0, color="gray", lw=0.8)
    ax_c.set(xlabel="output column j (column sums = dcol_logits)", ylabel="sum over i")
    fig.suptitle("Backward through logits[k, i, j] = row_logits[k, i] + col_logits[k, j]")
    return fig


def batchnorm_gradient(xhat, dy, dx, channel=0):
    """Batch norm's backward pass for one channel: dy and dx against xhat, with least-squares lines.

    xhat, dy, dx (N, C, H, W). dx is dy with its mean and its slope along xhat removed (then scaled).
    """
    xh, g, d = (numpy.asarray(to_numpy(v), dtype=float)[:, channel].ravel() for v in (xhat, dy, dx))
    fig = figure(9, 3.6)
    for ax, values, title in zip(fig.subplots(1, 2, sharex=True), (g, d),
                                 ("upstream gradient dy", "dx: no mean, no slope along xhat")):
        ax.scatter(xh, values, s=8, alpha=0.6, label="one value of the channel")
        slope, intercept = numpy.polyfit(xh, values, 1)
        line = numpy.linspace(xh.min(), xh.max(), 2)
        ax.plot(line, intercept + slope * line, color="tab:red",
                label=f"least-squares line: {intercept:+.2f} {slope:+.2f} xhat")
        ax.axhline(0, color="gray", lw=0.8)
        ax.set(xlabel="normalised input xhat", ylabel="gradient", title=title)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"Batch norm backward, channel {channel}: the mean and the xhat direction are taken out of dy")
    return fig


# --------------------------------------------------------------------------- 05: input-dependent LRLC

def alpha_per_example(images, alpha, labels=None, title="Combining weights computed from each input"):
    """One row per example: the input image, then its K combining-weight maps on one colour scale.

    images (N, H, W), alpha (N, K, H_out, W_out), labels (N,) or None
    """
    x, a = numpy.asarray(to_numpy(images), dtype=float), numpy.asarray(to_numpy(alpha), dtype=float)
    n, k = a.shape[:2]
    fig = figure(2.2 * (k + 1) + 1, 2.1 * n + 0.6)
    axes = fig.subplots(n, k + 1, squeeze=False)
    low, high = float(a.min()), float(a.max())
    image = None
    for row in range(n):
        axes[row, 0].imshow(x[row], cmap="gray")
        axes[row, 0].set_ylabel(f"input" + ("" if labels is None else f" (digit {int(labels[row])})"))
        for index in range(k):
            image = axes[row, index + 1].imshow(a[row, index], cmap="viridis", vmin=low, vmax=high)
            if row == 0:
                axes[row, index + 1].set_title(f"alpha, basis {index + 1}")
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(image, ax=axes[:, 1:], shrink=0.8, label="alpha (sums to 1 over the bases)")
    fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- 07: spatial invariance

def shift_responses(digit, shifted, responses, names, shift_by):
    """Each layer's answer to a shifted digit: f(shift(x)) - shift(f(x)), zero for an equivariant layer.

    digit, shifted (H, W); responses: one (H_out, W_out) difference map per layer, in the order of names
    """
    maps = [numpy.asarray(to_numpy(m), dtype=float) for m in responses]
    fig = figure(2.9 * (2 + len(maps)), 3.8)
    axes = fig.subplots(1, 2 + len(maps))
    for ax, img, title in zip(axes[:2], (digit, shifted), ("digit x", f"shift(x): {shift_by[0]} down, {shift_by[1]} right")):
        ax.imshow(numpy.asarray(to_numpy(img), dtype=float), cmap="gray")
        _pixels(ax, title)
    limit = max(float(numpy.abs(m).max()) for m in maps) or 1.0
    image = None
    for ax, m, name in zip(axes[2:], maps, names):
        image = ax.imshow(m, cmap="RdBu_r", vmin=-limit, vmax=limit)
        _pixels(ax, f"{name}:\nf(shift(x)) - shift(f(x))")
    fig.colorbar(image, ax=axes[2:], shrink=0.8, label="difference (channel 0)")
    fig.suptitle("Shift the input, or shift the output: an equivariant layer gives the same answer")
    return fig
