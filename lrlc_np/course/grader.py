"""``lrlc course grade``: grade a submission's exercises. Graded code is untrusted.

For each exercise of the handout, alone:

1. the handed-out files are read from the submission (regular files only, no links) and put
   into a fresh copy of this grader's own package, in a temporary folder, with the
   exercises this one calls put back solved (``catalogue.dependencies``), so one mistake
   costs its own points once; nothing else of the submission is used;
2. the cases are drawn now (``checks``), from a seed no copy holds (``--seed`` repeats one);
3. a sandboxed process (``sandbox``) imports that package, runs the exercise on the cases
   and hands back arrays only (.npz, no pickles); it then runs a realistic case three times
   while the supervisor times it;
4. this process, with its own package, decides: shapes, dtypes, the loop definitions,
   finite differences, identities, inputs left unchanged, and the time against the
   solution's (``--speed-limit`` times slower is flagged with its likely cause).

What graded code prints or raises reaches the feedback only as the exception's type and a
short first line. The result (a table; ``--json`` or ``--format gradescope``) is written by
this process alone, after every graded process is gone.

    {"package": "<submission>", "version": "0.7.0", "seed": 1234, "sandbox": "...",
     "handout": {"exercises": [...], "from": "..."}, "total": 12, "max_total": 20,
     "exercises": [{"name": "conv2d_backward", "points": 2, "max_points": 2,
                    "status": "pass" | "fail" | "not implemented" | "error" | "timed out" | "too slow" | "missing",
                    "message": "every case with its result, or empty on a pass",
                    "cases": [{"case": "...", "result": "pass" or the problem}],
                    "speed": {"ratio": 1.3, "seconds": 0.004, "solution_seconds": 0.003} or null}]}
"""

from __future__ import annotations

import contextlib
import copy
import io
import secrets
import subprocess
import tempfile
import zipfile
from pathlib import Path

import numpy

from .. import __version__
from . import catalogue, checks, handout as handouts, package, sandbox
from .catalogue import EXERCISES
from .runner import PROGRAMS
from .supervise import read_regular

STATUSES = ("pass", "fail", "not implemented", "error", "timed out", "too slow", "missing")
SPEED_POLICIES = ("score", "warn", "off")
DEFAULT_TIMEOUT = 60.0
DEFAULT_SPEED_LIMIT = 20.0
#: a slowdown is flagged only when it also costs this many seconds (timer noise on a busy machine)
SPEED_FLOOR = 0.05
SPEED_REPEATS = 3
#: how much of what graded code raised reaches the feedback
SHOWN_CHARACTERS = 100


class GradeError(ValueError):
    """Grading could not run: no submission there, an unknown exercise, a bad handout record."""


def submission_root(path=None) -> Path:
    """The folder to read handed-out files from: PATH, or this installation's project folder."""
    if path is None:
        return catalogue.PACKAGE.parent
    root = Path(path)
    if not root.is_dir():
        raise GradeError(f"lrlc course grade: {path} is not a folder; give the folder of a student's submission "
                         f"(a student copy, or the handed-out files)")
    return root.resolve()


def choose_exercises(root, exercises=None, handout_path=None):
    """(names, where the list came from): --exercises, else --handout, else the submission's
    record, else every exercise."""
    if exercises:
        unknown = [n for n in exercises if n not in EXERCISES]
        if unknown:
            raise GradeError(f"unknown exercises {', '.join(unknown)}; the exercises are {', '.join(EXERCISES)}")
        return list(exercises), "--exercises"
    try:
        if handout_path is not None:
            record = handouts.read(handout_path)
            return list(record.exercises), str(record.path)
        found = handouts.find(root)
        if found is not None:
            return list(handouts.read(found).exercises), f"{found} (the submission's own record)"
    except handouts.HandoutError as err:
        raise GradeError(str(err)) from None
    return list(EXERCISES), "every exercise (no handout record)"


# --------------------------------------------------------------------------- one exercise

def _save(path, cases):
    numpy.savez(path, **{f"c{i}/{k}": v for i, case in enumerate(cases) for k, v in case.inputs.items()})


def _results(outputs, index):
    prefix = f"c{index}/"
    out, after, none, error = {}, {}, [], None
    for key in outputs:
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        if name == "!error":
            error = str(outputs[key][()])
        elif name == "!none":
            none = [str(v) for v in numpy.ravel(outputs[key])]
        elif name.startswith("after/"):
            after[name[len("after/"):]] = outputs[key]
        else:
            out[name] = outputs[key]
    return {"outputs": out, "after": after, "none": none, "error": error}


