"""Run directories you can trust: one test per way a run directory used to mislead.

1. ``compare`` never reports or continues a run whose saved settings differ from the ones asked.
2. ``train --resume`` continues with the saved settings; it accepts more --epochs, a new
   --data-dir and, after a divergence, a new --lr, and refuses any other change by name.
3. Ctrl-C stops ``compare --jobs 2`` and every worker within seconds; a worker killed from
   outside is named with the signal, the other is stopped, and the same command finishes.
4. Ctrl-C in epoch 1 says what is on disk, and --resume starts that run again.
5. Every file a run reads back is checked; a damaged one is named, nothing on disk changes.
6. Looking for data creates no folder; messages point at the folder holding the bad file.
7. Layer errors for unsupported dtypes, a dy of the wrong dtype, an empty batch.
8. Smaller things: momentum >= 1, a run that ends worse than guessing, progress of
   ``compare --jobs 2``, figure titles and ticks, one image rate, the CSV's rank column,
   file permissions.

Everything runs on the bundled sample with a few filters.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lrlc_np import cli, data, layers
from lrlc_np._stopping import sigterm_as_ctrl_c
from lrlc_np import train as train_module
from lrlc_np.compare import run_comparison
from lrlc_np.train import SettingsMismatch, TrainConfig, TrainingDiverged, train

from .processes import children as _children, spawned_workers, still_alive_after, takes_ctrl_c

TINY = TrainConfig(filters=2, limit_train=128, batch_size=64, epochs=1, dataset="mnist-sample",
                   eval_batch_size=500, warmup_epochs=0.5)
TRAIN_FLAGS = ["--filters", "2", "--limit-train", "128", "--batch-size", "64", "--dataset", "mnist-sample",
               "--warmup-epochs", "0.5", "--no-progress"]


def _quiet(_message):
    pass


def _files(folder):
    """Every file under ``folder`` with its bytes: the state 'nothing changed on disk' compares."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _npz(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _rewrite_checkpoint(path, **changes):
    arrays = _npz(path)
    arrays.update({k: np.asarray(v) for k, v in changes.items()})
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 1-epoch run of TINY (copied by each test that changes it)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    train(TINY, out, progress=False, log=_quiet)
    return out


