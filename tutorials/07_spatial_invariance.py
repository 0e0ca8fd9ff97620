# %% [markdown]
# # 07 — Spatial invariance, measured
#
# Run top to bottom with `python tutorials/07_spatial_invariance.py` (about a minute on two
# cores; `LRLC_NP_QUICK=1` shrinks the training to seconds), cell by cell, or as a notebook.
# It builds on tutorials 03 (LRLC) and 05 (training). Set `LRLC_NP_RUN=runs/lrlc4` to
# study a network that `lrlc train --layers conv,conv,lrlc --rank 4 --out runs/lrlc4` trained.
#
# A convolution is *translation equivariant*: shift the input and its output shifts with it.
# That is the inductive bias the paper revisits. A locally connected layer has none of it,
# and an LRLC layer has it partly: exactly where its combining weights are constant, less
# where they vary. This tutorial measures that, layer by layer and in a trained network, and
# shows why a network that ends in global average pooling can still use position once one
# of its layers is LRLC. Section 5 says what the paper claims and what this project's
# experiments find.
#
# **In a course** this tutorial adds no exercise: it uses all of them (the network trains on
# a student copy's own functions), so in a student copy the first cell stops with one line
# naming any exercise that is not written yet. The single layers of sections 1-3 run on the
# clear tier (`lrlc_np.set_ops("clear")` below, so a debugger lands in `lrlc_np.ops`); the
# training and the evaluation of section 4 run on the fast tier where there is one
# (`lrlc_np.use_ops(TRAIN_OPS)`).

# %%
from lrlc_np import stand_ins

stand_ins.require_written("07")          # a student copy: stop here, naming what to write first

import os
import tempfile

import numpy as np

import lrlc_np
from lrlc_np import figures
from lrlc_np.data import load_mnist, to_model_input
from lrlc_np.layers import Conv2D, LocallyConnected2D, LowRankLocallyConnected2D
from lrlc_np.models import build_network
from lrlc_np.plots import plot_combining_weights
from lrlc_np.tiers import available
from lrlc_np.train import TrainConfig, evaluate, train

lrlc_np.set_ops("clear")
TRAIN_OPS = "fast" if "fast" in available() else "clear"
QUICK = os.environ.get("LRLC_NP_QUICK") == "1"
OUT = figures.output_folder()
rng = np.random.default_rng(0)
f64 = np.float64

test_images, test_labels = load_mnist("test", dataset="mnist-sample")
digit = to_model_input(test_images[:1]).astype(f64)        # (1, 1, 28, 28), values in [-1, 1]
digit = digit + 1.0                                        # background 0, so that shifting in zeros is exact


def shift(x, dy, dx):
    """Move the image content dy rows down and dx columns right, filling with zeros."""
    out = np.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = x[..., max(-dy, 0):h - max(dy, 0),
                                                                        max(-dx, 0):w - max(dx, 0)]
    return out


def equivariance_error(layer, x, dy=2, dx=3):
    """|| f(shift(x)) - shift(f(x)) || / || f(x) || over the output positions that both see in full."""
    y, y_shifted = layer(x), layer(shift(x, dy, dx))
    inner = (slice(None), slice(None), slice(dy, None), slice(dx, None))   # away from the zero fill
    return float(np.linalg.norm((y_shifted - shift(y, dy, dx))[inner]) / np.linalg.norm(y[inner]))


# %% [markdown]
# ## 1. One layer: convolution, LC and LRLC
#
# Shift a digit by (2, 3) pixels and compare the layer's output on the shifted digit with
# the shifted output. Without biases a convolution commutes with the shift exactly; an LC
# layer uses different filters at the new positions; LRLC with K = 1 is a convolution; LRLC
# with K = 4 and random (`init="random"`) logits mixes its bases differently at every position,
# so it is not equivariant either.

# %%
common = dict(kernel_size=3, rng=np.random.default_rng(1), dtype=f64)
conv = Conv2D(1, 4, bias=False, **common)
lc = LocallyConnected2D(1, 4, input_size=28, bias=False, **common)
lrlc1 = LowRankLocallyConnected2D(1, 4, input_size=28, rank=1, bias=False, spatial_bias=False, **common)
lrlc4 = LowRankLocallyConnected2D(1, 4, input_size=28, rank=4, bias=False, spatial_bias=False, init="random", **common)
errors = {"conv": equivariance_error(conv, digit), "LC": equivariance_error(lc, digit),
          "LRLC K=1": equivariance_error(lrlc1, digit), "LRLC K=4, random logits": equivariance_error(lrlc4, digit)}
