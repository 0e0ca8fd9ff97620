"""``lrlc compare --scheduler``: runs as tasks of a real Dask cluster.

A scheduler and two single-threaded workers are started here as separate processes on
127.0.0.1 (``dask scheduler``, ``dask worker --nthreads 1``), once for the module:

1. a tiny comparison on the cluster gives the bits of ``--jobs 2`` (results.csv and every
   checkpoint array), its runs spread over both workers, and it is read back when run again;
2. a worker killed (SIGKILL) in epoch 2 of a 3-epoch run, then the training process alone in
   epoch 3: the orphaned training process stops, the task runs again each time and continues
   the run from its checkpoint, with the bits of a run that was never interrupted;
3. Ctrl-C of ``lrlc compare --scheduler`` cancels every task: no worker holds one, no
   training process is left, and the message says what is kept;
4. a worker that cannot see --out is named before anything is sent (a worker in bubblewrap,
   with --out's folder hidden);
5. clear one-line errors: no scheduler at the address, a malformed address, --jobs with
   --scheduler, the extra not installed, a worker that cannot run --backend cupy; and
   ``import lrlc_np`` needs no Dask.

The cluster tests skip where Dask distributed is not installed (``pip install -e ".[cluster]"``).
"""

import contextlib
import csv
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lrlc_np import cli, scheduling
from lrlc_np.compare import run_comparison
from lrlc_np.rundir import read_metrics, saved_epoch
from lrlc_np.train import TrainConfig

from .processes import alive, children, takes_ctrl_c

needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason='Dask distributed is not installed (pip install -e ".[cluster]")')
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")

#: the tiny comparison: every variant at layer 3 for rank 1 (conv, wide conv, LC, LRLC K=1), 2 seeds
TINY = TrainConfig(dataset="mnist-sample", filters=4, limit_train=256, batch_size=32, epochs=1, lr=0.1,
                   warmup_epochs=0.25)


def _quiet(_message):
    pass


# --------------------------------------------------------------------------- the cluster

class Cluster:
    """A scheduler and its workers, each a process group of its own (killed as a group)."""

    def __init__(self, folder):
        self.folder = folder
        self.file = folder / "scheduler.json"
        self.processes = []
        self.scheduler = self._start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0",
                                                   "--scheduler-file", str(self.file)])
        deadline = time.monotonic() + 60
        while not self.file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.address = json.loads(self.file.read_text())["address"]
        self.nannies = [self.start_worker(f"w{i}") for i in range(2)]
        import distributed

        self.client = distributed.Client(self.address, timeout=30, set_as_default=False)
        self.client.wait_for_workers(2, timeout=60)

    def _start(self, name, args, prefix=()):
        log = open(self.folder / f"{name}.log", "w")
        process = subprocess.Popen([*prefix, sys.executable, "-m", "dask", *args, "--no-dashboard"],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.processes.append(process)
        return process

    def start_worker(self, name, prefix=()):
        return self._start(name, ["worker", self.address, "--nthreads", "1", "--host", "127.0.0.1",
                                  "--name", name], prefix)

    def stop(self, process):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def worker_processes(self):
        """The worker processes (children of the nannies started here)."""
        return [pid for nanny in self.nannies for pid in children(nanny.pid)]

    def training(self):
        """The training processes on the workers: {child pid: worker pid}."""
        return {child: worker for worker in self.worker_processes() for child in children(worker)
                if scheduling.CHILD.encode() in _cmdline(child)}

    def tasks_held(self):
        """The task keys that the workers hold, and those that the scheduler has processing."""
        held = self.client.run(lambda dask_worker: list(dask_worker.state.tasks))
        return sorted(k for keys in held.values() for k in keys), sorted(
            k for keys in self.client.processing().values() for k in keys)

    def close(self):
        self.client.close()
        for process in reversed(self.processes):
            self.stop(process)


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    started = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield started
    finally:
        started.close()


# --------------------------------------------------------------------------- 1. the same bits as --jobs 2

def _test_accuracies(out):
    with open(out / "results.csv") as f:
        return [(row["variant"], row["seed"], row["test_acc"]) for row in csv.DictReader(f)]


def _arrays(run_dir):
    with np.load(run_dir / "checkpoint.npz") as f:
        return {k: f[k] for k in f.files if k.startswith(("param/", "buffer/", "optim/"))}


def _assert_same_bits(a, b):
    one, two = _arrays(a), _arrays(b)
    assert one.keys() == two.keys() and one
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=f"{a.name}: {key}")


