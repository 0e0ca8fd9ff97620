# %% [markdown]
# # 03 — Local connectivity: LC and low-rank LC (LRLC)
#
# Run top to bottom with `python tutorials/03_local_connectivity.py` (a few seconds), cell by
# cell, or as a notebook. It builds on tutorial 01 (convolution, im2col).
#
# A convolution uses **one** filter bank everywhere (tutorial 01). The paper asks how much
# of that spatial invariance a network actually needs, and compares three layers:
#
# | layer | filter bank at output position (i, j) |
# |---|---|
# | convolution | `W` (the same everywhere) |
# | locally connected (LC) | `W[i, j]` (a free one per position) |
# | low-rank LC (LRLC) | `sum_k alpha[k, i, j] * B_k` (K shared bases, mixed per position) |
#
# Shapes (letters as in `lrlc_np.ops`): `x (N, C_in, H, W)`, `y (N, C_out, H_out, W_out)`.
#
# **In a course** this tutorial prepares for the `lrlc course` exercises
# `locally_connected2d_forward` and `locally_connected2d_backward` (`lrlc_np/ops/local.py`),
# `combining_weights_forward` (`ops/combining.py`) and `lrlc2d_forward` (`ops/lrlc.py`);
# tutorial 04 derives the backward passes of the last two. In a student copy it runs before
# you have written them (the first cell puts loop definitions in their place and says so).
#
# The layers run on the clear tier (`lrlc_np.set_ops("clear")` below), so a debugger steps
# from a layer into the formulas of `lrlc_np.ops`; `lrlc_np.set_ops("fast")` switches every
# layer to the tuned tier that training uses by default.

# %%
from lrlc_np import stand_ins

stand_ins.for_unwritten_exercises()     # a student copy: loop definitions stand in for unwritten exercises

import numpy as np

import lrlc_np
from lrlc_np import figures, reference, understanding
from lrlc_np.layers import Conv2D, LocallyConnected2D, LowRankLocallyConnected2D
from lrlc_np.ops import (combining_weights_forward, conv2d_forward, effective_weight, im2col,
                         locally_connected2d_forward, lrlc2d_forward)

lrlc_np.set_ops("clear")


def show(name, a):
    """Print an array with its shape, rounded for reading."""
    a = np.asarray(a)
    print(f"{name} {a.shape}:\n{np.array2string(a, precision=3, suppress_small=True)}\n")


rng = np.random.default_rng(0)
f64 = np.float64

# %% [markdown]
# ## 1. The locally connected layer: a filter bank per position
#
# An LC layer reads the same patches as a convolution, but output position `(i, j)` has
# its own filter bank `weight[i, j] (C_out, C_in, kh, kw)` and its own bias `bias[:, i, j]`:
#
# ```
# weight (H_out, W_out, C_out, C_in, kh, kw),   bias (C_out, H_out, W_out)
# y[n, o, i, j] = bias[o, i, j] + sum_{c, p, q} weight[i, j, o, c, p, q] * xpad[n, c, i*sh + p, j*sw + q]
# ```
#
# So the weights are tied to the input size (`input_size` is a constructor argument):
# an LC layer built for 6x5 images cannot run on 7x5 ones. Per position it is a small
# dense layer applied to that position's patch. Below, `x (2, 2, 6, 5)`, a 3x2 kernel,
# so `H_out, W_out = 4, 4`.

# %%
lc = LocallyConnected2D(2, 3, kernel_size=(3, 2), input_size=(6, 5), rng=rng, dtype=f64)
lc.params["bias"][:] = rng.standard_normal(lc.params["bias"].shape)   # non-zero, to see it used
x = rng.standard_normal((2, 2, 6, 5))            # (N, C_in, H, W)
y = lc(x)                                        # (2, 3, 4, 4)
print(lc)
print("x", x.shape, "-> y", y.shape)

