"""SIGTERM means what Ctrl-C means: stop, keep the last finished epoch, say what is kept.

``kill PID``, a batch system's notice before its time limit, and ``lrlc compare`` stopping
its workers all send SIGTERM; ``ctrl_c`` turns it into the ``KeyboardInterrupt`` that every
command and worker already answers. Workers install it for their whole life;
``sigterm_as_ctrl_c`` installs it around one command and gives the previous handler back.
"""

from __future__ import annotations

import contextlib
import signal
import threading


def ctrl_c(signum, frame):
    """A signal handler: raise ``KeyboardInterrupt``, as Ctrl-C does."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_ctrl_c():
    """``with sigterm_as_ctrl_c(): ...``: SIGTERM inside the block stops it as Ctrl-C does; the
    previous handler is back afterwards. Off the main thread (where Python allows no signal
    handlers) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
