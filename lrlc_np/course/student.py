"""``lrlc course make-student``: a self-contained copy in which the student writes the ops.

The copy holds the package, the tests a student can run, the tutorials, ``setup.py``, a
student README and ``lrlc-handout.json`` (the handout record: its exercises and the
package version, which ``lrlc course grade`` grades by default). In the clear tier
(``lrlc_np/ops/``) every block fenced for a chosen exercise (see ``markers``) becomes
``raise NotImplementedError("exercise <name>: <hint>")``, with the hint kept as a comment;
blocks of the other exercises keep their solutions, without fences.

No answer ships in the copy: the fast tier is left out (it would give the answers away),
and so are the course kit (the grader's checks) and the course's own tests (which hold the
correct line of every exercise). The copy runs on the clear tier, so the layers,
``lrlc train`` and the tutorials use the student's functions; in the tutorials an exercise
not written yet is replaced by its loop definition (``lrlc_np.stand_ins``).
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from .. import __version__
from .catalogue import EXERCISES, files as exercise_files
from .handout import MANIFEST, Handout
from .markers import exercises_in, strip_solutions

#: left out of a copy: the fast tier, the course kit, caches
PACKAGE_LEFT_OUT = ("fast", "course", "__pycache__", "*.pyc")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".hypothesis", ".pytest_cache")


class StudentCopyError(ValueError):
    """The copy cannot be made: the destination exists, or the source lacks what a copy needs."""


def source_root() -> Path:
    """The project folder this package was installed from (setup.py, tests/, tutorials/ beside it)."""
    return Path(__file__).resolve().parent.parent.parent


def _needs_fast_tier(path) -> bool:
    """True if the test file imports ``lrlc_np.fast`` at its top level (it cannot run in a copy)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Import) and any(a.name.startswith("lrlc_np.fast") for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("lrlc_np.fast") or (node.module == "lrlc_np" and
                                                          any(a.name == "fast" for a in node.names)):
                return True
    return False


#: the tests a student copy keeps: the ops, the layers and the gradient checks, with their helpers
#: (the rest test the project around them: run directories, benchmarks, the site, the course kit)
STUDENT_TESTS = ("__init__.py", "conftest.py", "strategies.py", "test_ops_*.py", "test_layers_*.py",
                 "test_gradcheck.py", "test_input_dependent.py", "test_per_basis.py", "test_models.py",
                 "test_optim.py")


def student_tests(tests) -> list:
    """The test files a copy keeps: those of STUDENT_TESTS that do not need the fast tier."""
    kept = set()
    for pattern in STUDENT_TESTS:
        for path in Path(tests).glob(pattern):
            if not (path.name.startswith("test_") and _needs_fast_tier(path)):
                kept.add(path.name)
    return sorted(kept)


def make_student_copy(dest, exercises=None, source=None, overwrite=False) -> dict:
    """Write a student copy to ``dest``; returns {"dest", "exercises" (handed out), "kept", "tests"}.

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
    shutil.copytree(source / "lrlc_np", dest / "lrlc_np", ignore=shutil.ignore_patterns(*PACKAGE_LEFT_OUT))
    shutil.copytree(source / "tutorials", dest / "tutorials", ignore=_IGNORE)
    tests = student_tests(source / "tests")
    (dest / "tests").mkdir()
    for name in tests:
        shutil.copy2(source / "tests" / name, dest / "tests" / name)
    for name in ("setup.py", "LICENSE", "pytest.ini"):
        if (source / name).exists():
            shutil.copy2(source / name, dest / name)
    for path in sorted((dest / "lrlc_np" / "ops").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        path.write_text(strip_solutions(text, set(chosen), str(path)), encoding="utf-8")
    record = Handout(tuple(chosen), __version__)
    handed_files = exercise_files(chosen, source / "lrlc_np") if chosen else []
    (dest / MANIFEST).write_text(record.to_json(handed_files), encoding="utf-8")
    (dest / "README.md").write_text(student_readme(chosen, marked, tests), encoding="utf-8")
    return {"dest": str(dest), "exercises": chosen, "kept": [e for e in in_order if e not in chosen], "tests": tests}


def student_readme(chosen, marked, tests) -> str:
    """The README of a student copy: what to write, where, how to check and train."""
    rows = "\n".join(f"| `{name}` | {', '.join(f'`lrlc_np/ops/{f}`' for f in marked[name])} | "
                     f"{EXERCISES[name][0] if name in EXERCISES else '-'} | {EXERCISES[name][1] if name in EXERCISES else ''} |"
                     for name in chosen)
    example = chosen[0] if chosen else "conv2d_forward"
    return f"""# lrlc_np: student copy

This is a copy of `lrlc_np` (convolution, locally connected and low-rank locally connected
layers in NumPy, after Elsayed et al., ICML 2020) in which you write the forward and
backward passes yourself. Every place to fill in raises
`NotImplementedError("exercise <name>: <hint>")` and keeps its `# HINT:` above it; the
docstring of each function gives the shapes and the formulas, and `lrlc_np/reference.py`
gives the loop definitions of conv, LC and LRLC, forward and backward, to check your
understanding against. `{MANIFEST}` records what was handed out.

| exercise | file | points | what |
|---|---|---|---|
{rows}

## Check your work

```bash
pip install -e ".[test]"              # once, in a fresh virtual environment (python3 -m venv .venv)
pytest                                # every test; an exercise not written yet is skipped, by name
pytest -k {example}               # the tests of one exercise
lrlc gradcheck                        # every layer's backward pass against finite differences
```

The tests compare your functions with the loop definitions and with finite differences on
inputs that hypothesis draws (non-square kernels, strides, padding, float32 and float64).
A test that reaches an exercise you have not written yet is reported as skipped, with the
exercise's name: the command passes until you write something wrong. The test files here:
{', '.join(f'`{t}`' for t in tests if t.startswith('test_'))}.

Your teacher grades your files with their own installation of the grader (`lrlc course
grade`), which draws new cases each time, checks every exercise alone (with the teacher's
solution in place of the other exercises it calls), checks that float32 stays float32, that
no input is changed in place, and that your code is not much slower than a vectorised
solution (Python loops over every output element are).

## Read and train

The tutorials (`tutorials/`, start with `01_convolution.py`) run in this copy: where they
reach an exercise you have not written yet they use its loop definition instead and say so.
Once the exercises pass, train the paper's network on your own code (this copy has only
the readable "clear" tier of ops, the one you wrote):

```bash
lrlc train --dataset mnist-sample --epochs 5 --filters 16 --batch-size 32 --lr 0.1 --warmup-epochs 0.25 --out runs/mine
```

It trains on 3,680 real MNIST digits that ship with the package and prints the test
accuracy (on 1,000 more).
"""