# Teaching version: one dense layer per position on that position's patch (checked below).
patches = im2col(x, (3, 2), (1, 1), (0, 0)).reshape(2, 4, 4, -1)   # (N, H_out, W_out, R), R = 2*3*2 = 12
y_loop = np.zeros_like(y)
for i in range(4):
    for j in range(4):
        w_ij = lc.params["weight"][i, j].reshape(3, -1)      # this position's filters: (C_out, R) = (3, 12)
        p_ij = patches[:, i, j]                             # (N, R) = (2, 12)
        y_loop[:, :, i, j] = p_ij @ w_ij.T + lc.params["bias"][:, i, j]

# %%
y_ref = reference.locally_connected2d(x, lc.params["weight"], lc.params["bias"])
assert np.allclose(y_loop, y) and np.allclose(y_ref, y)
print("loop per position == reference.locally_connected2d == LocallyConnected2D")

# %% [markdown]
# `lrlc_np.ops.locally_connected2d_forward` is this loop with the position as one more index
# of a single `einsum`: `y[n, o, t] = sum_r X[n, t, r] W[t, o, r]` over all positions t at once.
#
# **Shape versus memory order.** The fast tier (`lrlc_np.fast.local`) reads each position's
# filters as an `(R, C_out)` matrix in the channels-last patch order `(p, q, c)` of its own
# im2col, which is `weight[i, j].transpose(2, 3, 1, 0)`. So on the fast tier the layer stores
# its weight so that this transpose costs nothing: the array has the documented shape
# `(H_out, W_out, C_out, C_in, kh, kw)`, but its numbers sit in memory in the order
# `(H_out, W_out, kh, kw, C_in, C_out)`. At the paper's shape that saves a gathered copy of
# the whole weight on every pass (its size is printed below). On the clear tier, which this
# tutorial runs, the weight is a plain C-ordered array. Indexing, arithmetic, saving and
# either tier work with both; only speed depends on the order (`lrlc_np.tiers.stored` makes
# a weight in the active tier's order).

# %%
print(f"the LC weight's copy at the paper's layer: 22*22*64*64*3*3 float32 = {22 * 22 * 64 * 64 * 9 * 4 / 1e6:.0f} MB")
w = lc.params["weight"]                                    # shape (4, 4, 3, 2, 3, 2), built on the clear tier
print("clear tier: shape", w.shape, " C-ordered:", w.flags.c_contiguous)
assert w.flags.c_contiguous
if "fast" in lrlc_np.tiers.available():                   # a student copy has no fast tier
    with lrlc_np.use_ops("fast"):
        w_fast = LocallyConnected2D(2, 3, kernel_size=(3, 2), input_size=(6, 5), rng=rng, dtype=f64).params["weight"]
    in_fast_order = w_fast.transpose(0, 1, 4, 5, 3, 2).flags.c_contiguous
    print("fast tier: shape", w_fast.shape, " in (H_out, W_out, kh, kw, C_in, C_out) order:", in_fast_order)
    assert w_fast.shape == w.shape and in_fast_order

# %% [markdown]
# ## 2. Parameter counts: the paper's layer
#
# The paper's network has 3x3 layers with 64 -> 64 channels on 24x24 inputs, no padding,
# so 22x22 outputs. Count the weights (biases left out for now, `bias=False`):
#
# - convolution: one bank, `64 * 64 * 3 * 3 = 36,864`;
# - LC: one bank per output position, `22 * 22 * 36,864 = 17,842,176` (484 times more);
# - LRLC of rank K: K basis banks `K * 36,864`, plus the combining logits. With the paper's
#   `combining="row_col"` there is one logit per basis per row and per column,
#   `K * (22 + 22)`: a rounding error next to the bases.
#
# The counts come from the layers' `num_parameters`. (Building the LC layer allocates its
# millions of float32 weights, printed below, so it is deleted straight away.)

