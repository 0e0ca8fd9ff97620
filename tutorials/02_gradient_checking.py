# %% [markdown]
# # 02 — Gradient checking: trusting a hand-derived backward pass
#
# Run top to bottom with `python tutorials/02_gradient_checking.py` (a few seconds), cell by
# cell, or as a notebook. It builds on tutorial 01 (the convolution and its backward pass).
#
# Every backward pass in `lrlc_np` is derived by hand, so every one can be wrong. This
# tutorial shows how `lrlc_np.gradcheck` catches mistakes, and why it is built the way
# it is:
#
# 1. what a backward pass computes: a vector-Jacobian product;
# 2. centred differences;
# 3. why the upstream gradient must be random (a bug that `dy = ones` hides);
# 4. why float64 and `eps = 1e-6`;
# 5. how to read the error: element-wise ratio vs `relative_error`;
# 6. `check_layer` on a whole layer, and the `lrlc gradcheck` command;
# 7. questions to check your understanding, and exercises.
#
# **In a course** this is the tool for every backward-pass exercise of `lrlc course`
# (`conv2d_backward`, `locally_connected2d_backward`, `combining_weights_backward`,
# `lrlc2d_backward`, `batchnorm2d_backward`, `softmax_cross_entropy_backward`,
# `bilinear_resize_backward`): the tests of a student copy and the grader check each one
# with these functions. In a student copy the tutorial runs before you have written them
# (the first cell puts loop definitions in their place and says so).
#
# The layer of section 6 runs on the clear tier (`lrlc_np.set_ops("clear")` below), so a
# debugger steps into the formulas of `lrlc_np.ops`; `lrlc_np.set_ops("fast")` switches
# every layer to the tuned tier.

# %%
from lrlc_np import stand_ins

stand_ins.for_unwritten_exercises()     # a student copy: loop definitions stand in for unwritten exercises

import numpy as np

import lrlc_np
from lrlc_np import figures, understanding
from lrlc_np.gradcheck import TOLERANCE, check_layer, numerical_gradient, relative_error
from lrlc_np.layers import Conv2D
from lrlc_np.ops import (combining_weights_backward, combining_weights_forward,
                         conv2d_backward, conv2d_forward, relu_backward, relu_forward)

lrlc_np.set_ops("clear")
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. A backward pass is a vector-Jacobian product
#
# A layer maps `x` (n numbers) to `y = f(x)` (m numbers); its derivative is the Jacobian
# `J (m, n)`, `J[a, b] = dy_a / dx_b`. Training needs `dL/dx` for a scalar loss L. The
# chain rule gives `dL/dx = J^T dy` with `dy = dL/dy`, the *upstream gradient* handed down
# by the layer above. That product is all `backward(dy)` computes; it never builds J. (For
# the paper's 64-channel 24x24 -> 22x22 layer J would be far too big to build: its size is
# printed below.)
#
# A tiny convolution is small enough to build J. It is linear in x (no bias), so column b
# of J is simply the output for the unit input `e_b`. Here `x (1, 1, 4, 4)`,
# `weight (2, 1, 2, 2)`, `y (1, 2, 3, 3)`: J is 18 x 16.

# %%
m_paper, n_paper = 64 * 22 * 22, 64 * 24 * 24            # outputs and inputs of one image at the paper's layer
print(f"J at the paper's layer: {m_paper:,} x {n_paper:,} = {m_paper * n_paper / 1e9:.1f} billion numbers")

w_small = rng.standard_normal((2, 1, 2, 2))               # (C_out, C_in, kh, kw)
x_small = rng.standard_normal((1, 1, 4, 4))               # (N, C_in, H, W)


def conv_small(x_):
    return conv2d_forward(x_, w_small)[0]                 # (1, 2, 3, 3)


J = np.zeros((18, 16))
for b in range(16):
    e_b = np.zeros(16)
    e_b[b] = 1.0
    J[:, b] = conv_small(e_b.reshape(1, 1, 4, 4)).ravel()
print("Jacobian J", J.shape, f"({np.count_nonzero(J)} non-zero entries: each output reads 4 pixels)")
assert np.count_nonzero(J) == 18 * 4

_, cache = conv2d_forward(x_small, w_small)
dy_small = rng.standard_normal((1, 2, 3, 3))              # upstream gradient, shaped like y
dx_small = conv2d_backward(dy_small, cache)[0]            # (1, 1, 4, 4)
assert np.allclose(dx_small.ravel(), J.T @ dy_small.ravel())
print("conv2d_backward(dy) == J^T dy")

