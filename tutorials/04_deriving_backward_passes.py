# %% [markdown]
# # 04 — Backward passes derived: the LRLC layer and batch norm
#
# Run top to bottom with `python tutorials/04_deriving_backward_passes.py` (a few seconds),
# cell by cell, or as a notebook. It builds on tutorials 01 (the convolution's backward pass),
# 02 (gradient checks) and 03 (the LRLC layer's forward pass).
#
# Tutorial 01 derived the convolution's backward pass. This one derives the two others the
# paper's network needs, one step at a time, and ends every step with code that checks the
# derivation against the library:
#
# 1. the LRLC layer's forward pass as a chain of four simple steps;
# 2. backward through the mixing `y = sum_k alpha_k z_k`: `dalpha` and `dz`;
# 3. backward through the K convolutions: `dx` and `dbases` (and the same by the "lc" route);
# 4. backward through the softmax over K;
# 5. backward through the row + column logits (and the biases);
# 6. the whole layer, against `LowRankLocallyConnected2D.backward` and finite differences;
# 7. batch norm's forward pass;
# 8. batch norm's backward pass in training mode, step by step, then simplified;
# 9. batch norm in evaluation mode;
# 10. questions to check your understanding, and exercises.
#
# **In a course** this tutorial prepares for the `lrlc course` exercises
# `combining_weights_backward` (`lrlc_np/ops/combining.py`), `lrlc2d_backward`
# (`ops/lrlc.py`) and `batchnorm2d_backward` (`ops/normalization.py`): together 7 of the
# 20 points. In a student copy it runs before you have written them (the first cell puts
# loop definitions in their place and says so), so you can read the derivation first.
#
# Everything runs on the clear tier (`lrlc_np.set_ops("clear")` below): the layer's backward
# pass calls the very functions of `lrlc_np.ops` derived here. `lrlc_np.set_ops("fast")`
# would switch the layers to the tuned tier.

# %%
from lrlc_np import stand_ins

stand_ins.for_unwritten_exercises()     # a student copy: loop definitions stand in for unwritten exercises

import numpy as np

import lrlc_np
from lrlc_np import figures, understanding
from lrlc_np.gradcheck import TOLERANCE, check_layer, numerical_gradient, relative_error
from lrlc_np.layers import LowRankLocallyConnected2D
from lrlc_np.ops import (batchnorm2d_backward, batchnorm2d_forward, combining_weights_backward,
                         combining_weights_forward, conv2d_backward, conv2d_forward, effective_weight,
                         locally_connected2d_backward, locally_connected2d_forward, lrlc2d_backward, lrlc2d_forward, row_col_sum_backward, row_col_sum_forward)

lrlc_np.set_ops("clear")
rng = np.random.default_rng(0)
f64 = np.float64


def agree(name, mine, library):
    """Assert that a derived gradient equals the library's, and say so with the figure."""
    err = relative_error(mine, library)
    print(f"{name:<42} relative error {err:.1e}")
    assert err < 1e-12, (name, err)


# %% [markdown]
# ## 1. The forward pass as a chain
#
# The paper's layer (`combining="row_col"`, `normalize="softmax"`) is four steps, each simple
# on its own (letters as in `lrlc_np.ops`):
#
# ```
# logits[k, i, j]   = row_logits[k, i] + col_logits[k, j]           row_col_sum_forward
# alpha[k, i, j]    = exp(logits[k, i, j]) / sum_m exp(logits[m, i, j])   combining_weights_forward
# z[n, k, o, i, j]  = (x ⋆ B_k)[n, o, i, j]                          one convolution with K*C_out filters
# y[n, o, i, j]     = sum_k alpha[k, i, j] z[n, k, o, i, j]  + bias[o] + sbias[i, j]
# ```
#
# with `sbias[i, j] = row_bias[i] + col_bias[j]`. The backward pass runs the chain in
# reverse: each step receives the gradient of the loss with respect to its output and hands
# back the gradients with respect to its inputs (the chain rule, one link at a time). A
# non-square case with stride and padding: `x (2, 3, 7, 6)`, C_out = 4, K = 3, a 3x2 kernel,
# stride (2, 1), padding 1, so `H_out, W_out = 4, 7`. Random logits and biases, so that
# every part of the backward pass has something to do.

