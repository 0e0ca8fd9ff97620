# %% [markdown]
# # 01 — Convolution: by hand, as one matrix product, and backwards
#
# Run top to bottom with `python tutorials/01_convolution.py` (a few seconds), cell by cell
# in an editor that understands `# %%`, or as a notebook (`lrlc tutorials --notebooks DEST`).
#
# What you will see:
#
# 1. a convolution worked out by hand on a 4x4 integer image, and one kernel run over a digit;
# 2. the output-size formula, padding and stride;
# 3. `im2col`: every patch becomes a row, and the layer becomes one matrix product;
# 4. the backward pass, `dW = dY^T X` and `dx = col2im(dY W)`, and why col2im *adds*;
# 5. a finite-difference check of `lrlc_np.ops.conv2d_backward`;
# 6. questions to check your understanding, and exercises.
#
# Layout is NCHW: `x (N, C_in, H, W)`, `weight (C_out, C_in, kh, kw)`. "Convolution"
# means cross-correlation (no kernel flip), as in every deep-learning library. Every function
# used here comes from `lrlc_np.ops`, the clear tier: step into one with a debugger and you
# land in the formula (`lrlc_np.fast` holds the tuned twins that training uses by default).
#
# **In a course** this tutorial prepares for the `lrlc course` exercises `im2col`, `col2im`,
# `conv2d_forward` and `conv2d_backward` (`lrlc_np/ops/im2col.py`, `lrlc_np/ops/conv.py`).
# In a student copy it runs before you have written them: the first cell puts the loop
# definitions of `lrlc_np.reference` in the place of each unwritten exercise and says so.

# %%
from lrlc_np import stand_ins

stand_ins.for_unwritten_exercises()     # a student copy: loop definitions stand in for unwritten exercises

import numpy as np

from lrlc_np import figures, reference, understanding
from lrlc_np.data import load_mnist, to_model_input
from lrlc_np.gradcheck import TOLERANCE, numerical_gradient, relative_error
from lrlc_np.ops import col2im, conv2d_backward, conv2d_forward, conv_output_size, conv_transpose2d, im2col


def show(name, a):
    """Print an array with its shape, rounded for reading."""
    a = np.asarray(a)
    print(f"{name} {a.shape}:\n{np.array2string(a, precision=3, suppress_small=True)}\n")


# %% [markdown]
# ## 1. A convolution by hand
#
# One input channel, one output channel, a 4x4 image and a 3x3 kernel that responds to
# vertical edges (left column +1, right column -1). The output pixel `y[i, j]` lays the
# kernel on the image with its top-left corner at `(i, j)`, multiplies the overlapping
# numbers and adds them up:
#
# ```
# y[i, j] = sum_{p, q} w[p, q] * x[i + p, j + q]
# ```
#
# Worked out for `y[0, 0]` (rows 0..2, columns 0..2 of x):
# left column `1 + 4 + 0 = 5`, right column `0 + 1 + 3 = 4`, so `y[0, 0] = 5 - 4 = 1`.
# The kernel fits in 4 - 3 + 1 = 2 places along each axis, so y is 2x2:
#
# ```
# y = [[ 1,  1],
#      [-1,  0]]
# ```

# %%
x_img = np.array([[1, 2, 0, 3],
                  [4, 1, 1, 0],
                  [0, 2, 3, 1],
                  [1, 0, 2, 2]], dtype=np.float64)          # (H, W) = (4, 4)
w_img = np.array([[1, 0, -1],
                  [1, 0, -1],
                  [1, 0, -1]], dtype=np.float64)            # (kh, kw) = (3, 3)
expected = np.array([[1, 1],
                     [-1, 0]], dtype=np.float64)            # (H_out, W_out) = (2, 2)

# The definition as a loop, for one channel (teaching version: checked in the next cell).
y_loop = np.zeros((2, 2))
for i in range(2):
    for j in range(2):
        y_loop[i, j] = (w_img * x_img[i:i + 3, j:j + 3]).sum()
