"""The experiment scripts run what EXPERIMENTS.md says they run.

``experiments/run.sh`` and ``experiments/paper_budget.sh`` take hours, so they run here with a
stand-in ``lrlc`` first on ``PATH`` that records its arguments; every recorded command is then
parsed by the real command line, and checked against the budget the text states. A flag renamed
in the CLI, a script that drifts from the command printed in EXPERIMENTS.md, or a grid whose rows
do not share one budget fails here, not hours into a run.
"""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from lrlc_np.cli import build_parser
from lrlc_np.compare import slug, variants

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "experiments"

pytestmark = pytest.mark.skipif(not SCRIPTS.is_dir(), reason="a handed-out copy has no experiments/")

RECORDER = """#!{python}
import json, os, sys
with open(os.environ["LRLC_RECORD"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def run_with_stand_in(script, tmp_path, stand_in_code="", **env):
    """Run ``script`` with the recording stand-in ``lrlc`` (plus ``stand_in_code``) first on PATH;
    -> (the finished process, the argument lists of every ``lrlc`` command it ran, in order)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stand_in = bin_dir / "lrlc"
    stand_in.write_text(RECORDER.format(python=sys.executable) + stand_in_code)
    stand_in.chmod(0o755)
    record = tmp_path / f"{script}.jsonl"
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                   "LRLC_RECORD": str(record), **env}
    done = subprocess.run(["bash", str(SCRIPTS / script)], cwd=tmp_path, env=environment, capture_output=True,
                          text=True, timeout=60)
    lines = record.read_text().splitlines() if record.exists() else []
    return done, [json.loads(line) for line in lines]


def recorded(script, tmp_path, **env):
    """The argument lists of every ``lrlc`` command that ``script`` runs, in order."""
    done, commands = run_with_stand_in(script, tmp_path, **env)
    assert done.returncode == 0, f"{script} failed: {done.stderr}"
    return commands


def parsed(argv):
    """The CLI's namespace for ``argv`` (a flag the CLI does not know fails the test)."""
    try:
        return vars(build_parser().parse_args(argv))
    except SystemExit:
        pytest.fail(f"lrlc does not accept: lrlc {shlex.join(argv)}")


def documented_commands(command):
    """Every ``lrlc COMMAND ...`` line of EXPERIMENTS.md's bash blocks, continuation lines joined."""
    text = (ROOT / "EXPERIMENTS.md").read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words and "=" in words[0]:            # VARIABLE=value before the command
                words.pop(0)
            if words[:2] == ["lrlc", command]:
                out.append(words[1:])
    return out


BUDGET_KEYS = ("epochs", "filters", "lr", "batch_size", "position", "dataset", "limit_train", "warmup_epochs",
               "schedule", "momentum", "weight_decay", "num_layers", "combining", "normalize", "ops", "backend")


def test_every_command_of_the_scripts_parses_and_each_documented_one_is_run_by_them(tmp_path):
    """Every ``lrlc compare`` of EXPERIMENTS.md that writes under runs/ (the scripts' default
    OUT) is a command of experiments/run.sh or experiments/paper_budget.sh, flag for flag."""
    commands = [parsed(argv) for script in ("run.sh", "paper_budget.sh") for argv in recorded(script, tmp_path)]
    assert {c["command"] for c in commands} == {"compare", "train"}
    documented = [argv for argv in documented_commands("compare") if "--out" in argv
                  and argv[argv.index("--out") + 1].startswith(("runs/experiments/", "runs/paper-budget/"))]
    assert documented, "EXPERIMENTS.md shows no lrlc compare command of the scripts"
    ignore = {"jobs", "no_progress", "handler"}
    run = [{k: v for k, v in c.items() if k not in ignore} for c in commands]
    for argv in documented:
        shown = {k: v for k, v in parsed(argv).items() if k not in ignore}
        assert shown in run, f"EXPERIMENTS.md shows a command that experiments/ does not run: lrlc {shlex.join(argv)}"


FIFTH_SEED_ROWS = ["coord_conv", "lrlc_K4", "lc", "lc_keras_init"]


