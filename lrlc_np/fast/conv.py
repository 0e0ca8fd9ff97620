"""Fast convolution: the same results as ``ops.conv``, tuned for a CPU.

Same signatures and results as ``ops.conv2d_forward``, ``ops.conv2d_backward`` and
``ops.conv_transpose2d`` (the tests hold them equal). What changes, and what it buys
(measured with ``lrlc bench`` at the paper's layer: batch 64, 64 -> 64 channels, 24x24, 3x3):

- Chunks of a few samples run on every core (``_parallel.for_chunks``). NumPy's copies are
  single-threaded; the chunks put both cores to work on the im2col copy too, and a chunk's
  rows of X (a few MB) stay in the CPU caches from the copy to the product.
- Patches are laid out channels last (``im2col_nhwc``) and y is written in NHWC memory
  (returned as an NCHW-shaped view), the product's natural layout: no transposes.
- The backward pass makes each chunk's rows of X again instead of keeping all of X (71 MB
  at the paper's layer): faster here, and the memory is saved. Each chunk uses X for dW at
  once and frees it before it makes dx's temporary, so that one 4 MB block is in cache at a
  time and the second lands where the first was: backward 99 -> 87-94 ms (26x26 input)
  and 80 -> 74-78 ms (24x24) at batch 128, against making both first.
- dW^T = X^T dY instead of dW = dY^T X: OpenBLAS runs this orientation several times faster
  (an output of R rows instead of C_out).
- dx as a convolution instead of col2im when stride is 1, padding < kernel and
  C_out <= C_in (``conv_transpose2d``; the route is exact whenever the first two hold, and
  faster only when C_out <= C_in: at the network's first layer, C_in = 1, it cost 279 ms
  against col2im's 16).
Together (``lrlc bench``, a 2-core machine, version 0.6.1): 56 ms forward + backward against
the clear tier's 159 ms; 66% of the float32 matmul rate against 23%.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from ..ops import _checks
from ..ops.conv import check_conv_inputs, check_conv_transpose_inputs
from ..ops.im2col import output_hw
from . import _parallel
from .nhwc import col2im_nhwc, im2col_nhwc


class FastConv2DCache(NamedTuple):
    """What the fast ``conv2d_backward`` needs: x itself (not a copy: do not modify x in place
    before the backward pass), the filters as (R, C_out) and the geometry."""

    x: object
    w_mat_t: object     # patch_matrix(weight).T, (kh*kw*C_in, C_out)
    weight_shape: tuple
    out_hw: tuple
    has_bias: bool
    stride: tuple
    padding: tuple


def patch_matrix(weight):
    """weight (C_out, C_in, kh, kw) -> W (C_out, kh*kw*C_in), rows in im2col's (p, q, c) order."""
    return weight.transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)


def from_patch_matrix(w_mat, weight_shape):
    """Inverse of ``patch_matrix``: (C_out, kh*kw*C_in) -> (C_out, C_in, kh, kw), contiguous."""
    c_out, c_in, kh, kw = weight_shape
    xp = get_array_module(w_mat)
    return xp.ascontiguousarray(w_mat.reshape(c_out, kh, kw, c_in).transpose(0, 3, 1, 2))


def flipped_patch_matrix(w_mat_t, weight_shape):
    """The filters of dx's convolution: (kh*kw*C_in, C_out) -> (kh*kw*C_out, C_in), contiguous.

    w_mat_t = ``patch_matrix(weight).T``, rows (p, q, c). The result has rows (p, q, o) and
    holds weight[o, c, kh-1-p, kw-1-q]: every filter turned by 180 degrees, C_in and C_out swapped.
    """
    c_out, c_in, kh, kw = weight_shape
    w = w_mat_t.reshape(kh, kw, c_in, c_out)[::-1, ::-1].transpose(0, 1, 3, 2)
    xp = get_array_module(w_mat_t)
    return xp.ascontiguousarray(w).reshape(kh * kw * c_out, c_in)


def conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    """Same result as ``ops.conv2d_forward``: chunks on all cores, NHWC patches and output.

    x (N, C_in, H, W), weight (C_out, C_in, kh, kw), bias (C_out,) or None
    -> y (N, C_out, H_out, W_out) with NHWC memory, FastConv2DCache
    """
    stride, padding = check_conv_inputs(x, weight, bias, stride, padding)
    xp = get_array_module(x)
    n, c_in = x.shape[:2]
    c_out, _, kh, kw = weight.shape
    h_out, w_out = output_hw(x.shape[2], x.shape[3], (kh, kw), stride, padding, "conv2d_forward")
    y = xp.empty((n, h_out, w_out, c_out), dtype=x.dtype)    # NHWC: the product's natural layout
    w_mat_t = patch_matrix(weight).T                         # (R, C_out)

    def forward_chunk(lo, hi):                               # samples lo..hi-1
        rows = im2col_nhwc(x[lo:hi], (kh, kw), stride, padding).reshape(-1, w_mat_t.shape[0])  # (m, R)
        xp.matmul(rows, w_mat_t, out=y[lo:hi].reshape(-1, c_out))
        if bias is not None:
            y[lo:hi] += bias                                 # while the chunk is in cache

    per_sample = h_out * w_out * w_mat_t.size // c_out * x.itemsize   # one sample's patches, bytes
    _parallel.for_chunks(n, _parallel.chunk_size(per_sample), forward_chunk, xp=xp)
    cache = FastConv2DCache(x, w_mat_t, weight.shape, (h_out, w_out), bias is not None, stride, padding)
    return y.transpose(0, 3, 1, 2), cache                   # NHWC memory seen as NCHW (a view)