def _shown(error):
    """The exception's type and a short first line, nothing more: no terminal escapes or other
    characters that do not print (which could redraw the table on your screen)."""
    kind, _, text = error.partition(": ")
    if not kind.isidentifier() or len(kind) > 40:
        kind = "an exception"
    text = text.splitlines()[0] if text else ""
    text = "".join(c if c.isprintable() else "?" for c in text)
    return f"{kind}: {text[:SHOWN_CHARACTERS]}{'...' if len(text) > SHOWN_CHARACTERS else ''}"


#: the most a graded process's result file may hold, uncompressed (a zip bomb reads as no result)
MAX_RESULT_BYTES = 1 << 30
#: the kinds of array a result may be: numbers, booleans and text (the error messages)
RESULT_KINDS = "biufcSU"


def _load(path):
    """{name: array} of a graded process's result file, every array read now, or None when it
    is not a plain .npz of numbers and text (empty, truncated, a zip bomb, pickled objects, a
    link or a pipe: whatever the graded code forged reads as no result)."""
    data = read_regular(path, MAX_RESULT_BYTES)
    if data is None:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if sum(info.file_size for info in z.infolist()) > MAX_RESULT_BYTES:
                return None
        with numpy.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception:
        return None
    return arrays if all(a.dtype.kind in RESULT_KINDS for a in arrays.values()) else None


@contextlib.contextmanager
def _temporary_folder(prefix):
    """A temporary folder, removed afterwards however deep graded code nested folders in it
    (``shutil.rmtree`` recurses, and gives up near a thousand levels)."""
    folder = tempfile.TemporaryDirectory(prefix=prefix)
    try:
        yield Path(folder.name)
    finally:
        try:
            folder.cleanup()
        except RecursionError:
            subprocess.run(["rm", "-rf", "--", folder.name], check=False)


