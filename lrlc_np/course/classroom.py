"""``lrlc course grade-all``: grade a whole class, one folder per student, into one CSV.

    submissions/alice/...      each folder is one student's submission; its name is the
    submissions/bob/...        student's id, the first column of the CSV

Each student's result is kept as ``<results>/<id>.json`` (the full grade, with every case)
with a fingerprint of the handed-out files it graded. Started again, a student whose files
have not changed is not graded again (``regrade`` forces it); the CSV is rewritten from the
kept results after every student, so an interrupted run loses at most the students being
graded when it stopped. One seed is drawn for the class and kept in ``<results>/class.json``;
each student's cases are drawn from it, the student's id and the fingerprint of their files
(``student_seed``): the same files meet the same cases across restarts, and changed files (a
resubmission) meet new ones, so the seed printed in a student's feedback tells nothing about
the next grading.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import secrets
import time
from pathlib import Path

from .._atomic import atomic_write
from . import catalogue, package
from .grader import GradeError, choose_exercises, grade, make_grader

CLASS_RECORD = "class.json"
_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")


def students(submissions, say=None) -> list:
    """The student folders of ``submissions``, sorted by name. Hidden folders and files are
    skipped; so is a link (it may lead into another student's folder), said through ``say``."""
    root = Path(submissions)
    if not root.is_dir():
        raise GradeError(f"grade-all: {submissions} is not a folder of submissions (one folder per student)")
    found = []
    for path in sorted(root.iterdir()):
        if path.is_symlink():
            if say:
                say(f"grade-all: skipped {path}: a link, not a folder (it could lead into another student's "
                    f"folder); copy the submission there to grade it")
            continue
        if path.name.startswith(".") or not path.is_dir():
            continue
        if not _STUDENT_ID.match(path.name):
            raise GradeError(f"grade-all: {path}: a student's folder name is their id in the CSV; use letters, "
                             f"digits and . _ @ + - only")
        if f"{path.name}.json" == CLASS_RECORD:
            raise GradeError(f"grade-all: {path}: this student's results would be kept as {CLASS_RECORD}, the "
                             f"record of the class's seed; rename the folder (the id in the CSV)")
        found.append(path)
    if not found:
        raise GradeError(f"grade-all: {submissions} holds no student folders")
    return found


def fingerprint(folder, names) -> str:
    """SHA-256 over the handed-out files of one submission (as the grader reads them)."""
    texts, problems = package.read_submission(folder, catalogue.files(names))
    digest = hashlib.sha256()
    for file in sorted(set(texts) | set(problems)):
        digest.update(file.encode() + b"\0" + texts.get(file, "missing: " + problems.get(file, "")).encode() + b"\0")
    return digest.hexdigest()


def _class_seed(results, seed):
    """The seed of this class's grading: given, or kept from an earlier run, or new."""
    record = results / CLASS_RECORD
    if seed is None and record.is_file():
        return int(json.loads(record.read_text(encoding="utf-8"))["seed"])
    seed = secrets.randbits(32) if seed is None else int(seed)
    with atomic_write(record, "w") as f:
        f.write(json.dumps({"seed": seed}) + "\n")
    return seed


def student_seed(class_seed, student, stamp) -> int:
    """The seed of one student's cases: from the class's seed, the id and their files' fingerprint."""
    digest = hashlib.sha256(f"{class_seed}\0{student}\0{stamp}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


_GRADER = None


def _worker_grader(options):
    """One Grader per worker process, so the solution's speed-case times are measured once."""
    global _GRADER
    if _GRADER is None:
        _GRADER = make_grader(**options)
    return _GRADER


def _grade_student(args):
    """Worker: grade one student; -> (id, result, seconds)."""
    folder, names, options, seed = args
    started = time.monotonic()
    result = grade(folder, names, grader=_worker_grader(options).with_seed(seed))
    return folder.name, result, time.monotonic() - started


def write_csv(path, results, names):
    """One row per student: id, the points of each exercise, total, max_total."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", *names, "total", "max_total"])
    for student, result in results:
        points = {r["name"]: r["points"] for r in result["exercises"]}
        writer.writerow([student, *(points.get(n, 0) for n in names), result["total"], result["max_total"]])
    with atomic_write(path, "w") as f:
        f.write(buffer.getvalue())


def grade_all(submissions, csv_path, *, results_dir=None, jobs=1, regrade=False, exercises=None, handout=None,
              seed=None, progress=print, **options) -> list:
    """Grade every student folder of ``submissions``; write ``csv_path``; -> [(id, result)].

    options  passed on to ``grader.grade`` (timeout, sandbox_on, speed, speed_limit)
    """
    folders = students(submissions, progress)
    csv_path = Path(csv_path)
    results = Path(results_dir) if results_dir is not None else csv_path.with_name(csv_path.stem + "-results")
    results.mkdir(parents=True, exist_ok=True)
    # --exercises, else --handout, else a record in the submissions folder: never a student's own
    names, source = choose_exercises(Path(submissions), exercises, handout)
    options = {**options, "seed": _class_seed(results, seed)}
    done, todo = {}, []
    for folder in folders:
        kept = results / f"{folder.name}.json"
        stamp = fingerprint(folder, names)
        if kept.is_file() and not regrade:
            saved = json.loads(kept.read_text(encoding="utf-8"))
            if saved.get("fingerprint") == stamp and saved["result"]["handout"]["exercises"] == names:
                done[folder.name] = saved["result"]
                continue
        todo.append((folder, stamp))
    if progress and done:
        progress(f"grade-all: {len(done)} of {len(folders)} students already graded with these files (kept)")
    if progress:
        progress(f"grade-all: grading {len(todo)} students, {jobs} at a time; exercises: {', '.join(names)} ({source})")

    def finish(student, result, seconds, stamp, count):
        with atomic_write(results / f"{student}.json", "w") as f:
            f.write(json.dumps({"fingerprint": stamp, "result": result}, indent=2) + "\n")
        done[student] = result
        write_csv(csv_path, [(f.name, done[f.name]) for f in folders if f.name in done], names)
        if progress:
            progress(f"[{count}/{len(todo)}] {student}: {result['total']}/{result['max_total']} ({seconds:.1f} s)")

    stamps = dict((f.name, s) for f, s in todo)
    work = [(folder, names, options, student_seed(options["seed"], folder.name, stamp)) for folder, stamp in todo]
    if jobs <= 1 or len(work) <= 1:
        for count, args in enumerate(work, start=1):
            finish(*_grade_student(args), stamps[args[0].name], count)
    else:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            for count, (student, result, seconds) in enumerate(pool.imap_unordered(_grade_student, work), start=1):
                finish(student, result, seconds, stamps[student], count)
    write_csv(csv_path, [(f.name, done[f.name]) for f in folders], names)
    return [(f.name, done[f.name]) for f in folders]
