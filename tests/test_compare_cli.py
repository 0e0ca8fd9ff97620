"""``lrlc compare`` (run_comparison, summarise, write_results), the figures, and the
``lrlc train`` / ``compare`` / ``download`` command lines.

Training runs use the bundled MNIST sample with tiny settings; nothing touches the network
(the download test points the mirrors at a closed local port).
"""

import csv
import json
import os
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys

import numpy as np
import pytest

from lrlc_np import cli, compare, data, plots, scheduling
from lrlc_np.compare import run_comparison, summarise, variant_config, variants, where_they_ran, write_results
from lrlc_np.compare.report import error_curves
from lrlc_np.threads import cpu_name
from lrlc_np.models import build_network
from lrlc_np.optim import SGD
from lrlc_np.plots import (one_per_class, plot_combining_weights, plot_filters, plot_input_dependent_alpha,
                           plot_run, plot_training_curves)
from lrlc_np.train import TrainConfig, evaluate, load_checkpoint

PNG = b"\x89PNG\r\n\x1a\n"

# the CLI's defaults for everything not given here, so `lrlc compare` with the same flags
# recognises these runs as finished
BASE = TrainConfig(filters=4, limit_train=128, epochs=1, batch_size=64, dataset="mnist-sample")
RANKS, SEEDS = [1, 2], [0, 1]
VARIANTS = ["conv", "wide_conv (K=2)", "lc", "lrlc K=1", "lrlc K=2"]
SLUGS = ["conv", "wide_conv_K2", "lc", "lrlc_K1", "lrlc_K2"]


def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == PNG


