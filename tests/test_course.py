"""The course kit: markers, student copies, the grader's verdicts, Gradescope and class grading.

The cheats a student might try are in ``test_course_cheats.py``. Here: this package scores
full marks; an unwritten copy scores 0 with each exercise's hint; each typical mistake costs
its own exercise's points and nothing else, with a message that names it (a wrong result,
a dtype, an input changed in place, a stride, too slow); every case is listed; the handout
record decides what is graded; ``grade`` exits 0 whatever the score; Gradescope's JSON has
its documented keys; ``grade-all`` writes the class's CSV and resumes.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lrlc_np import cli
from lrlc_np.course import catalogue, markers
from lrlc_np.course.catalogue import EXERCISES
from lrlc_np.course.classroom import grade_all
from lrlc_np.course.grader import STATUSES, grade, gradescope
from lrlc_np.course.handout import MANIFEST
from lrlc_np.course.student import make_student_copy

ROOT = Path(__file__).resolve().parent.parent
SEED = 20201205            # tests grade on fixed cases; a real grading draws a new seed
QUICK = dict(seed=SEED, speed="off")


def _assert_valid_grade_json(result):
    """The documented fields, with the documented types and values."""
    assert {"package", "version", "seed", "sandbox", "handout", "total", "max_total", "exercises"} <= set(result)
    assert result["total"] == sum(r["points"] for r in result["exercises"])
    assert result["max_total"] == sum(r["max_points"] for r in result["exercises"])
    for row in result["exercises"]:
        assert {"name", "points", "max_points", "status", "message", "cases", "speed"} <= set(row)
        assert row["name"] in EXERCISES and row["status"] in STATUSES
        assert isinstance(row["points"], int) and 0 <= row["points"] <= row["max_points"] == EXERCISES[row["name"]][0]
        assert (row["status"] == "pass") == (row["points"] == row["max_points"])
    json.loads(json.dumps(result))


def _solved_ops(dest):
    """Put this package's solutions (fences removed) into the copy at ``dest``: honest, complete work."""
    for path in (ROOT / "lrlc_np" / "ops").glob("*.py"):
        text = markers.strip_solutions(path.read_text(), set(), str(path))
        (dest / "lrlc_np" / "ops" / path.name).write_text(text)


# --------------------------------------------------------------------------- markers and the catalogue

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


def test_a_hint_goes_on_over_the_comment_lines_indented_below_it():
    text = ("def f(x):\n"
            "    # BEGIN SOLUTION double\n"
            "    # HINT: multiply\n"
            "    #       by two\n"
            "    # a comment of the solution\n"
            "    y = 2 * x\n"
            "    # END SOLUTION\n"
            "    return y\n")
    [block] = markers.find_blocks(text)
    assert block.hint == "multiply by two" and (block.first, block.hint_last, block.last) == (2, 4, 7)
    assert markers.strip_solutions(text, {"double"}) == (
        "def f(x):\n"
        "    # HINT: multiply\n"
        "    #       by two\n"
        "    raise NotImplementedError('exercise double: multiply by two')\n"
        "    return y\n")
    assert markers.strip_solutions(text, set()) == ("def f(x):\n    # a comment of the solution\n"
                                                    "    y = 2 * x\n    return y\n")


def test_a_long_hint_is_raised_whole_from_lines_that_fit():
    hint = " ".join(f"step {i} of a long hint;" for i in range(30))
    text = f"def f(x):\n    # BEGIN SOLUTION long\n    # HINT: {hint}\n    y = x\n    # END SOLUTION\n"
    student = markers.strip_solutions(text, {"long"})
    code_lines = student.splitlines()[2:]
    assert len(code_lines) > 1 and all(len(line) <= 100 for line in code_lines)
    namespace = {}
    exec(compile(student, "<copy>", "exec"), namespace)
    with pytest.raises(NotImplementedError) as info:
        namespace["f"](1)
    assert str(info.value) == f"exercise long: {hint}"


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


