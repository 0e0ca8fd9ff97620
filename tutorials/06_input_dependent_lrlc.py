# %% [markdown]
# # 06 — Input-dependent LRLC: combining weights computed from the input
#
# Run top to bottom with `python tutorials/06_input_dependent_lrlc.py` (a few seconds), cell
# by cell, or as a notebook. It builds on tutorials 03 and 04 (the LRLC layer and its
# backward pass).
#
# A fixed LRLC layer (tutorial 03) mixes K basis filter banks with weights
# `alpha[k, i, j]`: one learned map `(K, H_out, W_out)`, shared by every input. The paper's
# input-dependent variant computes the logits from the layer's input with a small
# *combining network*, so every example gets its own map, `alpha (N, K, H_out, W_out)`:
#
# ```
# y[n, o, i, j] = sum_k alpha[n, k, i, j] * (x ⋆ B_k)[n, o, i, j] + bias[o] + sbias[i, j]
# alpha[n] = softmax over k of combiner(x[n])
# ```
#
# Each example chooses which basis to use where. Sections 1 and 2 take apart the two new
# ops the combining network needs, section 3 assembles it, sections 4 to 6 study the layer,
# section 8 has questions and exercises.
#
# **In a course** this tutorial prepares for the stretch exercise `bilinear_resize_backward`
# (`lrlc_np/ops/resize.py`), and uses `lrlc2d_forward` and `lrlc2d_backward` with per-example
# alpha (tutorial 04, section 2). In a student copy it runs before you have written them (the
# first cell puts loop definitions in their place and says so).
#
# The layers run on the clear tier (`lrlc_np.set_ops("clear")` below), so a debugger steps
# from the layer into the formulas of `lrlc_np.ops`; `lrlc_np.set_ops("fast")` switches every
# layer to the tuned tier.

# %%
from lrlc_np import stand_ins

stand_ins.for_unwritten_exercises()     # a student copy: loop definitions stand in for unwritten exercises

import numpy as np

import lrlc_np
from lrlc_np import figures, reference, understanding
from lrlc_np.data import load_mnist, to_model_input
from lrlc_np.gradcheck import TOLERANCE, check_layer
from lrlc_np.layers import InputDependentCombiningWeights, LowRankLocallyConnected2D
from lrlc_np.ops import (bilinear_resize_backward, bilinear_resize_forward, concat_channels_forward,
                         conv2d_forward, depthwise_conv2d_backward, depthwise_conv2d_forward,
                         interpolation_matrix, relu_forward, sigmoid_forward, spatial_mean_forward)

lrlc_np.set_ops("clear")
rng = np.random.default_rng(0)
f64 = np.float64

# %% [markdown]
# ## 1. Bilinear resizing with aligned corners: two small matrices
#
# The network's branches come out at different sizes and are all brought to
# `(H_out, W_out)` before they are stacked. With aligned corners, output row i samples the
# input at `s_i = i * (H - 1) / (H_out - 1)`: the first and last rows land on the first and
# last input rows, the others blend their two neighbours, `(1 - t) x[r] + t x[r + 1]` with
# `r = floor(s_i)`, `t = s_i - r`. One row of weights per output row is the matrix
# `R (H_out, H)`; from 3 to 5 rows, `s = 0, 0.5, 1, 1.5, 2`. Columns work the same way, so
# resizing an image is two matrix products, `y = R_h x R_w^T`. A 2x2 image to 3x3: the
# corners are kept, the edge midpoints average two pixels, the centre all four (2.5).

# %%
R35 = interpolation_matrix(3, 5, np, f64)                  # (out_size, in_size) = (5, 3)
print(f"interpolation_matrix(3, 5) {R35.shape}:\n{R35}")
assert np.array_equal(R35, [[1, 0, 0], [0.5, 0.5, 0], [0, 1, 0], [0, 0.5, 0.5], [0, 0, 1]])
assert np.allclose(R35.sum(axis=1), 1.0)                   # every row is a weighted average

