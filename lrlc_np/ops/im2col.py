"""im2col / col2im: turn every kh x kw input patch into a row of a matrix, and back.

A convolution multiplies every kh x kw patch of the (zero-padded) input by the same
filters. ``im2col`` copies the patches into the rows of one matrix, so that the whole
layer becomes one matrix product; ``col2im`` is its adjoint: it adds every row back onto
the pixels it was copied from, which is what the backward pass needs.

    x     (N, C, H, W)
    cols  (M, R),  M = N*H_out*W_out patches (rows in (n, i, j) order),
                   R = C*kh*kw numbers per patch (columns in (c, p, q) order)

    cols[(n, i, j), (c, p, q)] = xpad[n, c, i*sh + p*dil_h, j*sw + q*dil_w]

(dil_h, dil_w) is the dilation, 1 for an ordinary convolution: with d > 1 the kernel's taps
sit d pixels apart, so a kh-tap kernel spans d*(kh - 1) + 1 rows. The (c, p, q) order of a
row is the order of ``weight[o]`` of shape (C, kh, kw), so the filters as a matrix are
simply ``weight.reshape(C_out, R)``.

Both functions loop over the kh*kw kernel offsets only (DeZero's scheme). Offset (p, q)
is one strided slice of the padded input, ``xpad[:, :, p : p + sh*H_out : sh, q : ...]``,
holding that offset's pixel for every sample, channel and output position at once. No
``np.add.at`` and no index arrays, so the same code runs unchanged on CuPy.
"""

from __future__ import annotations

from ..backend import get_array_module
from . import _checks


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length along one axis: ``(size + 2*padding - kernel) // stride + 1``.

    Returns 0 or less when the kernel does not fit the padded input; callers check.
    """
    return (size + 2 * padding - kernel) // stride + 1


def output_hw(h, w, kernel_size, stride, padding, owner: str, dilation=(1, 1)) -> tuple[int, int]:
    """(H_out, W_out) for pair-valued geometry; raises ValueError if the kernel does not fit.

    A dilated kernel counts with its span d*(k - 1) + 1.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    span_h, span_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    if span_h > h + 2 * ph or span_w > w + 2 * pw:
        dilated = f"{kh}x{kw} with dilation {dilation[0]},{dilation[1]} spans "
        dilated = "" if tuple(dilation) == (1, 1) else dilated
        raise ValueError(
            f"{owner}: kernel {dilated}{span_h}x{span_w} is larger than the padded input "
            f"{h + 2 * ph}x{w + 2 * pw} (input {h}x{w}, padding {ph},{pw})"
        )
    return conv_output_size(h, span_h, sh, ph), conv_output_size(w, span_w, sw, pw)


def same_padding(kernel_size, dilation, owner: str):
    """(ph, pw) that keeps the size at stride 1 ("same" padding): d*(k - 1)/2 on each side.

    The total d*(k - 1) must split evenly between the two sides, which holds for odd kernels.
    """
    kh, kw = _checks.pair(kernel_size, "kernel_size", owner)
    d = _checks.positive_int(dilation, "dilation", owner)
    if (d * (kh - 1)) % 2 or (d * (kw - 1)) % 2:
        raise ValueError(f"{owner}: 'same' padding of a {kh}x{kw} kernel with dilation {d} needs "
                         f"{d * (kh - 1)} x {d * (kw - 1)} padding in all, which does not split evenly "
                         f"between the two sides; use odd kernel sizes (or an even dilation)")
    return d * (kh - 1) // 2, d * (kw - 1) // 2


def pad2d(x, padding, axes=(2, 3)):
    """x with ph rows and pw columns of zeros on each side of its two spatial axes.

    x        (N, C, H, W) with ``axes`` (2, 3), or (N, H, W, C) with ``axes`` (1, 2)
    padding  (ph, pw)
    xpad     (N, C, H + 2*ph, W + 2*pw) (or channels last); x itself when ph = pw = 0
    """
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    (ah, aw), shape = axes, list(x.shape)
    shape[ah] += 2 * ph
    shape[aw] += 2 * pw
    xpad = get_array_module(x).zeros(shape, dtype=x.dtype)
    inside = [slice(None)] * x.ndim
    inside[ah], inside[aw] = slice(ph, ph + x.shape[ah]), slice(pw, pw + x.shape[aw])
    xpad[tuple(inside)] = x
    return xpad


