"""Solution markers: the blocks of the clear tier that a student writes.

In ``lrlc_np/ops/*.py`` a block a student is to write is fenced like this::

    # BEGIN SOLUTION conv2d_backward
    # HINT: dY = dy as (M, C_out) with rows (n, i, j); dW = dY^T X, ...
    dy_mat = dy.transpose(0, 2, 3, 1).reshape(-1, c_out)
    ...
    # END SOLUTION

The word after ``BEGIN SOLUTION`` names the exercise (several blocks may share one name,
e.g. the softmax and the norm branch of ``combining_weights_forward``); the ``# HINT:``
line is kept in the student copy, and the block's code becomes
``raise NotImplementedError("exercise <name>: <hint>")`` at the block's indentation.
A teacher makes a new exercise by fencing another block the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION (?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*$")
_HINT = re.compile(r"^[ \t]*# HINT: ?(?P<hint>.*)$")
_END = re.compile(r"^[ \t]*# END SOLUTION\s*$")


class MarkerError(ValueError):
    """A solution fence is malformed: no HINT line, no END, nested or stray markers."""


@dataclass(frozen=True)
class Block:
    """One fenced block: its exercise name, hint, indentation and 1-based line span (fences included)."""

    name: str
    hint: str
    indent: str
    first: int
    last: int


def find_blocks(text: str, where: str = "<text>") -> list[Block]:
    """Every fenced block of ``text``, in order; raises MarkerError naming ``where`` and the line."""
    blocks, open_block = [], None
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        begin, end = _BEGIN.match(line), _END.match(line)
        if begin:
            if open_block is not None:
                raise MarkerError(f"{where}:{number}: BEGIN SOLUTION inside the block opened at line {open_block[3]}")
            hint = _HINT.match(lines[number]) if number < len(lines) else None
            if hint is None:
                raise MarkerError(f"{where}:{number}: expected a '# HINT: ...' line after BEGIN SOLUTION "
                                  f"{begin['name']}, got {lines[number].strip() if number < len(lines) else 'the end of the file'!r}")
            open_block = (begin["name"], hint["hint"].strip(), begin["indent"], number)
        elif end:
            if open_block is None:
                raise MarkerError(f"{where}:{number}: END SOLUTION without a BEGIN SOLUTION")
            blocks.append(Block(*open_block, number))
            open_block = None
        elif "BEGIN SOLUTION" in line or "END SOLUTION" in line:
            raise MarkerError(f"{where}:{number}: malformed solution marker {line.strip()!r}; expected "
                              "'# BEGIN SOLUTION <name>' or '# END SOLUTION' alone on its line")
    if open_block is not None:
        raise MarkerError(f"{where}:{open_block[3]}: BEGIN SOLUTION {open_block[0]} is never closed by END SOLUTION")
    return blocks


def strip_solutions(text: str, exercises, where: str = "<text>") -> str:
    """``text`` with the blocks of ``exercises`` (a set of names) replaced by a ``raise`` and
    every other block's fences removed (its solution kept, as if never marked)."""
    lines = text.splitlines(keepends=True)
    out, position = [], 0
    for block in find_blocks(text, where):
        out += lines[position : block.first - 1]
        if block.name in exercises:
            out.append(f"{block.indent}# HINT: {block.hint}\n")
            message = f"exercise {block.name}: {block.hint}"
            out.append(f"{block.indent}raise NotImplementedError({message!r})\n")
        else:
            out += lines[block.first + 1 : block.last - 1]          # the code, without its fences
        position = block.last
    out += lines[position:]
    return "".join(out)


def exercises_in(folder) -> dict[str, list[str]]:
    """{exercise name: [file names that hold its blocks]} for the .py files of ``folder``."""
    found: dict[str, list[str]] = {}
    for path in sorted(Path(folder).glob("*.py")):
        for block in find_blocks(path.read_text(encoding="utf-8"), str(path)):
            files = found.setdefault(block.name, [])
            if path.name not in files:
                files.append(path.name)
    return found
