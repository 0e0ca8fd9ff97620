"""The experiment tools: translated MNIST, the statistics of a comparison, a comparison that
resumes cell by cell, the CoordConv and Keras-initialised LC rows, and the rank x position sweep.

Everything runs offline on the bundled sample.
"""

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from lrlc_np import cli, compare as compare_module, data, layers, scheduling
from lrlc_np.compare import run_comparison, run_sweep, variants, write_results
from lrlc_np.data.translated import offsets, translate
from lrlc_np.stats import compare_groups
from lrlc_np.train import TrainConfig, load_data

SAMPLE = data.load_mnist("train", dataset="mnist-sample")


def _quiet(_message):
    pass


# --------------------------------------------------------------------------- translated MNIST

def test_translated_digits_are_the_source_digits_pasted_inside_the_canvas():
    images, labels = SAMPLE
    canvas = 40
    out = translate(images, canvas, "train")
    where = offsets(len(images), canvas, "train")
    assert out.shape == (len(images), canvas, canvas) and out.dtype == np.uint8
    assert (where >= 0).all() and (where <= canvas - 28).all()
    for n in (0, 1, 17, len(images) - 1):
        r, c = where[n]
        assert np.array_equal(out[n, r:r + 28, c:c + 28], images[n])      # the digit, unchanged
        rest = out[n].copy()
        rest[r:r + 28, c:c + 28] = 0
        assert not rest.any()                                               # nothing else
    assert out.sum(dtype=np.int64) == images.sum(dtype=np.int64)          # every pixel of every digit


def test_translation_is_deterministic_per_index_and_seed():
    a = offsets(4000, 40, "train")
    assert np.array_equal(a, offsets(4000, 40, "train"))
    assert np.array_equal(a[:100], offsets(100, 40, "train"))               # not a function of how many
    assert not np.array_equal(a, offsets(4000, 40, "train", seed=1))
    assert not np.array_equal(a[:1000], offsets(1000, 40, "test"))           # the splits differ
    images = SAMPLE[0][:50]
    assert np.array_equal(translate(images, 40, "train"), translate(images, 40, "train"))
    assert np.array_equal(translate(images, 28, "train"), images)           # no room to move


def test_offsets_spread_over_the_whole_canvas():
    where = offsets(60000, 40, "train")
    for axis in (0, 1):
        counts = np.bincount(where[:, axis], minlength=13)
        assert len(counts) == 13                                             # 0..12, nothing outside
        # uniform: 60000 / 13 = 4615 per value; 5 standard deviations of a binomial count is about 330
        assert counts.min() > 4615 - 330 and counts.max() < 4615 + 330, counts
    corr = np.corrcoef(where[:, 0], where[:, 1])[0, 1]
    assert abs(corr) < 0.02                                                  # rows and columns independent


def test_translated_splits_have_the_sizes_of_the_source():
    config = TrainConfig(dataset="translated-mnist-sample", canvas=36)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = load_data(config)
    plain = load_data(TrainConfig(dataset="mnist-sample"))
    assert train_x.shape == (3680, 36, 36) and val_x.shape == (320, 36, 36) and test_x.shape == (1000, 36, 36)
    assert np.array_equal(train_y, plain[0][1]) and np.array_equal(test_y, plain[2][1])   # the same split


def test_bad_canvas_and_dataset_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="canvas"):
        translate(SAMPLE[0][:2], 20, "train")
    with pytest.raises(ValueError, match="canvas"):
        TrainConfig(dataset="translated-mnist", canvas=27).validate()
    with pytest.raises(SystemExit):
        cli.main(["train", "--out", str(tmp_path / "r"), "--canvas", "10"])
    assert "--canvas" in capsys.readouterr().err


def test_the_network_adapts_to_the_canvas(tmp_path):
    from lrlc_np.train import train

    config = TrainConfig(layers=("conv", "conv", "lrlc"), rank=2, filters=2, epochs=1, batch_size=64, limit_train=64,
                         dataset="translated-mnist-sample", canvas=34, warmup_epochs=0.5)
    _, model = train(config, tmp_path / "r", progress=False, log=_quiet)
    assert model.input_shape == (1, 34, 34)
    lrlc = model.layers[6]
    assert lrlc.input_size == (30, 30) and lrlc.output_size == (28, 28)


def test_digits_command_draws_a_png(tmp_path, capsys):
    assert cli.main(["digits", "--dataset", "translated-mnist-sample", "--out", str(tmp_path / "d.png")]) == 0
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- statistics

def test_identical_groups_are_inside_the_noise():
    result, why = compare_groups([95.0, 96.0, 97.0], [95.0, 96.0, 97.0])
    assert why is None
    assert result["difference"] == 0 and result["p"] == pytest.approx(1.0)
    assert result["ci_low"] < 0 < result["ci_high"] and result["noise"]


