"""Gradient buffers that live as long as their parameter: written again on every step.

Why: a fresh array of tens of MB costs page faults before any work (about 6 ms per 71 MB
here: the allocator returns large blocks to the system and gets them back zero-filled).
The LC layer's weight gradient at the paper's shape is 71 MB, and a fresh one per step
cost 17 ms of its 88 ms backward pass. ``buffer_for(weight, make)`` instead hands back
the same array every time it is asked for the same parameter, so each step writes over
the previous step's gradient.

What changes for a caller: the gradient that a fast backward returns for that parameter
is overwritten by the next backward of the same parameter (copy it to keep it). Different
parameters never share a buffer, and a buffer is dropped with its parameter.
"""

from __future__ import annotations

import weakref

_buffers: dict = {}      # id(parameter) -> buffer, removed when the parameter is collected


def buffer_for(param, make):
    """The buffer belonging to ``param``; ``make()`` creates it on first use (or when the old
    one no longer fits ``param``'s shape and dtype)."""
    key = id(param)
    buffer = _buffers.get(key)
    if buffer is None or buffer.shape != param.shape or buffer.dtype != param.dtype:
        buffer = make()
        try:
            if key not in _buffers:
                weakref.finalize(param, _buffers.pop, key, None)
        except TypeError:                 # an array type without weak references: no reuse
            return buffer
        _buffers[key] = buffer
    return buffer
