"""The ``lrlc`` command line (also ``python -m lrlc_np``): it parses arguments, calls the library
and prints; the work lives in the library.

    lrlc gradcheck     check every hand-derived backward pass against finite differences
    lrlc train         train the paper's network on MNIST (or Fashion-MNIST, or the bundled sample)
    lrlc compare       conv, wide conv, LC and LRLC at one layer position, over several seeds
    lrlc download      fetch and verify a data set
    lrlc digits        draw the first images of a data set (translated MNIST, for instance)
    lrlc bench         time the layers and the network, both tiers of ops, against the matmul rate
    lrlc course        make a student copy with exercises to write, and grade one
    lrlc tutorials     list the tutorials, or turn them into executed notebooks
    lrlc docs          build the documentation site (tutorials, API reference, guides) into a folder

Each command has a ``_add_<command>`` function that declares its flags and a ``run_<command>``
function that runs it. The flags of a run's settings come from ``lrlc_np.settings``, which
declares every setting once; the argument types (``positive_int``, ``positive_float``, ...)
live there too. An error is one line, ``lrlc <command>: error: ...``, with a non-zero exit.
"""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from . import __version__
from ._stopping import sigterm_as_ctrl_c
from .options import BACKENDS, LC_INITS, TIERS, EnvironmentVariableError
from .settings import (add_flags, non_negative_int, number_list, positive_float, positive_int, show)


def _fail(command, message) -> int:
    print(f"lrlc{' ' + command if command else ''}: error: {message}", file=sys.stderr)
    return 1


def os_error_text(err: OSError) -> str:
    """An OS error as "<path>: <cause>": the file or folder asked for, and what went wrong."""
    if err.filename is None:
        return str(err)
    path = Path(err.filename)
    cause = err.strerror or str(err)
    if err.errno == errno.ENOTDIR or (err.errno == errno.EEXIST and path.exists() and not path.is_dir()):
        cause = "not a folder (it, or a folder above it, is a file)" if err.errno == errno.ENOTDIR else "not a folder"
    return f"{err.filename}: {cause}"


# --------------------------------------------------------------------------- gradcheck

def run_gradcheck(args) -> int:
    from .backend import get_backend
    from .gradcheck_cases import check_all, format_table
    from .tiers import get_ops

    print("lrlc gradcheck: hand-derived backward passes vs centred finite differences")
    print(f"float64, eps {args.eps:g}, random upstream gradient, seed {args.seed}, backend {get_backend()}, "
          f"{get_ops()} tier of ops")
    print("relative error = max|analytic - numeric| / max(max|analytic|, max|numeric|, 1e-2)")
    print(f"pass when relative error <= {args.tolerance:g}\n")
    table, failed = format_table(check_all(args.seed, args.eps), args.tolerance)
    print(table)
    return 1 if failed else 0


def _add_gradcheck(commands):
    from .gradcheck import TOLERANCE

    gc = _command(commands, "gradcheck", run_gradcheck,
                  help="check every layer's backward pass against finite differences",
                  description="Check every layer type, combining mode and parameter: the hand-derived "
                              "gradient against centred finite differences on small random float64 "
                              "inputs. Prints a table; exits with status 1 if any check fails.")
    gc.add_argument("--seed", type=non_negative_int, default=0,
                    help="seed for the random layers, inputs and upstream gradients (default: 0)")
    gc.add_argument("--eps", type=positive_float, default=1e-6,
                    help="finite-difference step (default: 1e-6)")
    gc.add_argument("--tolerance", type=positive_float, default=TOLERANCE,
                    help=f"largest relative error that passes (default: {TOLERANCE:g})")
    _add_backend_flag(gc)
    _add_ops_flag(gc)


# --------------------------------------------------------------------------- train

#: the settings ``lrlc train`` has flags for, in the order of their help
TRAIN_FLAGS = ("layers", "rank", "filters", "combining", "normalize", "coord_conv", "lc_init", "input_dependent",
               "epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "schedule", "warmup_epochs",
               "dataset", "canvas", "data_dir", "limit_train", "seed")


