"""``lrlc course make-student``: a self-contained copy in which the student writes the ops.

The copy holds the package, its tests and tutorials, ``setup.py`` and a student README.
In the clear tier (``lrlc_np/ops/``) every block fenced for a chosen exercise (see
``markers``) becomes ``raise NotImplementedError("exercise <name>: <hint>")``, with the hint
kept as a comment; blocks of the other exercises keep their solutions, without fences. The
fast tier is left out (it would give the answers away), so the copy runs on the clear tier:
the layers, ``lrlc train`` and ``lrlc course grade`` use the student's own functions.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .exercises import EXERCISES
from .markers import exercises_in, strip_solutions

#: test files that need the fast tier, left out of a student copy
FAST_ONLY_TESTS = ("test_tiers.py", "test_parallel.py", "test_bench.py")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".hypothesis", ".pytest_cache")


class StudentCopyError(ValueError):
    """The copy cannot be made: the destination exists, or the source lacks what a copy needs."""


def source_root() -> Path:
    """The project folder this package was installed from (setup.py, tests/, tutorials/ beside it)."""
    return Path(__file__).resolve().parent.parent.parent


def make_student_copy(dest, exercises=None, source=None, overwrite=False) -> dict:
    """Write a student copy to ``dest``; returns {"dest", "exercises" (handed out), "kept"}.

    exercises  names to hand out (default: all of ``EXERCISES``); the others keep their solutions
    source     the project folder to copy (default: ``source_root()``)
    overwrite  replace an existing ``dest`` (otherwise an existing one is an error)
    """
    source = Path(source) if source is not None else source_root()
    dest = Path(dest)
    for needed in ("setup.py", "lrlc_np/ops", "tests", "tutorials"):
        if not (source / needed).exists():
            raise StudentCopyError(f"make-student: {source} has no {needed}; run it from a source checkout "
                                   "(pip install -e .), not from an installed wheel")
    marked = exercises_in(source / "lrlc_np" / "ops")
    in_order = [e for e in EXERCISES if e in marked] + [e for e in marked if e not in EXERCISES]
    chosen = in_order if exercises is None else [e for e in in_order if e in exercises] + \
        [e for e in exercises if e not in marked]
    unknown = [e for e in chosen if e not in marked]
    if unknown:
        raise StudentCopyError(f"make-student: no exercise {', '.join(unknown)}; the exercises are {', '.join(marked)}")
    if dest.exists():
        if not overwrite:
            raise StudentCopyError(f"make-student: {dest} exists; choose a new folder or pass --overwrite")
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copytree(source / "lrlc_np", dest / "lrlc_np", ignore=shutil.ignore_patterns("fast", "__pycache__", "*.pyc"))
    shutil.copytree(source / "tutorials", dest / "tutorials", ignore=_IGNORE)
    shutil.copytree(source / "tests", dest / "tests",
                    ignore=lambda folder, names: [n for n in names if n in FAST_ONLY_TESTS] + list(_IGNORE(folder, names)))
    for name in ("setup.py", "LICENSE", "pytest.ini"):
        if (source / name).exists():
            shutil.copy2(source / name, dest / name)
    for path in sorted((dest / "lrlc_np" / "ops").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        path.write_text(strip_solutions(text, set(chosen), str(path)), encoding="utf-8")
    (dest / "README.md").write_text(student_readme(chosen, marked), encoding="utf-8")
    return {"dest": str(dest), "exercises": chosen, "kept": [e for e in in_order if e not in chosen]}


def student_readme(chosen, marked) -> str:
    """The README of a student copy: what to write, where, how to check and train."""
    rows = "\n".join(f"| `{name}` | {', '.join(f'`lrlc_np/ops/{f}`' for f in marked[name])} | "
                     f"{EXERCISES[name][0] if name in EXERCISES else '-'} | {EXERCISES[name][2] if name in EXERCISES else ''} |"
                     for name in chosen)
    return f"""# lrlc_np: student copy

This is a copy of `lrlc_np` (convolution, locally connected and low-rank locally connected
layers in NumPy, after Elsayed et al., ICML 2020) in which you write the forward and
backward passes yourself. Every place to fill in raises
`NotImplementedError("exercise <name>: <hint>")` and keeps its `# HINT:` above it; the
docstring of each function gives the shapes and the formulas, and `lrlc_np/reference.py`
gives the loop definitions of conv, LC and LRLC, forward and backward, to check your
understanding against.

| exercise | file | points | what |
|---|---|---|---|
{rows}

```bash
pip install -e ".[test]"                  # once, in a virtual environment
lrlc course grade                         # every exercise: points, pass/fail, the first failure
lrlc course grade --exercises conv2d_forward,conv2d_backward
pytest tests/test_ops_gradients.py -x     # the finite-difference tests on your functions
```

`lrlc course grade` runs each exercise in its own process (one that hangs is stopped after
a time limit), on a few fixed float64 cases, against the loop definitions, finite
differences, the design identities (LRLC with K = 1 is a convolution; LRLC is the LC layer
of its effective weight) and checks that nothing is modified in place.

Once the exercises pass, train the paper's network on your own code (this copy has only
the readable "clear" tier of ops, the one you wrote):

```bash
lrlc train --dataset mnist-sample --epochs 5 --filters 16 --batch-size 32 --lr 0.1 --warmup-epochs 0.25 --out runs/mine
```

It trains on 3,680 real MNIST digits that ship with the package and prints the test
accuracy (on 1,000 more). With the reference solutions this took 21 seconds on a two-core
machine and reached 93.7% test accuracy; with the default 64 filters an epoch takes about
18 seconds. (The defaults, batch 128 and a one-epoch warm-up, are meant for full MNIST:
one such epoch on the sample reaches only about 33%.)
"""
