"""``lrlc bench``'s measurements: how fast are the layers, against what the machine can do?

Each measurement is a pure function, gathered by ``run_benchmark(settings) -> dict`` (the
report is ``bench.report``):

    machine_info()          Python, NumPy, BLAS library and threads, CPU count, thread variables
    matmul_rate()           a float32 n x n ``@`` (n = 1024): the machine's practical limit in
                            GFLOP/s, since every layer here ends up in matrix products
    time_layer()            forward and backward of Conv2D, LocallyConnected2D and
                            LowRankLocallyConnected2D at the paper's layer shape, on one tier
                            of ops ("fast" or "clear", ``lrlc_np.tiers``)
    time_reference()        the naive loops of ``lrlc_np.reference`` against both tiers'
                            vectorised ops, on a small shape: why the ops are vectorised
    training_throughput()   images/s of the paper's network (one forward + loss + backward +
                            SGD step per iteration) and the peak memory one step allocates
    step_profile()          where one training step's time goes: every unit the network runs
                            (``Sequential.units``: a layer, or a pair the tier fuses), forward
                            and backward, the loss and the optimiser, and each conv-shaped
                            layer's rate against the matmul rate (``lrlc bench --profile``)

Both tiers are timed in the same run (``settings["tiers"]``), so the price of the clear
tier's readability and the gain of every fast-tier trick are read side by side.

How the numbers are taken:

- Every time is a median of ``repeats`` runs after a warm-up run, read with
  ``time.perf_counter``. The median ignores the occasional run that the operating system
  interrupts; on a shared host absolute times still drift by tens of percent, so compare
  numbers from the same run.
- Arrays live on the active backend (``lrlc_np.backend.xp``), so the same code times CuPy.
  GPU calls return before the work is done, so ``_sync`` waits for the device before the
  clock is read (a no-op under NumPy).
- GFLOP/s count *useful* flops, the multiply-adds the layer's definition needs (see
  ``layer_flops``), not whatever a particular implementation happens to execute. That makes
  the rates of different layers and routes comparable: a route that does more work than
  needed shows up as a lower rate.

Only NumPy and the standard library are imported here; ``lrlc_np`` modules are imported
inside the functions that use them (so that ``lrlc bench --help`` reads no environment).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
import tracemalloc
import numpy

from ..text import format_shape
from .report import NOTES

__all__ = [
    "FULL", "QUICK", "make_settings", "machine_info", "matmul_rate", "layer_flops", "time_layer",
    "time_reference", "training_throughput", "step_profile", "run_benchmark",
]

#: the full run: the paper's layer shape (N=64, 64 -> 64 channels, 24x24, 3x3 valid) and
#: its network at batch 128
FULL = dict(
    batch=64, channels=64, size=24, kernel=3, ranks=[1, 2, 4, 8], repeats=7, warmup=1,
    matmul_n=1024, warmup_s=1.0,
    reference_batch=2, reference_channels=8, reference_size=10, reference_rank=4, reference_repeats=3,
    train_batch=128, train_filters=64, train_rank=4, train_position=3, profile_only=False,
    tiers=None,                           # None: every tier of this copy (a student copy: "clear" only)
)

#: ``--quick``: a small run that finishes in seconds, even on a busy two-core machine
QUICK = dict(
    FULL, batch=8, ranks=[1, 4], repeats=3, warmup_s=0.2,
    reference_batch=1, reference_channels=4, reference_size=8, reference_repeats=2,
    train_batch=16,
)

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# --------------------------------------------------------------------------- helpers

def _xp():
    """The active array module (read at call time, so ``set_backend`` is respected)."""
    from .. import backend

    return backend.xp


def _sync(xp) -> None:
    """Wait until the device has finished queued work: CuPy calls return early; NumPy's don't."""
    if getattr(xp, "__name__", "") == "cupy":
        xp.cuda.Device().synchronize()


def _median_seconds(fn, repeats, warmup=1, xp=None):
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    xp = _xp() if xp is None else xp
    for _ in range(warmup):
        fn()
    _sync(xp)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(xp)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _gflops(flops, seconds):
    """flops / seconds in GFLOP/s; None when the time is not positive (no division by zero)."""
    return flops / seconds / 1e9 if seconds and seconds > 0 else None


def _percent(part, whole):
    return 100.0 * part / whole if part is not None and whole else None


def _random(rng, shape, dtype=numpy.float32, xp=None):
    """Standard-normal array on the active backend, from a NumPy Generator (reproducible)."""
    xp = _xp() if xp is None else xp
    return xp.asarray(rng.standard_normal(shape).astype(dtype))


def make_settings(quick=False, **overrides) -> dict:
    """The FULL or QUICK settings, with every override that is not None applied.

    >>> make_settings(quick=True, repeats=5)["repeats"]
    5
    """
    settings = dict(QUICK if quick else FULL, quick=bool(quick))
    unknown = set(overrides) - set(settings)
    if unknown:
        raise ValueError(f"make_settings: unknown settings {sorted(unknown)}")
    settings.update({k: v for k, v in overrides.items() if v is not None})
    settings["ranks"] = list(settings["ranks"])
    if settings["tiers"] is None:
        from ..tiers import available

        settings["tiers"] = [t for t in ("fast", "clear") if t in available()]
    return settings


# --------------------------------------------------------------------------- machine

def _blas_from_threadpoolctl():
    """BLAS name, version and thread count from threadpoolctl, or None if it is not installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    pools = [{k: p.get(k) for k in ("user_api", "internal_api", "version", "num_threads", "architecture")}
             for p in threadpool_info()]
    blas = [p for p in pools if p["user_api"] == "blas"]
    first = blas[0] if blas else {}
    return dict(source="threadpoolctl", name=first.get("internal_api"), version=first.get("version"),
                threads=first.get("num_threads"), architecture=first.get("architecture"), pools=pools)


