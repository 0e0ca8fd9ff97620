"""The process table, read from /proc (Linux): the tests that stop worker processes use it."""

from __future__ import annotations

import signal
import time
from pathlib import Path


def takes_ctrl_c():
    """``Popen(preexec_fn=takes_ctrl_c)``: the child answers SIGINT as a terminal's process does,
    also where the tests themselves run with it ignored (a shell's background job)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def children(pid):
    """The ids of the processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid):
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def still_alive_after(pids, seconds, poll=0.1):
    """The processes of ``pids`` still alive after waiting up to ``seconds`` for all to end."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(poll)
    return [p for p in pids if alive(p)]


def spawned_workers(pid):
    """The multiprocessing workers among the children of ``pid`` (not its resource tracker)."""
    found = []
    for child in children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            pass
    return found
