"""A cheeky student against the grader: every cheat scores what the honest work scores.

Each test takes a student copy in which ``conv2d_forward`` is not written (honest score: 0),
adds a cheat, and grades it: the cheat scores 0 too. The cheats that read or write outside
the graded process's own folder need bubblewrap's walls and skip, saying so, where it is
missing; the others hold with or without it. No process of graded code is left afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lrlc_np import cli
from lrlc_np.course import catalogue, sandbox
from lrlc_np.course.grader import grade
from lrlc_np.course.student import make_student_copy

EXERCISE = "conv2d_forward"
SEED = 20201206
needs_bubblewrap = pytest.mark.skipif(sandbox.bubblewrap() is None,
                                      reason="bubblewrap is not installed or has no user namespaces here "
                                             "(apt-get install bubblewrap): these cheats are open without it")
TEACHER_PACKAGE = catalogue.PACKAGE


@pytest.fixture(scope="module")
def unwritten(tmp_path_factory):
    dest = tmp_path_factory.mktemp("cheats") / "copy"
    make_student_copy(dest, exercises=[EXERCISE, "conv2d_backward"])
    return dest


def _with(unwritten, tmp_path, code, file="lrlc_np/ops/conv.py", name="cheat"):
    """A copy of the unwritten copy with ``code`` appended to ``file`` (created if missing)."""
    import shutil

    dest = tmp_path / name
    shutil.copytree(unwritten, dest)
    path = dest / file
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write("\n" + code + "\n")
    return dest


def _score(dest, **options):
    options = {"seed": SEED, "speed": "off", "timeout": 20, **options}
    row = grade(dest, [EXERCISE], **options)["exercises"][0]
    return row["points"], row


def _processes_with(marker):
    """Processes whose command line holds ``marker``."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(pid))
    return found


def test_the_honest_unwritten_score_is_zero(unwritten):
    points, row = _score(unwritten)
    assert points == 0 and row["status"] == "not implemented"


# --------------------------------------------------------------------------- forging the verdict

CHEATS_ANYWHERE = {
    "print a pass line and exit": 'print(\'{"status": "pass", "message": ""}\')\nimport sys\nsys.exit(0)',
    "rewrite sys.stdout": (
        "import sys\n"
        "class _Liar:\n"
        "    def write(self, text):\n"
        "        sys.__stdout__.write(text.replace('not implemented', 'pass').replace('0/1', '1/1'))\n"
        "    def flush(self):\n"
        "        sys.__stdout__.flush()\n"
        "sys.stdout = _Liar()\n"),
    "call the loop definitions": (
        "from lrlc_np import reference as _reference\n"
        "def conv2d_forward(x, weight, bias=None, stride=1, padding=0):\n"
        "    y = _reference.conv2d(x, weight, bias, stride, padding)\n"
        "    return y, Conv2DCache(x.shape, im2col(x, weight.shape[2:], stride, padding), weight, stride, padding, bias is not None)\n"),
    "use the fast tier's answer": (
        "from lrlc_np.fast import conv2d_forward as _fast\n"
        "def conv2d_forward(x, weight, bias=None, stride=1, padding=0):\n"
        "    return _fast(x, weight, bias, stride, padding)\n"),
    "read the grader's checks": "from lrlc_np.course import checks as _checks\n",
    "use the stand-in loops": (
        "from lrlc_np import stand_ins as _s\n"
        "conv2d_forward = _s._stand_ins()['conv2d_forward'][0]\n"),
    "write a fake result file": (
        "import sys, numpy\n"
        "numpy.savez(sys.argv[5], **{'c0/y': numpy.zeros(3)})\n"
        "sys.exit(0)\n"),
}


@pytest.mark.parametrize("cheat", list(CHEATS_ANYWHERE))
def test_a_cheat_in_the_handed_out_file_scores_zero(unwritten, tmp_path, cheat):
    points, row = _score(_with(unwritten, tmp_path, CHEATS_ANYWHERE[cheat]))
    assert points == 0, row