def test_the_dependencies_follow_the_calls_and_the_forward_passes():
    """Grading an exercise alone puts back solved exactly what it calls (read from the code)."""
    assert catalogue.dependencies("im2col") == []
    assert catalogue.dependencies("conv2d_backward") == ["im2col", "col2im", "conv2d_forward"]
    assert catalogue.dependencies("lrlc2d_backward") == [
        "im2col", "col2im", "conv2d_forward", "conv2d_backward", "locally_connected2d_forward",
        "locally_connected2d_backward", "lrlc2d_forward"]
    assert catalogue.dependencies("batchnorm2d_backward") == []


# --------------------------------------------------------------------------- grading

@pytest.fixture(scope="module")
def solution_grade():
    return grade(seed=SEED)


def test_the_package_itself_scores_full_marks_speed_included(solution_grade):
    _assert_valid_grade_json(solution_grade)
    assert [r["name"] for r in solution_grade["exercises"]] == list(EXERCISES)
    failed = [(r["name"], r["message"]) for r in solution_grade["exercises"] if r["status"] != "pass"]
    assert not failed
    assert solution_grade["total"] == solution_grade["max_total"] == 20
    for row in solution_grade["exercises"]:
        assert row["speed"]["solution_seconds"] > 0 and len(row["cases"]) >= 5
        assert all(c["result"] == "pass" for c in row["cases"])
        assert any("float32" in c["case"] for c in row["cases"])        # the dtype case is there


@pytest.fixture(scope="module")
def student_copy(tmp_path_factory):
    dest = tmp_path_factory.mktemp("course") / "student"
    made = make_student_copy(dest)
    return dest, made


def test_a_student_copy_scores_zero_with_the_hints(student_copy):
    dest, made = student_copy
    assert made["exercises"] == list(EXERCISES) and made["kept"] == []
    result = grade(dest, **QUICK)
    _assert_valid_grade_json(result)
    assert result["total"] == 0 and result["package"] == str(dest.resolve())
    for row in result["exercises"]:
        assert row["status"] == "not implemented", row
        assert row["message"] == f"exercise {row['name']}: {catalogue.locate(row['name']).hint}"


def test_no_answer_ships_in_a_student_copy(student_copy):
    """No fast tier, no course kit (the grader's checks), no course tests (the correct line of
    every exercise), no fenced block; conv_transpose2d is not conv2d_backward's dx."""
    dest, made = student_copy
    package = dest / "lrlc_np"
    assert not (package / "fast").exists() and not (package / "course").exists()
    assert not list((dest / "tests").glob("test_course*"))
    for path in package.rglob("*.py"):
        assert "BEGIN SOLUTION" not in path.read_text(), path
    conv = (package / "ops" / "conv.py").read_text()
    assert "dy_mat.T @ cols" not in conv
    assert "col2im(" not in conv.split("def conv_transpose2d")[1].split('"""')[2]     # its body, not its docstring
    record = json.loads((dest / MANIFEST).read_text())
    assert record["exercises"] == list(EXERCISES) and record["files"][0] == "lrlc_np/ops/im2col.py"
    readme = (dest / "README.md").read_text()
    assert "pytest" in readme and "lrlc train --dataset mnist-sample" in readme and MANIFEST in readme
    for name in made["tests"]:
        assert f"`{name}`" in readme or not name.startswith("test_")


def test_a_copy_is_graded_on_its_handout_and_not_on_the_rest(tmp_path):
    """A 9-exercise copy is graded on its 9 exercises (the record), not on all 13."""
    nine = list(EXERCISES)[:9]
    make_student_copy(tmp_path / "nine", exercises=nine)
    result = grade(tmp_path / "nine", **QUICK)
    assert [r["name"] for r in result["exercises"]] == nine
    assert result["max_total"] == sum(EXERCISES[n][0] for n in nine)
    assert result["handout"]["from"].endswith("(the submission's own record)")