def _train_config(args):
    """The settings of ``lrlc train``: the flags (a new run), or the saved settings with the
    flags given on this command line on top (``--resume``)."""
    from .options import resolve_combining
    from .settings import check_rules, flag_spelling
    from .train import TrainConfig, resume_config

    if args.resume:
        return resume_config(args.out, **{name: getattr(args, name) for name in TRAIN_FLAGS if name in args.given})
    values = {name: getattr(args, name) for name in TRAIN_FLAGS}
    values.update(layers=tuple(args.layers),
                  combining=resolve_combining(args.combining, args.input_dependent, None, flag_spelling))
    config = TrainConfig(**values)
    check_rules(config, None, flag_spelling)
    return config


def run_train(args) -> int:
    from .data import DataError
    from .settings import plan_of
    from .train import CONFIG, RunError, TrainingDiverged, describe, train, write_figures

    config = None
    try:
        plan_of(args.resume, args.overwrite)
        config = _train_config(args)
        history, model = train(config, args.out, resume=args.resume, overwrite=args.overwrite,
                               progress=not args.no_progress)
        paths = write_figures(args.out, model, history) if history else []
    except KeyboardInterrupt:
        print(f"\ninterrupted: {describe(args.out, getattr(config, 'epochs', None))}; continue with: "
              f"lrlc train --out {args.out} --resume", file=sys.stderr)
        return 130
    except FileNotFoundError as err:
        if args.resume and err.filename is None:
            return _fail("train", f"{args.out}: nothing to resume (no {CONFIG}); start a run there without --resume")
        return _fail("train", f"{os_error_text(err)}; {describe(args.out)}")
    except OSError as err:
        return _fail("train", err if err.errno is None else f"{os_error_text(err)}; {describe(args.out)}")
    except (DataError, RunError, TrainingDiverged, ValueError) as err:
        return _fail("train", err)
    except NotImplementedError as err:                # a student copy with exercises still to write
        return _fail("train", f"{err} (this op is an exercise still to write; pytest lists the ones left)")
    if history:
        last = history[-1]
        print(f"final test accuracy {100 * last['test_acc']:.2f}% (validation {100 * last['val_acc']:.2f}%)")
        print(f"wrote {args.out}/metrics.jsonl, checkpoint.npz, " + ", ".join(p.name for p in paths))
    return 0


def _add_train(commands):
    tr = _command(commands, "train", run_train,
                  help="train the paper's network",
                  description="Train the paper's network (three 3x3 layers of --filters channels, each "
                              "followed by BatchNorm and ReLU, global average pooling, a dense layer) with "
                              "SGD. Writes config.json, metrics.jsonl, checkpoint.npz (after every epoch) "
                              "and PNG figures into --out; --resume continues a run there, --overwrite starts "
                              "it again. Example: lrlc train --layers conv,conv,lrlc "
                              "--rank 4 --out runs/lrlc4")
    add_flags(tr, TRAIN_FLAGS, defaults={"combining": None})
    tr.add_argument("--no-progress", action="store_true", help="no progress bars")
    tr.add_argument("--out", required=True, help="run directory for metrics, checkpoint and figures")
    tr.add_argument("--resume", action="store_true",
                    help="continue the run in --out from its checkpoint with the settings it was trained "
                         "with; flags given with it may change only --epochs (more), --data-dir, and "
                         "--lr after a divergence, any other difference is refused")
    tr.add_argument("--overwrite", action="store_true",
                    help="start again in an --out that already holds a run (its run files and "
                         "figures are replaced)")
    _add_backend_flag(tr)
    _add_ops_flag(tr)


# --------------------------------------------------------------------------- compare

#: the settings ``lrlc compare`` has flags for (shared by every run of the comparison)
COMPARE_FLAGS = ("filters", "combining", "normalize", "epochs", "batch_size", "lr", "momentum", "nesterov",
                 "weight_decay", "schedule", "warmup_epochs", "dataset", "canvas", "data_dir", "limit_train")


