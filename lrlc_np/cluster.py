"""Runs on a Dask distributed cluster: ``lrlc compare --scheduler ADDRESS``.

``DaskCluster(address)`` is an executor (``lrlc_np.scheduling``): it sends every job to the
cluster whose scheduler listens at ``address`` as one Dask task, and the task trains its run
in a child process on the worker that took it (``scheduling.train_in_child``: one thread, the
tier of ops and the backend of the ``lrlc compare`` that sent it). This is the only module
that imports Dask, and only when it is used: ``pip install -e ".[cluster]"``.

    check(out)   before anything is sent: the scheduler answers within ``timeout`` seconds
                 and has workers, and every worker sees the folder ``out`` at the same path
                 (a probe file written here is read back by a task on every worker)
    run(jobs, on_epoch, on_done)   one task per job; epochs are read from the run directories
                 as they are written (``new_epochs``), finished runs come back as results

The run directories live on storage that every worker shares, so a run, wherever it
trained, is read back, resumed and reported here as with local workers. What happens when:

- Ctrl-C (or an error of a run): every task is cancelled; a task sees that its worker
  dropped it and stops its child like Ctrl-C, so each run keeps its last finished epoch. The
  executor waits until no worker holds one of its tasks and says so.
- A worker dies mid-run: its child sees its parent gone and stops; the scheduler gives the
  task to another worker (up to ``distributed.scheduler.allowed-failures`` times). A child
  that dies alone fails its task, which Dask runs again (``retries``). Either way the task
  that runs again finds the run directory it opened, with its settings, and continues it
  from its checkpoint (``plan_of_attempt``) instead of starting it again: the same bits as a
  run that was never interrupted.
- The client dies: the scheduler drops its tasks, and their runs stop as after Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import time
import uuid
from pathlib import Path

from . import scheduling

#: how to install what ``--scheduler`` needs
INSTALL = 'pip install -e ".[cluster]" (or: pip install "dask[distributed]")'
#: the form of a scheduler's address: [protocol://]host:port (an IPv6 host in brackets)
_ADDRESS = re.compile(r"(?:[a-z]+://)?(?:\[[0-9a-fA-F:.]+\]|[^\s/:\[\]]+):[0-9]+")
#: the prefix of this executor's task keys (the Dask dashboard groups them under it)
KEY_PREFIX = "lrlc-train"


class ClusterError(RuntimeError):
    """The cluster cannot take the runs: Dask missing, no scheduler at the address, no worker,
    a worker that cannot see the output folder."""


class ClusterInterrupted(KeyboardInterrupt):
    """Ctrl-C while runs trained on the cluster; the message says what was cancelled."""


def _distributed():
    try:
        import distributed
    except ImportError as err:
        raise ClusterError(f"--scheduler needs Dask distributed, an optional extra that is not installed "
                           f"({err}); install it with: {INSTALL}") from None
    return distributed


class DaskCluster(scheduling.Executor):
    """Train jobs as tasks of the Dask cluster whose scheduler is at ``address``.

    address  the scheduler's address (``tcp://host:8786``, or ``host:8786``)
    backend  the array backend of the runs ("numpy", "cupy" on GPU workers); None: this
             process's (the tier of ops is always this process's)
    timeout  seconds to wait for the scheduler to answer, and for a first worker
    retries  Dask runs a task again this often when its training process dies (a dead
             worker is handled by the scheduler and not counted here)
    every    seconds between two looks at the run directories (the epochs reported)
    log      callable(str) for what the cluster is doing
    """

    def __init__(self, address, backend=None, timeout=5.0, retries=2, every=1.0, log=print):
        _distributed()                                   # a missing extra is said before anything else
        if not isinstance(address, str) or not _ADDRESS.fullmatch(address.strip()):
            raise ClusterError(f"--scheduler {address}: expected the address of a Dask scheduler, as "
                               f"'dask scheduler' prints it: tcp://host:port (tcp://10.0.0.1:8786)")
        from .options import BACKENDS

        if backend is not None and backend not in BACKENDS:
            raise ValueError(f"DaskCluster: expected backend in {', '.join(BACKENDS)} or None, got {backend!r}")
        self.address, self.backend = address.strip(), backend
        self.timeout, self.retries, self.every, self.log = timeout, retries, every, log
        self.client = None
        self.probe = None

    # ------------------------------------------------------------------ before anything is sent

    def connect(self):
        """The client of the scheduler at ``address`` (made once); ClusterError when it does not
        answer within ``timeout`` or has no worker within ``timeout``."""
        if self.client is not None:
            return self.client
        distributed = _distributed()
        try:
            client = distributed.Client(self.address, timeout=self.timeout, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise ClusterError(f"no Dask scheduler answered at {self.address} within {self.timeout:g} s ({err}); "
                               f"start one with 'dask scheduler' and give the address it prints") from None
        try:
            client.wait_for_workers(1, timeout=self.timeout)
        except TimeoutError:
            client.close()
            raise ClusterError(f"the Dask scheduler at {self.address} has no worker; start some with "
                               f"'dask worker {self.address} --nthreads 1' on the machines that train") from None
        self.client = client
        return client

    def check(self, out):
        """Connect, and check that every worker sees the folder ``out`` at its absolute path here:
        a probe file is written there and read back by each worker. It stays while the runs
        train (each task checks it again, for a worker that joined later) and goes in ``close``."""
        client = self.connect()
        out = Path(out).absolute()
        made = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".lrlc-probe-{uuid.uuid4().hex[:12]}"
        probe.write_text(probe.name)
        self.probe = probe
        seen = client.run(_read_probe, str(probe))
        blind = {worker: why for worker, why in sorted(seen.items()) if why is not None}
        if blind:
            self.close()
            if made:
                out.rmdir()                             # as it was: nothing there
            shown = "; ".join(f"{worker} ({why})" for worker, why in blind.items())
            raise ClusterError(f"--out {out} is not visible to {len(blind)} of {len(seen)} Dask workers: {shown}; "
                               f"put --out on storage that every worker mounts at the same path (NFS, a "
                               f"cluster file system) and give that path")
        workers = client.nthreads()                     # {address: threads}
        threads = sum(workers.values())
        hosts = len({_host(address) for address in workers})
        self.log(f"the Dask cluster at {self.address}: {len(workers)} worker{'s' if len(workers) != 1 else ''} "
                 f"on {hosts} machine{'s' if hosts != 1 else ''}, {threads} run{'s' if threads != 1 else ''} at "
                 f"a time; every worker sees {out}")

    def close(self):
        """Remove the probe file and close the client."""
        if self.probe is not None:
            self.probe.unlink(missing_ok=True)
            self.probe = None
        if self.client is not None:
            self.client.close()
            self.client = None

    # ------------------------------------------------------------------ the runs

    def run(self, jobs, on_epoch, on_done):
        if not jobs:
            return
        jobs = [dataclasses.replace(job, run_dir=str(Path(job.run_dir).absolute())) for job in jobs]
        try:
            if self.probe is None:
                self.check(os.path.commonpath([str(Path(job.run_dir).parent) for job in jobs]))
            self._run(jobs, on_epoch, on_done)
        finally:
            self.close()

    def _run(self, jobs, on_epoch, on_done):
        token = uuid.uuid4().hex[:8]
        where = scheduling.choices()
        if self.backend is not None:
            where["backend"] = self.backend
        futures = {self.client.submit(_train_on_worker, job, where, str(self.probe),
                                      key=f"{KEY_PREFIX}-{token}-{index}", retries=self.retries, pure=False): index
                   for index, job in enumerate(jobs)}
        progress = {index: _Progress(job) for index, job in enumerate(jobs)}
        pending, looked = set(futures), time.monotonic()
        try:
            while pending:
                time.sleep(0.05)
                done = {future for future in pending if future.done()}
                pending -= done
                if time.monotonic() - looked >= self.every:
                    looked = time.monotonic()
                    for future in pending:
                        for metrics in progress[futures[future]].new():
                            on_epoch(jobs[futures[future]], metrics)
                for future in done:
                    index = futures[future]
                    history = self._outcome(future, jobs[index])
                    for metrics in progress[index].rest(history):
                        on_epoch(jobs[index], metrics)
                    on_done(jobs[index], history)
        except KeyboardInterrupt:
            stopped = self._cancel(pending)
            raise ClusterInterrupted(stopped) from None
        except BaseException:
            self._cancel(pending)
            raise

    def _outcome(self, future, job):
        """The history of a finished task; the error of its run raised here."""
        distributed = _distributed()
        if future.status == "cancelled" or (future.status == "finished" and future.result()[0] == "stopped"):
            raise ClusterError(f"the Dask cluster at {self.address} dropped the task training {job.run_dir} (was "
                               f"the scheduler restarted?); run the command again to continue it from its last "
                               f"finished epoch")
        try:
            kind, payload = future.result()
        except distributed.KilledWorker:
            raise ClusterError(f"every Dask worker that trained {job.run_dir} died; the run keeps its last finished "
                               f"epoch: look at the workers' logs (out of memory?), then run the command again to "
                               f"continue") from None
        if kind == "error":
            raise payload
        return payload

    def _cancel(self, futures, patience=15.0):
        """Cancel ``futures`` and wait until no worker holds one of them (their runs have
        stopped); -> a sentence saying so."""
        keys = [future.key for future in futures]
        if not keys:
            return "no task was running on the Dask cluster"
        self.client.cancel(list(futures), force=True)
        deadline = time.monotonic() + patience
        left = keys
        while time.monotonic() < deadline:
            held = self.client.run(_held, keys)
            left = sorted({key for keys_held in held.values() for key in keys_held})
            if not left:
                return (f"the {len(keys)} task{'s' if len(keys) != 1 else ''} left on the Dask cluster at "
                        f"{self.address} were cancelled and have stopped")
            time.sleep(0.2)
        return (f"the {len(keys)} tasks left on the Dask cluster at {self.address} were cancelled; {len(left)} "
                f"had not stopped after {patience:g} s (their runs stop when their workers drop them)")


class _Progress:
    """The epochs of one job's run directory not yet reported (read from metrics.jsonl).

    A resumed run reports the epochs after its checkpoint; a run started again (overwrite)
    is watched only once its config.json holds the job's settings, so that the records of
    the run it replaces are not taken for its own."""

    def __init__(self, job):
        from .rundir import saved_epoch

        self.job = job
        self.seen = (saved_epoch(job.run_dir) or 0) if job.plan == "resume" else 0
        self.started = job.plan != "overwrite"

    def new(self):
        from .rundir import RunError

        try:
            if not self.started:
                self.started = _holds(self.job)
                if not self.started:
                    return []
            records = scheduling.new_epochs(self.job.run_dir, self.seen)
        except (OSError, RunError):                      # being written: the next look sees it
            return []
        self.seen += len(records)
        return records

    def rest(self, history):
        records, self.seen = history[self.seen:], len(history)
        return records


def _host(address):
    """The host of a worker's address ("tcp://10.0.0.2:40123" -> "10.0.0.2")."""
    return address.split("://")[-1].rsplit(":", 1)[0]