# %%
N, C_IN, C_OUT, K = 2, 3, 4, 3
layer = LowRankLocallyConnected2D(C_IN, C_OUT, kernel_size=(3, 2), input_size=(7, 6), rank=K, stride=(2, 1),
                                  padding=1, init="random", method="conv", rng=rng, dtype=f64)
for name in ("bias", "row_bias", "col_bias"):
    layer.params[name][:] = rng.standard_normal(layer.params[name].shape)
p = layer.params
x = rng.standard_normal((N, C_IN, 7, 6))                                  # (N, C_in, H, W)
H_OUT, W_OUT = layer.output_size

logits, logits_cache = row_col_sum_forward(p["row_logits"], p["col_logits"], (H_OUT, W_OUT))  # (K, H_out, W_out)
alpha, alpha_cache = combining_weights_forward(logits, "softmax")          # (K, H_out, W_out)
z, conv_cache = conv2d_forward(x, p["bases"].reshape(K * C_OUT, C_IN, 3, 2), None, (2, 1), 1)
z = z.reshape(N, K, C_OUT, H_OUT, W_OUT)                                  # z[n, k] = x ⋆ B_k
sbias = p["row_bias"][:, None] + p["col_bias"][None, :]                   # (H_out, W_out)
y = np.einsum("kij,nkoij->noij", alpha, z) + p["bias"][:, None, None] + sbias
print("x", x.shape, "-> logits", logits.shape, "-> alpha", alpha.shape, "; z", z.shape, "-> y", y.shape)
assert np.allclose(y, layer(x))
print("the chain == LowRankLocallyConnected2D.forward")

dy = rng.standard_normal(y.shape)                                         # the upstream gradient dL/dy
layer.backward(dy)                                                        # the library's gradients, in layer.grads

# %% [markdown]
# ## 2. Through the mixing: `dalpha` and `dz`
#
# `y[n, o, i, j] = sum_k alpha[k, i, j] z[n, k, o, i, j]` is a product at every position. By
# the product rule, `dy[n, o, i, j] / dalpha[k, i, j] = z[n, k, o, i, j]`, and one
# `alpha[k, i, j]` takes part in the outputs of *every* example n and channel o at (i, j), so
# its gradient collects all of them:
#
# ```
# dalpha[k, i, j]   = sum_n sum_o dy[n, o, i, j] * z[n, k, o, i, j]
# dz[n, k, o, i, j] = alpha[k, i, j] * dy[n, o, i, j]
# ```
#
# (With per-example alpha, `(N, K, H_out, W_out)` as in tutorial 06, there is no sum over n:
# each example's alpha meets only its own outputs.) `lrlc2d_backward` returns dalpha; the
# library computes it by the "conv" route exactly like this.

# %%
dalpha = np.einsum("noij,nkoij->kij", dy, z)                              # (K, H_out, W_out)
dz = alpha[None, :, None] * dy[:, None]                                   # (N, K, C_out, H_out, W_out)
lrlc_cache = lrlc2d_forward(x, p["bases"], alpha, (2, 1), 1, method="conv")[1]
dx_lib, dbases_lib, dalpha_lib = lrlc2d_backward(dy, lrlc_cache)
agree("dalpha = sum_n,o dy * z_k", dalpha, dalpha_lib)

# %% [markdown]
# ## 3. Through the convolutions: `dbases` and `dx`
#
# `z[:, k] = x ⋆ B_k` is an ordinary convolution, and tutorial 01 derived its backward pass:
# given the gradient of its output, `dW = dY^T X` and `dx = col2im(dY W)`. The gradient of
# `z[:, k]` is `dz[:, k] = alpha_k * dy`, so
#
# ```
# dbases[k] = the convolution weight gradient of (alpha_k * dy) with x
# dx        = sum_k the convolution input gradient of (alpha_k * dy) with B_k
# ```
#
# x feeds all K convolutions, so its gradient is the sum of the K input gradients. One
# convolution with all K*C_out filters does all K at once, which is what the library does;
# the loop over k below is the formula, one basis at a time.

# %%
dbases = np.zeros_like(p["bases"])                                        # (K, C_out, C_in, kh, kw)
dx = np.zeros_like(x)
for k in range(K):
    _, cache_k = conv2d_forward(x, p["bases"][k], None, (2, 1), 1)         # z_k = x ⋆ B_k
    dx_k, dbases[k], _ = conv2d_backward(alpha[k] * dy, cache_k)          # dz_k = alpha_k * dy
    dx += dx_k