@pytest.mark.parametrize("file,code", [
    ("sitecustomize.py", "import builtins; builtins.GRADE = 'pass'"),
    ("lrlc_np/sitecustomize.py", "import builtins; builtins.GRADE = 'pass'"),
    ("lrlc_np/__init__.py", f"import sys; sys.path.insert(0, {str(TEACHER_PACKAGE.parent)!r})"),
    ("tests/conftest.py", "raise SystemExit(0)"),
    ("lrlc_np/gradcheck.py", "def relative_error(a, b):\n    return 0.0"),
    ("lrlc_np/reference.py", "def conv2d(*args, **kwargs):\n    return None"),
], ids=["sitecustomize beside the package", "sitecustomize inside it", "__init__ loading the teacher's package",
        "conftest", "relative_error returning 0", "reference rewritten"])
def test_files_that_are_not_handed_out_are_never_used(unwritten, tmp_path, file, code):
    points, row = _score(_with(unwritten, tmp_path, code, file=file))
    assert points == 0 and row["status"] == "not implemented", row


def test_a_symbolic_link_to_the_teachers_solution_is_refused(unwritten, tmp_path):
    import shutil

    dest = tmp_path / "linked"
    shutil.copytree(unwritten, dest)
    target = dest / "lrlc_np" / "ops" / "conv.py"
    target.unlink()
    target.symlink_to(TEACHER_PACKAGE / "ops" / "conv.py")
    points, row = _score(dest)
    assert points == 0 and row["status"] == "missing" and "symbolic link" in row["message"]
    shutil.rmtree(dest / "lrlc_np" / "ops")
    (dest / "lrlc_np" / "ops").symlink_to(TEACHER_PACKAGE / "ops")          # the whole folder
    points, row = _score(dest)
    assert points == 0 and "symbolic link" in row["message"]


STEAL = (
    "import glob as _glob\n"
    "for _path in _glob.glob('/**/lrlc_np/ops/conv.py', recursive=True) + [{teacher!r}]:\n"
    "    try:\n"
    "        _text = open(_path).read()\n"
    "    except OSError:\n"
    "        continue\n"
    "    if 'BEGIN SOLUTION conv2d_forward' in _text:\n"
    "        exec(compile(_text, _path, 'exec'), globals())\n"
    "        break\n")


@needs_bubblewrap
def test_the_teachers_solved_sources_are_not_there_to_read(unwritten, tmp_path):
    code = STEAL.format(teacher=str(TEACHER_PACKAGE / "ops" / "conv.py"))
    points, row = _score(_with(unwritten, tmp_path, code))
    assert points == 0, row


@needs_bubblewrap
def test_graded_code_cannot_write_the_teachers_files(unwritten, tmp_path):
    target = TEACHER_PACKAGE / "ops" / "zz_written_by_graded_code.py"
    code = f"try:\n    open({str(target)!r}, 'w').write('x = 1')\nexcept OSError:\n    pass\n"
    try:
        points, _ = _score(_with(unwritten, tmp_path, code))
        assert points == 0 and not target.exists()
    finally:
        target.unlink(missing_ok=True)


@needs_bubblewrap
def test_graded_code_has_no_network(unwritten, tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    connections = []

    def accept():
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not connections:
            try:
                connections.append(server.accept())
            except OSError:
                pass

    thread = threading.Thread(target=accept)
    thread.start()
    code = f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'hi')\nexcept OSError:\n    pass\n"
    points, _ = _score(_with(unwritten, tmp_path, code))
    thread.join()
    server.close()
    assert points == 0 and not connections


def test_the_teachers_environment_is_not_visible(unwritten, tmp_path, monkeypatch):
    monkeypatch.setenv("LRLC_TEACHER_SECRET", "s3cr3t-token")
    code = ("import os\n"
            "def conv2d_forward(*args, **kwargs):\n"
            "    raise RuntimeError('env: ' + os.environ.get('LRLC_TEACHER_SECRET', 'none') + ' ' + str(sorted(os.environ)))\n")
    points, row = _score(_with(unwritten, tmp_path, code))
    assert points == 0 and "s3cr3t-token" not in row["message"] and "env: none" in row["message"]


def test_only_a_short_first_line_of_an_exception_reaches_the_feedback(unwritten, tmp_path):
    """A long message (a solution file, say) is cut to its first 100 characters of one line."""
    code = ("def conv2d_forward(*args, **kwargs):\n"
            "    raise ValueError('A' * 5000 + '\\nsecond line')\n")
    points, row = _score(_with(unwritten, tmp_path, code))
    assert points == 0 and "second line" not in row["message"]
    assert "A" * 100 in row["message"] and "A" * 101 not in row["message"]
    assert len(json.dumps(row)) < 5000