for name, err in errors.items():
    print(f"{name:<24s} equivariance error {err:.2e}")
assert errors["conv"] < 1e-12 and errors["LRLC K=1"] < 1e-12 and errors["LC"] > 0.5
assert errors["LRLC K=4, random logits"] > 0.1

# The same as a picture: output channel 0 of each layer, f(shift(x)) - shift(f(x)), away from the fill.
moved = shift(digit, 2, 3)
differences = [(layer(moved) - shift(layer(digit), 2, 3))[0, 0, 2:, 3:] for layer in (conv, lc, lrlc1, lrlc4)]
figures.show(figures.shift_responses(digit[0, 0], moved[0, 0], differences, list(errors), (2, 3)),
             "tutorial07_shift_responses")

# %% [markdown]
# ## 2. LRLC: equivariant exactly where its combining weights are constant
#
# An LRLC layer starts as a convolution (`init="conv"`: constant logits, every position the
# same mix of bases). Give its row and column logits a spread (a random pattern times a
# scale s) and the mix varies over positions, and the equivariance error with it. Two
# measures of how much the layer varies over positions, for ranks 2 and 4:
#
# - the *spread of alpha*: the standard deviation of alpha over positions, averaged over k;
# - the *variation of the effective kernel*: `||W - mean W|| / ||W||`, where
#   `W[i, j] = sum_k alpha[k, i, j] B_k` is the kernel that position (i, j) actually applies
#   and the mean is over positions.

# %%
def kernel_variation(layer):
    """||W - mean over positions of W|| / ||W|| for the layer's effective weight W (H_out, W_out, ...)."""
    w = layer.effective_weight()
    return float(np.linalg.norm(w - w.mean(axis=(0, 1))) / np.linalg.norm(w))


scales = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]
curves = {}
for rank in (2, 4):
    layer = LowRankLocallyConnected2D(1, 4, input_size=28, rank=rank, bias=False, spatial_bias=False,
                                      kernel_size=3, rng=np.random.default_rng(2), dtype=f64)
    row, col = rng.standard_normal(layer.params["row_logits"].shape), rng.standard_normal(layer.params["col_logits"].shape)
    points = []
    for s in scales:
        layer.params["row_logits"][...] = s * row
        layer.params["col_logits"][...] = s * col
        spread = float(layer.combining_weights().std(axis=(1, 2)).mean())
        points.append((spread, kernel_variation(layer), equivariance_error(layer, digit)))
        print(f"K={rank} logit scale {s:4.2f}: alpha spread {spread:.3f}, kernel variation {points[-1][1]:.3f}, "
              f"equivariance error {points[-1][2]:.3f}")
    curves[rank] = np.array(points)                        # columns: spread, variation, error
    assert points[0][2] < 1e-12                            # constant alpha: a convolution
    assert all(b[2] > a[2] for a, b in zip(points, points[1:]))   # more spread, less equivariance


def gap_to_rank2(column):
    """Mean over K=4's points of (its value - K=2's value at the same alpha spread), for a column."""
    x2, x4 = curves[2][:, 0], curves[4][1:, 0]
    inside = x4 <= x2.max()                                # compare only where K=2's curve reaches
    return float(np.mean(curves[4][1:, column][inside] - np.interp(x4[inside], x2, curves[2][:, column])))


gap_error, gap_variation = gap_to_rank2(2), gap_to_rank2(1)
print(f"at the same alpha spread, K=4 minus K=2: equivariance error {gap_error:+.3f}, "
      f"kernel variation {gap_variation:+.3f} (means over K=4's points)")
assert gap_error > 0.1                                     # at equal alpha spread, K=4 is less equivariant ...
assert gap_variation > 0.1                                 # ... and its kernel varies more over positions