agree("dbases[k] = conv dW of alpha_k * dy", dbases, dbases_lib)
agree("dx = sum_k conv dx of alpha_k * dy", dx, dx_lib)
agree("the same in one convolution", conv2d_backward(dz.reshape(N, K * C_OUT, H_OUT, W_OUT), conv_cache)[0],
      dx_lib)

# %% [markdown]
# ### The same gradients by the "lc" route
#
# Tutorial 03 computed the layer a second way, as the LC layer of the effective weight
# `W[i, j] = sum_k alpha[k, i, j] B_k`. Its backward pass starts from the LC layer's weight
# gradient `dW[i, j]` (`locally_connected2d_backward`) and goes back through that sum, which
# is again a product:
#
# ```
# dbases[k]       = sum_{i, j} alpha[k, i, j] * dW[i, j]
# dalpha[k, i, j] = <dW[i, j], B_k>      (summed over o, c, p, q)
# ```
#
# Both routes compute the same function, so they must give the same gradients.

# %%
_, lc_only = locally_connected2d_forward(x, effective_weight(p["bases"], alpha), None, (2, 1), 1)
dW = locally_connected2d_backward(dy, lc_only)[1]                         # (H_out, W_out, C_out, C_in, kh, kw)
lc_cache = lrlc2d_forward(x, p["bases"], alpha, (2, 1), 1, method="lc")[1]
agree("lc route: dbases = sum_ij alpha dW", np.einsum("kij,ijocpq->kocpq", alpha, dW), dbases_lib)
agree("lc route: dalpha = <dW[i, j], B_k>", np.einsum("ijocpq,kocpq->kij", dW, p["bases"]), dalpha_lib)
agree("lc route: dx", lrlc2d_backward(dy, lc_cache)[0], dx_lib)

# %% [markdown]
# ## 4. Through the softmax over K
#
# At one position, `alpha_k = exp(l_k) / S` with `S = sum_m exp(l_m)`. Differentiate with the
# quotient rule: for j = k, `(exp(l_k) S - exp(l_k) exp(l_k)) / S^2 = alpha_k - alpha_k^2`; for
# j != k, `-exp(l_k) exp(l_j) / S^2 = -alpha_k alpha_j`. Both at once:
#
# ```
# d alpha_k / d l_j = alpha_k (delta_kj - alpha_j)          the Jacobian, K x K at each position
# dl_j = sum_k dalpha_k alpha_k (delta_kj - alpha_j) = alpha_j (dalpha_j - sum_k dalpha_k alpha_k)
# ```
#
# The last form never builds the K x K Jacobian: one inner product `<dalpha, alpha>` per
# position, subtracted, times alpha. First the Jacobian at one position, built from the
# formula and measured by finite differences; then the short form everywhere, against
# `combining_weights_backward`.

# %%
i0, j0 = 2, 5
a0 = alpha[:, i0, j0]                                                     # (K,)
jacobian = np.diag(a0) - np.outer(a0, a0)                                 # alpha_k (delta_kj - alpha_j)
measured = np.zeros((K, K))
for j in range(K):                                                        # column j: nudge logit j
    step = np.zeros_like(logits)
    step[j, i0, j0] = 1e-6
    up, down = combining_weights_forward(logits + step, "softmax")[0], combining_weights_forward(logits - step, "softmax")[0]
    measured[:, j] = (up - down)[:, i0, j0] / 2e-6
print(f"Jacobian at position ({i0}, {j0}):\n{np.round(jacobian, 4)}")
print(f"largest difference from finite differences: {np.abs(jacobian - measured).max():.1e}")
assert np.allclose(jacobian, measured, atol=1e-8)

dlogits = alpha * (dalpha - (dalpha * alpha).sum(axis=0, keepdims=True))  # (K, H_out, W_out)
agree("dlogits = alpha (dalpha - <dalpha, alpha>)", dlogits, combining_weights_backward(dalpha_lib, alpha_cache))
agree("the Jacobian at one position", jacobian.T @ dalpha[:, i0, j0], dlogits[:, i0, j0])

# Adding one constant to all K logits leaves softmax unchanged, so dlogits sums to 0 over K:
print(f"largest |sum over K of dlogits|: {np.abs(dlogits.sum(axis=0)).max():.1e}")
assert np.allclose(dlogits.sum(axis=0), 0.0, atol=1e-12)

