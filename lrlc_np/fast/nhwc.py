"""im2col / col2im with channels last: the patches of ``ops.im2col``, laid out for speed.

Same patches as ``ops.im2col`` and ``ops.col2im``; what changes is the memory layout.

``col2im_nhwc`` loops over the kh*kw kernel offsets only (DeZero's scheme): offset (p, q) is one
strided slice of the padded input, ``xpad[:, p : p + stride*H_out : stride, q : ..., :]``,
holding that offset's pixel for every sample, output position and channel at once.
``im2col_nhwc`` reads the same patches through ``sliding_window_view``. No ``np.add.at`` and no
index arrays: the same code runs unchanged on CuPy.

What it changes: a patch row is ordered (p, q, c), channels last, instead of (c, p, q).
The copies then move runs of C_in contiguous numbers instead of single numbers (NumPy's
copy loops cost tens of nanoseconds per run), and the matrix products read and write whole
rows. The arrays that the fast ops return keep the NCHW shape; only their memory order is
NHWC (a transposed view), which the next layer's ``transpose(0, 2, 3, 1)`` turns back for
free. What it buys: the copy is about three times faster than filling ``cols`` offset by
offset (PERF_NOTES, item 4), and no layer transposes its activations.
"""

from __future__ import annotations

from ..backend import get_array_module
from ..ops import _checks
from ..ops.im2col import output_hw, pad2d


def padded_nhwc(x, padding):
    """x (N, C, H, W) -> xpad (N, H + 2*ph, W + 2*pw, C), zero-padded, channels last.

    Without padding this is a free transposed view of x.
    """
    return pad2d(x.transpose(0, 2, 3, 1), padding, axes=(1, 2))


def im2col_nhwc(x, kernel_size, stride, padding, out=None):
    """Gather every kernel-sized patch of the padded input.

    x    (N, C, H, W)
    kernel_size, stride, padding: int or (h, w) pair
    out  optional contiguous (N, H_out, W_out, kh, kw, C) array to write into
    cols (N, H_out, W_out, kh, kw, C)
         cols[n, i, j, p, q, c] = xpad[n, c, i*sh + p, j*sw + q]

    ``cols.reshape(N*H_out*W_out, kh*kw*C)`` has one patch per row, in (p, q, c) order; the
    filters in the same order are ``weight.transpose(0, 2, 3, 1).reshape(C_out, kh*kw*C)``
    (see ``fast.conv.patch_matrix``), so a convolution is one matrix product.

    How: ``sliding_window_view`` returns every window of the padded input as a view (no
    copy: a window is a new set of strides over the same memory); slicing it with the stride
    and one contiguous copy lay the patches out as rows. The copy writes ``cols`` in order,
    which is about three times faster here than filling it offset by offset, the way
    ``col2im`` works.

    x with NCHW memory (a network's input, or a caller's array) is first copied to channels
    last: the patch copy then moves runs of C numbers instead of single numbers strided by
    H*W. Measured on 3 samples of (64, 24, 24): 0.34 -> 0.18 ms, of which 0.04 is that copy
    (medians of 51 calls). At the layer level (``lrlc bench``'s conv layer, whose input is
    NCHW) the gain stayed within the run-to-run noise: forward 17.5-17.7 ms before and after.
    """
    xp = get_array_module(x)
    _checks.ndim(x, 4, "(N, C, H, W)", "x", "im2col_nhwc")
    kernel_size = _checks.pair(kernel_size, "kernel_size", "im2col_nhwc")
    stride = _checks.pair(stride, "stride", "im2col_nhwc")
    padding = _checks.pair(padding, "padding", "im2col_nhwc", minimum=0)
    (kh, kw), (sh, sw) = kernel_size, stride
    n, c, h, w = x.shape
    h_out, w_out = output_hw(h, w, kernel_size, stride, padding, "im2col_nhwc")
    xpad = padded_nhwc(x, padding)                                    # (N, Hp, Wp, C)
    if xpad.strides[3] != xpad.itemsize:     # NCHW memory: channels last first, then the patches
        xpad = xp.ascontiguousarray(xpad)
    windows = xp.lib.stride_tricks.sliding_window_view(xpad, (kh, kw), axis=(1, 2))  # (N, Hp-kh+1, Wp-kw+1, C, kh, kw)
    windows = windows[:, : sh * (h_out - 1) + 1 : sh, : sw * (w_out - 1) + 1 : sw]  # (N, H_out, W_out, C, kh, kw)
    patches = windows.transpose(0, 1, 2, 4, 5, 3)                     # (N, H_out, W_out, kh, kw, C), a view
    if out is None:
        return xp.ascontiguousarray(patches)
    _checks.shape(out, patches.shape, "out", "im2col_nhwc")
    out[...] = patches
    return out


def col2im_nhwc(cols, x_shape, stride, padding, out=None):
    """Adjoint of ``im2col_nhwc``: add every patch back onto the pixels it was copied from.

    cols (N, H_out, W_out, kh, kw, C)
    out  optional (N, H, W, C) array (channels last) to write into
    dx   x_shape = (N, C, H, W)
         dx[n, c, y, x] = sum over (i, j, p, q) with y = i*sh + p - ph, x = j*sw + q - pw
                          of cols[n, i, j, p, q, c]

    Patches overlap when stride < kernel, so a pixel collects several contributions. The
    loop runs over kernel offsets: within one offset (p, q) every output position reads a
    different pixel, so the strided ``+=`` below never writes one pixel twice and is exact
    (no ``np.add.at`` needed). Overlaps are summed across iterations of the loop.
    The result has NCHW shape and NHWC memory order (a transposed view).
    """
    xp = get_array_module(cols)
    _checks.ndim(cols, 6, "(N, H_out, W_out, kh, kw, C)", "cols", "col2im_nhwc")
    n, h_out, w_out, kh, kw, c = cols.shape
    (sh, sw) = _checks.pair(stride, "stride", "col2im_nhwc")
    (ph, pw) = _checks.pair(padding, "padding", "col2im_nhwc", minimum=0)
    _, _, h, w = x_shape
    if out is not None:
        _checks.shape(out, (n, h, w, c), "out (N, H, W, C)", "col2im_nhwc")
    if out is not None and ph == 0 and pw == 0:
        dxpad = out                                              # no padding to cut off: add in place
        dxpad[...] = 0
    else:
        dxpad = xp.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=cols.dtype)
    for p in range(kh):
        for q in range(kw):
            dxpad[:, p : p + sh * (h_out - 1) + 1 : sh, q : q + sw * (w_out - 1) + 1 : sw, :] += cols[:, :, :, p, q, :]
    dx = dxpad[:, ph : ph + h, pw : pw + w, :]
    if out is not None and dx is not out:
        out[...] = dx
        dx = out
    return dx.transpose(0, 3, 1, 2)
