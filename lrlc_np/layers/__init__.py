"""Stateful layers: thin wrappers around the pure functions of the active tier of ops.

One file per family: ``base`` (the Layer class and its conventions), ``conv``, ``local``,
``lrlc``, ``combiner`` (the input-dependent combining network), ``basic`` (dense, ReLU,
batch norm, pooling, coordinates, flatten, the loss) and ``sequential``. Every layer runs
the forward pass of the active tier (``lrlc_np.set_ops``) and the backward pass of the same
tier; see ``base`` for the attributes every layer has.
"""

from .base import Layer
from .basic import AddCoordinates, BatchNorm2D, Dense, Flatten, GlobalAvgPool2D, ReLU, SoftmaxCrossEntropy
from .combiner import InputDependentCombiningWeights
from .conv import Conv2D
from .local import LocallyConnected2D
from .lrlc import LowRankLocallyConnected2D
from .sequential import Sequential

__all__ = [
    "Layer", "Conv2D", "LocallyConnected2D", "LowRankLocallyConnected2D", "InputDependentCombiningWeights",
    "Dense", "ReLU",
    "BatchNorm2D", "GlobalAvgPool2D", "AddCoordinates", "Flatten", "SoftmaxCrossEntropy", "Sequential",
]
