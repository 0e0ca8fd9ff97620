"""The training loop on the bundled MNIST sample: files written, learning, determinism, exact
resume after an interruption, refusing to overwrite, divergence, atomic checkpoints,
corrupt checkpoints, and evaluation mode.

Every run uses ``dataset="mnist-sample"`` (bundled, offline) with tiny settings.
"""

import json
import os
import re
import shutil

import numpy as np
import pytest

from lrlc_np import layers, train as train_module
from lrlc_np.data import load_mnist, to_model_input
from lrlc_np.models import build_network
from lrlc_np.optim import SGD
from lrlc_np.threads import count as thread_count, cpu_name
from lrlc_np.train import (TrainConfig, TrainingDiverged, evaluate, load_checkpoint,
                           save_checkpoint, train)

METRIC_KEYS = {"epoch", "train_loss", "train_acc", "val_acc", "test_acc", "seconds", "images_per_s"}
TIMING = ("seconds", "images_per_s")

# Tiny, but with an LRLC layer (logits, spatial biases), Nesterov momentum, weight decay and a
# cosine schedule with warm-up, so that resume has every kind of state to restore.
# 256 training images / batch 64 = 4 steps per epoch.
TINY = TrainConfig(layers=("conv", "conv", "lrlc"), rank=2, filters=4, epochs=3, batch_size=64,
                   lr=0.05, dataset="mnist-sample", limit_train=256, seed=3, eval_batch_size=100)


def _quiet(_message):
    pass


def _without_timing(history):
    return [{k: v for k, v in m.items() if k not in TIMING} for m in history]