@needs_dask
def test_a_comparison_on_the_cluster_gives_the_bits_of_two_jobs(cluster, tmp_path):
    import distributed

    messages = []
    with distributed.get_task_stream(client=cluster.client) as stream:
        run_comparison(TINY, tmp_path / "dask", 3, [1], [0, 1], progress=False, log=messages.append,
                       scheduler=cluster.address)
    run_comparison(TINY, tmp_path / "jobs2", 3, [1], [0, 1], progress=False, jobs=2, log=_quiet)

    assert _test_accuracies(tmp_path / "dask") == _test_accuracies(tmp_path / "jobs2")
    assert len(_test_accuracies(tmp_path / "dask")) == 8
    runs = sorted(p.relative_to(tmp_path / "dask") for p in (tmp_path / "dask").glob("*/seed*"))
    assert len(runs) == 8
    for run in runs:
        _assert_same_bits(tmp_path / "dask" / run, tmp_path / "jobs2" / run)
    tasks = [t for t in stream.data if str(t["key"]).startswith("lrlc-train")]
    assert len(tasks) == 8
    assert len({t["worker"] for t in tasks}) == 2, "the runs did not spread over both workers"
    assert sum("epoch 1/1" in m for m in messages) == 8           # every epoch reported, once
    assert not list((tmp_path / "dask").glob(".lrlc-probe-*"))    # the probe file is gone

    messages.clear()                                               # started again: read back, nothing sent
    run_comparison(TINY, tmp_path / "dask", 3, [1], [0, 1], progress=False, log=messages.append,
                   scheduler=cluster.address)
    assert sum("already done" in m for m in messages) == 8
    assert not any("training" in m for m in messages)


# --------------------------------------------------------------------------- 2. a worker killed mid-run