def transposed_by_convolution(stride, padding, kernel_size):
    """Whether dx = conv_transpose2d(dy) can be computed as a convolution: stride 1, and
    padding smaller than the kernel on both axes (so that dy's padding kh-1-ph is >= 0)."""
    return stride == (1, 1) and padding[0] < kernel_size[0] and padding[1] < kernel_size[1]


def conv2d_backward(dy, cache):
    """Same result as ``ops.conv2d_backward``: chunks on all cores, X made again per chunk,
    dW^T = X^T dY, and dx by convolution where that is faster (see the module docstring).

    dy (N, C_out, H_out, W_out) -> dx (N, C_in, H, W) with NHWC memory,
    dweight (C_out, C_in, kh, kw), dbias (C_out,) or None

    dx by convolution: dx[n, c, y, x] = sum_{o, p, q} dy[n, o, y + ph - p, x + pw - q] * weight[o, c, p, q]
    is, with p' = kh-1-p and dy zero-padded by kh-1-ph (kw-1-pw along W), the convolution of
    the padded dy with the filters turned by 180 degrees and C_in and C_out swapped
    (``flipped_patch_matrix``); its output is exactly H x W.
    """
    x, w_mat_t, weight_shape, (h_out, w_out), has_bias, stride, padding = cache
    xp = get_array_module(dy)
    x_shape, n = x.shape, x.shape[0]
    c_out, _, kh, kw = weight_shape
    _checks.float_array(dy, "dy", "conv2d_backward")
    _checks.shape(dy, (n, c_out, h_out, w_out), "dy", "conv2d_backward")
    dy_nhwc = dy.transpose(0, 2, 3, 1)                       # (N, H_out, W_out, C_out); a free view if dy is NHWC in memory
    dx = xp.empty((n, *x_shape[2:], x_shape[1]), dtype=dy.dtype)   # (N, H, W, C_in)
    # the convolution route copies kh*kw*C_out numbers per input pixel where col2im adds
    # kh*kw*C_in per output pixel: faster only when C_out <= C_in (not for a first layer, C_in = 1)
    by_correlation = transposed_by_convolution(stride, padding, (kh, kw)) and c_out <= x_shape[1]
    if by_correlation:
        w_flip_t = flipped_patch_matrix(w_mat_t, weight_shape)        # (kh*kw*C_out, C_in)
        dy_padding = (kh - 1 - padding[0], kw - 1 - padding[1])

    def backward_chunk(lo, hi):                              # samples lo..hi-1
        dy_mat = xp.ascontiguousarray(dy_nhwc[lo:hi]).reshape(-1, c_out)  # (m, C_out)
        cols = im2col_nhwc(x[lo:hi], (kh, kw), stride, padding)   # recomputed: cheaper than keeping all of it
        # dW^T = X^T dY, (R, m) @ (m, C_out): OpenBLAS runs this orientation many times
        # faster than dY^T X, whose output has only C_out rows. Done first, while X is
        # still in cache, and X freed before dx's temporary is made (module docstring)
        dw_t = cols.reshape(-1, w_mat_t.shape[0]).T @ dy_mat
        cols_shape = cols.shape
        del cols
        if by_correlation:                                   # dx = (padded dy) ⋆ (flipped filters)
            dy_cols = im2col_nhwc(dy_nhwc[lo:hi].transpose(0, 3, 1, 2), (kh, kw), 1, dy_padding)
            xp.matmul(dy_cols.reshape(-1, w_flip_t.shape[0]), w_flip_t, out=dx[lo:hi].reshape(-1, x_shape[1]))
        else:
            dcols = (dy_mat @ w_mat_t.T).reshape(cols_shape)     # dX = dY W
            col2im_nhwc(dcols, (hi - lo, *x_shape[1:]), stride, padding, out=dx[lo:hi])
        return dw_t, dy_mat.sum(axis=0)

    per_sample = h_out * w_out * w_mat_t.size // c_out * dy.itemsize
    partials = _parallel.for_chunks(n, _parallel.chunk_size(per_sample), backward_chunk, xp=xp)
    dweight = from_patch_matrix(sum(p[0] for p in partials).T, weight_shape)
    dbias = sum(p[1] for p in partials) if has_bias else None  # (C_out,)
    return dx.transpose(0, 3, 1, 2), dweight, dbias


def conv_transpose2d(dy, weight, x_shape, stride=1, padding=0):
    """Same result as ``ops.conv_transpose2d`` (conv2d's dx): for stride 1 and padding < kernel,
    the fast convolution of dy, zero-padded by kh-1-ph (kw-1-pw), with the turned,
    channel-swapped filters; otherwise col2im of dY W, in NHWC memory.

    dy (N, C_out, H_out, W_out), weight (C_out, C_in, kh, kw), x_shape (N, C_in, H, W)
    -> dx (N, C_in, H, W)
    """
    stride, padding = check_conv_transpose_inputs(dy, weight, x_shape, stride, padding)
    c_out, c_in, kh, kw = weight.shape
    if transposed_by_convolution(stride, padding, (kh, kw)):
        flipped = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)        # (C_in, C_out, kh, kw), turned
        dx, _ = conv2d_forward(dy, get_array_module(dy).ascontiguousarray(flipped), None, 1,
                               (kh - 1 - padding[0], kw - 1 - padding[1]))
        return dx
    dcols = dy.transpose(0, 2, 3, 1).reshape(-1, c_out) @ patch_matrix(weight)   # (M, kh*kw*C_in)
    n, _, h_out, w_out = dy.shape
    return col2im_nhwc(dcols.reshape(n, h_out, w_out, kh, kw, c_in), x_shape, stride, padding)