def test_clearly_separated_groups_have_a_small_p():
    result, _ = compare_groups([97.0, 97.1, 96.9], [95.0, 95.1, 94.9])
    assert result["difference"] == pytest.approx(2.0)
    assert result["p"] < 1e-4 and result["ci_low"] > 1.5 and not result["noise"]


def test_welch_by_hand():
    """a = 1, 2, 3, 4 and b = 2, 4, 6, 8: var 5/3 and 20/3, each over 4 seeds.

    s^2 = 5/12 + 20/12 = 25/12, t = (2.5 - 5) / sqrt(25/12) = -sqrt(3) = -1.7321,
    nu = (25/12)^2 / ((5/12)^2/3 + (20/12)^2/3) = 625 / (425/3 * ... ) = 3 * 625 / 425 = 4.4118.
    """
    result, _ = compare_groups([1, 2, 3, 4], [2, 4, 6, 8])
    assert result["t"] == pytest.approx(-math.sqrt(3))
    assert result["df"] == pytest.approx(3 * 625 / 425)
    half = scipy_stats.t.ppf(0.975, 3 * 625 / 425) * math.sqrt(25 / 12)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((-2.5 - half, -2.5 + half))
    reference = scipy_stats.ttest_ind([1, 2, 3, 4], [2, 4, 6, 8], equal_var=False)
    assert result["p"] == pytest.approx(reference.pvalue)
    assert 0.1 < result["p"] < 0.2 and result["noise"]


#: what a row of results.csv says of its run's time and machine
WHERE = {"minutes": 0.1, "threads": "1", "cpu": "a CPU"}


def test_a_single_seed_makes_no_claim(tmp_path):
    result, why = compare_groups([97.0], [95.0, 95.5])
    assert result is None and "1 seed" in why
    rows = [{"variant": name, "layers": "conv,conv,conv", "rank": rank, "seed": 0, "test_acc": acc, "val_acc": acc,
             "params": 10, "seconds_per_epoch": 1.0, **WHERE} for name, rank, acc in (("conv", "", 0.95), ("lrlc K=4", 4, 0.97))]
    write_results(rows, tmp_path, TrainConfig(dataset="mnist-sample"), position=3)
    text = (tmp_path / "results.md").read_text()
    assert "No claim" in text and "1 seed" in text and "p " not in text.split("## Differences")[1]


def test_results_mark_differences_inside_the_noise(tmp_path):
    rows = []
    for seed, (conv, lrlc, lc) in enumerate([(0.950, 0.971, 0.951), (0.952, 0.972, 0.948), (0.948, 0.970, 0.953)]):
        for name, acc in (("conv", conv), ("lc", lc), ("lrlc K=4", lrlc)):
            rows.append({"variant": name, "layers": "x", "rank": 4 if name.startswith("lrlc") else "", "seed": seed, "test_acc": acc, "val_acc": acc,
                         "params": 10, "seconds_per_epoch": 1.0, **WHERE})
    write_results(rows, tmp_path, TrainConfig(dataset="mnist-sample"), position=3)
    table = (tmp_path / "results.md").read_text().split("## Differences")[1]
    lc_line = next(line for line in table.splitlines() if line.startswith("| lc | conv |"))
    lrlc_line = next(line for line in table.splitlines() if line.startswith("| lrlc K=4 | conv |"))
    assert "inside the noise" in lc_line
    assert "inside the noise" not in lrlc_line and re.search(r"\+2\.10 \(\+\d\.\d\d to \+\d\.\d\d\)", lrlc_line)
    best = next(line for line in table.splitlines() if line.startswith("| lrlc K=4 | lc |"))   # best non-LRLC row
    assert "p " in best


# --------------------------------------------------------------------------- compare: rows and resume

BASE = TrainConfig(filters=2, limit_train=64, epochs=1, batch_size=64, dataset="mnist-sample", warmup_epochs=0.5)


def test_coord_conv_and_keras_lc_rows():
    names = [v.name for v in variants(3, 3, [1, 4], 4, coord_conv=True, lc_inits=("he", "keras"))]
    assert names == ["conv", "wide_conv (K=4)", "coord_conv", "lc", "lc (keras init)", "lrlc K=1", "lrlc K=4"]
    rows = variants(3, 3, [1, 4], 4, input_dependent=[4])
    assert [v.name for v in rows][-1] == "lrlc input-dependent K=4" and len(rows) == 6
    config = compare_module.variant_config(BASE, variants(3, 3, [1], 4, coord_conv=True)[2], seed=2)
    assert config.coord_conv and config.layers == ("conv",) * 3 and config.seed == 2


