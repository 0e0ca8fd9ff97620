"""The clear tier: pure forward/backward functions, one file per family, written as the formulas.

Each ``*_forward`` returns ``(out, cache)`` (the cache a ``NamedTuple`` with named fields);
the matching ``*_backward(dout, cache)`` returns the gradients of every input. Nothing is
stored on objects and nothing accumulates: calling a backward function twice gives the same
arrays. NCHW throughout, vectorised, one matrix product or einsum per step, no threads and
no memory-layout tricks: this is the code to read (after the loops of ``lrlc_np.reference``)
and, in a course, to write. ``lrlc_np.fast`` has the same functions tuned for speed; the
layers (``lrlc_np.layers``) run either, chosen with ``lrlc_np.set_ops("clear" | "fast")``.

Glossary of the letters used in every docstring:

    N        batch size
    C_in     input channels            C_out    output channels
    H, W     input height and width    H_out, W_out  output height and width
    kh, kw   kernel height and width   R = kh*kw*C_in, the length of one patch
    stride   (sh, sw)                  padding  (ph, pw), zeros on each side
    dilation (dil_h, dil_w), the spacing between kernel taps (depthwise convolution, per-basis LRLC)
    K        rank of an LRLC layer: the number of basis filter banks
    P        H_out*W_out, the number of output positions
    M        N*H_out*W_out, the number of patches in a batch

    H_out = (H + 2*ph - kh) // sh + 1,   W_out = (W + 2*pw - kw) // sw + 1

Layout is NCHW; "convolution" means cross-correlation (no kernel flip), as in every
deep-learning library.
"""

from .activations import relu_backward, relu_forward, sigmoid_backward, sigmoid_forward
from .combining import (combining_weights_backward, combining_weights_forward, row_col_sum_backward,
                        row_col_sum_forward)
from .conv import conv2d_backward, conv2d_forward, conv_transpose2d
from .dense import dense_backward, dense_forward
from .depthwise import depthwise_conv2d_backward, depthwise_conv2d_forward
from .im2col import col2im, conv_output_size, im2col
from .local import locally_connected2d_backward, locally_connected2d_forward
from .losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from .lrlc import effective_weight, lrlc2d_backward, lrlc2d_forward
from .lrlc_per_basis import lrlc2d_per_basis_backward, lrlc2d_per_basis_forward
from .normalization import batchnorm2d_backward, batchnorm2d_forward
from .pooling import (
    global_avg_pool2d_backward,
    global_avg_pool2d_forward,
    spatial_mean_backward,
    spatial_mean_forward,
)
from .resize import bilinear_resize_backward, bilinear_resize_forward, interpolation_matrix
from .shape import concat_channels_backward, concat_channels_forward

__all__ = [
    "batchnorm2d_backward", "batchnorm2d_forward",
    "bilinear_resize_backward", "bilinear_resize_forward",
    "col2im", "combining_weights_backward", "combining_weights_forward",
    "concat_channels_backward", "concat_channels_forward",
    "conv2d_backward", "conv2d_forward", "conv_output_size", "conv_transpose2d",
    "dense_backward", "dense_forward",
    "depthwise_conv2d_backward", "depthwise_conv2d_forward", "effective_weight",
    "global_avg_pool2d_backward", "global_avg_pool2d_forward", "im2col", "interpolation_matrix",
    "locally_connected2d_backward", "locally_connected2d_forward",
    "lrlc2d_backward", "lrlc2d_forward", "lrlc2d_per_basis_backward", "lrlc2d_per_basis_forward",
    "relu_backward", "relu_forward",
    "row_col_sum_backward", "row_col_sum_forward",
    "sigmoid_backward", "sigmoid_forward",
    "softmax_cross_entropy_backward", "softmax_cross_entropy_forward",
    "spatial_mean_backward", "spatial_mean_forward",
]