show("y_loop", y_loop)
assert np.array_equal(y_loop, expected)

# %% [markdown]
# The library works on batches of multi-channel images, so the 2-D arrays get a batch axis
# and a channel axis: `x (1, 1, 4, 4)`, `weight (1, 1, 3, 3)`, `y (1, 1, 2, 2)`.
# `lrlc_np.reference.conv2d` is the slow loop definition (the oracle);
# `lrlc_np.ops.conv2d_forward` is the vectorised formula (the clear tier; `lrlc_np.fast`
# holds the tuned version that training uses by default). Both must agree with the
# hand-worked numbers.

# %%
x = x_img[None, None]          # (N, C_in, H, W) = (1, 1, 4, 4)
w = w_img[None, None]          # (C_out, C_in, kh, kw) = (1, 1, 3, 3)
y_ref = reference.conv2d(x, w)
y_ops, _ = conv2d_forward(x, w)
show("reference.conv2d", y_ref[0, 0])
assert np.array_equal(y_ref[0, 0], expected)
assert np.array_equal(y_ops[0, 0], expected)

# %% [markdown]
# The same computation as a picture: the kernel's window at each of the four output
# positions, the sum it gives, and where that sum lands in the output.

# %%
figures.show(figures.convolution_steps(x_img, w_img, y_ops[0, 0]), "tutorial01_sliding")

# %% [markdown]
# One kernel, used at every position, finds its pattern wherever it is. Run the
# vertical-edge kernel above, and its transpose (a horizontal-edge kernel), over a digit
# from the MNIST sample that ships with the package: the response is large and positive
# where the digit's brightness falls from left to right (top to bottom), negative where it
# rises, and zero on flat background, anywhere in the image. That is *weight sharing*;
# tutorial 03 takes it away.

# %%
digit = to_model_input(load_mnist("test", dataset="mnist-sample")[0][:1]).astype(np.float64)  # (1, 1, 28, 28)
edges = np.stack([w_img, w_img.T])[:, None]        # (C_out, C_in, kh, kw) = (2, 1, 3, 3)
responses, _ = conv2d_forward(digit, edges)        # (1, 2, 26, 26)
print("digit", digit.shape, "-> responses", responses.shape)
assert responses.shape == (1, 2, 26, 26)
figures.show(figures.image_row([digit[0, 0], responses[0, 0], responses[0, 1]],
                               ["digit (input)", "vertical-edge kernel w", "horizontal-edge kernel w.T"],
                               "One 3x3 kernel applied at every position of a 28x28 digit (valid: 26x26 out)",
                               colorbar_label="pixel value / response"),
             "tutorial01_edges")

# %% [markdown]
# ## 2. Output size, padding and stride
#
# Along each axis the kernel's top-left corner can sit at `0, stride, 2*stride, ...` as
# long as the kernel still fits inside the zero-padded input of length `H + 2*padding`:
#
# ```
# H_out = (H + 2*padding - kh) // stride + 1        (same for W)
# ```
#
# `padding` adds rows and columns of zeros on every side. `stride` skips positions: stride 2
# keeps every second one. For an odd kernel size k at stride 1, `padding = (k - 1) / 2` keeps
# the size ("same" padding): `H + k - 1 - k + 1 = H`. At a larger stride s the same padding
# gives `(H - 1) // s + 1`, i.e. H/s rounded up (the table's third and fifth rows), not H.