# --------------------------------------------------------------------------- on the workers

def _read_probe(path):
    """On a worker: None when the probe file ``path`` reads back as written, else why not."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return f"no {Path(path).parent}" if not Path(path).parent.is_dir() else f"no {Path(path).name} in it"
    except OSError as err:
        return f"{type(err).__name__}: {err.strerror or err}"
    return None if text == Path(path).name else "another file under that name"


def _held(keys, dask_worker=None):
    """On a worker: those of ``keys`` that it still holds (a cancelled task still stopping)."""
    return [key for key in keys if key in dask_worker.state.tasks]


def _holds(job):
    """Whether the run directory of ``job`` holds a run with the job's settings."""
    from .rundir import RunError, differences, read_config
    from .settings import TrainConfig

    try:
        saved, _ = read_config(job.run_dir)
    except (OSError, RunError, ValueError):
        return False
    return not differences(saved, TrainConfig.from_json(job.settings), ignore=("data_dir",))


def plan_of_attempt(job):
    """The plan of a task that runs: the job's, except that a "new" or "overwrite" job whose
    run directory already holds a run with its settings continues it ("resume"). That run was
    opened by an earlier attempt of the same task (its worker, or its training process,
    died), and continues from its last checkpoint (or starts again with those settings when it
    had none) instead of being refused ("new") or thrown away ("overwrite")."""
    if job.plan in ("new", "overwrite") and _holds(job):
        return "resume"
    return job.plan


