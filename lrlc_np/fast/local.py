"""Fast locally connected layer: the same results as ``ops.local``, tuned for a CPU.

Same signatures and results as ``ops.locally_connected2d_forward`` / ``_backward``. What
changes, and what it buys (measured with ``lrlc bench`` at the paper's layer):

- Bands of output rows (one row each at the paper's shape) run on every core
  (``lc_rows_forward``, ``lc_rows_backward``); a band's patches (N*W_out*R numbers) stay in
  the caches, and the backward pass makes them again instead of keeping all of them.
  Nothing of size (H*W*C_in) x (P*C_out) is ever built.
- Each position is an (N, R) @ (R, C_out) product and ``matmul`` runs a band's positions as
  one batched product, position-major, so that every product reads and writes whole blocks.
- dx is built one kernel offset at a time into position-major band gradients, so each add
  is one long block (col2im on patch rows would add runs of only C_in): 8-10% faster. Its
  product is transposed, dX^T = W^T dY^T, one (R, C_out) @ (C_out, N) product per position
  with the weight read in its stored order (instead of kh*kw products of (N, C_out) @
  (C_out, C_in)), and it reuses the memory of the band's patches, freed once dW is made:
  the op's backward 47-50 -> 44.5-46 ms at the paper's layer (three alternated runs); in
  ``lrlc bench``'s layer timings, LC backward 53-55 -> 52-53 ms and LRLC K=4 (the 'lc'
  route) 69-71 -> 66-69 ms, four alternated pairs of processes.
- The weight gradient reuses one buffer per weight (``_workspace``): backward 88 -> 71 ms.
- The weight is read in the memory order the product wants (below): forward 59 -> 27-33 ms.

Weight memory layout: the product reads position (i, j)'s filters as an
(R, C_out) matrix with rows in im2col's (p, q, c) order. ``LocallyConnected2D`` therefore
stores its weight with memory order (H_out, W_out, kh, kw, C_in, C_out) while the array's
shape stays (H_out, W_out, C_out, C_in, kh, kw) (``with_lc_layout``; the same idea as the
NHWC activations seen as NCHW). Then ``lc_weight_matrices`` is a free view and the 71 MB of
weights at the paper's shape are read once, in order, instead of being gathered into a
transposed copy on every pass. Weights in any other layout give the same result, through a
copy. The weight gradient is returned in the same fast layout.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from ..ops import _checks
from ..ops.local import check_lc_inputs
from . import _parallel, _workspace
from .nhwc import im2col_nhwc, padded_nhwc


class FastLocallyConnected2DCache(NamedTuple):
    """What the fast ``locally_connected2d_backward`` needs: the padded input (x itself when
    there is no padding: do not modify x in place before the backward pass) and the weight."""

    xpad: object        # (N, Hp, Wp, C_in), channels last
    weight: object
    x_shape: tuple
    has_bias: bool
    stride: tuple
    padding: tuple


def lc_weight_matrices(weight):
    """weight (H_out, W_out, C_out, C_in, kh, kw) -> (P, R, C_out): every position's W_ij^T.

    Rows in im2col's (p, q, c) order, R = kh*kw*C_in. A free view when the weight's memory
    order is (H_out, W_out, kh, kw, C_in, C_out) (``with_lc_layout``), else a copy.
    """
    h_out, w_out, c_out = weight.shape[:3]
    return weight.transpose(0, 1, 4, 5, 3, 2).reshape(h_out * w_out, -1, c_out)


def _weight_rows(weight):
    """weight_rows for ``lc_rows_forward`` / ``lc_rows_backward``: (lo, hi) -> (p, R, C_out),
    the filters of output rows lo..hi-1 (a view in the fast layout, else a copy of one band)."""
    return lambda lo, hi: lc_weight_matrices(weight[lo:hi])


def lc_layout_empty(shape, dtype, xp):
    """Uninitialised LC weight of ``shape`` (H_out, W_out, C_out, C_in, kh, kw), fast layout.

    The memory order is (H_out, W_out, kh, kw, C_in, C_out); the returned array is a
    transposed view with the usual shape.
    """
    h_out, w_out, c_out, c_in, kh, kw = shape
    return xp.empty((h_out, w_out, kh, kw, c_in, c_out), dtype=dtype).transpose(0, 1, 5, 4, 2, 3)


def with_lc_layout(weight):
    """The same LC weight (same shape, same values) stored in the fast memory order."""
    xp = get_array_module(weight)
    out = lc_layout_empty(weight.shape, weight.dtype, xp)
    out[...] = weight
    return out


def _band_patches(xpad, lo, hi, kernel_size, stride):
    """Patches of output rows lo..hi-1 as a position-major view (p, N, R), p = (hi-lo)*W_out.

    The band is the input rows those outputs read, lo*sh .. (hi-1)*sh + kh - 1.
    """
    band = xpad[:, lo * stride[0] : (hi - 1) * stride[0] + kernel_size[0]]
    cols = im2col_nhwc(band.transpose(0, 3, 1, 2), kernel_size, stride, 0)   # (N, hi-lo, W_out, kh, kw, C)
    n = cols.shape[0]
    return cols.reshape(n, -1, cols[0, 0, 0].size).transpose(1, 0, 2)


def lc_rows_forward(xpad, kernel_size, stride, out_hw, out_channels, weight_rows, bias=None):
    """The LC product, one band of output rows at a time, on all cores.

    xpad        (N, Hp, Wp, C_in)   zero-padded input, channels last (``nhwc.padded_nhwc``)
    out_hw      (H_out, W_out);  out_channels  C_out
    weight_rows function (lo, hi) -> (p, R, C_out): the filter banks (as W_ij^T) of the
                p = (hi-lo)*W_out positions in output rows lo..hi-1 (the LC weights, or
                LRLC's sum_k alpha_k B_k)
    bias        (C_out, H_out, W_out) or None, added band by band while the band is in cache
    y_pos       (H_out, W_out, N, C_out), position-major: each position is one
                (N, R) @ (R, C_out) product, and ``matmul`` runs a band's positions as a batch

    A band of one output row keeps its patches (N*W_out*R numbers) and its weights in the
    caches; nothing of size (H*W*C_in) x (P*C_out) is ever built.
    """
    xp = get_array_module(xpad)
    h_out, w_out = out_hw
    y_pos = xp.empty((h_out, w_out, xpad.shape[0], out_channels), dtype=xpad.dtype)

    def band(lo, hi):
        cols_p = _band_patches(xpad, lo, hi, kernel_size, stride)         # (p, N, R)
        xp.matmul(cols_p, weight_rows(lo, hi), out=y_pos[lo:hi].reshape(-1, *y_pos.shape[2:]))  # (p, N, R) @ (p, R, C_out)
        if bias is not None:
            y_pos[lo:hi] += bias[:, lo:hi].transpose(1, 2, 0)[:, :, None, :]     # (rows, W_out, 1, C_out)

    _parallel.for_chunks(h_out, _rows_per_chunk(xpad, kernel_size, w_out), band, xp=xp)
    return y_pos


def lc_rows_backward(dy_pos, xpad, kernel_size, stride, out_hw, weight_rows, weight_grad_rows=None,
                     weight_grad_out=None, padding=(0, 0)):
    """Gradients of ``lc_rows_forward``, band by band.

    dy_pos           (H_out, W_out, N, C_out) upstream gradient, position-major
    weight_grad_rows function (lo, hi, dw) -> anything, called once per band with
                     dw (p, R, C_out), that band's weight gradient as dW_ij^T (a temporary
                     to consume); or None
    weight_grad_out  None, or a (P, R, C_out) array that receives every dW_ij^T in place
                     (the LC layer's gradient, with no copy)
    padding          (ph, pw) that made xpad: cut off again in dx
    -> dx (N, H, W, C_in) channels last, and the list of weight_grad_rows results in band order

    Per position: Y = X W^T, so dW^T = X^T dY and dX = dY W. dX is computed transposed,
    dX^T = W^T dY^T, (R, C_out) @ (C_out, N) per position, so that its rows come in
    (p, q, c) order with the N samples innermost: for one kernel offset (p, q), a position's
    gradient is one contiguous (C_in, N) block. The band's input gradient is kept
    position-major, (band rows, Wp, C_in, N), and each offset adds a single block of
    W_out*C_in*N numbers (``col2im`` on patch rows would add runs of only C_in).
    Neighbouring bands share input rows when kh > stride, so every band returns its own
    gradient, and the rows of dx are then summed from the bands that cover them, in band
    order, on all cores.
    """
    xp = get_array_module(xpad)
    h_out, w_out = out_hw
    (kh, kw), (sh, sw) = kernel_size, stride
    n, hp, wp, c_in = xpad.shape

    def band(lo, hi):
        cols_p = _band_patches(xpad, lo, hi, kernel_size, stride)          # (p, N, R)
        dy_p = dy_pos[lo:hi].reshape(-1, *dy_pos.shape[2:])                  # (p, N, C_out)
        out = None if weight_grad_out is None else weight_grad_out[lo * w_out : hi * w_out]
        dw = xp.matmul(cols_p.transpose(0, 2, 1), dy_p, out=out)            # (p, R, N) @ (p, N, C_out)
        del cols_p                                                          # dcols below reuses its memory
        result = None if weight_grad_rows is None else weight_grad_rows(lo, hi, dw)
        # dX^T = W^T dY^T, (p, R, C_out) @ (p, C_out, N): one product per position
        dcols = xp.matmul(weight_rows(lo, hi), dy_p.transpose(0, 2, 1))    # (p, R, N)
        dcols = dcols.reshape(hi - lo, w_out, kh, kw, c_in, n)
        dband = xp.zeros(((hi - lo - 1) * sh + kh, wp, c_in, n), dtype=xpad.dtype)   # input rows top.., position-major
        for p in range(kh):
            for q in range(kw):
                dband[p : p + sh * (hi - lo - 1) + 1 : sh, q : q + sw * (w_out - 1) + 1 : sw] += dcols[:, :, p, q]
        return lo * sh, dband, result

    bands = _parallel.for_chunks(h_out, _rows_per_chunk(xpad, kernel_size, w_out), band, xp=xp)
    (ph, pw), h, w = padding, hp - 2 * padding[0], wp - 2 * padding[1]
    dx = xp.empty((n, h, w, c_in), dtype=xpad.dtype)

    def gather_rows(r0, r1):                                                # rows r0..r1-1 of dx
        for r in range(r0, r1):
            row = r + ph                                                    # the row in xpad
            parts = [dband[row - top] for top, dband, _ in bands if top <= row < top + dband.shape[0]]
            if not parts:                                                   # no window reads this row
                dx[:, r] = 0
                continue
            total = parts[0] if len(parts) == 1 else sum(parts[1:], parts[0])
            dx[:, r] = total[pw : pw + w].transpose(2, 0, 1)                # (W, C, N) -> (N, W, C)

    _parallel.for_chunks(h, 1, gather_rows, xp=xp)
    return dx, [result for _, _, result in bands]


def _rows_per_chunk(xpad, kernel_size, w_out):
    """Output rows per band: about 4 MB of patches (usually one row at the paper's shape)."""
    n, _, _, c = xpad.shape
    return _parallel.chunk_size(n * w_out * kernel_size[0] * kernel_size[1] * c * xpad.itemsize)


def locally_connected2d_forward(x, weight, bias=None, stride=1, padding=0):
    """Same result as ``ops.locally_connected2d_forward``: bands of output rows on all cores,
    the weight read in its fast memory order (see the module docstring).

    x (N, C_in, H, W), weight (H_out, W_out, C_out, C_in, kh, kw), bias (C_out, H_out, W_out)
    or None  ->  y (N, C_out, H_out, W_out), FastLocallyConnected2DCache
    """
    stride, padding = check_lc_inputs(x, weight, bias, stride, padding)
    h_out, w_out = weight.shape[:2]
    xpad = padded_nhwc(x, padding)                                # (N, Hp, Wp, C_in)
    y = lc_rows_forward(xpad, weight.shape[4:], stride, (h_out, w_out), weight.shape[2],
                        _weight_rows(weight), bias).transpose(2, 3, 0, 1)
    return y, FastLocallyConnected2DCache(xpad, weight, x.shape, bias is not None, stride, padding)


def locally_connected2d_backward(dy, cache):
    """Same result as ``ops.locally_connected2d_backward``, band by band on all cores.

    dy (N, C_out, H_out, W_out) -> dx (N, C_in, H, W), dweight (H_out, W_out, C_out, C_in, kh, kw),
    dbias (C_out, H_out, W_out) or None

    dweight is in the fast memory order and is this weight's gradient buffer
    (``_workspace.buffer_for``): the next backward pass of the same weight writes over it.

    Per position t: Y_t = X_t W_t^T, so dW_t^T = X_t^T dY_t and dX_t = dY_t W_t.
    """
    xpad, weight, x_shape, has_bias, stride, padding = cache
    xp = get_array_module(dy)
    h_out, w_out, c_out, c_in, kh, kw = weight.shape
    _checks.float_array(dy, "dy", "locally_connected2d_backward")
    _checks.shape(dy, (x_shape[0], c_out, h_out, w_out), "dy", "locally_connected2d_backward")
    dweight = _workspace.buffer_for(weight, lambda: lc_layout_empty(weight.shape, weight.dtype, xp))
    dy_pos = dy.transpose(2, 3, 0, 1)                             # (H_out, W_out, N, C_out)
    dx, _ = lc_rows_backward(dy_pos, xpad, (kh, kw), stride, (h_out, w_out), _weight_rows(weight),
                             weight_grad_out=lc_weight_matrices(dweight), padding=padding)  # dweight: a view
    dbias = dy.sum(axis=0) if has_bias else None
    return dx.transpose(0, 3, 1, 2), dweight, dbias             # dx: NHWC memory seen as NCHW
