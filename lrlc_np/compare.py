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
import json
import statistics
from pathlib import Path

from .train import CHECKPOINT, CONFIG, METRICS, TrainConfig, read_metrics, train


#: ``lrlc compare --quick``: about a minute on two cores, on the bundled sample
QUICK = dict(dataset="mnist-sample", filters=16, epochs=3, ranks=[1, 4], seeds=[0, 1], batch_size=32,
             limit_train=2000, lr=0.1, warmup_epochs=0.25, jobs=2)
#: ``lrlc compare`` without --quick: the paper's budget on full MNIST
COMPARE_DEFAULTS = dict(dataset="mnist", filters=64, epochs=5, ranks=[1, 2, 4, 8], seeds=[0, 1, 2],
                        batch_size=128, limit_train=None, lr=0.05, warmup_epochs=1.0, jobs=1)

#: name prefix of the input-dependent LRLC variants ("lrlc input-dependent K=4")
INPUT_DEPENDENT = "lrlc input-dependent"


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    layers: tuple
    rank: int
    input_dependent: bool = False


def variants(position, num_layers, ranks, wide_rank, input_dependent=False):
    """The networks to compare: conv everywhere, then one position swapped.

    input_dependent  also one input-dependent LRLC variant per rank, after the fixed ones
    """
    def swapped(kind):
        return tuple(kind if i == position - 1 else "conv" for i in range(num_layers))

    out = [Variant("conv", swapped("conv"), 1),
           Variant(f"wide_conv (K={wide_rank})", swapped("wide_conv"), wide_rank),
           Variant("lc", swapped("lc"), 1)]
    out += [Variant(f"lrlc K={r}", swapped("lrlc"), r) for r in ranks]
    if input_dependent:
        out += [Variant(f"{INPUT_DEPENDENT} K={r}", swapped("lrlc"), r, True) for r in ranks]
    return out


def variant_config(base, variant, seed):
    """The TrainConfig of one run: ``base`` with the variant's layers and rank, and ``seed``.

    Input-dependent variants use combining "full" (the only mode the combining network
    supports); the other variants keep ``base.combining``.
    """
    config = dataclasses.replace(base, layers=variant.layers, rank=variant.rank, seed=seed,
                                 input_dependent=variant.input_dependent)
    if variant.input_dependent:
        config = dataclasses.replace(config, combining="full")
    return config


def _slug(name):
    return name.replace(" ", "_").replace("(", "").replace(")", "").replace("=", "")


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _train_run(config, run_dir, progress):
    """One run of the comparison (resumed if it has a checkpoint); returns its metrics."""
    resume = (Path(run_dir) / CHECKPOINT).exists()
    history, _ = train(config, run_dir, resume=resume, progress=progress, log=lambda m: None)
    return history


def _is_finished(config, run_dir):
    history = read_metrics(Path(run_dir) / METRICS)
    saved = Path(run_dir) / CONFIG
    done = (len(history) == config.epochs and saved.exists()
            and TrainConfig.from_json(json.loads(saved.read_text())) == config)
    return history if done else None


