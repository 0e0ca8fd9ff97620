"""Stand-ins for exercises a student has not written yet, so that a copy's tutorials still run.

In a student copy (``lrlc course make-student``) every exercise of the handout raises
``NotImplementedError("exercise <name>: <hint>")`` until the student writes it. A tutorial
that reads like a lecture should not stop there, so it starts with::

    from lrlc_np import stand_ins
    stand_ins.for_unwritten_exercises()

In this package (every exercise written) that does nothing. In a copy it puts, for each
exercise still unwritten, its loop definition (``lrlc_np.reference``) in its place and
prints one note naming the exercise to write. Tutorials that train a network need the
vectorised code, not loops, so they start with ``stand_ins.require_written("05")``, which
stops the tutorial with one line naming what to write first.
"""

from __future__ import annotations


def for_unwritten_exercises(log=print) -> list:
    """Put loop definitions in place of the unwritten exercises; -> their names ([] here)."""
    return []


def require_written(tutorial: str) -> None:
    """Stop ``tutorial`` with one clear line when an exercise it needs is not written yet."""
    return None
