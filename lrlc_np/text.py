"""How the library writes shapes in messages, tables and summaries, one way everywhere."""

from __future__ import annotations


def format_shape(shape, batch=None) -> str:
    """(2, 3, 4) -> "(2, 3, 4)", (64,) -> "(64,)"; with ``batch`` (e.g. "N") the first axis is
    written as that letter: (8, 64, 26, 26) -> "(N, 64, 26, 26)"."""
    values = [str(v) for v in shape]
    if batch is not None and values:
        values[0] = batch
    return "(" + ", ".join(values) + ("," if len(values) == 1 else "") + ")"