# %% [markdown]
# ## 5. Through the row + column logits, and the biases
#
# `logits[k, i, j] = row_logits[k, i] + col_logits[k, j]`: `row_logits[k, i]` is added into
# every column j of row i, so its gradient is the sum of the gradients there, and a column
# logit collects its column:
#
# ```
# drow_logits[k, i] = sum_j dlogits[k, i, j]        dcol_logits[k, j] = sum_i dlogits[k, i, j]
# ```
#
# The biases follow the same pattern one step earlier: `bias[o]` is added at every n, i, j, and
# `sbias[i, j] = row_bias[i] + col_bias[j]` at every n and o:
#
# ```
# dbias[o] = sum_{n, i, j} dy[n, o, i, j]      dsbias[i, j] = sum_{n, o} dy[n, o, i, j]
# drow_bias[i] = sum_j dsbias[i, j]            dcol_bias[j] = sum_i dsbias[i, j]
# ```

# %%
drow, dcol = dlogits.sum(axis=2), dlogits.sum(axis=1)                     # (K, H_out), (K, W_out)
lib_drow, lib_dcol = row_col_sum_backward(dlogits, logits_cache)
agree("drow_logits = row sums of dlogits", drow, lib_drow)
agree("dcol_logits = column sums of dlogits", dcol, lib_dcol)
figures.show(figures.row_col_sum(dlogits, drow, dcol), "tutorial04_row_col_sums")

dbias = dy.sum(axis=(0, 2, 3))                                            # (C_out,)
dsbias = dy.sum(axis=(0, 1))                                              # (H_out, W_out)
drow_bias, dcol_bias = dsbias.sum(axis=1), dsbias.sum(axis=0)

# %% [markdown]
# ## 6. The whole layer
#
# Sections 2 to 5 give every gradient of the layer. They must equal what
# `LowRankLocallyConnected2D.backward` wrote into `layer.grads` (it calls `lrlc2d_backward`,
# `combining_weights_backward` and `row_col_sum_backward` in this order), and what finite
# differences measure (`check_layer`, tutorial 02), by both routes.

# %%
derived = {"bases": dbases, "row_logits": drow, "col_logits": dcol, "bias": dbias,
           "row_bias": drow_bias, "col_bias": dcol_bias}
assert set(derived) == set(layer.grads)
for name, grad in derived.items():
    agree(f"layer.grads[{name!r}]", grad, layer.grads[name])
agree("dx from layer.backward", dx, layer.backward(dy))

for method in ("conv", "lc"):
    fresh = LowRankLocallyConnected2D(C_IN, C_OUT, kernel_size=(3, 2), input_size=(7, 6), rank=K, stride=(2, 1),
                                      padding=1, init="random", method=method, rng=rng, dtype=f64)
    for name in ("bias", "row_bias", "col_bias"):
        fresh.params[name][:] = rng.standard_normal(fresh.params[name].shape)
    errors = check_layer(fresh, x, rng=rng)
    print(f"finite differences, method={method!r}: " + ", ".join(f"{k} {v:.0e}" for k, v in errors.items()))
    assert set(errors) == {"x", *fresh.params} and all(err <= TOLERANCE for err in errors.values()), errors

# %% [markdown]
# ## 7. Batch norm's forward pass
#
# The paper's network follows every 3x3 layer with batch norm. Per channel c, over its
# `M = N*H*W` values (all examples, all positions):
#
# ```
# mu = mean(x)        var = mean((x - mu)^2)        s = 1 / sqrt(var + eps)
# xhat = (x - mu) * s                                y = gamma * xhat + beta
# ```
#
# (`gamma` and `beta` are the layer's `weight` and `bias`.) In training mode mu and var are
# the batch's own, so they depend on x; in evaluation mode they are the running averages
# (tutorial 05), constants. A small batch, `x (4, 3, 5, 6)`, with a scale and shift that are
# not 1 and 0.

