"""Run graded code: a separate process, limited, watched, and (with bubblewrap) walled in.

Graded code is untrusted. Every graded process gets:

- a wall-clock limit (``timeout``) and a CPU-time limit, a memory limit (address space), a
  file-size limit, no core dumps;
- a minimal environment (no variable of the grader's: no tokens, no paths), one thread,
  Python in isolated mode (``-I -S``: no PYTHONPATH, no site-packages, no ``sitecustomize``),
  a temporary working folder as its current folder and home;
- a session and process group of its own, and a supervisor (``supervise.py``) that is the
  "subreaper" of everything it starts: when the graded process ends, every process it
  started is killed, so nothing outlives the grading (Linux);
- where bubblewrap (``bwrap``, Debian package ``bubblewrap``) works: no network, its own
  process, IPC and host-name namespaces, a read-only view of only what it needs (the Python
  installation, NumPy, the fresh package, the runner) and a private ``/tmp``; the grader's
  own sources, the teacher's files and the rest of the disk are not there at all, and the
  working folder is the only place it can write.

Without bubblewrap, a grader running as root (a container, Gradescope) runs graded code as
the unprivileged user ``nobody``, which cannot write the grader's files nor read files
that only root may read (the Gradescope recipe in TEACHING.md makes the solved sources so).
Otherwise graded code runs as the grader's user: it could read what that user can read
(the solved sources too), write where that user can write, and use the network.
``describe()`` says which applies; ``lrlc course grade`` prints it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "runner.py"
SUPERVISOR = HERE / "supervise.py"


@dataclass(frozen=True)
class Limits:
    """What one graded process may use."""

    timeout: float = 60.0                 # wall-clock seconds for the whole process
    memory_mb: int = 2048                 # address space
    fsize_mb: int = 256                   # the largest file it may write
    nofile: int = 256                     # open files

    def rlimits(self) -> dict:
        return {"cpu": int(self.timeout) + 1, "memory": self.memory_mb << 20, "fsize": self.fsize_mb << 20,
                "nofile": self.nofile}


@functools.lru_cache(maxsize=None)
def bubblewrap() -> str | None:
    """The path of a working ``bwrap``, or None (missing, or no user namespaces here)."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        done = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if done.returncode == 0 else None


NOBODY = 65534


