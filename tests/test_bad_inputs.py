"""Bad input as a new user gives it: each case once failed badly (a traceback, a wrong
message, lost or misleading results); each test holds the clear behaviour.

1. A repeated seed, rank or position is refused before anything trains, naming it.
2. ``--resume`` with the checkpoint gone but finished epochs on record is refused; nothing
   on disk changes, and the message names the ways out.
3. A hand-edited setting in config.json is detected on resume (the checkpoint records the
   settings it was trained with) and refused, unless it is an allowed change given on the
   command line.
4. OS errors (a read-only, /proc or /sys folder, a full disk, a too-long name, a file where a
   folder should be) are one line naming the path and the cause, a non-zero exit, and
   nothing lost.
5. Environment variables are named in their errors, without a traceback.
6. Data folders: a regular file as --data-dir, verified files directly in --data-dir, the
   folders a failed download made.
7. A run that never left its warm-up is not blamed on a learning rate that is too large.
8. Workers stop when their parent dies; --jobs 1 and --jobs 2 give the same bits, single-threaded.
"""

from __future__ import annotations

import errno
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

from lrlc_np import cli, data
from lrlc_np.compare import run_comparison
from lrlc_np.train import TrainConfig, train

from .processes import alive as _alive, children as _children, still_alive_after

TINY = TrainConfig(filters=2, limit_train=128, batch_size=64, epochs=2, dataset="mnist-sample",
                   warmup_epochs=0.5)
TRAIN_FLAGS = ["--filters", "2", "--limit-train", "128", "--batch-size", "64", "--dataset", "mnist-sample",
               "--warmup-epochs", "0.5", "--no-progress"]
COMPARE_FLAGS = ["compare", "--quick", "--limit-train", "64", "--epochs", "1", "--filters", "2", "--jobs", "1",
                 "--no-progress"]


def _quiet(_message):
    pass