def run_compare(args) -> int:
    from .compare import SUMMARY_FILES, SWEEP_FILES, ComparisonInterrupted, preset, run_comparison, run_sweep
    from .data import DataError
    from .train import TrainConfig, TrainingDiverged

    if args.combine is not None:
        return _combine(args)
    chosen = preset(args.quick, vars(args))         # flags left out are None: the preset's values
    values = {name: chosen.get(name, getattr(args, name)) for name in COMPARE_FLAGS}
    values.update(layers=("conv",) * args.num_layers, combining=args.combining or "row_col")
    base = TrainConfig(**values)
    cluster = None
    if args.scheduler is not None:                  # the cluster's worker threads say how many at once
        from .cluster import ClusterError, DaskCluster

        if (args.jobs or 1) > 1:
            return _fail("compare", f"--jobs {args.jobs} starts local worker processes; with --scheduler the runs "
                                    f"train on the cluster, as many at once as its workers have threads (dask "
                                    f"worker --nthreads): leave --jobs out")
        try:                                        # --backend is the workers': this process stays on NumPy
            cluster = DaskCluster(args.scheduler, backend=args.backend)
        except ClusterError as err:
            return _fail("compare", err)
        chosen["jobs"] = 1
    shared = dict(progress=not args.no_progress and chosen["jobs"] == 1 and cluster is None,
                  jobs=chosen["jobs"], overwrite=args.overwrite, scheduler=cluster)
    sweep = args.positions is not None
    try:
        if sweep:
            if args.rows is not None:
                return _fail("compare", "--rows chooses rows of a comparison; the sweep (--positions) has cells "
                                        "instead: leave one of them out")
            run_sweep(base, args.out, args.positions, chosen["ranks"], chosen["seeds"], **shared)
        else:
            dependent = args.input_dependent
            run_comparison(base, args.out, args.position, chosen["ranks"], chosen["seeds"], wide_rank=args.wide_rank,
                           input_dependent=True if dependent == "all" else (dependent or False),
                           coord_conv=args.coord_conv, rows=args.rows, **shared,
                           lc_inits=("he", "keras") if args.lc_init == "both" else (args.lc_init,))
    except ComparisonInterrupted as err:
        print(f"\n{err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:           # before any run started
        print(f"\ninterrupted before any run started; nothing in {args.out} changed", file=sys.stderr)
        return 130
    except (DataError, RuntimeError, TrainingDiverged, ValueError) as err:
        return _fail("compare", err)
    print((Path(args.out) / ("sweep.md" if sweep else "results.md")).read_text())
    print(f"wrote {args.out}/" + ", ".join(SWEEP_FILES if sweep else SUMMARY_FILES))
    return 0


def _combine(args) -> int:
    """``lrlc compare --combine FOLDER ... --out DIR``: one report of finished comparisons."""
    from .compare import ReportError, combine_comparisons

    trains = sorted(args.given - {"combine", "out", "command"})
    if trains:
        flags = ", ".join("--" + name.replace("_", "-") for name in trains)
        return _fail("compare", f"--combine trains nothing and reads every setting from the folders' results, "
                                f"so {flags} would not be used: leave {'it' if len(trains) == 1 else 'them'} out")
    try:
        rows = combine_comparisons(args.combine, args.out)
    except ReportError as err:
        return _fail("compare", err)
    print((Path(args.out) / "results.md").read_text())
    print(f"wrote {args.out}/results.csv, results.md, accuracy_vs_rank.png ({len(rows)} runs from "
          f"{len(args.combine)} folder{'s' if len(args.combine) != 1 else ''})")
    return 0


def _add_parts_flags(parser):
    """--rows and --combine: a comparison run in parts (more seeds for some rows, other machines)."""
    parser.add_argument("--rows", type=_row_list, default=None, metavar="ROWS",
                        help="train and report only these of the rows the other flags choose, comma-separated, "
                             "by folder name (conv, wide_conv_K4, coord_conv, lc, lc_keras_init, lrlc_K4, ...) "
                             "or by name: a fifth seed for the rows whose difference is small, say, combined "
                             "with the full grid by --combine")
    parser.add_argument("--combine", nargs="+", metavar="FOLDER", default=None,
                        help="train nothing: write one report (results.csv, results.md, accuracy_vs_rank.png) "
                             "into --out of the runs of these finished comparisons (each FOLDER holding the "
                             "results.csv and results.md of an 'lrlc compare'), which must share their "
                             "settings and hold no row and seed twice: a grid run in parts, or seeds added "
                             "later")


def _add_scheduler_flag(parser):
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="train every run as a task of the Dask distributed cluster whose scheduler is at "
                             "ADDRESS (tcp://host:8786; start it with 'dask scheduler', and workers with 'dask "
                             "worker ADDRESS --nthreads 1'), instead of here: the same numbers. --out must be on "
                             "storage that every worker sees at the same path (checked first); --jobs is left "
                             "out; --backend is the workers' (cupy on GPU workers). Needs "
                             "pip install -e \".[cluster]\"")