# %%
conv_big = Conv2D(64, 64, 3, bias=False, rng=rng)
lc_big = LocallyConnected2D(64, 64, 3, input_size=24, bias=False, rng=rng)
n_conv, n_lc = conv_big.num_parameters, lc_big.num_parameters
print(lc_big)
print(f"{n_lc / 1e6:.1f} million weights, {lc_big.params['weight'].nbytes / 1e6:.0f} MB")
del lc_big
assert n_conv == 64 * 64 * 3 * 3 == 36_864
assert n_lc == 22 * 22 * 36_864 == 17_842_176

print(f"\n{'layer':<26} {'parameters':>12} {'vs conv':>8}")
print(f"{'conv':<26} {n_conv:>12,} {1:>8.2f}")
print(f"{'LC':<26} {n_lc:>12,} {n_lc / n_conv:>8.2f}")
for k in (1, 2, 4, 8):
    lrlc_big = LowRankLocallyConnected2D(64, 64, 3, input_size=24, rank=k, bias=False,
                                         spatial_bias=False, rng=rng)
    n = lrlc_big.num_parameters
    assert n == k * 36_864 + k * (22 + 22)
    print(f"{f'LRLC K={k} (row_col)':<26} {n:>12,} {n / n_conv:>8.2f}")

# %% [markdown]
# The other combining modes only change the logit count: `"row"` and `"col"` have `K * 22`,
# `"full"` (a free logit per position) `K * 22 * 22`. Biases: conv and LRLC have a channel
# bias `(64,)`; LRLC adds a spatial bias (`row_bias (22,) + col_bias (22,)` for row_col);
# LC has a bias per channel *and* position `(64, 22, 22)`, another 30,976 numbers.

# %%
for combining, logits in [("row", 22), ("col", 22), ("full", 22 * 22)]:
    layer = LowRankLocallyConnected2D(64, 64, 3, input_size=24, rank=2, combining=combining,
                                      bias=False, spatial_bias=False, rng=rng)
    assert layer.num_parameters == 2 * 36_864 + 2 * logits
    print(f"LRLC K=2 {combining:<5} logits {2 * logits:>4}, total {layer.num_parameters:,}")
with_biases = LowRankLocallyConnected2D(64, 64, 3, input_size=24, rank=2, rng=rng)
assert with_biases.num_parameters == 2 * 36_864 + 2 * 44 + 64 + 44
lc_bias = LocallyConnected2D(4, 64, 3, input_size=24, rng=rng).params["bias"]
assert lc_bias.shape == (64, 22, 22) and lc_bias.size == 30_976

# %% [markdown]
# ## 3. LC with one shared kernel is a convolution
#
# Weight sharing is the only difference: copy one conv filter bank into every position of
# an LC layer (and its bias into every position's bias) and the two layers agree.

# %%
conv = Conv2D(2, 3, kernel_size=(3, 2), rng=rng, dtype=f64)
conv.params["bias"][:] = rng.standard_normal(3)
lc_shared = LocallyConnected2D(2, 3, kernel_size=(3, 2), input_size=(6, 5), rng=rng, dtype=f64)
lc_shared.params["weight"][:] = conv.params["weight"]            # (3, 2, 3, 2) -> every (i, j)
lc_shared.params["bias"][:] = conv.params["bias"][:, None, None]  # (3,) -> (3, 4, 4)
assert np.allclose(lc_shared(x), conv(x))
print("LC with every position sharing one kernel == Conv2D")

# %% [markdown]
# ## 4. The LRLC layer
#
# K basis filter banks `bases (K, C_out, C_in, kh, kw)` and combining weights
# `alpha (K, H_out, W_out)`:
#
# ```
# y[n, o, i, j] = sum_k alpha[k, i, j] * (x ⋆ B_k)[n, o, i, j] + bias[o] + sbias[i, j]
# ```
#
# (`⋆` is tutorial 01's convolution, `bias (C_out,)` a bias per channel as in a convolution,
# and `sbias (H_out, W_out)` a *spatial* bias, one number per output position; with the
# paper's `"row_col"` combining it is `sbias[i, j] = row_bias[i] + col_bias[j]`, section 7.)
#
# `alpha` is not a free parameter: it comes from *logits*, normalised over K at each
# position. How the logits vary over positions is the `combining` mode:
#
# | combining | logit parameters | logits[k, i, j] |
# |---|---|---|
# | `"row_col"` (paper) | `row_logits (K, H_out)`, `col_logits (K, W_out)` | `row_logits[k, i] + col_logits[k, j]` |
# | `"row"` | `row_logits (K, H_out)` | `row_logits[k, i]` |
# | `"col"` | `col_logits (K, W_out)` | `col_logits[k, j]` |
# | `"full"` | `logits (K, H_out, W_out)` | `logits[k, i, j]` |
#
# `init="random"` draws standard-normal logits so that the patterns are visible; the
# default, `init="conv"`, is section 8.