class Grader:
    """Grades exercises one at a time; keeps the solution's speed-case times between calls."""

    def __init__(self, *, seed=None, limits=None, sandbox_on=True, speed="score", speed_limit=DEFAULT_SPEED_LIMIT):
        if speed not in SPEED_POLICIES:
            raise GradeError(f"speed check: expected one of {', '.join(SPEED_POLICIES)}, got {speed!r}")
        self.seed = secrets.randbits(32) if seed is None else int(seed)
        self.limits = limits or sandbox.Limits()
        self.sandbox_on = sandbox_on
        self.speed, self.speed_limit = speed, float(speed_limit)
        self._solution_seconds = {}
        self._own_files = sandbox.fingerprint(catalogue.PACKAGE)

    def rng(self, name):
        return numpy.random.default_rng([self.seed, list(EXERCISES).index(name)])

    def with_seed(self, seed):
        """This grader drawing its cases from ``seed``; the solution's measured times are shared
        (the speed cases' shapes do not depend on the seed)."""
        other = copy.copy(self)
        other.seed = int(seed)
        return other

    # -- running

    def _run(self, name, submitted, solved, cases, speed_cases, speed_limit=None):
        """Build the package, run the graded process; -> (Run, outputs or None, speed outputs)."""
        with _temporary_folder("lrlc-grade-") as top, _temporary_folder("lrlc-stage-") as stage:
            package.build(top / "package", submitted, solved)
            (top / "work" / "speed").mkdir(parents=True)
            _save(top / "work" / "inputs.npz", cases)
            (top / "work" / "outputs.npz").write_bytes(b"")
            staged = []
            for rep, case in enumerate(speed_cases):
                staged.append(stage / f"speed{rep}.npz")
                _save(staged[-1], [case])
            run = sandbox.run(top, name, self.limits, self.sandbox_on, staged, speed_limit)
            outputs = _load(top / "work" / "outputs.npz")
            speed_outputs = [_load(stage / f"speed{rep}.out.npz") for rep in range(len(run.speed))]
            return run, outputs, speed_outputs

    def solution_seconds(self, name, speed_cases):
        """The grader's own solution's time on the speed case (measured once per grader)."""
        if name not in self._solution_seconds:
            run, _, _ = self._run(name, {}, [], [], speed_cases)
            self._solution_seconds[name] = min(run.speed) if run.speed else None
        return self._solution_seconds[name]

    def _check_own_files(self):
        changed = sandbox.changed_files(self._own_files, sandbox.fingerprint(catalogue.PACKAGE))
        if changed:
            raise GradeError(f"graded code changed the grader's own files ({', '.join(changed[:5])}) under "
                             f"{catalogue.PACKAGE}; grading stopped: reinstall lrlc_np, and grade inside bubblewrap "
                             f"or a container (TEACHING.md)")

    # -- one exercise

    def grade_exercise(self, name, root, handed_out) -> dict:
        """Grade exercise ``name`` of the submission at ``root``; ``handed_out`` lists the handout's
        exercises (their files are taken from the submission)."""
        points = EXERCISES[name][0]
        row = {"name": name, "points": 0, "max_points": points, "status": "", "message": "", "cases": [], "speed": None}
        files = catalogue.files(sorted(set(handed_out) | {name}, key=list(EXERCISES).index))
        submitted, problems = package.read_submission(root, files)
        own_file = catalogue.locate(name).file
        if own_file in problems:
            return {**row, "status": "missing", "message": f"{name}: {problems[own_file]}"}
        submitted = {f: t for f, t in submitted.items() if f not in problems}
        spec = checks.SPECS[name]
        rng = self.rng(name)
        cases = spec.draw(rng)
        speed_cases = [spec.speed(rng) for _ in range(SPEED_REPEATS)] if self.speed != "off" else []
        solution = self.solution_seconds(name, speed_cases) if speed_cases else None
        limit = None if solution is None else max(2.0, 3 * self.speed_limit * solution)
        try:
            run, outputs, speed_outputs = self._run(name, submitted, catalogue.dependencies(name), cases, speed_cases, limit)
        except package.SubmissionError as err:
            return {**row, "status": "error", "message": f"{name}: {err}"}
        finally:
            self._check_own_files()             # possible to change only without bubblewrap, as your own user
        return self._verdict(row, name, run, outputs, cases, speed_cases, speed_outputs, solution)

    def _verdict(self, row, name, run, outputs, cases, speed_cases, speed_outputs, solution):
        if run.failure:
            return {**row, "status": "error", "message": f"{name}: the grader could not run it: {run.failure}"}
        if outputs is None or "!import" in outputs:
            if run.timed_out:
                return {**row, "status": "timed out", "message": f"{name}: timed out after {self.limits.timeout:g} s"}
            if outputs is not None:
                why = _shown(str(outputs["!import"][()]))
                return {**row, "status": "error", "message": f"{name}: importing lrlc_np.ops failed: {why}"}
            return {**row, "status": "error", "message": f"{name}: the graded process ended (exit status "
                                                         f"{run.returncode}) without handing back a result file "
                                                         f"the grader can read (a plain .npz of arrays)"}
        hint = catalogue.locate(name).hint
        lines, errors, failed = [], [], 0
        for index, case in enumerate(cases):
            results = _results(outputs, index)
            if results["error"] is not None:
                errors.append(results["error"])
                kind = results["error"].partition(":")[0]
                problem = f"raised {kind if kind.isidentifier() and len(kind) <= 40 else 'an exception'}"
            elif not results["outputs"] and not results["none"]:
                problem = "no result"
            else:
                found = checks.verify(name, case, results)
                problem = "; ".join(found) if found else ""
            failed += bool(problem)
            row["cases"].append({"case": case.label, "result": problem or "pass"})
            lines.append(f"  case {index + 1} ({case.label}): {problem or 'pass'}")
        unwritten = [e for e in errors if e.startswith(f"NotImplementedError: exercise {name}:")]
        if unwritten and len(unwritten) == failed:
            return {**row, "status": "not implemented", "message": f"exercise {name}: {hint}"}
        if failed:
            head = f"{name}: {failed} of {len(cases)} cases failed"
            tail = [f"  first error: {_shown(errors[0])}"] if errors else []
            tail += [f"  likely cause: {checks.SPECS[name].likely}"] if failed > len(errors) else []
            status = "timed out" if run.timed_out and failed == len(cases) else "fail"
            if status == "timed out":
                head = f"{name}: timed out after {self.limits.timeout:g} s"
            return {**row, "status": status, "message": "\n".join([head] + lines + tail)}
        return self._speed_verdict(row, name, run, speed_cases, speed_outputs, solution, len(cases))

    def _speed_verdict(self, row, name, run, speed_cases, speed_outputs, solution, count):
        passed = {**row, "points": row["max_points"], "status": "pass"}
        if not speed_cases or solution is None:
            return passed
        if len(run.speed) < len(speed_cases) and not run.speed_limit_hit:
            return {**row, "status": "error", "message": f"{name}: all {count} cases passed, but the speed case "
                                                         f"did not finish (exit status {run.returncode})"}
        for case, got in zip(speed_cases, speed_outputs):
            if not self._speed_result_correct(name, case, got):
                return {**row, "status": "fail", "message": f"{name}: all {count} cases passed, but the result on "
                                                            f"the speed case ({case.label}) is wrong"}
        seconds = min(run.speed) if run.speed else None
        ratio = float("inf") if seconds is None else seconds / solution
        row = {**row, "speed": {"ratio": ratio if seconds else None, "seconds": seconds, "solution_seconds": solution}}
        if ratio <= self.speed_limit or (seconds is not None and seconds - solution < SPEED_FLOOR):
            return {**passed, "speed": row["speed"]}
        how = f"more than {3 * self.speed_limit:g}x" if seconds is None else f"{ratio:.0f}x"
        message = (f"{name}: correct on all {count} cases, but {how} slower than the solution on "
                   f"{speed_cases[0].label} (limit {self.speed_limit:g}x): likely Python loops over positions or "
                   f"elements; use one matrix product, einsum or slice per kernel offset instead")
        if self.speed == "warn":
            return {**passed, "speed": row["speed"], "message": "warning: " + message}
        return {**row, "status": "too slow", "message": message}

    @staticmethod
    def _speed_result_correct(name, case, got):
        from .. import ops

        if got is None:
            return False
        expected = PROGRAMS[name](ops, {k: v.copy() for k, v in case.inputs.items()})
        for key, value in expected.items():
            if value is None:
                continue
            key = key if key in got else f"c0/{key}"
            if key not in got or got[key].shape != value.shape or got[key].dtype != value.dtype or \
                    checks.relative_error(got[key], value) > checks.FLOAT32:
                return False
        return True