@functools.lru_cache(maxsize=None)
def unprivileged() -> int | None:
    """The user id graded code runs as when this process is root and bubblewrap is not used
    (``nobody``), or None: not root, or this Python and NumPy are not readable by ``nobody``."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    python, _ = _python()
    probe = f"import sys; sys.path.insert(0, {str(numpy_folder())!r}); import numpy"
    try:
        done = subprocess.run([str(python), "-I", "-S", "-c", probe], user=NOBODY, group=NOBODY, extra_groups=[],
                              capture_output=True, timeout=60, cwd="/")
    except (OSError, subprocess.SubprocessError):
        return None
    return NOBODY if done.returncode == 0 else None


def describe(sandbox: bool = True) -> str:
    """One paragraph: how graded code is contained on this machine."""
    base = ("graded code runs in a separate process with time, CPU, memory and file-size limits, a "
            "minimal environment and a temporary working folder; every process it starts is killed "
            "when it ends")
    if sandbox and bubblewrap():
        return base + "; bubblewrap: no network, and a read-only view of only Python, NumPy and the package it is graded in"
    why = "turned off (--no-sandbox)" if not sandbox else "not available (apt-get install bubblewrap)"
    if unprivileged() is not None:
        return (base + f". bubblewrap is {why}; graded code runs as the user nobody: it cannot write your "
                "files, but can read what every user may read (keep your solved sources readable by root "
                "only) and use the network")
    return (base + f". bubblewrap is {why}: graded code can read and write what you can (your solved "
            "sources included) and use the network. Grade hostile code only inside bubblewrap or a "
            "container (TEACHING.md)")


def _python():
    """The real interpreter (a venv's ``python`` is a link to it) and its installation folder."""
    real = Path(os.path.realpath(sys.executable))
    return real, Path(os.path.realpath(sys.base_prefix))


def numpy_folder() -> Path:
    """The folder that holds the ``numpy`` package (put on the graded process's path)."""
    import numpy

    return Path(os.path.realpath(numpy.__file__)).parent.parent


def _environment(work):
    return {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "LRLC_NP_OPS": "clear", "LRLC_NP_THREADS": "1", "PYTHONHASHSEED": "0"}


def _bwrap_argv(bwrap, python_prefix, numpy_dir, top, work):
    """bubblewrap's arguments: read-only system and Python, the temporary folder, nothing else."""
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp"]
    for system in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc/ld.so.cache", "/etc/localtime"):
        argv += ["--ro-bind-try", system, system]
    argv += ["--ro-bind", str(python_prefix), str(python_prefix), "--ro-bind", str(numpy_dir), str(numpy_dir)]
    hidden = numpy_dir / "lrlc_np"
    if hidden.exists():                     # an installed (not editable) grader: its sources stay hidden
        argv += ["--tmpfs", str(hidden)]
    argv += ["--ro-bind", str(top), str(top), "--bind", str(work), str(work), "--chdir", str(work)]
    return argv


@dataclass
class Run:
    """What the supervisor saw of one graded process."""

    ready: bool = False
    timed_out: bool = False
    returncode: int | None = None
    speed: list = field(default_factory=list)
    speed_limit_hit: bool = False
    all_stopped: bool = True
    seconds: float = 0.0
    failure: str = ""                      # the supervisor itself failed (should not happen)


def run(top: Path, exercise: str, limits: Limits, sandbox: bool = True, speed_staged=(), speed_limit=None) -> Run:
    """Run ``runner.py`` for ``exercise`` in the folder ``top`` (which holds ``package/lrlc_np``,
    ``work/inputs.npz``, an empty ``work/outputs.npz`` and ``work/speed/``).

    speed_staged  files (outside ``top``'s view) copied in one by one for the timed speed case;
                  each repetition's result, as it was when the process said "D", is copied
                  beside them as ``speed<r>.out.npz``
    speed_limit   seconds one speed repetition may take before it is stopped
    """
    top = Path(top)
    work = top / "work"
    shutil.copyfile(RUNNER, top / "runner.py")
    python, prefix = _python()
    numpy_dir = numpy_folder()
    child = [str(python), "-I", "-S", "-B", str(top / "runner.py"), str(top / "package"), str(numpy_dir), exercise,
             str(work / "inputs.npz"), str(work / "outputs.npz"), str(work / "speed"), "{message_fd}"]
    bwrap = bubblewrap() if sandbox else None
    user = None
    if bwrap:
        child = _bwrap_argv(bwrap, prefix, numpy_dir, top, work) + ["--"] + child
    else:
        user = unprivileged()
        if user is not None:                     # nobody must read the package and write the work folder
            for path in [top, *top.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
            for path in [work, *work.rglob("*")]:
                os.chown(path, user, user)
    nonce = secrets.token_hex(16)
    config = {"nonce": nonce, "argv": child, "cwd": str(work), "env": _environment(work), "timeout": limits.timeout,
              "user": user,
              "limits": limits.rlimits(),
              "speed": {"staged": [str(p) for p in speed_staged], "folder": str(work / "speed"), "limit": speed_limit,
                        "results": str(Path(speed_staged[0]).parent) if speed_staged else None}}
    supervisor = [str(python), "-I", "-S", "-B", str(SUPERVISOR)]
    try:
        done = subprocess.run(supervisor, input=json.dumps(config) + "\n", capture_output=True, text=True,
                              timeout=limits.timeout + 60, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    except subprocess.TimeoutExpired:
        return Run(timed_out=True, failure="the supervisor did not finish")
    last = done.stdout.strip().splitlines()[-1:] or [""]
    if not last[0].startswith(nonce + " "):
        return Run(failure=f"the supervisor gave no report (exit {done.returncode})")
    report = json.loads(last[0][len(nonce) + 1:])
    return Run(ready=report["ready"], timed_out=report["timed_out"], returncode=report["returncode"],
               speed=report["speed"], speed_limit_hit=report["speed_limit_hit"],
               all_stopped=report["all_stopped"], seconds=report["seconds"])


# --------------------------------------------------------------------------- the grader's own files

def fingerprint(folder) -> dict:
    """{relative path: SHA-256} of every file under ``folder`` but caches: to see whether graded
    code changed the grader's own sources (possible only without bubblewrap)."""
    folder = Path(folder)
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def changed_files(before: dict, after: dict) -> list:
    """The files added, removed or changed between two fingerprints."""
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