x22 = np.array([[1.0, 2.0], [3.0, 4.0]])                   # (H, W) = (2, 2)
R23 = interpolation_matrix(2, 3, np, f64)                  # (3, 2) = [[1, 0], [0.5, 0.5], [0, 1]]
y33 = R23 @ x22 @ R23.T                                    # (3, 2) @ (2, 2) @ (2, 3) -> (3, 3)
print(f"R x R^T {y33.shape}:\n{y33}")
assert np.array_equal(y33, [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]])
assert np.allclose(bilinear_resize_forward(x22[None, None], 3)[0][0, 0], y33)
assert np.allclose(reference.bilinear_resize(x22[None, None], 3)[0, 0], y33)

# A 1x1 map (the pooled branch of section 3) has R = a column of ones: a constant map.
assert np.array_equal(interpolation_matrix(1, 4, np, f64), np.ones((4, 1)))

# %% [markdown]
# Resizing is linear in x, so its backward pass multiplies by the transposes,
# `dx = R_h^T dy R_w`. Check it on a non-square batch `x (2, 3, 4, 6) -> (2, 3, 7, 5)`
# (rows grow, columns shrink) with the adjoint identity `<R x, dy> = <x, R^T dy>`.

# %%
xr = rng.standard_normal((2, 3, 4, 6))                     # (N, C, H, W)
yr, r_cache = bilinear_resize_forward(xr, (7, 5))          # (2, 3, 7, 5)
assert np.allclose(yr, reference.bilinear_resize(xr, (7, 5)))
dyr = rng.standard_normal(yr.shape)
dxr = bilinear_resize_backward(dyr, r_cache)               # (2, 3, 4, 6)
R_h, R_w = interpolation_matrix(4, 7, np, f64), interpolation_matrix(6, 5, np, f64)
assert np.allclose(dxr, R_h.T @ dyr @ R_w)                 # (4, 7) @ (2, 3, 7, 5) @ (5, 6)
lhs, rhs = (yr * dyr).sum(), (xr * dxr).sum()
print(f"<R x, dy> = {lhs:.12f}\n<x, R^T dy> = {rhs:.12f}")
assert np.isclose(lhs, rhs, rtol=1e-12, atol=1e-12)

# %% [markdown]
# ## 2. Depthwise convolution with dilation
#
# *Depthwise*: each channel has its own 3x3 filter, `weight (C, 1, 3, 3)`; channels are
# never mixed. *Dilation r*: the taps sit r pixels apart, so output `(i, j)` reads
# `x[i + r*p, j + r*q]` for p, q in 0, 1, 2, a `(2r + 1) x (2r + 1)` neighbourhood seen
# through 9 taps. Without padding the output loses 2r rows and columns: `H_out = H - 2r`.
#
# Which pixels does one output read? Ask the backward pass: with all-ones weights and a dy
# that is 1 at a single output, dx is 1 exactly at that output's taps. Below, the output
# centred on pixel (4, 4) of a 9x9 image, which is output `(4 - r, 4 - r)`.

# %%
masks = {}
for r in (1, 2, 4):
    y9, cache9 = depthwise_conv2d_forward(np.zeros((1, 1, 9, 9)), np.ones((1, 1, 3, 3)), dilation=r)
    dy9 = np.zeros_like(y9)                                # (1, 1, 9 - 2r, 9 - 2r)
    dy9[0, 0, 4 - r, 4 - r] = 1.0
    masks[r] = depthwise_conv2d_backward(dy9, cache9)[0][0, 0].astype(int)   # (9, 9)
    taps = [4 - r, 4, 4 + r]
    by_hand = np.zeros((9, 9), dtype=int)
    by_hand[np.ix_(taps, taps)] = 1
    assert np.array_equal(masks[r], by_hand)
print("  r = 1      r = 2      r = 4")
for row in range(9):
    print("  " + "  ".join("".join(str(v) for v in masks[r][row]) for r in (1, 2, 4)))

x17, w33 = np.zeros((1, 1, 17, 17)), np.ones((1, 1, 3, 3))
sizes = {r: depthwise_conv2d_forward(x17, w33, dilation=r)[0].shape[2:] for r in (1, 2, 4, 8)}
print("\nH = W = 17, valid:", ", ".join(f"r={r} -> {h}x{w}" for r, (h, w) in sizes.items()), "\n")
assert all(hw == (17 - 2 * r, 17 - 2 * r) for r, hw in sizes.items())