fig = figures.figure(10, 3.8)
for ax, column, ylabel in zip(fig.subplots(1, 2), (2, 1), ("equivariance error", "variation of the effective kernel")):
    for rank, points in curves.items():
        ax.plot(points[:, 0], points[:, column], "o-", label=f"LRLC K={rank}")
    if column == 2:
        ax.axhline(errors["LC"], color="gray", linestyle="--", label="LC (random weights)")
    ax.set(xlabel="spread of alpha over positions (std)", ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
fig.axes[0].set_title("shift by (2, 3): f(shift(x)) against shift(f(x))")
fig.axes[1].set_title("||W - mean W|| / ||W|| over positions")
fig.suptitle("LRLC layers with a growing spread of combining weights")
figures.show(fig, "tutorial07_equivariance")

# %% [markdown]
# For each K the error grows with the spread (the assertion above checks every step). But
# the spread of alpha alone does not set the error: at the same spread, the K=4 layer is
# further from equivariance than the K=2 layer (the gap printed above; exercise 5 tries
# other random patterns and K = 8). What the shifted digit meets is the effective kernel
# `W[i, j]`: mixing K random bases averages them, which shrinks the part of W that all
# positions share, so the same spread of alpha moves W further, relative to its size, when
# K is larger. The right panel shows it: at equal spread, the K=4 layer's kernels vary more
# over positions.

# %% [markdown]
# ## 3. Why global average pooling does not make the network blind to position
#
# The paper's network ends in global average pooling: the mean of each channel over all
# positions. With convolutions only, moving a digit around a zero background moves every
# feature map with it, and the mean is the same: the network cannot tell *where* the digit
# is, only *what* it is. With one LRLC layer, a position's features are computed with that
# position's mix of bases, so the means differ. A blob on the left and the same blob further
# right on a 20x20 canvas (both at least 6 pixels from the edges: the three valid 3x3 layers
# then see all of either blob from every output position that overlaps it):

# %%
canvas = np.zeros((2, 1, 20, 20))
canvas[0, 0, 8:12, 6:10] = 1.0                              # left
canvas[1, 0, 8:12, 10:14] = 1.0                             # the same blob, 4 columns to the right
for kind in ("conv", "lrlc"):
    net = build_network(("conv", "conv", kind), filters=4, rank=4, input_shape=(1, 20, 20),
                        rng=np.random.default_rng(3), dtype=f64)
    if kind == "lrlc":                                      # a learned, position-dependent mix
        net.layers[6].params["col_logits"][...] = 2.0 * rng.standard_normal(net.layers[6].params["col_logits"].shape)
    features = canvas
    for layer in net.layers[:-1]:                          # up to and including the pooling
        features = layer.forward(features, training=False)
    gap = float(np.abs(features[0] - features[1]).max())
    print(f"{kind:4s} network: pooled features of left and right blob differ by at most {gap:.2e}")
    if kind == "conv":
        assert gap < 1e-12
    else:
        assert gap > 1e-3

# %% [markdown]
# ## 4. A trained network: shifted test digits, and the learned combining weights
#
# Train (or load) the paper's network with LRLC K = 4 in the third layer, and a convolution
# in its place for comparison, then test both on the test digits shifted by 0 to 3 pixels.
# MNIST digits are roughly centred, which the paper argues is why position-dependent filters
# help there; a network that learned them may also depend more on the digits staying where
# they were.

# %%
def trained(layers, out):
    """The network of ``layers`` trained here briefly, or the reader's finished run (LRLC_NP_RUN)."""
    run = os.environ.get("LRLC_NP_RUN")
    if run and "lrlc" in layers:                            # resuming a finished run just loads it
        return train(None, run, resume=True, progress=False, log=lambda line: None)[1]   # its saved settings
    config = TrainConfig(layers=layers, rank=4, filters=8 if QUICK else 16, epochs=1 if QUICK else 4, batch_size=32,
                         lr=0.1, warmup_epochs=0.25, dataset="mnist-sample", limit_train=512 if QUICK else None)
    return train(config, out, progress=False, log=lambda line: None)[1]


work = tempfile.mkdtemp(prefix="lrlc_tutorial07_")
with lrlc_np.use_ops(TRAIN_OPS):
    nets = {"conv": trained(("conv", "conv", "conv"), f"{work}/conv"),
            "LRLC K=4": trained(("conv", "conv", "lrlc"), f"{work}/lrlc")}
    print("test accuracy (%) on digits shifted by d pixels right and down:")
    print("d       " + "  ".join(f"{name:>9s}" for name in nets))
    table = []
    for d in range(4):
        moved = shift(test_images, d, d)                    # uint8 (N, 28, 28), black background
        table.append([100 * evaluate(net, moved, test_labels) for net in nets.values()])
        print(f"{d}       " + "  ".join(f"{a:9.1f}" for a in table[-1]))
(conv_0, lrlc_0), (conv_3, lrlc_3) = table[0], table[3]
print(f"centred digits: LRLC K=4 {lrlc_0 - conv_0:+.1f} points against conv; "
      f"shifted by 3 pixels: LRLC lost {lrlc_0 - lrlc_3:.1f} points, conv {conv_0 - conv_3:.1f}")
if not QUICK:
    assert min(table[0]) > 50                               # both learned something
    assert conv_3 < conv_0 and lrlc_3 < lrlc_0              # neither is invariant to a 3-pixel shift
    assert lrlc_0 > conv_0 and lrlc_0 - lrlc_3 > conv_0 - conv_3   # the paragraph below

alpha = nets["LRLC K=4"].layers[6].combining_weights()     # (K, 22, 22)
assert alpha.shape == (4, 22, 22) and np.allclose(alpha.sum(axis=0), 1.0)
print(f"learned alpha's spread over positions: {alpha.std(axis=(1, 2)).mean():.3f}")
figures.show(plot_combining_weights(alpha, OUT / "tutorial07_alpha.png",
                                    title="Learned combining weights of the LRLC layer (layer 3), one map per basis"))

# %% [markdown]
# In the full run (16 filters, 4 epochs on the bundled sample, seed 0; not in quick mode,
# which trains too little to compare), LRLC beats the convolution on the centred test
# digits and loses more of its accuracy when the digits move: the two lines printed above
# give the numbers, and the cell asserts both. That is the paper's argument in small:
# position-dependent filters pay off when the data is aligned, and bind the network to that
# alignment. One seed and a small budget make it a lead, not a result: exercise 1 tests it
# further, and section 5 says what more careful experiments find.

# %% [markdown]
# ## 5. The paper's claim, and what this project measures
#
# `lrlc compare` trains the network with layer 3 as a convolution, a wider convolution, an LC
# layer and LRLC of several ranks, over several seeds, and reports mean and spread with
# confidence intervals. On the bundled sample it takes less than a minute on two cores:
#
# ```bash
# lrlc compare --quick --out runs/compare
# ```
#
# Small budgets are noisy: compare means with their spread before believing a difference.

# %% [markdown]
# **The paper's claim, as measured here.** *(This paragraph states the results of
# EXPERIMENTS.md, experiments 1 and 6.)* The paper finds low-rank locally connected layers
# better than both convolution and locally connected layers. At the paper's budget (64
# filters, all 55,200 training images, 10 epochs, four or five seeds per row: experiment 6)
# this project agrees: LRLC K=4 is the best row, 0.84 points above convolution and above both
# LC layers, and a convolution widened to LRLC's parameter count gains nothing, so the gain
# comes from position-dependent filters, not from more parameters. CoordConv, a convolution
# told each pixel's row and column, gets most of that gain: LRLC's lead over it is small
# (0.08 points, outside the noise with five seeds). At a small budget (16 filters, 3 epochs on 20,000
# images: experiment 1) the ranking was different: the LC layer initialised as Keras's
# `LocallyConnected2D` was the best row, 1.86 points above LRLC K=4. A finding at a short
# budget can reverse at the full one.

# %% [markdown]
# ## Exercises
#
# 1. Shift the digits by a few pixels *during training* (data augmentation). Does the gap
#    between the two networks on shifted test digits close? Does LRLC still win unshifted?
# 2. Use `combining="full"` instead of `"row_col"`: is the trained alpha smoother or noisier?
# 3. In section 3, give the LRLC layer constant logits again: check that the two blobs become
#    indistinguishable.
# 4. Why is the equivariance error of section 2 measured only away from the zero fill?
# 5. Repeat section 2 with K = 8, and with other random patterns of logits (seeds of `rng`).
#    Does the order of the ranks at equal alpha spread hold? At equal kernel variation?
# 6. Train the LC layer in place of LRLC in section 4, with `TrainConfig(layers=("conv",
#    "conv", "lc"), lc_init="keras")` and with `lc_init="he"`. How do they compare with the
#    two networks above, centred and shifted?
#
# **Check your own code.** This tutorial has no exercise of its own; in a student copy it
# runs on the functions written for tutorials 01-05, which `pytest` checks in the copy and
# your teacher grades with `lrlc course grade`.
