"""2-D convolution (cross-correlation): one filter bank shared by every position.

    x      (N, C_in, H, W)
    weight (C_out, C_in, kh, kw)
    bias   (C_out,) or None
    y      (N, C_out, H_out, W_out),   H_out = (H + 2*ph - kh) // sh + 1,  same for W

    y[n, o, i, j] = bias[o] + sum_{c, p, q} weight[o, c, p, q] * xpad[n, c, i*sh + p, j*sw + q]

With ``cols = im2col(x)`` reshaped to a matrix X (M = N*H_out*W_out rows, R = kh*kw*C_in
columns) and the filters as a matrix W (C_out, R) in the same (p, q, c) order
(``patch_matrix``), the layer is one matrix product, Y = X W^T.

The product runs in chunks of a few samples on every core (``_parallel.for_chunks``): a
chunk's rows of X (a few MB) stay in the CPU caches from the copy to the product. The
backward pass makes each chunk's rows of X again instead of keeping all of X (71 MB at the
paper's layer), which is faster here and saves the memory.
"""

from __future__ import annotations

from ..backend import get_array_module
from . import _checks, _parallel
from .im2col import col2im, im2col, output_hw


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


def _check_conv_inputs(x, weight, bias, stride, padding, owner):
    _checks.float_array(x, "x", owner)
    _checks.ndim(x, 4, "(N, C_in, H, W)", "x", owner)
    _checks.float_array(weight, "weight", owner)
    _checks.ndim(weight, 4, "(C_out, C_in, kh, kw)", "weight", owner)
    c_out, c_in, kh, kw = weight.shape
    if x.shape[1] != c_in:
        raise ValueError(
            f"{owner}: weight expects {c_in} input channels, so x should be "
            f"(N, {c_in}, H, W); got shape {tuple(x.shape)}"
        )
    if bias is not None:
        _checks.float_array(bias, "bias", owner)
        _checks.shape(bias, (c_out,), "bias", owner)
    _checks.same_dtype({"x": x, "weight": weight, "bias": bias}, owner)
    stride = _checks.pair(stride, "stride", owner)
    padding = _checks.pair(padding, "padding", owner, minimum=0)
    output_hw(x.shape[2], x.shape[3], (kh, kw), stride, padding, owner)
    return stride, padding


def conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    """Convolution forward pass.

    x      (N, C_in, H, W)
    weight (C_out, C_in, kh, kw)
    bias   (C_out,) or None
    stride, padding: int or (h, w) pair; zero padding
    y      (N, C_out, H_out, W_out)
    cache  what ``conv2d_backward`` needs: x itself (not a copy: do not modify x in place
           before the backward pass), the filter matrix and the geometry
    """
    stride, padding = _check_conv_inputs(x, weight, bias, stride, padding, "conv2d_forward")
    xp = get_array_module(x)
    n, c_in = x.shape[:2]
    c_out, _, kh, kw = weight.shape
    h_out, w_out = output_hw(x.shape[2], x.shape[3], (kh, kw), stride, padding, "conv2d_forward")
    y = xp.empty((n, h_out, w_out, c_out), dtype=x.dtype)    # NHWC: the product's natural layout
    w_mat_t = patch_matrix(weight).T                         # (R, C_out)

    def forward_chunk(lo, hi):                               # samples lo..hi-1
        rows = im2col(x[lo:hi], (kh, kw), stride, padding).reshape(-1, w_mat_t.shape[0])  # (m, R)
        xp.matmul(rows, w_mat_t, out=y[lo:hi].reshape(-1, c_out))
        if bias is not None:
            y[lo:hi] += bias                                 # while the chunk is in cache

    per_sample = h_out * w_out * w_mat_t.size // c_out * x.itemsize   # one sample's patches, bytes
    _parallel.for_chunks(n, _parallel.chunk_size(per_sample), forward_chunk, xp=xp)
    cache = (x, w_mat_t, weight.shape, (h_out, w_out), bias is None, stride, padding)
    return y.transpose(0, 3, 1, 2), cache                   # NHWC memory seen as NCHW (a view)