# %%
K = 3
layers = {c: LowRankLocallyConnected2D(2, 3, kernel_size=(3, 2), input_size=(6, 5), rank=K,
                                       combining=c, init="random", rng=rng, dtype=f64)
          for c in ("row_col", "row", "col", "full")}
for c, layer in layers.items():
    shapes = ", ".join(f"{name} {p.shape}" for name, p in layer.params.items())
    print(f"{c:8s} {shapes}")
    assert layer.combining_weights().shape == (K, 4, 4)       # alpha (K, H_out, W_out)

alpha_row = layers["row"].combining_weights()
alpha_col = layers["col"].combining_weights()
assert np.allclose(alpha_row, alpha_row[:, :, :1])   # "row": the same in every column
assert np.allclose(alpha_col, alpha_col[:, :1, :])   # "col": the same in every row
show("alpha of basis 0, combining='row'", alpha_row[0])

# row_col: logits are row + column parts (teaching version, checked against the layer).
p = layers["row_col"].params
logits_rc = p["row_logits"][:, :, None] + p["col_logits"][:, None, :]   # (K, H_out, W_out)
alpha_rc, _ = combining_weights_forward(logits_rc, "softmax")
assert np.allclose(alpha_rc, layers["row_col"].combining_weights())
show("alpha of basis 0, combining='row_col'", alpha_rc[0])

# %% [markdown]
# ## 5. Normalising the logits over K
#
# At each position the K logits become K weights:
#
# - `"softmax"` (default): `alpha = exp(l) / sum_k exp(l_k)`: positive, and summing to 1 over
#   K, so each position's kernel is a weighted average of the bases;
# - `"norm"`: `alpha = l / ||l||_2`: unit L2 norm over K, signs allowed;
# - `"none"`: `alpha = l`.

# %%
alphas, logits = {}, {}
for normalize in ("softmax", "norm", "none"):
    layer = LowRankLocallyConnected2D(2, 3, kernel_size=(3, 2), input_size=(6, 5), rank=K,
                                      combining="full", normalize=normalize, init="random",
                                      rng=np.random.default_rng(1), dtype=f64)
    alphas[normalize] = layer.combining_weights()          # (K, H_out, W_out)
    logits[normalize] = layer.params["logits"]             # (K, H_out, W_out)
    print(f"{normalize:8s} alpha[:, 0, 0] = {np.round(alphas[normalize][:, 0, 0], 3)}")

assert np.allclose(alphas["softmax"].sum(axis=0), 1.0)                  # sums to 1 at every (i, j)
assert np.all(alphas["softmax"] > 0)
assert np.allclose(np.sqrt((alphas["norm"] ** 2).sum(axis=0)), 1.0)    # unit L2 norm at every (i, j)
assert np.allclose(logits["softmax"], logits["none"])                   # same seed, same logits
assert np.allclose(alphas["none"], logits["none"])
print("softmax: sum over K = 1;  norm: L2 norm over K = 1;  none: alpha = logits")

