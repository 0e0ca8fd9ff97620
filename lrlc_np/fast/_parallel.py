"""Run an op in chunks (of the batch, or of output rows), on every CPU core.

Why: NumPy runs its copies and element-wise loops (im2col, col2im, batch norm) on one
core; only matrix products use more (through the BLAS). On a two-core laptop that leaves
half the machine idle for about half of a layer's time. Splitting the batch into chunks
and handing the chunks to a few Python threads puts every core to work on the copies too:
NumPy releases Python's global lock inside its loops and inside ``matmul``, so the
threads really run at the same time. Chunks of a few samples also keep each chunk's
temporaries (1-5 MB) inside the CPU caches.

While the threads run, the BLAS is told to use one thread per call (``threadpoolctl``):
two threads that each start a two-thread BLAS would fight over the cores, and OpenBLAS
threads that spin-wait for a busy core run many times slower.

Every call is cut into at least one chunk per thread, even when the whole input would fit
in one chunk (the network's first layer, C_in = 1, whose patches are 24 kB per sample).
Run as one serial chunk, that layer's product used the BLAS's own two threads, and
OpenBLAS's threads spin-wait for a while after a product: they took a core from the chunk
threads of the layers that followed. Measured in ``lrlc bench --profile`` (the all-conv
step, batch 128): layer 2's forward 65 -> 39 ms, the step 354 -> 305 ms; a conv forward
called right after one two-thread product ran 50-51 ms against 40-45 ms after a pause.

``for_chunks(total, chunk, body)`` is the only entry point:

    results = for_chunks(n, 4, body)      # body(start, stop) for start = 0, 4, 8, ...

The chunks are independent: each body writes its own rows of preallocated outputs and may
return a partial result (a weight gradient, a sum). ``results`` lists them in chunk order,
whichever thread ran them, so a sum over them is the same, bit for bit, on every run with
the same number of threads (the chunks depend on it, see above).

Serial fallback: on CuPy (the GPU is already parallel, so one chunk covers everything),
with one worker (``LRLC_NP_THREADS=1`` or a one-core machine), without threadpoolctl, or
when called from inside another chunk.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from .. import threads

_THREAD_PREFIX = "lrlc_np"

_pool = None            # (workers, ThreadPoolExecutor), made on first use
_controller = None


def worker_count() -> int:
    """Threads to use: ``lrlc_np.threads.count()`` ($LRLC_NP_THREADS, else the usable cores)."""
    return threads.count()


def _blas_controller():
    """threadpoolctl's controller for the loaded BLAS, or None without threadpoolctl."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controller = False
        else:
            _controller = ThreadpoolController()
    return _controller or None


def _executor(workers):
    global _pool
    if _pool is None or _pool[0] != workers:
        if _pool is not None:
            _pool[1].shutdown(wait=False)
        _pool = (workers, ThreadPoolExecutor(max_workers=workers, thread_name_prefix=_THREAD_PREFIX))
    return _pool[1]


def for_chunks(total: int, chunk: int, body, *, xp=None) -> list:
    """Call ``body(start, stop)`` for consecutive chunks of ``range(total)``; return the results.

    total  number of items (samples, rows) to cover
    chunk  items per call (>= 1); the last chunk may be shorter
    body   function (start, stop) -> anything; a chunk may write its own rows of a shared
           output array, never an element that another chunk also writes
    xp     the array module of the data: CuPy runs one body call over everything
    """
    if xp is not None and xp.__name__ != "numpy":
        return [body(0, total)]
    workers = worker_count()
    if threading.current_thread().name.startswith(_THREAD_PREFIX):
        workers = 1                        # called from inside a chunk: the pool is busy, stay serial
    chunk = max(1, min(chunk, -(-total // workers)))   # at least one chunk per worker (module docstring)
    spans = [(s, min(s + chunk, total)) for s in range(0, total, chunk)]
    workers = min(workers, len(spans))
    controller = _blas_controller() if workers > 1 else None
    if controller is None:
        return [body(start, stop) for start, stop in spans]
    with controller.limit(limits=1, user_api="blas"):
        return list(_executor(workers).map(lambda span: body(*span), spans))


def chunk_size(per_item_bytes: int, target_bytes: int = 4 << 20) -> int:
    """Items per chunk so that a chunk's largest temporary is about ``target_bytes`` (4 MB)."""
    return max(1, target_bytes // max(1, per_item_bytes))
