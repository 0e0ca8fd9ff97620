"""``lrlc compare``: conv, wide conv, LC and LRLC at one layer position, over several seeds.

Every variant is the paper's network with one layer position swapped; every run is a
normal training run (``train.train``) in ``out/<variant>/seed<seed>/``, so a comparison
that was interrupted continues where it stopped when started again. With
``input_dependent=True`` each rank also gets an "lrlc input-dependent K=r" variant: LRLC whose
combining weights come from each input (``combining="full"``), same seeds and budget. The
summary files:

    results.csv            one row per run: variant, rank, seed, accuracies, parameters, seconds per epoch
    results.md             mean ± std per variant, with parameters and seconds per epoch
    accuracy_vs_rank.png   LRLC test accuracy against rank (fixed and input-dependent alpha as
                           two lines), with conv, wide conv and LC as horizontal lines
"""

from __future__ import annotations

import csv
import dataclasses
import statistics
from pathlib import Path

from .rundir import (CHECKPOINT, CONFIG, RunError, SettingsMismatch, differences, format_differences,
                     read_checkpoint, read_config, saved_epoch)
from .train import TrainConfig, build_model, train


#: how long ``lrlc compare --quick`` takes here (2 cores), said once: the help and README quote it
QUICK_TIME = "about 45 s on two cores"
#: ``lrlc compare --quick``: 10 runs (5 variants, 2 seeds) on the bundled sample, QUICK_TIME
QUICK = dict(dataset="mnist-sample", filters=16, epochs=3, ranks=[1, 4], seeds=[0, 1], batch_size=32,
             limit_train=2000, lr=0.1, warmup_epochs=0.25, jobs=2)
#: ``lrlc compare`` without --quick: the paper's budget on full MNIST
COMPARE_DEFAULTS = dict(dataset="mnist", filters=64, epochs=5, ranks=[1, 2, 4, 8], seeds=[0, 1, 2],
                        batch_size=128, limit_train=None, lr=0.05, warmup_epochs=1.0, jobs=1)

#: name prefix of the input-dependent LRLC variants ("lrlc input-dependent K=4")
INPUT_DEPENDENT = "lrlc input-dependent"


#: the row of the CoordConv baseline (conv everywhere, two coordinate channels appended to the input)
COORD_CONV = "coord_conv"
#: the LC row whose weights start as Keras's LocallyConnected2D does (``layers.LocallyConnected2D``)
LC_KERAS = "lc (keras init)"


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    layers: tuple
    rank: int
    input_dependent: bool = False
    coord_conv: bool = False
    lc_init: str = "he"


def variants(position, num_layers, ranks, wide_rank, input_dependent=False, *, coord_conv=False,
             lc_inits=("he",)):
    """The networks to compare: conv everywhere, then one position swapped.

    input_dependent  True: one input-dependent LRLC variant per rank, after the fixed ones; a
                     list of ranks: only those
    coord_conv       also the CoordConv baseline (all conv, coordinates appended to the input)
    lc_inits         the LC rows: "he" ("lc"), "keras" ("lc (keras init)"), or both
    """
    def swapped(kind):
        return tuple(kind if i == position - 1 else "conv" for i in range(num_layers))

    out = [Variant("conv", swapped("conv"), 1),
           Variant(f"wide_conv (K={wide_rank})", swapped("wide_conv"), wide_rank)]
    if coord_conv:
        out.append(Variant(COORD_CONV, swapped("conv"), 1, coord_conv=True))
    out += [Variant("lc" if init == "he" else LC_KERAS, swapped("lc"), 1, lc_init=init) for init in lc_inits]
    out += [Variant(f"lrlc K={r}", swapped("lrlc"), r) for r in ranks]
    if input_dependent:
        dependent = ranks if input_dependent is True else list(input_dependent)
        out += [Variant(f"{INPUT_DEPENDENT} K={r}", swapped("lrlc"), r, True) for r in dependent]
    return out