def _row_list(text):
    rows = [name.strip() for name in text.split(",")]
    if not all(rows):
        raise argparse.ArgumentTypeError(f"expected comma-separated row names (lrlc_K4,coord_conv), got {text!r}")
    return rows


def _input_dependent_ranks(text):
    return "all" if text == "all" else number_list("rank", 1)(text)


def _add_compare(commands):
    from .compare import COMPARE_DEFAULTS, QUICK, QUICK_TIME

    cp = _command(commands, "compare", run_compare,
                  help="compare conv, wide conv, LC and LRLC at one layer position",
                  description="Train the paper's network with one layer position swapped for a wide "
                              "convolution, an LC layer and LRLC layers of several ranks (plus the all-conv "
                              "baseline), over several seeds. Writes results.md, results.csv, "
                              "accuracy_vs_rank.png and learning_curves.png into --out. Started again with the "
                              "same settings, it reads the finished runs back and continues the stopped ones; a run there with other "
                              "settings is refused, naming the differences (--overwrite trains it again). "
                              "Every run uses one thread for its ops, so --jobs changes how long it takes, not "
                              "the numbers. Ctrl-C (or SIGTERM) stops every worker and says what is kept. With --scheduler "
                              "ADDRESS the runs train on a Dask distributed cluster instead, one task each, "
                              "with the same numbers (README, 'Runs on a Dask cluster').")
    cp.add_argument("--position", type=positive_int, default=3,
                    help="1-based position of the swapped layer (default: 3)")
    cp.add_argument("--num-layers", type=positive_int, default=3, help="3x3 layers in the network (default: 3)")
    cp.add_argument("--ranks", type=number_list("rank", 1), default=None,
                    help=f"LRLC ranks (default: {show(COMPARE_DEFAULTS['ranks'])}, --quick {show(QUICK['ranks'])})")
    cp.add_argument("--wide-rank", type=positive_int, default=None,
                    help="rank whose parameter count the wide conv matches (default: 4 if listed, else the largest rank)")
    cp.add_argument("--seeds", type=number_list("seed"), default=None,
                    help=f"seeds (default: {show(COMPARE_DEFAULTS['seeds'])}, --quick {show(QUICK['seeds'])})")
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
    _add_parts_flags(cp)
    cp.add_argument("--positions", type=number_list("position", 1), default=None,
                    help="a rank x position sweep instead of the comparison: LRLC of every rank in "
                         "--ranks at each of these comma-separated positions, and the all-conv "
                         "network, over --seeds; writes sweep.md, sweep.csv and heat maps "
                         "sweep_accuracy.png and sweep_gain.png")
    preset_flags = [name for name in COMPARE_FLAGS if name in QUICK]       # resolved in run_compare
    add_flags(cp, COMPARE_FLAGS, defaults={"combining": None, **{name: None for name in preset_flags}},
              shown={name: f"{show(COMPARE_DEFAULTS[name]) if COMPARE_DEFAULTS[name] is not None else 'all'}, "
                           f"--quick {show(QUICK[name])}" for name in preset_flags})
    cp.add_argument("--no-progress", action="store_true", help="no progress bars")
    cp.add_argument("--jobs", type=positive_int, default=None,
                    help="runs trained at once, each in its own single-threaded process; "
                         "set it to the number of CPU cores (default: 1, --quick 2; not with --scheduler)")
    _add_scheduler_flag(cp)
    cp.add_argument("--out", default="runs/compare", help="output directory (default: runs/compare)")
    cp.add_argument("--overwrite", action="store_true",
                    help="train again the runs in --out whose saved settings differ from these "
                         "(without it such runs are refused, naming the differences)")
    cp.add_argument("--quick", action="store_true",
                    help=f"a short version on the bundled sample ({QUICK_TIME}): " + ", ".join(
                        f"{k.replace('_', '-')} {show(v)}" for k, v in QUICK.items()) + " (flags you give explicitly win)")
    _add_backend_flag(cp)
    _add_ops_flag(cp)