def test_paper_budget_pilot_then_a_grid_whose_rows_share_one_budget(tmp_path):
    commands = [parsed(argv) for argv in recorded("paper_budget.sh", tmp_path)]
    pilot = [c for c in commands if c["command"] == "train"]
    grid = [c for c in commands if c["command"] == "compare" and c["combine"] is None]
    assert pilot and grid and commands[:len(pilot)] == pilot, "the pilot comes before the grid"
    assert {(c["lr"], c["epochs"]) for c in pilot} == {(0.05, 10), (0.1, 20), (0.2, 10)}
    for c in pilot:
        assert (c["layers"], c["seed"], c["filters"], c["limit_train"]) == (["conv"] * 3, 0, 64, None)
        assert (c["batch_size"], c["dataset"], c["schedule"]) == (128, "mnist", "cosine")
    budgets = {tuple(c[k] for k in BUDGET_KEYS) for c in grid}
    assert len(budgets) == 1, f"the grid's commands differ in budget: {budgets}"
    budget = dict(zip(BUDGET_KEYS, budgets.pop()))
    assert (budget["epochs"], budget["filters"], budget["lr"], budget["batch_size"], budget["position"],
            budget["dataset"], budget["limit_train"]) == (10, 64, 0.2, 128, 3, "mnist", None)
    assert all(c["coord_conv"] and c["lc_init"] == "both" and c["jobs"] == 2 for c in grid)
    whole = [c for c in grid if c["rows"] is None]
    assert {c["out"] for c in whole} == {"runs/paper-budget/grid"}
    groups = {}                                             # the rows of each command -> its seeds, in order
    for c in whole:
        groups.setdefault((tuple(c["ranks"]), str(c["input_dependent"])), []).append(list(c["seeds"]))
    assert len(groups) == 2, groups                         # the six rows, then K=2 and input-dependent beside them
    for rows, seeds in groups.items():                      # a seed added at a time: every row has as many
        assert seeds == [list(range(n)) for n in range(1, 5)], (rows, seeds)


def test_paper_budget_gives_a_fifth_seed_to_the_close_rows_and_reports_every_run_together(tmp_path):
    commands = [parsed(argv) for argv in recorded("paper_budget.sh", tmp_path)]
    fifth = [c for c in commands if c["command"] == "compare" and c["rows"] is not None]
    assert len(fifth) == 1
    assert (fifth[0]["rows"], fifth[0]["seeds"], fifth[0]["ranks"]) == (FIFTH_SEED_ROWS, [4], [4])
    assert fifth[0]["out"] == "runs/paper-budget/seed4"
    six_rows = [slug(v.name) for v in variants(3, 3, [4], 4, coord_conv=True, lc_inits=("he", "keras"))]
    assert set(FIFTH_SEED_ROWS) <= set(six_rows), six_rows
    combine = [i for i, c in enumerate(commands) if c.get("combine") is not None]
    assert combine and combine[-1] == len(commands) - 1, "the record is combined last, after every run"
    assert combine[0] > commands.index(fifth[0])
    for i in combine:
        assert commands[i]["combine"] == ["runs/paper-budget/grid", "runs/paper-budget/seed4"]
        assert commands[i]["out"] == "runs/paper-budget/record"


def test_paper_budget_on_a_cluster_sends_the_grid_to_the_scheduler(tmp_path):
    commands = [parsed(argv) for argv in recorded("paper_budget.sh", tmp_path, SCHEDULER="tcp://10.0.0.1:8786",
                                                  OUT="/shared/runs")]
    grid = [c for c in commands if c["command"] == "compare" and c["combine"] is None]
    assert grid and all(c["scheduler"] == "tcp://10.0.0.1:8786" and c["out"].startswith("/shared/runs/")
                        for c in grid)
    assert all(c["jobs"] is None for c in grid), "--jobs is refused beside --scheduler"


def test_a_pilot_that_fails_stops_paper_budget_before_the_grid(tmp_path):
    """The two first pilots run side by side; one that fails must stop the script, not leave the
    grid to train on a learning rate no pilot supported."""
    done, commands = run_with_stand_in("paper_budget.sh", tmp_path,
                                       'if "0.1" in sys.argv and "--lr" in sys.argv:\n    sys.exit(3)\n')
    assert done.returncode != 0
    assert commands and not any(argv[0] == "compare" for argv in commands), commands
