# %% [markdown]
# # 08 — The same code on a GPU, with CuPy
#
# Run top to bottom with `python tutorials/08_gpu_with_cupy.py` (seconds), cell by cell, or as
# a notebook. It builds on tutorial 05 (training). Without an NVIDIA
# GPU or without CuPy it still runs: every step happens on NumPy, and the tutorial says what
# it skipped and how to install CuPy (`pip install -e ".[gpu]"`, CUDA 12).
#
# Every array operation in `lrlc_np` goes through `lrlc_np.backend`: `xp` is the active
# array module, NumPy or CuPy, and an op asks its inputs which module they belong to
# (`xp = get_array_module(x)`), so the same function runs on whichever device its arrays
# live on. This tutorial switches the backend, moves arrays, times a layer on both, and
# shows what stays on the host.
#
# **In a course** this tutorial adds no exercise; in a student copy it runs on the
# student's own functions (or, for an unwritten exercise, on the loop definition that the
# first cell puts in its place), and `lrlc course grade` grades those functions, on NumPy.
#
# Layers run on the clear tier here (`lrlc_np.set_ops("clear")` below), so a debugger steps
# into the formulas of `lrlc_np.ops`; section 2 also times the fast tier, with
# `lrlc_np.use_ops("fast")`, where this copy has it (both tiers run on NumPy and on CuPy).

# %%
from lrlc_np import stand_ins

stand_ins.for_unwritten_exercises()     # a student copy: loop definitions stand in for unwritten exercises

import os
import time

import numpy as np

import lrlc_np
from lrlc_np import backend, get_ops
from lrlc_np.backend import BackendError, get_array_module, to_device, to_numpy
from lrlc_np.layers import LowRankLocallyConnected2D
from lrlc_np.ops import conv2d_forward

from lrlc_np.tiers import available

lrlc_np.set_ops("clear")
QUICK = os.environ.get("LRLC_NP_QUICK") == "1"
try:
    backend.set_backend("cupy")
    GPU = True
    backend.set_backend("numpy")
except BackendError as err:                       # no CuPy, no driver, no device: say which, carry on
    GPU = False
    print(f"No GPU here, so this tutorial runs every step on NumPy. The reason:\n  {err}\n")
print(f"active backend: {backend.get_backend()}; a GPU is {'available' if GPU else 'not available'}; "
      f"tier of ops: {get_ops()}")

# %% [markdown]
# ## 1. Switching the backend and moving arrays
#
# `set_backend("cupy")` makes CuPy the active module; layers built afterwards put their
# parameters on the GPU. `to_device(a)` copies a host array to the active backend,
# `to_numpy(a)` copies back to the host (NumPy arrays pass through). An op computes where its
# inputs are, whatever the active backend:

# %%
x_host = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
w_host = np.random.default_rng(1).standard_normal((4, 3, 3, 3)).astype(np.float32)
y_host, _ = conv2d_forward(x_host, w_host)
print("on the host:", type(y_host).__module__, y_host.shape)
if GPU:
    backend.set_backend("cupy")
    x_dev, w_dev = to_device(x_host), to_device(w_host)
    y_dev, _ = conv2d_forward(x_dev, w_dev)                 # the same function, on the GPU
    print("on the device:", type(y_dev).__module__, y_dev.shape, "computed with", get_array_module(y_dev).__name__)
    assert np.allclose(to_numpy(y_dev), y_host, rtol=1e-4, atol=1e-4)
    backend.set_backend("numpy")
else:
    print("skipped: the same call on CuPy arrays (needs a GPU)")
assert get_array_module(y_host) is np

# %% [markdown]
# ## 2. Timing a layer on the CPU and on the GPU
#
# GPU calls return before the work is done, so a timing must wait for the device
# (`synchronize`) before it reads the clock; a first call compiles kernels, so warm up
# first. The layer is the paper's third: LRLC K = 4, 64 -> 64 channels, 24x24 input, on
# each tier of ops this copy has (the clear tier at batch 8: its formulas are slow on a CPU).

# %%
def time_lrlc(batch, tier):
    with lrlc_np.use_ops(tier):
        return _time_lrlc(batch)


def _time_lrlc(batch):
    xp = backend.xp
    layer = LowRankLocallyConnected2D(64, 64, 3, 24, rank=4, rng=np.random.default_rng(0))
    x = to_device(np.random.default_rng(1).standard_normal((batch, 64, 24, 24)).astype(np.float32))
    y = layer(x)
    dy = xp.ones_like(y)
    layer.backward(dy)                                          # warm-up
    sync = xp.cuda.Device().synchronize if xp.__name__ == "cupy" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(3):
        layer(x)
        layer.backward(dy)
    sync()
    return (time.perf_counter() - start) / 3


print("LRLC K=4 forward + backward:")
for tier in available():                                        # ("clear", "fast"); a student copy: ("clear",)
    batch = 64 if tier == "fast" and not QUICK else 8           # the clear tier's formulas are slow on a CPU
    cpu_s = time_lrlc(batch, tier)
    print(f"  {tier} tier, batch {batch:2d}, NumPy: {1000 * cpu_s:7.1f} ms ({1000 * cpu_s / batch:5.1f} ms per image)")
    if GPU:
        backend.set_backend("cupy")
        gpu_s = time_lrlc(batch, tier)
        backend.set_backend("numpy")
        print(f"  {tier} tier, batch {batch:2d}, CuPy:  {1000 * gpu_s:7.1f} ms ({cpu_s / gpu_s:.0f}x the CPU)")
if not GPU:
    print("skipped: the CuPy timing (the README's `lrlc bench --backend cupy` on an NVIDIA H100: "
          "LRLC 4.4-4.9 ms for K = 1-8 at batch 64)")

# %% [markdown]
# ## 3. What stays on the host
#
# - **Data loading**: IDX files are read and batched as NumPy arrays; the trainer sends each
#   batch to the device with `to_device` just before the forward pass.
# - **Checkpoints, metrics and plots**: parameters come back with `to_numpy` before they are
#   saved or drawn (matplotlib and `numpy.savez` want host arrays).
# - **Randomness**: weights are drawn on the host from a `numpy.random.Generator`, then moved,
#   so the same seed gives the same network on either backend.
# - **The loop definitions** of `lrlc_np.reference` are plain NumPy: the oracle.
#
# On the command line, `--backend cupy` (or `LRLC_NP_BACKEND=cupy`) does all of this:
#
# ```bash
# lrlc gradcheck --backend cupy
# lrlc train --backend cupy --out runs/gpu
# ```

# %%
layer = LowRankLocallyConnected2D(2, 3, 3, 6, rank=2, rng=np.random.default_rng(0))
on_host = {name: to_numpy(p) for name, p in layer.params.items()}     # what a checkpoint saves
assert all(type(a) is np.ndarray for a in on_host.values())
print("a checkpoint holds host arrays:", ", ".join(f"{k} {v.shape}" for k, v in on_host.items()))

# %% [markdown]
# ## Exercises
#
# 1. On a GPU, time the layer at batch 8, 64 and 256. Where does the GPU stop getting faster
#    per image?
# 2. Time `method="conv"` against `method="lc"` on the GPU. Is the crossover at the same K as
#    on the CPU (`lrlc bench`)?
# 3. Why must `time_lrlc` call `synchronize()` before reading the clock?
# 4. Compare the two tiers' timings on the GPU with those on the CPU. Which of the fast
#    tier's changes (threads, NHWC memory, band-wise kernels) can still matter on a GPU?