# %% [markdown]
# ## 6. Two ways to compute an LRLC layer
#
# Read the formula left to right or right to left:
#
# - `method="conv"`: convolve with all K*C_out basis filters at once,
#   `z (N, K, C_out, H_out, W_out)`, then mix over K at each position. Cost: K convolutions.
# - `method="lc"`: first build the per-position kernels, the *effective weight*
#   `W[i, j] = sum_k alpha[k, i, j] * B_k` `(H_out, W_out, C_out, C_in, kh, kw)`, then run the
#   LC layer once. Cost: about one LC layer, nearly flat in K.
#
# The functional op `lrlc2d_forward(x, bases, alpha, stride, padding, method)` offers both
# (the layer picks with `method="auto"`); both must equal the loop definition
# `reference.lrlc2d`. Stride and padding here: (2, 1) and 1, so `x (2, 2, 6, 5)` gives
# `H_out, W_out = 3, 6`.

# %%
bases = rng.standard_normal((K, 3, 2, 3, 2))                              # (K, C_out, C_in, kh, kw)
alpha, _ = combining_weights_forward(rng.standard_normal((K, 3, 6)), "softmax")  # (K, H_out, W_out)
stride, padding = (2, 1), (1, 1)

# The conv route, written out (teaching version, checked in the next cell):
z, _ = conv2d_forward(x, bases.reshape(K * 3, 2, 3, 2), None, stride, padding)  # (N, K*C_out, 3, 6)
z = z.reshape(2, K, 3, 3, 6)                                              # (N, K, C_out, H_out, W_out)
y_conv_route = (alpha[None, :, None] * z).sum(axis=1)                    # (N, C_out, H_out, W_out)
# The lc route, written out:
w_eff = effective_weight(bases, alpha)                                    # (3, 6, 3, 2, 3, 2)
y_lc_route, _ = locally_connected2d_forward(x, w_eff, None, stride, padding)

# %%
y_by_conv, _ = lrlc2d_forward(x, bases, alpha, stride, padding, method="conv")
y_by_lc, _ = lrlc2d_forward(x, bases, alpha, stride, padding, method="lc")
y_ref = reference.lrlc2d(x, bases, alpha, stride, padding)
print("y", y_ref.shape, " max |conv route - lc route| =", np.abs(y_by_conv - y_by_lc).max())
assert np.allclose(y_conv_route, y_by_conv) and np.allclose(y_lc_route, y_by_lc)
assert np.allclose(y_by_conv, y_ref) and np.allclose(y_by_lc, y_ref)
# effective_weight, entry by entry: W[i, j] = sum_k alpha[k, i, j] B_k
assert np.allclose(w_eff[2, 5], sum(alpha[k, 2, 5] * bases[k] for k in range(K)))

# %% [markdown]
# ### The LRLC layer as a picture
#
# One input and one output channel and 3x3 kernels make the kernels small images. Take three
# bases that are easy to tell apart (a vertical, a horizontal and a diagonal edge) and
# row + column logits that change smoothly over a 6x6 output: each position's kernel is its
# own blend of the three. The bases and alpha maps on the left give every kernel on the right.

# %%
pic = LowRankLocallyConnected2D(1, 1, 3, input_size=8, rank=3, bias=False, spatial_bias=False,
                                rng=rng, dtype=f64)
edge = np.array([[1.0, 0.0, -1.0]] * 3)
pic.params["bases"][:, 0, 0] = [edge, edge.T, [[0.0, 1.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, -1.0, 0.0]]]
pic.params["row_logits"][...] = [np.zeros(6), np.linspace(-3, 3, 6), np.linspace(1.5, -1.5, 6)]
pic.params["col_logits"][...] = [np.linspace(3, -3, 6), np.zeros(6), np.zeros(6)]
alpha_pic, w_pic = pic.combining_weights(), pic.effective_weight()     # (3, 6, 6), (6, 6, 1, 1, 3, 3)
assert np.allclose(w_pic[..., 0, 0, :, :], np.einsum("kij,kpq->ijpq", alpha_pic, pic.params["bases"][:, 0, 0]))
figures.show(figures.lrlc_layer(pic.params["bases"][:, 0, 0], alpha_pic, w_pic[:, :, 0, 0]), "tutorial03_lrlc_layer")