# %% [markdown]
# ## 2. Centred differences
#
# `J^T dy` is the gradient of the scalar `L(x) = sum(f(x) * dy)`. Its entry b can be
# measured without any calculus: nudge `x_b` up and down by a small `eps` and watch L,
#
# ```
# num[b] = (L(x + eps e_b) - L(x - eps e_b)) / (2 eps)
# ```
#
# The Taylor series shows the error: the one-sided difference `(L(x + eps e_b) - L(x)) / eps`
# is off by about `eps * L''/2`; in the centred one that term cancels and the error is
# about `eps^2 * L'''/6`. `lrlc_np.gradcheck.numerical_gradient(f, x, dy, eps)` does this for
# every entry, at two calls of f per entry: keep x small.

# %%
def L_of(x_):
    return (conv_small(x_) * dy_small).sum()


eps, b = 1e-6, 5                                          # entry 5 is x[0, 0, 1, 1]
e = np.zeros_like(x_small)
e.flat[b] = eps
by_hand = (L_of(x_small + e) - L_of(x_small - e)) / (2 * eps)
num = numerical_gradient(conv_small, x_small.copy(), dy_small)   # (1, 1, 4, 4)
print(f"entry {b}: by hand {by_hand:.10f}, numerical_gradient {num.flat[b]:.10f}, "
      f"backward {dx_small.flat[b]:.10f}")
assert np.isclose(by_hand, num.flat[b]) and np.isclose(num.flat[b], dx_small.flat[b])

# %% [markdown]
# A convolution is linear, so its second derivative is zero and any eps would do. For a
# curved function the difference shows. Take a softmax over the first of three axes,
# `combining_weights_forward(logits, "softmax")` with `logits (K, H_out, W_out) = (4, 5, 6)`
# (tutorial 03 uses it to mix an LRLC layer's K filter banks at every position), and compare
# one-sided and centred differences at the same eps:

# %%
def softmax_k(logits):
    return combining_weights_forward(logits, "softmax")[0]   # normalised over axis 0 (K)


logits = rng.standard_normal((4, 5, 6))                  # (K, H_out, W_out)
dalpha = rng.standard_normal((4, 5, 6))                  # upstream gradient
_, sm_cache = combining_weights_forward(logits, "softmax")
dlogits = combining_weights_backward(dalpha, sm_cache)   # analytic, (4, 5, 6)

L0 = (softmax_k(logits) * dalpha).sum()
one_sided = np.zeros_like(logits)
for b in range(logits.size):                             # teaching loop, one entry at a time
    step = np.zeros_like(logits)
    step.flat[b] = 1e-6
    one_sided.flat[b] = ((softmax_k(logits + step) * dalpha).sum() - L0) / 1e-6
centred = numerical_gradient(softmax_k, logits.copy(), dalpha, eps=1e-6)
err_one, err_centred = relative_error(dlogits, one_sided), relative_error(dlogits, centred)
print(f"one-sided difference: relative error {err_one:.1e}")
print(f"centred difference:   relative error {err_centred:.1e}")
assert err_centred < err_one / 10

# %% [markdown]
# ## 3. Why the upstream gradient must be random
#
# The check compares `J^T dy` with `J^T dy` for *one* dy. If dy is all ones, every
# permutation of dy is all ones too, so a backward pass that scrambles dy cannot be told
# apart from a correct one.
#
# A classic bug: the conv backward pass must flatten `dy (N, C_out, H_out, W_out)` to the
# matrix `dY (M, C_out)` with rows in `(n, i, j)` order, `dy.transpose(0, 2, 3, 1).reshape(M, C_out)`.
# Forget the transpose and write `dy.reshape(M, C_out)`, and the numbers land in the wrong
# rows. The buggy backward below is the library's correct one fed with exactly that
# scrambled dy, so it is wrong in precisely that way.

# %%
def buggy_conv2d_backward(dy, cache):
    n, c_out, h_out, w_out = dy.shape
    # dy.reshape(M, C_out) read as if it were NHWC: what the missing transpose does
    scrambled = dy.reshape(n, h_out, w_out, c_out).transpose(0, 3, 1, 2)
    return conv2d_backward(scrambled, cache)


