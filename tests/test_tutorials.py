"""The tutorials run top to bottom without error (each asserts its own claims).

Every ``tutorials/NN_name.py`` is picked up automatically. Each runs in quick mode
(``LRLC_NP_QUICK=1``: the training in 05 and 06 shrunk to seconds), in a fresh temporary
working directory, with matplotlib's non-interactive Agg backend, so nothing is written to
the repository and no window opens. A warning raised from inside ``lrlc_np`` fails the run.
One tutorial is also turned into a notebook and executed through nbclient (skipped, with
the reason, where the notebook extra is not installed); all of them under the slow marker.
"""

import importlib.util
import re
import runpy
import warnings
from pathlib import Path

import pytest

TUTORIALS_DIR = Path(__file__).resolve().parent.parent / "tutorials"
TUTORIALS = sorted(TUTORIALS_DIR.glob("[0-9][0-9]_*.py"))
NOTEBOOK_TOOLS = all(importlib.util.find_spec(name) for name in ("jupytext", "nbclient", "ipykernel"))
needs_notebook_tools = pytest.mark.skipif(
    not NOTEBOOK_TOOLS, reason='jupytext, nbclient and ipykernel are not installed: pip install -e ".[notebooks]"')


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("LRLC_NP_QUICK", "1")
    monkeypatch.delenv("LRLC_NP_TUTORIAL_OUT", raising=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", module=r"lrlc_np(\.|$)")     # a warning from the library is a failure
        runpy.run_path(str(path), run_name="__main__")
    assert capsys.readouterr().out, f"{path.name} printed nothing for the student to look at"


def test_tutorials_are_numbered_without_gaps():
    numbers = [int(re.match(r"(\d\d)_", p.name).group(1)) for p in TUTORIALS]
    assert len(numbers) >= 7, f"expected at least 7 tutorials in {TUTORIALS_DIR}, found {len(numbers)}"
    assert numbers == list(range(1, len(numbers) + 1)), (
        "tutorials should be numbered 01, 02, ... without gaps or duplicates; "
        f"got {[p.name for p in TUTORIALS]}"
    )


def test_the_tutorial_index_lists_every_tutorial():
    index = (TUTORIALS_DIR / "README.md").read_text(encoding="utf-8")
    for path in TUTORIALS:
        assert f"`{path.name}`" in index, path.name


def _run_as_notebooks(scripts, dest):
    import json

    from lrlc_np.notebooks import make_notebooks

    paths = make_notebooks(dest, scripts, quick=True, timeout=300)
    for script, path in zip(scripts, paths):
        assert path.name == script.stem + ".ipynb"
        cells = json.loads(path.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert code and all(c.get("execution_count") for c in code), f"{path.name}: not every cell ran"
        assert any(c.get("outputs") for c in code), f"{path.name}: no outputs"
        errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, errors
        assert any(c["cell_type"] == "markdown" for c in cells)
    return paths


@needs_notebook_tools
def test_one_tutorial_runs_as_a_notebook(tmp_path):
    _run_as_notebooks([TUTORIALS_DIR / "01_convolution.py"], tmp_path)


@pytest.mark.slow
@needs_notebook_tools
def test_every_tutorial_runs_as_a_notebook(tmp_path):
    paths = _run_as_notebooks(TUTORIALS, tmp_path)
    assert len(paths) == len(TUTORIALS)
    assert (tmp_path / "tutorial05_curves.png").exists() and (tmp_path / "tutorial06_alpha.png").exists()


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