# %% [markdown]
# ### The three layers side by side
#
# The same picture for each layer says everything about weight sharing: a convolution
# repeats one kernel at all 36 positions, an LC layer has 36 unrelated kernels, and the LRLC
# layer above has 36 kernels that are all blends of the same three.

# %%
conv_pic = Conv2D(1, 1, 3, bias=False, rng=rng, dtype=f64)
lc_pic = LocallyConnected2D(1, 1, 3, input_size=8, bias=False, rng=rng, dtype=f64)
tiled = np.broadcast_to(conv_pic.params["weight"][0, 0], (6, 6, 3, 3))       # the one kernel, everywhere
figures.show(figures.weight_sharing(
    [tiled, lc_pic.params["weight"][:, :, 0, 0], w_pic[:, :, 0, 0]],
    ["convolution: one kernel, shared", "LC: a free kernel per position", "LRLC K=3: blends of 3 bases"],
    "The kernel each output position (i, j) uses, for a 3x3 layer on an 8x8 input"), "tutorial03_weight_sharing")

# %% [markdown]
# ## 7. LRLC is an LC layer with rank-K kernels
#
# So an LRLC layer equals the LC layer whose weight is `layer.effective_weight()` and
# whose bias at `(o, i, j)` is `bias[o] + sbias[i, j]`. Give the layer random biases so
# that they matter.

# %%
lrlc = layers["row_col"]                                        # K=3, random logits
lrlc.params["bias"][:] = rng.standard_normal(3)
lrlc.params["row_bias"][:] = rng.standard_normal(4)
lrlc.params["col_bias"][:] = rng.standard_normal(4)
lc_equiv = LocallyConnected2D(2, 3, kernel_size=(3, 2), input_size=(6, 5), rng=rng, dtype=f64)
lc_equiv.params["weight"][:] = lrlc.effective_weight()           # (4, 4, 3, 2, 3, 2)
sbias = lrlc.params["row_bias"][:, None] + lrlc.params["col_bias"][None, :]   # (H_out, W_out)
lc_equiv.params["bias"][:] = lrlc.params["bias"][:, None, None] + sbias
assert np.allclose(lrlc(x), lc_equiv(x))
print("LRLC == LC built from effective_weight() and the summed biases")

# The same holds between combining modes: row_col is "full" with the summed logits and biases.
full = layers["full"]
full.params["bases"][:] = lrlc.params["bases"]
full.params["logits"][:] = lrlc.params["row_logits"][:, :, None] + lrlc.params["col_logits"][:, None, :]
full.params["bias"][:] = lrlc.params["bias"]
full.params["spatial_bias"][:] = sbias
assert np.allclose(full(x), lrlc(x))
print("row_col == full with logits row_logits[k, i] + col_logits[k, j]")

# %% [markdown]
# ## 8. `init="conv"`: the layer starts out as a convolution
#
# By default all logits start equal, so every position gets the same weights
# (`alpha = 1/K` with softmax, `1/sqrt(K)` with norm and none) and the same effective kernel.
# Training then only has to learn *where* to deviate from a convolution.

# %%
for normalize, value in [("softmax", 1 / K), ("norm", 1 / np.sqrt(K)), ("none", 1 / np.sqrt(K))]:
    layer = LowRankLocallyConnected2D(2, 3, kernel_size=(3, 2), input_size=(6, 5), rank=K,
                                      normalize=normalize, rng=rng, dtype=f64)   # init="conv"
    assert np.allclose(layer.combining_weights(), value)
    w_eff = layer.effective_weight()                           # (4, 4, 3, 2, 3, 2)
    assert np.allclose(w_eff, w_eff[0, 0])                     # the same kernel everywhere
    conv_equiv = Conv2D(2, 3, kernel_size=(3, 2), rng=rng, dtype=f64)
    conv_equiv.params["weight"][:] = w_eff[0, 0]
    assert np.allclose(layer(x), conv_equiv(x))                # biases all start at zero
    print(f"init='conv', {normalize:8s}: alpha = {value:.4f} everywhere, layer == Conv2D")

