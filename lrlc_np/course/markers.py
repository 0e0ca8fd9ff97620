"""Solution markers: the blocks of the clear tier that a student writes.

In ``lrlc_np/ops/*.py`` a block a student is to write is fenced like this::

    # BEGIN SOLUTION conv2d_backward
    # HINT: dY = dy as (M, C_out) with rows (n, i, j); dW = dY^T X, ...
    dy_mat = dy.transpose(0, 2, 3, 1).reshape(-1, c_out)
    ...
    # END SOLUTION

The word after ``BEGIN SOLUTION`` names the exercise (several blocks may share one name,
e.g. the softmax and the norm branch of ``combining_weights_forward``). A long hint goes on
over the comment lines right below it that start with ``#`` and two or more spaces::

    # HINT: pad x, then for each kernel offset (p, q) copy the strided slice ...
    #       into cols[:, :, p, q]; reorder to rows (n, i, j) and columns (c, p, q)

The hint's lines are kept in the student copy, and the block's code becomes
``raise NotImplementedError("exercise <name>: <hint>")`` at the block's indentation (the
hint's lines joined into one).
A teacher makes a new exercise by fencing another block the same way.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION (?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*$")
_HINT = re.compile(r"^[ \t]*# HINT: ?(?P<hint>.*)$")
_END = re.compile(r"^[ \t]*# END SOLUTION\s*$")
_MORE_HINT = re.compile(r"^[ \t]*#[ \t]{2,}(?P<more>\S.*)$")


class MarkerError(ValueError):
    """A solution fence is malformed: no HINT line, no END, nested or stray markers."""


@dataclass(frozen=True)
class Block:
    """One fenced block: its exercise name, hint (its lines joined), indentation and 1-based line
    span (fences included)."""

    name: str
    hint: str
    indent: str
    first: int
    last: int
    hint_last: int        # the hint's last line (the HINT line itself when it has no continuation)


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
            parts, hint_last = [hint["hint"].strip()], number + 1
            while hint_last < len(lines) and (more := _MORE_HINT.match(lines[hint_last])):
                parts.append(more["more"].strip())
                hint_last += 1
            open_block = (begin["name"], " ".join(parts), begin["indent"], number, hint_last)
        elif end:
            if open_block is None:
                raise MarkerError(f"{where}:{number}: END SOLUTION without a BEGIN SOLUTION")
            name, hint, indent, first, hint_last = open_block
            blocks.append(Block(name, hint, indent, first, number, hint_last))
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
            out += lines[block.first : block.hint_last]              # the hint, as written
            out.append(_raise_line(block.indent, f"exercise {block.name}: {block.hint}"))
        else:
            out += lines[block.hint_last : block.last - 1]           # the code, without fences or hint
        position = block.last
    out += lines[position:]
    return "".join(out)


def _raise_line(indent, message, width=100):
    """``raise NotImplementedError(message)`` at ``indent``, its string cut into pieces that
    Python joins again, so that no line passes ``width`` characters."""
    opening = f"{indent}raise NotImplementedError("
    pieces = textwrap.wrap(message, width=max(width - len(opening) - 3, 20), drop_whitespace=False,
                           break_long_words=False)
    if len(pieces) < 2 or "".join(pieces) != message:
        return f"{opening}{message!r})\n"
    gap = "\n" + " " * len(opening)
    return opening + gap.join(repr(piece) for piece in pieces) + ")\n"


def exercises_in(folder) -> dict[str, list[str]]:
    """{exercise name: [file names that hold its blocks]} for the .py files of ``folder``."""
    found: dict[str, list[str]] = {}
    for path in sorted(Path(folder).glob("*.py")):
        for block in find_blocks(path.read_text(encoding="utf-8"), str(path)):
            files = found.setdefault(block.name, [])
            if path.name not in files:
                files.append(path.name)
    return found
