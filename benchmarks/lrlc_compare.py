"""lrlc_np's side of pytorch_compare.py: the same measurements, the same keys.

Run each side in its own process and alternate them (``rounds.sh`` does this, and can add an
older version of lrlc_np to every round):

    python benchmarks/lrlc_compare.py            # one line per measurement
    python benchmarks/lrlc_compare.py --json out.json

What is timed, on the fast tier, float32, medians after warm-up (``lrlc_np.bench``):

- conv, LC and LRLC K=4 forward + backward at the paper's layer, batch 64, 64 -> 64
  channels, 24x24, 3x3 valid (``bench.time_layer``), and conv's share of the float32
  1024^3 matmul rate measured in the same process (``bench.matmul_rate``)
- training images/s of the paper's network at batch 128, all conv and with LRLC K=4 in
  place of the third convolution, and the peak memory of one step
  (``bench.training_throughput``)

The lrlc_np that is imported is the one on ``sys.path``: set PYTHONPATH to a checkout
(``git archive``) of another version to time that one.
"""

from __future__ import annotations

import argparse

import lrlc_np
from lrlc_np import bench

from _report import report      # benchmarks/_report.py, beside this script


def measure(repeats: int) -> dict:
    """The numbers of one round, keyed like ``pytorch_compare.py``'s."""
    out = dict(lrlc_np=lrlc_np.__version__)
    matmul = bench.matmul_rate()["gflops"]
    for key, kind, rank in (("conv", "conv", None), ("lc", "lc", None), ("lrlc4", "lrlc", 4)):
        row = bench.time_layer(kind, rank, repeats=repeats)
        out[f"{key}_ms"] = row["total_s"] * 1e3
        if kind == "conv":
            flops = row["forward_flops"] + row["backward_flops"]
            out["conv_pct_mm"] = 100 * flops / row["total_s"] / 1e9 / matmul
    for key, types in (("train_conv", ("conv", "conv", "conv")), ("train_lrlc4", ("conv", "conv", "lrlc"))):
        row = bench.training_throughput(types, steps=repeats)
        out[f"{key}_img_s"] = row["images_per_s"]
        out[f"{key}_peak_mb"] = row["peak_traced_mb"]
    out["matmul_gflops"] = matmul
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per measurement (default: 7)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the numbers to FILE")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats: expected a positive integer, got {args.repeats}")
    out = measure(args.repeats)
    report(out, args.json)


if __name__ == "__main__":
    main()
