"""Fast batch normalisation: the same results as ``ops.normalization``, tuned for a CPU.

Same signatures and results as ``ops.batchnorm2d_forward`` / ``_backward``. What changes,
and what it buys (at (128, 64, 26, 26), float32: forward 31 -> 8 ms, backward 20 -> 13 ms;
then the statistics in one read of x and the backward's dx in one fewer pass per chunk:
forward 8.7 -> 8.3-8.8 ms, backward 12.4-12.6 -> 11.3-11.8 ms, the old and new code
alternated in one process, medians of 8, on a machine with another process running):

- x is seen as rows of channels-last numbers, one row per sample (``channels_last_rows``):
  a free view of the NHWC memory that the fast convolution returns.
- Per-channel vectors are tiled to a whole row (``_per_channel``): broadcasting a (C,)
  vector restarts NumPy's inner loop every C numbers, 2.4x slower here.
- The passes run in chunks of samples on all cores (``_parallel``).
- The statistics read x once: each chunk's sum and squared deviations from its own mean,
  combined exactly (``_chunked_mean_var``), instead of a pass for the mean and a second one
  for the squared deviations from it.
- dx = scale*dy + coef*x + offset, with offset = shift - coef*mean folded per channel: one
  pass fewer per chunk than scale*dy + coef*(x - mean) + shift.
- The cache keeps x (not a copy) instead of xhat, which the backward pass recomputes.
- ``batchnorm2d_relu_forward`` / ``_backward``: batch norm and the ReLU after it as one op,
  for ``Sequential`` (the one fast op with no clear-tier twin; see their docstrings).
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from ..ops import _checks
from ..ops.normalization import check_batch_size, check_bn_inputs, update_running_statistics
from . import _parallel


def channels_last_rows(x):
    """x (N, C, H, W) -> (N, H*W*C): each sample's numbers as one row, channels innermost.

    A free view when x's memory is NHWC (what the convolution returns), else one copy.
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    return xp.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n, h * w * c)