x = rng.standard_normal((2, 3, 5, 4))                    # (N, C_in, H, W)
w = rng.standard_normal((4, 3, 3, 3))                    # (C_out, C_in, kh, kw)
y, cache = conv2d_forward(x, w, None, 1, 1)              # (2, 4, 5, 4)

print(f"{'upstream dy':<12} {'backward':<8} {'dx error':>9} {'dweight error':>14}")
results = {}
for dy_name, dy in [("ones", np.ones(y.shape)), ("random", rng.standard_normal(y.shape))]:
    num_dx = numerical_gradient(lambda v: conv2d_forward(v, w, None, 1, 1)[0], x.copy(), dy)
    num_dw = numerical_gradient(lambda v: conv2d_forward(x, v, None, 1, 1)[0], w.copy(), dy)
    for bw_name, backward in [("correct", conv2d_backward), ("buggy", buggy_conv2d_backward)]:
        dx, dw, _ = backward(dy, cache)
        errs = relative_error(dx, num_dx), relative_error(dw, num_dw)
        results[dy_name, bw_name] = max(errs)
        print(f"{dy_name:<12} {bw_name:<8} {errs[0]:>9.1e} {errs[1]:>14.1e}")

assert results["ones", "correct"] < TOLERANCE and results["random", "correct"] < TOLERANCE
assert results["ones", "buggy"] < TOLERANCE        # the bug slips through with dy = ones ...
assert results["random", "buggy"] > 0.1            # ... and is caught with a random dy

# %% [markdown]
# ## 4. Why float64 and eps = 1e-6
#
# Two errors pull in opposite directions:
#
# - *truncation*: the Taylor remainder, about `eps^2` (smaller eps is better);
# - *round-off*: L is computed only to the relative precision of the dtype, its machine
#   epsilon (`np.finfo(dtype).eps`, printed below), and dividing by `2 eps` amplifies that
#   to about `machine epsilon / eps` (larger eps is better).
#
# Sweep eps on the softmax from section 2, in float64 and in float32:

# %%
for dtype in (np.float64, np.float32):
    print(f"machine epsilon of {np.dtype(dtype).name}: {np.finfo(dtype).eps:.1e}")
sweep = {}
print(f"{'eps':>7} {'float64':>9} {'float32':>9}")
EPSILONS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8, 1e-10)
for eps in EPSILONS:
    row = []
    for dtype in (np.float64, np.float32):
        num = numerical_gradient(softmax_k, logits.astype(dtype), dalpha.astype(dtype), eps=eps)
        sweep[dtype, eps] = relative_error(dlogits, num)
        row.append(sweep[dtype, eps])
    print(f"{eps:>7.0e} {row[0]:>9.1e} {row[1]:>9.1e}")

assert sweep[np.float64, 1e-6] < 1e-8                       # float64, eps 1e-6: ~1e-9
assert sweep[np.float64, 1e-1] > 1e-5 and sweep[np.float64, 1e-10] > sweep[np.float64, 1e-6]
assert sweep[np.float32, 1e-6] > 0.1                         # float32 at 1e-6: useless
assert min(sweep[np.float32, e] for e in EPSILONS) > TOLERANCE
best = min(EPSILONS, key=lambda e: sweep[np.float64, e])
print(f"float64: smallest error at eps = {best:.0e}; at eps = 1e-6 the error is "
      f"{sweep[np.float64, 1e-6]:.0e}, against the pass mark TOLERANCE = {TOLERANCE:.0e}")
assert best in (1e-4, 1e-5, 1e-6)

fig = figures.figure(6, 3.8)
ax = fig.subplots()
for dtype, marker in ((np.float64, "o-"), (np.float32, "s--")):
    ax.loglog(EPSILONS, [sweep[dtype, e] for e in EPSILONS], marker, label=np.dtype(dtype).name)
ax.axhline(TOLERANCE, color="tab:red", linestyle=":", label=f"pass mark {TOLERANCE:.0e}")
ax.set(xlabel="eps (step of the centred difference)", ylabel="relative_error against the backward pass",
       title="Truncation (large eps) against round-off (small eps)")
ax.invert_xaxis()
ax.legend()
ax.grid(alpha=0.3, which="both")
figures.show(fig, "tutorial02_eps_sweep")