@pytest.fixture
def run_copy(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


def _lrlc(argv, capsys):
    status = cli.main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --------------------------------------------------------------------------- 1. stale compare results

COMPARE_BASE = TrainConfig(filters=2, limit_train=64, epochs=1, batch_size=64, dataset="mnist-sample",
                           warmup_epochs=0.5)


def test_compare_refuses_to_report_runs_made_with_other_settings(tmp_path):
    out = tmp_path / "cmp"
    run_comparison(COMPARE_BASE, out, 3, [1], [0], progress=False, log=_quiet)
    before = _files(out)
    changed = TrainConfig(**{**COMPARE_BASE.to_json(), "layers": ("conv",) * 3, "filters": 3, "lr": 0.01})
    with pytest.raises(SettingsMismatch) as info:
        run_comparison(changed, out, 3, [1], [0], progress=False, log=_quiet)
    message = str(info.value)
    assert "filters" in message and "lr" in message and "--overwrite" in message and "--out" in message
    assert str(out / "conv" / "seed0") in message
    assert _files(out) == before                          # nothing trained, nothing rewritten

    rows = run_comparison(changed, out, 3, [1], [0], progress=False, log=_quiet, overwrite=True)
    for run_dir in (out / "conv" / "seed0", out / "lc" / "seed0"):
        saved = json.loads((run_dir / "config.json").read_text())
        assert saved["filters"] == 3 and saved["lr"] == 0.01
    table = (out / "results.md").read_text()
    assert "3 filters" in table and "lr 0.01" in table
    import csv
    import io

    old_params = [int(row["params"]) for row in csv.DictReader(io.StringIO(before["results.csv"].decode()))]
    assert [r["params"] for r in rows] != old_params


def test_compare_command_names_the_differences_and_exits_non_zero(tmp_path, capsys):
    out = tmp_path / "cmp"
    common = ["compare", "--quick", "--limit-train", "64", "--epochs", "1", "--ranks", "1", "--seeds", "0",
              "--filters", "2", "--jobs", "1", "--no-progress", "--out", str(out)]
    assert cli.main(common) == 0
    capsys.readouterr()
    before = _files(out)
    status, _, err = _lrlc([*common, "--epochs", "2"], capsys)
    assert status == 1
    assert "epochs" in err and "1" in err and "2" in err and "--overwrite" in err
    assert _files(out) == before


# --------------------------------------------------------------------------- 2. --resume and other flags

def test_resume_with_more_epochs_trains_them(run_copy, capsys):
    status, out, err = _lrlc(["train", "--out", str(run_copy), "--resume", "--epochs", "3", "--no-progress"], capsys)
    assert status == 0, err
    lines = (run_copy / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    saved = json.loads((run_copy / "config.json").read_text())
    assert saved["epochs"] == 3
    assert saved["changes"] == [{"after_epoch": 1, "setting": "epochs", "from": 1, "to": 3}]
    assert "schedule" in out and "3 epochs" in out


def test_resume_refuses_other_changes_by_name(run_copy, capsys):
    before = _files(run_copy)
    status, _, err = _lrlc(["train", "--out", str(run_copy), "--resume", "--filters", "8", "--lr", "0.5",
                            "--layers", "conv,lc,conv", "--no-progress"], capsys)
    assert status == 1
    for name in ("filters", "lr", "layers"):
        assert name in err
    assert "filters (saved 2, asked 8)" in err
    assert _files(run_copy) == before


def test_resume_fewer_epochs_than_trained_is_refused(run_copy, capsys):
    first = run_copy.parent / "two"
    train(TrainConfig(**{**TINY.to_json(), "layers": ("conv",) * 3, "epochs": 2}), first, progress=False, log=_quiet)
    before = _files(first)
    status, _, err = _lrlc(["train", "--out", str(first), "--resume", "--epochs", "1", "--no-progress"], capsys)
    assert status == 1 and "2 epochs" in err
    assert _files(first) == before


def test_a_relative_data_dir_is_saved_absolute_and_resume_accepts_a_new_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "elsewhere").mkdir()
    status, _, err = _lrlc(["train", "--out", "run", "--epochs", "1", "--data-dir", "data", *TRAIN_FLAGS], capsys)
    assert status == 0, err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data_dir"] == str(tmp_path / "data")
    monkeypatch.chdir(tmp_path / "elsewhere")
    status, _, err = _lrlc(["train", "--out", str(tmp_path / "run"), "--resume", "--epochs", "2",
                            "--data-dir", str(tmp_path / "elsewhere"), "--no-progress"], capsys)
    assert status == 0, err
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["data_dir"] == str(tmp_path / "elsewhere") and saved["epochs"] == 2


def _diverge_in_epoch_2(monkeypatch, out):
    def poison(metrics):
        if metrics["epoch"] == 1:
            monkeypatch.setattr(layers.SoftmaxCrossEntropy, "forward", lambda self, logits, labels: float("nan"))
    return poison


def test_after_a_divergence_resume_accepts_a_smaller_lr(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    config = TrainConfig(**{**TINY.to_json(), "layers": ("conv",) * 3, "epochs": 2, "lr": 0.05})
    with pytest.raises(TrainingDiverged) as info:
        train(config, out, progress=False, on_epoch_end=_diverge_in_epoch_2(monkeypatch, out), log=_quiet)
    monkeypatch.undo()
    assert f"lrlc train --out {out} --resume --lr" in str(info.value)
    assert (out / "diverged.json").exists()
    # a fresh run there is refused, naming both ways out
    status, _, err = _lrlc(["train", "--out", str(out), "--epochs", "2", *TRAIN_FLAGS], capsys)
    assert status == 1 and "--resume" in err and "--overwrite" in err
    status, _, err = _lrlc(["train", "--out", str(out), "--resume", "--lr", "0.01", "--no-progress"], capsys)
    assert status == 0, err
    saved = json.loads((out / "config.json").read_text())
    assert saved["lr"] == 0.01
    assert saved["changes"] == [{"after_epoch": 1, "setting": "lr", "from": 0.05, "to": 0.01}]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert not (out / "diverged.json").exists()


def test_lr_cannot_change_on_a_run_that_did_not_diverge(run_copy, capsys):
    before = _files(run_copy)
    status, _, err = _lrlc(["train", "--out", str(run_copy), "--resume", "--epochs", "2", "--lr", "0.01",
                            "--no-progress"], capsys)
    assert status == 1 and "lr" in err and "diverge" in err
    assert _files(run_copy) == before


def test_overwrite_starts_the_run_again(run_copy, capsys):
    status, _, err = _lrlc(["train", "--out", str(run_copy), "--overwrite", "--epochs", "1", "--filters", "3",
                            *TRAIN_FLAGS[2:]], capsys)
    assert status == 0, err
    assert json.loads((run_copy / "config.json").read_text())["filters"] == 3
    assert len((run_copy / "metrics.jsonl").read_text().splitlines()) == 1


# --------------------------------------------------------------------------- 3. Ctrl-C of compare --jobs 2

@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc (Linux)")
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_compare_with_two_jobs_and_all_its_workers(tmp_path, stop):
    """Ctrl-C, and SIGTERM (``kill PID``, a batch system's notice), stop the workers too."""
    out = tmp_path / "cmp"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lrlc_np", "compare", "--quick", "--jobs", "2", "--epochs", "40", "--filters", "4",
         "--no-progress", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=takes_ctrl_c)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(out.glob("*/seed*/config.json"))) < 2:
            time.sleep(0.2)
        assert len(list(out.glob("*/seed*/config.json"))) >= 2, "the two workers did not start"
        workers = _children(proc.pid)
        assert len(workers) >= 2
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 130
        assert not still_alive_after(workers, 10), "a worker outlived the interrupt"
        assert "interrupted" in err and str(out) in err
        assert "Traceback" not in err
        assert not (out / "results.md").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in _children(proc.pid):
            os.kill(p, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc (Linux)")
def test_a_worker_killed_from_outside_is_named_and_the_same_command_finishes(tmp_path):
    """SIGKILL of one worker (what the kernel's out-of-memory killer sends): compare names the
    run and the signal, stops the other worker, and the same command again finishes the grid."""
    out = tmp_path / "cmp"
    command = [sys.executable, "-m", "lrlc_np", "compare", "--quick", "--jobs", "2", "--epochs", "2",
               "--filters", "2", "--seeds", "0", "--ranks", "1", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(spawned_workers(proc.pid)) < 2:
            time.sleep(0.1)
        workers = spawned_workers(proc.pid)
        assert len(workers) == 2, "the two workers did not start"
        os.kill(workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1
        assert "was killed by signal SIGKILL" in err and "run the command again" in err
        assert "Traceback" not in err
        assert not still_alive_after(workers, 10), "the other worker outlived the error"
    finally:
        if proc.poll() is None:
            proc.kill()
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert (out / "results.md").exists()


def test_a_worker_that_cannot_start_raises_its_own_error(monkeypatch):
    """A failed start (no memory to fork, a script without ``if __name__ == "__main__":``)
    raises that error, not one from stopping a process that never started."""
    import multiprocessing

    from lrlc_np import scheduling

    class Unstartable:
        def __init__(self, **_):
            pass

        def start(self):
            raise OSError(12, "Cannot allocate memory")

    spawn = multiprocessing.get_context("spawn")

    class Context:
        Process = Unstartable

        def Queue(self):
            return spawn.Queue()

    monkeypatch.setattr(multiprocessing, "get_context", lambda _method: Context())
    job = scheduling.Job(0, TINY.to_json(), "unused", "new")
    with pytest.raises(OSError, match="Cannot allocate memory"):
        scheduling.LocalProcesses(2).run([job], lambda *_: None, lambda *_: None)


def test_sigterm_inside_a_command_is_ctrl_c_and_the_handler_is_given_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with sigterm_as_ctrl_c():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)                              # the handler raises before this ends
    assert signal.getsignal(signal.SIGTERM) is before


# --------------------------------------------------------------------------- 4. Ctrl-C in epoch 1

def _interrupt_at_step(monkeypatch, step):
    calls = {"n": 0}
    original = layers.SoftmaxCrossEntropy.forward

    def forward(self, logits, labels):
        calls["n"] += 1
        if calls["n"] == step:
            raise KeyboardInterrupt
        return original(self, logits, labels)

    monkeypatch.setattr(layers.SoftmaxCrossEntropy, "forward", forward)


def test_ctrl_c_in_epoch_1_says_nothing_was_saved_and_resume_starts_again(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    _interrupt_at_step(monkeypatch, 2)
    status, _, err = _lrlc(["train", "--out", str(out), "--epochs", "2", *TRAIN_FLAGS], capsys)
    monkeypatch.undo()
    assert status == 130
    assert "holds the last completed epoch" not in err
    assert "no epoch" in err and "config.json" in err and "--resume" in err
    assert not (out / "checkpoint.npz").exists()
    status, _, err = _lrlc(["train", "--out", str(out), "--resume", "--no-progress"], capsys)
    assert status == 0, err
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


def test_ctrl_c_in_epoch_2_names_the_saved_epoch(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    _interrupt_at_step(monkeypatch, 3)                      # 2 steps per epoch: step 3 is in epoch 2
    status, _, err = _lrlc(["train", "--out", str(out), "--epochs", "2", *TRAIN_FLAGS], capsys)
    assert status == 130
    assert "epoch 1 of 2" in err and "checkpoint.npz" in err


# --------------------------------------------------------------------------- 5. damaged run files

def _damage_config(text):
    def damage(run):
        (run / "config.json").write_text(text)
    return damage


def _damage_config_value(**values):
    def damage(run):
        saved = json.loads((run / "config.json").read_text())
        saved.update(values)
        (run / "config.json").write_text(json.dumps(saved))
    return damage


def _damage_checkpoint(**changes):
    def damage(run):
        _rewrite_checkpoint(run / "checkpoint.npz", **changes)
    return damage


def _negative_variance(run):
    arrays = _npz(run / "checkpoint.npz")
    key = next(k for k in arrays if k.endswith("running_var"))
    arrays[key] = arrays[key].copy()
    arrays[key][0] = -1.0
    with open(run / "checkpoint.npz", "wb") as f:
        np.savez(f, **arrays)


def _damage_metrics(run):
    (run / "metrics.jsonl").write_text('{"epoch": 1, "train_loss": 2.3\n')


DAMAGES = {
    "config not JSON": (_damage_config("{not json"), "config.json", "not valid JSON"),
    "config a list": (_damage_config("[1, 2, 3]"), "config.json", "a JSON object"),
    "config bad value": (_damage_config_value(lr="abc"), "config.json", "lr"),
    "config unknown key": (_damage_config_value(colour="blue"), "config.json", "colour"),
    "metrics not JSON": (_damage_metrics, "metrics.jsonl", "line 1"),
    "bad rng_state": (_damage_checkpoint(rng_state='{"x": 1}'), "checkpoint.npz", "rng_state"),
    "step not a number": (_damage_checkpoint(step="abc"), "checkpoint.npz", "step"),
    "epoch beyond the run": (_damage_checkpoint(epoch=7), "checkpoint.npz", "epoch"),
    "negative epoch": (_damage_checkpoint(epoch=-3), "checkpoint.npz", "epoch"),
    "negative variance": (_negative_variance, "checkpoint.npz", "running_var"),
    "no history": (_damage_checkpoint(metrics="[]"), "checkpoint.npz", "metrics"),
}


@pytest.mark.parametrize("case", list(DAMAGES))
def test_a_damaged_run_file_is_named_and_nothing_changes(run_copy, capsys, case):
    damage, filename, detail = DAMAGES[case]
    damage(run_copy)
    before = _files(run_copy)
    status, _, err = _lrlc(["train", "--out", str(run_copy), "--resume", "--epochs", "2", "--no-progress"], capsys)
    assert status == 1
    assert "Traceback" not in err
    assert str(run_copy / filename) in err, err
    assert detail in err, err
    assert _files(run_copy) == before


def test_a_missing_metrics_file_is_rebuilt_from_the_checkpoint(run_copy, capsys):
    (run_copy / "metrics.jsonl").unlink()
    status, _, err = _lrlc(["train", "--out", str(run_copy), "--resume", "--epochs", "2", "--no-progress"], capsys)
    assert status == 0, err
    assert [json.loads(line)["epoch"] for line in (run_copy / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_an_interrupt_between_checkpoint_and_metrics_loses_no_record(tmp_path, monkeypatch):
    out = tmp_path / "run"
    config = TrainConfig(**{**TINY.to_json(), "layers": ("conv",) * 3, "epochs": 2})
    original = train_module.write_metrics

    def interrupted(path, history):
        if len(history) == 1:
            raise KeyboardInterrupt          # the checkpoint of epoch 1 is written, its line is not
        original(path, history)

    monkeypatch.setattr(train_module, "write_metrics", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(config, out, progress=False, log=_quiet)
    monkeypatch.undo()
    history, _ = train(None, out, resume=True, progress=False, log=_quiet)
    assert [m["epoch"] for m in history] == [1, 2]
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]


# --------------------------------------------------------------------------- 6. data folders

def test_a_mistyped_data_dir_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    with pytest.raises(data.DataError, match=str(missing)):
        data.load_mnist("train", data_dir=missing)
    assert not missing.exists()
    status, _, err = _lrlc(["train", "--out", str(tmp_path / "run"), "--dataset", "mnist", "--data-dir",
                            str(missing), "--no-progress"], capsys)
    assert status == 1 and str(missing) in err and "does not exist" in err
    assert not missing.exists() and not (tmp_path / "run").exists()


def _closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def offline_mnist(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setitem(data.DATASETS["mnist"], "mirrors", [f"http://127.0.0.1:{_closed_port()}/"])


def _folder_with(tmp_path, images_bytes):
    folder = tmp_path / "mnist_files"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(images_bytes)
    shutil.copy(data.SAMPLE_DIR / "train-labels-idx1-ubyte.gz", folder / "train-labels-idx1-ubyte.gz")
    return folder


def test_a_truncated_file_message_points_at_its_own_folder(tmp_path, offline_mnist):
    good = (data.SAMPLE_DIR / "train-images-idx3-ubyte.gz").read_bytes()
    folder = _folder_with(tmp_path, good[: len(good) // 2])
    with pytest.raises(data.DataError) as info:
        data.load_mnist("train", data_dir=folder)
    message = str(info.value)
    assert str(folder / "train-images-idx3-ubyte.gz") in message
    assert f"in {folder}:" in message                     # where to put the good copy
    assert f"in {folder / 'mnist'}:" not in message         # not a folder of its own
    assert not (folder / "mnist").exists()


def test_a_checksum_mismatch_says_what_to_do(tmp_path, offline_mnist):
    folder = _folder_with(tmp_path, (data.SAMPLE_DIR / "train-images-idx3-ubyte.gz").read_bytes())
    with pytest.raises(data.DataError) as info:
        data.load_mnist("train", data_dir=folder)
    message = str(info.value)
    assert "SHA-256" in message
    assert f"delete {folder / 'train-images-idx3-ubyte.gz'}" in message


# --------------------------------------------------------------------------- 7. dtypes and empty batches

def test_float16_input_names_the_supported_dtypes():
    conv = layers.Conv2D(1, 2, 3)
    with pytest.raises(TypeError) as info:
        conv(np.zeros((1, 1, 5, 5), np.float16))
    message = str(info.value)
    assert "float32" in message and "float64" in message and "float16" in message
    assert "dtype='float16'" not in message


def _float32_layers():
    rng = np.random.default_rng(0)
    return {
        "Conv2D": (layers.Conv2D(2, 3, 3, rng=rng), (2, 2, 6, 6)),
        "LocallyConnected2D": (layers.LocallyConnected2D(2, 3, 3, input_size=(6, 6), rng=rng), (2, 2, 6, 6)),
        "LowRankLocallyConnected2D": (layers.LowRankLocallyConnected2D(2, 3, 3, input_size=(6, 6), rank=2, rng=rng),
                                      (2, 2, 6, 6)),
        "Dense": (layers.Dense(4, 3, rng=rng), (2, 4)),
        "BatchNorm2D": (layers.BatchNorm2D(2), (2, 2, 6, 6)),
    }


@pytest.mark.parametrize("name", list(_float32_layers()))
def test_a_dy_of_another_dtype_is_refused(name):
    layer, shape = _float32_layers()[name]
    y = layer(np.random.default_rng(1).standard_normal(shape).astype(np.float32))
    with pytest.raises(TypeError) as info:
        layer.backward(np.ones(y.shape, np.float64))
    message = str(info.value)
    assert name in message and "float32" in message and "float64" in message


@pytest.mark.parametrize("name", ["LocallyConnected2D", "LowRankLocallyConnected2D", "Conv2D"])
@pytest.mark.parametrize("tier", ["clear", "fast"])
def test_an_empty_batch_is_a_value_error(name, tier):
    from lrlc_np import tiers

    layer, shape = _float32_layers()[name]
    with tiers.use_ops(tier), pytest.raises(ValueError, match="at least one"):
        layer(np.zeros((0, *shape[1:]), np.float32))


# --------------------------------------------------------------------------- 8. smaller things

def test_momentum_of_one_or_more_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--out", str(tmp_path / "r"), "--momentum", "1.5"])
    assert info.value.code == 2 and "--momentum" in capsys.readouterr().err
    with pytest.raises(ValueError, match="momentum"):
        TrainConfig(momentum=1.0).validate()


def test_health_warning_on_made_up_histories():
    fine = [{"epoch": 1, "train_loss": 0.3, "train_acc": 0.9, "val_acc": 0.9, "test_acc": 0.9}]
    assert train_module.health_warning(fine, TINY) is None
    awful = [{"epoch": 1, "train_loss": 1.8e11, "train_acc": 0.1, "val_acc": 0.1, "test_acc": 0.098}]
    warning = train_module.health_warning(awful, TrainConfig(lr=1500.0))
    assert "worse" in warning and "1500" in warning and "ln 10" in warning
    chance = [{"epoch": 1, "train_loss": 2.31, "train_acc": 0.11, "val_acc": 0.10, "test_acc": 0.10}]
    assert train_module.health_warning(chance, TINY) is not None


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_run_that_ends_worse_than_guessing_says_so(tmp_path, capsys):
    status, out, err = _lrlc(["train", "--out", str(tmp_path / "r"), "--epochs", "1", "--lr", "1500",
                              *TRAIN_FLAGS], capsys)
    assert status == 0, err                        # BatchNorm keeps the loss finite: no divergence ...
    assert "warning: the run ended worse than an untrained network" in out   # ... but it says so


def test_compare_with_two_jobs_reports_every_epoch(tmp_path):
    messages = []
    base = TrainConfig(**{**COMPARE_BASE.to_json(), "layers": ("conv",) * 3, "epochs": 2})
    run_comparison(base, tmp_path / "cmp", 3, [1], [0], progress=False, jobs=2, log=messages.append)
    epoch_lines = [m for m in messages if "epoch 2/2" in m]
    assert len(epoch_lines) == 4, messages                  # conv, wide conv, lc, lrlc K=1


def test_the_csv_leaves_rank_empty_where_there_is_none(tmp_path):
    run_comparison(COMPARE_BASE, tmp_path / "cmp", 3, [1], [0], progress=False, log=_quiet)
    import csv

    with open(tmp_path / "cmp" / "results.csv", newline="") as f:
        ranks = {row["variant"]: row["rank"] for row in csv.DictReader(f)}
    assert ranks["conv"] == "" and ranks["lc"] == "" and ranks["lrlc K=1"] == "1"


def test_figures_number_layers_and_bases_like_the_network(tmp_path):
    from lrlc_np import plots
    from lrlc_np.models import build_network

    model = build_network(("conv", "conv", "lrlc"), filters=2, rank=2, rng=np.random.default_rng(0))
    titles = []
    original = plots._save

    def capture(fig, path):
        titles.append((Path(path).name, fig._suptitle.get_text() if fig._suptitle else "",
                       [ax.get_title() for ax in fig.axes]))
        return original(fig, path)

    history = [{"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5, "val_acc": 0.5, "test_acc": 0.5}
               for e in (1, 2, 3)]
    import unittest.mock

    with unittest.mock.patch.object(plots, "_save", capture):
        plots.plot_run(model, history, tmp_path)
    by_name = {name: (sup, axes) for name, sup, axes in titles}
    combining = [name for name in by_name if name.startswith("combining_weights")]
    assert combining == ["combining_weights_layer3.png"]
    assert "layer 3" in by_name[combining[0]][0]
    filters = by_name["filters_layer1.png"][1]
    assert "1" in filters and "0" not in filters             # filters numbered from 1, like bases


def test_curves_have_whole_epoch_ticks(tmp_path):
    from lrlc_np import plots

    ticks = {}
    original = plots._save

    def capture(fig, path):
        ticks["x"] = [t for ax in fig.axes for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        return original(fig, path)

    import unittest.mock

    history = [{"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5, "val_acc": 0.5, "test_acc": 0.5} for e in (1, 2, 3)]
    with unittest.mock.patch.object(plots, "_save", capture):
        plots.plot_training_curves(history, tmp_path / "c.png")
    assert ticks["x"] and all(float(t).is_integer() for t in ticks["x"]), ticks


def test_the_progress_bar_shows_one_image_rate(tmp_path, capsys):
    train(TINY, tmp_path / "r", progress=True, log=_quiet)
    err = capsys.readouterr().err
    assert "img/s" in err and "img_s" not in err


def test_the_quick_comparison_time_is_stated_once(capsys):
    from lrlc_np import compare

    with pytest.raises(SystemExit):
        cli.main(["compare", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert compare.QUICK_TIME in help_text
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert compare.QUICK_TIME in readme
    for stale in ("about a minute", "two minutes", "65 s"):
        assert stale not in readme and stale not in help_text


def test_checkpoints_get_the_same_permissions_as_the_other_run_files(finished):
    modes = {p.name: p.stat().st_mode & 0o777 for p in finished.iterdir() if p.is_file()}
    assert len(set(modes.values())) == 1, modes