# --------------------------------------------------------------------------- digits, download

def run_digits(args) -> int:
    from .data import load_dataset
    from .plots import plot_digits

    if not args.out.endswith(".png"):
        return _fail("digits", f"expected --out to name a .png file, got {args.out!r}")
    images, labels = load_dataset(args.split, args.dataset, args.data_dir, args.canvas)
    path = plot_digits(images[: args.count], labels[: args.count], args.out,
                       title=f"{args.dataset}, {images.shape[1]}x{images.shape[2]}: the first "
                             f"{min(args.count, len(labels))} {args.split} images")
    print(f"wrote {path}")
    return 0


def _add_digits(commands):
    from .data.translated import dataset_names

    dg = _command(commands, "digits", run_digits,
                  help="draw the first images of a data set (PNG)",
                  description="Draw the first --count images of a data set with their labels, e.g. to see "
                              "where translated MNIST puts its digits: lrlc digits --dataset "
                              "translated-mnist --out translated.png")
    dg.add_argument("--dataset", choices=dataset_names(), default="mnist-sample",
                    help="any data set lrlc train accepts (default: mnist-sample)")
    add_flags(dg, ("canvas",))
    dg.add_argument("--split", choices=("train", "test"), default="train", help="which split (default: train)")
    dg.add_argument("--count", type=positive_int, default=12, help="images to draw (default: 12)")
    add_flags(dg, ("data_dir",))
    dg.add_argument("--out", required=True, help="the PNG file to write")


def run_download(args) -> int:
    from .data import download

    folder = download(args.dataset, data_dir=args.data_dir, progress=not args.no_progress)
    print(f"{args.dataset}: verified files in {folder}")
    return 0


def _add_download(commands):
    dl = _command(commands, "download", run_download,
                  help="download and verify a data set",
                  description="Download the four IDX files of a data set (trying several mirrors), verify "
                              "their SHA-256 checksums and store them in --data-dir (or its <dataset> folder); "
                              "files there that verify already are kept, and nothing is downloaded for them.")
    dl.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist",
                    help="which data set (default: mnist)")
    dl.add_argument("--data-dir", default=None,
                    help="target folder (default: $LRLC_NP_DATA, then ~/.cache/lrlc_np)")
    dl.add_argument("--no-progress", action="store_true", help="no progress bars")


# --------------------------------------------------------------------------- bench

def run_bench(args) -> int:
    from . import bench

    settings = bench.make_settings(quick=args.quick, repeats=args.repeats, batch=args.batch,
                                   train_batch=args.train_batch, profile_only=args.profile or None,
                                   tiers=None if args.ops == "both" else [args.ops])
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