# The fast version against the loop definition: bias, 3 channels, non-square, dilation (2, 3).
xd = rng.standard_normal((2, 3, 11, 10))                   # (N, C, H, W)
wd, bd = rng.standard_normal((3, 1, 3, 3)), rng.standard_normal(3)
yd, _ = depthwise_conv2d_forward(xd, wd, bd, dilation=(2, 3))   # (2, 3, 11 - 4, 10 - 6)
assert yd.shape == (2, 3, 7, 4)
assert np.allclose(yd, reference.depthwise_conv2d(xd, wd, bd, dilation=(2, 3)))
print("depthwise_conv2d_forward == reference.depthwise_conv2d, y", yd.shape)

# %% [markdown]
# ## 3. The combining network, step by step
#
# `InputDependentCombiningWeights(C_in, K, input_size, output_size)` maps
# `x (N, C_in, H, W)` to `logits (N, K, H_out, W_out)`:
#
# 1. `x_low`: a 1x1 convolution down to K channels;
# 2. branches: `x_low` itself, its spatial mean `x_pool (N, K, 1, 1)` (the whole image), and
#    a dilated 3x3 depthwise convolution of `x_low` for each `r` in 1, 2, 4, 8 whose span
#    `2r + 1` fits the input (`r <= (min(H, W) - 1) // 2`);
# 3. each branch resized to `(H_out, W_out)` and the K-channel maps concatenated;
# 4. `hidden = ReLU(1x1 conv)` to `6K // 2` channels, then `squashed = sigmoid(1x1 conv)` to
#    `6K` channels, and a last 1x1 conv `out` to K logits. (The sigmoid layer's parameters are
#    named `gate.weight` and `gate.bias`, but it gates nothing: no other signal is multiplied
#    by it. It is a second hidden layer whose activation squashes each value into (0, 1).)
#
# A tiny case: 1 channel, 17x17 inputs, K = 3, output 15x15 (a 3x3 layer without padding).

# %%
net = InputDependentCombiningWeights(1, 3, input_size=17, output_size=15, rng=rng, dtype=f64)
print(net)
print("dilations:", net.dilations)
assert net.dilations == (1, 2, 4, 8)

x = rng.standard_normal((2, 1, 17, 17))                    # (N, C_in, H, W)
p = net.params


def conv1x1(name, v):
    return conv2d_forward(v, p[f"{name}.weight"], p[f"{name}.bias"])[0]


x_low = conv1x1("low", x)                                  # (2, 3, 17, 17)
x_pool = spatial_mean_forward(x_low)[0]                    # (2, 3, 1, 1)
dilated = {r: depthwise_conv2d_forward(x_low, p[f"dilated{r}.weight"], p[f"dilated{r}.bias"],
                                       dilation=r)[0] for r in net.dilations}
branches = {"x_low": x_low, "x_pool": x_pool, **{f"dilated r={r}": d for r, d in dilated.items()}}
resized = [bilinear_resize_forward(b, 15)[0] for b in branches.values()]   # each (2, 3, 15, 15)
stacked = concat_channels_forward(resized)[0]              # (2, 3 * 6, 15, 15)
hidden = relu_forward(conv1x1("hidden", stacked))[0]       # (2, 9, 15, 15)
squashed = sigmoid_forward(conv1x1("gate", hidden))[0]     # (2, 18, 15, 15), each value in (0, 1)
logits = conv1x1("out", squashed)                          # (2, 3, 15, 15)

for name, b in branches.items():
    print(f"{name:<14} {str(b.shape):<16} -> resized {resized[0].shape}")
for name, a in [("concat", stacked), ("hidden", hidden), ("squashed", squashed), ("logits", logits)]:
    print(f"{name:<14} {a.shape}")
assert np.allclose(logits, net.forward(x))
print("step by step == net.forward(x)")
# At 17x17 the r = 8 branch is 1x1 (one 9-tap sample of the whole image): like x_pool, a
# constant map after resizing.
assert dilated[8].shape == (2, 3, 1, 1)
assert all(np.allclose(m, m[:, :, :1, :1]) for m in (resized[1], resized[5]))

# %% [markdown]
# ## 4. The full layer: one alpha map per example
#
# `LowRankLocallyConnected2D(..., combining="full", input_dependent=True)` owns a combining
# network like the one above; its parameters appear as `combiner.<name>`. `alpha` comes from
# `layer.combining_weights(x)`, softmax over K for every example and position. Random
# biases, so that they take part in the comparisons below.