def test_an_exception_cannot_redraw_the_teachers_terminal(unwritten, tmp_path, capsys):
    """Terminal escapes in an exception's message (erase the line above, move the cursor, a
    right-to-left override) would let the table on your screen show a pass."""
    code = ("def conv2d_forward(*args, **kwargs):\n"
            "    raise ValueError('\\x1b[2K\\x1b[1A\\x1b[2K conv2d_forward  1/1  pass \\u202e ssap\\x07')\n")
    dest = _with(unwritten, tmp_path, code)
    points, row = _score(dest)
    assert points == 0 and "\x1b" not in row["message"] and "\u202e" not in row["message"], row
    assert cli.main(["course", "grade", str(dest), "--exercises", EXERCISE, "--no-progress", "--speed-check", "off"]) == 0
    assert "\x1b" not in capsys.readouterr().out


# --------------------------------------------------------------------------- leaving things behind

DETACH = (
    "import os, sys, time\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        sys.argv = ['{marker}']\n"
    "        time.sleep(3)\n"
    "        try:\n"
    "            open({target!r}, 'w').write('{{\"total\": 20, \"max_total\": 20}}')\n"
    "        except OSError:\n"
    "            pass\n"
    "        os.execvp('sleep', ['sleep', '{marker}'])\n"
    "    os._exit(0)\n")


@pytest.mark.parametrize("sandbox_on", [True, False], ids=["bubblewrap", "no bubblewrap"])
def test_nothing_graded_code_starts_outlives_the_grader(unwritten, tmp_path, sandbox_on):
    """A detached process that meant to rewrite the --json file after the grader exited: it is
    killed with the graded process, and the file says what the grader said."""
    if sandbox_on and sandbox.bubblewrap() is None:
        pytest.skip("bubblewrap is not available here")
    marker = f"1234.{os.getpid()}{int(sandbox_on)}"
    result_file = tmp_path / "grade.json"
    dest = _with(unwritten, tmp_path, DETACH.format(marker=marker, target=str(result_file)))
    argv = ["course", "grade", str(dest), "--exercises", EXERCISE, "--json", str(result_file), "--no-progress",
            "--speed-check", "off"] + ([] if sandbox_on else ["--no-sandbox"])
    assert cli.main(argv) == 0
    assert not _processes_with(marker)
    time.sleep(4)
    assert not _processes_with(marker)
    assert json.loads(result_file.read_text())["total"] == 0


def test_a_memory_hog_is_stopped_and_the_grader_goes_on(unwritten, tmp_path):
    code = "_hog = bytearray(64 << 30)\n"            # 64 GB
    points, row = _score(_with(unwritten, tmp_path, code), memory_mb=1024)
    assert points == 0 and row["status"] == "error" and "MemoryError" in row["message"]


def test_an_endless_loop_at_import_is_stopped(unwritten, tmp_path):
    started = time.monotonic()
    points, row = _score(_with(unwritten, tmp_path, "while True:\n    pass\n"), timeout=3)
    assert points == 0 and row["status"] == "timed out" and time.monotonic() - started < 30


def test_a_changed_grader_stops_grading(tmp_path, monkeypatch):
    """Without bubblewrap graded code could write the grader's own files: the grader notices."""
    from lrlc_np.course import grader as grader_module

    before = sandbox.fingerprint(TEACHER_PACKAGE)
    after = dict(before, **{"ops/conv.py": "0" * 64})
    assert sandbox.changed_files(before, after) == ["ops/conv.py"]
    g = grader_module.make_grader(seed=1, speed="off")
    monkeypatch.setattr(sandbox, "fingerprint", lambda folder: after)
    with pytest.raises(grader_module.GradeError, match="changed the grader's own files"):
        g._check_own_files()


def test_a_huge_exception_name_or_result_file_reaches_nobody(unwritten, tmp_path):
    """An exception class named with a whole file, or a result file that unpacks to terabytes,
    carries nothing to the feedback and does not stop the grader."""
    code = ("def conv2d_forward(*args, **kwargs):\n"
            "    raise type('E' * 5000, (Exception,), {})('x')\n")
    points, row = _score(_with(unwritten, tmp_path, code, name="name"))
    assert points == 0 and "E" * 41 not in json.dumps(row)
    bomb = ("import sys, zipfile\n"
            "with zipfile.ZipFile(sys.argv[5], 'w', zipfile.ZIP_DEFLATED) as z:\n"
            "    with z.open('c0/y.npy', 'w', force_zip64=True) as f:\n"
            "        for _ in range(80):\n"
            "            f.write(bytes(1 << 24))\n"
            "sys.exit(0)\n")
    points, row = _score(_with(unwritten, tmp_path, bomb, name="bomb"))
    assert points == 0 and row["status"] == "error"