def _add_bench(commands):
    from .bench import FULL, QUICK

    full, quick = FULL, QUICK
    bn = _command(commands, "bench", run_bench,
                  help="time the layers and the network against the machine's matmul rate",
                  description=f"Measure (1) the float32 {full['matmul_n']}x{full['matmul_n']} matmul rate of the active "
                              "backend, the practical limit, with the BLAS library, its threads and the CPU count; "
                              "(2) forward and backward time of conv, LC and LRLC "
                              f"(K={show(full['ranks'])}) at the paper's layer shape "
                              f"(batch {full['batch']}, {full['channels']}->{full['channels']} channels, "
                              f"{full['size']}x{full['size']}, 3x3 valid, float32), as useful GFLOP/s, as a "
                              "percentage of the matmul rate and relative to conv; (3) the naive loop "
                              "references against the vectorised ops on a small shape; (4) training "
                              f"images/s of the paper's network at batch {full['train_batch']}, all conv "
                              f"and with LRLC K={full['train_rank']} (fixed and input-dependent) in position "
                              f"{full['train_position']}, and the peak memory of one step (tracemalloc). Times "
                              "are medians after a warm-up; on a shared machine compare numbers from the same "
                              "run. The ops use every core; LRLC_NP_THREADS sets how many threads (1: one).")
    bn.add_argument("--quick", action="store_true",
                    help=f"a small run, well under a minute: layer batch {quick['batch']}, ranks "
                         f"{show(quick['ranks'])}, {quick['repeats']} repeats, training "
                         f"batch {quick['train_batch']}, a smaller reference shape (flags you give "
                         "explicitly win)")
    bn.add_argument("--repeats", type=positive_int, default=None,
                    help=f"timed runs per measurement, the median is reported; also the timed "
                         f"training steps (default: {full['repeats']}, --quick {quick['repeats']})")
    bn.add_argument("--batch", type=positive_int, default=None,
                    help=f"batch size of the layer timings (default: {full['batch']}, --quick {quick['batch']})")
    bn.add_argument("--train-batch", type=positive_int, default=None,
                    help=f"batch size of the training timings (default: {full['train_batch']}, "
                         f"--quick {quick['train_batch']})")
    bn.add_argument("--json", metavar="FILE", default=None,
                    help="also write every number, the settings and the machine info to FILE as JSON")
    bn.add_argument("--profile", action="store_true",
                    help="only the matmul rate and where a training step's time goes: every layer's "
                         "forward and backward ms, and each conv-shaped layer's rate against the matmul rate")
    bn.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    _add_backend_flag(bn)
    bn.add_argument("--ops", choices=(*TIERS, "both"), default="both",
                    help="which tier of ops to time: fast, clear, or both side by side (default: both)")


# --------------------------------------------------------------------------- tutorials

def run_tutorials(args) -> int:
    from .notebooks import NotebookError, make_notebooks, tutorial_scripts

    try:
        scripts = tutorial_scripts()
        if not args.notebooks:
            for script in scripts:
                print(script)
            print("run one with python, cell by cell in an editor, or as notebooks: lrlc tutorials --notebooks DEST")
            return 0
        if Path(args.notebooks).exists() and not Path(args.notebooks).is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", args.notebooks)
        log = None if args.no_progress else (lambda name: print(f"tutorials: {name}", file=sys.stderr, flush=True))
        paths = make_notebooks(args.notebooks, scripts, execute=not args.no_execute, quick=args.quick,
                               timeout=args.timeout, progress=log)
    except NotebookError as err:
        return _fail("tutorials", err)
    print(f"wrote {len(paths)} notebooks to {args.notebooks}" + ("" if args.no_execute else ", with their outputs"))
    return 0


