"""The course kit: solution markers, student copies, the grader.

The round trips here run in the default suite: the package itself scores full marks; a
student copy scores 0 on every exercise, each with its NotImplementedError message, while
everything not marked still works; a copy that hands out only some exercises scores full
marks on the others; each exercise with a typical mistake (a missing transpose, a dropped
term, a wrong sum axis, col2im with = instead of +=, swapped kh/kw) scores 0 with a message
that names it; an exercise that hangs is stopped at its time limit and the others are still
graded. Installing a student copy into a fresh virtual environment carries the ``slow`` marker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lrlc_np import cli
from lrlc_np.course import markers
from lrlc_np.course.exercises import EXERCISES
from lrlc_np.course.grader import STATUSES, grade
from lrlc_np.course.student import make_student_copy

ROOT = Path(__file__).resolve().parent.parent


def _assert_valid_grade_json(result):
    """The documented fields, with the documented types and values."""
    assert set(result) == {"package", "total", "max_total", "exercises"}
    assert result["total"] == sum(r["points"] for r in result["exercises"])
    assert result["max_total"] == sum(r["max_points"] for r in result["exercises"])
    for row in result["exercises"]:
        assert set(row) == {"name", "points", "max_points", "status", "message"}
        assert row["name"] in EXERCISES and row["status"] in STATUSES
        assert isinstance(row["points"], int) and 0 <= row["points"] <= row["max_points"] == EXERCISES[row["name"]][0]
        assert isinstance(row["message"], str)
        assert (row["status"] == "pass") == (row["points"] == row["max_points"]) == (row["message"] == "")
    json.loads(json.dumps(result))


# --------------------------------------------------------------------------- markers

def test_every_exercise_is_marked_in_the_clear_tier():
    marked = markers.exercises_in(ROOT / "lrlc_np" / "ops")
    assert set(marked) == set(EXERCISES)
    assert marked["conv2d_backward"] == ["conv.py"] and marked["lrlc2d_backward"] == ["lrlc.py"]


def test_strip_solutions_replaces_the_chosen_blocks_and_unfences_the_rest():
    text = ("def f(x):\n"
            "    # BEGIN SOLUTION double\n"
            "    # HINT: multiply by two\n"
            "    y = 2 * x\n"
            "    # END SOLUTION\n"
            "    return y\n")
    student = markers.strip_solutions(text, {"double"})
    assert student == ("def f(x):\n"
                       "    # HINT: multiply by two\n"
                       "    raise NotImplementedError('exercise double: multiply by two')\n"
                       "    return y\n")
    assert markers.strip_solutions(text, set()) == "def f(x):\n    y = 2 * x\n    return y\n"


@pytest.mark.parametrize("text,fragment", [
    ("# BEGIN SOLUTION a\nx = 1\n# END SOLUTION\n", "expected a '# HINT: ...' line"),
    ("# BEGIN SOLUTION a\n# HINT: h\nx = 1\n", "never closed"),
    ("x = 1\n# END SOLUTION\n", "END SOLUTION without a BEGIN"),
    ("# BEGIN SOLUTION a\n# HINT: h\n# BEGIN SOLUTION b\n# HINT: h\n# END SOLUTION\n", "inside the block"),
    ("# BEGIN SOLUTION\n", "malformed solution marker"),
])
def test_malformed_markers_name_the_file_and_line(text, fragment):
    with pytest.raises(markers.MarkerError, match=fragment) as info:
        markers.find_blocks(text, "ops/x.py")
    assert str(info.value).startswith("ops/x.py:")


# --------------------------------------------------------------------------- grading

@pytest.fixture(scope="module")
def solution_grade():
    return grade()


def test_the_package_itself_scores_full_marks(solution_grade):
    _assert_valid_grade_json(solution_grade)
    assert [r["name"] for r in solution_grade["exercises"]] == list(EXERCISES)
    failed = [(r["name"], r["message"]) for r in solution_grade["exercises"] if r["status"] != "pass"]
    assert not failed
    assert solution_grade["total"] == solution_grade["max_total"] == 20


@pytest.fixture(scope="module")
def student_copy(tmp_path_factory):
    dest = tmp_path_factory.mktemp("course") / "student"
    made = make_student_copy(dest)
    return dest, made


def test_a_student_copy_scores_zero_with_the_hints(student_copy):
    dest, made = student_copy
    assert made["exercises"] == list(EXERCISES) and made["kept"] == []
    result = grade(dest)
    _assert_valid_grade_json(result)
    assert result["total"] == 0 and result["package"] == str(dest.resolve() / "lrlc_np")
    for row in result["exercises"]:
        assert row["status"] == "not implemented", row
        assert row["message"].startswith(f"exercise {row['name']}:"), row


def test_a_student_copy_has_no_fast_tier_and_its_unmarked_parts_work(student_copy):
    dest, _ = student_copy
    assert not (dest / "lrlc_np" / "fast").exists()
    assert not list(dest.glob("tests/test_tiers.py")) and (dest / "tests" / "test_ops_gradients.py").exists()
    text = (dest / "lrlc_np" / "ops" / "conv.py").read_text()
    assert "BEGIN SOLUTION" not in text and "dy_mat.T @ cols" not in text and "# HINT: dY = dy as (M, C_out)" in text
    readme = (dest / "README.md").read_text()
    assert "conv2d_backward" in readme and "lrlc course grade" in readme and "lrlc train --dataset mnist-sample" in readme and "93.7%" in readme
    code = ("import numpy as np, lrlc_np\n"
            "from lrlc_np import tiers, ops\n"
            "from lrlc_np.layers import Dense, ReLU, LocallyConnected2D\n"
            "print(tiers.available(), lrlc_np.get_ops())\n"
            "d = Dense(3, 2, rng=np.random.default_rng(0), dtype=np.float64)\n"
            "y = d(np.ones((4, 3))); d.backward(np.ones_like(y))\n"
            "r = ReLU(); r.backward(r(np.ones((2, 3))))\n"
            "LocallyConnected2D(1, 2, 3, 5, rng=np.random.default_rng(0))\n"
            "try:\n    ops.conv2d_forward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)))\n"
            "except NotImplementedError as e:\n    print('NotImplementedError', e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=dest,
                          env=dict(os.environ, PYTHONPATH=str(dest)))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "('clear',) clear"
    assert lines[1].startswith("NotImplementedError exercise conv2d_forward:")


def test_the_network_trains_on_the_students_own_ops(student_copy, tmp_path):
    """In the student copy `lrlc train` runs the clear tier, the student's functions: unsolved
    it stops at the first exercise with its hint; with the exercises written (here: the
    reference solutions put back) it trains and reports its accuracy."""
    import shutil

    dest, _ = student_copy
    argv = [sys.executable, "-m", "lrlc_np", "train", "--dataset", "mnist-sample", "--epochs", "1", "--filters", "4",
            "--limit-train", "256", "--batch-size", "32", "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(dest))
    env.pop("LRLC_NP_OPS", None)
    unsolved = subprocess.run(argv + ["--out", str(tmp_path / "unsolved")], capture_output=True, text=True, env=env,
                              cwd=tmp_path)      # not the repository root, whose lrlc_np would come first
    assert unsolved.returncode == 1
    assert unsolved.stderr.startswith("lrlc train: error: exercise conv2d_forward:") and "Traceback" not in unsolved.stderr
    solved = tmp_path / "solved"
    shutil.copytree(dest, solved)
    for path in (ROOT / "lrlc_np" / "ops").glob("*.py"):
        shutil.copy(path, solved / "lrlc_np" / "ops" / path.name)
    done = subprocess.run(argv + ["--out", str(tmp_path / "run")], capture_output=True, text=True,
                          env=dict(env, PYTHONPATH=str(solved)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "final test accuracy" in done.stdout


def test_a_subset_copy_keeps_full_marks_on_the_exercises_it_did_not_hand_out(tmp_path):
    made = make_student_copy(tmp_path / "week1", exercises=["conv2d_forward", "conv2d_backward"])
    assert made["exercises"] == ["conv2d_forward", "conv2d_backward"] and "lrlc2d_backward" in made["kept"]
    result = grade(tmp_path / "week1", exercises=["im2col", "col2im", "locally_connected2d_backward",
                                                  "combining_weights_backward", "batchnorm2d_backward",
                                                  "conv2d_forward", "conv2d_backward"])
    rows = {r["name"]: r for r in result["exercises"]}
    for name in ("im2col", "col2im", "locally_connected2d_backward", "combining_weights_backward", "batchnorm2d_backward"):
        assert rows[name]["status"] == "pass", rows[name]
    assert rows["conv2d_forward"]["status"] == rows["conv2d_backward"]["status"] == "not implemented"
    # the backward pass needs the forward pass's cache, and says so
    assert "once exercise conv2d_forward is done" in rows["conv2d_backward"]["message"]


# (exercise, file, the correct text, the typical mistake); each must score 0 with a message naming it
MISTAKES = [
    ("im2col", "im2col.py", "    for p in range(kh):\n        for q in range(kw):\n            # offset",
     "    for p in range(kw):\n        for q in range(kh):\n            # offset"),                     # swapped kh/kw
    ("col2im", "im2col.py", "sw] += patches[:, :, p, q]", "sw] = patches[:, :, p, q]"),              # = instead of +=
    ("conv2d_forward", "conv.py", "y_mat.reshape(n, h_out, w_out, c_out).transpose(0, 3, 1, 2)",
     "y_mat.reshape(n, c_out, h_out, w_out)"),                                                      # missing transpose
    ("conv2d_backward", "conv.py", "dy_mat = dy.transpose(0, 2, 3, 1).reshape(-1, c_out)        # dY",
     "dy_mat = dy.reshape(-1, c_out)        # dY"),                                                 # missing transpose
    ("locally_connected2d_forward", "local.py", '"ntr,tor->not"', '"ntr,tor->nto"'),                # axes mixed up
    ("locally_connected2d_backward", "local.py", "dbias = dy.sum(axis=0) if", "dbias = dy.sum(axis=1) if"),  # wrong sum axis
    ("combining_weights_forward", "combining.py", "alpha = e / e.sum(axis=K_AXIS, keepdims=True)",
     "alpha = e / e.sum(axis=-1, keepdims=True)"),                                                  # softmax over the wrong axis
    ("combining_weights_backward", "combining.py", "return alpha * (dalpha - projection)",
     "return alpha * dalpha"),                                                                     # dropped term of the softmax backward
    ("lrlc2d_forward", "lrlc.py", "y = (a[:, :, None] * z).sum(axis=1)", "y = (a[:, :, None] * z).sum(axis=2)"),  # wrong sum axis
    ("lrlc2d_backward", "lrlc.py", "        dalpha = dalpha.sum(axis=0)", "        dalpha = dalpha[0]"),  # dropped sum over the batch
    ("batchnorm2d_backward", "normalization.py", " - xhat * _per_channel(dweight) / count)", ")"),   # dropped term
    ("softmax_cross_entropy_backward", "losses.py", "dlogits *= dloss / n", "dlogits *= dloss"),      # forgot the mean
    ("bilinear_resize_backward", "resize.py", "xp.matmul(xp.matmul(r_h.T, dy), r_w)",
     "xp.matmul(xp.matmul(r_h.T, dy), r_w.T)"),                                                     # a transpose too many
]


@pytest.fixture(scope="module")
def solved_copy(tmp_path_factory):
    """A copy with every solution kept, made once; each mutation test edits a file of its own copy."""
    dest = tmp_path_factory.mktemp("course") / "solved"
    make_student_copy(dest, exercises=[])
    return dest


def _mutated(solved_copy, tmp_path, filename, old, new):
    import shutil

    dest = tmp_path / "mutant"
    shutil.copytree(solved_copy, dest)
    path = dest / "lrlc_np" / "ops" / filename
    text = path.read_text()
    assert text.count(old) == 1, f"the correct text to mutate occurs {text.count(old)} times in {filename}"
    path.write_text(text.replace(old, new))
    return dest


@pytest.mark.parametrize("exercise,filename,old,new", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_typical_mistake_is_caught_and_named(solved_copy, tmp_path, exercise, filename, old, new):
    assert grade(solved_copy, exercises=[exercise])["total"] == EXERCISES[exercise][0]    # unmutated: full marks
    row = grade(_mutated(solved_copy, tmp_path, filename, old, new), exercises=[exercise])["exercises"][0]
    assert row["points"] == 0 and row["status"] in ("fail", "error"), row
    assert row["message"].startswith(exercise), row


def test_every_exercise_has_a_mistake_test():
    assert {m[0] for m in MISTAKES} == set(EXERCISES)


def test_a_hanging_exercise_is_stopped_and_the_others_are_graded(solved_copy, tmp_path):
    dest = _mutated(solved_copy, tmp_path, "losses.py", "    dlogits = xp.exp(log_probs)\n",
                    "    while True:\n        pass\n    dlogits = xp.exp(log_probs)\n")
    started = time.monotonic()
    result = grade(dest, exercises=["im2col", "softmax_cross_entropy_backward", "col2im"], timeout=4)
    assert time.monotonic() - started < 4 + 30          # stopped at its limit, not left running
    rows = {r["name"]: r for r in result["exercises"]}
    assert rows["softmax_cross_entropy_backward"]["status"] == "timed out"
    assert rows["softmax_cross_entropy_backward"]["message"] == "exercise softmax_cross_entropy_backward: timed out after 4 s"
    assert rows["im2col"]["status"] == rows["col2im"]["status"] == "pass"


def test_a_crashing_exercise_shows_the_exceptions_last_line(solved_copy, tmp_path):
    dest = _mutated(solved_copy, tmp_path, "losses.py", "    dlogits = xp.exp(log_probs)\n",
                    "    dlogits = xp.exp(log_probs) + {}\n")            # adds a dict to an array
    row = grade(dest, exercises=["softmax_cross_entropy_backward"])["exercises"][0]
    assert row["status"] == "error" and row["message"].startswith("softmax_cross_entropy_backward raised TypeError:")


# --------------------------------------------------------------------------- command line

def test_cli_grade_prints_a_table_writes_json_and_exits_0_at_full_marks(tmp_path, capsys):
    path = tmp_path / "grades.json"
    assert cli.main(["course", "grade", "--no-progress", "--exercises", "im2col,col2im", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "im2col" in out and "1/1" in out and "total 2 / 2" in out
    result = json.loads(path.read_text())
    _assert_valid_grade_json(result)
    assert result["total"] == 2


def test_cli_make_student_then_grade_exits_1_and_refuses_an_existing_folder(tmp_path, capsys):
    dest = tmp_path / "week3"
    assert cli.main(["course", "make-student", str(dest), "--exercises", "lrlc2d_forward"]) == 0
    assert "1 exercises to write (lrlc2d_forward)" in capsys.readouterr().out
    assert cli.main(["course", "grade", str(dest), "--no-progress", "--exercises", "lrlc2d_forward"]) == 1
    assert "not implemented" in capsys.readouterr().out
    assert cli.main(["course", "make-student", str(dest)]) == 1
    assert "exists; choose a new folder or pass --overwrite" in capsys.readouterr().err
    assert cli.main(["course", "grade", str(tmp_path), "--no-progress"]) == 1
    assert "no lrlc_np package in" in capsys.readouterr().err


def test_cli_rejects_an_unknown_exercise(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["course", "make-student", "x", "--exercises", "conv3d_forward"])
    assert info.value.code == 2 and "conv3d_forward" in capsys.readouterr().err


@pytest.mark.slow
def test_a_student_copy_installs_in_a_fresh_virtual_environment(student_copy, tmp_path):
    """pip install -e . in a new virtual environment (its dependencies come from the package
    index), then the copy imports, runs on the clear tier, and its own lrlc course grade scores 0."""
    dest, _ = student_copy
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(dest)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(python), "-c", "import lrlc_np, lrlc_np.layers; print(lrlc_np.__file__, lrlc_np.get_ops())"],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0 and done.stdout.split() == [str(dest / "lrlc_np" / "__init__.py"), "clear"], done.stderr
    graded = subprocess.run([str(venv / "bin" / "lrlc"), "course", "grade", "--no-progress", "--exercises", "im2col"],
                            capture_output=True, text=True, cwd=tmp_path, env=env)
    assert graded.returncode == 1 and "not implemented" in graded.stdout, graded.stderr