def _npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _assert_same_arrays(a, b):
    """Every array of two checkpoints equal; their metrics equal but for the timings."""
    assert a.keys() == b.keys()
    for k in a:
        if k == "metrics":
            assert _without_timing(json.loads(str(a[k]))) == _without_timing(json.loads(str(b[k])))
            continue
        assert a[k].dtype == b[k].dtype, k
        assert np.array_equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One uninterrupted 3-epoch run, and the same run interrupted after epoch 2 then resumed."""
    root = tmp_path_factory.mktemp("runs")
    reference_dir, resumed_dir = root / "reference", root / "resumed"

    def snapshot_reference(metrics):   # keep the checkpoint of every epoch
        shutil.copy(reference_dir / "checkpoint.npz", root / f"reference-epoch{metrics['epoch']}.npz")

    history, model = train(TINY, reference_dir, progress=False, on_epoch_end=snapshot_reference, log=_quiet)

    def interrupt(metrics):
        if metrics["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(TINY, resumed_dir, progress=False, on_epoch_end=interrupt, log=_quiet)
    interrupted = {
        "checkpoint": _npz(resumed_dir / "checkpoint.npz"),
        "metrics": (resumed_dir / "metrics.jsonl").read_text(),
    }
    messages = []
    # config None: resume with the saved settings
    resumed_history, resumed_model = train(None, resumed_dir, resume=True, progress=False, log=messages.append)
    return dict(root=root, reference_dir=reference_dir, resumed_dir=resumed_dir, history=history,
                model=model, interrupted=interrupted, resumed_history=resumed_history,
                resumed_model=resumed_model, messages=messages)


# --------------------------------------------------------------------------- files of a run

def test_a_run_writes_config_metrics_and_checkpoint(runs):
    out = runs["reference_dir"]
    assert {p.name for p in out.iterdir()} == {"config.json", "metrics.jsonl", "checkpoint.npz"}

    config = json.loads((out / "config.json").read_text())
    assert config == {**TINY.to_json(), "changes": []}
    assert TrainConfig.from_json(config) == TINY

    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3
    metrics = [json.loads(line) for line in lines]
    assert metrics == runs["history"]
    for epoch, m in enumerate(metrics, 1):
        assert METRIC_KEYS <= set(m), set(m)
        assert m["epoch"] == epoch
        assert np.isfinite(m["train_loss"]) and m["train_loss"] > 0
        for key in ("train_acc", "val_acc", "test_acc"):
            assert 0.0 <= m[key] <= 1.0
        assert m["seconds"] > 0 and m["images_per_s"] > 0
        assert m["cpu"] == cpu_name() and m["threads"] == thread_count()     # where the epoch ran

    checkpoint = _npz(out / "checkpoint.npz")           # allow_pickle=False: plain arrays only
    assert int(checkpoint["epoch"]) == 3
    assert int(checkpoint["step"]) == 3 * 4               # 256 images / batch 64, 3 epochs
    model = runs["model"]
    for name, p in model.params.items():
        assert np.array_equal(checkpoint[f"param/{name}"], p), name
        assert f"optim/velocity/{name}" in checkpoint
    for name, b in model.buffers.items():
        assert np.array_equal(checkpoint[f"buffer/{name}"], b), name
    assert "rng_state" in checkpoint and "optim/lr" in checkpoint


def test_checkpoint_loads_into_a_fresh_network(runs):
    model = build_network(TINY.layers, filters=TINY.filters, rank=TINY.rank, rng=np.random.default_rng(99))
    optimizer = SGD(model.params, lr=1.0, momentum=0.9, nesterov=True, weight_decay=5e-4,
                    decay=model.decay_names())
    rng = np.random.default_rng(99)
    epoch, step = load_checkpoint(runs["reference_dir"] / "checkpoint.npz", model, optimizer, rng)
    assert (epoch, step) == (3, 12)
    for name, p in runs["model"].params.items():
        assert np.array_equal(model.params[name], p), name
    assert optimizer.lr == runs["history"][-1]["lr"]
    # the network restored from the checkpoint scores what the run reported
    test_images, test_labels = load_mnist("test", dataset="mnist-sample")
    assert evaluate(model, test_images, test_labels) == runs["history"][-1]["test_acc"]


# --------------------------------------------------------------------------- determinism and resume

def test_same_seed_gives_identical_metrics_and_parameters(runs):
    """Two runs from scratch with one config agree exactly, up to the interruption."""
    metrics = [json.loads(line) for line in runs["interrupted"]["metrics"].splitlines()]
    assert _without_timing(metrics) == _without_timing(runs["history"][:2])
    _assert_same_arrays(runs["interrupted"]["checkpoint"], _npz(runs["root"] / "reference-epoch2.npz"))


def test_interrupted_run_keeps_the_checkpoint_of_the_last_finished_epoch(runs):
    checkpoint = runs["interrupted"]["checkpoint"]
    assert int(checkpoint["epoch"]) == 2 and int(checkpoint["step"]) == 8
    assert len(runs["interrupted"]["metrics"].splitlines()) == 2


def test_resume_ends_exactly_like_an_uninterrupted_run(runs):
    resumed, reference = runs["resumed_history"], runs["history"]
    assert [m["epoch"] for m in resumed] == [1, 2, 3]
    assert _without_timing(resumed) == _without_timing(reference)
    ref_model, res_model = runs["model"], runs["resumed_model"]
    assert res_model.params.keys() == ref_model.params.keys()
    for name, p in ref_model.params.items():
        assert np.array_equal(res_model.params[name], p), name
    for name, b in ref_model.buffers.items():
        assert np.array_equal(res_model.buffers[name], b), name
    # the files agree too: every array of the final checkpoint, and the metrics file
    _assert_same_arrays(_npz(runs["resumed_dir"] / "checkpoint.npz"),
                        _npz(runs["reference_dir"] / "checkpoint.npz"))
    lines = (runs["resumed_dir"] / "metrics.jsonl").read_text().splitlines()
    assert _without_timing([json.loads(line) for line in lines]) == _without_timing(reference)
    # the saved settings were used, and nothing changed
    assert json.loads((runs["resumed_dir"] / "config.json").read_text()) == {**TINY.to_json(), "changes": []}
    assert any("resuming" in m and "after epoch 2 of 3" in m for m in runs["messages"])


def test_a_new_run_refuses_a_directory_that_holds_a_checkpoint(runs, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(runs["reference_dir"], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(FileExistsError, match=r"already holds a run.*resume"):
        train(TINY, out, progress=False, log=_quiet)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_resume_without_a_run_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(TINY, tmp_path / "empty", resume=True, progress=False, log=_quiet)
    assert not (tmp_path / "empty").exists()


def test_resume_of_a_run_stopped_in_epoch_1_starts_it_again(tmp_path):
    """config.json but no checkpoint: the run was stopped before its first epoch ended."""
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text(json.dumps({**TINY.to_json(), "epochs": 1}))
    messages = []
    history, _ = train(None, tmp_path / "half", resume=True, progress=False, log=messages.append)
    assert [m["epoch"] for m in history] == [1]
    assert any("no checkpoint" in m and "starting it again" in m for m in messages)


def test_resuming_a_finished_run_trains_no_more(runs, tmp_path):
    out = tmp_path / "done"
    shutil.copytree(runs["reference_dir"], out)
    before = (out / "checkpoint.npz").read_bytes()
    history, model = train(TINY, out, resume=True, progress=False, log=_quiet)
    assert history == runs["history"]
    assert (out / "checkpoint.npz").read_bytes() == before
    for name, p in runs["model"].params.items():
        assert np.array_equal(model.params[name], p), name


# --------------------------------------------------------------------------- learning

def test_loss_decreases_and_accuracy_beats_chance(tmp_path):
    """3 epochs on 1024 sample images: a run that learns reliably (about 27% test accuracy
    for seeds 0-3 when this test was written; chance is 10%)."""
    config = TrainConfig(filters=8, limit_train=1024, batch_size=32, lr=0.05, epochs=3,
                         schedule="cosine", warmup_epochs=0.25, dataset="mnist-sample", seed=0,
                         eval_batch_size=100)
    history, _ = train(config, tmp_path / "learn", progress=False, log=_quiet)
    losses = [m["train_loss"] for m in history]
    assert losses[0] > losses[1] > losses[2], losses
    assert losses[0] - losses[2] > 0.1, losses
    last = history[-1]
    assert last["train_acc"] > 0.2, last
    assert last["val_acc"] > 0.15 and last["test_acc"] > 0.15, last


# --------------------------------------------------------------------------- divergence

@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # the overflow is the point of the test
def test_a_huge_learning_rate_raises_training_diverged(tmp_path):
    config = TrainConfig(filters=4, limit_train=256, batch_size=64, epochs=3, lr=1e6,
                         dataset="mnist-sample", seed=0)
    out = tmp_path / "diverge"
    with pytest.raises(TrainingDiverged, match=r"loss is (nan|inf|-inf|finite .* became non-finite) at epoch \d+, step \d+") as info:
        train(config, out, progress=False, log=_quiet)
    epoch = int(re.search(r"at epoch (\d+)", str(info.value)).group(1))
    assert f"lrlc train --out {out} --resume --lr" in str(info.value)
    metrics = (out / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == epoch - 1
    if epoch > 1:   # the last good checkpoint is still there and loads
        assert f"checkpoint of epoch {epoch - 1}" in str(info.value)
        model = build_network(config.layers, filters=4, rng=np.random.default_rng(0))
        optimizer = SGD(model.params, 0.1, decay=model.decay_names())
        assert load_checkpoint(out / "checkpoint.npz", model, optimizer, np.random.default_rng()) == (epoch - 1, 4 * (epoch - 1))
    else:
        assert "no checkpoint yet" in str(info.value)
        assert not (out / "checkpoint.npz").exists()


def test_divergence_in_epoch_2_keeps_the_checkpoint_of_epoch_1(tmp_path, monkeypatch):
    config = TrainConfig(filters=4, limit_train=128, batch_size=64, epochs=2, dataset="mnist-sample")
    out = tmp_path / "nan"
    saved = {}

    def poison_after_epoch_1(metrics):
        if metrics["epoch"] == 1:
            saved["bytes"] = (out / "checkpoint.npz").read_bytes()
            monkeypatch.setattr(layers.SoftmaxCrossEntropy, "forward", lambda self, logits, labels: float("nan"))

    with pytest.raises(TrainingDiverged) as info:
        train(config, out, progress=False, on_epoch_end=poison_after_epoch_1, log=_quiet)
    message = str(info.value)
    assert "loss is nan at epoch 2, step 3" in message            # 2 steps per epoch
    assert "checkpoint of epoch 1" in message and str(out / "checkpoint.npz") in message
    assert (out / "checkpoint.npz").read_bytes() == saved["bytes"]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "config.json", "diverged.json", "metrics.jsonl"]
    monkeypatch.undo()
    model = build_network(config.layers, filters=4, rng=np.random.default_rng(5))
    optimizer = SGD(model.params, 0.1, decay=model.decay_names())
    assert load_checkpoint(out / "checkpoint.npz", model, optimizer, np.random.default_rng()) == (1, 2)


# --------------------------------------------------------------------------- checkpoint files

def _small_state(seed=0, filters=2):
    model = build_network(("conv", "lrlc", "conv"), filters=filters, rank=2, input_shape=(1, 8, 8),
                          rng=np.random.default_rng(seed))
    optimizer = SGD(model.params, lr=0.1, decay=model.decay_names())
    return model, optimizer, np.random.default_rng(seed)


def test_checkpoint_round_trip(tmp_path):
    model, optimizer, rng = _small_state(0)
    for v in optimizer.velocity.values():
        v[...] = np.random.default_rng(1).standard_normal(v.shape)
    model.buffers["1.running_mean"][...] = 0.5
    optimizer.lr = 0.0123
    rng.standard_normal(3)                      # move the generator on
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, model, optimizer, rng, epoch=4, step=17)
    assert os.listdir(tmp_path) == ["checkpoint.npz"]

    model2, optimizer2, rng2 = _small_state(1)
    assert load_checkpoint(path, model2, optimizer2, rng2) == (4, 17)
    for name in model.params:
        assert np.array_equal(model2.params[name], model.params[name]), name
    for name in model.buffers:
        assert np.array_equal(model2.buffers[name], model.buffers[name]), name
    for name in optimizer.velocity:
        assert np.array_equal(optimizer2.velocity[name], optimizer.velocity[name]), name
    assert optimizer2.lr == 0.0123
    assert np.array_equal(rng2.standard_normal(5), rng.standard_normal(5))


@pytest.mark.parametrize("error", [OSError("No space left on device"), KeyboardInterrupt()])
def test_a_failed_checkpoint_write_leaves_the_previous_one(tmp_path, monkeypatch, error):
    model, optimizer, rng = _small_state(0)
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, model, optimizer, rng, epoch=1, step=4)
    before = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip file")   # part of the data reaches the disk ...
        raise error                                  # ... then the write fails

    for p in model.params.values():
        p += 1.0
    monkeypatch.setattr(train_module.numpy, "savez", broken_savez)
    with pytest.raises(type(error)):
        save_checkpoint(path, model, optimizer, rng, epoch=2, step=8)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["checkpoint.npz"]       # no temporary file left behind
    model2, optimizer2, rng2 = _small_state(1)
    assert load_checkpoint(path, model2, optimizer2, rng2) == (1, 4)


def test_a_corrupt_checkpoint_is_a_value_error_naming_the_file(tmp_path):
    model, optimizer, rng = _small_state(0)
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": not a readable checkpoint"):
        load_checkpoint(path, model, optimizer, rng)
    # a truncated checkpoint
    save_checkpoint(path, model, optimizer, rng, epoch=1, step=1)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_checkpoint(path, model, optimizer, rng)
    # a missing file
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "missing.npz"))):
        load_checkpoint(tmp_path / "missing.npz", model, optimizer, rng)


def test_a_checkpoint_damaged_inside_an_array_changes_nothing(tmp_path):
    """A bad CRC inside one array is a ValueError naming the file, raised before any
    parameter is overwritten (no half-restored model)."""
    model, optimizer, rng = _small_state(0)
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, model, optimizer, rng, epoch=1, step=1)
    data = bytearray(path.read_bytes())
    data[200:208] = b"\xff" * 8
    path.write_bytes(bytes(data))
    other, other_optimizer, other_rng = _small_state(1)
    before = {k: v.copy() for k, v in other.params.items()}
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": not a readable checkpoint"):
        load_checkpoint(path, other, other_optimizer, other_rng)
    for name, value in other.params.items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


@pytest.mark.parametrize("field,value", [("limit_train", 0), ("epochs", 0), ("schedule", "linear"),
                                         ("layers", ("conv", "pool")), ("lr", -1.0), ("batch_size", 2.5)])
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, field, value):
    config = TrainConfig(dataset="mnist-sample", filters=2, limit_train=64, epochs=1)
    setattr(config, field, value)
    with pytest.raises(ValueError, match=f"TrainConfig: expected {field} "):
        train(config, tmp_path / "run", progress=False, log=_quiet)
    assert not (tmp_path / "run" / "config.json").exists()


def test_a_checkpoint_of_another_network_is_refused(tmp_path):
    model, optimizer, rng = _small_state(0, filters=2)
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, model, optimizer, rng, epoch=1, step=1)
    wider, wider_opt, wider_rng = _small_state(0, filters=3)
    with pytest.raises(ValueError, match=re.escape(str(path)) + r": param/0\.weight has shape \(2, 1, 3, 3\), "
                                         r"the network expects \(3, 1, 3, 3\)"):
        load_checkpoint(path, wider, wider_opt, wider_rng)
    other = build_network(("conv", "conv", "conv"), filters=2, input_shape=(1, 8, 8), rng=np.random.default_rng(0))
    save_checkpoint(path, other, SGD(other.params, 0.1), rng, epoch=1, step=1)
    with pytest.raises(ValueError, match=re.escape(str(path)) + r": checkpoint has no param/3\.bases; "
                                         r"was it written by another network\?"):
        load_checkpoint(path, model, optimizer, rng)


# --------------------------------------------------------------------------- evaluation

def test_evaluate_uses_evaluation_mode_and_counts_correctly():
    images, labels = load_mnist("test", dataset="mnist-sample")
    images, labels = images[:150], labels[:150]
    model = build_network(filters=4, rng=np.random.default_rng(0))
    # give BatchNorm non-trivial running statistics first
    model.forward(to_model_input(images[:32]), training=True)
    before = {k: v.copy() for k, v in model.buffers.items()}
    accuracy = evaluate(model, images, labels, batch_size=64)
    for k, v in model.buffers.items():
        assert np.array_equal(v, before[k]), k
    assert 0.0 <= accuracy <= 1.0
    predicted = model.forward(to_model_input(images), training=False).argmax(axis=1)
    assert accuracy == np.mean(predicted == labels)
    assert evaluate(model, images, labels, batch_size=7) == accuracy     # batching does not matter
    assert np.isnan(evaluate(model, images[:0], labels[:0]))


def test_train_config_json_round_trip():
    config = TrainConfig(layers=("conv", "lrlc", "lc"), rank=4, limit_train=10, data_dir="/x")
    d = json.loads(json.dumps(config.to_json()))
    assert d["layers"] == ["conv", "lrlc", "lc"]
    assert TrainConfig.from_json(d) == config
    assert TrainConfig.from_json({**d, "unknown_future_key": 1}) == config


# --------------------------------------------------------------------------- input-dependent LRLC

TINY_ID = TrainConfig(layers=("conv", "conv", "lrlc"), rank=2, filters=4, epochs=2, batch_size=64,
                      combining="full", input_dependent=True, lr=0.05, dataset="mnist-sample",
                      limit_train=128, seed=1, eval_batch_size=200)


@pytest.mark.parametrize("changes,message", [
    (dict(input_dependent=True, layers=("conv", "lrlc")), r"TrainConfig: input_dependent=True .* needs combining='full' .*got combining='row_col'"),
    (dict(input_dependent=True, combining="full", layers=("conv", "lc", "conv")),
     r"TrainConfig: input_dependent=True changes LRLC layers only, but layers=\('conv', 'lc', 'conv'\) has no 'lrlc'"),
    (dict(input_dependent="yes", combining="full", layers=("conv", "lrlc")),
     r"TrainConfig: expected input_dependent as True or False, got 'yes'"),
    (dict(input_dependent=1, combining="full", layers=("conv", "lrlc")),
     r"TrainConfig: expected input_dependent as True or False, got 1"),
])
def test_input_dependent_settings_are_validated(tmp_path, changes, message):
    config = TrainConfig(dataset="mnist-sample", filters=2, limit_train=64, epochs=1, **changes)
    with pytest.raises(ValueError, match=message):
        config.validate()
    with pytest.raises(ValueError, match=message):
        train(config, tmp_path / "run", progress=False, log=_quiet)
    assert not (tmp_path / "run" / "config.json").exists()


def test_input_dependent_config_json():
    assert TINY_ID.validate() is TINY_ID
    d = json.loads(json.dumps(TINY_ID.to_json()))
    assert d["input_dependent"] is True and d["combining"] == "full"
    assert TrainConfig.from_json(d) == TINY_ID
    # a config.json written before the field existed loads as fixed combining weights
    old = TrainConfig(layers=("conv", "conv", "lrlc"), rank=2).to_json()
    del old["input_dependent"]
    assert TrainConfig.from_json(old).input_dependent is False
    assert TrainConfig.from_json(old) == TrainConfig(layers=("conv", "conv", "lrlc"), rank=2)


def test_input_dependent_run_resumes_exactly(tmp_path):
    """The combining network's parameters and momentum are in the checkpoint, and resume
    rebuilds the input-dependent network from config.json."""
    reference, model = train(TINY_ID, tmp_path / "reference", progress=False, log=_quiet)
    layer = model.layers[6]
    assert isinstance(layer, layers.LowRankLocallyConnected2D) and layer.input_dependent
    saved = json.loads((tmp_path / "reference" / "config.json").read_text())
    assert saved["input_dependent"] is True and saved["combining"] == "full"
    checkpoint = _npz(tmp_path / "reference" / "checkpoint.npz")
    assert "param/6.combiner.out.weight" in checkpoint and "optim/velocity/6.combiner.out.weight" in checkpoint
    assert "param/6.logits" not in checkpoint

    def interrupt(metrics):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(TINY_ID, tmp_path / "resumed", progress=False, on_epoch_end=interrupt, log=_quiet)
    resumed, resumed_model = train(None, tmp_path / "resumed", resume=True, progress=False, log=_quiet)
    assert resumed_model.layers[6].input_dependent
    assert _without_timing(resumed) == _without_timing(reference)
    _assert_same_arrays(_npz(tmp_path / "resumed" / "checkpoint.npz"), checkpoint)

    # the checkpoint does not fit the fixed-alpha network of the same layers
    fixed = build_network(TINY_ID.layers, filters=4, rank=2, combining="full", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"checkpoint has no param/6\.logits"):
        load_checkpoint(tmp_path / "reference" / "checkpoint.npz", fixed, SGD(fixed.params, 0.1),
                        np.random.default_rng())


def test_a_run_records_its_thread_count_and_a_resume_keeps_it(tmp_path, monkeypatch):
    """The chunks of the fast tier, and so the float sums, depend on the thread count: a run
    records it in its checkpoint, and --resume continues on it whatever the environment says."""
    config = TrainConfig(filters=3, limit_train=128, batch_size=32, epochs=2, dataset="mnist-sample",
                         warmup_epochs=0.5)
    reference, _ = train(config, tmp_path / "reference", progress=False, log=_quiet, threads=1)

    def stop_after_epoch_1(metrics):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", progress=False, log=_quiet, threads=1, on_epoch_end=stop_after_epoch_1)
    with np.load(tmp_path / "run" / "checkpoint.npz") as f:
        assert json.loads(str(f["trained_with"])) == {"settings": config.to_json(), "threads": 1}
    monkeypatch.setenv("LRLC_NP_THREADS", "2")
    messages = []
    history, _ = train(None, tmp_path / "run", resume=True, progress=False, log=messages.append)
    assert any("trained on 1 thread: continuing on 1 (not 2)" in m for m in messages), messages
    strip = lambda records: [{k: v for k, v in m.items() if k not in ("seconds", "images_per_s")} for m in records]
    assert strip(history) == strip(reference)
    with np.load(tmp_path / "run" / "checkpoint.npz") as a, np.load(tmp_path / "reference" / "checkpoint.npz") as b:
        for key in a.files:
            if key.startswith(("param/", "buffer/", "optim/")):
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert json.loads(str(a["trained_with"]))["threads"] == 1


def test_a_run_of_an_older_version_continues_on_the_environments_thread_count(tmp_path, monkeypatch):
    """A checkpoint without a thread record (versions before 0.7) was trained on the count of the
    environment; asked to pin one thread (as compare does), its continuation keeps the environment's."""
    monkeypatch.setenv("LRLC_NP_THREADS", "2")
    config = TrainConfig(filters=3, limit_train=128, batch_size=32, epochs=2, dataset="mnist-sample",
                         warmup_epochs=0.5)
    reference, _ = train(config, tmp_path / "reference", progress=False, log=_quiet)
    def stop_after_epoch_1(metrics):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", progress=False, log=_quiet, on_epoch_end=stop_after_epoch_1)
    path = tmp_path / "run" / "checkpoint.npz"
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files if k != "trained_with"}        # as an older version wrote it
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    messages = []
    history, _ = train(config, tmp_path / "run", resume=True, progress=False, log=messages.append, threads=1)
    assert any("records no thread count" in m and "environment's 2" in m for m in messages), messages
    with np.load(path) as a, np.load(tmp_path / "reference" / "checkpoint.npz") as b:
        for key in a.files:
            if key.startswith(("param/", "buffer/", "optim/")):
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
