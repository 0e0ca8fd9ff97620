"""Start one graded process, time its speed case, and leave nothing of it running.

The grader runs this file as ``python -I -S supervise.py`` (it imports nothing of lrlc_np)
and writes one JSON line to its standard input:

    {"nonce": "...", "argv": [...], "cwd": "...", "env": {...}, "timeout": s,
     "limits": {"cpu": s, "memory": bytes, "fsize": bytes, "nofile": n}, "user": uid or null,
     "speed": {"staged": [path, ...], "folder": path, "limit": s or null, "results": path}}

It makes itself the "subreaper" of everything it starts (Linux's PR_SET_CHILD_SUBREAPER:
a process whose parent dies is handed to this one instead of to init), starts ``argv`` in a
session of its own under the resource limits, with its standard output and error thrown
away and a pipe for the protocol of ``runner.py``: "R" (ready), then for each staged speed
input, the file is copied into ``folder``, "G" is sent and the time to "D" is measured; at
"D" the result file is copied, as it is at that moment, into ``results`` (a folder graded
code cannot reach), so a "D" said before the result is written times nothing. ``folder`` is
opened before the graded process starts and every file in it is made and read through that
descriptor, without following links: a link or pipe graded code leaves there (to one of
your files, say) is removed or ignored, never written through. Then it kills the process
group and every process handed to it, until none is left, and prints its last line, ``<nonce> <JSON report>``. Nothing the graded code prints reaches the
grader, and a line it might write into this process's output comes before the real report
and carries no nonce (the nonce arrives on standard input before the graded code starts).
"""

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option, value):
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):              # not Linux: no subreaper, the process group still goes
        return False


def _limits(limits):
    """The preexec function: resource limits, and death with this process."""
    def apply():
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        pairs = ((resource.RLIMIT_CPU, limits.get("cpu")), (resource.RLIMIT_AS, limits.get("memory")),
                 (resource.RLIMIT_FSIZE, limits.get("fsize")), (resource.RLIMIT_NOFILE, limits.get("nofile")),
                 (resource.RLIMIT_CORE, 0))
        for which, value in pairs:
            if value is not None:
                value = int(value)
                resource.setrlimit(which, (value, value))
    return apply


def _children():
    """The processes whose parent is this one (read from /proc)."""
    me, found = os.getpid(), []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == me:
            found.append(int(name))
    return found


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_everything(process):
    """Kill the process group, then every process handed to us, until two looks find none."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    quiet = 0
    for _ in range(1000):
        _reap()
        left = _children()
        if not left:
            quiet += 1
            if quiet == 2:
                return True
            time.sleep(0.01)
            continue
        quiet = 0
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)
    return False


def _put(source, folder_fd, name):
    """Copy ``source`` to a new file ``name`` in the folder: whatever graded code left at that
    name (a link to one of your files, a pipe) is removed first, never written through."""
    try:
        os.unlink(name, dir_fd=folder_fd)
    except FileNotFoundError:
        pass
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=folder_fd)
    with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
        shutil.copyfileobj(src, dst)


def read_regular(name, limit, dir_fd=None):
    """The bytes of the file ``name`` (in the folder ``dir_fd`` when given) if it is a regular
    file of at most ``limit`` bytes, else None: graded code may have left a link (to one of
    your files), a pipe (which would block forever) or a device in its place. The grader reads
    the result files with it too."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        data = f.read(limit + 1)
    return data if len(data) <= limit else None


def _take(folder_fd, name, dest, limit):
    """Copy the file ``name`` of the folder, as it is now, to ``dest``; nothing when it is
    missing, not a regular file (a link, a pipe) or larger than ``limit`` bytes."""
    data = read_regular(name, limit, folder_fd)
    if data is not None:
        with open(dest, "wb") as f:
            f.write(data)


class _Messages:
    """Lines from the graded process's message pipe, read with a deadline."""

    def __init__(self, fd):
        self.fd, self.buffer = fd, b""

    def wait_for(self, word, deadline):
        while True:
            if b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                if line.strip() == word:
                    return True
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return False
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return False                         # the process closed the pipe (or died)
            self.buffer = (self.buffer + chunk)[-4096:]


def supervise(config):
    reaper = _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    read_end, write_end = os.pipe()
    argv = [a.replace("{message_fd}", str(write_end)) for a in config["argv"]]
    started = time.monotonic()
    deadline = started + config["timeout"]
    report = {"reaper": reaper, "ready": False, "speed": [], "speed_limit_hit": False}
    user = config.get("user")
    identity = {} if user is None else {"user": user, "group": user, "extra_groups": []}
    speed = config.get("speed") or {}
    folder_fd = os.open(speed["folder"], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW) if speed.get("staged") else None
    process = subprocess.Popen(argv, cwd=config["cwd"], env=config["env"], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write_end,),
                               start_new_session=True, preexec_fn=_limits(config["limits"]), **identity)
    os.close(write_end)
    messages = _Messages(read_end)
    try:
        report["ready"] = messages.wait_for(b"R", deadline)
        if report["ready"]:
            for rep, staged in enumerate(speed.get("staged", [])):
                _put(staged, folder_fd, f"speed{rep}.npz")
                limit = speed.get("limit")
                rep_deadline = deadline if limit is None else min(deadline, time.monotonic() + limit)
                t0 = time.perf_counter()            # before "G": the process may finish before we run again
                process.stdin.write(b"G\n")
                process.stdin.flush()
                done = messages.wait_for(b"D", rep_deadline)
                seconds = time.perf_counter() - t0
                if not done:
                    report["speed_limit_hit"] = time.monotonic() < deadline
                    break
                report["speed"].append(seconds)
                _take(folder_fd, f"speed{rep}.out.npz", os.path.join(speed["results"], f"speed{rep}.out.npz"),
                      int(config["limits"].get("fsize") or 1 << 30))
            process.stdin.close()
            left = max(0.0, deadline - time.monotonic())
            process.wait(timeout=min(left, 2.0))
        else:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
        pass
    report["timed_out"] = time.monotonic() >= deadline
    report["returncode"] = process.poll()
    report["all_stopped"] = _kill_everything(process)
    report["seconds"] = time.monotonic() - started
    os.close(read_end)
    if folder_fd is not None:
        os.close(folder_fd)
    return report


def main():
    config = json.loads(sys.stdin.readline())
    report = supervise(config)
    sys.stdout.write(f"{config['nonce']} {json.dumps(report)}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
