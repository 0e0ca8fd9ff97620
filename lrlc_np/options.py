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


class EnvironmentVariableError(ValueError):
    """An environment variable the library reads (LRLC_NP_BACKEND, LRLC_NP_OPS,
    LRLC_NP_THREADS) holds a value it cannot use; the message names the variable."""


def check_input_dependent(layers, input_dependent: bool, owner: str):
    """Input-dependent combining weights change LRLC layers only, so ``layers`` (layer types)
    must include one; raises ValueError naming ``owner``."""
    if input_dependent and "lrlc" not in layers:
        raise ValueError(f"{owner}: expected layers to include 'lrlc' with input_dependent=True (it changes "
                         f"LRLC layers only), got {tuple(layers)!r}")


def python_spelling(name, value) -> str:
    """How a Python caller spells a setting: ``combining='full'``."""
    return f"{name}={value!r}"


def _prefix(owner):
    return f"{owner}: " if owner else ""


def check_input_dependent(layers, input_dependent: bool, owner, spell=python_spelling):
    """Input-dependent combining weights change LRLC layers only, so ``layers`` (layer types)
    must include one; raises ValueError naming ``owner``, the settings spelt by ``spell``."""
    if input_dependent and "lrlc" not in layers:
        raise ValueError(f"{_prefix(owner)}{spell('input_dependent', True)} changes LRLC layers only, but "
                         f"{spell('layers', tuple(layers))} has no 'lrlc'; add one")


def resolve_combining(combining, input_dependent: bool, owner, spell=python_spelling) -> str:
    """The combining mode to use: ``combining``, or its default when it is None.

    Input-dependent LRLC computes one logit for every position and example, so it needs
    "full" (and None means "full" there); fixed LRLC defaults to "row_col", the paper's.
    Raises ValueError naming ``owner`` (None: no name) when the two conflict, the settings
    spelt by ``spell`` (a Python call's ``combining='full'``, or a command line's flags).
    """
    if input_dependent:
        if combining not in (None, "full"):
            raise ValueError(f"{_prefix(owner)}{spell('input_dependent', True)} computes a logit for every "
                             f"position, so it needs {spell('combining', 'full')} (its default), got "
                             f"{spell('combining', combining)}")
        return "full"
    if combining is None:
        return DEFAULT_COMBINING
    if combining not in COMBININGS:
        options = ", ".join(repr(c) for c in COMBININGS)
        raise ValueError(f"{owner}: expected combining to be one of {options}, got {combining!r}")
    return combining