# --------------------------------------------------------------------------- a whole submission

def make_grader(*, seed=None, timeout=DEFAULT_TIMEOUT, memory_mb=None, sandbox_on=True, speed="score",
                speed_limit=DEFAULT_SPEED_LIMIT) -> Grader:
    """A Grader with these settings (the options of ``lrlc course grade``)."""
    limits = sandbox.Limits(timeout=timeout) if memory_mb is None else sandbox.Limits(timeout=timeout, memory_mb=memory_mb)
    return Grader(seed=seed, limits=limits, sandbox_on=sandbox_on, speed=speed, speed_limit=speed_limit)


def grade(path=None, exercises=None, *, handout=None, progress=None, grader=None, **options) -> dict:
    """Grade the exercises of the submission at ``path`` (default: this installation, which
    scores full marks); ``options`` are those of ``make_grader``. See the module docstring."""
    root = submission_root(path)
    names, source = choose_exercises(root, exercises, handout)
    grader = grader or make_grader(**options)
    rows = []
    for name in names:
        rows.append(grader.grade_exercise(name, root, names))
        if progress:
            progress(rows[-1])
    return {"package": str(root), "version": __version__, "seed": grader.seed,
            "sandbox": sandbox.describe(grader.sandbox_on), "handout": {"exercises": names, "from": source},
            "total": sum(r["points"] for r in rows), "max_total": sum(r["max_points"] for r in rows), "exercises": rows}


def format_table(result) -> str:
    """The grade as text: a row per exercise, then every failing exercise's cases."""
    rows = [(r["name"], f"{r['points']}/{r['max_points']}", r["status"]) for r in result["exercises"]]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(("exercise", "points", "result"))]
    line = lambda row: f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]}".rstrip()
    out = [f"grading {result['package']} (seed {result['seed']}; {result['handout']['from']})",
           line(("exercise", "points", "result")), "-" * (sum(widths) + 6)]
    out += [line(row) for row in rows]
    out.append(f"total {result['total']} / {result['max_total']}")
    details = [r["message"] for r in result["exercises"] if r["message"]]
    if details:
        out += ["", *details]
    return "\n".join(out)


def gradescope(result) -> dict:
    """Gradescope's results.json: a test per exercise (name, score, max_score, output,
    visibility) and the total score."""
    tests = [{"name": r["name"], "score": r["points"], "max_score": r["max_points"],
              "status": "passed" if r["status"] == "pass" else "failed",
              "output": r["message"] or "passed", "visibility": "visible"} for r in result["exercises"]]
    return {"score": result["total"], "output": f"lrlc_np {result['version']} grader, seed {result['seed']}; "
                                                f"{result['handout']['from']}",
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}