def _add_tutorials(commands):
    tu = _command(commands, "tutorials", run_tutorials,
                  help="list the tutorials, or make executed notebooks of them",
                  description="Without --notebooks, list the numbered tutorials (percent-format scripts). With "
                              "--notebooks DEST, convert each to a Jupyter notebook with jupytext, run every cell "
                              "with nbclient (in DEST, so figures land there) and write the notebooks to DEST. "
                              'Needs: pip install -e ".[notebooks]".')
    tu.add_argument("--notebooks", metavar="DEST", default=None, help="folder for the .ipynb files")
    tu.add_argument("--no-execute", action="store_true", help="convert only; do not run the cells")
    tu.add_argument("--quick", action="store_true",
                    help="run with LRLC_NP_QUICK=1: each tutorial's training shrunk to seconds")
    tu.add_argument("--timeout", type=positive_float, default=600.0,
                    help="seconds one cell may run (default: 600)")
    tu.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")


# --------------------------------------------------------------------------- docs

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


def _add_docs(commands):
    from .docsite import add_parser     # the parser lives with the site

    add_parser(commands, run_docs)


# --------------------------------------------------------------------------- shared flags

def _command(commands, name, handler, **texts):
    """A subcommand's parser (``texts``: its help and description) that runs ``handler``."""
    parser = commands.add_parser(name, **texts)
    parser.set_defaults(handler=handler)
    return parser


def _add_backend_flag(parser):
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="array backend: numpy (CPU) or cupy (NVIDIA GPU, needs "
                             "pip install -e \".[gpu]\"); default: $LRLC_NP_BACKEND, else numpy")


def _add_ops_flag(parser):
    parser.add_argument("--ops", choices=TIERS, default=None,
                        help="which tier of ops the layers run: fast (the tuned code) or clear (the "
                             "readable formulas of lrlc_np/ops, the same numbers, slower); "
                             "default: $LRLC_NP_OPS, else fast")


# --------------------------------------------------------------------------- the parser

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrlc",
        description="Convolution, locally connected and low-rank locally connected layers "
                    "in NumPy (Elsayed et al., ICML 2020).",
    )
    parser.add_argument("--version", action="version", version=f"lrlc_np {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for add in (_add_gradcheck, _add_train, _add_compare, _add_digits, _add_download, _add_bench, _add_course,
                _add_tutorials, _add_docs):
        add(commands)
    return parser


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


def _environment(args):
    """Read the environment variables the library reads at start-up ($LRLC_NP_BACKEND,
    $LRLC_NP_OPS, $LRLC_NP_THREADS: a bad one raises EnvironmentVariableError), then apply
    --ops and --backend. -> an error message for --backend, or None."""
    import os

    from . import backend, threads, tiers    # importing them reads the variables

    threads.from_environment()
    if args.command != "bench" and getattr(args, "ops", None):
        tiers.set_ops(args.ops)
        os.environ[tiers.ENV_VARIABLE] = args.ops    # worker processes (compare --jobs) run it too
    if getattr(args, "backend", None) and getattr(args, "scheduler", None) is None:
        try:                                         # (compare --scheduler: the backend of the workers' runs)
            backend.set_backend(args.backend)
        except backend.BackendError as err:
            return str(err)
        os.environ[backend.ENV_VARIABLE] = args.backend  # worker processes (compare --jobs) run it too
    return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)         # building it imports modules that read the environment
        args.given = _given_flags(argv)
        problem = _environment(args)
    except EnvironmentVariableError as err:
        return _fail(next((a for a in argv if not a.startswith("-")), None), err)
    if problem:
        return _fail(args.command, problem)
    from .data import DataError

    try:
        with sigterm_as_ctrl_c():                      # kill PID stops a command as Ctrl-C does
            return args.handler(args)
    except OSError as err:                             # a read-only folder, a full disk, a name too long ...
        return _fail(args.command, os_error_text(err))
    except DataError as err:
        return _fail(args.command, err)


# --------------------------------------------------------------------------- the course kit