# --------------------------------------------------------------------------- the speed check and the work folder

def _both_sandboxes():
    return pytest.mark.parametrize("sandbox_on", [
        pytest.param(True, marks=needs_bubblewrap, id="bubblewrap"), pytest.param(False, id="no bubblewrap")])


SLOW = (
    "import os as _os, sys as _sys, time as _time\n"
    "def conv2d_forward(x, weight, bias=None, stride=1, padding=0):\n"
    "    stride, padding = check_conv_inputs(x, weight, bias, stride, padding)\n"
    "    if x.shape[0] == 16:                                    # the speed case\n"
    "        {cheat}\n"
    "        _time.sleep(0.3)\n"
    "    n, c_out = x.shape[0], weight.shape[0]\n"
    "    h_out, w_out = output_hw(x.shape[2], x.shape[3], weight.shape[2:], stride, padding, 'conv2d_forward')\n"
    "    cols = im2col(x, weight.shape[2:], stride, padding)\n"
    "    y = cols @ weight.reshape(c_out, -1).T + (0 if bias is None else bias)\n"
    "    y = y.reshape(n, h_out, w_out, c_out).transpose(0, 3, 1, 2)\n"
    "    return y, Conv2DCache(x.shape, cols, weight, stride, padding, bias is not None)\n")


@_both_sandboxes()
def test_saying_done_before_the_result_is_written_does_not_fake_the_speed(unwritten, tmp_path, sandbox_on):
    """A correct but slow function that writes "D" on the runner's message pipe as soon as it is
    called: the timer stops at once, but the result is taken as it is at "D" (not there yet)."""
    honest = SLOW.format(cheat="pass")
    points, row = _score(_with(unwritten, tmp_path, honest, name="slow"), speed="score", sandbox_on=sandbox_on)
    assert points == 0 and row["status"] == "too slow", row
    cheat = SLOW.format(cheat="_os.write(int(_sys.argv[-1]), b'D\\n')")
    points, row = _score(_with(unwritten, tmp_path, cheat, name="fast-liar"), speed="score", sandbox_on=sandbox_on)
    assert points == 0, row


@_both_sandboxes()
def test_links_left_in_the_speed_folder_are_not_written_through(unwritten, tmp_path, sandbox_on):
    """The grader's supervisor copies each speed input into the graded process's folder: a
    link graded code left there (to one of your files, or the whole folder) is not followed."""
    victim, victim_folder = tmp_path / "teachers-file.txt", tmp_path / "teachers-folder"
    victim.write_text("the teacher's data")
    victim_folder.mkdir()
    os.chmod(tmp_path, 0o755)
    code = ("import os as _os, sys as _sys\n"
            "_speed = _sys.argv[6]\n"
            f"_os.symlink({str(victim)!r}, _os.path.join(_speed, 'speed0.npz'))\n")
    points, row = _score(_with(unwritten, tmp_path, code, name="file"), speed="score", sandbox_on=sandbox_on)
    assert points == 0 and row["status"] == "not implemented", row
    code = f"import os as _os, sys as _sys\n_os.rmdir(_sys.argv[6])\n_os.symlink({str(victim_folder)!r}, _sys.argv[6])\n"
    points, row = _score(_with(unwritten, tmp_path, code, name="folder"), speed="score", sandbox_on=sandbox_on)
    assert points == 0, row
    assert victim.read_text() == "the teacher's data" and not list(victim_folder.iterdir())


FORGED_RESULTS = {
    "a pipe (reading it would wait forever)": "_os.unlink(_out)\n_os.mkfifo(_out)\n",
    "a link to a device": "_os.unlink(_out)\n_os.symlink('/dev/zero', _out)\n",
    "a truncated array": ("_b = _io.BytesIO()\n_np.save(_b, _np.zeros((2, 4, 3, 5)))\n"
                          "with _zipfile.ZipFile(_out, 'w') as _z:\n    _z.writestr('c0/y.npy', _b.getvalue()[:200])\n"),
    "a pickled object array": "_np.savez(_out, **{'c0/y': _np.array([1, 'a'], dtype=object)})\n",
    "a list of Nones that is no list": "_np.savez(_out, **{'c0/!none': _np.array('y')})\n",
}