# %% [markdown]
# In float64 the error is smallest in the middle of the sweep (printed above): a larger eps
# adds the truncation error of the centred difference (about eps^2), a smaller one the
# round-off of two nearly equal losses divided by eps. The eps of `lrlc_np.gradcheck`, 1e-6,
# leaves a wide margin below the pass mark (printed above), while a wrong gradient scores
# near 1. In float32 no eps gets below the pass mark, so gradient checks always run in
# float64 (build layers with `dtype=np.float64`); training uses float32.

# %% [markdown]
# ## 5. Reading the error: two metrics
#
# CS231n compares element by element and reports the worst ratio,
#
# ```
# rel_error = max_b |a_b - n_b| / max(1e-8, |a_b| + |n_b|)
# ```
#
# `lrlc_np.gradcheck.relative_error` gives one figure for the whole array,
#
# ```
# relative_error = max_b |a_b - n_b| / max(max|a|, max|n|, 1e-2)
# ```
#
# The difference shows on a *correct* backward pass whose gradient has tiny entries. A
# saturated softmax (large logits, some weights near 0 or 1) has gradient entries many
# orders of magnitude below its largest ones (printed below), while the numerical gradient
# carries round-off of the same small size on every entry. On the tiny entries the
# element-wise ratio is round-off divided by almost nothing (CS231n's floor of 1e-8 in the
# denominator does not help: at the worst entry printed below, |a| + |n| is under the floor,
# so the ratio is round-off divided by 1e-8).

# %%
def cs231n_rel_error(a, n):
    return np.max(np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n)))


big_logits = 10 * rng.standard_normal((4, 5, 6))           # saturated: (K, H_out, W_out)
_, big_cache = combining_weights_forward(big_logits, "softmax")
analytic = combining_weights_backward(dalpha, big_cache)      # correct by construction
numeric = numerical_gradient(softmax_k, big_logits.copy(), dalpha)
elementwise = np.abs(analytic - numeric) / np.maximum(1e-8, np.abs(analytic) + np.abs(numeric))
worst = tuple(int(i) for i in np.unravel_index(np.argmax(elementwise), elementwise.shape))
print(f"smallest |gradient| entry: {np.abs(analytic).min():.1e}, largest: {np.abs(analytic).max():.1e}")
print(f"worst entry {worst}: analytic {analytic[worst]:.3e}, numerical {numeric[worst]:.3e}, "
      f"|a| + |n| = {abs(analytic[worst]) + abs(numeric[worst]):.1e}")
assert abs(analytic[worst]) + abs(numeric[worst]) < 1e-8      # below the floor, as the text says
print(f"CS231n element-wise rel_error: {cs231n_rel_error(analytic, numeric):.1e}   (looks like a bug)")
print(f"lrlc_np relative_error:        {relative_error(analytic, numeric):.1e}   (correct)")
assert cs231n_rel_error(analytic, numeric) > 1e-4
assert relative_error(analytic, numeric) < 1e-8

# %% [markdown]
# A ReLU has a different trap: at an input within eps of 0 the centred difference
# straddles the kink and measures a slope somewhere between 0 and 1, where the backward
# pass says 0 or 1. That is not a bug in either; gradient checks keep ReLU inputs away
# from 0 (`lrlc gradcheck` shifts them by 0.1).

# %%
x_kink = np.array([3e-7, -0.5, 0.5])                         # the first entry is within eps of 0
# dy = ones reads off the slope of an element-wise function; it is not a check (section 3)
relu_num = numerical_gradient(lambda v: relu_forward(v)[0], x_kink.copy(), np.ones(3))
relu_dx = relu_backward(np.ones(3), relu_forward(x_kink)[1])
print(f"ReLU slope at {x_kink}: numerical {np.round(relu_num, 3)}, backward {relu_dx}")
assert np.isclose(relu_num[0], 0.65) and relu_dx[0] == 1.0
assert np.allclose(relu_num[1:], relu_dx[1:])

# %% [markdown]
# Does the lenient metric still catch real bugs? Yes: a wrong gradient is wrong by the
# size of the gradient itself, so both metrics report close to 1 on the buggy backward
# from section 3.

# %%
dy = rng.standard_normal(y.shape)
num_dx = numerical_gradient(lambda v: conv2d_forward(v, w, None, 1, 1)[0], x.copy(), dy)
bad_dx = buggy_conv2d_backward(dy, cache)[0]
print(f"buggy dx: CS231n {cs231n_rel_error(bad_dx, num_dx):.2f}, "
      f"relative_error {relative_error(bad_dx, num_dx):.2f}")