COURSE_UNTRUSTED = ("Grading runs the students' code, which is untrusted: each exercise runs in a child "
                    "process with time, CPU, memory and file-size limits, a minimal environment, a "
                    "temporary folder and its own process group (nothing it starts outlives it), and "
                    "hands back arrays only; this process computes every verdict. With bubblewrap "
                    "installed (apt-get install bubblewrap) the child also has no network and sees only "
                    "Python, NumPy and the package it is graded in; without it, graded code can read and "
                    "write what you can. Grade hostile code inside a container (TEACHING.md).")


def _add_grading_options(parser, seed_help="seed of the cases (default: a new one each time, printed with the "
                                              "grade; give it to repeat a grading)"):
    from .course.grader import DEFAULT_SPEED_LIMIT, DEFAULT_TIMEOUT, SPEED_POLICIES
    from .course.sandbox import Limits

    parser.add_argument("--exercises", type=_exercise_list, default=None,
                        help="grade only these (comma-separated; default: the handout's)")
    parser.add_argument("--handout", metavar="FILE", default=None,
                        help="your own record of the handout (lrlc-handout.json of the copy you made): grade its "
                             "exercises (default: the record in the submission, which a student can edit)")
    parser.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT,
                        help=f"seconds one exercise's process may run before it is stopped (default: {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--memory", type=positive_int, default=Limits.memory_mb, metavar="MB",
                        help=f"memory one exercise's process may use (default: {Limits.memory_mb})")
    parser.add_argument("--seed", type=non_negative_int, default=None, help=seed_help)
    parser.add_argument("--speed-check", choices=SPEED_POLICIES, default="score",
                        help="score: an exercise much slower than the solution scores 0; warn: it keeps its "
                             "points with a warning; off: not timed (default: score)")
    parser.add_argument("--speed-limit", type=positive_float, default=DEFAULT_SPEED_LIMIT, metavar="X",
                        help=f"how many times the solution's time counts as much slower (default: {DEFAULT_SPEED_LIMIT:g})")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="do not use bubblewrap even where it works (the other limits stay)")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")


def run_course_missing(args) -> int:
    return _fail("course", "this is a student copy, which has no course kit: your teacher grades your files with "
                           "their own installation. Check your work with pytest and lrlc gradcheck (README.md)")


def _add_grade_commands(sub):
    """lrlc course grade and grade-all."""
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
                                    "files did not change are not graded again (--regrade forces it). One seed is "
                                    "kept for the class; each student's cases come from it, their id and their "
                                    "files, so a resubmission meets new cases. " + COURSE_UNTRUSTED)
    ga.add_argument("submissions", help="folder with one folder per student")
    ga.add_argument("--csv", metavar="FILE", required=True, help="the grade sheet to write")
    ga.add_argument("--results", metavar="DIR", default=None,
                    help="where each student's full grade is kept (default: beside the CSV, <name>-results)")
    ga.add_argument("--jobs", type=positive_int, default=1, help="students graded at once (default: 1)")
    ga.add_argument("--regrade", action="store_true", help="grade every student again")
    _add_grading_options(ga, seed_help="the class's seed (default: the one kept in RESULTS/class.json, else a new "
                                       "one); each student's cases come from it, their id and their files")
    ga.set_defaults(handler=run_course_grade_all)


def _add_course(commands):
    if not (Path(__file__).resolve().parent / "course" / "__init__.py").is_file():   # a student copy
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
    _add_grade_commands(sub)
    ag = sub.add_parser("autograder", help="write a Gradescope autograder zip",
                        description="Write DEST (a .zip) to upload as the autograder of a Gradescope programming "
                                    "assignment: setup.sh, run_autograder, the handout record and this project. "
                                    "TEACHING.md shows the two scripts.")
    ag.add_argument("dest", help="the zip file to write")
    ag.add_argument("--exercises", type=_exercise_list, default=None, help="the exercises to grade (default: all)")
    ag.add_argument("--handout", metavar="FILE", default=None, help="grade the exercises of this handout record")
    ag.set_defaults(handler=run_course_autograder)


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


def _exercise_list(text):
    from .course.catalogue import EXERCISES

    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in EXERCISES]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(EXERCISES)}, got {text!r}")
    return names