# %%
print(" H  k  stride  padding  H_out")
for h, k, s, p in [(4, 3, 1, 0), (4, 3, 1, 1), (4, 3, 2, 1), (24, 3, 1, 0), (28, 5, 2, 2), (7, 2, 3, 0)]:
    h_out = conv_output_size(h, k, s, p)
    y_shape = conv2d_forward(np.zeros((1, 1, h, h)), np.zeros((1, 1, k, k)), stride=s, padding=p)[0].shape
    print(f"{h:2d} {k:2d} {s:6d} {p:8d} {h_out:6d}")
    assert y_shape == (1, 1, h_out, h_out)
    if k % 2 == 1 and p == (k - 1) // 2:                   # "same" padding
        assert h_out == (h if s == 1 else -(-h // s))      # H at stride 1, ceil(H / s) otherwise
print()
# 24 -> 22 with a 3x3 kernel and no padding: the paper's layers, met again in tutorial 03.

# %% [markdown]
# With `padding=1` the 4x4 image becomes 6x6 (a border of zeros) and the output is 4x4.
# Its inner 2x2 block is the unpadded result: those positions never touch the border.
# With `stride=2` as well, the output keeps every second position of the padded result.

# %%
y_pad = conv2d_forward(x, w, padding=1)[0][0, 0]              # (4, 4)
y_pad_s2 = conv2d_forward(x, w, stride=2, padding=1)[0][0, 0]  # (2, 2)
show("padding=1", y_pad)
show("padding=1, stride=2", y_pad_s2)
assert np.array_equal(y_pad[1:-1, 1:-1], expected)
assert np.array_equal(y_pad_s2, y_pad[::2, ::2])
assert np.array_equal(y_pad, reference.conv2d(x, w, padding=1)[0, 0])

# %% [markdown]
# ## 3. im2col: a convolution is one matrix product
#
# Every output position reads one `C_in x kh x kw` patch. `im2col` copies the patches
# into the rows of one matrix, one row per output position:
#
# ```
# X (M, R),  M = N*H_out*W_out rows in (n, i, j) order,  R = C_in*kh*kw columns in (c, p, q) order
# X[(n, i, j), (c, p, q)] = xpad[n, c, i*sh + p, j*sw + q]
# ```
#
# A row is ordered like one filter `weight[o]` of shape `(C_in, kh, kw)`, so the filters as
# a matrix are simply `W = weight.reshape(C_out, R)`, and the whole layer is `Y = X W^T`,
# shape `(M, C_out)`. With one channel a row is the patch read row by row.

# %%
X = im2col(x, (3, 3), (1, 1), (0, 0))          # (M, R) = (4, 9)
show("im2col matrix X", X)
# Row 1 is output position (i, j) = (0, 1): the patch x[0:3, 1:4], read row by row.
assert np.array_equal(X[1], x_img[0:3, 1:4].ravel())
Y = X @ w.reshape(1, -1).T                     # (4, 9) @ (9, 1) -> (4, 1)
assert np.array_equal(Y.reshape(2, 2), expected)
figures.show(figures.im2col_rows(x_img, (3, 3), X), "tutorial01_im2col")

# %% [markdown]
# Now a general case, with several channels, a non-square kernel, stride and padding:
# `x (2, 3, 7, 6)`, `weight (4, 3, 3, 2)`, stride (2, 1), padding 1, so
# `H_out = (7 + 2 - 3) // 2 + 1 = 4` and `W_out = (6 + 2 - 2) // 1 + 1 = 7`.
# The matrix product, the loop reference and `conv2d_forward` must agree.

# %%
rng = np.random.default_rng(0)
x2 = rng.standard_normal((2, 3, 7, 6))         # (N, C_in, H, W)
w2 = rng.standard_normal((4, 3, 3, 2))         # (C_out, C_in, kh, kw)
b2 = rng.standard_normal(4)                    # (C_out,)
stride, padding = (2, 1), (1, 1)

X2 = im2col(x2, (3, 2), stride, padding)       # (M, R) = (2*4*7, 3*3*2) = (56, 18)
W2 = w2.reshape(4, -1)                         # (C_out, R), rows in (c, p, q) order like X's
Y2 = X2 @ W2.T + b2                            # (56, 18) @ (18, 4) -> (56, 4)
y_mat = Y2.reshape(2, 4, 7, 4).transpose(0, 3, 1, 2)   # rows are (n, i, j): NHWC -> NCHW
y_lib, cache = conv2d_forward(x2, w2, b2, stride, padding)
y_ref = reference.conv2d(x2, w2, b2, stride, padding)
print("X", X2.shape, " W^T", W2.T.shape, " y", y_lib.shape)
print("max |matrix product - reference|:", np.abs(y_mat - y_ref).max())
print("max |conv2d_forward - reference|:", np.abs(y_lib - y_ref).max())
assert y_lib.shape == (2, 4, 4, 7)
assert np.allclose(y_mat, y_ref) and np.allclose(y_lib, y_ref)

# How often is each pixel copied? col2im of a matrix of ones counts it (section 4 explains why).
copies = col2im(np.ones(X2.shape), x2.shape, (3, 2), stride, padding)   # (2, 3, 7, 6)
print(f"X holds {X2.size} numbers for the {x2.size} of x: each pixel is copied "
      f"{int(copies.min())} to {int(copies.max())} times")
# At most kh*kw = 6 times at stride 1; at stride (2, 1) a 3-row window moving 2 rows at a
# time covers a row at most twice, and a 2-column window moving 1 covers a column twice:
assert copies.max() == 2 * 2 < 3 * 2

# %% [markdown]
# ## 4. The backward pass
#
# Write the forward pass as matrices: `Y = X W^T + 1 b^T`, with `X (M, R)` the im2col
# matrix, `W (C_out, R)` and `Y (M, C_out)`. Given the upstream gradient `dY = dL/dY`
# (the same shape as Y, i.e. `dy (N, C_out, H_out, W_out)` laid out as rows), the chain
# rule for a matrix product gives
#
# ```
# Y[m, o] = sum_r X[m, r] W[o, r] + b[o]
# dW[o, r] = sum_m dY[m, o] X[m, r]    ->  dW = dY^T X      (C_out, M) @ (M, R)
# db[o]    = sum_m dY[m, o]                                   (C_out,)
# dX[m, r] = sum_o dY[m, o] W[o, r]    ->  dX = dY W        (M, C_out) @ (C_out, R)
# ```
#
# `dX` is the gradient with respect to the *patches*, not the image. Each pixel was copied
# into several patches, so its gradient is the sum of the gradients of all its copies:
# `dx = col2im(dX)`, where `col2im` adds every patch row back onto the pixels it came from.

# %%
dy = rng.standard_normal(y_lib.shape)           # (N, C_out, H_out, W_out) = (2, 4, 4, 7)
dx, dweight, dbias = conv2d_backward(dy, cache)

# The three formulas, written out here for teaching and checked against the library:
dY = dy.transpose(0, 2, 3, 1).reshape(-1, 4)    # (M, C_out): rows in (n, i, j) order, like X
dW_mat = dY.T @ X2                              # (4, 56) @ (56, 18) -> (4, 18)
db_mat = dY.sum(axis=0)                         # (4,)
dX_mat = dY @ W2                                # (56, 4) @ (4, 18) -> (56, 18)
dx_mat = col2im(dX_mat, x2.shape, (3, 2), stride, padding)   # (2, 3, 7, 6)
assert np.allclose(dW_mat.reshape(4, 3, 3, 2), dweight)       # (C_out, R) -> (C_out, C_in, kh, kw)
assert np.allclose(db_mat, dbias)
assert np.allclose(dx_mat, dx)
print("dweight", dweight.shape, " dbias", dbias.shape, " dx", dx.shape, ": formulas match conv2d_backward")

# %% [markdown]
# ### col2im adds overlapping patches
#
# A 3x3 input and a 2x2 kernel with stride 1 give 2x2 = 4 overlapping patches. Give every
# patch entry the gradient 1 and send it back with `col2im`: each pixel receives one 1
# for every patch that contains it. The corners are in 1 patch, the edge midpoints in 2,
# the centre pixel in all 4.

# %%
ones_cols = np.ones((4, 4))                      # (M, R) = (1*2*2, 1*2*2)
counts = col2im(ones_cols, (1, 1, 3, 3), (2, 2), (1, 1), (0, 0))[0, 0]   # (3, 3)
show("col2im(ones)", counts)
assert np.array_equal(counts, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])

# So col2im is not the inverse of im2col: a round trip multiplies each pixel by its count.
x33 = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
round_trip = col2im(im2col(x33, (2, 2), (1, 1), (0, 0)), x33.shape, (2, 2), (1, 1), (0, 0))
assert np.array_equal(round_trip, x33 * counts)

# %% [markdown]
# ### col2im is the adjoint (transpose) of im2col
#
# im2col is linear: `cols = A x` for a big 0/1 matrix A that copies pixels. The backward
# pass of a copy is `A^T`, and `A^T` is exactly what col2im computes. The defining
# property of a transpose is `<A x, c> = <x, A^T c>` for every x and c, so check it on
# random arrays (with stride and padding, where padded zeros must get no gradient back):

# %%
xa = rng.standard_normal((2, 3, 7, 6))          # (N, C, H, W)
ca = rng.standard_normal(im2col(xa, (3, 2), stride, padding).shape)   # (M, R) = (56, 18)
lhs = (im2col(xa, (3, 2), stride, padding) * ca).sum()            # <im2col(x), c>
rhs = (xa * col2im(ca, xa.shape, (3, 2), stride, padding)).sum()  # <x, col2im(c)>
print(f"<im2col(x), c> = {lhs:.12f}\n<x, col2im(c)> = {rhs:.12f}")
assert np.isclose(lhs, rhs, rtol=1e-12, atol=1e-12)

# %% [markdown]
# ### With stride 1, dx is itself a convolution
#
# Follow one input pixel, at row u and column v (letters that are not already arrays): at
# stride 1, `x[c, u, v]` meets filter tap `(p, q)` at output `(u + ph - p, v + pw - q)`. So
# `dx[c, u, v] = sum_{o, p, q} dy[o, u + ph - p, v + pw - q] * w[o, c, p, q]`. Pad dy with
# `kh - 1 - ph` zeros (`kw - 1 - pw` along W) and substitute `p' = kh - 1 - p`: this is an
# ordinary convolution of the padded dy with every filter turned by 180 degrees and with
# C_in and C_out swapped. Frameworks call the operation that maps dy to dx a "transposed
# convolution" (`ops.conv_transpose2d`). The substitution needs stride 1 (with a larger
# stride, dy would first have to be spread out with zeros between its entries) and
# padding smaller than the kernel (dy's padding `kh - 1 - ph` must not be negative). The
# fast tier (`lrlc_np.fast.conv2d_backward`) computes dx this way when both hold *and*
# `C_out <= C_in`, where it is faster than col2im; otherwise it uses col2im, as the clear
# tier always does.

# %%
w_turned = w2[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)      # (C_in, C_out, kh, kw) = (3, 4, 3, 2)
y1, cache1 = conv2d_forward(x2, w2, b2, stride=1, padding=(1, 1))   # stride 1 this time
dy1 = rng.standard_normal(y1.shape)
dx1 = conv2d_backward(dy1, cache1)[0]
dx_by_conv = conv2d_forward(dy1, w_turned, None, stride=1, padding=(3 - 1 - 1, 2 - 1 - 1))[0]
assert dx_by_conv.shape == x2.shape and np.allclose(dx_by_conv, dx1)
assert np.allclose(conv_transpose2d(dy1, w2, x2.shape, stride=1, padding=(1, 1)), dx1)
print("dx of a stride-1 convolution = convolution of padded dy with the turned, transposed filters")

# %% [markdown]
# ## 5. Check the backward pass numerically
#
# `numerical_gradient(f, x, dy)` nudges one entry of x at a time by `±eps` and measures
# how `sum(f(x) * dy)` changes; that is what the backward pass claims to compute.
# `relative_error(a, b) = max|a - b| / max(max|a|, max|b|, 1e-2)` turns the comparison into
# one number per array: far below the pass mark `TOLERANCE` for a correct gradient (printed
# below), near 1 for a wrong one. Tutorial 02 explains both functions. Use float64 (all
# arrays here are float64).

# %%
def conv_of(x_=x2, w_=w2, b_=b2):
    return conv2d_forward(x_, w_, b_, stride, padding)[0]


num_dx = numerical_gradient(lambda v: conv_of(x_=v), x2.copy(), dy)
num_dw = numerical_gradient(lambda v: conv_of(w_=v), w2.copy(), dy)
num_db = numerical_gradient(lambda v: conv_of(b_=v), b2.copy(), dy)
errors = {"dx": relative_error(dx, num_dx), "dweight": relative_error(dweight, num_dw),
          "dbias": relative_error(dbias, num_db)}
for name, err in errors.items():
    print(f"{name:8s} relative error {err:.1e}   (pass mark {TOLERANCE:.0e})")
assert all(err < TOLERANCE / 100 for err in errors.values())

# %% [markdown]
# ## 6. Check your understanding
#
# Answer in the next cell (replace each `None`), then run the cell after it: it says which
# answers are right, and gives a hint for the others without giving them away.
#
# 1. `output_size`: an input 28 pixels high, a 5x5 kernel, stride 2, padding 1. What is H_out?
# 2. `im2col_shape`: `x (8, 3, 10, 10)`, a 3x3 kernel, stride 1, padding 1. What is the shape
#    of the im2col matrix X? (a tuple)
# 3. `max_copies`: with a 3x3 kernel at stride 2 and no padding, into how many patches at
#    most is one pixel copied?
# 4. `dweight`: which product gives the weight gradient `dW (C_out, R)`?
#    (a) `X^T dY`, (b) `dY^T X`, (c) `dY W`, (d) `X W^T`
# 5. `col2im_adds`: why does the backward pass add overlapping patches instead of keeping one?
#    (a) to average the gradients; (b) because the forward pass also adds;
#    (c) because a pixel copied into several patches reaches the loss through every copy

# %%
answers = {
    "output_size": None,
    "im2col_shape": None,
    "max_copies": None,
    "dweight": None,
    "col2im_adds": None,
}

# %%
understanding.check("convolution", answers)

# %% [markdown]
# ## Exercises
#
# 1. Write the forward pass without im2col, as a loop over the kh*kw kernel offsets that adds
#    `einsum("oc,nchw->nohw", weight[:, :, p, q], xpad[:, :, p:p + sh*H_out:sh, q:q + sw*W_out:sw])`
#    at each offset. Check it against `conv2d_forward` with stride (2, 1) and padding 1. How
#    many matrix products does it make, against im2col's one?
# 2. A 1x1 convolution is a dense layer applied at every pixel. Show it: compare
#    `conv2d_forward(x, w)` for `w (C_out, C_in, 1, 1)` with an `einsum` over the channels.
# 3. Dilation d spreads a kernel's taps d pixels apart. Derive the output size of a dilated
#    kh x kw kernel (its span is `d*(kh - 1) + 1`) and check it with
#    `lrlc_np.ops.depthwise_conv2d_forward(..., dilation=d)`.
# 4. At stride 2, dx is a convolution of dy *spread out* with a zero between neighbouring
#    entries. Build the spread-out dy, convolve it with the turned, transposed filters of
#    section 4 and check the result against `conv2d_backward`. Mind the padding at the edges.
# 5. Break `conv2d_backward` on purpose (drop the `transpose(0, 2, 3, 1)` of dy) in a copy of
#    its three lines, and watch the check of section 5 fail. Does it fail with `dy = ones`?
#    (Tutorial 02, section 3, explains.)
#
# **Check your own code.** In a student copy, once you have written the four exercises, run
# `pytest tests/test_ops_reference.py tests/test_ops_gradients.py -k "im2col or conv2d"`:
# the loop definitions, scipy and finite differences against your functions. Your teacher
# grades them with `lrlc course grade` (points, and the first failure in plain words).
#
# Next: tutorial 02 shows how such a finite-difference check works and how it can mislead;
# tutorial 03 then drops the weight sharing (locally connected layers) and brings it back in a
# low-rank form (LRLC).
