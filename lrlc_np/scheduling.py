"""Scheduling training runs: one run is a plain function, and an executor decides where it runs.

A run is ``train_run(settings, run_dir, plan)``: a top-level function of plain arguments (the
settings as config.json holds them, the run directory, and the plan "new", "resume" or
"overwrite") that trains the run and returns its metrics, one dict per epoch. It can be
pickled and sent anywhere the package is installed.

An executor trains a list of ``Job``s. Its one method,

    Executor.run(jobs, on_epoch, on_done)

calls ``on_epoch(job, metrics)`` after each finished epoch and ``on_done(job, history)`` after
each run, from the calling thread, and returns when every job is done. On Ctrl-C, or when a
job raises, it stops every job first and then raises that exception: a checkpoint is written
atomically, so a stopped run keeps its last finished epoch. Two executors live here:

    InProcess()          one run after the other, in this process
    LocalProcesses(n)    n runs at a time, each in a fresh process; a worker stops when its
                         parent dies (also when the parent is killed and cannot stop it)

Every run, wherever it runs, uses one thread for its ops and its BLAS (``THREADS``, pinned
by ``train_run`` through ``lrlc_np.threads``; local workers also start with a one-thread
BLAS): the chunks of the fast tier, and so the float32 sums, depend on the thread count, so
one thread everywhere gives the same bits for the same run whether it ran in-process, in a
local worker or elsewhere. Runs that run side by side use the cores. (A run that an older
version started and recorded no count for continues on the environment's count, as it began.)

A third, for a Dask distributed cluster, lives beside this module (``lrlc_np.cluster``, the
only module that imports Dask): ``DaskCluster(ADDRESS)``. It submits one task
per job; the task trains its run in a child process (``train_in_child``: the same one-thread
start as a local worker, the tier of ops and the backend of the calling process, and a stop
that the task can give), and the client reports epochs from the run directories
(``new_epochs``: the records metrics.jsonl gained since the last look) and finished runs from
the results. ``Executor.check(out)`` runs before anything is sent: a cluster checks there that
every worker sees ``out``.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import queue as queue_module
import signal
import subprocess
import sys
import threading
import time

from ._stopping import ctrl_c
from .settings import TrainConfig
from .threads import ENVIRONMENT as THREAD_ENVIRONMENT
from .train import train

#: what a run directory is asked to do: train a new run, continue one, or start one again
PLANS = ("new", "resume", "overwrite")
#: the thread count of every scheduled run (see the module docstring)
THREADS = 1


def train_run(settings, run_dir, plan, on_epoch=None, progress=False):
    """Train one run; -> its metrics, one dict per epoch (as in metrics.jsonl).

    settings  the run's settings as config.json holds them (``TrainConfig.to_json()``)
    run_dir   its run directory (a str or Path)
    plan      "new", "resume" or "overwrite" (``PLANS``)
    on_epoch  optional callable(metrics) after each epoch's checkpoint
    The ops run on ``THREADS`` thread (a resumed run keeps the count its checkpoint records).
    """
    if plan not in PLANS:
        raise ValueError(f"train_run: expected plan in {', '.join(PLANS)}, got {plan!r}")
    history, _ = train(TrainConfig.from_json(settings), run_dir, resume=plan == "resume",
                       overwrite=plan == "overwrite", progress=progress, on_epoch_end=on_epoch,
                       log=_silent, threads=THREADS)
    return history


def _silent(_message):
    pass


@dataclasses.dataclass(frozen=True)
class Job:
    """One run to train: ``key`` names it to the caller (an index, a name)."""

    key: object
    settings: dict
    run_dir: str
    plan: str


def new_epochs(run_dir, seen):
    """The records of ``run_dir``'s metrics.jsonl after the first ``seen`` (progress read from disk)."""
    from .rundir import METRICS, read_metrics
    from pathlib import Path

    return read_metrics(Path(run_dir) / METRICS)[seen:]


class Executor:
    """Where runs train; see the module docstring for the contract of ``run``."""

    def check(self, out):
        """Before anything is sent: can the runs under the folder ``out`` train there? (Local
        executors have nothing to check; a cluster checks that its workers see ``out``.)"""

    def run(self, jobs, on_epoch, on_done):  # pragma: no cover - interface
        raise NotImplementedError

    def close(self):
        """Let go of what ``check`` and ``run`` took (a cluster's connection)."""


class InProcess(Executor):
    """One run after the other in this process (progress bars if ``progress``)."""

    def __init__(self, progress=False):
        self.progress = progress

    def run(self, jobs, on_epoch, on_done):
        for job in jobs:
            history = train_run(job.settings, job.run_dir, job.plan, lambda m, job=job: on_epoch(job, m),
                                progress=self.progress)
            on_done(job, history)


class LocalProcesses(Executor):
    """``workers`` runs at a time, each in a fresh process started with a one-thread BLAS
    (``THREAD_ENVIRONMENT``; ``train_run`` pins the ops). Ctrl-C or an error stops every worker
    (SIGTERM, then SIGKILL after 5 s); a worker whose parent dies stops by itself."""

    def __init__(self, workers):
        self.workers = workers

    def run(self, jobs, on_epoch, on_done):
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        messages = context.Queue()
        waiting, running = list(range(len(jobs))), {}
        saved = {k: os.environ.get(k) for k in THREAD_ENVIRONMENT}
        os.environ.update(THREAD_ENVIRONMENT)               # read by each new process when it starts
        try:
            while waiting or running:
                while waiting and len(running) < self.workers:
                    index = waiting.pop(0)
                    process = context.Process(target=_worker, args=(jobs[index], index, os.getpid(), messages),
                                              daemon=True)
                    process.start()                         # kept only once started: _stop stops started ones
                    running[index] = process
                kind, index, payload = _next_message(messages, running, jobs)
                if kind == "epoch":
                    on_epoch(jobs[index], payload)
                elif kind == "error":
                    raise payload
                elif kind == "done":
                    running.pop(index).join()
                    on_done(jobs[index], payload)
        finally:
            _stop(running.values())
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _next_message(messages, running, jobs):
    """The next message of a worker, ("none", None, None) after half a second without one; a
    worker that died without a word (out of memory, killed) is an error naming its run."""
    try:
        return messages.get(timeout=0.5)
    except queue_module.Empty:
        for index, process in running.items():
            if not process.is_alive() and process.exitcode != 0:
                raise RuntimeError(f"the worker training {jobs[index].run_dir} {_death(process.exitcode)}; run "
                                   f"the command again to continue from its last finished epoch")
        return "none", None, None


