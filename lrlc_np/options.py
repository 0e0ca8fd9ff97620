"""Every option list of the library, defined once.

Layers, models, the trainer and the command line (its ``choices=``) import these tuples
instead of spelling the values again, and the rules that tie two options together live
here as functions, so that each is written once.
"""

from __future__ import annotations

#: how an LRLC layer's combining logits vary over positions (``layers.LowRankLocallyConnected2D``)
COMBININGS = ("row_col", "row", "col", "full")
#: normalisation of the combining weights over the K bases (``ops.combining``)
NORMALIZATIONS = ("softmax", "norm", "none")
#: how an LRLC layer computes its product (``ops.lrlc``)
METHODS = ("auto", "conv", "lc")
#: how an LRLC layer's logits start
INITS = ("conv", "random")
#: how an LC layer's weights start: He-uniform over the fan-in C_in*kh*kw ("he"), or as Keras's
#: LocallyConnected2D (the paper's code), whose fan-in also counts the H_out*W_out positions
LC_INITS = ("he", "keras")
#: the layer kinds of the paper's network (``models.build_network``)
LAYER_TYPES = ("conv", "lc", "lrlc", "wide_conv")
#: learning-rate schedules (``optim.learning_rate``)
SCHEDULES = ("constant", "step", "cosine")
#: the two tiers of ops: the readable formulas (``lrlc_np.ops``) and the tuned code (``lrlc_np.fast``)
TIERS = ("clear", "fast")
#: array backends (``lrlc_np.backend``)
BACKENDS = ("numpy", "cupy")

DEFAULT_COMBINING = "row_col"


def resolve_combining(combining, input_dependent: bool, owner: str) -> str:
    """The combining mode to use: ``combining``, or its default when it is None.

    Input-dependent LRLC computes one logit for every position and example, so it needs
    "full" (and None means "full" there); fixed LRLC defaults to "row_col", the paper's.
    Raises ValueError naming ``owner`` when the two conflict.
    """
    if input_dependent:
        if combining not in (None, "full"):
            raise ValueError(
                f"{owner}: input_dependent=True computes a logit for every position, so it needs "
                f"combining='full' (or None), got combining={combining!r}"
            )
        return "full"
    if combining is None:
        return DEFAULT_COMBINING
    if combining not in COMBININGS:
        options = ", ".join(repr(c) for c in COMBININGS)
        raise ValueError(f"{owner}: expected combining to be one of {options}, got {combining!r}")
    return combining