def run_comparison(base: TrainConfig, out_dir, position, ranks, seeds, wide_rank=None,
                   progress=True, jobs=1, log=print, input_dependent=False):
    """Train every variant for every seed (skipping finished runs) and write the summaries.

    base      settings shared by all runs (epochs, filters, data, optimiser ...)
    position  1-based layer position that is swapped
    input_dependent  also train "lrlc input-dependent K=r" for every rank r
    jobs      runs trained at the same time, each in its own process with a single-threaded
              BLAS: on a machine with that many cores this uses all of them for the copies
              and element-wise work too, which one multi-threaded process does not
    -> list of row dicts (also written to results.csv)
    """
    from .models import build_network

    num_layers = len(base.layers)
    if not 1 <= position <= num_layers:
        raise ValueError(f"compare: expected position between 1 and {num_layers}, got {position}")
    wide_rank = wide_rank or (4 if 4 in ranks else max(ranks))
    out = Path(out_dir)
    todo = []
    for variant in variants(position, num_layers, ranks, wide_rank, input_dependent):
        for seed in seeds:
            config = variant_config(base, variant, seed)
            todo.append((variant, seed, config, out / _slug(variant.name) / f"seed{seed}"))

    histories = {}
    for index, (variant, seed, config, run_dir) in enumerate(todo):
        done = _is_finished(config, run_dir)
        if done is not None:
            histories[index] = done
            log(f"[{index + 1}/{len(todo)}] {variant.name}, seed {seed}: already done")

    def report(index):
        variant, seed = todo[index][:2]
        log(f"[{index + 1}/{len(todo)}] {variant.name}, seed {seed}: "
            f"test accuracy {100 * histories[index][-1]['test_acc']:.2f}%")

    pending = [i for i in range(len(todo)) if i not in histories]
    if jobs <= 1:
        for index in pending:
            log(f"[{index + 1}/{len(todo)}] {todo[index][0].name}, seed {todo[index][1]} ...")
            histories[index] = _train_run(todo[index][2], todo[index][3], progress)
            report(index)
    elif pending:
        import concurrent.futures
        import multiprocessing
        import os

        saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
        os.environ.update({k: "1" for k in THREAD_VARIABLES})   # read by each new process's BLAS
        try:
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
                futures = {pool.submit(_train_run, todo[i][2], todo[i][3], False): i for i in pending}
                log(f"training {len(pending)} runs, {jobs} at a time")
                for future in concurrent.futures.as_completed(futures):
                    histories[futures[future]] = future.result()
                    report(futures[future])
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    rows, params_of = [], {}
    for index, (variant, seed, config, _) in enumerate(todo):
        history = histories[index]
        if variant not in params_of:   # count once per variant (an LC network can be large)
            params_of[variant] = build_network(
                config.layers, filters=config.filters, rank=config.rank, combining=config.combining,
                normalize=config.normalize, batch_norm=config.batch_norm,
                coord_conv=config.coord_conv, input_dependent=config.input_dependent).num_parameters
        params = params_of[variant]
        rows.append({
            "variant": variant.name, "layers": ",".join(variant.layers), "rank": variant.rank,
            "seed": seed, "test_acc": history[-1]["test_acc"], "val_acc": history[-1]["val_acc"],
            "params": params, "seconds_per_epoch": statistics.mean(m["seconds"] for m in history),
        })
    write_results(rows, out, base, position)
    return rows


def summarise(rows):
    """Per variant (in order of first appearance): mean/std of test accuracy and more."""
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
        })
    return summary


def write_results(rows, out_dir, base, position):
    """results.csv, results.md and accuracy_vs_rank.png in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = summarise(rows)
    lines = [
        f"# Layer position {position}: conv vs wide conv vs LC vs LRLC",
        "",
        f"{base.dataset}, {base.epochs} epoch{'s' if base.epochs != 1 else ''}, {base.filters} filters, batch {base.batch_size}, "
        f"lr {base.lr}, {base.schedule} schedule, training examples: "
        f"{'all' if base.limit_train is None else base.limit_train}; mean ± std over seeds.",
        "",
        "| variant | layers | test accuracy (%) | runs | parameters | seconds / epoch |",
        "|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(f"| {s['variant']} | {s['layers']} | {s['mean']:.2f} ± {s['std']:.2f} | {s['runs']} "
                     f"| {s['params']:,} | {s['seconds_per_epoch']:.1f} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    plot_accuracy_vs_rank(summary, out / "accuracy_vs_rank.png", position)


def plot_accuracy_vs_rank(summary, path, position):
    from .plots import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    lrlc = [s for s in summary if s["variant"].startswith("lrlc K=")]
    dependent = [s for s in summary if s["variant"].startswith(INPUT_DEPENDENT)]
    for group, fmt, label in ((lrlc, "o-", "LRLC"), (dependent, "s--", "LRLC, input-dependent alpha")):
        if group:
            ax.errorbar([s["rank"] for s in group], [s["mean"] for s in group], yerr=[s["std"] for s in group],
                        fmt=fmt, capsize=4, label=label)
    styles = {"conv": ("k", "--"), "lc": ("tab:red", ":"), "wide_conv": ("tab:green", "-.")}
    for s in summary:
        key = s["variant"].split(" ")[0]
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
    ax.legend(fontsize=8)
    return _save(fig, path)
