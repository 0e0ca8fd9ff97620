"""PyTorch (CPU) timings of the work that ``lrlc bench`` times, for a side-by-side comparison.

Standalone: needs PyTorch, which lrlc_np never imports or depends on. Run it in its own
process, never in the one that times lrlc_np (PyTorch's OpenMP threads spin after each op
and slow whatever else runs in that process), and alternate the two commands:

    python benchmarks/pytorch_compare.py            # prints one line per measurement
    python benchmarks/pytorch_compare.py --json out.json

What is timed (float32, medians after warm-up, ``time.perf_counter``):

- conv layer: ``nn.Conv2d(64, 64, 3)`` with bias, forward + backward, batch 64, 24x24 input
- LC layer: PyTorch has none; the usual formulation is ``F.unfold`` (im2col) and one
  ``einsum`` with a weight per output position, plus a per-position bias
- LRLC K=4: one convolution with K*C_out filters, then a per-position ``einsum`` mix over K
  with softmax(row + col logits) combining weights, plus channel and spatial biases
- training steps of the paper's network at batch 128 (three 3x3 layers with 64 filters,
  BatchNorm, ReLU, global average pooling, a dense layer; SGD with Nesterov momentum 0.9 and
  weight decay 5e-4), all conv, and with LRLC K=4 in place of the third convolution
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from _report import report      # benchmarks/_report.py, beside this script


def median_ms(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


class LocallyConnected(nn.Module):
    """unfold + einsum: weight (L, C_out, C_in*kh*kw), one filter bank per output position."""

    def __init__(self, c_in, c_out, k, size):
        super().__init__()
        self.k, self.out = k, size - k + 1
        positions = self.out * self.out
        bound = (6 / (c_in * k * k)) ** 0.5
        self.weight = nn.Parameter(torch.empty(positions, c_out, c_in * k * k).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(c_out, self.out, self.out))

    def forward(self, x):
        cols = F.unfold(x, self.k)                                   # (N, C_in*k*k, L)
        y = torch.einsum("ncl,loc->nol", cols, self.weight)
        return y.reshape(x.shape[0], -1, self.out, self.out) + self.bias


class LowRankLocallyConnected(nn.Module):
    """K*C_out convolution, then sum_k alpha[k, i, j] * y_k[:, :, i, j]; row_col softmax logits."""

    def __init__(self, c_in, c_out, k, size, rank, bias=True):
        super().__init__()
        self.rank, self.c_out, self.out = rank, c_out, size - k + 1
        self.conv = nn.Conv2d(c_in, rank * c_out, k, bias=False)
        self.row_logits = nn.Parameter(torch.zeros(rank, self.out))
        self.col_logits = nn.Parameter(torch.zeros(rank, self.out))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.row_bias = nn.Parameter(torch.zeros(self.out))
        self.col_bias = nn.Parameter(torch.zeros(self.out))

    def forward(self, x):
        alpha = torch.softmax(self.row_logits[:, :, None] + self.col_logits[:, None, :], dim=0)
        y = self.conv(x).reshape(x.shape[0], self.rank, self.c_out, self.out, self.out)
        y = torch.einsum("nkoij,kij->noij", y, alpha)
        y = y + (self.row_bias[:, None] + self.col_bias[None, :])
        if self.bias is not None:
            y = y + self.bias[:, None, None]
        return y


def layer_ms(layer, x, repeats):
    """forward + backward, with dx (x requires grad), as the lrlc_np layers compute it."""
    x = x.detach().requires_grad_(True)
    dy = torch.randn_like(layer(x))

    def step():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        layer(x).backward(dy)

    return median_ms(step, repeats)


def network(lrlc_at=None, rank=4, filters=64):
    layers, c, size = [], 1, 28
    for position in (1, 2, 3):
        if position == lrlc_at:
            layers.append(LowRankLocallyConnected(c, filters, 3, size, rank, bias=False))
        else:
            layers.append(nn.Conv2d(c, filters, 3, bias=False))
        layers += [nn.BatchNorm2d(filters), nn.ReLU()]
        c, size = filters, size - 2
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(filters, 10)]
    return nn.Sequential(*layers)


def images_per_s(model, batch, repeats):
    torch.manual_seed(0)
    x = torch.rand(batch, 1, 28, 28) * 2 - 1
    labels = torch.randint(0, 10, (batch,))
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    rest = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": rest, "weight_decay": 0}],
                          lr=0.01, momentum=0.9, nesterov=True)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), labels).backward()
        opt.step()

    return batch / (median_ms(step, repeats) / 1000)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", default=None)
    parser.add_argument("--only", choices=("layers", "training"), default=None)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    out = dict(torch=torch.__version__, threads=torch.get_num_threads())
    if args.only != "training":
        x = torch.randn(64, 64, 24, 24)
        out["conv_ms"] = layer_ms(nn.Conv2d(64, 64, 3), x, args.repeats)
        out["lc_ms"] = layer_ms(LocallyConnected(64, 64, 3, 24), x, args.repeats)
        out["lrlc4_ms"] = layer_ms(LowRankLocallyConnected(64, 64, 3, 24, 4), x, args.repeats)
    if args.only != "layers":
        out["train_conv_img_s"] = images_per_s(network(), 128, args.repeats)
        out["train_lrlc4_img_s"] = images_per_s(network(lrlc_at=3), 128, args.repeats)
    report(out, args.json)


if __name__ == "__main__":
    main()