def test_the_teachers_record_wins_over_the_students(tmp_path):
    """A student who edits the copy's record to drop a failing exercise is still graded on it
    when the teacher grades with their own record (--handout)."""
    make_student_copy(tmp_path / "teacher", exercises=["im2col", "col2im"])
    make_student_copy(tmp_path / "student", exercises=["im2col", "col2im"])
    record = json.loads((tmp_path / "student" / MANIFEST).read_text())
    record["exercises"] = ["im2col"]
    (tmp_path / "student" / MANIFEST).write_text(json.dumps(record))
    assert [r["name"] for r in grade(tmp_path / "student", **QUICK)["exercises"]] == ["im2col"]
    graded = grade(tmp_path / "student", handout=tmp_path / "teacher" / MANIFEST, **QUICK)
    assert [r["name"] for r in graded["exercises"]] == ["im2col", "col2im"]


@pytest.fixture(scope="module")
def solved_copy(tmp_path_factory):
    """A copy handing out everything, with every exercise written (the solutions put back)."""
    dest = tmp_path_factory.mktemp("course") / "solved"
    make_student_copy(dest)
    _solved_ops(dest)
    return dest


def _mutated(solved_copy, tmp_path, filename, old, new):
    dest = tmp_path / "mutant"
    shutil.copytree(solved_copy, dest)
    path = dest / "lrlc_np" / "ops" / filename
    text = path.read_text()
    assert text.count(old) == 1, f"the correct text to mutate occurs {text.count(old)} times in {filename}"
    path.write_text(text.replace(old, new))
    return dest


# (exercise, file, the correct text, the typical mistake); each costs its own exercise's points
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