def _kill_when(run_dir, epochs, cluster, kill_worker):
    """Wait until metrics.jsonl holds ``epochs`` records, then SIGKILL the worker training the
    run (``kill_worker``) or only its training process; -> what was killed, and what was on disk."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(read_metrics(run_dir / "metrics.jsonl")) < epochs:
        time.sleep(0.02)
    training = cluster.training()
    if len(training) != 1:
        return {"error": f"expected one training process after epoch {epochs}, found {training}"}
    (child, worker), = training.items()
    os.kill(worker if kill_worker else child, signal.SIGKILL)
    return dict(child=child, worker=worker, epoch=saved_epoch(run_dir),
                records=(run_dir / "metrics.jsonl").read_text().splitlines())


@needs_dask
@needs_proc
def test_a_run_whose_worker_or_training_process_is_killed_continues_with_the_same_bits(cluster, tmp_path):
    """SIGKILL of the worker in epoch 2 (the scheduler gives the task to a worker again), then
    of the training process in epoch 3 (the task fails, and Dask runs it again: retries)."""
    from lrlc_np.cluster import DaskCluster

    config = TrainConfig(dataset="mnist-sample", filters=4, limit_train=768, batch_size=32, epochs=3,
                         layers=("conv", "conv", "lrlc"), rank=2, warmup_epochs=0.25)
    run_dir = tmp_path / "killed"
    kills = []

    def killer():
        kills.append(_kill_when(run_dir, 1, cluster, kill_worker=True))
        if "error" not in kills[-1]:
            kills.append(_kill_when(run_dir, 2, cluster, kill_worker=False))

    reported, done = [], []
    thread = threading.Thread(target=killer)
    thread.start()
    DaskCluster(cluster.address, log=_quiet).run(
        [scheduling.Job("killed", config.to_json(), str(run_dir), "new")],
        lambda job, m: reported.append(m["epoch"]), lambda job, history: done.append(history))
    thread.join()

    assert len(kills) == 2 and not any("error" in k for k in kills), kills
    assert [k["epoch"] for k in kills] == [1, 2], "a kill came after the epoch it was meant for"
    assert kills[0]["worker"] != kills[1]["worker"] or kills[0]["child"] != kills[1]["child"]
    assert not any(alive(k["child"]) for k in kills), "a training process outlived its worker"
    assert len(done) == 1 and [m["epoch"] for m in done[0]] == [1, 2, 3]
    assert reported == [1, 2, 3]                                   # each epoch once, across the retries
    # continued, not started again: the records (with their wall times) are those written before the kills
    assert (run_dir / "metrics.jsonl").read_text().splitlines()[:2] == kills[1]["records"]
    assert kills[1]["records"][:1] == kills[0]["records"]
    scheduling.InProcess().run([scheduling.Job("whole", config.to_json(), str(tmp_path / "whole"), "new")],
                               lambda job, m: None, lambda job, history: None)
    _assert_same_bits(run_dir, tmp_path / "whole")
    cluster.client.wait_for_workers(2, timeout=60)               # the nanny restarted the killed worker


def test_a_task_run_again_continues_the_run_it_opened(tmp_path):
    """The plan of a task that Dask runs again: the run directory that its first attempt opened
    (with the job's settings) is continued, not refused ("new") nor thrown away ("overwrite")."""
    from lrlc_np.cluster import plan_of_attempt
    from lrlc_np.train import open_run

    def job(plan):
        return scheduling.Job(0, TINY.to_json(), str(tmp_path / "run"), plan)

    assert [plan_of_attempt(job(p)) for p in ("new", "overwrite", "resume")] == ["new", "overwrite", "resume"]
    open_run(TrainConfig(dataset="mnist-sample", filters=2, limit_train=64, epochs=1), tmp_path / "run", log=_quiet)
    assert plan_of_attempt(job("overwrite")) == "overwrite"      # a run with other settings: replaced
    open_run(TINY, tmp_path / "run", overwrite=True, log=_quiet)  # what the first attempt did
    assert [plan_of_attempt(job(p)) for p in ("new", "overwrite", "resume")] == ["resume"] * 3


# --------------------------------------------------------------------------- 3. Ctrl-C

@needs_dask
@needs_proc
def test_ctrl_c_cancels_every_task_on_the_cluster(cluster, tmp_path):
    out = tmp_path / "cmp"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lrlc_np", "compare", "--quick", "--epochs", "40", "--filters", "4",
         "--limit-train", "256", "--seeds", "0", "--ranks", "1", "--scheduler", cluster.address,
         "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=takes_ctrl_c)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (len(cluster.training()) < 2 or len(
                [p for p in out.glob("*/seed0/metrics.jsonl") if read_metrics(p)]) < 2):
            time.sleep(0.1)
        assert len(cluster.training()) == 2, "the two workers did not start training"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert "interrupted: the 4 tasks left on the Dask cluster" in err and "cancelled and have stopped" in err
    assert str(out) in err and "keep their last finished epoch" in err
    assert cluster.tasks_held() == ([], [])
    assert cluster.training() == {}
    assert not (out / "results.md").exists()
    assert not list(out.glob(".lrlc-probe-*"))


# --------------------------------------------------------------------------- 4. --out that a worker cannot see

def _bubblewrap_works():
    return shutil.which("bwrap") is not None and subprocess.run(
        ["bwrap", "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"], capture_output=True).returncode == 0