def conv2d_backward(dy, cache):
    """Convolution backward pass.

    dy      (N, C_out, H_out, W_out)
    dx      (N, C_in, H, W)
    dweight (C_out, C_in, kh, kw)
    dbias   (C_out,) or None when the forward pass had no bias

    From Y = X W^T + 1 b^T (X the im2col matrix, M x R; dY the M x C_out matrix of dy):
        dW = dY^T X                  -> dweight: a (C_out, m) @ (m, R) product per chunk of
                                        samples (m rows), summed over the chunks
        db = sum over rows of dY     -> sum of dy over n, i, j
        dX = dY W                    -> dcols, then dx = col2im(dcols): every patch row
                                        adds its gradient back onto the pixels it copied

    With stride 1 and C_out <= C_in, dx is computed as a convolution, which is faster (no col2im):
        dx[n, c, y, x] = sum_{o, p, q} dy[n, o, y + ph - p, x + pw - q] * weight[o, c, p, q]
    is, with p' = kh-1-p and dy zero-padded by kh-1-ph (kw-1-pw along W), the convolution of
    padded dy with the filters flipped in space and with C_in and C_out swapped
    (``flipped_patch_matrix``); its output is exactly H x W. (This is why frameworks call
    the backward of a convolution a "transposed convolution".)
    """
    x, w_mat_t, weight_shape, (h_out, w_out), no_bias, stride, padding = cache
    xp = get_array_module(dy)
    x_shape, n = x.shape, x.shape[0]
    c_out, _, kh, kw = weight_shape
    _checks.float_array(dy, "dy", "conv2d_backward")
    _checks.shape(dy, (n, c_out, h_out, w_out), "dy", "conv2d_backward")
    dy_nhwc = dy.transpose(0, 2, 3, 1)                       # (N, H_out, W_out, C_out); a free view if dy is NHWC in memory
    dx = xp.empty((n, *x_shape[2:], x_shape[1]), dtype=dy.dtype)   # (N, H, W, C_in)
    # the convolution route copies kh*kw*C_out numbers per input pixel where col2im adds
    # kh*kw*C_in per output pixel: faster only when C_out <= C_in (not for a first layer, C_in = 1)
    by_correlation = stride == (1, 1) and padding[0] < kh and padding[1] < kw and c_out <= x_shape[1]
    if by_correlation:
        w_flip_t = flipped_patch_matrix(w_mat_t, weight_shape)        # (kh*kw*C_out, C_in)
        dy_padding = (kh - 1 - padding[0], kw - 1 - padding[1])

    def backward_chunk(lo, hi):                              # samples lo..hi-1
        cols = im2col(x[lo:hi], (kh, kw), stride, padding)   # recomputed: cheaper than keeping all of it
        x_mat = cols.reshape(-1, w_mat_t.shape[0])           # (m, R)
        dy_mat = xp.ascontiguousarray(dy_nhwc[lo:hi]).reshape(-1, c_out)  # (m, C_out)
        if by_correlation:                                   # dx = (padded dy) ⋆ (flipped filters)
            dy_cols = im2col(dy_nhwc[lo:hi].transpose(0, 3, 1, 2), (kh, kw), 1, dy_padding)
            xp.matmul(dy_cols.reshape(-1, w_flip_t.shape[0]), w_flip_t, out=dx[lo:hi].reshape(-1, x_shape[1]))
        else:
            dcols = (dy_mat @ w_mat_t.T).reshape(cols.shape)     # dX = dY W
            col2im(dcols, (hi - lo, *x_shape[1:]), stride, padding, out=dx[lo:hi])
        # dW^T = X^T dY, (R, m) @ (m, C_out): OpenBLAS runs this orientation many times
        # faster than dY^T X, whose output has only C_out rows
        return x_mat.T @ dy_mat, dy_mat.sum(axis=0)

    per_sample = h_out * w_out * w_mat_t.size // c_out * dy.itemsize
    partials = _parallel.for_chunks(n, _parallel.chunk_size(per_sample), backward_chunk, xp=xp)
    dweight = from_patch_matrix(sum(p[0] for p in partials).T, weight_shape)
    dbias = None if no_bias else sum(p[1] for p in partials)  # (C_out,)
    return dx.transpose(0, 3, 1, 2), dweight, dbias
