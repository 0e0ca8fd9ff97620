"""The tutorials run top to bottom without error, say only what their cells compute, and teach
in the shape a course needs.

Every ``tutorials/NN_name.py`` is picked up automatically. Each runs in quick mode
(``LRLC_NP_QUICK=1``: the training in the training tutorials shrunk to seconds), in a fresh
temporary working directory, with matplotlib's non-interactive Agg backend, so nothing is
written to the repository and no window opens. A warning raised from inside ``lrlc_np`` fails
the run. The same run checks that every measured-looking number in the prose (a decimal, a
percentage, a power of ten, a number with thousands separators) is one the tutorial's code
writes or prints: a number typed into the prose that its cell does not produce fails.

One tutorial is also turned into a notebook and executed through nbclient (skipped, with the
reason, where the notebook extra is not installed); all of them under the slow marker, where
every tutorial that draws must show its figures inline.
"""

import importlib.util
import json
import re
import runpy
import warnings
from pathlib import Path

import pytest

from lrlc_np import understanding

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS_DIR = ROOT / "tutorials"
TUTORIALS = sorted(TUTORIALS_DIR.glob("[0-9][0-9]_*.py"))
NOTEBOOK_TOOLS = all(importlib.util.find_spec(name) for name in ("jupytext", "nbclient", "ipykernel"))
needs_notebook_tools = pytest.mark.skipif(
    not NOTEBOOK_TOOLS, reason='jupytext, nbclient and ipykernel are not installed: pip install -e ".[notebooks]"')


# --------------------------------------------------------------------------- reading a tutorial

def cells(path):
    """The percent-format cells of a tutorial: [(kind, text)], kind "markdown" or "code";
    markdown text without its leading "# "."""
    out, kind, lines = [], None, []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            if kind is not None:
                out.append((kind, "\n".join(lines)))
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind == "markdown":
            lines.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
        elif kind is not None:
            lines.append(line)
    if kind is not None:
        out.append((kind, "\n".join(lines)))
    return out


def markdown(path):
    return [text for kind, text in cells(path) if kind == "markdown"]


def code(path):
    return "\n".join(text for kind, text in cells(path) if kind == "code")


def trains(path):
    """Whether the tutorial trains a network (it then needs every exercise written)."""
    return bool(re.search(r"\btrain\(|\.step\(", code(path)))


# A measured-looking number: 1,234 / 0.582 / 1e-5 / 2.2e-16 / 95 % (digits glued to a word or
# a path, like "x2" or "tutorial01", are not numbers of the prose).
NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:[,_]\d{3})+|\d+\.\d+(?:e[-+]?\d+)?|\d+e[-+]?\d+|\d+(?=\s?%))(?![\w])")

# Numbers the prose may use as definitions of the library, not as measurements: the pass mark
# of a gradient check and its eps (gradcheck.TOLERANCE, numerical_gradient), relative_error's
# floor, CS231n's floor, the norm clamp of "norm" combining weights, batch norm's momentum.
DEFINITIONS = {1e-5, 1e-6, 1e-2, 1e-8, 1e-12, 0.1}


def numbers(text):
    values = set()
    for token in NUMBER.findall(text):
        values.add(float(token.replace(",", "").replace("_", "")))
    return values


def unexplained_numbers(path, printed):
    """Numbers in the prose that neither the code, its output, nor (where a paragraph cites
    EXPERIMENTS.md) EXPERIMENTS.md contains. The questions and exercises are left out: their
    numbers are givens ("a 28-pixel input, stride 2"), not results."""
    allowed = numbers(code(path)) | numbers(printed) | DEFINITIONS
    experiments = ROOT / "EXPERIMENTS.md"
    cited = numbers(experiments.read_text(encoding="utf-8")) if experiments.is_file() else None
    missing = []
    for text in markdown(path):
        if re.match(r"\s*## (\d+\. )?(Check your understanding|Exercises)", text):
            continue                           # the givens of questions and exercises, not measurements
        for paragraph in text.split("\n\n"):
            extra = numbers(paragraph) - allowed
            if "EXPERIMENTS.md" in paragraph and cited is not None:
                extra -= cited
            elif "EXPERIMENTS.md" in paragraph:
                extra = set()                  # a copy without EXPERIMENTS.md: nothing to check against
            missing += [(value, paragraph.strip().splitlines()[0][:70]) for value in sorted(extra)]
    return missing


