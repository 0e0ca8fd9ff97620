"""The tutorials run top to bottom without error (each asserts its own claims).

Every ``tutorials/NN_name.py`` is picked up automatically. Each runs in a fresh temporary
working directory with matplotlib's non-interactive Agg backend, so nothing is written to
the repository and no window opens.
"""

import re
import runpy
from pathlib import Path

import pytest

TUTORIALS_DIR = Path(__file__).resolve().parent.parent / "tutorials"
TUTORIALS = sorted(TUTORIALS_DIR.glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    runpy.run_path(str(path), run_name="__main__")
    assert capsys.readouterr().out, f"{path.name} printed nothing for the student to look at"


def test_tutorials_are_numbered_without_gaps():
    numbers = [int(re.match(r"(\d\d)_", p.name).group(1)) for p in TUTORIALS]
    assert len(numbers) >= 3, f"expected at least 3 tutorials in {TUTORIALS_DIR}, found {len(numbers)}"
    assert numbers == list(range(1, len(numbers) + 1)), (
        "tutorials should be numbered 01, 02, ... without gaps or duplicates; "
        f"got {[p.name for p in TUTORIALS]}"
    )