def variant_config(base, variant, seed):
    """The TrainConfig of one run: ``base`` with the variant's layers, rank and options, and ``seed``.

    Input-dependent variants use combining "full" (the only mode the combining network
    supports); the other variants keep ``base.combining``.
    """
    config = dataclasses.replace(base, layers=variant.layers, rank=variant.rank, seed=seed,
                                 input_dependent=variant.input_dependent, coord_conv=variant.coord_conv,
                                 lc_init=variant.lc_init)
    if variant.input_dependent:
        config = dataclasses.replace(config, combining="full")
    return config


def _slug(name):
    """The folder of a variant: "lrlc K=4" -> "lrlc_K4", "lc (keras init)" -> "lc_keras_init"."""
    return name.replace(" ", "_").replace("(", "").replace(")", "").replace("=", "")


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class ComparisonInterrupted(KeyboardInterrupt):
    """Ctrl-C during a comparison; the message says what each run directory holds."""


# --------------------------------------------------------------------------- what is on disk

def _plan(todo, overwrite):
    """For every run: "done" (its history), "resume", "new" or "overwrite"; reads and checks only.

    Raises SettingsMismatch (before anything is trained) when a run directory holds a run with
    other settings and ``overwrite`` is False.
    """
    plans, mismatched = [], []
    for _, _, config, run_dir in todo:
        if not (run_dir / CONFIG).exists():
            plans.append(("new", None))
            continue
        try:
            saved, _ = read_config(run_dir)
        except RunError:
            if not overwrite:
                raise
            plans.append(("overwrite", None))
            continue
        diffs = differences(saved, config, ignore=("data_dir",))
        if diffs:
            mismatched.append((run_dir, diffs))
            plans.append(("overwrite", None))
            continue
        epoch = saved_epoch(run_dir)
        if epoch == config.epochs:
            plans.append(("done", _finished_history(run_dir, config)))
        else:
            plans.append(("resume", None))
    if mismatched and not overwrite:
        shown = "\n".join(f"    {run_dir}: {format_differences(diffs)}" for run_dir, diffs in mismatched[:5])
        more = f"\n    ... and {len(mismatched) - 5} more" if len(mismatched) > 5 else ""
        raise SettingsMismatch(
            f"{len(mismatched)} run director{'y holds a run' if len(mismatched) == 1 else 'ies hold runs'} "
            f"made with other settings than the ones asked for, so their results cannot be reported "
            f"under them:\n{shown}{more}\nUse another --out for the new settings, or --overwrite to "
            f"train those runs again with them (finished runs with the same settings are kept).",
            [d for _, diffs in mismatched for d in diffs])
    return plans


def _finished_history(run_dir, config):
    """The metrics of a finished run, read from its checkpoint (the record) and checked."""
    import numpy

    from .optim import SGD

    model = build_model(config, numpy.random.default_rng(0))
    state = read_checkpoint(run_dir / CHECKPOINT, model, SGD(model.params, config.lr), numpy.random.default_rng())
    if state["history"] is None or len(state["history"]) != config.epochs:
        raise RunError(f"{run_dir / CHECKPOINT}: expected the metrics of {config.epochs} epochs; "
                       f"use --overwrite to train this run again")
    return state["history"]


def _status(todo):
    """What the run directories hold now, for the message after an interruption."""
    finished, stopped, empty = [], [], []
    for variant, seed, config, run_dir in todo:
        epoch = saved_epoch(run_dir) or 0
        if epoch >= config.epochs:
            finished.append(run_dir)
        elif epoch > 0:
            stopped.append(f"{run_dir} (epoch {epoch} of {config.epochs})")
        else:
            empty.append(run_dir)
    lines = [f"{len(finished)} of {len(todo)} runs are finished and kept"]
    if stopped:
        lines.append(f"{len(stopped)} stopped part-way keep their last finished epoch and continue from it: "
                     + ", ".join(stopped))
    if empty:
        lines.append(f"{len(empty)} have no finished epoch yet")
    return "; ".join(lines)


