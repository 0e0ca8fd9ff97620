"""``lrlc compare``: conv, wide conv, LC and LRLC at one layer position, over several seeds.

Three parts:

    variants.py      what is trained: the variants, their settings, their folders, the presets
    lrlc_np.scheduling  how runs are trained: in this process, in worker processes (--jobs), or
                     on a Dask cluster (--scheduler, ``lrlc_np.cluster``)
    report.py        what is written: results.csv, results.md, accuracy_vs_rank.png (and the
                     sweep's files)

and here the comparison itself (``run_comparison``), the rank x position sweep
(``run_sweep``), and one report of comparisons run in parts (``combine_comparisons``).
Every run is a normal training run in ``out/<variant>/seed<seed>/``, so a comparison that
was interrupted continues where it stopped when started again: finished runs with the same
settings are read back from their checkpoints, stopped ones continue, and a run directory
that holds a run with other settings is refused before anything trains.
With ``input_dependent=True`` each rank also gets an "lrlc input-dependent K=r" variant: LRLC
whose combining weights come from each input (``combining="full"``), same seeds and budget.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .. import scheduling
from ..rundir import (CHECKPOINT, CONFIG, RunError, SettingsMismatch, differences, format_differences,
                      read_checkpoint, read_config, saved_epoch)
from ..settings import TrainConfig, distinct
from ..train import build_model
from .report import (SUMMARY_FILES, SWEEP_FILES, ReportError, differences_table, plot_accuracy_vs_rank,
                     plot_heat_map, plot_learning_curves, position_of, read_results, result_rows, summarise,
                     sweep_grid, sweep_rows, where_they_ran, write_results, write_sweep)
from .variants import (COMPARE_DEFAULTS, COORD_CONV, INPUT_DEPENDENT, LC_KERAS, QUICK, QUICK_TIME, Variant,
                       preset, slug, sweep_cells, variant_config, variants)

__all__ = ["run_comparison", "run_sweep", "combine_comparisons", "ComparisonInterrupted", "ReportError",
           "read_results", "variants", "variant_config", "Variant",
           "summarise", "differences_table", "write_results", "write_sweep", "sweep_grid", "plot_accuracy_vs_rank",
           "plot_learning_curves", "where_they_ran",
           "plot_heat_map", "preset", "QUICK", "QUICK_TIME", "COMPARE_DEFAULTS", "INPUT_DEPENDENT", "COORD_CONV",
           "LC_KERAS", "SUMMARY_FILES", "SWEEP_FILES"]


class ComparisonInterrupted(KeyboardInterrupt):
    """Ctrl-C during a comparison; the message says what each run directory holds."""


@dataclasses.dataclass
class _Run:
    """One run of a comparison: a variant and a seed, its settings and its run directory."""

    variant: Variant
    seed: int
    config: TrainConfig
    run_dir: Path


# --------------------------------------------------------------------------- what is on disk

def _plans(runs, overwrite):
    """For every run: "done" (its history), "resume", "new" or "overwrite"; reads and checks only.

    Raises SettingsMismatch (before anything is trained) when a run directory holds a run with
    other settings and ``overwrite`` is False.
    """
    plans, mismatched = [], []
    for run in runs:
        if not (run.run_dir / CONFIG).exists():
            plans.append(("new", None))
            continue
        try:
            saved, _ = read_config(run.run_dir)
        except RunError:
            if not overwrite:
                raise
            plans.append(("overwrite", None))
            continue
        diffs = differences(saved, run.config, ignore=("data_dir",))
        if diffs:
            mismatched.append((run.run_dir, diffs))
            plans.append(("overwrite", None))
        elif saved_epoch(run.run_dir) == run.config.epochs:
            plans.append(("done", _finished_history(run)))
        else:
            plans.append(("resume", None))
    if mismatched and not overwrite:
        raise _mismatch(mismatched)
    return plans


def _mismatch(mismatched):
    shown = "\n".join(f"    {run_dir}: {format_differences(diffs)}" for run_dir, diffs in mismatched[:5])
    more = f"\n    ... and {len(mismatched) - 5} more" if len(mismatched) > 5 else ""
    return SettingsMismatch(
        f"{len(mismatched)} run director{'y holds a run' if len(mismatched) == 1 else 'ies hold runs'} "
        f"made with other settings than the ones asked for, so their results cannot be reported "
        f"under them:\n{shown}{more}\nUse another --out for the new settings, or --overwrite to "
        f"train those runs again with them (finished runs with the same settings are kept).",
        [d for _, diffs in mismatched for d in diffs])


def _finished_history(run):
    """The metrics of a finished run, read from its checkpoint (the record) and checked."""
    import numpy

    from ..optim import SGD

    model = build_model(run.config, numpy.random.default_rng(0))
    state = read_checkpoint(run.run_dir / CHECKPOINT, model, SGD(model.params, run.config.lr),
                            numpy.random.default_rng())
    if state["history"] is None or len(state["history"]) != run.config.epochs:
        raise RunError(f"{run.run_dir / CHECKPOINT}: expected the metrics of {run.config.epochs} epochs; "
                       f"use --overwrite to train this run again")
    return state["history"]


def _status(runs):
    """What the run directories hold now, for the message after an interruption."""
    finished, stopped, empty = [], [], []
    for run in runs:
        epoch = saved_epoch(run.run_dir) or 0
        if epoch >= run.config.epochs:
            finished.append(run.run_dir)
        elif epoch > 0:
            stopped.append(f"{run.run_dir} (epoch {epoch} of {run.config.epochs})")
        else:
            empty.append(run.run_dir)
    lines = [f"{len(finished)} of {len(runs)} runs are finished and kept"]
    if stopped:
        lines.append(f"{len(stopped)} stopped part-way {'keeps its' if len(stopped) == 1 else 'keep their'} last "
                     f"finished epoch and continue{'s' if len(stopped) == 1 else ''} from it: "
                     + ", ".join(stopped))
    if empty:
        lines.append(f"{len(empty)} {'has' if len(empty) == 1 else 'have'} no finished epoch yet")
    return "; ".join(lines)


# --------------------------------------------------------------------------- training

def _train_all(runs, out, overwrite, jobs, progress, log, summaries, scheduler=None):
    """Train every run that is not finished (``scheduling``); -> the histories, in ``runs`` order.

    Finished runs with the same settings are read back, stopped ones continue; the summary
    files named in ``summaries`` are removed first when anything is trained (they would no
    longer describe what is on disk). With ``scheduler`` the runs train on the Dask cluster
    there, once it is checked that every worker sees ``out``.
    """
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(20, "not a folder", str(out))
    executor = _executor(jobs, progress, scheduler, log)
    plans = _plans(runs, overwrite)                      # every check before anything is trained
    histories = {}

    def name(index):
        return f"[{index + 1}/{len(runs)}] {runs[index].variant.name}, seed {runs[index].seed}"

    def on_epoch(job, m):
        log(f"{name(job.key)}: epoch {m['epoch']}/{runs[job.key].config.epochs}, loss {m['train_loss']:.4f}, "
            f"test {100 * m['test_acc']:.2f}%, {m['seconds']:.1f} s")

    def on_done(job, history):
        histories[job.key] = history
        log(f"{name(job.key)}: test accuracy {100 * history[-1]['test_acc']:.2f}%")

    for index, (plan, history) in enumerate(plans):
        if plan == "done":
            histories[index] = history
            log(f"{name(index)}: already done")
    jobs_to_run = [scheduling.Job(index, run.config.to_json(), str(run.run_dir), plans[index][0])
                   for index, run in enumerate(runs) if index not in histories]
    try:
        if jobs_to_run:
            executor.check(out)                          # a cluster: every worker sees out
            for summary in summaries:
                (out / summary).unlink(missing_ok=True)
            where = (f"on the Dask cluster at {executor.address}" if scheduler is not None
                     else f"{min(jobs, len(jobs_to_run))} at a time")
            log(f"training {len(jobs_to_run)} run{'s' if len(jobs_to_run) != 1 else ''}, {where}, "
                f"each on {scheduling.THREADS} thread")
        executor.run(jobs_to_run, on_epoch, on_done)
    except KeyboardInterrupt as err:
        cancelled = f"{err}; " if str(err) else ""
        raise ComparisonInterrupted(f"interrupted: {cancelled}{_status(runs)} in {out}; {summaries[1]} was not "
                                    f"written. Run the same command again to continue.") from None
    finally:
        executor.close()
    return [histories[index] for index in range(len(runs))]


def _executor(jobs, progress, scheduler, log):
    """Where the runs train: ``scheduling.executor_for(jobs)``, or the Dask cluster whose
    scheduler is at the address ``scheduler`` (or a ``DaskCluster`` made with options)."""
    if scheduler is None:
        return scheduling.executor_for(jobs, progress)
    if jobs > 1:
        raise ValueError(f"compare: expected jobs=1 with a scheduler (the cluster's worker threads decide how many "
                         f"runs train at once), got jobs={jobs}")
    if isinstance(scheduler, str):
        from ..cluster import DaskCluster

        return DaskCluster(scheduler, log=log)
    return scheduler


def _absolute(base):
    if base.data_dir is None:
        return base
    return dataclasses.replace(base, data_dir=str(Path(base.data_dir).expanduser().absolute()))


def run_comparison(base: TrainConfig, out_dir, position, ranks, seeds, wide_rank=None,
                   progress=True, jobs=1, log=print, input_dependent=False, overwrite=False,
                   coord_conv=False, lc_inits=("he",), scheduler=None, rows=None):
    """Train every variant for every seed (reusing finished runs) and write the summaries.

    base      settings shared by all runs (epochs, filters, data, optimiser ...)
    position  1-based layer position that is swapped
    ranks, seeds  each given once (a repeated one is a ValueError, before anything trains)
    input_dependent  also train "lrlc input-dependent K=r" for every rank r (True) or for the
              ranks listed
    coord_conv  also train the CoordConv baseline row
    lc_inits  the LC rows: ("he",), ("keras",) or ("he", "keras")
    jobs      runs trained at the same time, each in its own single-threaded process
              (``lrlc_np.scheduling``); every run uses one thread, so the numbers do not depend on it
    scheduler the address of a Dask scheduler (or a ``lrlc_np.cluster.DaskCluster``): every run
              is a task of that cluster instead (``jobs`` stays 1), the same numbers; ``out_dir``
              must be on storage that every worker sees at the same path (checked before
              anything is sent)
    overwrite train again the runs whose saved settings differ from the ones asked for;
              without it such runs raise SettingsMismatch before anything is trained
    rows      only these rows of the ones chosen above, by name ("lrlc K=4") or folder
              ("lrlc_K4"): more seeds where a difference is small, without training every row
    -> list of row dicts (also written to results.csv)

    Ctrl-C stops every worker (cancels the cluster's tasks) and raises ComparisonInterrupted.
    """
    num_layers = len(base.layers)
    if not 1 <= position <= num_layers:
        raise ValueError(f"compare: expected position between 1 and {num_layers}, got {position}")
    distinct(seeds, "seed")
    wide_rank = wide_rank or (4 if 4 in ranks else max(ranks))
    out, base = Path(out_dir), _absolute(base)
    chosen = variants(position, num_layers, ranks, wide_rank, input_dependent, coord_conv=coord_conv,
                      lc_inits=lc_inits)
    if rows is not None:
        chosen = _only(chosen, rows)
    runs = [_Run(variant, seed, variant_config(base, variant, seed).validate(), out / slug(variant.name) / f"seed{seed}")
            for variant in chosen for seed in seeds]
    histories = _train_all(runs, out, overwrite, jobs, progress, log, SUMMARY_FILES, scheduler)
    counts = {}

    def parameters(variant):              # counted once per variant (an LC network can be large)
        if variant not in counts:
            counts[variant] = build_model(variant_config(base, variant, seeds[0])).num_parameters
        return counts[variant]

    results = result_rows([(run.variant, run.seed) for run in runs], histories, parameters)
    write_results(results, out, base, position, histories)
    return results


def _only(chosen, rows):
    """The variants of ``chosen`` named in ``rows`` (by name or folder), in ``chosen``'s order."""
    by_folder = {slug(v.name): v for v in chosen}
    wanted = [slug(name) for name in distinct(rows, "row")]
    unknown = [name for name, folder in zip(rows, wanted) if folder not in by_folder]
    if unknown or not wanted:
        raise ValueError(f"compare: expected rows among {', '.join(by_folder)} (the rows these flags choose, by "
                         f"folder name), got {', '.join(map(str, unknown or ['none']))}")
    return [v for v in chosen if slug(v.name) in wanted]


def combine_comparisons(folders, out_dir):
    """One report of comparisons run in parts (seeds added later, rows run on other machines):
    the runs of every folder's results.csv, checked to share results.md's settings line and
    to hold no row and seed twice, written to ``out_dir`` as ``write_results`` writes them
    (results.csv, results.md, accuracy_vs_rank.png; no learning curves: results.csv does not
    hold the epochs). Rows keep the order of their first appearance, each row's runs the order
    of the folders. Raises ReportError, naming the folders, before anything is written.
    -> list of row dicts"""
    folders = [Path(f) for f in folders]
    out = Path(out_dir)
    if not folders:
        raise ReportError("compare: expected at least one comparison folder to combine")
    if any(f.resolve() == out.resolve() for f in folders):
        raise ReportError(f"compare: {out} is one of the folders to combine; write the combined report to a "
                          f"folder of its own (--out)")
    first_rows, first_heading = read_results(folders[0])
    rows, seen = list(first_rows), {(r["variant"], r["seed"]): folders[0] for r in first_rows}
    for folder in folders[1:]:
        more, more_heading = read_results(folder)
        if more_heading != first_heading:
            raise ReportError(f"compare: {folders[0]} and {folder} were run with other settings, so their runs "
                              f"cannot be reported together:\n    {folders[0]}: {' '.join(first_heading)}\n"
                              f"    {folder}: {' '.join(more_heading)}")
        for r in more:
            run = (r["variant"], r["seed"])
            if run in seen:
                raise ReportError(f"compare: {run[0]}, seed {run[1]} is in both {seen[run]} and {folder}; a run "
                                  f"may be reported once (leave one of them out)")
            seen[run] = folder
        rows += more
    order = list(dict.fromkeys(r["variant"] for r in rows))
    rows.sort(key=lambda r: order.index(r["variant"]))     # stable: each row's runs keep the folders' order
    write_results(rows, out, None, position_of(first_heading[0]), given_heading=first_heading)
    return rows


def run_sweep(base: TrainConfig, out_dir, positions, ranks, seeds, progress=True, jobs=1, log=print,
              overwrite=False, scheduler=None):
    """LRLC of every rank at every layer position, against the all-conv network, over ``seeds``.

    The all-conv network is the same whichever position is asked, so it is trained once per
    seed (``out/conv/seed<s>``); LRLC K=r at position p is ``out/layer<p>/lrlc_K<r>/seed<s>``.
    Writes sweep.csv (one row per run), sweep.md (mean ± std per cell, and each cell's gain
    over conv with its 95% confidence interval and Welch's p), sweep_accuracy.png and
    sweep_gain.png (heat maps: positions down, ranks across). ``jobs`` and ``scheduler`` as
    in ``run_comparison``. -> list of row dicts
    """
    num_layers = len(base.layers)
    bad = [p for p in positions if not 1 <= p <= num_layers]
    if bad or not positions:
        raise ValueError(f"compare: expected positions between 1 and {num_layers}, got {list(positions)}")
    distinct(seeds, "seed")
    out, base = Path(out_dir), _absolute(base)
    runs, where = [], []
    for p, r, variant in sweep_cells(positions, ranks, num_layers):
        folder = out / "conv" if p is None else out / f"layer{p}" / f"lrlc_K{r}"
        for seed in seeds:
            runs.append(_Run(variant, seed, variant_config(base, variant, seed).validate(), folder / f"seed{seed}"))
            where.append((p, r, variant.name, seed))
    histories = _train_all(runs, out, overwrite, jobs, progress, log, SWEEP_FILES, scheduler)
    rows = sweep_rows(where, histories)
    write_sweep(rows, out, base, positions, ranks)
    return rows