# %%
eps = 1e-5
xb = 2.0 + 3.0 * rng.standard_normal((4, 3, 5, 6))                         # (N, C, H, W)
gamma, beta = rng.standard_normal(3), rng.standard_normal(3)              # (C,)
mu = xb.mean(axis=(0, 2, 3), keepdims=True)                               # (1, C, 1, 1)
var = ((xb - mu) ** 2).mean(axis=(0, 2, 3), keepdims=True)
s = 1 / np.sqrt(var + eps)
xhat = (xb - mu) * s
yb = gamma[:, None, None] * xhat + beta[:, None, None]
yb_lib, bn_cache = batchnorm2d_forward(xb, gamma, beta, np.zeros(3), np.ones(3), training=True, eps=eps)
assert np.allclose(yb, yb_lib)
M = xb.shape[0] * xb.shape[2] * xb.shape[3]
print(f"M = {M} values per channel; xhat has mean {np.abs(xhat.mean(axis=(0, 2, 3))).max():.0e} "
      f"and variance {xhat.var(axis=(0, 2, 3)).round(4)} per channel")

# %% [markdown]
# ## 8. Batch norm's backward pass in training mode
#
# **The easy part.** `y = gamma * xhat + beta`, so (sums over n, i, j of one channel)
#
# ```
# dbeta = sum dy          dgamma = sum dy * xhat          dxhat = gamma * dy
# ```
#
# **The hard part** is `xhat = (x - mu) * s`, because x reaches xhat by three paths: directly,
# through mu, and through var (in s). Follow each backwards, as a graph:
#
# ```
# ds   = sum dxhat * (x - mu)                      xhat depends on s through its product
# dvar = ds * (-1/2) (var + eps)^(-3/2)           s = (var + eps)^(-1/2)
# dmu  = -s * sum dxhat  +  dvar * (-2/M) sum (x - mu)      the second sum is 0
# dx   = dxhat * s  +  dvar * 2 (x - mu) / M  +  dmu / M      direct, via var, via mu
# ```
#
# **Simplified.** Put `x - mu = xhat / s` into the last line. The var path becomes
# `-s * xhat * mean(dxhat * xhat)` and the mu path `-s * mean(dxhat)`, so
#
# ```
# dx = s * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
#    = gamma * s * (dy - mean(dy) - xhat * mean(dy * xhat))
# ```
#
# This is the formula in the docstring of `lrlc_np.ops.batchnorm2d_backward`, with
# `mean(dy) = dbeta / M` and `mean(dy * xhat) = dgamma / M`. Both forms, against the library:

# %%
# A random upstream gradient, given a clear mean and slope along xhat so that the figure below shows them
dyb = rng.standard_normal(xb.shape) + 1.0 + 0.5 * xhat
axes = (0, 2, 3)
dbeta = dyb.sum(axis=axes)
dgamma = (dyb * xhat).sum(axis=axes)
dxhat = gamma[:, None, None] * dyb
# the graph, path by path
ds = (dxhat * (xb - mu)).sum(axis=axes, keepdims=True)
dvar = ds * -0.5 * (var + eps) ** -1.5
dmu = -s * dxhat.sum(axis=axes, keepdims=True) + dvar * (-2 / M) * (xb - mu).sum(axis=axes, keepdims=True)
dx_graph = dxhat * s + dvar * 2 * (xb - mu) / M + dmu / M
# simplified
dx_short = gamma[:, None, None] * s * (dyb - dyb.mean(axis=axes, keepdims=True)
                                       - xhat * (dyb * xhat).mean(axis=axes, keepdims=True))

dx_bn, dgamma_lib, dbeta_lib = batchnorm2d_backward(dyb, bn_cache)
agree("dbeta = sum dy", dbeta, dbeta_lib)
agree("dgamma = sum dy * xhat", dgamma, dgamma_lib)
agree("dx, path by path", dx_graph, dx_bn)
agree("dx, simplified", dx_short, dx_bn)


def bn_of(v):
    return batchnorm2d_forward(v, gamma, beta, np.zeros(3), np.ones(3), training=True, eps=eps)[0]


err = relative_error(dx_bn, numerical_gradient(bn_of, xb.copy(), dyb))
print(f"dx against finite differences: relative error {err:.1e} (pass mark {TOLERANCE:.0e})")
assert err <= TOLERANCE

# %% [markdown]
# **What the two means do.** Within a channel, dx is dy (scaled) with its mean and its
# component along xhat taken out: shifting all of a channel's inputs by one constant, or
# stretching them about their mean, changes nothing after normalisation, so the gradient can
# have no component in those two directions. So dx sums to 0 over each channel, and is
# orthogonal to xhat, up to eps: xhat's variance is `var / (var + eps)`, a hair under 1, and
# `sum dx * xhat` is then exactly `s * sum(dxhat * xhat) * eps / (var + eps)` (0 if eps were
# 0). The figure shows one channel: dy has some mean and some slope along xhat (the red
# line); dx has neither.

