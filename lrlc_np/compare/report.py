"""The report of a comparison: tables, statistics and figures, from the finished runs' metrics.

    results.csv            one row per run: variant, rank, seed, accuracies, parameters, seconds per
                           epoch, minutes for the run, and where it ran (threads, CPU)
    results.md             mean ± std per variant, with parameters and times, the CPUs and thread
                           counts the runs recorded, and every row's difference from conv (and
                           LRLC's from the best other row) with its 95% confidence interval and
                           Welch's p (``lrlc_np.stats``)
    accuracy_vs_rank.png   LRLC test accuracy against rank (fixed and input-dependent alpha as
                           two lines), with conv, wide conv and LC as horizontal lines
    learning_curves.png    a panel per row: its validation and test error against the epoch, the
                           mean over seeds (each seed's test error faint behind it)
    sweep.csv, sweep.md, sweep_accuracy.png, sweep_gain.png
                           the rank x position sweep: a row per run, mean ± std per cell, each
                           cell's gain over conv, and the two as heat maps

``read_results`` reads a finished comparison's results.csv and results.md back, so that
several comparisons (a grid run in parts) can be reported as one (``combine_comparisons``).
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from .. import plots
from .variants import COORD_CONV, INPUT_DEPENDENT, LC_KERAS

#: the files ``write_results`` writes
SUMMARY_FILES = ("results.csv", "results.md", "accuracy_vs_rank.png", "learning_curves.png")


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
            "minutes_per_run": statistics.mean(r["minutes"] for r in rs), "accuracies": acc,
        })
    return summary


def _is_lrlc(name):
    return name.startswith("lrlc K=") or name.startswith(INPUT_DEPENDENT)


def differences_table(summary):
    """The rows of results.md's second table: every row against conv, and every LRLC row
    against the best of the rows that are not LRLC (by mean). -> [(row, reference, result, why)]"""
    from ..stats import compare_groups

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


#: results.csv's columns and how each is read back (rank: "" where the row has none)
_COLUMNS = {"variant": str, "layers": str, "rank": lambda v: int(v) if v else "", "seed": int,
            "test_acc": float, "val_acc": float, "params": int, "seconds_per_epoch": float, "minutes": float,
            "threads": str, "cpu": str}


class ReportError(ValueError):
    """A comparison folder whose results cannot be read back or combined; the message says which."""


def read_results(folder):
    """The runs of a finished comparison, read back from ``folder``: (rows of results.csv with
    the types ``result_rows`` gave them, results.md's (title, settings) lines, as ``heading``).
    Raises ReportError naming the file when one is missing or not a comparison's."""
    folder = Path(folder)
    csv_path, md_path = folder / "results.csv", folder / "results.md"
    for path in (csv_path, md_path):
        if not path.is_file():
            raise ReportError(f"{path}: not found; expected the results of a finished 'lrlc compare' "
                              f"(results.csv and results.md) in {folder}")
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != list(_COLUMNS):
            raise ReportError(f"{csv_path}: expected the columns {', '.join(_COLUMNS)}, found "
                              f"{', '.join(reader.fieldnames or ['none'])}; is it a comparison's results.csv "
                              f"(not a sweep's)?")
        try:
            rows = [{key: read(line[key]) for key, read in _COLUMNS.items()} for line in reader]
        except (TypeError, ValueError) as err:
            raise ReportError(f"{csv_path}, line {reader.line_num}: {err}") from None
    if not rows:
        raise ReportError(f"{csv_path}: expected a line per run, found none")
    lines = md_path.read_text(encoding="utf-8").splitlines() + ["", "", ""]
    if not lines[0].startswith("# Layer position "):
        raise ReportError(f"{md_path}: expected the heading that 'lrlc compare' writes ('# Layer position "
                          f"...'), found {lines[0]!r}")
    return rows, (lines[0], lines[2])


def position_of(title):
    """The layer position named in results.md's title ("# Layer position 3: ...") -> 3."""
    return int(title.removeprefix("# Layer position ").split(":", 1)[0])


UNRECORDED = "not recorded"         # results.csv's threads and cpu for epochs of a version before 0.7.1


def where_they_ran(rows):
    """One line naming the CPUs and thread counts that the runs recorded, with how many runs each."""
    counts = {}
    for r in rows:
        key = (r["cpu"], r["threads"])
        counts[key] = counts.get(key, 0) + 1
    said = []
    for (cpu, threads), runs in counts.items():
        these = f"{runs} run{'s' if runs != 1 else ''}"
        if (cpu, threads) == (UNRECORDED, UNRECORDED):
            said.append(f"{these} that did not record it (trained before 0.7.1)")
        else:
            said.append(f"{these} on {cpu}, {threads} thread{'s' if threads != '1' else ''} each")
    return "Where they ran (as each run recorded it): " + "; ".join(said) + "."


def heading(base, position):
    """results.md's title and its line of settings: what every run of the comparison shares."""
    image = f"{base.canvas}x{base.canvas} canvas" if base.dataset.startswith("translated-") else "28x28"
    return (f"# Layer position {position}: conv vs wide conv vs LC vs LRLC",
            f"{base.dataset} ({image}), {base.epochs} epoch{'s' if base.epochs != 1 else ''}, {base.filters} "
            f"filters, batch {base.batch_size}, lr {base.lr}, {base.schedule} schedule, training examples: "
            f"{'all' if base.limit_train is None else base.limit_train}; test accuracy as mean ± std over seeds.")


def write_results(rows, out_dir, base, position, histories=None, *, given_heading=None):
    """results.csv, results.md and accuracy_vs_rank.png in ``out_dir``; learning_curves.png too
    when the runs' ``histories`` (their metrics, in the order of ``rows``) are given. ``base``
    and ``position`` give results.md's heading (``heading``), unless ``given_heading`` (title,
    settings) is given, as ``read_results`` reads it from another results.md."""
    from ..stats import NOISE_NOTE, format_comparison

    out = _write_csv(rows, Path(out_dir) / "results.csv")
    summary = summarise(rows)
    title, settings = given_heading or heading(base, position)
    lines = [
        title,
        "",
        settings,
        "",
        where_they_ran(rows),
        "",
        "| variant | layers | test accuracy (%) | runs | parameters | seconds / epoch | minutes / run |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(f"| {s['variant']} | {s['layers']} | {s['mean']:.2f} ± {s['std']:.2f} | {s['runs']} "
                     f"| {s['params']:,} | {s['seconds_per_epoch']:.1f} | {s['minutes_per_run']:.1f} |")
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
    if histories is not None:
        curves = {}
        for row, history in zip(rows, histories):
            curves.setdefault(row["variant"], []).append(history)
        plot_learning_curves(curves, out / "learning_curves.png")


def plot_accuracy_vs_rank(summary, path, position):
    plt = plots.pyplot()
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
    return plots.save(fig, path)


def error_curves(histories):
    """(epochs 1..E, {"val_acc": error, "test_acc": error}) of the runs' ``histories``: the error
    in % (100 - accuracy) as a seeds x E array, E the epochs that every run has finished."""
    import numpy

    epochs = min(len(h) for h in histories)
    error = {key: 100 * (1 - numpy.array([[m[key] for m in h[:epochs]] for h in histories]))
             for key in ("val_acc", "test_acc")}
    return numpy.arange(1, epochs + 1), error


def plot_learning_curves(curves, path):
    """A panel per row of ``curves`` ({variant name: [history of each seed]}): the validation and
    test error (100 - accuracy, %, on a log scale, where 1 % and 50 % both read) against the
    epoch, as the mean over seeds (``error_curves``), with each seed's test error as a faint line."""
    from matplotlib import ticker

    plt = plots.pyplot()
    columns = min(3, len(curves))
    rows = -(-len(curves) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), sharex=True, sharey=True,
                             squeeze=False)
    for ax, (name, histories) in zip(axes.flat, curves.items()):
        x, error = error_curves(histories)
        for seed_error in error["test_acc"]:
            ax.plot(x, seed_error, color="tab:blue", alpha=0.25, lw=0.8)
        ax.plot(x, error["val_acc"].mean(0), "o-", color="tab:orange", ms=3, label="validation (mean)")
        ax.plot(x, error["test_acc"].mean(0), "s-", color="tab:blue", ms=3, label="test (mean)")
        ax.set_title(f"{name} ({len(histories)} seed{'s' if len(histories) != 1 else ''})", fontsize=10)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.grid(alpha=0.3, which="both")
    for ax in axes.flat[len(curves):]:
        ax.set_visible(False)
    for i, ax in enumerate(axes.flat[:len(curves)]):
        if i + columns >= len(curves):                  # nothing drawn below it
            ax.set_xlabel("epoch")
            ax.tick_params(labelbottom=True)
    for ax in axes[:, 0]:
        ax.set_ylabel("error (%)")
    axes.flat[0].legend(fontsize=8)
    return plots.save(fig, path)