def _blas_from_numpy_config():
    """BLAS name and version from ``numpy.show_config(mode="dicts")`` (NumPy >= 1.25); no thread count."""
    try:
        config = numpy.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
    except Exception:  # older NumPy (no mode=), or a build without that entry
        return dict(source="unknown", name=None, version=None, threads=None)
    return dict(source="numpy.show_config", name=blas.get("name"), version=blas.get("version"),
                threads=None, configuration=blas.get("openblas configuration"))


def machine_info() -> dict:
    """What the numbers were measured on: Python, NumPy, backend, CPUs, BLAS and its threads.

    The BLAS entry comes from ``threadpoolctl.threadpool_info()`` when threadpoolctl is
    installed (name, version, threads in use); otherwise from NumPy's build configuration,
    which names the library but cannot tell the thread count (``threads`` is then None).
    ``env`` holds the thread-count variables as set (None when unset).
    """
    from .. import backend

    info = dict(
        python=platform.python_version(), numpy=numpy.__version__, platform=platform.platform(),
        machine=platform.machine(), cpu_count=os.cpu_count(), backend=backend.get_backend(),
        blas=_blas_from_threadpoolctl() or _blas_from_numpy_config(),
        env={name: os.environ.get(name) for name in BLAS_THREAD_VARIABLES},
    )
    if backend.get_backend() == "cupy":  # pragma: no cover - needs a GPU
        try:
            props = backend.xp.cuda.runtime.getDeviceProperties(backend.xp.cuda.Device().id)
            info["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        except Exception as err:
            info["gpu"] = f"unknown ({type(err).__name__})"
    return info


def matmul_rate(n=1024, repeats=7, warmup_s=1.0, dtype=numpy.float32) -> dict:
    """The float32 matrix-multiply rate of the active backend: the practical limit.

    Multiplies two n x n matrices (2*n^3 flops) ``repeats`` times after ``warmup_s`` seconds
    of warm-up multiplications (clocks ramp up, BLAS starts its threads), three times, and
    returns ``{"n", "dtype", "repeats", "seconds" (the fastest of the three medians), "gflops"}``.
    """
    xp = _xp()
    rng = numpy.random.default_rng(0)
    a, b = _random(rng, (n, n), dtype, xp), _random(rng, (n, n), dtype, xp)
    out = xp.empty((n, n), dtype=dtype)
    deadline = time.perf_counter() + warmup_s
    xp.matmul(a, b, out=out)
    _sync(xp)
    while time.perf_counter() < deadline:
        xp.matmul(a, b, out=out)
        _sync(xp)
    # the fastest of three medians: on a shared machine one round can meet another process
    # (the first round of a fresh process measured 129 GFLOP/s against 185 for the next two)
    seconds = min(_median_seconds(lambda: xp.matmul(a, b, out=out), repeats, warmup=0, xp=xp)
                  for _ in range(3))
    return dict(n=n, dtype=numpy.dtype(dtype).name, repeats=repeats, seconds=seconds,
                gflops=_gflops(2.0 * n ** 3, seconds))


# --------------------------------------------------------------------------- layers

def layer_flops(batch, in_channels, out_channels, output_hw, kernel) -> dict:
    """Useful flops of one conv-shaped layer: forward 2*N*P*C_out*C_in*kh*kw; backward twice that.

    Backward computes two products of the forward's size, dx and dW (the bias gradient is a
    sum, negligible). The same counts serve LC (its products have the same sizes, only the
    weights differ per position) and, as its conv-equivalent, LRLC.
    """
    positions = output_hw[0] * output_hw[1]
    forward = 2 * batch * positions * out_channels * in_channels * kernel * kernel
    return dict(forward=forward, backward=2 * forward)


def _build_layer(kind, rank, channels, size, kernel, dtype, rng):
    from .. import layers as L

    if kind == "conv":
        return L.Conv2D(channels, channels, kernel, rng=rng, dtype=dtype)
    if kind == "lc":
        return L.LocallyConnected2D(channels, channels, kernel, size, rng=rng, dtype=dtype)
    if kind == "lrlc":
        return L.LowRankLocallyConnected2D(channels, channels, kernel, size, rank, rng=rng, dtype=dtype)
    raise ValueError(f"time_layer: expected kind 'conv', 'lc' or 'lrlc', got {kind!r}")


def time_layer(kind, rank=None, *, batch=64, channels=64, size=24, kernel=3, repeats=7, warmup=1,
               dtype=numpy.float32, seed=0, tier="fast") -> dict:
    """Median forward and backward times of one layer, and its useful GFLOP/s.

    kind     "conv", "lc" or "lrlc" (``rank`` K needed for "lrlc")
    shape    input (batch, channels, size, size), ``channels`` output channels, a
             ``kernel`` x ``kernel`` kernel, stride 1, valid padding
    The layer comes from ``lrlc_np.layers`` with ``rng=numpy.random.default_rng(seed)``; the
    input x and upstream gradient dy are fixed random arrays (dy with the memory layout of
    the layer's own output, as the next layer hands it back). Each repeat times
    ``layer.forward(x)`` and then ``layer.backward(dy)``; the medians are reported.
    tier     the ops the layer runs: "fast" or "clear"
    -> dict with name, kind, rank, tier, route ("conv"/"lc" for LRLC, else None), forward_s,
       backward_s, total_s, forward_flops, backward_flops, forward_gflops, backward_gflops
    """
    from .. import tiers

    if kind == "lrlc" and rank is None:
        raise ValueError("time_layer: kind 'lrlc' needs a rank")
    with tiers.use_ops(tier):
        return _time_layer(kind, rank, batch, channels, size, kernel, repeats, warmup, dtype, seed, tier)


def _time_layer(kind, rank, batch, channels, size, kernel, repeats, warmup, dtype, seed, tier):
    xp = _xp()
    rng = numpy.random.default_rng(seed)
    layer = _build_layer(kind, rank, channels, size, kernel, dtype, rng)
    x = _random(numpy.random.default_rng(seed + 1), (batch, channels, size, size), dtype, xp)
    y = layer.forward(x)
    dy = xp.empty_like(y)                          # same memory layout as the layer's output
    dy[...] = _random(numpy.random.default_rng(seed + 2), y.shape, dtype, xp)
    for _ in range(warmup):
        layer.forward(x)
        layer.backward(dy)
    _sync(xp)
    forward, backward = [], []
    for _ in range(repeats):                       # alternate forward and backward, as in training
        start = time.perf_counter()
        layer.forward(x)
        _sync(xp)
        middle = time.perf_counter()
        layer.backward(dy)
        _sync(xp)
        forward.append(middle - start)
        backward.append(time.perf_counter() - middle)
    flops = layer_flops(batch, channels, channels, y.shape[2:], kernel)
    fwd, bwd = statistics.median(forward), statistics.median(backward)
    name = {"conv": "conv", "lc": "LC", "lrlc": f"LRLC K={rank}"}[kind]
    return dict(name=name, kind=kind, rank=rank if kind == "lrlc" else None, tier=tier,
                route=layer.resolved_method if kind == "lrlc" else None,
                forward_s=fwd, backward_s=bwd, total_s=fwd + bwd,
                forward_flops=flops["forward"], backward_flops=flops["backward"],
                forward_gflops=_gflops(flops["forward"], fwd), backward_gflops=_gflops(flops["backward"], bwd))


# --------------------------------------------------------------------------- reference

def time_reference(kind, *, batch=2, channels=8, size=10, kernel=3, rank=4, repeats=3, seed=0,
                   tiers=("fast", "clear")) -> dict:
    """The naive loops of ``lrlc_np.reference`` against each tier's vectorised op, forward only.

    kind   "conv", "lc" or "lrlc" (``rank`` K for "lrlc", combining weights a softmax of
           random logits); float64 inputs of shape (batch, channels, size, size), ``channels``
           output channels, ``kernel`` x ``kernel``, valid padding
    The reference runs on NumPy arrays; the ops (``conv2d_forward``,
    ``locally_connected2d_forward``, ``lrlc2d_forward`` with method "auto") of each tier on
    the active backend. -> dict with the reference's median time and, per tier, the op's
    time, the speed-up factor and the largest absolute difference between the two outputs
    (a check that the same thing was timed).
    """
    from .. import backend, reference
    from .. import tiers as tier_modules

    op_name = {"conv": "conv2d_forward", "lc": "locally_connected2d_forward", "lrlc": "lrlc2d_forward"}.get(kind)

    xp = _xp()
    rng = numpy.random.default_rng(seed)
    out_hw = size - kernel + 1
    x = rng.standard_normal((batch, channels, size, size))
    if kind == "conv":
        w = rng.standard_normal((channels, channels, kernel, kernel))
        args = (x, w)
        ref = reference.conv2d
    elif kind == "lc":
        w = rng.standard_normal((out_hw, out_hw, channels, channels, kernel, kernel))
        args = (x, w)
        ref = reference.locally_connected2d
    elif kind == "lrlc":
        bases = rng.standard_normal((rank, channels, channels, kernel, kernel))
        logits = rng.standard_normal((rank, out_hw, out_hw))
        alpha = numpy.exp(logits) / numpy.exp(logits).sum(axis=0)
        args = (x, bases, alpha)
        ref = reference.lrlc2d
    else:
        raise ValueError(f"time_reference: expected kind 'conv', 'lc' or 'lrlc', got {kind!r}")
    device_args = tuple(xp.asarray(a) for a in args)
    expected = ref(*args)
    reference_s = _median_seconds(lambda: ref(*args), repeats, warmup=0, xp=numpy)
    by_tier = {}
    for tier in tiers:
        op = getattr(tier_modules.module(tier), op_name)
        got = backend.to_numpy(op(*device_args)[0])
        seconds = _median_seconds(lambda: op(*device_args), max(repeats, 5), warmup=1, xp=xp)
        by_tier[tier] = dict(vectorised_s=seconds, speedup=reference_s / seconds if seconds > 0 else None,
                             max_abs_diff=float(numpy.max(numpy.abs(expected - got))))
    name = {"conv": "conv", "lc": "LC", "lrlc": f"LRLC K={rank}"}[kind]
    return dict(name=name, kind=kind, rank=rank if kind == "lrlc" else None,
                reference_s=reference_s, tiers=by_tier)


# --------------------------------------------------------------------------- training

def training_throughput(layer_types=("conv", "conv", "conv"), rank=4, *, batch=128, filters=64,
                        steps=7, warmup=1, dtype=numpy.float32, seed=0, input_dependent=False,
                        tier="fast") -> dict:
    """Training speed of the paper's network, and the memory one step allocates.

    One step = forward + softmax cross-entropy + backward + SGD update (momentum 0.9,
    Nesterov, weight decay 5e-4, as ``lrlc train`` does) on random data of shape
    (batch, 1, 28, 28) in [-1, 1] with random labels. The first step of the freshly built
    network runs under ``tracemalloc`` (NumPy reports its array allocations to it): its peak
    is the memory a step allocates (activations, caches, gradients, temporaries), beyond the
    parameters and optimiser state that existed before. Then ``warmup`` untimed steps and
    ``steps`` timed ones. -> dict with the median step time, images/s = batch / step time,
    peak_traced_mb (None on CuPy, whose device memory tracemalloc does not see) and
    params_mb (parameters + momentum buffers). ``input_dependent=True`` builds the LRLC layers
    with per-example combining weights (``combining="full"``, the paper's input-dependent
    variant). ``tier`` is the ops the network runs, "fast" or "clear".
    """
    from .. import tiers

    with tiers.use_ops(tier):
        row = _training_throughput(layer_types, rank, batch, filters, steps, warmup, dtype, seed, input_dependent)
    row["tier"] = tier
    return row


def _training_throughput(layer_types, rank, batch, filters, steps, warmup, dtype, seed, input_dependent):
    from .. import backend
    from ..layers import SoftmaxCrossEntropy
    from ..models import build_network
    from ..optim import SGD

    xp = _xp()
    rng = numpy.random.default_rng(seed)
    model = build_network(tuple(layer_types), filters=filters, rank=rank, rng=rng, dtype=dtype,
                          input_dependent=input_dependent)
    optimizer = SGD(model.params, lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4,
                    decay=model.decay_names())
    loss_fn = SoftmaxCrossEntropy()
    x = xp.asarray(rng.uniform(-1.0, 1.0, (batch, 1, 28, 28)).astype(dtype))
    labels = xp.asarray(rng.integers(0, 10, size=batch))

    def step():
        logits = model.forward(x, training=True)
        loss_fn.forward(logits, labels)
        model.backward(loss_fn.backward())
        optimizer.step(model.grads)

    host = backend.get_backend() == "numpy"
    was_tracing = tracemalloc.is_tracing()
    if host and not was_tracing:
        tracemalloc.start()
    if host:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
    step()
    peak_mb = (tracemalloc.get_traced_memory()[1] - before) / 2**20 if host else None
    if host and not was_tracing:
        tracemalloc.stop()
    seconds = _median_seconds(step, steps, warmup=warmup, xp=xp)
    params_bytes = sum(p.nbytes for p in model.params.values())
    params_bytes += sum(v.nbytes for v in optimizer.velocity.values())
    lrlc_name = f"lrlc K={rank}" + (" input-dependent" if input_dependent else "")
    name = ",".join(lrlc_name if t == "lrlc" else t for t in layer_types)
    return dict(name=name, layer_types=list(layer_types), rank=rank if "lrlc" in layer_types else None,
                batch=batch, filters=filters, steps=steps, step_s=seconds,
                images_per_s=batch / seconds if seconds > 0 else None,
                peak_traced_mb=peak_mb, params_mb=params_bytes / 2**20)


def _layer_flops_of(layer, x_shape):
    """Useful forward flops of a conv-shaped layer (conv, LC, LRLC) for input x_shape, else None."""
    kernel = getattr(layer, "kernel_size", None)
    if kernel is None or not hasattr(layer, "out_channels"):
        return None
    from ..ops.im2col import output_hw

    h_out, w_out = output_hw(x_shape[2], x_shape[3], kernel, layer.stride, layer.padding, "step_profile")
    return 2 * x_shape[0] * h_out * w_out * layer.out_channels * layer.in_channels * kernel[0] * kernel[1]


def step_profile(layer_types=("conv", "conv", "conv"), rank=4, *, batch=128, filters=64, steps=7,
                 warmup=1, dtype=numpy.float32, seed=0, tier="fast", matmul_gflops=None) -> dict:
    """Where one training step's time goes, layer by layer and pass by pass.

    The step of ``training_throughput`` (forward, softmax cross-entropy, backward, SGD with
    Nesterov momentum and weight decay) on the same random data, with the network's layers
    run one by one as ``Sequential`` runs them and the clock read around each layer's
    ``forward`` and ``backward``, the loss and the optimiser step. A BatchNorm2D + ReLU pair
    that the fast tier runs as one op is one row ("BatchNorm2D+ReLU", index "i-j"). ``warmup`` untimed steps,
    then ``steps`` timed ones; every figure is a median over the timed steps.
    matmul_gflops  the machine's matmul rate (``matmul_rate``), for each conv-shaped layer's
                   ``forward_pct`` / ``backward_pct``; None leaves them None
    -> dict with name, tier, batch, step_s (median of the whole steps), rows: one per layer
       (index (or "i-j" for a fused pair), layer (class name), shape "(C, H, W) -> (C, H, W)",
       forward_s, backward_s,
       forward_flops / backward_flops / *_gflops / *_pct for conv, LC and LRLC layers, else
       None), then "loss" and "optimizer" rows (forward_s only)
    """
    from .. import tiers

    with tiers.use_ops(tier):
        return _step_profile(layer_types, rank, batch, filters, steps, warmup, dtype, seed, tier, matmul_gflops)


def _step_profile(layer_types, rank, batch, filters, steps, warmup, dtype, seed, tier, matmul_gflops):
    from ..layers import SoftmaxCrossEntropy
    from ..models import build_network
    from ..optim import SGD

    xp = _xp()
    rng = numpy.random.default_rng(seed)
    model = build_network(tuple(layer_types), filters=filters, rank=rank, rng=rng, dtype=dtype)
    optimizer = SGD(model.params, lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4,
                    decay=model.decay_names())
    loss_fn = SoftmaxCrossEntropy()
    x = xp.asarray(rng.uniform(-1.0, 1.0, (batch, 1, 28, 28)).astype(dtype))
    labels = xp.asarray(rng.integers(0, 10, size=batch))
    units = model.units()                  # what Sequential runs: a layer, or a pair the tier fuses
    clock = time.perf_counter

    def timed(call, *args):
        start = clock()
        out = call(*args)
        _sync(xp)
        return out, clock() - start

    def step():
        times, h, shapes = {}, x, []
        for u, unit in enumerate(units):
            shapes.append(h.shape)
            h, times[u, "forward"] = timed(unit.forward, h, True)
        shapes.append(h.shape)
        (_, d), times["loss"] = timed(lambda: (loss_fn.forward(h, labels), loss_fn.backward()))
        for u in reversed(range(len(units))):
            d, times[u, "backward"] = timed(units[u].backward, d)
        _, times["optimizer"] = timed(optimizer.step, model.grads)
        return times, shapes

    for _ in range(warmup):
        step()
    records, totals = [], []
    for _ in range(steps):
        (times, shapes), total = timed(step)
        totals.append(total)
        records.append(times)
    rows = [_profile_row(model.layers, unit, shapes[u], shapes[u + 1], records, u, matmul_gflops)
            for u, unit in enumerate(units)]
    for key in ("loss", "optimizer"):
        rows.append(dict(index=None, layer=key, shape="", forward_s=statistics.median(r[key] for r in records),
                         backward_s=None, forward_flops=None, backward_flops=None, forward_gflops=None,
                         backward_gflops=None, forward_pct=None, backward_pct=None))
    name = ",".join(f"lrlc K={rank}" if t == "lrlc" else t for t in layer_types)
    return dict(name=name, tier=tier, batch=batch, filters=filters, steps=steps,
                step_s=statistics.median(totals), rows=rows)


def _profile_row(layers, unit, in_shape, out_shape, records, u, matmul_gflops):
    """One unit's row of the step profile: its layers, shapes, median times and rates."""
    parts = getattr(unit, "parts", (unit,))          # a fused pair, or one layer
    first = next(i for i, layer in enumerate(layers) if layer is parts[0])
    fwd = statistics.median(r[u, "forward"] for r in records)
    bwd = statistics.median(r[u, "backward"] for r in records)
    flops = _layer_flops_of(parts[0], in_shape)
    row = dict(index=first if len(parts) == 1 else f"{first}-{first + len(parts) - 1}",
               layer="+".join(type(layer).__name__ for layer in parts),
               shape=f"{format_shape(in_shape[1:])} -> {format_shape(out_shape[1:])}",
               forward_s=fwd, backward_s=bwd, forward_flops=flops,
               backward_flops=None if flops is None else 2 * flops)
    for key, seconds in (("forward", fwd), ("backward", bwd)):
        rate = None if flops is None else _gflops(row[f"{key}_flops"], seconds)
        row[f"{key}_gflops"] = rate
        row[f"{key}_pct"] = _percent(rate, matmul_gflops)
    return row


# --------------------------------------------------------------------------- the run

def run_benchmark(settings=None, log=None) -> dict:
    """Run every measurement; returns one JSON-ready dict.

    settings  a dict like ``FULL`` / ``QUICK`` (see ``make_settings``); keys left out, or
              None, take FULL's values
    log       optional callable taking a progress line (e.g. ``print`` to stderr)
    -> {"settings", "machine" (with "matmul"), "layers", "reference", "training", "profile",
        "notes", "elapsed_s"}. ``settings["profile_only"]`` (``lrlc bench --profile``) skips
        the layers, the reference and the training rows (left empty): the matmul rate and
        the step profiles only. Layer and training rows come once per tier in ``settings["tiers"]``,
        each with its "tier". Each layer row adds forward_pct / backward_pct (its GFLOP/s as
        a percentage of the matmul rate) and relative_to_conv (its total time over the same
        tier's conv).
    """
    s = make_settings()
    s.update(settings or {})                       # a partial dict keeps FULL's other values
    say = log or (lambda line: None)
    started = time.perf_counter()
    dtype = numpy.float32

    say("machine: BLAS and matmul rate")
    machine = machine_info()
    machine["matmul"] = matmul_rate(s["matmul_n"], max(s["repeats"], 5), s["warmup_s"], dtype)
    peak = machine["matmul"]["gflops"]

    shape = dict(batch=s["batch"], channels=s["channels"], size=s["size"], kernel=s["kernel"],
                 repeats=s["repeats"], warmup=s["warmup"], dtype=dtype)
    only_profile = bool(s["profile_only"])
    layer_rows = []
    for tier in [] if only_profile else s["tiers"]:
        rows = []
        for kind, rank in [("conv", None), ("lc", None)] + [("lrlc", k) for k in s["ranks"]]:
            say(f"layer ({tier} tier): {kind}" + (f" K={rank}" if rank else ""))
            rows.append(time_layer(kind, rank, tier=tier, **shape))
        for row in rows:
            row["forward_pct"] = _percent(row["forward_gflops"], peak)
            row["backward_pct"] = _percent(row["backward_gflops"], peak)
            row["relative_to_conv"] = row["total_s"] / rows[0]["total_s"]
        layer_rows += rows

    ref_shape = dict(batch=s["reference_batch"], channels=s["reference_channels"],
                     size=s["reference_size"], kernel=s["kernel"], rank=s["reference_rank"],
                     repeats=s["reference_repeats"])
    reference_rows = []
    for kind in () if only_profile else ("conv", "lc", "lrlc"):
        say(f"reference vs vectorised: {kind}")
        reference_rows.append(time_reference(kind, tiers=s["tiers"], **ref_shape))

    position = s["train_position"]
    lrlc_types = ["conv"] * 3
    lrlc_types[position - 1] = "lrlc"
    training_rows, profile_rows = [], []
    for tier in [] if only_profile else s["tiers"]:
        for types, dependent in ((["conv"] * 3, False), (lrlc_types, False), (lrlc_types, True)):
            say(f"training ({tier} tier): {','.join(types)}" + (" (input-dependent)" if dependent else ""))
            training_rows.append(training_throughput(
                types, s["train_rank"], batch=s["train_batch"], filters=s["train_filters"],
                steps=s["repeats"], warmup=s["warmup"], dtype=dtype, input_dependent=dependent, tier=tier))
    for tier in s["tiers"]:
        for types in (["conv"] * 3, lrlc_types):
            say(f"step profile ({tier} tier): {','.join(types)}")
            profile_rows.append(step_profile(
                types, s["train_rank"], batch=s["train_batch"], filters=s["train_filters"],
                steps=s["repeats"], warmup=s["warmup"], dtype=dtype, tier=tier, matmul_gflops=peak))
    return dict(settings=s, machine=machine, layers=layer_rows, reference=reference_rows,
                training=training_rows, profile=profile_rows, notes=dict(NOTES),
                elapsed_s=time.perf_counter() - started)


