"""The record of a handout: which exercises a student copy hands out, from which version.

``lrlc course make-student`` writes ``lrlc-handout.json`` at the top of the copy:

    {"format": 1, "package": "lrlc_np", "version": "0.7.0",
     "exercises": ["im2col", "col2im", ...], "files": ["lrlc_np/ops/im2col.py", ...]}

``lrlc course grade`` grades the exercises of the handout: the teacher's own record given
with ``--handout`` (what was really handed out: a student can edit the copy's record), else
the record found in the submission, else every exercise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .catalogue import EXERCISES

MANIFEST = "lrlc-handout.json"
FORMAT = 1


class HandoutError(ValueError):
    """A handout record cannot be read; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Handout:
    exercises: tuple
    version: str
    path: str = ""          # where it was read from ("" when made here)

    def to_json(self, files) -> str:
        return json.dumps({"format": FORMAT, "package": "lrlc_np", "version": self.version,
                           "exercises": list(self.exercises), "files": [f"lrlc_np/{f}" for f in files]}, indent=2) + "\n"


def read(path) -> Handout:
    """Read and check a handout record."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HandoutError(f"{path}: no such handout record") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise HandoutError(f"{path}: not a handout record ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("exercises"), list):
        raise HandoutError(f"{path}: expected a handout record of format {FORMAT} with a list of exercises "
                           f"(as lrlc course make-student writes it)")
    names = data["exercises"]
    unknown = [n for n in names if n not in EXERCISES]
    if unknown or not names or not all(isinstance(n, str) for n in names):
        raise HandoutError(f"{path}: unknown exercises {unknown or names}; the exercises are {', '.join(EXERCISES)}")
    return Handout(tuple(names), str(data.get("version", "")), str(path))


def find(root) -> Path | None:
    """The handout record of the submission at ``root`` (a copy, or its lrlc_np folder), or None."""
    root = Path(root)
    for candidate in (root / MANIFEST, root.parent / MANIFEST if root.name == "lrlc_np" else None):
        if candidate is not None and candidate.is_file() and not candidate.is_symlink():
            return candidate
    return None