def result_rows(runs, histories, parameters):
    """results.csv's rows: one per run [(variant, seed)], with its last epoch's accuracies, the
    parameter count of its network (``parameters(variant)``), its mean seconds per epoch, its
    minutes in all, and where it ran: the thread counts and CPUs its epochs recorded ("+" between
    several; "not recorded" for epochs of a version before 0.7.1)."""
    rows = []
    for (variant, seed), history in zip(runs, histories):
        rows.append({
            "variant": variant.name, "layers": ",".join(variant.layers),
            "rank": variant.rank if variant.has_rank else "",
            "seed": seed, "test_acc": history[-1]["test_acc"], "val_acc": history[-1]["val_acc"],
            "params": parameters(variant), "seconds_per_epoch": statistics.mean(m["seconds"] for m in history),
            "minutes": sum(m["seconds"] for m in history) / 60,
            "threads": _recorded(history, "threads"), "cpu": _recorded(history, "cpu"),
        })
    return rows


def _recorded(history, key):
    """What the epochs of a run say under ``key``, each value once, joined by " + "."""
    said = dict.fromkeys(str(m.get(key, UNRECORDED)) for m in history)
    return " + ".join(said)


def sweep_rows(cells, histories):
    """sweep.csv's rows: one per run [(position, rank, variant name, seed)]."""
    return [{"position": "" if p is None else p, "rank": "" if r is None else r, "variant": name, "seed": seed,
             "test_acc": history[-1]["test_acc"], "val_acc": history[-1]["val_acc"],
             "seconds_per_epoch": statistics.mean(m["seconds"] for m in history)}
            for (p, r, name, seed), history in zip(cells, histories)]


#: the files ``run_sweep`` writes
SWEEP_FILES = ("sweep.csv", "sweep.md", "sweep_accuracy.png", "sweep_gain.png")


def sweep_grid(rows, positions, ranks):
    """(conv accuracies, {(position, rank): accuracies}) in %, from the rows of ``run_sweep``."""
    conv = [100 * r["test_acc"] for r in rows if r["position"] == ""]
    cells = {(p, k): [100 * r["test_acc"] for r in rows if r["position"] == p and r["rank"] == k]
             for p in positions for k in ranks}
    return conv, cells


def write_sweep(rows, out_dir, base, positions, ranks):
    """sweep.csv, sweep.md, sweep_accuracy.png and sweep_gain.png in ``out_dir``."""
    import numpy

    from ..stats import NOISE_NOTE, compare_groups, format_comparison

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

    plt = plots.pyplot()
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
    return plots.save(fig, path)