def _files(folder):
    """Every file under ``folder`` with its bytes and modification time: 'nothing changed'."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _lrlc(argv, capsys):
    status = cli.main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _one_error_line(err, command):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith(f"lrlc {command}: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    """A finished 2-epoch run of TINY (copied by each test that changes it)."""
    out = tmp_path_factory.mktemp("two") / "run"
    train(TINY, out, progress=False, log=_quiet)
    return out


@pytest.fixture
def run_copy(two_epochs, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(two_epochs, out)
    return out


# --------------------------------------------------------------------------- 1. repeated seeds, ranks

@pytest.mark.parametrize("flag,value,named", [
    ("--seeds", "0,0", "seed 0"), ("--seeds", "1,2,1", "seed 1"), ("--ranks", "4,4", "rank 4"),
    ("--positions", "3,3", "position 3"), ("--input-dependent", "2,2", "rank 2"),
])
def test_a_repeated_seed_rank_or_position_is_refused_before_anything_trains(flag, value, named, tmp_path, capsys):
    out = tmp_path / "cmp"
    with pytest.raises(SystemExit) as info:
        cli.main([*COMPARE_FLAGS, flag, value, "--out", str(out)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and flag in err and named in err and "more than once" in err, err
    assert not out.exists()


@pytest.mark.parametrize("what", ["seeds", "ranks"])
def test_the_library_refuses_repeated_seeds_and_ranks_too(what, tmp_path):
    args = dict(ranks=[1], seeds=[0])
    args[what] = [1, 1]
    with pytest.raises(ValueError, match=f"{what[:-1]} 1 .*more than once"):
        run_comparison(TrainConfig(dataset="mnist-sample", filters=2, limit_train=64, epochs=1), tmp_path / "c",
                       3, progress=False, log=_quiet, **args)
    assert not (tmp_path / "c").exists()


# --------------------------------------------------------------------------- 2. a missing checkpoint

def test_resume_without_the_checkpoint_of_finished_epochs_is_refused_and_changes_nothing(run_copy, capsys):
    (run_copy / "checkpoint.npz").unlink()
    before = _files(run_copy)
    status, _, err = _lrlc(["train", "--out", str(run_copy), "--resume", "--no-progress"], capsys)
    line = _one_error_line(err, "train")
    assert status == 1
    assert "checkpoint.npz" in line and "metrics.jsonl" in line and "2 finished epochs" in line
    assert "--overwrite" in line and "--out" in line                   # the ways out
    assert "stopped before its first epoch" not in err
    assert _files(run_copy) == before


# --------------------------------------------------------------------------- 3. hand-edited config.json

def _edit_config(run, **values):
    path = run / "config.json"
    saved = json.loads(path.read_text())
    saved.update(values)
    path.write_text(json.dumps(saved, indent=2) + "\n")


def test_a_hand_edited_setting_is_detected_on_resume_and_refused(run_copy, capsys):
    _edit_config(run_copy, weight_decay=0.001)
    before = _files(run_copy)
    status, _, err = _lrlc(["train", "--out", str(run_copy), "--resume", "--epochs", "3", "--no-progress"], capsys)
    line = _one_error_line(err, "train")
    assert status == 1
    assert "weight_decay" in line and "0.001" in line and "0.0005" in line
    assert "config.json" in line and "checkpoint.npz" in line
    assert _files(run_copy) == before


def test_a_hand_edited_allowed_change_needs_the_command_line(run_copy, capsys):
    _edit_config(run_copy, epochs=3)
    before = _files(run_copy)
    status, _, err = _lrlc(["train", "--out", str(run_copy), "--resume", "--no-progress"], capsys)
    line = _one_error_line(err, "train")
    assert status == 1 and "epochs" in line and "--epochs 3" in line
    assert _files(run_copy) == before
    status, out, err = _lrlc(["train", "--out", str(run_copy), "--resume", "--epochs", "3", "--no-progress"], capsys)
    assert status == 0, err
    saved = json.loads((run_copy / "config.json").read_text())
    assert saved["epochs"] == 3
    assert saved["changes"] == [{"after_epoch": 2, "setting": "epochs", "from": 2, "to": 3}]
    assert len((run_copy / "metrics.jsonl").read_text().splitlines()) == 3


def test_a_resumed_run_that_was_stopped_before_its_next_checkpoint_resumes_again(run_copy, capsys, monkeypatch):
    """--resume --epochs 4 records the change in config.json before training; stopped before the
    next checkpoint, the change is on record, so the next --resume is not a hand edit."""
    from lrlc_np.layers import SoftmaxCrossEntropy

    original = SoftmaxCrossEntropy.forward

    def interrupt(self, logits, labels):
        raise KeyboardInterrupt

    monkeypatch.setattr(SoftmaxCrossEntropy, "forward", interrupt)
    status, _, _ = _lrlc(["train", "--out", str(run_copy), "--resume", "--epochs", "4", "--no-progress"], capsys)
    assert status == 130
    monkeypatch.setattr(SoftmaxCrossEntropy, "forward", original)
    status, _, err = _lrlc(["train", "--out", str(run_copy), "--resume", "--no-progress"], capsys)
    assert status == 0, err
    assert len((run_copy / "metrics.jsonl").read_text().splitlines()) == 4


# --------------------------------------------------------------------------- 4. OS errors

def _assert_os_error(err, path, cause, command="train"):
    line = _one_error_line(err, command)
    assert str(path) in line and cause in line, line
    assert ".tmp" not in line, line                          # the file asked for, not a temporary one
    return line


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("out", ["/proc", "/proc/lrlc_np_no_such_folder/run"])
def test_an_output_folder_in_proc_is_one_line(out, capsys):
    status, _, err = _lrlc(["train", "--out", out, "--epochs", "1", *TRAIN_FLAGS], capsys)
    assert status == 1
    _assert_os_error(err, out, "")


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs /sys (Linux)")
def test_an_output_folder_in_sys_is_one_line(capsys):
    status, _, err = _lrlc(["train", "--out", "/sys/lrlc_np_run", "--epochs", "1", *TRAIN_FLAGS], capsys)
    assert status == 1
    _assert_os_error(err, "/sys/lrlc_np_run", "")


def test_a_too_long_name_is_one_line(tmp_path, capsys):
    out = tmp_path / ("x" * 300)
    status, _, err = _lrlc(["train", "--out", str(out), "--epochs", "1", *TRAIN_FLAGS], capsys)
    assert status == 1
    _assert_os_error(err, "x" * 300, "name too long")


def test_a_file_as_the_output_folder_is_one_line(tmp_path, capsys):
    out = tmp_path / "a_file"
    out.write_text("keep me\n")
    status, _, err = _lrlc(["train", "--out", str(out), "--epochs", "1", *TRAIN_FLAGS], capsys)
    assert status == 1
    _assert_os_error(err, out, "not a folder")
    assert out.read_text() == "keep me\n"


def test_a_read_only_output_folder_is_one_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "read_only"
    out.mkdir()
    if os.geteuid() == 0:               # root writes anywhere: make the folder refuse new files
        import tempfile

        real = tempfile.mkstemp

        def refuse(*args, dir=None, **kwargs):
            if dir is not None and Path(dir) == out:
                raise PermissionError(errno.EROFS, os.strerror(errno.EROFS), str(Path(dir) / "x.tmp"))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    else:
        out.chmod(0o555)
    try:
        status, _, err = _lrlc(["train", "--out", str(out), "--epochs", "1", *TRAIN_FLAGS], capsys)
    finally:
        out.chmod(0o755)
    assert status == 1
    line = _assert_os_error(err, out / "config.json", "")
    assert "Read-only file system" in line or "Permission denied" in line
    assert list(out.iterdir()) == []


def test_a_full_disk_is_one_line_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    from lrlc_np import rundir

    out = tmp_path / "run"
    saves = {"n": 0}
    real = np.savez

    def full_on_the_second(f, **arrays):
        saves["n"] += 1
        if saves["n"] == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(f, **arrays)

    monkeypatch.setattr(rundir.numpy, "savez", full_on_the_second)
    status, _, err = _lrlc(["train", "--out", str(out), "--epochs", "2", *TRAIN_FLAGS], capsys)
    assert status == 1
    line = _assert_os_error(err, out / "checkpoint.npz", "No space left on device")
    assert "epoch 1" in line                                 # what is kept
    with np.load(out / "checkpoint.npz") as checkpoint:
        assert int(checkpoint["epoch"]) == 1
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []


def test_notebooks_onto_a_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("keep me\n")
    status, _, err = _lrlc(["tutorials", "--notebooks", str(target), "--no-execute", "--no-progress"], capsys)
    assert status == 1
    _assert_os_error(err, target, "not a folder", command="tutorials")
    assert target.read_text() == "keep me\n"


def test_compare_into_a_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("keep me\n")
    status, _, err = _lrlc([*COMPARE_FLAGS, "--ranks", "1", "--seeds", "0", "--out", str(target)], capsys)
    assert status == 1
    _assert_os_error(err, target, "not a folder", command="compare")
    assert target.read_text() == "keep me\n"


# --------------------------------------------------------------------------- 5. environment variables

@pytest.mark.parametrize("variable,value", [("LRLC_NP_OPS", "slow"), ("LRLC_NP_BACKEND", "tpu"),
                                            ("LRLC_NP_THREADS", "many")])
def test_a_bad_environment_variable_is_named_in_one_line(variable, value):
    env = {**os.environ, variable: value}
    result = subprocess.run([sys.executable, "-m", "lrlc_np", "gradcheck"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode != 0
    line = _one_error_line(result.stderr, "gradcheck")
    assert f"{variable}={value}" in line or (variable in line and repr(value) in line), line


@pytest.mark.parametrize("variable,value", [("LRLC_NP_OPS", "slow"), ("LRLC_NP_BACKEND", "tpu")])
def test_importing_the_library_with_a_bad_variable_names_it(variable, value):
    env = {**os.environ, variable: value}
    result = subprocess.run([sys.executable, "-c", "import lrlc_np.layers"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode != 0 and variable in result.stderr.strip().splitlines()[-1]


# --------------------------------------------------------------------------- 6. data folders

def test_a_file_as_data_dir_says_it_is_not_a_folder(tmp_path, capsys):
    afile = tmp_path / "a_file"
    afile.write_text("")
    with pytest.raises(data.DataError, match="not a folder"):
        data.load_mnist("train", data_dir=afile)
    status, _, err = _lrlc(["train", "--out", str(tmp_path / "run"), "--dataset", "mnist", "--data-dir",
                            str(afile), "--no-progress"], capsys)
    assert status == 1 and str(afile) in err and "not a folder" in err and "does not exist" not in err
    assert not (tmp_path / "run").exists()


def _closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]           # nothing listens there once the socket is closed


@pytest.fixture
def offline(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    port = _closed_port()
    monkeypatch.setitem(data.DATASETS["mnist"], "mirrors", [f"http://127.0.0.1:{port}/"])


def _fake_mnist(monkeypatch, folder):
    """Make the bundled sample's files pass as MNIST's (their checksums and counts), in ``folder``."""
    sample = data.DATASETS["mnist-sample"]
    mnist = data.DATASETS["mnist"]
    monkeypatch.setitem(mnist, "sha256", dict(sample["sha256"]))
    monkeypatch.setitem(mnist, "counts", dict(sample["counts"]))
    folder.mkdir(parents=True, exist_ok=True)
    for name in mnist["files"]["train"] + mnist["files"]["test"]:
        shutil.copy(data.SAMPLE_DIR / name, folder / name)


def test_download_finds_verified_files_directly_in_data_dir(tmp_path, offline, monkeypatch, capsys):
    _fake_mnist(monkeypatch, tmp_path)
    status, out, err = _lrlc(["download", "--dataset", "mnist", "--data-dir", str(tmp_path), "--no-progress"],
                             capsys)
    assert status == 0, err
    assert str(tmp_path) in out
    assert not (tmp_path / "mnist").exists()


def test_a_failed_download_leaves_no_empty_folders(tmp_path, offline, capsys):
    root = tmp_path / "new" / "deeper"
    status, _, err = _lrlc(["download", "--dataset", "mnist", "--data-dir", str(root), "--no-progress"], capsys)
    assert status == 1
    assert list(tmp_path.iterdir()) == [], "the folders made for the download are removed again"


# --------------------------------------------------------------------------- 7. warm-up

def test_a_run_inside_its_warm_up_is_not_blamed_on_the_rate(tmp_path, capsys):
    status, out, err = _lrlc(["train", "--out", str(tmp_path / "r"), "--epochs", "1", "--warmup-epochs", "1",
                              "--filters", "2", "--limit-train", "64", "--batch-size", "32", "--dataset",
                              "mnist-sample", "--no-progress"], capsys)
    assert status == 0, err
    assert "too large" not in out + err


def test_the_health_warning_knows_the_warm_up():
    from lrlc_np.train import health_warning

    chance = [{"epoch": 1, "train_loss": 2.31, "train_acc": 0.11, "val_acc": 0.10, "test_acc": 0.10}]
    warm = TrainConfig(epochs=1, warmup_epochs=1.0)
    assert health_warning(chance, TrainConfig(epochs=3, warmup_epochs=1.0)) is not None
    assert health_warning(chance, warm) is None or "too large" not in health_warning(chance, warm)


# --------------------------------------------------------------------------- 8. workers

@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc (Linux)")
def test_workers_stop_when_their_parent_is_killed(tmp_path):
    out = tmp_path / "cmp"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lrlc_np", "compare", "--quick", "--jobs", "2", "--epochs", "60", "--filters", "4",
         "--no-progress", "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(out.glob("*/seed*/config.json"))) < 2:
            time.sleep(0.2)
        assert len(list(out.glob("*/seed*/config.json"))) >= 2, "the two workers did not start"
        workers = _children(proc.pid)
        assert len(workers) >= 2
        proc.kill()                                          # SIGKILL: the parent cannot clean up
        proc.wait(timeout=10)
        assert not still_alive_after(workers, 15, poll=0.2), "a worker kept training after its parent died"
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in workers:
            if _alive(p):
                os.kill(p, signal.SIGKILL)


def _arrays(run_dir):
    with np.load(run_dir / "checkpoint.npz") as f:
        return {k: f[k] for k in f.files if k.startswith(("param/", "buffer/", "optim/"))}


def test_one_job_and_two_jobs_give_the_same_bits(tmp_path):
    base = TrainConfig(filters=3, limit_train=128, batch_size=32, epochs=1, dataset="mnist-sample",
                       warmup_epochs=0.5)
    for jobs in (1, 2):
        run_comparison(base, tmp_path / f"jobs{jobs}", 3, [2], [0], progress=False, jobs=jobs, log=_quiet)
    runs = sorted(p.relative_to(tmp_path / "jobs1") for p in (tmp_path / "jobs1").glob("*/seed0"))
    assert len(runs) == 4
    for run in runs:
        one, two = _arrays(tmp_path / "jobs1" / run), _arrays(tmp_path / "jobs2" / run)
        assert one.keys() == two.keys()
        for key in one:
            np.testing.assert_array_equal(one[key], two[key], err_msg=f"{run}: {key}")
        with np.load(tmp_path / "jobs1" / run / "checkpoint.npz") as f:
            assert json.loads(str(f["trained_with"]))["threads"] == 1
