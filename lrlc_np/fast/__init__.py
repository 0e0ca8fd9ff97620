"""The fast tier: the functions of ``lrlc_np.ops`` with the same names, arguments and results,
tuned for a CPU.

Read ``lrlc_np.ops`` first: that is the formula. Each function here opens with what it
changes and what that buys, measured (``lrlc bench`` prints both tiers side by side). The
tricks: threads over chunks of the batch or bands of output rows (``_parallel``), NHWC
memory seen as NCHW, the LC weight stored in the order its product reads, band-wise
effective weights for LRLC, dx of a convolution computed as a convolution, a reused
gradient buffer for the LC weight (``_workspace``), batch norm on channels-last rows, and
batch norm fused with the ReLU after it (``batchnorm2d_relu_forward``, the one fast op with no
clear twin: ``Sequential`` uses it, see ``FUSED``). The layers ask this tier for its tricks
through ``lrlc_np.tiers`` (``stored``, ``fuses``), never by importing it.
An op with no faster version is the clear one, re-exported here, so that
``fast.<name>`` exists for every ``ops.<name>``.

What differs from the clear tier besides speed: results come back with NHWC memory (the
shapes are NCHW), the caches hold other things (a cache goes back to the backward
function of the tier that made it), and the LC weight gradient is one buffer per weight,
written again by the next backward pass of that weight.
"""

from ..ops import (bilinear_resize_backward, bilinear_resize_forward, col2im, combining_weights_backward,
                   combining_weights_forward, concat_channels_backward, concat_channels_forward,
                   conv_output_size, dense_backward, dense_forward, depthwise_conv2d_backward,
                   depthwise_conv2d_forward, effective_weight, im2col, interpolation_matrix,
                   lrlc2d_per_basis_backward, lrlc2d_per_basis_forward, row_col_sum_backward,
                   row_col_sum_forward, sigmoid_backward, sigmoid_forward, softmax_cross_entropy_backward,
                   softmax_cross_entropy_forward)
from .activations import relu_backward, relu_forward
from .conv import conv2d_backward, conv2d_forward, conv_transpose2d
from .local import locally_connected2d_backward, locally_connected2d_forward
from .lrlc import lrlc2d_backward, lrlc2d_forward
from .normalization import (batchnorm2d_backward, batchnorm2d_forward, batchnorm2d_relu_backward,
                            batchnorm2d_relu_forward)
from .pooling import (global_avg_pool2d_backward, global_avg_pool2d_forward, spatial_mean_backward,
                      spatial_mean_forward)

from .. import ops as _ops
from .local import with_lc_layout

#: ops of the fast tier only, with no clear-tier twin: fused pairs that ``Sequential`` runs as
#: one op when the fast tier is active (the clear tier runs the two layers one after the other)
FUSED = ("batchnorm2d_relu_forward", "batchnorm2d_relu_backward")
#: parameters the fast tier stores in a memory order of its own (``tiers.stored``): the LC
#: weight in the order its product reads
LAYOUTS = {"lc_weight": with_lc_layout}

__all__ = list(_ops.__all__) + list(FUSED)
