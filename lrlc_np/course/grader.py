"""``lrlc course grade``: grade a package's exercises, one process each, with a time limit.

Each exercise of ``exercises.EXERCISES`` runs in a fresh Python process that imports the
``lrlc_np`` under PATH (``PYTHONPATH=PATH``, the clear tier) and runs this package's check
script on it, so one exercise that hangs, crashes or raises ``NotImplementedError`` scores
0 without stopping the others. The result is a table and, for a learning-management
system, JSON:

    {"package": "<path>", "total": 12, "max_total": 20,
     "exercises": [{"name": "conv2d_backward", "points": 2, "max_points": 2,
                    "status": "pass" | "fail" | "not implemented" | "error" | "timed out",
                    "message": "the first failure in plain words, or empty"}, ...]}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .exercises import EXERCISES

STATUSES = ("pass", "fail", "not implemented", "error", "timed out")
DEFAULT_TIMEOUT = 120.0


class GradeError(ValueError):
    """The package to grade cannot be found or an exercise name is unknown."""


def package_root(path=None) -> Path:
    """The folder that holds the ``lrlc_np`` package to grade: PATH (a project folder, or the
    package folder itself), or by default the one this grader belongs to."""
    if path is None:
        return Path(__file__).resolve().parent.parent.parent
    path = Path(path).resolve()
    if (path / "lrlc_np" / "__init__.py").is_file():
        return path
    if path.name == "lrlc_np" and (path / "__init__.py").is_file():
        return path.parent
    raise GradeError(f"lrlc course grade: no lrlc_np package in {path} (expected {path / 'lrlc_np' / '__init__.py'}); "
                     "give the folder of a student copy")


def _check_names(names):
    unknown = [n for n in names if n not in EXERCISES]
    if unknown:
        raise GradeError(f"unknown exercises {', '.join(unknown)}; the exercises are {', '.join(EXERCISES)}")
    return list(names)


def grade_one(name, root, timeout=DEFAULT_TIMEOUT) -> dict:
    """Run exercise ``name`` on the package under ``root`` in its own process."""
    points = EXERCISES[name][0]
    env = dict(os.environ, PYTHONPATH=str(root), LRLC_NP_OPS="clear", LRLC_NP_THREADS="1")
    env.pop("PYTHONHOME", None)
    script = Path(__file__).with_name("exercises.py")
    try:
        done = subprocess.run([sys.executable, str(script), name], capture_output=True, text=True,
                              env=env, timeout=timeout, cwd=str(root))
    except subprocess.TimeoutExpired:
        result = {"status": "timed out", "message": f"exercise {name}: timed out after {timeout:g} s"}
    else:
        lines = done.stdout.strip().splitlines()
        try:
            result = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            result = {"status": "error", "message": f"exercise {name}: the check process failed: {last}"}
    return {"name": name, "points": points if result["status"] == "pass" else 0, "max_points": points,
            "status": result["status"], "message": result["message"]}


def grade(path=None, exercises=None, timeout=DEFAULT_TIMEOUT, progress=None) -> dict:
    """Grade every exercise (or the named ones) of the package at ``path``; see the module docstring."""
    root = package_root(path)
    names = _check_names(exercises or list(EXERCISES))
    rows = []
    for name in names:
        rows.append(grade_one(name, root, timeout))
        if progress:
            progress(rows[-1])
    return {"package": str(root / "lrlc_np"), "total": sum(r["points"] for r in rows),
            "max_total": sum(r["max_points"] for r in rows), "exercises": rows}


def format_table(result) -> str:
    """The grade as a plain-text table, one row per exercise, then the total."""
    rows = [(r["name"], f"{r['points']}/{r['max_points']}", r["status"], r["message"]) for r in result["exercises"]]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(("exercise", "points", "result"))]
    line = lambda row: f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}".rstrip()
    out = [f"grading {result['package']}", line(("exercise", "points", "result", "first failure")),
           "-" * (sum(widths) + 30)]
    out += [line(row) for row in rows]
    out.append(f"total {result['total']} / {result['max_total']}")
    return "\n".join(out)