# --------------------------------------------------------------------------- running

def _train_run(config, run_dir, plan, progress, on_epoch_end=None):
    """One run of the comparison; returns its metrics."""
    history, _ = train(config, run_dir, resume=plan == "resume", overwrite=plan == "overwrite",
                       progress=progress, on_epoch_end=on_epoch_end, log=lambda m: None)
    return history


def _worker(index, config, run_dir, plan, messages):
    """Body of one worker process: train one run, report each epoch and the end on ``messages``."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)      # the parent decides when to stop, and stops us
    try:
        history = _train_run(config, run_dir, plan, False, lambda m: messages.put(("epoch", index, m)))
    except Exception as err:                          # sent back, raised by the parent
        messages.put(("error", index, err))
    else:
        messages.put(("done", index, history))


def _run_in_processes(todo, plans, pending, jobs, on_epoch, on_done):
    """Train ``pending`` runs, ``jobs`` at a time, each in a fresh single-threaded process.

    On Ctrl-C (or an error) every worker is stopped (SIGTERM, then SIGKILL after 5 s) before
    the exception goes on: a checkpoint is written atomically, so a stopped run keeps its last
    finished epoch.
    """
    import multiprocessing
    import os
    import queue as queue_module

    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    waiting, running = list(pending), {}
    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    os.environ.update({k: "1" for k in THREAD_VARIABLES})   # read by each new process's BLAS
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                index = waiting.pop(0)
                _, _, config, run_dir = todo[index]
                process = context.Process(target=_worker, args=(index, config, run_dir, plans[index][0], messages),
                                          daemon=True)
                process.start()
                running[index] = process
            try:
                kind, index, payload = messages.get(timeout=0.5)
            except queue_module.Empty:
                for index, process in list(running.items()):
                    if not process.is_alive() and process.exitcode != 0:
                        raise RuntimeError(f"compare: the worker training {todo[index][3]} exited with code "
                                           f"{process.exitcode} (out of memory?); run the command again to "
                                           f"continue from its last finished epoch")
                continue
            if kind == "epoch":
                on_epoch(index, payload)
            elif kind == "error":
                raise payload
            else:
                running.pop(index).join()
                on_done(index, payload)
    finally:
        for process in running.values():
            process.terminate()
        for process in running.values():
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _train_all(todo, out, overwrite, jobs, progress, log, summaries):
    """Train every run of ``todo`` [(variant, seed, config, run_dir)] that is not finished.

    Finished runs with the same settings are read back, stopped ones continue; the summary
    files named in ``summaries`` are removed first when anything is trained (they would no
    longer describe what is on disk). -> {index: history}
    """
    plans = _plan(todo, overwrite)                   # every check before anything is trained
    histories = {}
    for index, (plan, history) in enumerate(plans):
        if plan == "done":
            histories[index] = history
            log(f"[{index + 1}/{len(todo)}] {todo[index][0].name}, seed {todo[index][1]}: already done")

    def name(index):
        return f"[{index + 1}/{len(todo)}] {todo[index][0].name}, seed {todo[index][1]}"

    def on_epoch(index, m):
        log(f"{name(index)}: epoch {m['epoch']}/{todo[index][2].epochs}, loss {m['train_loss']:.4f}, "
            f"test {100 * m['test_acc']:.2f}%, {m['seconds']:.1f} s")

    def on_done(index, history):
        histories[index] = history
        log(f"{name(index)}: test accuracy {100 * history[-1]['test_acc']:.2f}%")

    pending = [i for i in range(len(todo)) if i not in histories]
    if pending:
        for summary in summaries:
            (out / summary).unlink(missing_ok=True)
    try:
        if jobs <= 1:
            for index in pending:
                log(f"{name(index)} ...")
                on_done(index, _train_run(todo[index][2], todo[index][3], plans[index][0], progress,
                                          lambda m, i=index: on_epoch(i, m)))
        elif pending:
            log(f"training {len(pending)} runs, {jobs} at a time")
            _run_in_processes(todo, plans, pending, jobs, on_epoch, on_done)
    except KeyboardInterrupt:
        raise ComparisonInterrupted(f"interrupted: {_status(todo)} in {out}; {summaries[1]} was not written. "
                                    f"Run the same command again to continue.") from None
    return histories


def run_comparison(base: TrainConfig, out_dir, position, ranks, seeds, wide_rank=None,
                   progress=True, jobs=1, log=print, input_dependent=False, overwrite=False,
                   coord_conv=False, lc_inits=("he",)):
    """Train every variant for every seed (reusing finished runs) and write the summaries.

    base      settings shared by all runs (epochs, filters, data, optimiser ...)
    position  1-based layer position that is swapped
    input_dependent  also train "lrlc input-dependent K=r" for every rank r (True) or for the
              ranks listed
    coord_conv  also train the CoordConv baseline row
    lc_inits  the LC rows: ("he",), ("keras",) or ("he", "keras")
    jobs      runs trained at the same time, each in its own process with a single-threaded
              BLAS: on a machine with that many cores this uses all of them for the copies
              and element-wise work too, which one multi-threaded process does not
    overwrite train again the runs whose saved settings differ from the ones asked for;
              without it such runs raise SettingsMismatch before anything is trained
    -> list of row dicts (also written to results.csv)

    A finished run with the same settings is read back, not trained again; a stopped one
    continues from its checkpoint. Ctrl-C stops every worker and raises ComparisonInterrupted.
    """
    num_layers = len(base.layers)
    if not 1 <= position <= num_layers:
        raise ValueError(f"compare: expected position between 1 and {num_layers}, got {position}")
    wide_rank = wide_rank or (4 if 4 in ranks else max(ranks))
    out = Path(out_dir)
    if base.data_dir is not None:
        base = dataclasses.replace(base, data_dir=str(Path(base.data_dir).expanduser().absolute()))
    todo = []
    for variant in variants(position, num_layers, ranks, wide_rank, input_dependent, coord_conv=coord_conv,
                            lc_inits=lc_inits):
        for seed in seeds:
            config = variant_config(base, variant, seed).validate()
            todo.append((variant, seed, config, out / _slug(variant.name) / f"seed{seed}"))

    histories = _train_all(todo, out, overwrite, jobs, progress, log, SUMMARY_FILES)

    rows, params_of = [], {}
    for index, (variant, seed, config, _) in enumerate(todo):
        history = histories[index]
        if variant not in params_of:   # count once per variant (an LC network can be large)
            params_of[variant] = build_model(config).num_parameters
        params = params_of[variant]
        rows.append({
            "variant": variant.name, "layers": ",".join(variant.layers),
            "rank": variant.rank if _has_rank(variant) else "",
            "seed": seed, "test_acc": history[-1]["test_acc"], "val_acc": history[-1]["val_acc"],
            "params": params, "seconds_per_epoch": statistics.mean(m["seconds"] for m in history),
        })
    write_results(rows, out, base, position)
    return rows


#: the files ``write_results`` writes
SUMMARY_FILES = ("results.csv", "results.md", "accuracy_vs_rank.png")


def _has_rank(variant):
    """LRLC rows have a rank; wide conv has the rank whose parameter count it matches; conv and LC none."""
    return any(kind in ("lrlc", "wide_conv") for kind in variant.layers)


def summarise(rows):
    """Per variant (in order of first appearance): mean/std of test accuracy, and the accuracies."""
    groups = {}
    for r in rows:
        groups.setdefault(r["variant"], []).append(r)
    summary = []
    for name, rs in groups.items():
        acc = [100 * r["test_acc"] for r in rs]
        summary.append({
            "variant": name, "rank": rs[0]["rank"], "layers": rs[0]["layers"], "runs": len(rs),
            "mean": statistics.mean(acc), "std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "params": rs[0]["params"], "seconds_per_epoch": statistics.mean(r["seconds_per_epoch"] for r in rs),
            "accuracies": acc,
        })
    return summary


def _is_lrlc(name):
    return name.startswith("lrlc K=") or name.startswith(INPUT_DEPENDENT)


def differences_table(summary):
    """The rows of results.md's second table: every row against conv, and every LRLC row
    against the best of the rows that are not LRLC (by mean). -> [(row, reference, result, why)]"""
    from .stats import compare_groups

    by_name = {s["variant"]: s for s in summary}
    out = []
    conv = by_name.get("conv")
    others = [s for s in summary if not _is_lrlc(s["variant"])]
    best = max(others, key=lambda s: s["mean"]) if others else None
    for s in summary:
        if conv is not None and s is not conv:
            out.append((s["variant"], "conv", *compare_groups(s["accuracies"], conv["accuracies"])))
        if _is_lrlc(s["variant"]) and best is not None and best is not conv:
            out.append((s["variant"], best["variant"], *compare_groups(s["accuracies"], best["accuracies"])))
    return out


def _write_csv(rows, path):
    """One CSV line per row dict (the first row's keys are the header); -> the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path.parent


def write_results(rows, out_dir, base, position):
    """results.csv, results.md and accuracy_vs_rank.png in ``out_dir``."""
    from .stats import NOISE_NOTE, format_comparison

    out = _write_csv(rows, Path(out_dir) / "results.csv")
    summary = summarise(rows)
    image = f"{base.canvas}x{base.canvas} canvas" if base.dataset.startswith("translated-") else "28x28"
    lines = [
        f"# Layer position {position}: conv vs wide conv vs LC vs LRLC",
        "",
        f"{base.dataset} ({image}), {base.epochs} epoch{'s' if base.epochs != 1 else ''}, {base.filters} filters, "
        f"batch {base.batch_size}, lr {base.lr}, {base.schedule} schedule, training examples: "
        f"{'all' if base.limit_train is None else base.limit_train}; test accuracy as mean ± std over seeds.",
        "",
        "| variant | layers | test accuracy (%) | runs | parameters | seconds / epoch |",
        "|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(f"| {s['variant']} | {s['layers']} | {s['mean']:.2f} ± {s['std']:.2f} | {s['runs']} "
                     f"| {s['params']:,} | {s['seconds_per_epoch']:.1f} |")
    table = differences_table(summary)
    lines += ["", "## Differences", ""]
    if not table:
        lines.append("No row to compare against (no conv row).")
    elif all(result is None for _, _, result, _ in table):
        lines.append(f"No claim: {table[0][3]}. Train every row with several seeds (--seeds 0,1,2) to "
                     f"tell a difference from the spread between seeds.")
    else:
        lines += [f"Test accuracy of each row minus that of the reference row, in percentage points, with "
                  f"its 95% confidence interval and the p-value of Welch's t-test (``lrlc_np.stats``); "
                  f"\"{NOISE_NOTE}\" marks an interval that contains 0, a difference the seeds alone "
                  f"could give. Every LRLC row is also compared with the best row that is not LRLC.", "",
                  "| row | against | difference (95% CI), p |", "|---|---|---|"]
        lines += [f"| {row} | {ref} | {format_comparison(result, why)} |" for row, ref, result, why in table]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    plot_accuracy_vs_rank(summary, out / "accuracy_vs_rank.png", position)


def plot_accuracy_vs_rank(summary, path, position):
    from .plots import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    lrlc = [s for s in summary if s["variant"].startswith("lrlc K=")]
    dependent = [s for s in summary if s["variant"].startswith(INPUT_DEPENDENT)]
    for group, fmt, label in ((lrlc, "o-", "LRLC"), (dependent, "s--", "LRLC, input-dependent alpha")):
        if group:
            ax.errorbar([s["rank"] for s in group], [s["mean"] for s in group], yerr=[s["std"] for s in group],
                        fmt=fmt, capsize=4, label=label)
    styles = {"conv": ("k", "--"), "lc": ("tab:red", ":"), "wide_conv": ("tab:green", "-."),
              COORD_CONV: ("tab:purple", (0, (5, 1))), LC_KERAS: ("tab:orange", ":")}
    for s in summary:
        key = s["variant"] if s["variant"] in styles else s["variant"].split(" ")[0]
        if key in styles:
            color, dash = styles[key]
            ax.axhline(s["mean"], color=color, linestyle=dash, label=f"{s['variant']}")
            if s["std"]:
                ax.axhspan(s["mean"] - s["std"], s["mean"] + s["std"], color=color, alpha=0.08)
    ax.set(xlabel="LRLC rank K", ylabel="test accuracy (%)", title=f"Layer position {position}")
    ranks = sorted({s["rank"] for s in lrlc + dependent})
    if ranks:
        ax.set_xscale("log", base=2)
        ax.set_xticks(ranks, [str(r) for r in ranks])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))   # outside: the lines stay visible
    return _save(fig, path)


