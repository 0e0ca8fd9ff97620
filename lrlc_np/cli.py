"""The ``lrlc`` command line (also ``python -m lrlc_np``): argument parsing and printing only.

    lrlc gradcheck     check every hand-derived backward pass against finite differences
    lrlc train         train the paper's network on MNIST (or Fashion-MNIST, or the bundled sample)
    lrlc compare       conv, wide conv, LC and LRLC at one layer position, over several seeds
    lrlc download      fetch and verify a data set
    lrlc digits        draw the first images of a data set (translated MNIST, for instance)
    lrlc bench         time the layers and the network, both tiers of ops, against the matmul rate
    lrlc course        make a student copy with exercises to write, and grade one
    lrlc tutorials     list the tutorials, or turn them into executed notebooks
    lrlc docs          build the documentation site (tutorials, API reference, guides) into a folder

The work lives in the library: ``gradcheck_cases``, ``train``, ``compare``, ``data``, ``bench``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy

from . import __version__
from .data.translated import dataset_names
from .options import BACKENDS, COMBININGS, LC_INITS, NORMALIZATIONS, SCHEDULES, TIERS


# --------------------------------------------------------------------------- gradcheck

def _shape(shape):
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def run_gradcheck(args) -> int:
    from .backend import get_backend, to_device
    from .gradcheck import check_loss, layer_gradients, relative_error
    from .gradcheck_cases import gradcheck_cases
    from .layers import SoftmaxCrossEntropy
    from .tiers import get_ops

    rng = numpy.random.default_rng(args.seed)
    tol = args.tolerance
    print("lrlc gradcheck: hand-derived backward passes vs centred finite differences")
    print(f"float64, eps {args.eps:g}, random upstream gradient, seed {args.seed}, backend {get_backend()}, "
          f"{get_ops()} tier of ops")
    print("relative error = max|analytic - numeric| / max(max|analytic|, max|numeric|, 1e-2)")
    print(f"pass when relative error <= {tol:g}\n")
    header = f"{'layer':<36} {'parameter':<24} {'shape':<20} {'rel. error':>10}  result"
    print(header)
    print("-" * len(header))
    rows = []
    for label, layer, x, kwargs in gradcheck_cases(rng):
        grads = layer_gradients(layer, x, rng=rng, eps=args.eps, **kwargs)
        for name, (analytic, numeric) in grads.items():
            rows.append((label, name, analytic.shape, relative_error(analytic, numeric)))
    logits = to_device(rng.standard_normal((5, 4)))
    labels = to_device(rng.integers(0, 4, size=5))
    rows.append(("SoftmaxCrossEntropy", "logits", logits.shape,
                 check_loss(SoftmaxCrossEntropy(), logits, labels, eps=args.eps)))
    failed = 0
    for label, name, shape, err in rows:
        ok = err <= tol
        failed += not ok
        print(f"{label:<36} {name:<24} {_shape(shape):<20} {err:>10.1e}  {'pass' if ok else 'FAIL'}")
    print("-" * len(header))
    if failed:
        print(f"{failed} of {len(rows)} gradients FAILED (relative error > {tol:g})")
        return 1
    print(f"all {len(rows)} gradients match (largest relative error {max(r[3] for r in rows):.1e})")
    return 0


# --------------------------------------------------------------------------- train

def _fail(command, message) -> int:
    print(f"lrlc {command}: error: {message}", file=sys.stderr)
    return 1


def _resolve_combining(args, command):
    """--combining defaults to row_col, or full with --input-dependent; None when they conflict
    (after printing the error)."""
    from .options import resolve_combining

    try:
        return resolve_combining(args.combining, args.input_dependent, command)
    except ValueError:        # the rule, said in the command's own words
        _fail(command, f"--input-dependent computes a logit for every position, so it needs "
                       f"--combining full, got --combining {args.combining}")
        return None


#: ``lrlc train`` flag -> TrainConfig field (the flags that describe the run)
TRAIN_SETTINGS = {
    "layers": "layers", "rank": "rank", "filters": "filters", "combining": "combining",
    "normalize": "normalize", "coord_conv": "coord_conv", "input_dependent": "input_dependent",
    "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "momentum": "momentum",
    "nesterov": "nesterov", "weight_decay": "weight_decay", "schedule": "schedule",
    "warmup_epochs": "warmup_epochs", "seed": "seed", "dataset": "dataset", "data_dir": "data_dir",
    "limit_train": "limit_train", "canvas": "canvas", "lc_init": "lc_init",
}


def _train_config(args, combining):
    from .train import TrainConfig

    values = {field: getattr(args, flag) for flag, field in TRAIN_SETTINGS.items()}
    values.update(layers=tuple(args.layers), combining=combining)
    return TrainConfig(**values)


def _resume_config(args):
    """The saved settings of ``--out`` with the flags given on this command line on top."""
    import dataclasses

    from .train import read_config

    saved, _ = read_config(args.out)
    given = {field: getattr(args, flag) for flag, field in TRAIN_SETTINGS.items() if flag in args.given}
    if "layers" in given:
        given["layers"] = tuple(given["layers"])
    if "combining" in given or "input_dependent" in given:
        from .options import resolve_combining

        given["combining"] = resolve_combining(given.get("combining", saved.combining),
                                               given.get("input_dependent", saved.input_dependent), "train")
    return dataclasses.replace(saved, **given)


def run_train(args) -> int:
    from .data import DataError, load_dataset
    from .plots import plot_run
    from .train import CONFIG, RunError, TrainingDiverged, describe, read_config, train

    if args.resume and args.overwrite:
        return _fail("train", "--resume continues the run in --out and --overwrite starts it again: give one")
    try:
        if args.resume:
            config = _resume_config(args)
        else:
            combining = _resolve_combining(args, "train")
            if combining is None:
                return 1
            if args.input_dependent and "lrlc" not in args.layers:
                return _fail("train", f"--input-dependent changes LRLC layers, but --layers "
                                      f"{','.join(args.layers)} has none; add one, e.g. --layers conv,conv,lrlc")
            config = _train_config(args, combining)
    except FileNotFoundError:
        return _fail("train", f"{args.out}: nothing to resume (no {CONFIG}); start a run there without --resume")
    except (RunError, ValueError) as err:
        return _fail("train", err)
    try:
        history, model = train(config, args.out, resume=args.resume, overwrite=args.overwrite,
                               progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {describe(args.out, config.epochs)}; continue with: "
              f"lrlc train --out {args.out} --resume", file=sys.stderr)
        return 130
    except (DataError, FileExistsError, FileNotFoundError, TrainingDiverged, ValueError) as err:
        return _fail("train", err)
    except NotImplementedError as err:                # a student copy with exercises still to write
        return _fail("train", f"{err} (this op is an exercise still to write; lrlc course grade lists them)")
    if history:
        examples = None
        if any(getattr(layer, "input_dependent", False) for layer in model.layers):
            saved, _ = read_config(args.out)                                  # also on --resume
            try:
                examples = load_dataset("test", saved.dataset, saved.data_dir, saved.canvas)
            except DataError as err:
                return _fail("train", err)
        paths = plot_run(model, history, args.out, examples=examples)
        last = history[-1]
        print(f"final test accuracy {100 * last['test_acc']:.2f}% (validation {100 * last['val_acc']:.2f}%)")
        print(f"wrote {args.out}/metrics.jsonl, checkpoint.npz, " + ", ".join(p.name for p in paths))
    return 0


def run_compare(args) -> int:
    from .compare import (COMPARE_DEFAULTS, QUICK, SUMMARY_FILES, SWEEP_FILES, ComparisonInterrupted,
                          run_comparison, run_sweep)
    from .data import DataError
    from .train import TrainConfig, TrainingDiverged

    # Flags left out are None here: fill them from the quick or the normal defaults.
    for key in QUICK:
        if getattr(args, key) is None:
            setattr(args, key, (QUICK if args.quick else COMPARE_DEFAULTS)[key])
    base = TrainConfig(   # --combining is for the fixed LRLC rows; input-dependent rows use full
        layers=("conv",) * args.num_layers, filters=args.filters, combining=args.combining or "row_col",
        normalize=args.normalize, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov,
        weight_decay=args.weight_decay, schedule=args.schedule, warmup_epochs=args.warmup_epochs,
        dataset=args.dataset, canvas=args.canvas, data_dir=args.data_dir, limit_train=args.limit_train)
    sweep = args.positions is not None
    progress = not args.no_progress and args.jobs == 1
    try:
        if sweep:
            run_sweep(base, args.out, args.positions, args.ranks, args.seeds, progress=progress, jobs=args.jobs,
                      overwrite=args.overwrite)
        else:
            dependent = args.input_dependent
            run_comparison(base, args.out, args.position, args.ranks, args.seeds,
                           wide_rank=args.wide_rank, progress=progress, jobs=args.jobs,
                           input_dependent=True if dependent == "all" else (dependent or False),
                           overwrite=args.overwrite, coord_conv=args.coord_conv,
                           lc_inits=("he", "keras") if args.lc_init == "both" else (args.lc_init,))
    except ComparisonInterrupted as err:
        print(f"\n{err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:           # before any run started
        print(f"\ninterrupted before any run started; nothing in {args.out} changed", file=sys.stderr)
        return 130
    except (DataError, RuntimeError, TrainingDiverged, ValueError) as err:
        return _fail("compare", err)
    summary = "sweep.md" if sweep else "results.md"
    print((Path(args.out) / summary).read_text())
    written = SWEEP_FILES if sweep else SUMMARY_FILES
    print(f"wrote {args.out}/" + ", ".join(written))
    return 0


def run_digits(args) -> int:
    from .data import DataError, load_dataset
    from .plots import plot_digits

    if not args.out.endswith(".png"):
        return _fail("digits", f"expected --out to name a .png file, got {args.out!r}")
    try:
        images, labels = load_dataset(args.split, args.dataset, args.data_dir, args.canvas)
    except DataError as err:
        return _fail("digits", err)
    size = f", {images.shape[1]}x{images.shape[2]}"
    path = plot_digits(images[: args.count], labels[: args.count], args.out,
                       title=f"{args.dataset}{size}: the first {min(args.count, len(labels))} {args.split} images")
    print(f"wrote {path}")
    return 0


def run_download(args) -> int:
    from .data import DataError, download

    try:
        folder = download(args.dataset, data_dir=args.data_dir, progress=not args.no_progress)
    except DataError as err:
        return _fail("download", err)
    print(f"{args.dataset}: verified files in {folder}")
    return 0


def run_bench(args) -> int:
    from . import bench

    settings = bench.make_settings(quick=args.quick, repeats=args.repeats, batch=args.batch,
                                   train_batch=args.train_batch, profile_only=args.profile or None,
                                   tiers=bench.FULL["tiers"] if args.ops == "both" else [args.ops])
    if args.json and not Path(args.json).resolve().parent.is_dir():   # fail before minutes of timing
        return _fail("bench", f"cannot write {args.json}: no folder {Path(args.json).parent}")
    log = None if args.no_progress else (lambda line: print(f"bench: {line}", file=sys.stderr, flush=True))
    result = bench.run_benchmark(settings, log=log)
    print(bench.format_report(result))
    if args.json:
        try:
            bench.write_json(result, args.json)
        except (OSError, ValueError) as err:
            return _fail("bench", f"could not write {args.json}: {err}")
        print(f"wrote {args.json}")
    return 0


def run_course_make_student(args) -> int:
    from .course.student import StudentCopyError, make_student_copy

    try:
        made = make_student_copy(args.dest, exercises=args.exercises, overwrite=args.overwrite)
    except StudentCopyError as err:
        return _fail("course make-student", err)
    print(f"wrote a student copy to {made['dest']}: {len(made['exercises'])} exercises to write "
          f"({', '.join(made['exercises'])})" + (f"; solutions kept for {', '.join(made['kept'])}" if made["kept"] else ""))
    print(f"the handout record is {Path(made['dest']) / 'lrlc-handout.json'}: keep a copy, and grade with "
          f"lrlc course grade SUBMISSION --handout <that file>")
    print(f"the student installs it with: cd {made['dest']} && pip install -e \".[test]\"; and checks it with: pytest")
    return 0


def _grading_options(args):
    return {"timeout": args.timeout, "memory_mb": args.memory, "sandbox_on": not args.no_sandbox,
            "speed": args.speed_check, "speed_limit": args.speed_limit, "seed": args.seed}


def _writable_file(path, command):
    """None if ``path`` can be written (its folder exists), else the error's exit status."""
    if path and not Path(path).resolve().parent.is_dir():
        return _fail(command, f"cannot write {path}: no folder {Path(path).parent}")
    return None