@needs_dask
@pytest.mark.skipif(not _bubblewrap_works(), reason="hides a folder from one worker with bubblewrap (bwrap)")
def test_a_worker_that_cannot_see_out_is_named_before_anything_is_sent(cluster, tmp_path, capsys):
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    blind = cluster.start_worker("blind", prefix=["bwrap", "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                                                  "--tmpfs", str(hidden), "--die-with-parent"])
    try:
        cluster.client.wait_for_workers(3, timeout=60)
        status = cli.main(["compare", "--quick", "--epochs", "1", "--filters", "4", "--limit-train", "256",
                           "--seeds", "0", "--ranks", "1", "--scheduler", cluster.address,
                           "--out", str(hidden / "cmp")])
    finally:
        cluster.stop(blind)
        cluster.processes.remove(blind)
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1 and "is not visible to 1 of 3 Dask workers" in err and str(hidden / "cmp") in err
    blind_address = [a for a, info in cluster.client.scheduler_info()["workers"].items() if info["name"] == "blind"]
    assert not blind_address or blind_address[0] in err
    assert not (hidden / "cmp").exists()                           # nothing trained, nothing left
    deadline = time.monotonic() + 30
    while len(cluster.client.nthreads()) > 2 and time.monotonic() < deadline:
        time.sleep(0.1)


# --------------------------------------------------------------------------- 5. clear errors

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_dask
def test_no_scheduler_at_the_address_is_a_one_line_error_within_seconds(tmp_path, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    status = cli.main(["compare", "--quick", "--scheduler", address, "--out", str(tmp_path / "cmp")])
    err = capsys.readouterr().err
    assert status == 1 and time.monotonic() - started < 20
    assert err.count("\n") == 1 and f"no Dask scheduler answered at {address} within 5 s" in err
    assert not (tmp_path / "cmp" / "conv").exists()


@pytest.mark.parametrize("argv, message", [
    (["--scheduler", "nonsense"], "--scheduler nonsense: expected the address of a Dask scheduler"),
    (["--scheduler", "tcp://127.0.0.1:1", "--jobs", "2"], "--jobs 2 starts local worker processes"),
])
@needs_dask
def test_bad_scheduler_flags_are_one_line_errors(argv, message, tmp_path, capsys):
    assert cli.main(["compare", "--quick", *argv, "--out", str(tmp_path / "cmp")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lrlc compare: error: ") and message in err
    assert not (tmp_path / "cmp").exists()


@needs_dask
def test_backend_cupy_is_the_workers_and_a_worker_without_it_is_named(cluster, tmp_path, capsys):
    from .conftest import CUPY_SKIP_REASON

    if CUPY_SKIP_REASON is None:
        pytest.skip("CuPy works on these workers: the runs train on the GPU")
    status = cli.main(["compare", "--quick", "--epochs", "1", "--filters", "4", "--limit-train", "256", "--seeds",
                       "0", "--ranks", "1", "--scheduler", cluster.address, "--backend", "cupy",
                       "--out", str(tmp_path / "cmp")])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1
    assert "lrlc compare: error: the Dask worker tcp://127.0.0.1:" in err and "backend 'cupy'" in err
    from lrlc_np import backend
    assert backend.get_backend() == "numpy"                        # this process never left NumPy


def test_scheduler_without_the_extra_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)          # import distributed fails, as without the extra
    monkeypatch.delitem(sys.modules, "lrlc_np.cluster", raising=False)
    assert cli.main(["compare", "--quick", "--scheduler", "tcp://127.0.0.1:8786", "--out", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--scheduler needs Dask distributed" in err
    assert 'pip install -e ".[cluster]"' in err
    assert not (tmp_path / "c").exists()


def test_backend_reaches_the_local_workers_of_jobs_and_not_this_process_with_a_scheduler(monkeypatch, tmp_path):
    """--backend is passed to compare's --jobs workers through $LRLC_NP_BACKEND (they start
    fresh); with --scheduler it is the workers' backend and this process is left alone."""
    monkeypatch.setenv("LRLC_NP_BACKEND", "")                     # put back as it was after the test
    assert cli.main(["compare", "--quick", "--backend", "numpy", "--position", "9", "--out", str(tmp_path)]) == 1
    assert os.environ["LRLC_NP_BACKEND"] == "numpy"
    monkeypatch.setenv("LRLC_NP_BACKEND", "")
    cli.main(["compare", "--quick", "--backend", "numpy", "--scheduler", "nonsense", "--out", str(tmp_path)])
    assert os.environ["LRLC_NP_BACKEND"] == ""


def test_import_lrlc_np_and_its_cli_need_no_dask():
    code = ("import sys; import lrlc_np, lrlc_np.cli, lrlc_np.compare, lrlc_np.scheduling; "
            "sys.exit(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