# %%
along_xhat = (dx_bn * xhat).sum(axis=axes)
left_by_eps = (s * (dxhat * xhat).sum(axis=axes, keepdims=True) * eps / (var + eps)).ravel()
print(f"largest |sum of dx| over a channel:        {np.abs(dx_bn.sum(axis=axes)).max():.1e}")
print(f"sum of dx * xhat per channel:              {along_xhat}")
print(f"s * sum(dxhat * xhat) * eps / (var + eps): {left_by_eps}")
assert np.allclose(dx_bn.sum(axis=axes), 0, atol=1e-10)
assert np.allclose(along_xhat, left_by_eps, rtol=1e-6, atol=1e-14)
figures.show(figures.batchnorm_gradient(xhat, dyb, dx_bn), "tutorial04_batchnorm_gradient")

# %% [markdown]
# ## 9. Evaluation mode
#
# With the running statistics, mu and var are constants, so batch norm is an affine map of x
# and only the direct path is left: `dx = gamma * s * dy`, with s from the running variance.

# %%
running_mean, running_var = rng.standard_normal(3), 1 + rng.random(3)
_, eval_cache = batchnorm2d_forward(xb, gamma, beta, running_mean, running_var, training=False, eps=eps)
dx_eval = batchnorm2d_backward(dyb, eval_cache)[0]
agree("evaluation: dx = gamma s dy", gamma[:, None, None] / np.sqrt(running_var + eps)[:, None, None] * dyb, dx_eval)

# %% [markdown]
# ## 10. Check your understanding
#
# Answer in the next cell (replace each `None`), then run the checking cell.
#
# 1. `dalpha_shape`: `x (2, 3, 6, 5)`, bases `(4, 5, 3, 3, 3)`, alpha shared by the batch, no
#    padding, stride 1. What is the shape of dalpha?
# 2. `softmax_derivative`: with K = 2 and `alpha = (0.25, 0.75)` at a position, what is
#    `d alpha_1 / d l_1`?
# 3. `row_sum`: at a 4 x 3 output (H_out x W_out), dlogits is 1 everywhere. What is each
#    entry of `drow_logits`?
# 4. `bn_sum`: in training mode, what does dx sum to over one channel's values?
# 5. `bn_eval`: in evaluation mode, dx is (a) `gamma * s * dy`; (b) `gamma * s * (dy - mean(dy))`;
#    (c) `gamma * s * (dy - mean(dy) - xhat * mean(dy * xhat))`

# %%
answers = {
    "dalpha_shape": None,
    "softmax_derivative": None,
    "row_sum": None,
    "bn_sum": None,
    "bn_eval": None,
}

# %%
understanding.check("backward_passes", answers)

# %% [markdown]
# ## Exercises
#
# 1. Derive the backward pass of `normalize="norm"`, `alpha = l / ||l||`: show that
#    `dl = (dalpha - alpha <dalpha, alpha>) / ||l||`, and check it against
#    `combining_weights_backward` as in section 4. Why does the clamped norm need a case of
#    its own?
# 2. With per-example alpha `(N, K, H_out, W_out)`, write dalpha without the sum over n and
#    check it against `lrlc2d_backward` (section 2).
# 3. Derive the backward pass of `combining="row"` (one logit per row only) from section 5,
#    and check it with `check_layer` on a layer built with `combining="row"`.
# 4. Section 8's graph has a term `dvar * (-2/M) * sum(x - mu)` that is 0. Show why, and
#    what would change if batch norm used `var = mean(x^2) - mu^2` in the forward pass.
# 5. Drop the `xhat * mean(dy * xhat)` term from the simplified dx (a mistake that
#    `TEACHING.md` lists) and measure the relative error against finite differences. Which
#    check of section 8 catches it first?
#
# **Check your own code.** In a student copy, once you have written the exercises, run
# `pytest tests/test_ops_gradients.py -k "combining or lrlc2d or batchnorm"`; your teacher
# grades them with `lrlc course grade`.
#
# Next: tutorial 05 trains the paper's network, batch norm and all.