# --------------------------------------------------------------------------- rank x position sweep

#: the files ``run_sweep`` writes
SWEEP_FILES = ("sweep.csv", "sweep.md", "sweep_accuracy.png", "sweep_gain.png")


def run_sweep(base: TrainConfig, out_dir, positions, ranks, seeds, progress=True, jobs=1, log=print,
              overwrite=False):
    """LRLC of every rank at every layer position, against the all-conv network, over ``seeds``.

    The all-conv network is the same whichever position is asked, so it is trained once per
    seed (``out/conv/seed<s>``); LRLC K=r at position p is ``out/layer<p>/lrlc_K<r>/seed<s>``.
    Writes sweep.csv (one row per run), sweep.md (mean ± std per cell, and each cell's gain
    over conv with its 95% confidence interval and Welch's p), sweep_accuracy.png and
    sweep_gain.png (heat maps: positions down, ranks across). -> list of row dicts
    """
    num_layers = len(base.layers)
    bad = [p for p in positions if not 1 <= p <= num_layers]
    if bad or not positions:
        raise ValueError(f"compare: expected positions between 1 and {num_layers}, got {list(positions)}")
    out = Path(out_dir)
    if base.data_dir is not None:
        base = dataclasses.replace(base, data_dir=str(Path(base.data_dir).expanduser().absolute()))
    cells = [(None, None, Variant("conv", ("conv",) * num_layers, 1))]
    for p in positions:
        layers = tuple("lrlc" if i == p - 1 else "conv" for i in range(num_layers))
        cells += [(p, r, Variant(f"lrlc K={r} at layer {p}", layers, r)) for r in ranks]
    todo, where = [], []
    for p, r, variant in cells:
        folder = out / "conv" if p is None else out / f"layer{p}" / f"lrlc_K{r}"
        for seed in seeds:
            todo.append((variant, seed, variant_config(base, variant, seed).validate(), folder / f"seed{seed}"))
            where.append((p, r))
    histories = _train_all(todo, out, overwrite, jobs, progress, log, SWEEP_FILES)
    rows = []
    for index, ((variant, seed, config, _), (p, r)) in enumerate(zip(todo, where)):
        history = histories[index]
        rows.append({"position": "" if p is None else p, "rank": "" if r is None else r, "variant": variant.name,
                     "seed": seed, "test_acc": history[-1]["test_acc"], "val_acc": history[-1]["val_acc"],
                     "seconds_per_epoch": statistics.mean(m["seconds"] for m in history)})
    write_sweep(rows, out, base, positions, ranks)
    return rows