def _death(exitcode):
    """How a worker process ended, from its exit code (negative: the signal that killed it)."""
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:                              # a number this Python has no name for
            name = -exitcode
        return f"was killed by signal {name} (out of memory, or stopped from outside)"
    return f"exited with code {exitcode} (what it printed, above, says why)"


def _stop(processes):
    processes = list(processes)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()


def _worker(job, index, parent, messages):
    """Body of one worker process: train ``job``, report each epoch and the end on ``messages``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)          # the parent decides when to stop, and stops us
    signal.signal(signal.SIGTERM, ctrl_c)             # ... with SIGTERM: stop like Ctrl-C (no half files)
    _stop_with_parent(parent)
    try:
        history = train_run(job.settings, job.run_dir, job.plan, lambda m: messages.put(("epoch", index, m)))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as err:                              # sent back, raised by the parent
        messages.put(("error", index, err))
    else:
        messages.put(("done", index, history))


def _stop_with_parent(parent, every=0.5, grace=10.0):
    """Stop this process when the process ``parent`` is gone: a killed parent (SIGKILL) cannot
    stop its workers, and a worker would otherwise train on alone. The stop is the parent's
    SIGTERM, sent to itself; a worker that does not end within ``grace`` seconds exits."""
    def watch():
        while os.getppid() == parent:
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os._exit(1)

    threading.Thread(target=watch, name="lrlc_np-parent-watch", daemon=True).start()


# --------------------------------------------------------------------------- a run in a child process

class ChildDied(RuntimeError):
    """The process training a run ended without a result (killed, out of memory)."""


def choices():
    """What a run takes from the process that schedules it, wherever it trains: the tier of
    ops ("fast" or "clear") and the array backend ("numpy" or "cupy")."""
    from . import backend, tiers

    return {"ops": tiers.get_ops(), "backend": backend.get_backend()}


#: the command of a child that trains one run (``_child``): the job comes on its stdin
CHILD = "from lrlc_np.scheduling import _child; _child()"


def train_in_child(job, where, stop=lambda: False, every=0.5, grace=5.0, unset=()):
    """Train ``job`` in a fresh Python process and wait for it; -> ("done", history) or
    ("error", exception raised by the run), or ("stopped", None) when ``stop()`` said so.

    where  ``choices()`` of the scheduling process: the child runs that tier and backend
    stop   polled every ``every`` seconds; True stops the child like Ctrl-C (SIGTERM, then
           SIGKILL after ``grace`` s): it keeps its last finished epoch
    unset  environment variables of this process that the child does not get
    The child starts with a one-thread BLAS (``THREAD_ENVIRONMENT``), ignores SIGINT (whoever
    started it decides when it stops) and stops by itself when this process dies. A child
    that ends without a result raises ChildDied, naming the run.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("LRLC_NP_OPS", "LRLC_NP_BACKEND", *unset)}
    env.update(THREAD_ENVIRONMENT)
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env=env)
    message = pickle.dumps((job, where, os.getpid()))
    try:
        while True:
            try:
                output, _ = child.communicate(message, timeout=every)
                break
            except subprocess.TimeoutExpired:
                message = None                           # sent; communicate goes on reading
            if stop():
                _stop_child(child, grace)
                return "stopped", None
    except BaseException:
        _stop_child(child, grace)
        raise
    if child.returncode == 0 and output:
        return pickle.loads(output)
    raise ChildDied(f"the process training {job.run_dir} exited with code {child.returncode} (killed? out of "
                    f"memory?); its run keeps its last finished epoch and continues from it")


def _child():
    """Body of a child of ``train_in_child``: read the job from stdin, train it, write the
    outcome to stdout (anything the run prints goes to stderr)."""
    result = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    job, where, parent = pickle.load(sys.stdin.buffer)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, ctrl_c)
    _stop_with_parent(parent)
    try:
        from . import backend, tiers

        tiers.set_ops(where["ops"])
        backend.set_backend(where["backend"])
        outcome = "done", train_run(job.settings, job.run_dir, job.plan)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as err:
        outcome = "error", err
    try:
        data = pickle.dumps(outcome)
    except Exception:                                   # an exception that cannot travel: its words do
        data = pickle.dumps(("error", RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]}")))
    result.write(data)
    result.close()


def _stop_child(child, grace):
    """SIGTERM (a stop like Ctrl-C: the run keeps its last finished epoch), SIGKILL after
    ``grace`` seconds; waits for it."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(grace)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


# --------------------------------------------------------------------------- choosing one

def executor_for(jobs, progress=False) -> Executor:
    """``InProcess`` for one job at a time, else ``LocalProcesses(jobs)`` (a Dask cluster:
    ``lrlc_np.cluster.DaskCluster``)."""
    return InProcess(progress) if jobs <= 1 else LocalProcesses(jobs)