def run_course_grade(args) -> int:
    import json

    from ._atomic import atomic_write
    from .course.grader import GradeError, format_table, grade, gradescope
    from .course.sandbox import describe

    failed = _writable_file(args.json, "course grade")
    if failed is not None:
        return failed
    if args.format == "gradescope" and not args.json:
        return _fail("course grade", "--format gradescope writes results.json: give its path with --json FILE")
    print(f"grade: {describe(not args.no_sandbox)}", file=sys.stderr)
    progress = None if args.no_progress else (
        lambda row: print(f"grade: {row['name']}: {row['status']}", file=sys.stderr, flush=True))
    try:
        result = grade(args.path, exercises=args.exercises, handout=args.handout, progress=progress,
                       **_grading_options(args))
    except (GradeError, OSError) as err:
        return _fail("course grade", err)
    print(format_table(result))
    if args.json:
        content = gradescope(result) if args.format == "gradescope" else result
        with atomic_write(args.json, "w") as f:     # after every graded process is gone
            f.write(json.dumps(content, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0                                          # grading ran, whatever the score


def run_course_grade_all(args) -> int:
    from .course.classroom import grade_all
    from .course.grader import GradeError
    from .course.sandbox import describe

    failed = _writable_file(args.csv, "course grade-all")
    if failed is not None:
        return failed
    print(f"grade-all: {describe(not args.no_sandbox)}", file=sys.stderr)
    progress = None if args.no_progress else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        rows = grade_all(args.submissions, args.csv, results_dir=args.results, jobs=args.jobs, regrade=args.regrade,
                         exercises=args.exercises, handout=args.handout, progress=progress, **_grading_options(args))
    except (GradeError, OSError) as err:
        return _fail("course grade-all", err)
    except KeyboardInterrupt:
        print(f"grade-all: interrupted; the students graded so far are in {args.csv} (run again to go on)",
              file=sys.stderr)
        return 130
    print(f"wrote {args.csv}: {len(rows)} students")
    return 0


def run_course_autograder(args) -> int:
    from .course.catalogue import EXERCISES
    from .course.gradescope import make_autograder
    from .course.handout import HandoutError, read
    from .course.student import StudentCopyError

    try:
        exercises = args.exercises or (list(read(args.handout).exercises) if args.handout else list(EXERCISES))
        made = make_autograder(args.dest, exercises)
    except (StudentCopyError, HandoutError, OSError) as err:
        return _fail("course autograder", err)
    print(f"wrote {made['dest']} ({len(made['files'])} files): upload it as the autograder of a Gradescope "
          f"programming assignment; it grades {', '.join(made['exercises'])}")
    return 0


def run_tutorials(args) -> int:
    from .notebooks import NotebookError, make_notebooks, tutorial_scripts

    try:
        scripts = tutorial_scripts()
        if not args.notebooks:
            for script in scripts:
                print(script)
            print("run one with python, cell by cell in an editor, or as notebooks: lrlc tutorials --notebooks DEST")
            return 0
        log = None if args.no_progress else (lambda name: print(f"tutorials: {name}", file=sys.stderr, flush=True))
        paths = make_notebooks(args.notebooks, scripts, execute=not args.no_execute, quick=args.quick,
                               timeout=args.timeout, progress=log)
    except NotebookError as err:
        return _fail("tutorials", err)
    print(f"wrote {len(paths)} notebooks to {args.notebooks}" + ("" if args.no_execute else ", with their outputs"))
    return 0


def run_docs(args) -> int:
    from .docsite import DocsError, build_site

    log = None if args.no_progress else (lambda line: print(f"docs: {line}", file=sys.stderr, flush=True))
    try:
        site = build_site(args.dest, quick=args.quick, timeout=args.timeout, progress=log,
                          keep_sources=args.keep_sources)
    except DocsError as err:
        return _fail("docs", err)
    print(f"wrote {len(site['pages'])} pages ({site['bytes'] / 1e6:.1f} MB) to {site['dest']} in "
          f"{site['seconds']:.0f} s{' (quick mode)' if site['quick'] else ''}; open "
          f"{site['dest'] / 'index.html'} in a browser")
    return 0


def _exercise_list(text):
    from .course.catalogue import EXERCISES

    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in EXERCISES]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(EXERCISES)}, got {text!r}")
    return names