# --------------------------------------------------------------------------- running them

@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_runs_and_its_prose_numbers_come_from_its_cells(path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("LRLC_NP_QUICK", "1")
    monkeypatch.delenv("LRLC_NP_TUTORIAL_OUT", raising=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", module=r"lrlc_np(\.|$)")     # a warning from the library is a failure
        runpy.run_path(str(path), run_name="__main__")
    printed = capsys.readouterr().out
    assert printed, f"{path.name} printed nothing for the student to look at"
    missing = unexplained_numbers(path, printed)
    assert not missing, (f"{path.name}: numbers in the prose that no cell computes (print them from the "
                         f"cell, assert them, or refer to the printed output): {missing}")
    drawn = "figures.show(" in code(path)
    assert not drawn or list(tmp_path.glob("*.png")), f"{path.name} shows figures but saved no PNG file"


def test_the_number_check_catches_a_typed_number(tmp_path):
    """A prose number that its cell does not print fails; the printed one passes."""
    script = tmp_path / "99_example.py"
    script.write_text('# %% [markdown]\n# The layer scores 95.1% here.\n\n# %%\nprint(f"{95.6:.1f}%")\n')
    assert unexplained_numbers(script, "95.6%\n") == [(95.1, "The layer scores 95.1% here.")]
    assert unexplained_numbers(script, "95.1%\n") == []


# --------------------------------------------------------------------------- what a course needs

def test_tutorials_are_numbered_without_gaps():
    numbers_ = [int(re.match(r"(\d\d)_", p.name).group(1)) for p in TUTORIALS]
    assert len(numbers_) >= 8, f"expected at least 8 tutorials in {TUTORIALS_DIR}, found {len(numbers_)}"
    assert numbers_ == list(range(1, len(numbers_) + 1)), (
        "tutorials should be numbered 01, 02, ... without gaps or duplicates; "
        f"got {[p.name for p in TUTORIALS]}"
    )


def test_one_order_in_the_readme_the_tutorial_index_and_teaching():
    if not (ROOT / "TEACHING.md").is_file():
        pytest.skip("a student copy (lrlc course make-student) has no TEACHING.md and its own README")
    index = (TUTORIALS_DIR / "README.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = [p.name for p in TUTORIALS]
    for text, where in ((index, "tutorials/README.md"), (readme, "README.md")):
        positions = [text.find(f"`{name}`") if where != "README.md" else text.find(f"`tutorials/{name}`")
                     for name in names]
        assert all(p >= 0 for p in positions), (where, [n for n, p in zip(names, positions) if p < 0])
        assert positions == sorted(positions), f"{where} lists the tutorials out of order"
    teaching = (ROOT / "TEACHING.md").read_text(encoding="utf-8")
    sequence = teaching[teaching.index("## A suggested sequence"):]
    sequence = sequence[:sequence.index("\n## ", 1)]
    table = "\n".join(line for line in sequence.splitlines() if line.startswith("| "))
    mentioned = [int(n) for n in re.findall(r"tutorials? (\d\d)", table)]
    assert mentioned == sorted(mentioned), f"TEACHING.md's sequence takes the tutorials out of order: {mentioned}"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_every_tutorial_ends_with_exercises(path):
    kinds = cells(path)
    at = [i for i, (kind, text) in enumerate(kinds) if kind == "markdown" and "## Exercises" in text]
    assert at, f"{path.name} has no '## Exercises' section"
    assert all(kind == "markdown" for kind, _ in kinds[at[-1]:]), f"{path.name}: code after the exercises"
    assert re.search(r"^1\. ", kinds[at[-1]][1], re.M), f"{path.name}: the exercises are not a numbered list"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_every_tutorial_starts_with_the_student_copy_call_and_points_at_grading(path):
    first = next(text for kind, text in cells(path) if kind == "code")
    number = path.name[:2]
    expected = (f'stand_ins.require_written("{number}")' if trains(path) else "stand_ins.for_unwritten_exercises()")
    assert first.lstrip().startswith("from lrlc_np import stand_ins"), path.name
    assert expected in first.split("\n\n")[1], f"{path.name} should begin with {expected}"
    prose = "\n".join(markdown(path))
    assert "**In a course**" in prose and "lrlc course grade" in prose, path.name


def test_the_tutorials_prepare_for_every_course_exercise():
    from lrlc_np.course.catalogue import EXERCISES

    courses = {p.name: next(t for t in markdown(p) if "**In a course**" in t) for p in TUTORIALS}
    named = "\n".join(courses.values())
    assert not [name for name in EXERCISES if f"`{name}`" not in named]


@pytest.mark.parametrize("path", [p for p in TUTORIALS if "lrlc_np.layers import" in code(p)],
                         ids=lambda p: p.name)
def test_tutorials_that_use_layers_step_into_the_clear_tier(path):
    assert 'lrlc_np.set_ops("clear")' in code(path), path.name
    assert 'set_ops("fast")' in "\n".join(markdown(path)) or "fast tier" in "\n".join(markdown(path)), path.name


@pytest.mark.parametrize("path", [p for p in TUTORIALS if p.name[:2] in ("01", "02", "03", "04", "06")],
                         ids=lambda p: p.name)
def test_the_first_tutorials_check_your_understanding(path):
    found = re.findall(r'understanding\.check\("(\w+)", answers\)', code(path))
    assert len(found) == 1, f"{path.name} should check one set of answers"
    keys = set(re.findall(r'^    "(\w+)": None,$', code(path), re.M))
    assert keys == {q.key for q in understanding.questions(found[0])}, path.name


@pytest.mark.parametrize("topic", list(understanding.TOPICS))
def test_the_checker_accepts_right_answers_and_hints_at_wrong_ones(topic):
    right = understanding.right_answers(topic)
    lines = []
    assert set(understanding.judge(topic, right, log=lines.append).values()) == {understanding.RIGHT}
    assert lines[-1] == f"{len(right)} of {len(right)} right."

    wrong = {key: ("z" if isinstance(v, str) else (99, 99) if isinstance(v, tuple) else 12345)
             for key, v in right.items()}
    lines = []
    assert set(understanding.judge(topic, wrong, log=lines.append).values()) == {understanding.WRONG}
    for question, line in zip(understanding.questions(topic), lines):
        assert f"Hint: {question.hint[:1].upper()}{question.hint[1:20]}" in line   # a hint, not the answer
        if not isinstance(right[question.key], int):             # (small whole numbers turn up in any text)
            assert repr(right[question.key]) not in line.split("Hint: ")[1]

    lines = []
    understanding.judge(topic, dict.fromkeys(right), log=lines.append)
    assert "run this cell again" in lines[-1]


def test_the_checker_explains_an_answer_of_the_wrong_form_and_wrong_keys():
    lines = []
    answers = dict.fromkeys(understanding.right_answers("convolution"))
    answers.update(output_size="thirteen", im2col_shape=800, dweight=2)
    understanding.judge("convolution", answers, log=lines.append)
    assert "Expected a number" in lines[0] and "Expected a shape" in lines[1] and "letter of a choice" in lines[3]
    assert understanding.judge("convolution", {**answers, "output_size": 13.0}, log=lambda _: None)["output_size"] \
        == understanding.RIGHT
    with pytest.raises(ValueError, match="should have the keys output_size.*unknown: outputsize.*missing: output_size"):
        understanding.judge("convolution", {**{k: None for k in answers if k != "output_size"}, "outputsize": 1})
    with pytest.raises(ValueError, match="no questions on 'nope'"):
        understanding.questions("nope")


def test_figures_show_saves_a_png_and_says_where_outside_a_notebook(tmp_path, monkeypatch, capsys):
    from lrlc_np import figures

    monkeypatch.setenv("LRLC_NP_TUTORIAL_OUT", str(tmp_path / "out"))
    fig = figures.figure(3, 2)
    fig.subplots().plot([0, 1], [1, 0])
    assert figures.show(fig, "example") is None            # a notebook cell shows the figure, not a value
    assert (tmp_path / "out" / "example.png").read_bytes()[:4] == b"\x89PNG"
    assert capsys.readouterr().out.strip() == f"figure: {tmp_path / 'out' / 'example.png'}"
    assert not figures.in_notebook()
    with pytest.raises(ValueError, match="needs a name"):
        figures.show(fig)
    with pytest.raises(FileNotFoundError, match="no figure at"):
        figures.show(tmp_path / "missing.png")


# --------------------------------------------------------------------------- as notebooks

def _run_as_notebooks(scripts, dest):
    from lrlc_np.notebooks import figure_count, make_notebooks

    paths = make_notebooks(dest, scripts, quick=True, timeout=300)
    counts = {}
    for script, path in zip(scripts, paths):
        assert path.name == script.stem + ".ipynb"
        notebook = json.loads(path.read_text())
        code_cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        assert code_cells and all(c.get("execution_count") for c in code_cells), f"{path.name}: not every cell ran"
        assert any(c.get("outputs") for c in code_cells), f"{path.name}: no outputs"
        errors = [o for c in code_cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, errors
        assert any(c["cell_type"] == "markdown" for c in notebook["cells"])
        counts[script.name] = figure_count(notebook)
        shows = code(script).count("figures.show(")
        assert counts[script.name] == shows, f"{path.name}: {shows} figures.show calls, {counts[script.name]} inline figures"
    return paths, counts


@needs_notebook_tools
def test_one_tutorial_runs_as_a_notebook_with_its_figures_inline(tmp_path):
    _, counts = _run_as_notebooks([TUTORIALS_DIR / "01_convolution.py"], tmp_path)
    assert counts["01_convolution.py"] >= 1
    assert list(tmp_path.glob("tutorial01_*.png"))          # and saved beside the notebook


@pytest.mark.slow
@needs_notebook_tools
def test_every_tutorial_runs_as_a_notebook(tmp_path):
    paths, counts = _run_as_notebooks(TUTORIALS, tmp_path)
    assert len(paths) == len(TUTORIALS)
    without = [name for name, count in counts.items() if count == 0 and "gpu" not in name]
    assert not without, f"tutorials whose notebook shows no figure: {without}"
    assert (tmp_path / "tutorial05_curves.png").exists() and (tmp_path / "tutorial07_alpha.png").exists()


def test_cli_tutorials_lists_them_and_explains_a_missing_extra(capsys, monkeypatch):
    from lrlc_np import cli, notebooks

    assert cli.main(["tutorials"]) == 0
    out = capsys.readouterr().out
    assert all(p.name in out for p in TUTORIALS)

    def missing():
        raise notebooks.NotebookError(f"making notebooks needs jupytext: {notebooks.INSTALL_HINT}")

    monkeypatch.setattr(notebooks, "_tools", missing)
    assert cli.main(["tutorials", "--notebooks", "unused", "--no-progress"]) == 1
    assert capsys.readouterr().err.strip() == ('lrlc tutorials: error: making notebooks needs jupytext: '
                                               'pip install -e ".[notebooks]"  (jupytext, nbclient, ipykernel)')