@pytest.mark.parametrize("exercise,filename,old,new", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_typical_mistake_is_caught_and_named(solved_copy, tmp_path, exercise, filename, old, new):
    assert grade(solved_copy, [exercise], **QUICK)["total"] == EXERCISES[exercise][0]    # unmutated: full marks
    row = grade(_mutated(solved_copy, tmp_path, filename, old, new), [exercise], **QUICK)["exercises"][0]
    assert row["points"] == 0 and row["status"] in ("fail", "error"), row
    assert row["message"].startswith(exercise), row
    failing = [c for c in row["cases"] if c["result"] != "pass"]
    assert failing and all(f"case {row['cases'].index(c) + 1} ({c['case']}): {c['result']}" in row["message"]
                           for c in row["cases"])                       # every case is listed


def test_every_exercise_has_a_mistake_test():
    assert {m[0] for m in MISTAKES} == set(EXERCISES)


def test_a_slip_in_col2im_costs_its_own_point_once(solved_copy, tmp_path):
    """col2im with = instead of +=: before, conv, LC and LRLC backward failed with it (8 points);
    now each is graded with the solved col2im in place."""
    dest = _mutated(solved_copy, tmp_path, "im2col.py", "sw] += patches[:, :, p, q]", "sw] = patches[:, :, p, q]")
    names = ["col2im", "conv2d_backward", "locally_connected2d_backward", "lrlc2d_backward"]
    rows = {r["name"]: r for r in grade(dest, names, **QUICK)["exercises"]}
    assert rows["col2im"]["status"] == "fail"
    assert [rows[n]["status"] for n in names[1:]] == ["pass"] * 3


def test_a_float64_result_for_float32_input_is_named(solved_copy, tmp_path):
    """col2im that makes its zero image in float64 scored full marks and crashed training later
    (naming BatchNorm2D); now only its float32 case fails, saying so."""
    dest = _mutated(solved_copy, tmp_path, "im2col.py",
                    "dxpad = get_array_module(cols).zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)",
                    "dxpad = get_array_module(cols).zeros((n, c, h + 2 * ph, w + 2 * pw))")
    row = grade(dest, ["col2im"], **QUICK)["exercises"][0]
    assert row["status"] == "fail"
    failing = [c for c in row["cases"] if c["result"] != "pass"]
    assert len(failing) == 1 and "float32" in failing[0]["case"]
    assert "dx is float64 for float32 inputs" in failing[0]["result"]


def test_an_input_changed_in_place_is_named(solved_copy, tmp_path):
    """The same numbers, but dy changed in place: a caller's dy is no longer its own."""
    dest = _mutated(solved_copy, tmp_path, "normalization.py",
                    "        dx = scale * (dy - _per_channel(dbias) / count - xhat * _per_channel(dweight) / count)",
                    "        dy -= _per_channel(dbias) / count\n"
                    "        dx = scale * (dy - xhat * _per_channel(dweight) / count)")
    row = grade(dest, ["batchnorm2d_backward"], **QUICK)["exercises"][0]
    assert row["status"] == "fail"
    assert "changed its input dy in place" in row["message"]
    assert all(c["result"] == "pass" for c in row["cases"] if "training=False" in c["case"])


def test_a_stride_mistake_fails_the_strided_cases_only(solved_copy, tmp_path):
    dest = _mutated(solved_copy, tmp_path, "im2col.py",
                    "cols[:, :, p, q] = xpad[:, :, top : top + sh * h_out : sh, left : left + sw * w_out : sw]",
                    "cols[:, :, p, q] = xpad[:, :, top : top + h_out, left : left + w_out]")
    row = grade(dest, ["im2col"], **QUICK)["exercises"][0]
    assert row["status"] == "fail"
    for case in row["cases"]:
        unit_stride = "stride (1, 1)" in case["case"]
        assert (case["result"] == "pass") == unit_stride, case


LOOP_CONV = '''
def conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    """A loop per output element: correct, and about a hundred times too slow."""
    stride, padding = check_conv_inputs(x, weight, bias, stride, padding, "conv2d_forward")
    xp = get_array_module(x)
    n, c_out = x.shape[0], weight.shape[0]
    h_out, w_out = output_hw(x.shape[2], x.shape[3], weight.shape[2:], stride, padding, "conv2d_forward")
    kh, kw = weight.shape[2:]
    xpad = xp.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    y = xp.zeros((n, c_out, h_out, w_out), dtype=x.dtype)
    for b in range(n):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    patch = xpad[b, :, i * stride[0] : i * stride[0] + kh, j * stride[1] : j * stride[1] + kw]
                    y[b, o, i, j] = (patch * weight[o]).sum() + (0 if bias is None else bias[o])
    cols = im2col(x, weight.shape[2:], stride, padding)
    return y, Conv2DCache(x.shape, cols, weight, stride, padding, bias is not None)
'''


def test_a_loop_per_output_element_is_too_slow(solved_copy, tmp_path):
    dest = tmp_path / "loops"
    shutil.copytree(solved_copy, dest)
    with open(dest / "lrlc_np" / "ops" / "conv.py", "a") as f:
        f.write(LOOP_CONV)
    row = grade(dest, ["conv2d_forward"], seed=SEED)["exercises"][0]
    assert row["status"] == "too slow" and row["points"] == 0, row
    assert all(c["result"] == "pass" for c in row["cases"])
    assert "slower than the solution" in row["message"] and "loops" in row["message"]
    warned = grade(dest, ["conv2d_forward"], seed=SEED, speed="warn")["exercises"][0]
    assert warned["status"] == "pass" and warned["message"].startswith("warning: ")


def test_a_hanging_exercise_is_stopped_and_the_others_are_graded(solved_copy, tmp_path):
    dest = _mutated(solved_copy, tmp_path, "losses.py", "    dlogits = xp.exp(log_probs)\n",
                    "    while True:\n        pass\n    dlogits = xp.exp(log_probs)\n")
    result = grade(dest, ["im2col", "softmax_cross_entropy_backward", "col2im"], timeout=4, **QUICK)
    rows = {r["name"]: r for r in result["exercises"]}
    assert rows["softmax_cross_entropy_backward"]["status"] == "timed out"
    assert rows["softmax_cross_entropy_backward"]["message"].startswith(
        "softmax_cross_entropy_backward: timed out after 4 s")
    assert rows["im2col"]["status"] == rows["col2im"]["status"] == "pass"


def test_a_crashing_exercise_shows_the_exceptions_type_and_first_line(solved_copy, tmp_path):
    dest = _mutated(solved_copy, tmp_path, "losses.py", "    dlogits = xp.exp(log_probs)\n",
                    "    dlogits = xp.exp(log_probs) + {}\n")            # adds a dict to an array
    row = grade(dest, ["softmax_cross_entropy_backward"], **QUICK)["exercises"][0]
    assert row["status"] == "fail" and "first error: TypeError: unsupported operand" in row["message"]
    assert all(c["result"] == "raised TypeError" for c in row["cases"])


def test_a_file_that_does_not_parse_is_an_error_naming_the_line(solved_copy, tmp_path):
    dest = _mutated(solved_copy, tmp_path, "losses.py", "    dlogits = xp.exp(log_probs)\n", "    dlogits = (\n")
    row = grade(dest, ["softmax_cross_entropy_backward"], **QUICK)["exercises"][0]
    assert row["status"] == "error" and "lrlc_np/ops/losses.py does not parse: line" in row["message"]


def test_a_missing_file_is_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    row = grade(tmp_path / "empty", ["im2col"], **QUICK)["exercises"][0]
    assert row["status"] == "missing" and "no lrlc_np/ops/im2col.py" in row["message"]


def test_files_uploaded_on_their_own_are_graded(solved_copy, tmp_path):
    """A Gradescope upload is often just the files: im2col.py alone in the folder."""
    (tmp_path / "upload").mkdir()
    shutil.copy(solved_copy / "lrlc_np" / "ops" / "im2col.py", tmp_path / "upload" / "im2col.py")
    assert grade(tmp_path / "upload", ["im2col", "col2im"], **QUICK)["total"] == 2


# --------------------------------------------------------------------------- command line, Gradescope, classes

def test_cli_grade_exits_0_below_full_marks_and_writes_json(student_copy, tmp_path, capsys):
    dest, _ = student_copy
    path = tmp_path / "grades.json"
    code = cli.main(["course", "grade", str(dest), "--no-progress", "--exercises", "im2col,col2im",
                     "--json", str(path), "--seed", "7"])
    assert code == 0
    captured = capsys.readouterr()
    assert "total 0 / 2" in captured.out and "not implemented" in captured.out
    assert "graded code runs in a separate process" in captured.err
    result = json.loads(path.read_text())
    _assert_valid_grade_json(result)
    assert result["seed"] == 7


def test_cli_grade_fails_only_when_it_cannot_grade(tmp_path, capsys):
    assert cli.main(["course", "grade", str(tmp_path / "nowhere"), "--no-progress"]) == 1
    assert "is not a folder" in capsys.readouterr().err
    assert cli.main(["course", "grade", "--format", "gradescope", "--no-progress"]) == 1
    assert "--json FILE" in capsys.readouterr().err


def test_gradescope_results_have_the_documented_keys(student_copy, tmp_path):
    dest, _ = student_copy
    path = tmp_path / "results.json"
    assert cli.main(["course", "grade", str(dest), "--no-progress", "--exercises", "im2col,conv2d_backward",
                     "--format", "gradescope", "--json", str(path), "--speed-check", "off"]) == 0
    result = json.loads(path.read_text())
    assert set(result) >= {"score", "tests"} and result["score"] == 0
    assert [t["name"] for t in result["tests"]] == ["im2col", "conv2d_backward"]
    for test in result["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    assert result["tests"][1]["max_score"] == 2 and "exercise conv2d_backward:" in result["tests"][1]["output"]
    assert gradescope(grade(exercises=["im2col"], **QUICK))["score"] == 1


def test_cli_make_student_then_refuses_an_existing_folder(tmp_path, capsys):
    dest = tmp_path / "week3"
    assert cli.main(["course", "make-student", str(dest), "--exercises", "lrlc2d_forward"]) == 0
    assert "1 exercises to write (lrlc2d_forward)" in capsys.readouterr().out
    assert cli.main(["course", "make-student", str(dest)]) == 1
    assert "exists; choose a new folder or pass --overwrite" in capsys.readouterr().err


def test_cli_rejects_an_unknown_exercise(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["course", "make-student", "x", "--exercises", "conv3d_forward"])
    assert info.value.code == 2 and "conv3d_forward" in capsys.readouterr().err


@pytest.fixture(scope="module")
def classroom(tmp_path_factory, solved_copy):
    """Three students: alice wrote everything, bob nothing, carol made one mistake in col2im."""
    root = tmp_path_factory.mktemp("class") / "submissions"
    shutil.copytree(solved_copy, root / "alice")
    make_student_copy(root / "bob", exercises=["im2col", "col2im", "conv2d_backward"])
    shutil.copytree(solved_copy, root / "carol")
    path = root / "carol" / "lrlc_np" / "ops" / "im2col.py"
    path.write_text(path.read_text().replace("sw] += patches[:, :, p, q]", "sw] = patches[:, :, p, q]"))
    return root


def test_grade_all_writes_the_class_csv_and_resumes(classroom, tmp_path):
    sheet = tmp_path / "grades.csv"
    lines = []
    rows = grade_all(classroom, sheet, exercises=["im2col", "col2im", "conv2d_backward"], jobs=2, progress=lines.append,
                     speed="off")
    assert [r[0] for r in rows] == ["alice", "bob", "carol"]
    with open(sheet, newline="") as f:
        table = list(csv.reader(f))
    assert table == [["student", "im2col", "col2im", "conv2d_backward", "total", "max_total"],
                     ["alice", "1", "1", "2", "4", "4"], ["bob", "0", "0", "0", "0", "4"],
                     ["carol", "1", "0", "2", "3", "4"]]
    assert any(line.startswith("[3/3] ") for line in lines)
    assert (tmp_path / "grades-results" / "carol.json").is_file()
    first_seeds = {s: json.loads((tmp_path / "grades-results" / f"{s}.json").read_text())["result"]["seed"]
                   for s in ("alice", "carol")}
    again = []
    grade_all(classroom, sheet, exercises=["im2col", "col2im", "conv2d_backward"], progress=again.append, speed="off")
    assert "3 of 3 students already graded" in again[0] and "grading 0 students" in again[1]
    assert sheet.read_text().splitlines()[3] == "carol,1,0,2,3,4"
    (classroom / "carol" / "lrlc_np" / "ops" / "im2col.py").write_text(
        (classroom / "alice" / "lrlc_np" / "ops" / "im2col.py").read_text())        # carol fixes it
    grade_all(classroom, sheet, exercises=["im2col", "col2im", "conv2d_backward"], progress=again.append, speed="off")
    assert sheet.read_text().splitlines()[3] == "carol,1,1,2,4,4"
    seeds = {s: json.loads((tmp_path / "grades-results" / f"{s}.json").read_text())["result"]["seed"]
             for s in ("alice", "carol")}
    class_seed = json.loads((tmp_path / "grades-results" / "class.json").read_text())["seed"]
    assert seeds["alice"] == first_seeds["alice"]            # the same files, the same cases, across runs
    assert seeds["carol"] != first_seeds["carol"]            # a changed submission meets new cases
    assert len({*seeds.values(), class_seed}) == 3           # each student has their own


def test_grade_all_command_line(classroom, tmp_path, capsys):
    sheet = tmp_path / "g.csv"
    assert cli.main(["course", "grade-all", str(classroom), "--csv", str(sheet), "--exercises", "im2col",
                     "--speed-check", "off"]) == 0
    assert "wrote" in capsys.readouterr().out and sheet.read_text().splitlines()[1] == "alice,1,1,1"


def test_the_gradescope_scripts_grade_a_fake_autograder_layout(solved_copy, tmp_path):
    """run_autograder on Gradescope's /autograder layout (in a temporary folder), with this
    installation's lrlc standing in for the one setup.sh installs."""
    import zipfile

    root = tmp_path / "autograder"
    zip_path = tmp_path / "autograder.zip"
    assert cli.main(["course", "autograder", str(zip_path), "--exercises", "im2col,col2im"]) == 0
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(root / "source")
        assert {"setup.sh", "run_autograder", MANIFEST, "setup.py", "lrlc_np/ops/conv.py"} <= set(z.namelist())
    (root / "submission").mkdir()
    shutil.copy(solved_copy / "lrlc_np" / "ops" / "im2col.py", root / "submission" / "im2col.py")
    script = root / "source" / "run_autograder"
    script.chmod(0o755)
    lrlc = Path(sys.executable).with_name("lrlc")
    done = subprocess.run([str(script)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "AUTOGRADER_ROOT": str(root), "LRLC": str(lrlc)})
    assert done.returncode == 0, done.stderr
    result = json.loads((root / "results" / "results.json").read_text())
    assert result["score"] == 2 and [t["name"] for t in result["tests"]] == ["im2col", "col2im"]


def test_teaching_md_shows_the_gradescope_scripts_as_shipped():
    teaching = (ROOT / "TEACHING.md").read_text()
    for name in ("setup.sh", "run_autograder"):
        text = (ROOT / "lrlc_np" / "course" / "gradescope" / name).read_text()
        assert text.strip() in teaching, f"TEACHING.md does not show {name} as shipped"


@pytest.mark.slow
def test_gradescope_setup_installs_into_a_fresh_venv(tmp_path):
    """setup.sh (without apt-get) builds the venv, and run_autograder grades with it."""
    root = tmp_path / "autograder"
    import zipfile

    zip_path = tmp_path / "autograder.zip"
    assert cli.main(["course", "autograder", str(zip_path), "--exercises", "im2col"]) == 0
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):
        (root / "source" / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(AUTOGRADER_ROOT=str(root), SKIP_APT="1")
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    make_student_copy(root / "submission", exercises=["im2col"])
    done = subprocess.run([str(root / "source" / "run_autograder")], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((root / "results" / "results.json").read_text())["score"] == 0


# --------------------------------------------------------------------------- a copy's tutorials and README

def test_the_stand_ins_give_the_solutions_results():
    """Each stand-in (the loop definition a copy's tutorials use for an unwritten exercise)
    computes what the exercise's solution computes, forward and backward."""
    import numpy as np

    from lrlc_np import ops, stand_ins

    rng = np.random.default_rng(3)
    stand = {name: fn for name, (fn, _) in stand_ins._stand_ins().items()}
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    geometry = ((3, 2), (2, 1), (1, 1))
    cols = ops.im2col(x, *geometry)
    np.testing.assert_allclose(stand["im2col"](x, *geometry), cols, atol=1e-12)
    np.testing.assert_allclose(stand["col2im"](cols, x.shape, *geometry), ops.col2im(cols, x.shape, *geometry), atol=1e-12)
    lc_w, lc_b = rng.standard_normal((4, 7, 4, 3, 3, 2)), rng.standard_normal((4, 4, 7))
    bases, alpha = rng.standard_normal((2, 4, 3, 3, 2)), rng.standard_normal((2, 4, 7))
    pairs = [("conv2d", (x, w, b, (2, 1), (1, 1))), ("locally_connected2d", (x, lc_w, lc_b, (2, 1), (1, 1))),
             ("lrlc2d", (x, bases, alpha, (2, 1), (1, 1))), ("combining_weights", (rng.standard_normal((3, 4, 5)), "norm"))]
    for op, args in pairs:
        y, cache = getattr(ops, f"{op}_forward")(*args)
        y_stand, cache_stand = stand[f"{op}_forward"](*args)
        np.testing.assert_allclose(y_stand, y, atol=1e-10, err_msg=op)
        dy = rng.standard_normal(y.shape)
        grads = getattr(ops, f"{op}_backward")(dy, cache)
        for got, want in zip(np.atleast_1d(stand[f"{op}_backward"](dy, cache_stand)) if op == "combining_weights"
                             else stand[f"{op}_backward"](dy, cache_stand), np.atleast_1d(grads) if op == "combining_weights" else grads):
            np.testing.assert_allclose(got, want, atol=1e-9, err_msg=op)
    xb = rng.standard_normal((3, 2, 4, 5))
    for training in (True, False):
        _, cache = ops.batchnorm2d_forward(xb, rng.uniform(0.5, 1.5, 2), rng.standard_normal(2), np.zeros(2),
                                           np.ones(2), training=training)
        dy = rng.standard_normal(xb.shape)
        for got, want in zip(stand["batchnorm2d_backward"](dy, cache), ops.batchnorm2d_backward(dy, cache)):
            np.testing.assert_allclose(got, want, atol=1e-6)
    _, cache = ops.softmax_cross_entropy_forward(rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2]))
    np.testing.assert_allclose(stand["softmax_cross_entropy_backward"](np.asarray(2.0), cache),
                               ops.softmax_cross_entropy_backward(np.asarray(2.0), cache), atol=1e-7)
    _, cache = ops.bilinear_resize_forward(rng.standard_normal((2, 3, 4, 5)), (7, 3))
    dy = rng.standard_normal((2, 3, 7, 3))
    np.testing.assert_allclose(stand["bilinear_resize_backward"](dy, cache), ops.bilinear_resize_backward(dy, cache),
                               atol=1e-7)
    assert stand_ins.unwritten() == [] and stand_ins.for_unwritten_exercises() == []   # nothing to do here


@pytest.fixture(scope="module")
def week1(tmp_path_factory):
    dest = tmp_path_factory.mktemp("course") / "week1"
    make_student_copy(dest, exercises=["im2col", "col2im", "conv2d_forward", "conv2d_backward"])
    return dest


def _run_in_copy(copy, argv, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("LRLC_NP_OPS",)}
    env.update(PYTHONPATH=str(copy), MPLBACKEND="Agg", LRLC_NP_QUICK="1")
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_a_week1_copys_tutorials_run_past_the_unwritten_exercises(week1, tmp_path):
    """Tutorial 01 (week-1 reading) runs on the loop definitions and names each exercise to
    write; the training tutorial stops with one line, no traceback."""
    done = _run_in_copy(week1, [str(week1 / "tutorials" / "01_convolution.py")], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("im2col", "col2im", "conv2d_forward", "conv2d_backward"):
        assert f"note: exercise {name} is not written yet" in done.stdout
    stopped = _run_in_copy(week1, [str(week1 / "tutorials" / "05_training_on_mnist.py")], tmp_path)
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr
    assert stopped.stderr.strip().splitlines() == [stopped.stderr.strip()]
    assert stopped.stderr.startswith("Tutorial 05 trains a network on your own ops") and "conv2d_forward" in stopped.stderr


def test_a_copys_gradcheck_and_train_say_what_is_left(week1, tmp_path):
    gradcheck = _run_in_copy(week1, ["-m", "lrlc_np", "gradcheck"], tmp_path)
    assert gradcheck.returncode == 0 and "Traceback" not in gradcheck.stderr
    assert "not checked: exercise conv2d_forward is not written yet" in gradcheck.stdout
    course = _run_in_copy(week1, ["-m", "lrlc_np", "course", "grade"], tmp_path)
    assert course.returncode == 1 and "student copy, which has no course kit" in course.stderr


@pytest.mark.slow
def test_the_student_readme_commands_pass_in_a_fresh_venv(week1, tmp_path):
    """pip install -e ".[test]", pytest, pytest -k <exercise>, lrlc gradcheck: as the copy's
    README writes them, in a new virtual environment, on a copy with nothing written."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "LRLC_NP_OPS")}
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    readme = (week1 / "README.md").read_text()
    commands = [line.split("#")[0].strip() for line in readme.split("## Check your work")[1].split("```bash")[1]
                .split("```")[0].strip().splitlines()]
    assert commands[0] == 'pip install -e ".[test]"' and commands[1] == "pytest"
    for command in commands:
        done = subprocess.run(command, shell=True, cwd=week1, env=env, capture_output=True, text=True, timeout=3000)
        assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