# --------------------------------------------------------------------------- parser

def _number(convert, minimum, strict, what):
    """An argparse ``type`` that parses a number and checks its lower bound."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        too_small = value <= minimum if strict else value < minimum
        if too_small or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


_positive_int = _number(int, 1, False, "an integer >= 1")
_non_negative_int = _number(int, 0, False, "an integer >= 0")
_positive_float = _number(float, 0.0, True, "a number > 0")
_non_negative_float = _number(float, 0.0, False, "a number >= 0")


def _momentum(text):
    value = _non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1) (at 1 or more the velocity "
                                         f"never decays), got {text!r}")
    return value


def _int_list(text):
    try:
        values = [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 0, got {text!r}")
    return values


def _rank_list(text):
    values = _int_list(text)
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected ranks >= 1, got {text!r}")
    return values


def _canvas(text):
    value = _positive_int(text)
    if value < 28:
        raise argparse.ArgumentTypeError(f"expected an image side >= 28 (the digits are 28x28), got {text!r}")
    return value


def _input_dependent_ranks(text):
    return "all" if text == "all" else _rank_list(text)


def _positions(text):
    return _rank_list(text)


def _layer_list(text):
    from .options import LAYER_TYPES

    kinds = [t.strip() for t in text.split(",")]
    bad = [t for t in kinds if t not in LAYER_TYPES]
    if not kinds or bad:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(LAYER_TYPES)}, got {text!r}")
    return kinds


def _add_model_flags(p):
    p.add_argument("--filters", type=_positive_int, default=64, help="filters per layer (default: 64)")
    p.add_argument("--combining", choices=COMBININGS, default=None,
                   help="how the combining weights of (fixed) LRLC layers vary over positions "
                        "(default: row_col; input-dependent LRLC always uses full)")
    p.add_argument("--normalize", choices=NORMALIZATIONS, default="softmax",
                   help="normalisation of the combining weights over K (default: softmax)")


def _add_training_flags(p, epochs):
    p.add_argument("--epochs", type=_positive_int, default=epochs, help=f"training epochs (default: {epochs})")
    p.add_argument("--batch-size", type=_positive_int, default=128, help="mini-batch size (default: 128)")
    p.add_argument("--lr", type=_positive_float, default=0.05, help="peak learning rate (default: 0.05)")
    p.add_argument("--momentum", type=_momentum, default=0.9, help="SGD momentum (default: 0.9)")
    p.add_argument("--no-nesterov", dest="nesterov", action="store_false",
                   help="plain momentum instead of Nesterov momentum")
    p.add_argument("--weight-decay", type=_non_negative_float, default=5e-4,
                   help="L2 weight decay on weights and bases, not biases, BatchNorm or logits (default: 5e-4)")
    p.add_argument("--schedule", choices=SCHEDULES, default="cosine",
                   help="learning-rate schedule; cosine has a linear warm-up (default: cosine)")
    p.add_argument("--warmup-epochs", type=_non_negative_float, default=1.0,
                   help="epochs of linear warm-up for the cosine schedule (default: 1)")
    p.add_argument("--dataset", choices=dataset_names(), default="mnist",
                   help="mnist, fashion-mnist, mnist-sample (a small real subset bundled with the "
                        "package, works offline), or translated-<any of them>: every digit pasted at "
                        "a fixed random offset into a --canvas x --canvas image (default: mnist)")
    p.add_argument("--canvas", type=_canvas, default=40,
                   help="image side of the translated data sets, >= 28 (default: 40)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding the IDX .gz files (default: $LRLC_NP_DATA, then ~/.cache/lrlc_np)")
    p.add_argument("--limit-train", type=_positive_int, default=None,
                   help="use only the first N training examples (after the validation split)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    from .compare import QUICK as COMPARE_QUICK
    from .compare import QUICK_TIME
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
    _add_backend_flag(gc)
    _add_ops_flag(gc)
    gc.set_defaults(handler=run_gradcheck)

    tr = commands.add_parser(
        "train",
        help="train the paper's network",
        description="Train the paper's network (three 3x3 layers of --filters channels, each "
                    "followed by BatchNorm and ReLU, global average pooling, a dense layer) with "
                    "SGD. Writes config.json, metrics.jsonl, checkpoint.npz (after every epoch) "
                    "and PNG figures into --out; --resume continues a run there, --overwrite starts "
                    "it again. Example: lrlc train --layers conv,conv,lrlc "
                    "--rank 4 --out runs/lrlc4",
    )
    tr.add_argument("--layers", type=_layer_list, default=["conv", "conv", "conv"],
                    help="comma-separated layer types, each conv, lc, lrlc or wide_conv (default: conv,conv,conv)")
    tr.add_argument("--rank", type=_positive_int, default=1,
                    help="rank K of LRLC layers, and the width target of wide_conv (default: 1)")
    _add_model_flags(tr)
    tr.add_argument("--coord-conv", action="store_true",
                    help="append row/column coordinate channels to the input (CoordConv baseline)")
    tr.add_argument("--lc-init", choices=LC_INITS, default="he",
                    help="how LC layers start: he (fan-in C_in*kh*kw) or keras (as Keras's "
                         "LocallyConnected2D, whose fan-in also counts the H_out*W_out positions: "
                         "sqrt(H_out*W_out) times smaller) (default: he)")
    tr.add_argument("--input-dependent", action="store_true",
                    help="combining weights computed from each input by a small network, the "
                         "paper's input-dependent variant (implies --combining full); also writes "
                         "alpha_per_digit.png, the weights for one test image of each of six digits")
    _add_training_flags(tr, epochs=10)
    tr.add_argument("--seed", type=_non_negative_int, default=0, help="seed for weights and data order (default: 0)")
    tr.add_argument("--out", required=True, help="run directory for metrics, checkpoint and figures")
    tr.add_argument("--resume", action="store_true",
                    help="continue the run in --out from its checkpoint with its saved settings; "
                         "flags given with it may change only --epochs (more), --data-dir, and "
                         "--lr after a divergence, any other difference is refused")
    tr.add_argument("--overwrite", action="store_true",
                    help="start again in an --out that already holds a run (its run files and "
                         "figures are replaced)")
    _add_backend_flag(tr)
    _add_ops_flag(tr)
    tr.set_defaults(handler=run_train)

    cp = commands.add_parser(
        "compare",
        help="compare conv, wide conv, LC and LRLC at one layer position",
        description="Train the paper's network with one layer position swapped for a wide "
                    "convolution, an LC layer and LRLC layers of several ranks (plus the all-conv "
                    "baseline), over several seeds. Writes results.md, results.csv and "
                    "accuracy_vs_rank.png into --out. Started again with the same settings, it reads "
                    "the finished runs back and continues the stopped ones; a run there with other "
                    "settings is refused, naming the differences (--overwrite trains it again). "
                    "Ctrl-C stops every worker and says what is kept.",
    )
    cp.add_argument("--position", type=_positive_int, default=3,
                    help="1-based position of the swapped layer (default: 3)")
    cp.add_argument("--num-layers", type=_positive_int, default=3, help="3x3 layers in the network (default: 3)")
    cp.add_argument("--ranks", type=_rank_list, default=[1, 2, 4, 8], help="LRLC ranks (default: 1,2,4,8)")
    cp.add_argument("--wide-rank", type=_positive_int, default=None,
                    help="rank whose parameter count the wide conv matches (default: 4 if listed, else the largest rank)")
    cp.add_argument("--seeds", type=_int_list, default=[0, 1, 2], help="seeds (default: 0,1,2)")
    _add_model_flags(cp)
    cp.add_argument("--input-dependent", nargs="?", const="all", default=None, type=_input_dependent_ranks,
                    metavar="RANKS",
                    help="also train LRLC whose combining weights are computed from each input by a "
                         "small network (the paper's input-dependent variant, combining full), with the "
                         "same seeds and budget: rows 'lrlc input-dependent K=r' for every rank in "
                         "--ranks, or only for the comma-separated RANKS given, and a second LRLC line "
                         "in the plot")
    cp.add_argument("--coord-conv", action="store_true",
                    help="also train the CoordConv baseline: all conv, with row/column coordinate "
                         "channels appended to the input (row 'coord_conv')")
    cp.add_argument("--lc-init", choices=(*LC_INITS, "both"), default="he",
                    help="initialisation of the LC row: he, keras (row 'lc (keras init)', as Keras's "
                         "LocallyConnected2D starts), or both rows (default: he)")
    cp.add_argument("--positions", type=_positions, default=None,
                    help="a rank x position sweep instead of the comparison: LRLC of every rank in "
                         "--ranks at each of these comma-separated positions, and the all-conv "
                         "network, over --seeds; writes sweep.md, sweep.csv and heat maps "
                         "sweep_accuracy.png and sweep_gain.png")
    _add_training_flags(cp, epochs=5)
    cp.add_argument("--jobs", type=_positive_int, default=1,
                    help="runs trained at once, each in its own single-threaded process; "
                         "set it to the number of CPU cores (default: 1)")
    cp.add_argument("--out", default="runs/compare", help="output directory (default: runs/compare)")
    cp.add_argument("--overwrite", action="store_true",
                    help="train again the runs in --out whose saved settings differ from these "
                         "(without it such runs are refused, naming the differences)")
    cp.add_argument("--quick", action="store_true",
                    help=f"a short version on the bundled sample ({QUICK_TIME}): " + ", ".join(
                        f"{k.replace('_', '-')} {','.join(map(str, v)) if isinstance(v, list) else v}"
                        for k, v in COMPARE_QUICK.items()) + " (flags you give explicitly win)")
    _add_backend_flag(cp)
    _add_ops_flag(cp)
    cp.set_defaults(handler=run_compare, **{k: None for k in COMPARE_QUICK})  # resolved in run_compare

    dg = commands.add_parser(
        "digits",
        help="draw the first images of a data set (PNG)",
        description="Draw the first --count images of a data set with their labels, e.g. to see "
                    "where translated MNIST puts its digits: lrlc digits --dataset "
                    "translated-mnist --out translated.png",
    )
    dg.add_argument("--dataset", choices=dataset_names(), default="mnist-sample",
                    help="any data set lrlc train accepts (default: mnist-sample)")
    dg.add_argument("--canvas", type=_canvas, default=40, help="image side of the translated data sets (default: 40)")
    dg.add_argument("--split", choices=("train", "test"), default="train", help="which split (default: train)")
    dg.add_argument("--count", type=_positive_int, default=12, help="images to draw (default: 12)")
    dg.add_argument("--data-dir", default=None,
                    help="folder holding the IDX .gz files (default: $LRLC_NP_DATA, then ~/.cache/lrlc_np)")
    dg.add_argument("--out", required=True, help="the PNG file to write")
    dg.set_defaults(handler=run_digits)

    dl = commands.add_parser(
        "download",
        help="download and verify a data set",
        description="Download the four IDX files of a data set (trying several mirrors), verify "
                    "their SHA-256 checksums and store them in --data-dir.",
    )
    dl.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist",
                    help="which data set (default: mnist)")
    dl.add_argument("--data-dir", default=None,
                    help="target folder (default: $LRLC_NP_DATA, then ~/.cache/lrlc_np)")
    dl.add_argument("--no-progress", action="store_true", help="no progress bars")
    dl.set_defaults(handler=run_download)

    from . import bench   # NumPy and the standard library only: cheap to import here

    full, quick = bench.FULL, bench.QUICK
    bn = commands.add_parser(
        "bench",
        help="time the layers and the network against the machine's matmul rate",
        description=f"Measure (1) the float32 {full['matmul_n']}x{full['matmul_n']} matmul rate of the active backend, the "
                    "practical limit, with the BLAS library, its threads and the CPU count; "
                    "(2) forward and backward time of conv, LC and LRLC "
                    f"(K={','.join(map(str, full['ranks']))}) at the paper's layer shape "
                    f"(batch {full['batch']}, {full['channels']}->{full['channels']} channels, "
                    f"{full['size']}x{full['size']}, 3x3 valid, float32), as useful GFLOP/s, as a "
                    "percentage of the matmul rate and relative to conv; (3) the naive loop "
                    "references against the vectorised ops on a small shape; (4) training "
                    f"images/s of the paper's network at batch {full['train_batch']}, all conv "
                    f"and with LRLC K={full['train_rank']} (fixed and input-dependent) in position "
                    f"{full['train_position']}, and the peak memory of one step (tracemalloc). Times "
                    "are medians after a warm-up; on a shared machine compare numbers from the same "
                    "run. The ops use every core; LRLC_NP_THREADS sets how many threads (1: one).",
    )
    bn.add_argument("--quick", action="store_true",
                    help=f"a small run, well under a minute: layer batch {quick['batch']}, ranks "
                         f"{','.join(map(str, quick['ranks']))}, {quick['repeats']} repeats, training "
                         f"batch {quick['train_batch']}, a smaller reference shape (flags you give "
                         "explicitly win)")
    bn.add_argument("--repeats", type=_positive_int, default=None,
                    help=f"timed runs per measurement, the median is reported; also the timed "
                         f"training steps (default: {full['repeats']}, --quick {quick['repeats']})")
    bn.add_argument("--batch", type=_positive_int, default=None,
                    help=f"batch size of the layer timings (default: {full['batch']}, --quick {quick['batch']})")
    bn.add_argument("--train-batch", type=_positive_int, default=None,
                    help=f"batch size of the training timings (default: {full['train_batch']}, "
                         f"--quick {quick['train_batch']})")
    bn.add_argument("--json", metavar="FILE", default=None,
                    help="also write every number, the settings and the machine info to FILE as JSON")
    bn.add_argument("--profile", action="store_true",
                    help="only the matmul rate and where a training step's time goes: every layer's "
                         "forward and backward ms, and each conv-shaped layer's rate against the matmul rate")
    bn.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    _add_course(commands)
    tu = commands.add_parser(
        "tutorials", help="list the tutorials, or make executed notebooks of them",
        description="Without --notebooks, list the numbered tutorials (percent-format scripts). With "
                    "--notebooks DEST, convert each to a Jupyter notebook with jupytext, run every cell "
                    "with nbclient (in DEST, so figures land there) and write the notebooks to DEST. "
                    'Needs: pip install -e ".[notebooks]".')
    tu.add_argument("--notebooks", metavar="DEST", default=None, help="folder for the .ipynb files")
    tu.add_argument("--no-execute", action="store_true", help="convert only; do not run the cells")
    tu.add_argument("--quick", action="store_true",
                    help="run with LRLC_NP_QUICK=1: each tutorial's training shrunk to seconds")
    tu.add_argument("--timeout", type=_positive_float, default=600.0,
                    help="seconds one cell may run (default: 600)")
    tu.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    tu.set_defaults(handler=run_tutorials)
    from .docsite import add_parser as add_docs_parser     # lrlc docs: the parser lives with the site
    add_docs_parser(commands, run_docs)
    _add_backend_flag(bn)
    bn.add_argument("--ops", choices=(*TIERS, "both"), default="both",
                    help="which tier of ops to time: fast, clear, or both side by side (default: both)")
    bn.set_defaults(handler=run_bench)
    return parser


def _add_backend_flag(parser):
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="array backend: numpy (CPU) or cupy (NVIDIA GPU, needs "
                             "pip install -e \".[gpu]\"); default: $LRLC_NP_BACKEND, else numpy")


COURSE_UNTRUSTED = ("Grading runs the students' code, which is untrusted: each exercise runs in a child "
                    "process with time, CPU, memory and file-size limits, a minimal environment, a "
                    "temporary folder and its own process group (nothing it starts outlives it), and "
                    "hands back arrays only; this process computes every verdict. With bubblewrap "
                    "installed (apt-get install bubblewrap) the child also has no network and sees only "
                    "Python, NumPy and the package it is graded in; without it, graded code can read and "
                    "write what you can. Grade hostile code inside a container (TEACHING.md).")


def _add_grading_options(parser):
    from .course.grader import DEFAULT_SPEED_LIMIT, DEFAULT_TIMEOUT, SPEED_POLICIES
    from .course.sandbox import Limits

    parser.add_argument("--exercises", type=_exercise_list, default=None,
                        help="grade only these (comma-separated; default: the handout's)")
    parser.add_argument("--handout", metavar="FILE", default=None,
                        help="your own record of the handout (lrlc-handout.json of the copy you made): grade its "
                             "exercises (default: the record in the submission, which a student can edit)")
    parser.add_argument("--timeout", type=_positive_float, default=DEFAULT_TIMEOUT,
                        help=f"seconds one exercise's process may run before it is stopped (default: {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--memory", type=_positive_int, default=Limits.memory_mb, metavar="MB",
                        help=f"memory one exercise's process may use (default: {Limits.memory_mb})")
    parser.add_argument("--seed", type=_non_negative_int, default=None,
                        help="seed of the cases (default: a new one each time, printed with the grade; give it "
                             "to repeat a grading)")
    parser.add_argument("--speed-check", choices=SPEED_POLICIES, default="score",
                        help="score: an exercise much slower than the solution scores 0; warn: it keeps its "
                             "points with a warning; off: not timed (default: score)")
    parser.add_argument("--speed-limit", type=_positive_float, default=DEFAULT_SPEED_LIMIT, metavar="X",
                        help=f"how many times the solution's time counts as much slower (default: {DEFAULT_SPEED_LIMIT:g})")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="do not use bubblewrap even where it works (the other limits stay)")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")


def run_course_missing(args) -> int:
    return _fail("course", "this is a student copy, which has no course kit: your teacher grades your files with "
                           "their own installation. Check your work with pytest and lrlc gradcheck (README.md)")


def _add_course(commands):
    import importlib.util

    if importlib.util.find_spec("lrlc_np.course") is None:          # a student copy
        co = commands.add_parser("course", help="(not in a student copy: your teacher grades with theirs)",
                                 description="A student copy has no course kit; see README.md to check your work.")
        co.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        co.set_defaults(handler=run_course_missing)
        return
    co = commands.add_parser(
        "course", help="make a student copy with exercises, and grade it",
        description="The course kit: the clear tier's forward and backward passes as exercises. "
                    "make-student writes a copy in which the fenced blocks of lrlc_np/ops raise "
                    "NotImplementedError with a hint; grade grades a submission, grade-all a class, "
                    "autograder makes a Gradescope autograder (TEACHING.md explains an assignment). "
                    + COURSE_UNTRUSTED)
    sub = co.add_subparsers(dest="course_command", metavar="ACTION")
    sub.required = True
    ms = sub.add_parser("make-student", help="write a student copy",
                        description="Write a self-contained student copy to DEST (package without the fast "
                                    "tier and the course kit, the tests a student can run, tutorials, a student "
                                    "README, and lrlc-handout.json recording the handout). Every exercise's "
                                    "blocks become NotImplementedError with its hint; the other solutions are kept.")
    ms.add_argument("dest", help="folder to create")
    ms.add_argument("--exercises", type=_exercise_list, default=None,
                    help="comma-separated exercises to hand out (default: all); the rest keep their solutions")
    ms.add_argument("--overwrite", action="store_true", help="replace DEST if it exists")
    ms.set_defaults(handler=run_course_make_student)
    gr = sub.add_parser("grade", help="grade one submission (untrusted code)",
                        description="Grade the exercises of the submission at PATH (a student copy, its lrlc_np "
                                    "folder, or the handed-out files alone; default: this installation, which "
                                    "scores full marks), each alone, on cases drawn now: shapes, dtypes, the loop "
                                    "definitions, finite differences, identities, inputs left unchanged, speed. "
                                    "Prints a table with every case of every failing exercise; --json writes the "
                                    "grade (or Gradescope's results.json with --format gradescope). Exit status 0 "
                                    "whenever grading ran, whatever the score. " + COURSE_UNTRUSTED)
    gr.add_argument("path", nargs="?", default=None, help="the submission's folder (default: this installation)")
    gr.add_argument("--json", metavar="FILE", default=None, help="also write the grade to FILE, after grading ends")
    gr.add_argument("--format", choices=("json", "gradescope"), default="json",
                    help="what --json writes: this grader's JSON, or Gradescope's results.json (default: json)")
    _add_grading_options(gr)
    gr.set_defaults(handler=run_course_grade)
    ga = sub.add_parser("grade-all", help="grade a class: one folder per student, into a CSV",
                        description="Grade every folder of SUBMISSIONS (the folder name is the student's id) and "
                                    "write a CSV: student, the points of each exercise, total, max_total. Each "
                                    "student's full grade is kept in RESULTS/<id>.json; run again, students whose "
                                    "files did not change are not graded again (--regrade forces it), and one seed "
                                    "is kept for the class. " + COURSE_UNTRUSTED)
    ga.add_argument("submissions", help="folder with one folder per student")
    ga.add_argument("--csv", metavar="FILE", required=True, help="the grade sheet to write")
    ga.add_argument("--results", metavar="DIR", default=None,
                    help="where each student's full grade is kept (default: beside the CSV, <name>-results)")
    ga.add_argument("--jobs", type=_positive_int, default=1, help="students graded at once (default: 1)")
    ga.add_argument("--regrade", action="store_true", help="grade every student again")
    _add_grading_options(ga)
    ga.set_defaults(handler=run_course_grade_all)
    ag = sub.add_parser("autograder", help="write a Gradescope autograder zip",
                        description="Write DEST (a .zip) to upload as the autograder of a Gradescope programming "
                                    "assignment: setup.sh, run_autograder, the handout record and this project. "
                                    "TEACHING.md shows the two scripts.")
    ag.add_argument("dest", help="the zip file to write")
    ag.add_argument("--exercises", type=_exercise_list, default=None, help="the exercises to grade (default: all)")
    ag.add_argument("--handout", metavar="FILE", default=None, help="grade the exercises of this handout record")
    ag.set_defaults(handler=run_course_autograder)


def _add_ops_flag(parser):
    parser.add_argument("--ops", choices=TIERS, default=None,
                        help="which tier of ops the layers run: fast (the tuned code) or clear (the "
                             "readable formulas of lrlc_np/ops, the same numbers, slower); "
                             "default: $LRLC_NP_OPS, else fast")


def _given_flags(argv):
    """The destinations of the options given on the command line (not left at their defaults)."""
    parser = build_parser()
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())
            elif action.dest != "help":
                action.default = argparse.SUPPRESS
        p._defaults.clear()
    return set(vars(parser.parse_args(argv)))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.given = _given_flags(sys.argv[1:] if argv is None else argv)
    if args.command != "bench" and getattr(args, "ops", None):
        import os

        from . import tiers

        tiers.set_ops(args.ops)
        os.environ[tiers.ENV_VARIABLE] = args.ops    # worker processes (compare --jobs) run it too
    if getattr(args, "backend", None):
        from .backend import BackendError, set_backend

        try:
            set_backend(args.backend)
        except BackendError as err:
            return _fail(args.command, err)
    return args.handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
