"""EXPERIMENTS.md's "At the paper's budget" against the runs it reports.

The grid's runs took hours, so CI cannot repeat them; what it can do is hold the prose to the
record the runs left. ``docs/experiments/paper_budget/`` keeps what ``lrlc compare`` wrote:
``grid/`` (the six rows, four seeds: ``results.csv``, one line per run, ``results.md`` and the
learning curves), ``seed4/`` (the fifth seed of the rows whose differences were small), the
two combined by ``lrlc compare --combine`` (``results.csv``, ``results.md``: the section's
tables), and the pilot's per-epoch metrics. These tests recompute every number of the
section's tables from that record, with scipy rather than ``lrlc_np.stats``, so a number
typed by hand, or a record edited after the tables were copied, fails.
"""

import csv
import json
import math
import re
import statistics
from pathlib import Path

import pytest
from scipy import stats as scipy_stats

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "docs" / "experiments" / "paper_budget"
HEADING = "## 6. At the paper's budget"

pytestmark = pytest.mark.skipif(not (ROOT / "EXPERIMENTS.md").is_file(),
                                reason="a handed-out copy has no EXPERIMENTS.md")


def section():
    text = (ROOT / "EXPERIMENTS.md").read_text(encoding="utf-8")
    assert HEADING in text, f"EXPERIMENTS.md has no section {HEADING!r}"
    body = text.split(HEADING, 1)[1]
    return re.split(r"\n## ", body, maxsplit=1)[0]


def table(text, header_start):
    """The body rows of the markdown table whose header line starts with ``header_start``, as
    lists of stripped cells."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(header_start):
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append([cell.strip() for cell in row.strip().strip("|").split("|")])
            return rows
    raise AssertionError(f"no table whose header starts with {header_start!r}")


def runs():
    with open(RECORD / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def accuracies():
    """variant -> {seed: test accuracy in %}"""
    out = {}
    for r in runs():
        out.setdefault(r["variant"], {})[int(r["seed"])] = 100 * float(r["test_acc"])
    return out


def welch(a, b):
    """'+d (+lo to +hi), p x' as results.md writes it, from scipy's Welch test."""
    a, b = [float(v) for v in a], [float(v) for v in b]
    d = statistics.mean(a) - statistics.mean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = scipy_stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    p = scipy_stats.ttest_ind(a, b, equal_var=False).pvalue
    text = f"{d:+.2f} ({d - half:+.2f} to {d + half:+.2f}), p {'< 0.001' if p < 0.001 else f'{p:.3f}'}"
    return text + (", inside the noise" if d - half <= 0 <= d + half else "")


def _seeds(path):
    """variant -> sorted seeds, of the results.csv at ``path``"""
    with open(path, newline="") as f:
        out = {}
        for r in csv.DictReader(f):
            out.setdefault(r["variant"], []).append(int(r["seed"]))
    return {name: sorted(seeds) for name, seeds in out.items()}


def test_every_row_has_seeds_0_to_3_and_the_fifth_only_where_the_record_says():
    """No row skips a seed or picks one: the grid gave every row seeds 0 to 3, and seed 4 is
    exactly the runs of seed4/, all on one thread."""
    grid, fifth, combined = _seeds(RECORD / "grid" / "results.csv"), _seeds(RECORD / "seed4" / "results.csv"), \
        _seeds(RECORD / "results.csv")
    assert {"conv", "wide_conv (K=4)", "coord_conv", "lc", "lc (keras init)", "lrlc K=4"} <= set(grid)
    assert all(seeds == [0, 1, 2, 3] for seeds in grid.values()), grid
    assert fifth and all(seeds == [4] for seeds in fifth.values()) and set(fifth) <= set(grid), fifth
    assert combined == {name: seeds + fifth.get(name, []) for name, seeds in grid.items()}
    assert {r["threads"] for r in runs()} <= {"1", "not recorded"}, "a run on more than one thread"


def test_the_record_is_the_grid_and_the_fifth_seed_combined(tmp_path):
    """results.csv and results.md are what ``lrlc compare --combine grid seed4`` writes."""
    from lrlc_np.compare import combine_comparisons

    combine_comparisons([RECORD / "grid", RECORD / "seed4"], tmp_path)
    for name in ("results.csv", "results.md"):
        assert (tmp_path / name).read_text(encoding="utf-8") == (RECORD / name).read_text(encoding="utf-8"), name


