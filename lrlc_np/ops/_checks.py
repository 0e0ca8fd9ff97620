"""Argument checks shared by the ops and the layers.

Every check raises ``ValueError`` (wrong value or shape) or ``TypeError`` (wrong kind of
object or dtype) with a message that names the caller, what was expected and what was
received, e.g. ``conv2d_forward: expected x with 4 dimensions (N, C_in, H, W), got shape (3, 28, 28)``.
"""

from __future__ import annotations

import numbers

import numpy

from ..backend import get_array_module


def pair(value, what: str, owner: str, *, minimum: int = 1) -> tuple[int, int]:
    """Turn an int or an (h, w) pair into a pair of ints >= ``minimum``.

    >>> pair(3, "kernel_size", "Conv2D")
    (3, 3)
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        values = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
    ):
        values = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{owner}: expected {what} as an int or a pair of ints, got {value!r}")
    if min(values) < minimum:
        raise ValueError(f"{owner}: expected {what} >= {minimum}, got {value!r}")
    return values


def steps_and_padding(steps, padding, owner: str, steps_name: str = "stride"):
    """The pairs of a geometry: a stride (or a dilation, ``steps_name``) >= 1 and a padding >= 0."""
    return pair(steps, steps_name, owner), pair(padding, "padding", owner, minimum=0)


def positive_int(value, what: str, owner: str) -> int:
    """Check that ``value`` is an int >= 1 and return it."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{owner}: expected {what} as a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{owner}: expected {what} >= 1, got {value!r}")
    return int(value)


def choice(value, allowed: tuple[str, ...], what: str, owner: str) -> str:
    """Check that ``value`` is one of the ``allowed`` strings and return it."""
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{owner}: expected {what} to be one of {options}, got {value!r}")
    return value


def float_array(a, what: str, owner: str):
    """Check that ``a`` is a NumPy/CuPy array of real floating-point numbers."""
    if not hasattr(a, "dtype") or not hasattr(a, "shape"):
        raise TypeError(f"{owner}: expected {what} as an array, got {type(a).__name__}")
    if not numpy.issubdtype(a.dtype, numpy.floating):
        raise TypeError(
            f"{owner}: expected {what} with a floating-point dtype (float32 or float64), "
            f"got {a.dtype}"
        )
    return a


def float_tensor(a, layout: str, what: str, owner: str):
    """A float array with the dimensions that ``layout`` spells ("(N, C_in, H, W)": four)."""
    float_array(a, what, owner)
    return ndim(a, layout.count(",") + 1, layout, what, owner)


def optional_float(a, expected: tuple, what: str, owner: str):
    """None, or a float array of exactly the shape ``expected`` (a bias)."""
    if a is not None:
        float_array(a, what, owner)
        shape(a, expected, what, owner)
    return a


def ndim(a, expected: int, layout: str, what: str, owner: str):
    """Check the number of dimensions; ``layout`` spells the expected axes, e.g. "(N, C, H, W)"."""
    if a.ndim != expected:
        raise ValueError(
            f"{owner}: expected {what} with {expected} dimensions {layout}, "
            f"got shape {tuple(a.shape)}"
        )
    return a


def shape(a, expected: tuple, what: str, owner: str):
    """Check an exact shape; ``None`` in ``expected`` accepts any length on that axis."""
    got = tuple(a.shape)
    ok = len(got) == len(expected) and all(e is None or e == g for e, g in zip(expected, got))
    if not ok:
        want = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        if len(expected) == 1:
            want = want[:-1] + ",)"
        raise ValueError(f"{owner}: expected {what} of shape {want}, got {got}")
    return a


def non_empty_batch(x, owner: str):
    """Check that x (N, ...) holds at least one example."""
    if x.shape[0] == 0:
        raise ValueError(f"{owner}: expected a batch of at least one example, "
                         f"got x of shape {tuple(x.shape)}")
    return x


def same_dtype(arrays: dict, owner: str):
    """Check that all named arrays (None entries are skipped) share one dtype and backend."""
    named = [(k, v) for k, v in arrays.items() if v is not None]
    first_name, first = named[0]
    module = get_array_module(first)
    for name, a in named[1:]:
        if a.dtype != first.dtype:
            raise TypeError(
                f"{owner}: expected {name} with the dtype of {first_name} ({first.dtype}), "
                f"got {a.dtype}"
            )
        if get_array_module(a) is not module:
            raise TypeError(
                f"{owner}: {name} and {first_name} live on different backends; "
                "move both with lrlc_np.backend.to_device or to_numpy"
            )