# %% [markdown]
# ## 9. Rank 1 with softmax: a convolution plus a spatial bias
#
# With K = 1, softmax over a single logit is always 1, whatever the logit: the combining
# weights cannot vary, and the layer is a convolution with the single basis plus its
# biases, `bias[o] + sbias[i, j]`. (Its K*(22 + 22) logits in the paper's layer are dead
# weight.) The spatial bias is all that is left of position dependence.

# %%
k1 = LowRankLocallyConnected2D(2, 3, kernel_size=(3, 2), input_size=(6, 5), rank=1,
                               init="random", rng=rng, dtype=f64)
k1.params["bias"][:] = rng.standard_normal(3)
k1.params["row_bias"][:] = rng.standard_normal(4)
k1.params["col_bias"][:] = rng.standard_normal(4)
assert np.allclose(k1.combining_weights(), 1.0)
y_conv, _ = conv2d_forward(x, k1.params["bases"][0], k1.params["bias"])   # (2, 3, 4, 4)
sbias_k1 = k1.params["row_bias"][:, None] + k1.params["col_bias"][None, :]  # (4, 4)
assert np.allclose(k1(x), y_conv + sbias_k1)
print("K=1, softmax: LRLC == conv(x, bases[0]) + bias + spatial bias")

# %% [markdown]
# ## 10. Check your understanding
#
# Answer in the next cell (replace each `None`), then run the checking cell.
#
# 1. `lc_weights`: an LC layer from 1 to 8 channels with a 3x3 kernel on 10x10 inputs, no
#    padding, no bias. How many weights?
# 2. `lrlc_weights`: the LRLC layer of the same shape, rank 2, `combining="row_col"`, without
#    biases. How many parameters?
# 3. `softmax_sum`: with `normalize="softmax"`, what do the combining weights of one position
#    add up to?
# 4. `rank_one`: an LRLC layer of rank 1 with softmax is (a) an LC layer; (b) a convolution
#    plus a spatial bias; (c) a dense layer
# 5. `flat_in_k`: which route's cost stays nearly flat as K grows? (a) "conv"; (b) "lc"

# %%
answers = {
    "lc_weights": None,
    "lrlc_weights": None,
    "softmax_sum": None,
    "rank_one": None,
    "flat_in_k": None,
}

# %%
understanding.check("local_connectivity", answers)

# %% [markdown]
# ## Exercises
#
# 1. Write the LC forward pass as one `einsum` over the im2col patches of section 1
#    (`patches (N, H_out, W_out, R)` and the weight as `(H_out, W_out, C_out, R)`), and
#    check it against `locally_connected2d_forward` with stride (2, 1) and padding 1.
# 2. Derive the LC layer's weight gradient: `dweight[i, j]` is the weight gradient of a
#    dense layer at one position. Write it as an `einsum` and check it against
#    `locally_connected2d_backward`.
# 3. For the paper's layer (64 -> 64, 3x3, 24x24 input), at which rank K does an LRLC layer
#    with `combining="full"` have as many parameters as the LC layer? And with "row_col"?
# 4. With `normalize="norm"` and `init="conv"`, alpha is `1/sqrt(K)` everywhere (section 8).
#    Show that the layer is then a convolution with `sum_k B_k / sqrt(K)`, and say how that
#    differs from softmax's `mean of the bases`.
# 5. Time `lrlc2d_forward` by both routes for K = 1, 2, 4, 8 at the paper's layer with batch
#    8 (`time.perf_counter`). Where do they cross? Compare with `lrlc bench`.
#
# **Check your own code.** In a student copy, once you have written the exercises, run
# `pytest tests/test_ops_reference.py tests/test_ops_gradients.py -k "locally_connected or combining or lrlc"`;
# your teacher grades them with `lrlc course grade`.
#
# Next: tutorial 04 derives the LRLC layer's backward pass, step by step, and checks it
# against the library.