def _nanny_settings():
    """The variables that a Dask nanny sets for its worker process only (its config's
    ``distributed.nanny.pre-spawn-environ``), as this worker has them. A run's process does not
    get them: MALLOC_TRIM_THRESHOLD_=65536 makes NumPy give memory back after every large
    array, and a tiny run took 0.73 s instead of 0.43 s with it (the numbers are the same)."""
    import dask

    preset = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    return [name for name, value in preset.items() if os.environ.get(name) == str(value)]


def _train_on_worker(job, where, probe):
    """The task: train ``job`` in a child process of this worker; -> ("done", history),
    ("error", exception) or ("stopped", None) when the scheduler dropped the task."""
    distributed = _distributed()
    worker = distributed.get_worker()
    key = worker.get_current_task()
    why = _read_probe(probe)
    if why is not None:
        return "error", ClusterError(f"the Dask worker {worker.address} cannot see {Path(probe).parent} ({why}), "
                                     f"where {job.run_dir} is to train; mount --out there at the same path, or "
                                     f"stop that worker")

    def dropped():
        task = worker.state.tasks.get(key)
        return task is None or task.state not in ("executing", "long-running")

    kind, payload = scheduling.train_in_child(dataclasses.replace(job, plan=plan_of_attempt(job)), where,
                                              stop=dropped, unset=_nanny_settings())
    if kind == "error" and type(payload).__name__ == "BackendError":       # say which machine cannot
        payload = type(payload)(f"the Dask worker {worker.address} ({socket.gethostname()}): {payload}")
    return kind, payload