def test_keras_lc_initialisation_bound():
    """Keras counts the H_out*W_out positions in the fan-in: 22 x 22 at the paper's layer 3."""
    rng = np.random.default_rng(0)
    he = layers.LocallyConnected2D(64, 64, 3, input_size=(24, 24), rng=rng).params["weight"]
    keras = layers.LocallyConnected2D(64, 64, 3, input_size=(24, 24), init="keras", rng=rng).params["weight"]
    he_bound, keras_bound = math.sqrt(6 / 576), math.sqrt(6 / (576 * 484))
    assert he_bound == pytest.approx(0.102, abs=5e-4) and keras_bound == pytest.approx(0.0046, abs=5e-5)
    assert he_bound * 0.999 < np.abs(he).max() <= he_bound
    assert keras_bound * 0.999 < np.abs(keras).max() <= keras_bound
    with pytest.raises(ValueError, match="init"):
        layers.LocallyConnected2D(2, 2, 3, input_size=(5, 5), init="glorot")


def _table(path):
    """results.md without the seconds column (timings differ between two runs of one command)."""
    out = []
    for line in path.read_text().splitlines():
        cells = line.split(" | ")
        out.append(" | ".join(cells[:-1]) if line.startswith("| ") and len(cells) == 6 else line)
    return out


def test_an_interrupted_comparison_reruns_only_the_unfinished_runs(tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    run_comparison(BASE, reference, 3, [1], [0, 1], progress=False, log=_quiet)

    calls = []
    original = scheduling.train_run

    def stop_after_the_first(settings, run_dir, plan, on_epoch=None, progress=False):
        calls.append(Path(run_dir))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(settings, run_dir, plan, on_epoch, progress)

    out = tmp_path / "resumed"
    monkeypatch.setattr(scheduling, "train_run", stop_after_the_first)
    with pytest.raises(compare_module.ComparisonInterrupted, match="1 of 8 runs are finished"):
        run_comparison(BASE, out, 3, [1], [0, 1], progress=False, log=_quiet)
    assert not (out / "results.md").exists()

    calls.clear()
    monkeypatch.setattr(scheduling, "train_run",
                        lambda *a, **k: calls.append(Path(a[1])) or original(*a, **k))
    run_comparison(BASE, out, 3, [1], [0, 1], progress=False, log=_quiet)
    assert len(calls) == 7                                # the finished cell is read back, not trained
    assert out / "conv" / "seed0" not in calls
    assert _table(out / "results.md") == _table(reference / "results.md")
    with open(out / "results.csv", newline="") as f, open(reference / "results.csv", newline="") as g:
        ours, theirs = list(csv.DictReader(f)), list(csv.DictReader(g))
    assert [(r["variant"], r["seed"], r["test_acc"]) for r in ours] == [(r["variant"], r["seed"], r["test_acc"]) for r in theirs]


# --------------------------------------------------------------------------- the sweep

def test_sweep_shares_the_conv_runs_and_draws_heat_maps(tmp_path):
    out = tmp_path / "sweep"
    rows = run_sweep(BASE, out, [1, 3], [1, 2], [0, 1], progress=False, log=_quiet)
    assert len(rows) == 2 + 2 * 2 * 2                    # conv once per seed, then every cell
    assert sorted(p.name for p in out.iterdir()) == ["conv", "layer1", "layer3", "sweep.csv", "sweep.md",
                                                     "sweep_accuracy.png", "sweep_gain.png"]
    with open(out / "sweep.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert [(r["position"], r["rank"]) for r in csv_rows][:4] == [("", ""), ("", ""), ("1", "1"), ("1", "1")]
    text = (out / "sweep.md").read_text()
    assert re.search(r"^\| 1 \| .* \| .* \|$", text, re.M) and re.search(r"^\| 3 \| .* \| .* \|$", text, re.M)
    for png in ("sweep_accuracy.png", "sweep_gain.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import json

    saved = json.loads((out / "layer3" / "lrlc_K2" / "seed1" / "config.json").read_text())
    assert saved["layers"] == ["conv", "conv", "lrlc"] and saved["rank"] == 2 and saved["seed"] == 1


def test_sweep_command(tmp_path, capsys):
    status = cli.main(["compare", "--positions", "2", "--ranks", "1", "--seeds", "0", "--dataset", "mnist-sample",
                       "--filters", "2", "--epochs", "1", "--limit-train", "64", "--batch-size", "64",
                       "--no-progress", "--out", str(tmp_path / "s")])
    assert status == 0
    out = capsys.readouterr().out
    assert "LRLC rank x layer position" in out and "sweep_gain.png" in out
    with pytest.raises(SystemExit):
        cli.main(["compare", "--positions", "0,1", "--out", str(tmp_path / "t")])