# %%
layer = LowRankLocallyConnected2D(1, 4, 3, 17, rank=3, combining="full", input_dependent=True,
                                  rng=rng, dtype=f64)
layer.params["bias"][:] = rng.standard_normal(4)
layer.params["spatial_bias"][:] = rng.standard_normal((15, 15))
print(layer, "\n")
alpha = layer.combining_weights(x)                         # (N, K, H_out, W_out)
assert alpha.shape == (2, 3, 15, 15)
assert np.allclose(alpha.sum(axis=1), 1.0) and np.all(alpha > 0)
print(f"alpha[:, :, 7, 7], one row per example:\n{np.round(alpha[:, :, 7, 7], 4)}")
gap = np.abs(alpha[0] - alpha[1]).max()
print(f"max |alpha[0] - alpha[1]| = {gap:.3f};  alpha from {alpha.min():.3f} to {alpha.max():.3f}")
assert gap > 1e-3 and not np.allclose(alpha, 1 / 3)

# The layer is the LRLC formula with this per-example alpha (loop reference of tutorial 03):
y = layer(x)                                               # (2, 4, 15, 15)
y_ref = reference.lrlc2d(x, layer.params["bases"], alpha) + layer.params["bias"][:, None, None] \
    + layer.params["spatial_bias"]
assert np.allclose(y, y_ref)

# %% [markdown]
# Nothing in the network mixes examples (the spatial mean is over one image's positions,
# there is no batch normalisation), so example n's output depends on x[n] alone: run
# alone it gives the same output, and replacing the other example changes nothing.
#
# Mind that `init="conv"` only sets the fixed logits, and this layer has none: freshly
# built, alpha is not uniform (printed above), so the layer does not start as a convolution.
#
# On real digits the maps show what "input-dependent" means. Below, a freshly built layer
# (1 -> 4 channels, K = 3, 28x28 digits, 26x26 output) on four digits of the bundled MNIST
# sample: untrained, its combining network already reads each digit, so every digit gets its
# own maps, which follow its strokes. Training decides which basis those places should use.

# %%
x_swapped = x.copy()
x_swapped[1] = rng.standard_normal((1, 17, 17))
y_swapped = layer(x_swapped)
assert np.allclose(layer(x[:1]), y[:1])                    # example 0 on its own
assert np.allclose(y_swapped[0], y[0])                     # example 1 replaced: y[0] unchanged
assert not np.allclose(y_swapped[1], y[1])
print("y[0] is the same alone, and with a different example 1")

digits, digit_labels = load_mnist("test", dataset="mnist-sample")
on_digits = LowRankLocallyConnected2D(1, 4, 3, 28, rank=3, combining="full", input_dependent=True,
                                      rng=np.random.default_rng(4), dtype=f64)
x_digits = to_model_input(digits[:4]).astype(f64)          # (4, 1, 28, 28)
alpha_digits = on_digits.combining_weights(x_digits)       # (4, 3, 26, 26)
assert alpha_digits.shape == (4, 3, 26, 26)
print(f"largest difference between two digits' alpha: {np.abs(alpha_digits[0] - alpha_digits[1]).max():.3f}")
figures.show(figures.alpha_per_example(digits[:4], alpha_digits, digit_labels[:4],
                                       "Input-dependent combining weights of an untrained layer, per digit"),
             "tutorial06_alpha_per_digit")

# %% [markdown]
# ## 5. Zero projection: back to a fixed LRLC layer, and a convolution
#
# Set the last 1x1 convolution to zero, `combiner.out.weight = 0` and `combiner.out.bias = 0`.
# Then the logits are 0 whatever the input, alpha is 1/K everywhere, and the layer equals
# a fixed LRLC layer with `init="conv"` (all logits equal) and the same bases and biases:
# a convolution with the mean of the bases, plus the biases.

# %%
layer.params["combiner.out.weight"][:] = 0.0
layer.params["combiner.out.bias"][:] = 0.0
assert np.allclose(layer.combining_weights(x), 1 / 3)
fixed = LowRankLocallyConnected2D(1, 4, 3, 17, rank=3, combining="full", init="conv", rng=rng, dtype=f64)
for name in ("bases", "bias", "spatial_bias"):
    fixed.params[name][:] = layer.params[name]
