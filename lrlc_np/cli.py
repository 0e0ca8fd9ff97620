"""The ``lrlc`` command line (also ``python -m lrlc_np``).

    lrlc gradcheck     check every hand-derived backward pass against finite differences
"""

from __future__ import annotations

import argparse
import sys

import numpy

from . import __version__


# --------------------------------------------------------------------------- gradcheck

def gradcheck_cases(rng):
    """The (label, layer, input, kwargs) cases that ``lrlc gradcheck`` runs, all float64.

    Shapes are small (the numerical gradient costs two forward passes per number) but not
    square, and use stride and padding, so a swapped axis or a missed offset shows up.
    """
    from . import layers as L

    f64 = numpy.float64
    x = rng.standard_normal((2, 3, 7, 6))                       # (N, C_in, H, W)
    geom = dict(kernel_size=(3, 2), stride=(2, 1), padding=1)   # -> H_out, W_out = 4, 7
    yield "Conv2D", L.Conv2D(3, 4, **geom, rng=rng, dtype=f64), x, {}
    yield "LocallyConnected2D", L.LocallyConnected2D(3, 4, input_size=(7, 6), **geom, rng=rng, dtype=f64), x, {}
    for combining in ("row_col", "row", "col", "full"):
        for normalize in ("softmax", "norm", "none"):
            layer = L.LowRankLocallyConnected2D(
                3, 4, input_size=(7, 6), rank=3, combining=combining, normalize=normalize,
                init="random", **geom, rng=rng, dtype=f64)
            _randomise_biases(layer, rng)
            yield f"LRLC K=3 {combining}/{normalize}", layer, x, {}
    for method in ("conv", "lc"):
        layer = L.LowRankLocallyConnected2D(3, 4, input_size=(7, 6), rank=2, init="random",
                                           method=method, **geom, rng=rng, dtype=f64)
        _randomise_biases(layer, rng)
        yield f"LRLC K=2 row_col/softmax via {method}", layer, x, {}
    yield "Dense", L.Dense(5, 3, rng=rng, dtype=f64), rng.standard_normal((4, 5)), {}
    away_from_zero = rng.standard_normal((2, 3, 4, 5))
    away_from_zero += numpy.where(away_from_zero >= 0, 0.1, -0.1)  # ReLU has a kink at 0
    yield "ReLU", L.ReLU(), away_from_zero, {}
    bn = L.BatchNorm2D(3, dtype=f64)
    bn.params["weight"][:] = rng.uniform(0.5, 1.5, 3)
    bn.params["bias"][:] = rng.standard_normal(3)
    yield "BatchNorm2D (training)", bn, x, {"training": True}
    bn_eval = L.BatchNorm2D(3, dtype=f64)
    bn_eval.buffers["running_mean"][:] = rng.standard_normal(3)
    bn_eval.buffers["running_var"][:] = rng.uniform(0.5, 2.0, 3)
    yield "BatchNorm2D (evaluation)", bn_eval, x, {"training": False}
    yield "GlobalAvgPool2D", L.GlobalAvgPool2D(), x, {}
    yield "Flatten", L.Flatten(), x, {}


def _randomise_biases(layer, rng):
    """Non-zero biases, so that their gradients and broadcasting are actually exercised."""
    for name, value in layer.params.items():
        if "bias" in name:
            value[...] = rng.standard_normal(value.shape)


def _shape(shape):
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def run_gradcheck(args) -> int:
    from .gradcheck import check_loss, check_layer, layer_gradients, relative_error
    from .layers import SoftmaxCrossEntropy

    rng = numpy.random.default_rng(args.seed)
    tol = args.tolerance
    print(f"lrlc gradcheck: hand-derived backward passes vs centred finite differences")
    print(f"float64, eps {args.eps:g}, random upstream gradient, seed {args.seed}")
    print("relative error = max|analytic - numeric| / max(max|analytic|, max|numeric|, 1e-2)")
    print(f"pass when relative error <= {tol:g}\n")
    header = f"{'layer':<36} {'parameter':<13} {'shape':<20} {'rel. error':>10}  result"
    print(header)
    print("-" * len(header))
    rows = []
    for label, layer, x, kwargs in gradcheck_cases(rng):
        grads = layer_gradients(layer, x, rng=rng, eps=args.eps, **kwargs)
        for name, (analytic, numeric) in grads.items():
            rows.append((label, name, analytic.shape, relative_error(analytic, numeric)))
    logits = rng.standard_normal((5, 4))
    labels = rng.integers(0, 4, size=5)
    rows.append(("SoftmaxCrossEntropy", "logits", logits.shape,
                 check_loss(SoftmaxCrossEntropy(), logits, labels, eps=args.eps)))
    failed = 0
    for label, name, shape, err in rows:
        ok = err <= tol
        failed += not ok
        print(f"{label:<36} {name:<13} {_shape(shape):<20} {err:>10.1e}  {'pass' if ok else 'FAIL'}")
    print("-" * len(header))
    if failed:
        print(f"{failed} of {len(rows)} gradients FAILED (relative error > {tol:g})")
        return 1
    print(f"all {len(rows)} gradients match (largest relative error {max(r[3] for r in rows):.1e})")
    return 0


# --------------------------------------------------------------------------- parser

def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrlc",
        description="Convolution, locally connected and low-rank locally connected layers "
                    "in NumPy (Elsayed et al., ICML 2020).",
    )
    parser.add_argument("--version", action="version", version=f"lrlc_np {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    gc = commands.add_parser(
        "gradcheck",
        help="check every layer's backward pass against finite differences",
        description="Check every layer type, combining mode and parameter: the hand-derived "
                    "gradient against centred finite differences on small random float64 "
                    "inputs. Prints a table; exits with status 1 if any check fails.",
    )
    gc.add_argument("--seed", type=_non_negative_int, default=0,
                    help="seed for the random layers, inputs and upstream gradients (default: 0)")
    gc.add_argument("--eps", type=_positive_float, default=1e-6,
                    help="finite-difference step (default: 1e-6)")
    gc.add_argument("--tolerance", type=_positive_float, default=1e-5,
                    help="largest relative error that passes (default: 1e-5)")
    gc.set_defaults(handler=run_gradcheck)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
