"""Write a file so that a reader sees the old file or the whole new one, never half of it.

Used for checkpoints, ``lrlc bench --json`` and downloaded data: the content goes to a
temporary file in the target's folder, is flushed to disk, and only then renamed over the
target (``os.replace`` is atomic within one file system). On any failure, Ctrl-C included,
the temporary file is removed and the target is untouched; an OS error (a read-only folder,
a full disk, a name too long) is raised again naming the target, not the temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode="wb", *, check=None):
    """``with atomic_write(path) as f: f.write(...)``: ``path`` appears only when the block succeeds.

    mode   "wb" (bytes) or "w" (text, UTF-8)
    check  optional function(tmp_path) run after the file is written and closed, before the
           rename (e.g. a checksum); an exception from it leaves ``path`` untouched
    The file gets a normal file's permissions (0666 less the umask; ``mkstemp`` makes it 0600).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        if err.errno is None:
            raise
        raise _naming(err, path) from None
    tmp = Path(tmp)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if check is not None:
            check(tmp)
        os.replace(tmp, path)
    except OSError as err:
        if err.errno is None or err.filename not in (None, str(tmp)):
            raise
        raise _naming(err, path) from None
    finally:
        tmp.unlink(missing_ok=True)


def _naming(err, path):
    """The same OS error (its errno picks the class: PermissionError, ...), naming ``path``."""
    return OSError(err.errno, err.strerror or str(err), str(path))