def sweep_grid(rows, positions, ranks):
    """(conv accuracies, {(position, rank): accuracies}) in %, from the rows of ``run_sweep``."""
    conv = [100 * r["test_acc"] for r in rows if r["position"] == ""]
    cells = {(p, k): [100 * r["test_acc"] for r in rows if r["position"] == p and r["rank"] == k]
             for p in positions for k in ranks}
    return conv, cells


def write_sweep(rows, out_dir, base, positions, ranks):
    """sweep.csv, sweep.md, sweep_accuracy.png and sweep_gain.png in ``out_dir``."""
    import numpy

    from .stats import NOISE_NOTE, compare_groups, format_comparison

    out = _write_csv(rows, Path(out_dir) / "sweep.csv")
    conv, cells = sweep_grid(rows, positions, ranks)
    mean = numpy.array([[statistics.mean(cells[p, k]) for k in ranks] for p in positions])
    std = numpy.array([[statistics.stdev(cells[p, k]) if len(cells[p, k]) > 1 else 0.0 for k in ranks]
                       for p in positions])
    conv_mean = statistics.mean(conv)
    conv_std = statistics.stdev(conv) if len(conv) > 1 else 0.0
    lines = ["# LRLC rank x layer position: test accuracy (%)", "",
             f"{base.dataset}, {base.epochs} epoch{'s' if base.epochs != 1 else ''}, {base.filters} filters, "
             f"batch {base.batch_size}, lr {base.lr}, training examples: "
             f"{'all' if base.limit_train is None else base.limit_train}, {len(conv)} seed{'s' if len(conv) != 1 else ''}; "
             f"mean ± std over seeds. All conv: {conv_mean:.2f} ± {conv_std:.2f}.", "",
             "| layer | " + " | ".join(f"K={k}" for k in ranks) + " |", "|---|" + "---|" * len(ranks)]
    for i, p in enumerate(positions):
        lines.append(f"| {p} | " + " | ".join(f"{mean[i, j]:.2f} ± {std[i, j]:.2f}" for j in range(len(ranks))) + " |")
    lines += ["", "## Gain over all conv (percentage points)", "",
              f"Difference of means with its 95% confidence interval and Welch's p (``lrlc_np.stats``); "
              f"\"{NOISE_NOTE}\" marks an interval that contains 0.", "",
              "| layer | " + " | ".join(f"K={k}" for k in ranks) + " |", "|---|" + "---|" * len(ranks)]
    for p in positions:
        lines.append(f"| {p} | " + " | ".join(format_comparison(*compare_groups(cells[p, k], conv)) for k in ranks) + " |")
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    plot_heat_map(mean, positions, ranks, out / "sweep_accuracy.png",
                  title=f"LRLC test accuracy (%), all conv {conv_mean:.2f}", cmap="viridis")
    plot_heat_map(mean - conv_mean, positions, ranks, out / "sweep_gain.png",
                  title="LRLC gain over all conv (points)", cmap="RdBu", centred=True)