def test_the_section_says_where_the_runs_ran_as_results_md_does():
    stored = (RECORD / "results.md").read_text(encoding="utf-8")
    where = [line for line in stored.splitlines() if line.startswith("Where they ran")]
    assert where and where[0] in section(), "the section does not copy results.md's line on where the runs ran"


def test_the_accuracy_table_is_the_record_s_mean_and_std():
    acc = accuracies()
    rows = table(section(), "| variant |")
    assert [r[0] for r in rows] == list(acc), "the table's rows are not the record's rows, in its order"
    record = runs()
    for name, layers, accuracy, count, params, seconds, minutes in rows:
        values = list(acc[name].values())
        assert accuracy == f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}", name
        assert int(count) == len(values)
        ours = [r for r in record if r["variant"] == name]
        assert params.replace(",", "") == ours[-1]["params"], name
        assert seconds == f"{statistics.mean(float(r['seconds_per_epoch']) for r in ours):.1f}", name
        assert minutes == f"{statistics.mean(float(r['minutes']) for r in ours):.1f}", name


def test_every_difference_is_welch_s_test_on_the_record():
    acc = accuracies()
    rows = table(section(), "| row | against |")
    assert rows, "no differences table"
    for row, against, said in rows:
        assert said == welch(acc[row].values(), acc[against].values()), f"{row} against {against}"


def test_every_question_is_welch_s_test_on_the_record():
    acc = accuracies()
    rows = table(section(), "| the question |")
    assert rows, "no table of the experiment's questions"
    for question, row, against, said in rows:
        assert said == welch(acc[row].values(), acc[against].values()), question


def test_the_section_s_tables_are_those_of_the_stored_results_md():
    stored = (RECORD / "results.md").read_text(encoding="utf-8")
    for header in ("| variant |", "| row | against |"):
        assert table(section(), header) == table(stored, header), header


def test_the_pilot_table_is_the_pilot_runs_last_epoch():
    rows = table(section(), "| learning rate |")
    assert rows
    for lr, epochs, val, seconds in rows:
        path = RECORD / "pilot" / f"conv_lr{lr}_e{epochs}.jsonl"
        epochs_run = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        assert len(epochs_run) == int(epochs), path.name
        assert val == f"{100 * epochs_run[-1]['val_acc']:.2f}", path.name
        assert seconds == f"{statistics.mean(e['seconds'] for e in epochs_run):.0f}", path.name


NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?(?:e-?\d+)?")


def numbers(text):
    return {float(t.replace(",", "")) for t in NUMBER.findall(text)}


def test_every_number_in_the_section_s_prose_comes_from_its_tables_commands_or_record():
    """Numbers in sentences are the tables', the commands', or the record's (a run's accuracy,
    a pilot epoch's validation accuracy), never typed from memory."""
    text = section()
    tables = "\n".join(line for line in text.splitlines() if line.startswith("|"))
    code = "\n".join(re.findall(r"```bash\n(.*?)```", text, flags=re.S))
    prose = re.sub(r"```.*?```", "", "\n".join(l for l in text.splitlines() if not l.startswith("|")), flags=re.S)
    prose = re.sub(r"!\[.*?\]\(.*?\)", "", prose)             # figure links
    allowed = numbers(tables) | numbers(code)
    for path in RECORD.glob("**/results.md"):
        allowed |= numbers(path.read_text(encoding="utf-8"))
    for r in runs():
        allowed |= {round(100 * float(r["test_acc"]), 2), round(100 * float(r["val_acc"]), 2)}
    for path in (RECORD / "pilot").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            allowed.add(round(100 * json.loads(line)["val_acc"], 2))
    allowed |= {6, 0.9, 5e-4, -1, 1, 8, 28, 55200, 95}      # the section number and the budget's givens
    extra = sorted(numbers(prose) - allowed)
    assert not extra, f"numbers in the prose of {HEADING!r} that no table, command or run gives: {extra}"