@pytest.mark.parametrize("forgery", list(FORGED_RESULTS))
def test_a_forged_result_file_reads_as_no_result(unwritten, tmp_path, forgery):
    """Graded code replaces its result file before exiting: the grader neither waits forever,
    nor reads through a link, nor stops on an array it cannot load; it grades on."""
    import signal

    code = ("import io as _io, os as _os, sys as _sys, zipfile as _zipfile, numpy as _np\n_out = _sys.argv[5]\n"
            + FORGED_RESULTS[forgery] + "_os._exit(0)\n")

    class Stuck(BaseException):                     # not an Exception: the grader must not catch it
        pass

    def stuck(signum, frame):
        raise Stuck("the grader is stuck reading the result file")

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(60)
    try:
        points, row = _score(_with(unwritten, tmp_path, code))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert points == 0 and row["status"] in ("error", "fail"), row


def test_folders_nested_past_pythons_recursion_are_removed(unwritten, tmp_path):
    """shutil.rmtree gives up near a thousand levels; the grader still removes its folder."""
    import glob

    before = set(glob.glob(os.path.join(os.environ.get("TMPDIR", "/tmp"), "lrlc-grade-*")))
    code = "import os as _os\nfor _ in range(1500):\n    _os.mkdir('d')\n    _os.chdir('d')\n"
    points, row = _score(_with(unwritten, tmp_path, code))
    assert points == 0 and row["status"] == "not implemented", row
    after = set(glob.glob(os.path.join(os.environ.get("TMPDIR", "/tmp"), "lrlc-grade-*")))
    assert not [p for p in after - before if os.path.isdir(os.path.join(p, "work", "d"))]


def test_a_hard_link_to_the_teachers_solution_is_refused(unwritten, tmp_path):
    import shutil

    dest = tmp_path / "hard"
    shutil.copytree(unwritten, dest)
    target = dest / "lrlc_np" / "ops" / "conv.py"
    target.unlink()
    try:
        os.link(TEACHER_PACKAGE / "ops" / "conv.py", target)
    except OSError as err:
        pytest.skip(f"no hard link from {tmp_path} to {TEACHER_PACKAGE} here: {err}")
    points, row = _score(dest)
    assert points == 0 and row["status"] == "missing" and "hard link" in row["message"], row


def test_a_student_folder_named_like_the_class_record_is_refused(tmp_path):
    """grade-all keeps <id>.json beside class.json (the class's seed): a student called
    "class" would overwrite the seed, and the next run could not resume."""
    from lrlc_np.course import classroom
    from lrlc_np.course.grader import GradeError

    (tmp_path / "alice").mkdir()
    (tmp_path / "class").mkdir()
    with pytest.raises(GradeError, match="class.json"):
        classroom.students(tmp_path)


def test_a_linked_student_folder_is_skipped_and_said(tmp_path):
    """A link in the submissions folder may lead into another student's folder: grade-all
    leaves it out and says so, naming it."""
    from lrlc_np.course import classroom

    (tmp_path / "alice").mkdir()
    (tmp_path / "mallory").symlink_to(tmp_path / "alice")
    said = []
    assert [p.name for p in classroom.students(tmp_path, said.append)] == ["alice"]
    assert len(said) == 1 and str(tmp_path / "mallory") in said[0] and "a link" in said[0]


def test_a_result_without_the_record_of_its_inputs_fails():
    """The runner records every input after the call (to catch one changed in place); a result
    without that record was written by something else, and fails even with the right outputs."""
    import numpy

    from lrlc_np.course import checks

    case = checks.SPECS[EXERCISE].draw(numpy.random.default_rng(SEED))[0]
    right = {name: oracles[0][0] for name, oracles in checks.SPECS[EXERCISE].oracle(case).items()
             if oracles[0][0] is not None}
    honest = {"outputs": right, "none": [], "after": dict(case.inputs)}
    assert checks.verify(EXERCISE, case, honest) == []
    [problem] = checks.verify(EXERCISE, case, {**honest, "after": {}})
    assert problem.startswith("no record of the inputs") and "not written by the grader's runner" in problem