assert relative_error(bad_dx, num_dx) > 0.1

# %% [markdown]
# ## 6. Checking a whole layer: `check_layer`
#
# `check_layer(layer, x, rng=...)` runs forward, backward with a random dy, and the
# numerical gradient of the input and of every parameter (perturbed in place and
# restored). It returns one `relative_error` per array; each should be at most
# `TOLERANCE`. Here a `Conv2D` layer with everything that can go wrong at once: a
# non-square 3x2 kernel, stride (2, 1), padding 1 and a random bias (the zero default would
# leave its gradient untested), in float64: `x (2, 2, 6, 5)` gives `y (2, 3, 3, 6)`.
# Tutorial 04 runs the same check on an LRLC layer, after deriving its backward pass.

# %%
conv_layer = Conv2D(2, 3, kernel_size=(3, 2), stride=(2, 1), padding=1, rng=rng, dtype=np.float64)
conv_layer.params["bias"][:] = rng.standard_normal(3)
x_layer = rng.standard_normal((2, 2, 6, 5))                 # (N, C_in, H, W)
assert conv_layer(x_layer).shape == (2, 3, 3, 6)
errors = check_layer(conv_layer, x_layer, rng=rng)
print(", ".join(f"{name} {err:.0e}" for name, err in errors.items()))
assert set(errors) == {"x", *conv_layer.params}
assert all(err <= TOLERANCE for err in errors.values()), errors

# %% [markdown]
# To check every layer type, combining mode and normalisation in one go, run the
# command-line checker from a terminal:
#
# ```
# lrlc gradcheck              # or: python -m lrlc_np gradcheck
# lrlc gradcheck --ops clear --seed 3 --eps 1e-5 --tolerance 1e-6
# ```
#
# It prints one row per parameter (layer, parameter, shape, relative error, pass/FAIL)
# and exits with status 1 if any gradient fails. When you change a backward pass, run it
# first.

# %% [markdown]
# ## 7. Check your understanding
#
# Answer in the next cell (replace each `None`), then run the checking cell.
#
# 1. `calls`: how many times does `numerical_gradient(f, x, dy)` call f for `x (2, 3, 4, 4)`?
# 2. `dy_ones`: why is `dy = ones` a poor upstream gradient for a check?
#    (a) it is too large and overflows; (b) a backward pass that permutes dy passes with it;
#    (c) it makes the loss zero
# 3. `relative_error`: what does `relative_error(a, n)` give for `a = [1, 2, 3]` and
#    `n = [1, 2, 3.003]`? (two significant digits are enough)
# 4. `float32`: can a gradient check in float32 pass the mark `TOLERANCE` with a well-chosen eps?
#    (a) yes, at eps = 1e-3; (b) no eps does; (c) yes, at any eps below 1e-6

# %%
answers = {
    "calls": None,
    "dy_ones": None,
    "relative_error": None,
    "float32": None,
}

# %%
understanding.check("gradient_checking", answers)

# %% [markdown]
# ## Exercises
#
# 1. Write `numerical_gradient` yourself, as a loop over `np.nditer(x, flags=["multi_index"])`
#    with centred differences, and compare it with the library's on the softmax of section 2.
# 2. Check `relu_backward` with a random dy and inputs kept at least 0.1 away from 0; then
#    move one input to within eps of 0 and explain the error you get.
# 3. Take the buggy backward of section 3 and find a *non-random* dy that still catches it.
#    What property must dy have?
# 4. The one-sided difference has error about `eps * L''/2`. Repeat the sweep of section 4
#    with it and find where its best eps lies, and how good its best error is.
# 5. Use `check_layer` on `lrlc_np.layers.Dense` and `lrlc_np.layers.BatchNorm2D` in both
#    modes (`check_layer(..., training=False)`). Which parameter gradients are zero in
#    evaluation mode, and why is that still a pass?
#
# **Check your own code.** In a student copy, `pytest tests/test_ops_gradients.py -x` runs
# these finite-difference checks on every backward pass you have written; your teacher
# grades them with `lrlc course grade`.
#
# Next: tutorial 03 drops the convolution's weight sharing (locally connected layers) and
# brings it back in a low-rank form (LRLC).