def plot_heat_map(values, positions, ranks, path, title, cmap="viridis", centred=False):
    """A positions x ranks grid of numbers as a heat map, each cell labelled with its value."""
    import numpy

    from .plots import _pyplot, _save

    plt = _pyplot()
    values = numpy.asarray(values, dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 * len(ranks) + 2.4, 0.9 * len(positions) + 1.6))
    limits = {}
    if centred:
        top = float(numpy.abs(values).max()) or 1.0
        limits = dict(vmin=-top, vmax=top)
    image = ax.imshow(values, cmap=cmap, aspect="auto", **limits)
    for i in range(len(positions)):
        for j in range(len(ranks)):
            r, g, b, _ = image.cmap(image.norm(values[i, j]))
            ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"   # readable on the cell
            ax.text(j, i, f"{values[i, j]:+.2f}" if centred else f"{values[i, j]:.2f}", ha="center", va="center",
                    fontsize=9, color=ink)
    ax.set_xticks(range(len(ranks)), [f"K={k}" for k in ranks])
    ax.set_yticks(range(len(positions)), [f"layer {p}" for p in positions])
    ax.set(xlabel="LRLC rank", ylabel="position of the LRLC layer", title=title)
    fig.colorbar(image, ax=ax, shrink=0.85)
    return _save(fig, path)