def _geometry(kernel_size, stride, padding, owner):
    stride, padding = _checks.steps_and_padding(stride, padding, owner)
    return _checks.pair(kernel_size, "kernel_size", owner), stride, padding


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Every kernel-sized patch of the padded input as a row.

    x     (N, C, H, W)
    kernel_size, stride, padding, dilation: int or (h, w) pair
    cols  (N*H_out*W_out, C*kh*kw),  cols[(n, i, j), (c, p, q)] = xpad[n, c, i*sh + p*dil_h, j*sw + q*dil_w]
    """
    owner = "im2col"
    _checks.ndim(x, 4, "(N, C, H, W)", "x", owner)
    (kh, kw), (sh, sw), padding = _geometry(kernel_size, stride, padding, owner)
    dil_h, dil_w = _checks.pair(dilation, "dilation", owner)
    n, c, h, w = x.shape
    h_out, w_out = output_hw(h, w, (kh, kw), (sh, sw), padding, owner, (dil_h, dil_w))
    # BEGIN SOLUTION im2col
    # HINT: pad x, then for each kernel offset (p, q) copy the strided slice
    #       xpad[:, :, p*dil_h::sh, q*dil_w::sw] (H_out x W_out of it) into cols[:, :, p, q];
    #       reorder to rows (n, i, j) and columns (c, p, q)
    xpad = pad2d(x, padding)
    cols = get_array_module(x).empty((n, c, kh, kw, h_out, w_out), dtype=x.dtype)
    for p in range(kh):
        for q in range(kw):
            # offset (p, q) of every patch: output (i, j) reads xpad[..., i*sh + p*dil_h, j*sw + q*dil_w]
            top, left = p * dil_h, q * dil_w
            cols[:, :, p, q] = xpad[:, :, top : top + sh * h_out : sh, left : left + sw * w_out : sw]
    # (N, C, kh, kw, H_out, W_out) -> (N, H_out, W_out, C, kh, kw) -> one patch per row
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * h_out * w_out, c * kh * kw)
    # END SOLUTION


def col2im(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1):
    """Adjoint of ``im2col``: add every row back onto the pixels its patch was copied from.

    cols     (N*H_out*W_out, C*kh*kw), rows (n, i, j), columns (c, p, q)
    x_shape  (N, C, H, W), the shape of im2col's input
    dx       (N, C, H, W),  dx[n, c, y, x] = sum of cols[(n, i, j), (c, p, q)] over all
             (i, j, p, q) with i*sh + p*dil_h - ph = y and j*sw + q*dil_w - pw = x

    Patches overlap when the stride is smaller than the kernel, so a pixel may collect
    several contributions: they are summed, never overwritten.
    """
    owner = "col2im"
    _checks.ndim(cols, 2, "(N*H_out*W_out, C*kh*kw)", "cols", owner)
    (kh, kw), (sh, sw), (ph, pw) = _geometry(kernel_size, stride, padding, owner)
    dil_h, dil_w = _checks.pair(dilation, "dilation", owner)
    n, c, h, w = x_shape
    h_out, w_out = output_hw(h, w, (kh, kw), (sh, sw), (ph, pw), owner, (dil_h, dil_w))
    _checks.shape(cols, (n * h_out * w_out, c * kh * kw), "cols", owner)
    # BEGIN SOLUTION col2im
    # HINT: the loop of im2col run backwards: for each offset (p, q), ADD (+=, not =) that offset's
    #       patch entries onto the strided slice of a zero padded image, then cut the padding off
    # (N*H_out*W_out, C*kh*kw) -> (N, C, kh, kw, H_out, W_out)
    patches = cols.reshape(n, h_out, w_out, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)
    dxpad = get_array_module(cols).zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for p in range(kh):
        for q in range(kw):
            # Within one offset (p, q) every output position lands on a different pixel, so
            # this strided += never writes one pixel twice and is exact (no np.add.at needed).
            # Pixels that several patches share collect their sums over the loop's iterations.
            top, left = p * dil_h, q * dil_w
            dxpad[:, :, top : top + sh * h_out : sh, left : left + sw * w_out : sw] += patches[:, :, p, q]
    return dxpad[:, :, ph : ph + h, pw : pw + w]               # cut the padding off again
    # END SOLUTION