def _per_channel(values, rows):
    """(C,) -> (H*W*C,): one row's worth of a per-channel vector, repeated for every position.

    ``rows[lo:hi] * _per_channel(scale, ...)`` then runs as one long loop per sample. (With a
    (C,) vector the loop would restart every C numbers: about twice as slow here.)
    """
    xp = get_array_module(values)
    return xp.tile(values, rows.shape[1] // values.shape[0])


def _channel_sums(rows, channels):
    """(m, H*W*C) -> (C,): every channel's sum over the m samples and the H*W positions."""
    return rows.sum(axis=0).reshape(-1, channels).sum(axis=0)


#: bytes of x per chunk. A chunk stays in the shared L3 cache (32 MB here) between the passes
#: over it; chunks small enough for a core's L2 (512 KB, 1 MB) measured slower: batch norm's
#: forward 8.3-8.8 ms at 4 MB, 9.4-9.7 at 1 MB, 11.8-12.2 at 512 KB (at (128, 64, 26, 26)).
CHUNK_BYTES = 4 << 20


def _chunked_mean_var(rows, channels, chunk, xp):
    """Per-channel mean and (biased) variance of rows (N, H*W*C), one read of x from memory.

    Each chunk of samples makes its own sum and its own sum of squared deviations from its
    own mean, two passes over a chunk that is still in the cache, and the chunks are then
    combined exactly (Chan, Golub and LeVeque's parallel variance):
        M2 = sum_i [M2_i + n_i (mean_i - mean)^2],   var = M2 / M
    Like the two-pass formula it replaces (the whole sum, then the squared deviations from
    the mean) it never subtracts two large sums, so it stays accurate in float32; but x is
    read once from memory instead of twice.
    """
    per_sample = rows.shape[1] // channels                         # H*W positions per sample

    def stats(lo, hi):
        part = rows[lo:hi]
        total = _channel_sums(part, channels)
        d = part - _per_channel(total / ((hi - lo) * per_sample), rows)
        d *= d
        return hi - lo, total, _channel_sums(d, channels)

    parts = _parallel.for_chunks(rows.shape[0], chunk, stats, xp=xp)
    count = rows.shape[0] * per_sample
    mean = sum(p[1] for p in parts) / count
    m2 = sum(p[2] + (p[0] * per_sample) * (p[1] / (p[0] * per_sample) - mean) ** 2 for p in parts)
    return mean, m2 / count


def batchnorm2d_forward(x, weight, bias, running_mean, running_var, training=True,
                        momentum=0.1, eps=1e-5):
    """Same result as ``ops.batchnorm2d_forward``; in training mode updates running_mean/var in place.

    x (N, C, H, W); weight, bias, running_mean, running_var (C,) -> y (N, C, H, W), NHWC memory

    The work runs on x seen as rows of channels-last numbers (``channels_last_rows``), in
    chunks of samples on all cores (``_parallel``): one read of x for the statistics
    (``_chunked_mean_var``: per-chunk sums and squared deviations, combined exactly; it
    stays accurate in float32 where sum(x^2) - sum(x)^2 / M would not) and one for
    y = x * a + b, with per-channel a = weight * inv_std and b = bias - mean * a. y has NHWC
    memory.
    cache: x's rows (not a copy when x is NHWC: do not modify x in place before the
    backward pass), the statistics and the weight; xhat is recomputed in the backward pass.
    """
    y, cache, _ = _forward(x, weight, bias, running_mean, running_var, training, momentum, eps,
                           relu=False, owner="batchnorm2d_forward")
    return y, cache


def _forward(x, weight, bias, running_mean, running_var, training, momentum, eps, relu, owner):
    """Batch norm's forward pass, and max(., 0) on each chunk while it is in the cache if ``relu``.

    -> y, batch norm's cache, FusedReLUCache (the ReLU's mask, kept as what makes it) or None
    """
    check_bn_inputs(x, weight, bias, running_mean, running_var, owner)
    check_batch_size(x, training, owner)
    xp = get_array_module(x)
    n, c, h, w = x.shape
    count = n * h * w
    rows = channels_last_rows(x)                                  # (N, H*W*C)
    chunk = _parallel.chunk_size(rows[0].nbytes, CHUNK_BYTES)

    if training:
        mean, var = _chunked_mean_var(rows, c, chunk, xp)
        update_running_statistics(running_mean, running_var, mean, var, count, momentum)
    else:
        mean = running_mean.astype(x.dtype)
        var = running_var.astype(x.dtype)
    inv_std = 1 / (var + eps) ** 0.5                             # (C,)
    scale = weight * inv_std                                     # y = scale * x + shift, per channel
    shift = bias - mean * scale
    scale_row, shift_row = _per_channel(scale, rows), _per_channel(shift, rows)
    y_rows = xp.empty_like(rows)

    def normalise(lo, hi):
        _affine(rows[lo:hi], scale_row, shift_row, out=y_rows[lo:hi])
        if relu:
            xp.maximum(y_rows[lo:hi], 0, out=y_rows[lo:hi])

    _parallel.for_chunks(n, chunk, normalise, xp=xp)
    y = y_rows.reshape(n, h, w, c).transpose(0, 3, 1, 2)         # NHWC memory seen as NCHW
    relu_cache = FusedReLUCache(rows, x.shape, scale_row, shift_row) if relu else None
    return y, FastBatchNorm2DCache(rows, x.shape, mean, inv_std, weight, training), relu_cache


def _affine(rows, scale_row, shift_row, out):
    """out = rows * scale_row + shift_row, in this order (the fused ReLU's mask is made again
    from exactly these roundings)."""
    xp = get_array_module(rows)
    xp.multiply(rows, scale_row, out=out)
    out += shift_row
    return out


class FastBatchNorm2DCache(NamedTuple):
    """What the fast ``batchnorm2d_backward`` needs: x itself (its rows), not xhat."""

    rows: object        # (N, H*W*C), x's channels-last rows (not a copy when x is NHWC)
    x_shape: tuple      # (N, C, H, W)
    mean: object        # (C,)
    inv_std: object     # (C,)
    weight: object      # (C,)
    training: bool


class FusedReLUCache(NamedTuple):
    """A ReLU's cache when it ran fused with the batch norm before it: no copy of its output,
    only what makes it again. The mask y > 0 is ``x * scale + shift > 0`` per channel, with x
    batch norm's input rows (not a copy) and scale, shift its affine map tiled to a row
    (``_per_channel``, H*W*C numbers each)."""

    rows: object
    x_shape: tuple
    scale_row: object
    shift_row: object


def fused_relu_mask(cache, lo, hi):
    """The mask y > 0 of samples lo..hi-1, as (hi - lo, H*W*C) rows, from a FusedReLUCache."""
    part = cache.rows[lo:hi]
    y = _affine(part, cache.scale_row, cache.shift_row, out=get_array_module(part).empty_like(part))
    return y > 0


def batchnorm2d_relu_forward(x, weight, bias, running_mean, running_var, training=True,
                             momentum=0.1, eps=1e-5):
    """relu(batchnorm2d(x)) in one pass: the results of ``batchnorm2d_forward`` then ``relu_forward``.

    A fast-tier addition, with no clear-tier twin: ``Sequential`` runs a BatchNorm2D followed by
    a ReLU through it (``layers.basic.BatchNormReLU``). Same arguments as ``batchnorm2d_forward``.
    x (N, C, H, W) -> y (N, C, H, W), NHWC memory; cache = (batch norm's cache, FusedReLUCache)

    What changes: max(., 0) runs on each chunk of y while it is in the cache, instead of a
    pass of its own over all of y, and the ReLU keeps no copy of y: its mask is made again
    from batch norm's input (``FusedReLUCache``), which batch norm keeps anyway. The bits are
    those of the two ops run one after the other (the same roundings in the same order).
    What it buys: see ``batchnorm2d_relu_backward``.
    """
    y, bn_cache, relu_cache = _forward(x, weight, bias, running_mean, running_var, training, momentum,
                                       eps, relu=True, owner="batchnorm2d_relu_forward")
    return y, (bn_cache, relu_cache)


def batchnorm2d_backward(dy, cache):
    """Same result as ``ops.batchnorm2d_backward``.

    dy (N, C, H, W) -> dx (N, C, H, W) (NHWC memory), dweight (C,), dbias (C,)

    The derivation is in ``ops.batchnorm2d_backward``: dbias = sum dy, dweight = sum dy * xhat
    (sums over n, i, j), and in training dx = weight * inv_std * (dy - dbias/M - xhat * dweight/M)
    with M = N*H*W, in evaluation dx = weight * inv_std * dy. Here xhat = (x - mean) * inv_std
    is recomputed from the cached x. One pass over the chunks gives both sums, a second
    writes dx, per channel as
        dx = scale * dy + coef * (x - mean) + shift,   scale = weight * inv_std,
        coef = -scale * inv_std * dweight / M,   shift = -scale * dbias / M   (0 in evaluation).
    """
    _checks.float_array(dy, "dy", "batchnorm2d_backward")
    _checks.shape(dy, cache.x_shape, "dy", "batchnorm2d_backward")
    return _backward(channels_last_rows(dy), cache, None)


def batchnorm2d_relu_backward(dy, cache):
    """The gradients of ``batchnorm2d_relu_forward``: ``relu_backward`` then ``batchnorm2d_backward``.

    dy (N, C, H, W), cache = (batch norm's cache, FusedReLUCache)
    -> dx (N, C, H, W) (NHWC memory), dweight (C,), dbias (C,)

    What changes: the ReLU's gradient g = dy * (y > 0) is made chunk by chunk inside batch
    norm's first pass, with the mask made again from x (``fused_relu_mask``), and written
    into the buffer that then becomes dx in place: two reads and one write of an activation
    fewer than the two ops one after the other, and no array of its own for g. The bits are
    those of the two ops. What it buys, with the forward pass (all-conv training step, batch
    128, ``lrlc bench --profile``): the three batch norm + ReLU pairs 46 -> 39 ms
    (forward and backward) of a step of about 300 ms, and the step's peak memory 171 -> 157 MB:
    the last ReLU's output (15 MB at (128, 64, 22, 22)) is no longer kept.
    """
    bn_cache, relu_cache = cache
    _checks.float_array(dy, "dy", "batchnorm2d_relu_backward")
    _checks.shape(dy, bn_cache.x_shape, "dy", "batchnorm2d_relu_backward")
    return _backward(channels_last_rows(dy), bn_cache, relu_cache)


def _backward(dy_rows, cache, relu_cache):
    """Batch norm's backward pass on dy's rows; with a FusedReLUCache, of relu(batch norm) instead."""
    rows, x_shape, mean, inv_std, weight, training = cache
    xp = get_array_module(dy_rows)
    n, c, h, w = x_shape
    count = n * h * w
    chunk = _parallel.chunk_size(rows[0].nbytes, CHUNK_BYTES)
    mean_row = _per_channel(mean, rows)
    dx_rows = xp.empty_like(rows)
    grad_rows = dy_rows if relu_cache is None else dx_rows       # g: dy, or the ReLU's dy * (y > 0)

    def sums(lo, hi):
        if relu_cache is not None:                                # g = dy * (y > 0), into dx's rows
            xp.multiply(dy_rows[lo:hi], fused_relu_mask(relu_cache, lo, hi), out=grad_rows[lo:hi])
        centred = rows[lo:hi] - mean_row                          # x - mean
        centred *= grad_rows[lo:hi]
        return _channel_sums(grad_rows[lo:hi], c), _channel_sums(centred, c)

    parts = _parallel.for_chunks(n, chunk, sums, xp=xp)
    dbias = sum(p[0] for p in parts)
    dweight = sum(p[1] for p in parts) * inv_std                 # sum g * xhat
    scale = weight * inv_std
    scale_row = _per_channel(scale, rows)
    if training:                      # dx = scale*g + coef*(x - mean) + shift = scale*g + coef*x + offset
        coef = -scale * inv_std * dweight / count
        coef_row = _per_channel(coef, rows)
        offset_row = _per_channel(-scale * dbias / count - coef * mean, rows)

    def input_gradient(lo, hi):
        out = dx_rows[lo:hi]
        xp.multiply(grad_rows[lo:hi], scale_row, out=out)         # in place when g is in dx's rows
        if training:
            term = rows[lo:hi] * coef_row
            term += offset_row
            out += term

    _parallel.for_chunks(n, chunk, input_gradient, xp=xp)
    return dx_rows.reshape(n, h, w, c).transpose(0, 3, 1, 2), dweight, dbias
