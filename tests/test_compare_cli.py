"""``lrlc compare`` (run_comparison, summarise, write_results), the figures, and the
``lrlc train`` / ``compare`` / ``download`` command lines.

Training runs use the bundled MNIST sample with tiny settings; nothing touches the network
(the download test points the mirrors at a closed local port).
"""

import csv
import json
import os
import re
import socket
import statistics
import subprocess
import sys

import numpy as np
import pytest

from lrlc_np import cli, compare, data
from lrlc_np.compare import run_comparison, summarise, variants, write_results
from lrlc_np.models import build_network
from lrlc_np.plots import plot_combining_weights, plot_filters, plot_run, plot_training_curves
from lrlc_np.train import TrainConfig

PNG = b"\x89PNG\r\n\x1a\n"

# the CLI's defaults for everything not given here, so `lrlc compare` with the same flags
# recognises these runs as finished
BASE = TrainConfig(filters=4, limit_train=128, epochs=1, batch_size=64, dataset="mnist-sample")
RANKS, SEEDS = [1, 2], [0, 1]
VARIANTS = ["conv", "wide_conv (K=2)", "lc", "lrlc K=1", "lrlc K=2"]
SLUGS = ["conv", "wide_conv_K2", "lc", "lrlc_K1", "lrlc_K2"]


def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == PNG


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
    assert list(table[0]) == ["variant", "layers", "rank", "seed", "test_acc", "val_acc", "params", "seconds_per_epoch"]
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
    assert "| variant | layers | test accuracy (%) | runs | parameters | seconds / epoch |" in text
    table = [line for line in text.splitlines() if line.startswith("| ") and "±" in line]
    assert len(table) == len(VARIANTS)
    for name, line in zip(VARIANTS, table):
        acc = [100 * r["test_acc"] for r in rows if r["variant"] == name]
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == name
        assert cells[2] == f"{statistics.mean(acc):.2f} ± {statistics.stdev(acc):.2f}"
        assert cells[3] == "2"


def test_comparison_plots_accuracy_against_rank(comparison):
    assert _is_png(comparison["out"] / "accuracy_vs_rank.png")


def test_running_a_comparison_again_reuses_finished_runs(comparison, monkeypatch):
    out = comparison["out"]
    trained = []
    real_train = compare.train

    def counting_train(config, run_dir, **kwargs):
        trained.append((config.layers, config.rank, config.seed))
        return real_train(config, run_dir, **kwargs)

    monkeypatch.setattr(compare, "train", counting_train)
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

def _row(variant, acc, seed, rank=1, params=100, seconds=2.0):
    return {"variant": variant, "layers": "conv,conv,conv", "rank": rank, "seed": seed, "test_acc": acc,
            "val_acc": acc, "params": params, "seconds_per_epoch": seconds}


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
    rows = [_row("conv", 0.5, 0), _row("conv", 0.6, 1), _row("wide_conv (K=4)", 0.55, 0, rank=4),
            _row("lc", 0.4, 0), _row("lrlc K=1", 0.6, 0), _row("lrlc K=4", 0.65, 0, rank=4)]
    write_results(rows, tmp_path, BASE, position=2)
    text = (tmp_path / "results.md").read_text()
    assert "| conv | conv,conv,conv | 55.00 ± 7.07 | 2 | 100 |" in text
    assert "| lrlc K=4 | conv,conv,conv | 65.00 ± 0.00 | 1 |" in text
    assert re.search(r"mnist-sample, 1 epochs?, 4 filters, batch 64", text) and "training examples: 128" in text
    assert _is_png(tmp_path / "accuracy_vs_rank.png")
    with open(tmp_path / "results.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 6


# --------------------------------------------------------------------------- figures

def test_plot_run_writes_every_figure(tmp_path):
    model = build_network(("conv", "conv", "lrlc"), filters=3, rank=2, rng=np.random.default_rng(0))
    history = [{"epoch": e, "train_loss": 2.0 / e, "train_acc": 0.3 * e, "val_acc": 0.25 * e,
                "test_acc": 0.2 * e} for e in (1, 2, 3)]
    paths = plot_run(model, history, tmp_path / "figs")
    assert [p.name for p in paths] == ["curves.png", "filters_layer1.png", "combining_weights_6.png"]
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
               "--dataset", "--limit-train", "--coord-conv", "--seed", "--out", "--resume", "--no-progress"]),
    ("compare", ["--position", "--ranks", "--seeds", "--wide-rank", "--quick", "--epochs", "--out"]),
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
    # nothing half-written is left behind
    assert [p.name for p in (tmp_path / "mnist").iterdir()] == []