print(f"max |input-dependent - fixed| = {np.abs(layer(x) - fixed(x)).max():.1e}")
assert np.allclose(layer(x), fixed(x))
# Equal weights everywhere: one kernel, the mean of the bases, plus the biases.
y_conv = conv2d_forward(x, layer.params["bases"].mean(axis=0), layer.params["bias"])[0]
assert np.allclose(layer(x), y_conv + layer.params["spatial_bias"])
print("layer == conv2d(x, mean of the bases) + bias + spatial bias")

# %% [markdown]
# ## 6. Gradient check of the whole layer
#
# The backward pass runs the network in reverse, and x collects gradient along two paths:
# through the LRLC product and through the combining network. `check_layer` (tutorial 02)
# compares every gradient with finite differences, in float64. A small layer keeps it to
# about a second: 9x9 inputs use dilations 1, 2 and 4 (the r = 4 branch is 1x1).

# %%
small = LowRankLocallyConnected2D(1, 2, 3, 9, rank=2, combining="full", input_dependent=True,
                                  rng=rng, dtype=f64)
assert small.combiner.dilations == (1, 2, 4)
errors = check_layer(small, rng.standard_normal((2, 1, 9, 9)), rng=rng)
print(f"{'array':<26} {'shape':<16} relative error")
shapes = {"x": (2, 1, 9, 9), **{name: v.shape for name, v in small.params.items()}}
for name, err in errors.items():
    print(f"{name:<26} {str(shapes[name]):<16} {err:.1e}")
assert set(errors) == {"x", *small.params}
assert all(err <= TOLERANCE for err in errors.values()), errors

# %% [markdown]
# ## 7. Training it
#
# From a terminal, train the paper's network with input-dependent LRLC layers, or add the
# input-dependent variant next to the fixed one in the comparison across ranks:
#
# ```
# lrlc train --input-dependent
# lrlc compare --input-dependent
# ```
#
# The README's section on the input-dependent variant covers the options and what to
# expect from the results.

# %% [markdown]
# ## 8. Check your understanding
#
# Answer in the next cell (replace each `None`), then run the checking cell.
#
# 1. `dilations`: for a 13x13 input, which dilations does the combining network use? (a tuple)
# 2. `sample_at`: resizing 4 rows to 7 with aligned corners, which input row (a fraction)
#    does output row 1 sample?
# 3. `dilated_size`: a 17x17 input, a depthwise 3x3 kernel with dilation 4, no padding:
#    what is H_out?
# 4. `alpha_shape`: an input-dependent layer with K = 3 and a 15x15 output, on a batch of 5:
#    what is the shape of its combining weights? (a tuple)
# 5. `zero_out`: with `combiner.out` set to zero, the layer is (a) a locally connected layer;
#    (b) a convolution with the mean of the bases, plus the biases; (c) zero everywhere

# %%
answers = {
    "dilations": None,
    "sample_at": None,
    "dilated_size": None,
    "alpha_shape": None,
    "zero_out": None,
}

# %%
understanding.check("input_dependent", answers)

# %% [markdown]
# ## Exercises
#
# 1. Write `interpolation_matrix(in_size, out_size)` yourself from section 1's formula and
#    compare it with the library's for a few sizes, including out_size 1 and in_size 1.
# 2. Derive `bilinear_resize_backward` (the `lrlc course` stretch exercise) from
#    `y = R_h x R_w^T`, and check your formula with the adjoint identity of section 1.
# 3. Replace the sigmoid layer of section 3 by a ReLU: rebuild the logits step by step with
#    `relu_forward` instead of `sigmoid_forward`. Why might bounded values in (0, 1) suit the
#    layer that produces logits better?
# 4. Train the paper's network with input-dependent LRLC on the bundled sample
#    (`lrlc train --dataset mnist-sample --input-dependent --epochs 3 --filters 16 --out runs/id`)
#    and look at `alpha_per_digit.png`. Do the maps move with the digit?
# 5. Show that the combining network is translation-equivariant away from the borders (shift
#    an input and compare the shifted logits), and say which branch breaks it near the border.
#
# **Check your own code.** In a student copy, once you have written `bilinear_resize_backward`,
# run `pytest tests/test_ops_input_dependent.py -k bilinear`; your teacher grades it with
# `lrlc course grade`.
#
# Next: tutorial 07 measures spatial invariance, in single layers and in trained networks.