def _png_size(path):
    """(width, height) in pixels from the PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG and head[12:16] == b"IHDR", head
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    messages = []
    rows = run_comparison(BASE, out, position=3, ranks=RANKS, seeds=SEEDS, progress=False, log=messages.append)
    return dict(out=out, rows=rows, messages=messages)


# --------------------------------------------------------------------------- run_comparison

def test_variants_swap_one_position():
    vs = variants(position=2, num_layers=3, ranks=[1, 4], wide_rank=4)
    assert [v.name for v in vs] == ["conv", "wide_conv (K=4)", "lc", "lrlc K=1", "lrlc K=4"]
    assert [v.layers for v in vs] == [("conv", "conv", "conv"), ("conv", "wide_conv", "conv"),
                                      ("conv", "lc", "conv"), ("conv", "lrlc", "conv"), ("conv", "lrlc", "conv")]
    assert [v.rank for v in vs] == [1, 4, 1, 1, 4]


def test_comparison_writes_one_row_per_run(comparison):
    out, rows = comparison["out"], comparison["rows"]
    assert len(rows) == len(VARIANTS) * len(SEEDS) == 10
    assert [(r["variant"], r["seed"]) for r in rows] == [(v, s) for v in VARIANTS for s in SEEDS]
    with open(out / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 10
    assert list(table[0]) == ["variant", "layers", "rank", "seed", "test_acc", "val_acc", "params", "seconds_per_epoch",
                              "minutes", "threads", "cpu"]
    for row, written in zip(rows, table):
        assert written["variant"] == row["variant"] and int(written["seed"]) == row["seed"]
        assert float(written["test_acc"]) == row["test_acc"]
        assert int(written["params"]) == row["params"]
    # each row is the last epoch of a normal run in out/<variant>/seed<seed>/
    for (slug, name) in zip(SLUGS, VARIANTS):
        for seed in SEEDS:
            run = out / slug / f"seed{seed}"
            assert {"config.json", "metrics.jsonl", "checkpoint.npz"} <= {p.name for p in run.iterdir()}
            config = json.loads((run / "config.json").read_text())
            assert config["seed"] == seed and config["layers"][:2] == ["conv", "conv"]
            last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
            row = next(r for r in rows if r["variant"] == name and r["seed"] == seed)
            assert row["test_acc"] == last["test_acc"] and row["val_acc"] == last["val_acc"]
            assert 0 <= row["test_acc"] <= 1
    by_name = {r["variant"]: r for r in rows}
    assert by_name["lrlc K=2"]["layers"] == "conv,conv,lrlc" and by_name["lrlc K=2"]["rank"] == 2
    assert by_name["wide_conv (K=2)"]["layers"] == "conv,conv,wide_conv"
    assert by_name["conv"]["params"] == build_network(filters=4).num_parameters
    assert by_name["lc"]["params"] == build_network(("conv", "conv", "lc"), filters=4).num_parameters
    assert by_name["lrlc K=2"]["params"] == build_network(("conv", "conv", "lrlc"), filters=4, rank=2).num_parameters
    assert (by_name["conv"]["params"] < by_name["lrlc K=1"]["params"] < by_name["lrlc K=2"]["params"]
            < by_name["lc"]["params"])


def test_comparison_writes_a_markdown_table_of_mean_and_std(comparison):
    out, rows = comparison["out"], comparison["rows"]
    text = (out / "results.md").read_text()
    assert text.startswith("# Layer position 3")
    assert "| variant | layers | test accuracy (%) | runs | parameters | seconds / epoch | minutes / run |" in text
    # every run of the fixture ran here, on one thread (compare pins it)
    assert f"Where they ran (as each run recorded it): {len(rows)} runs on {cpu_name()}, 1 thread each." in text
    table = [line for line in text.splitlines() if line.startswith("| ") and "±" in line]
    assert len(table) == len(VARIANTS)
    for name, line in zip(VARIANTS, table):
        acc = [100 * r["test_acc"] for r in rows if r["variant"] == name]
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == name
        assert cells[2] == f"{statistics.mean(acc):.2f} ± {statistics.stdev(acc):.2f}"
        assert cells[3] == "2"


def test_comparison_plots_accuracy_against_rank_and_learning_curves(comparison):
    assert _is_png(comparison["out"] / "accuracy_vs_rank.png")
    assert _is_png(comparison["out"] / "learning_curves.png")


def test_error_curves_average_the_epochs_that_every_seed_has():
    def history(accuracies):
        return [{"val_acc": a, "test_acc": a - 0.1} for a in accuracies]

    x, error = error_curves([history([0.5, 0.8, 0.9]), history([0.7, 0.9])])   # the second stopped early
    assert list(x) == [1, 2]
    np.testing.assert_allclose(error["val_acc"], [[50, 20], [30, 10]])
    np.testing.assert_allclose(error["test_acc"].mean(0), [50, 25])


def test_running_a_comparison_again_reuses_finished_runs(comparison, monkeypatch):
    out = comparison["out"]
    trained = []
    real_train = scheduling.train

    def counting_train(config, run_dir, **kwargs):
        trained.append((config.layers, config.rank, config.seed))
        return real_train(config, run_dir, **kwargs)

    monkeypatch.setattr(scheduling, "train", counting_train)
    messages = []
    rows = run_comparison(BASE, out, position=3, ranks=RANKS, seeds=SEEDS, progress=False, log=messages.append)
    assert trained == []
    assert sum("already done" in m for m in messages) == 10
    assert [(r["variant"], r["seed"], r["test_acc"]) for r in rows] == \
           [(r["variant"], r["seed"], r["test_acc"]) for r in comparison["rows"]]

    # an interrupted comparison: one run lost its metrics; only that run is trained again
    (out / "lrlc_K2" / "seed1" / "metrics.jsonl").unlink()
    (out / "lrlc_K2" / "seed1" / "checkpoint.npz").unlink()
    messages.clear()
    rows = run_comparison(BASE, out, position=3, ranks=RANKS, seeds=SEEDS, progress=False, log=messages.append)
    assert trained == [(("conv", "conv", "lrlc"), 2, 1)]
    assert sum("already done" in m for m in messages) == 9
    assert rows[-1]["test_acc"] == comparison["rows"][-1]["test_acc"]   # same seed, same numbers


def test_parallel_jobs_give_the_same_numbers(comparison, monkeypatch):
    """--jobs: a run trained in a separate single-threaded process gives the same results."""
    out = comparison["out"]
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    run = out / "lc" / "seed0"
    reference = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    for name in ("metrics.jsonl", "checkpoint.npz"):
        (run / name).unlink()
    messages = []
    rows = run_comparison(BASE, out, position=3, ranks=RANKS, seeds=SEEDS, progress=False, jobs=2,
                          log=messages.append)
    assert sum("already done" in m for m in messages) == 9
    again = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    # the same run, up to BLAS rounding (a single-threaded BLAS may sum in another order)
    assert again["epoch"] == reference["epoch"] == 1
    assert again["train_loss"] == pytest.approx(reference["train_loss"], rel=1e-4)
    for key in ("train_acc", "val_acc", "test_acc"):
        assert abs(again[key] - reference[key]) <= 0.01, key
    assert [r["variant"] for r in rows] == [r["variant"] for r in comparison["rows"]]
    # the thread settings of this process are restored afterwards
    assert os.environ["OMP_NUM_THREADS"] == "7" and "OPENBLAS_NUM_THREADS" not in os.environ


def test_comparison_rejects_a_bad_position(tmp_path):
    with pytest.raises(ValueError, match=r"compare: expected position between 1 and 3, got 4"):
        run_comparison(BASE, tmp_path, position=4, ranks=[1], seeds=[0], progress=False, log=lambda m: None)


# --------------------------------------------------------------------------- summarise / write_results

def _row(variant, acc, seed, rank=1, params=100, seconds=2.0, cpu="CPU A", threads="1"):
    return {"variant": variant, "layers": "conv,conv,conv", "rank": rank, "seed": seed, "test_acc": acc,
            "val_acc": acc, "params": params, "seconds_per_epoch": seconds, "minutes": 3 * seconds / 60,
            "cpu": cpu, "threads": threads}


def test_summarise_computes_mean_and_sample_std():
    rows = [_row("conv", 0.5, 0, seconds=1.0), _row("lrlc K=2", 0.8, 0, rank=2, params=300),
            _row("conv", 0.7, 1, seconds=2.0), _row("conv", 0.9, 2, seconds=6.0)]
    summary = summarise(rows)
    assert [s["variant"] for s in summary] == ["conv", "lrlc K=2"]          # order of first appearance
    conv, lrlc = summary
    assert conv["runs"] == 3
    assert conv["mean"] == pytest.approx(70.0)
    assert conv["std"] == pytest.approx(20.0)                 # sample std of 50, 70, 90
    assert conv["seconds_per_epoch"] == pytest.approx(3.0)
    assert conv["params"] == 100 and conv["rank"] == 1
    assert lrlc["runs"] == 1 and lrlc["mean"] == pytest.approx(80.0) and lrlc["std"] == 0.0
    assert lrlc["rank"] == 2 and lrlc["params"] == 300


def test_write_results_from_given_rows(tmp_path):
    rows = [_row("conv", 0.5, 0), _row("conv", 0.6, 1, seconds=6.0), _row("wide_conv (K=4)", 0.55, 0, rank=4),
            _row("lc", 0.4, 0), _row("lrlc K=1", 0.6, 0), _row("lrlc K=4", 0.65, 0, rank=4, cpu="CPU B", threads="2")]
    write_results(rows, tmp_path, BASE, position=2)
    text = (tmp_path / "results.md").read_text()
    assert "| conv | conv,conv,conv | 55.00 ± 7.07 | 2 | 100 | 4.0 | 0.2 |" in text     # 3 epochs of 2 s, of 6 s
    assert "Where they ran (as each run recorded it): 5 runs on CPU A, 1 thread each; 1 run on CPU B, 2 threads each." in text
    assert "| lrlc K=4 | conv,conv,conv | 65.00 ± 0.00 | 1 |" in text
    assert re.search(r"mnist-sample \(28x28\), 1 epochs?, 4 filters, batch 64", text) and "training examples: 128" in text
    assert _is_png(tmp_path / "accuracy_vs_rank.png")
    with open(tmp_path / "results.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 6


def test_where_they_ran_names_runs_that_recorded_nothing():
    rows = [_row("conv", 0.5, 0), _row("conv", 0.6, 1, cpu="not recorded", threads="not recorded"),
            _row("lc", 0.6, 1, cpu="not recorded", threads="not recorded")]
    assert where_they_ran(rows) == ("Where they ran (as each run recorded it): 1 run on CPU A, 1 thread each; "
                                    "2 runs that did not record it (trained before 0.7.1).")

# --------------------------------------------------------------------------- figures

def test_plot_run_writes_every_figure(tmp_path):
    model = build_network(("conv", "conv", "lrlc"), filters=3, rank=2, rng=np.random.default_rng(0))
    history = [{"epoch": e, "train_loss": 2.0 / e, "train_acc": 0.3 * e, "val_acc": 0.25 * e,
                "test_acc": 0.2 * e} for e in (1, 2, 3)]
    paths = plot_run(model, history, tmp_path / "figs")
    assert [p.name for p in paths] == ["curves.png", "filters_layer1.png", "combining_weights_layer3.png"]
    assert all(_is_png(p) and p.parent == tmp_path / "figs" for p in paths)


def test_plot_run_without_history_or_lrlc(tmp_path):
    model = build_network(filters=2, rng=np.random.default_rng(0))
    assert [p.name for p in plot_run(model, [], tmp_path)] == ["filters_layer1.png"]


def test_single_figures_and_their_errors(tmp_path):
    assert _is_png(plot_training_curves([{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_acc": 0.4,
                                          "test_acc": 0.4}], tmp_path / "a" / "c.png"))
    assert _is_png(plot_filters(np.ones((3, 1, 3, 3)), tmp_path / "f.png"))
    assert _is_png(plot_combining_weights(np.full((2, 4, 5), 0.5), tmp_path / "w.png"))   # constant maps
    with pytest.raises(ValueError, match=r"plot_filters: expected weight \(C_out, C_in, kh, kw\), got shape \(3, 3\)"):
        plot_filters(np.ones((3, 3)), tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"plot_combining_weights: expected alpha \(K, H_out, W_out\)"):
        plot_combining_weights(np.ones((4, 5)), tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


# --------------------------------------------------------------------------- command line: help and bad values

@pytest.mark.parametrize("command,flags", [
    ("train", ["--layers", "--rank", "--filters", "--epochs", "--batch-size", "--lr", "--schedule",
               "--dataset", "--limit-train", "--coord-conv", "--seed", "--out", "--resume", "--no-progress",
               "--input-dependent"]),
    ("compare", ["--position", "--ranks", "--seeds", "--wide-rank", "--quick", "--epochs", "--out",
                 "--input-dependent"]),
    ("download", ["--dataset", "--data-dir", "--no-progress"]),
])
def test_subcommand_help(command, flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: lrlc {command}")
    for flag in flags:
        assert flag in out, flag


@pytest.mark.parametrize("argv,flag", [
    (["train", "--layers", "conv,foo"], "--layers"),
    (["train", "--rank", "0"], "--rank"),
    (["train", "--epochs", "-1"], "--epochs"),
    (["train", "--lr", "abc"], "--lr"),
    (["train", "--lr", "0"], "--lr"),
    (["train", "--filters", "2.5"], "--filters"),
    (["train", "--dataset", "cifar"], "--dataset"),
    (["compare", "--seeds", "a,b"], "--seeds"),
    (["compare", "--ranks", "0,2"], "--ranks"),
    (["compare", "--position", "0"], "--position"),
    (["download", "--dataset", "mnist-sample"], "--dataset"),
])
def test_bad_values_are_one_line_errors_with_status_2(argv, flag, capsys, tmp_path):
    command = argv[0]
    if command != "download":
        argv = argv + ["--out", str(tmp_path / "never")]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"lrlc {command}: error: argument {flag}"), last
    assert not (tmp_path / "never").exists()


def test_bad_value_in_a_real_process_has_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "lrlc_np", "train", "--rank", "0", "--out", str(tmp_path / "x")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("lrlc train: error: argument --rank")


# --------------------------------------------------------------------------- lrlc train

def test_train_command_writes_the_run_and_its_figures(tmp_path, capsys):
    out = tmp_path / "r"
    argv = ["train", "--dataset", "mnist-sample", "--filters", "4", "--limit-train", "128", "--epochs", "1",
            "--no-progress", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "final test accuracy" in printed
    for name in ("config.json", "metrics.jsonl", "checkpoint.npz"):
        assert (out / name).is_file(), name
    for name in ("curves.png", "filters_layer1.png"):
        assert _is_png(out / name), name
    config = json.loads((out / "config.json").read_text())
    assert config["filters"] == 4 and config["limit_train"] == 128 and config["epochs"] == 1
    assert config["dataset"] == "mnist-sample" and config["layers"] == ["conv", "conv", "conv"]
    checkpoint = (out / "checkpoint.npz").read_bytes()

    # again, into the same folder, without --resume: a one-line error, nothing overwritten
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lrlc train: error: ") and "--resume" in err[0]
    assert "Traceback" not in captured.err
    assert (out / "checkpoint.npz").read_bytes() == checkpoint

    # --resume on a finished run: nothing left to train, still a success
    assert cli.main(argv + ["--resume"]) == 0
    assert "final test accuracy" in capsys.readouterr().out
    assert (out / "checkpoint.npz").read_bytes() == checkpoint


def test_train_command_resume_without_a_run_fails_cleanly(tmp_path, capsys):
    assert cli.main(["train", "--dataset", "mnist-sample", "--resume", "--out", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lrlc train: error: ") and "nothing to resume" in err[0]


# --------------------------------------------------------------------------- lrlc compare

def test_compare_command_reuses_a_finished_comparison(comparison, capsys):
    out = comparison["out"]
    argv = ["compare", "--dataset", "mnist-sample", "--filters", "4", "--limit-train", "128", "--epochs", "1",
            "--batch-size", "64", "--ranks", "1,2", "--seeds", "0,1", "--position", "3", "--no-progress",
            "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("already done") == 10
    assert "| variant | layers | test accuracy (%) |" in printed
    assert "wrote" in printed and "accuracy_vs_rank.png" in printed


# --------------------------------------------------------------------------- lrlc download

def _closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]           # nothing listens there once the socket is closed


def test_download_without_network_lists_the_urls_tried(tmp_path, monkeypatch, capsys):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    port = _closed_port()
    mirrors = [f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/mirror2/"]
    monkeypatch.setitem(data.DATASETS["mnist"], "mirrors", mirrors)
    status = cli.main(["download", "--dataset", "mnist", "--data-dir", str(tmp_path), "--no-progress"])
    assert status == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.startswith("lrlc download: error: ")
    for base in mirrors:
        assert base + "train-images-idx3-ubyte.gz" in captured.err
    # nothing half-written is left behind, not even the empty folder made for the files
    assert not (tmp_path / "mnist").exists()


# --------------------------------------------------------------------------- input-dependent LRLC: compare

ID_VARIANTS = ["lrlc input-dependent K=1", "lrlc input-dependent K=2"]


def test_variants_with_input_dependent_rows():
    vs = variants(position=2, num_layers=3, ranks=[1, 4], wide_rank=4, input_dependent=True)
    assert [v.name for v in vs] == ["conv", "wide_conv (K=4)", "lc", "lrlc K=1", "lrlc K=4",
                                    "lrlc input-dependent K=1", "lrlc input-dependent K=4"]
    assert [v.input_dependent for v in vs] == [False] * 5 + [True] * 2
    assert vs[-1].layers == ("conv", "lrlc", "conv") and vs[-1].rank == 4
    assert [v.name for v in variants(2, 3, [1, 4], 4)] == [v.name for v in vs[:5]]
    # input-dependent rows use combining "full"; the fixed rows keep the base setting
    base = TrainConfig(combining="row", filters=4, epochs=2)
    configs = [variant_config(base, v, seed=7) for v in vs]
    assert [c.combining for c in configs] == ["row"] * 5 + ["full"] * 2
    assert [c.input_dependent for c in configs] == [False] * 5 + [True] * 2
    assert all(c.seed == 7 and c.epochs == 2 and c.filters == 4 for c in configs)
    for c in configs:
        c.validate()


def test_comparison_with_input_dependent_rows(comparison, tmp_path, capsys, monkeypatch):
    """The fixed runs are reused; one input-dependent run per rank and seed is added."""
    out = tmp_path / "c"
    shutil.copytree(comparison["out"], out)
    trained = []
    real_train = scheduling.train

    def counting_train(config, run_dir, **kwargs):
        trained.append((config.layers, config.rank, config.seed, config.input_dependent, config.combining))
        return real_train(config, run_dir, **kwargs)

    monkeypatch.setattr(scheduling, "train", counting_train)
    messages = []
    rows = run_comparison(BASE, out, position=3, ranks=RANKS, seeds=SEEDS, progress=False,
                          log=messages.append, input_dependent=True)
    assert sum("already done" in m for m in messages) == 10
    assert sorted(trained) == sorted((("conv", "conv", "lrlc"), r, s, True, "full") for r in RANKS for s in SEEDS)
    names = VARIANTS + ID_VARIANTS
    assert [(r["variant"], r["seed"]) for r in rows] == [(v, s) for v in names for s in SEEDS]
    with open(out / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [row["variant"] for row in table] == [v for v in names for _ in SEEDS]
    by_name = {r["variant"]: r for r in rows}
    for rank, name in zip(RANKS, ID_VARIANTS):
        r = by_name[name]
        assert r["layers"] == "conv,conv,lrlc" and r["rank"] == rank
        assert r["params"] == build_network(("conv", "conv", "lrlc"), filters=4, rank=rank,
                                            input_dependent=True).num_parameters
        assert r["params"] != by_name[f"lrlc K={rank}"]["params"]
        config = json.loads((out / f"lrlc_input-dependent_K{rank}" / "seed1" / "config.json").read_text())
        assert config["input_dependent"] is True and config["combining"] == "full" and config["seed"] == 1
        assert config["epochs"] == BASE.epochs and config["limit_train"] == BASE.limit_train
    assert all(r["seconds_per_epoch"] > 0 for r in rows) and all(float(t["seconds_per_epoch"]) > 0 for t in table)
    text = (out / "results.md").read_text()
    for name in ID_VARIANTS:
        line = next(line for line in text.splitlines() if line.startswith(f"| {name} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[3] == "2" and float(cells[5]) >= 0          # runs, seconds / epoch
    assert _is_png(out / "accuracy_vs_rank.png")

    # the command line with the same flags finds every run finished
    argv = ["compare", "--dataset", "mnist-sample", "--filters", "4", "--limit-train", "128", "--epochs", "1",
            "--batch-size", "64", "--ranks", "1,2", "--seeds", "0,1", "--position", "3", "--no-progress",
            "--input-dependent", "--out", str(out)]
    trained.clear()
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert trained == [] and printed.count("already done") == 14
    assert "| lrlc input-dependent K=2 | conv,conv,lrlc |" in printed


def test_accuracy_plot_has_a_second_lrlc_line(tmp_path, monkeypatch):
    from matplotlib.container import ErrorbarContainer

    figures = []
    real_save = plots.save
    monkeypatch.setattr(plots, "save", lambda fig, path: figures.append(fig) or real_save(fig, path))
    rows = [_row("conv", 0.5, 0), _row("lc", 0.4, 0), _row("lrlc K=1", 0.6, 0), _row("lrlc K=4", 0.65, 0, rank=4),
            _row("lrlc input-dependent K=1", 0.7, 0), _row("lrlc input-dependent K=1", 0.8, 1),
            _row("lrlc input-dependent K=4", 0.75, 0, rank=4)]
    write_results(rows, tmp_path, BASE, position=3)
    assert _is_png(tmp_path / "accuracy_vs_rank.png") and len(figures) == 1
    ax = figures[0].axes[0]
    lines = {c.get_label(): c.lines[0] for c in ax.containers if isinstance(c, ErrorbarContainer)}
    assert set(lines) == {"LRLC", "LRLC, input-dependent alpha"}
    fixed, dependent = lines["LRLC"], lines["LRLC, input-dependent alpha"]
    assert list(fixed.get_xdata()) == [1, 4] and list(fixed.get_ydata()) == pytest.approx([60, 65])
    assert list(dependent.get_xdata()) == [1, 4] and list(dependent.get_ydata()) == pytest.approx([75, 75])
    assert fixed.get_marker() != dependent.get_marker()
    labels = ax.get_legend_handles_labels()[1]
    assert "LRLC" in labels and "LRLC, input-dependent alpha" in labels


@pytest.mark.parametrize("extra,expected", [([], False), (["--input-dependent"], True)])
def test_quick_compare_adds_input_dependent_rows_only_when_asked(extra, expected, tmp_path, monkeypatch, capsys):
    calls = []

    def fake_run_comparison(base, out_dir, position, ranks, seeds, **kwargs):
        calls.append(dict(base=base, ranks=ranks, **kwargs))
        (tmp_path / "results.md").write_text("table\n")

    monkeypatch.setattr(compare, "run_comparison", fake_run_comparison)
    assert cli.main(["compare", "--quick", "--out", str(tmp_path)] + extra) == 0
    (call,) = calls
    assert call["input_dependent"] is expected
    assert call["ranks"] == compare.QUICK["ranks"] and call["base"].dataset == "mnist-sample"
    assert call["base"].combining == "row_col" and call["base"].input_dependent is False
    assert "input_dependent" not in compare.QUICK


# --------------------------------------------------------------------------- input-dependent LRLC: train

def test_train_command_with_input_dependent_alpha(tmp_path, capsys):
    out = tmp_path / "id"
    argv = ["train", "--dataset", "mnist-sample", "--filters", "4", "--limit-train", "128", "--epochs", "1",
            "--batch-size", "64", "--layers", "conv,conv,lrlc", "--rank", "2", "--input-dependent",
            "--no-progress", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "alpha_per_digit.png" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["input_dependent"] is True and config["combining"] == "full"
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "metrics.jsonl", "checkpoint.npz", "curves.png", "alpha_per_digit.png"} <= names
    assert not any(n.startswith("combining_weights") for n in names)   # no single alpha to show
    width, height = _png_size(out / "alpha_per_digit.png")
    assert 300 < width < height < 3000                                 # six rows of three maps

    # the checkpoint loads into the network config.json describes, and scores what the run reported
    model = build_network(tuple(config["layers"]), filters=4, rank=2, combining=config["combining"],
                          input_dependent=config["input_dependent"], rng=np.random.default_rng(9))
    assert load_checkpoint(out / "checkpoint.npz", model, SGD(model.params, 0.1), np.random.default_rng()) == (1, 2)
    test_images, test_labels = data.load_mnist("test", dataset="mnist-sample")
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert evaluate(model, test_images, test_labels) == last["test_acc"]

    # --resume takes the saved settings (no --input-dependent needed) and draws the figure again
    (out / "alpha_per_digit.png").unlink()
    resume = ["train", "--dataset", "mnist-sample", "--resume", "--no-progress", "--out", str(out)]
    assert cli.main(resume) == 0
    assert "final test accuracy" in capsys.readouterr().out
    assert _is_png(out / "alpha_per_digit.png")


@pytest.mark.parametrize("flags,message", [
    (["--layers", "conv,conv,lrlc", "--combining", "row"], "needs --combining full (its default), got --combining row"),
    (["--layers", "conv,lc,conv"], "--layers conv,lc,conv has no 'lrlc'"),
])
def test_train_command_input_dependent_errors(flags, message, tmp_path, capsys):
    argv = ["train", "--dataset", "mnist-sample", "--input-dependent", "--out", str(tmp_path / "x")] + flags
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lrlc train: error: --input-dependent") and message in err[0]
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- input-dependent LRLC: figures

def _id_model(layer_types=("conv", "lrlc", "conv"), rank=3):
    return build_network(layer_types, filters=3, rank=rank, input_dependent=True, rng=np.random.default_rng(0))


def test_one_per_class_picks_the_first_example_of_each_class():
    labels = np.array([3, 1, 1, 0, 2, 3, 5, 0])
    assert one_per_class(labels, 4).tolist() == [3, 1, 4, 0]
    assert one_per_class(labels, 6).tolist() == [3, 1, 4, 0, 6]      # no 4 in labels
    assert one_per_class(labels, 0).tolist() == []


def test_plot_input_dependent_alpha(tmp_path):
    model = _id_model()
    images, labels = data.load_mnist("test", dataset="mnist-sample")
    chosen = one_per_class(labels, 6)
    assert labels[chosen].tolist() == [0, 1, 2, 3, 4, 5]
    x = data.to_model_input(images[chosen])
    model.forward(x, training=True)                     # non-trivial BatchNorm statistics
    buffers = {k: v.copy() for k, v in model.buffers.items()}
    layer = model.layers[3]
    seen = []
    real = layer.combining_weights
    layer.combining_weights = lambda h: seen.append((h, real(h))) or seen[-1][1]

    path = plot_input_dependent_alpha(model, x, labels[chosen], tmp_path / "a" / "alpha.png")
    assert path == tmp_path / "a" / "alpha.png"
    width, height = _png_size(path)
    assert 300 < width < height < 3000
    # the layer's input is the evaluation-mode output of the layers before it
    h = x
    for before in model.layers[:3]:
        h = before.forward(h, training=False)
    (got_h, alpha), = seen
    np.testing.assert_array_equal(got_h, h)
    assert alpha.shape == (6, 3, 24, 24)
    for k, v in model.buffers.items():
        np.testing.assert_array_equal(v, buffers[k], err_msg=k)

    # max_examples keeps the first rows; uint8 pixels (N, 28, 28) give the same figure as model input
    two = plot_input_dependent_alpha(model, images[chosen], labels[chosen], tmp_path / "two.png",
                                     layer_index=3, max_examples=2)
    np.testing.assert_array_equal(seen[-1][0], h[:2])
    w2, h2 = _png_size(two)
    assert abs(w2 - width) < 0.1 * width and h2 < 0.6 * height      # two rows instead of six
    assert _png_size(plot_input_dependent_alpha(model, x[:2], labels[chosen][:2], tmp_path / "b.png")) == (w2, h2)
    assert _is_png(plot_input_dependent_alpha(model, x[:1], None, tmp_path / "nolabel.png"))


def test_plot_input_dependent_alpha_errors(tmp_path):
    x = np.zeros((2, 1, 28, 28), np.float32)
    bad = tmp_path / "bad.png"
    for model in (build_network(("conv", "lrlc", "conv"), filters=2, rank=2, combining="full"),
                  build_network(filters=2)):
        with pytest.raises(ValueError, match=r"plot_input_dependent_alpha: the model has no LRLC layer with "
                                             r"input-dependent combining weights"):
            plot_input_dependent_alpha(model, x, [0, 1], bad)
    model = _id_model()
    with pytest.raises(ValueError, match=r"expected layer_index in \[3\] .*got 0"):
        plot_input_dependent_alpha(model, x, [0, 1], bad, layer_index=0)
    with pytest.raises(ValueError, match=r"expected images \(N, 1, 28, 28\) with N >= 1, got shape \(2, 1, 20, 20\)"):
        plot_input_dependent_alpha(model, np.zeros((2, 1, 20, 20), np.float32), [0, 1], bad)
    with pytest.raises(ValueError, match=r"got shape \(0, 1, 28, 28\)"):
        plot_input_dependent_alpha(model, x[:0], [], bad)
    with pytest.raises(ValueError, match=r"expected max_examples as an int >= 1, got 0"):
        plot_input_dependent_alpha(model, x, [0, 1], bad, max_examples=0)
    with pytest.raises(ValueError, match=r"2 images but 3 labels"):
        plot_input_dependent_alpha(model, x, [0, 1, 2], bad)
    assert not bad.exists()


def test_plot_run_with_input_dependent_layers(tmp_path):
    images, labels = data.load_mnist("test", dataset="mnist-sample")
    history = [{"epoch": 1, "train_loss": 2.0, "train_acc": 0.1, "val_acc": 0.1, "test_acc": 0.1}]
    model = _id_model(("conv", "lrlc", "lrlc"), rank=2)
    assert [p.name for p in plot_run(model, history, tmp_path / "none")] == ["curves.png", "filters_layer1.png"]
    paths = plot_run(model, history, tmp_path / "all", examples=(images, labels))
    assert [p.name for p in paths] == ["curves.png", "filters_layer1.png", "alpha_per_digit.png",
                                       "alpha_per_digit_layer3.png"]
    assert all(_is_png(p) for p in paths)
    width, height = _png_size(paths[2])
    assert height > width                                              # six rows of two maps


# --------------------------------------------------------------------------- a comparison in parts: --rows, --combine

def _full_and_parts(comparison, tmp_path):
    """A copy of the comparison's runs reported whole, and the same runs reported as two
    comparisons of one seed each (nothing trains: every run is read back)."""
    full = tmp_path / "full"
    shutil.copytree(comparison["out"], full)
    quiet = dict(progress=False, log=lambda m: None)
    run_comparison(BASE, full, position=3, ranks=RANKS, seeds=SEEDS, **quiet)
    parts = []
    for seed in SEEDS:
        part = tmp_path / f"seed{seed}"
        for run in full.glob(f"*/seed{seed}"):
            shutil.copytree(run, part / run.parent.name / run.name)
        run_comparison(BASE, part, position=3, ranks=RANKS, seeds=[seed], **quiet)
        parts.append(part)
    return full, parts


def test_combining_a_comparison_run_in_parts_gives_the_report_of_the_whole(comparison, tmp_path):
    full, parts = _full_and_parts(comparison, tmp_path)
    rows = compare.combine_comparisons(parts, tmp_path / "combined")
    for name in ("results.csv", "results.md"):
        assert (tmp_path / "combined" / name).read_text() == (full / name).read_text(), name
    assert _is_png(tmp_path / "combined" / "accuracy_vs_rank.png")
    assert not (tmp_path / "combined" / "learning_curves.png").exists()     # results.csv holds no epochs
    assert rows == compare.read_results(full)[0]


def test_read_results_gives_back_the_rows_as_the_comparison_made_them(comparison, tmp_path):
    full, _ = _full_and_parts(comparison, tmp_path)
    made = run_comparison(BASE, full, position=3, ranks=RANKS, seeds=SEEDS, progress=False, log=lambda m: None)
    rows, (title, settings) = compare.read_results(full)
    assert rows == made
    assert title == "# Layer position 3: conv vs wide conv vs LC vs LRLC"
    assert settings.startswith("mnist-sample (28x28), 1 epoch, 4 filters, batch 64")


def test_combine_refuses_what_cannot_be_reported_together_and_writes_nothing(comparison, tmp_path):
    full, (part0, part1) = _full_and_parts(comparison, tmp_path)
    out = tmp_path / "combined"
    with pytest.raises(compare.ReportError, match=r"conv, seed 0 is in both .*full and .*seed0"):
        compare.combine_comparisons([full, part0], out)
    with pytest.raises(compare.ReportError, match="is one of the folders to combine"):
        compare.combine_comparisons([part0, part1], part1)
    with pytest.raises(compare.ReportError, match=r"nowhere[/\\]results.csv: not found"):
        compare.combine_comparisons([part0, tmp_path / "nowhere"], out)
    md = part1 / "results.md"
    md.write_text(md.read_text().replace("1 epoch,", "2 epochs,"))
    with pytest.raises(compare.ReportError, match=r"other settings(.|\n)*1 epoch,(.|\n)*2 epochs,"):
        compare.combine_comparisons([part0, part1], out)
    (part1 / "results.csv").write_text("position,rank,variant,seed,test_acc,val_acc,seconds_per_epoch\n")
    with pytest.raises(compare.ReportError, match="not a sweep's"):
        compare.combine_comparisons([part0, part1], out)
    assert not out.exists()


def test_rows_trains_only_the_rows_named_by_folder_or_name(comparison, tmp_path):
    out = tmp_path / "more"
    rows = run_comparison(BASE, out, position=3, ranks=RANKS, seeds=[2], rows=["lrlc K=2", "conv"],
                          progress=False, log=lambda m: None)
    assert [r["variant"] for r in rows] == ["conv", "lrlc K=2"]              # the comparison's order
    assert sorted(p.parent.name for p in out.glob("*/seed2")) == ["conv", "lrlc_K2"]
    with pytest.raises(ValueError, match=r"expected rows among conv, wide_conv_K2, lc, lrlc_K1, lrlc_K2 .* got lc_K3"):
        run_comparison(BASE, out, position=3, ranks=RANKS, seeds=[2], rows=["lc_K3"], progress=False)


def test_combine_and_rows_on_the_command_line(comparison, tmp_path, capsys):
    full, parts = _full_and_parts(comparison, tmp_path)
    flags = ["--filters", "4", "--limit-train", "128", "--epochs", "1", "--batch-size", "64", "--dataset",
             "mnist-sample", "--ranks", "1,2", "--no-progress"]
    assert cli.main(["compare", "--combine", *map(str, parts), "--out", str(tmp_path / "c")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / "c" / "results.csv").read_text() == (full / "results.csv").read_text()
    assert cli.main(["compare", "--combine", str(parts[0]), "--seeds", "3", "--out", str(tmp_path / "d")]) == 1
    assert "--combine trains nothing" in capsys.readouterr().err and not (tmp_path / "d").exists()
    assert cli.main(["compare", *flags, "--rows", "lrlc_K9", "--out", str(tmp_path / "e")]) == 1
    assert "expected rows among" in capsys.readouterr().err and not (tmp_path / "e").exists()
    assert cli.main(["compare", *flags, "--positions", "3", "--rows", "conv", "--out", str(tmp_path / "f")]) == 1
    assert "--rows" in capsys.readouterr().err
    assert cli.main(["compare", *flags, "--seeds", "0", "--rows", "lc,lrlc_K1", "--out", str(full)]) == 0
    out = capsys.readouterr().out
    assert "| lc |" in out and "| lrlc K=1 |" in out and "| conv |" not in out
