"""Training: open (or resume) a run directory, then the loop.

``train(config, out_dir)`` trains the paper's network with SGD and writes, in ``out_dir``
(the files are described in ``lrlc_np.rundir``):

    config.json        the settings of the run, and what ``--resume`` changed
    checkpoint.npz     parameters, BatchNorm buffers, optimiser state, data-order RNG state,
                       the epoch, the metrics so far, and the settings and thread count that
                       trained it; rewritten atomically after every epoch
    metrics.jsonl      one JSON object per epoch: epoch, train_loss, train_acc, val_acc,
                       test_acc, lr, seconds, images_per_s, and where it ran: threads and
                       cpu (rewritten after the checkpoint)

It is two steps. ``open_run`` reads and checks every file of the run directory and writes
nothing until all of them pass: a new run, a run started again (``overwrite``), or a run
continued from its checkpoint (``resume``, with the saved settings; it ends with exactly the
numbers of an uninterrupted run with the same seed). ``fit`` is the loop of tutorial 05 with
a learning-rate schedule, evaluation and a checkpoint after every epoch::

    for epoch ...:
        for images, labels in batches:          forward, loss, backward, SGD step
        evaluate on the validation and test sets
        save the checkpoint, then metrics.jsonl

A run directory describes one configuration: ``resume`` accepts only the changes that
``lrlc_np.settings`` declares, and a new run refuses a directory that holds one unless
``overwrite`` is set.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy

from . import backend
from .layers import SoftmaxCrossEntropy
from .models import build_network
from .optim import SGD, learning_rate
from .rundir import (CHECKPOINT, CONFIG, DIVERGED, METRICS, RunError, SettingsMismatch, check_against_run,
                     describe, hand_edit_error, read_checkpoint, read_config, read_divergence, read_metrics,
                     read_trained_with, remove_run_files, restore, resume_baseline, resume_changes, same_records,
                     saved_epoch, save_checkpoint, write_config, write_divergence, write_metrics)
from .settings import TrainConfig, plan_of
from .threads import count as thread_count, pinned, record as where_it_ran

__all__ = ["TrainConfig", "TrainingDiverged", "RunError", "SettingsMismatch", "Run", "open_run", "fit", "train",
           "resume_config", "write_figures",
           "evaluate", "load_data", "count_correct", "save_checkpoint", "load_checkpoint", "read_metrics",
           "read_config", "health_warning", "describe", "CHECKPOINT", "CONFIG", "METRICS"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


# --------------------------------------------------------------------------- data

def load_data(config: TrainConfig):
    """(train, val, test) splits as (images uint8 (N, H, W), labels int64 (N,)) pairs.

    H = W = 28, or ``config.canvas`` for the translated data sets. Validation is the first
    ``val_fraction`` of the training set (8%, as in the paper's code); ``limit_train`` keeps
    only the first examples of the rest.
    """
    from .data import load_dataset, train_val_split

    train_images, train_labels = load_dataset("train", config.dataset, config.data_dir, config.canvas)
    test = load_dataset("test", config.dataset, config.data_dir, config.canvas)
    train, val = train_val_split(train_images, train_labels, config.val_fraction)
    if config.limit_train is not None:
        train = (train[0][: config.limit_train], train[1][: config.limit_train])
    return train, val, test


def input_shape(config: TrainConfig):
    """(C, H, W) of the run's images: (1, 28, 28), or (1, canvas, canvas) for translated data."""
    from .data.translated import source_of

    side = config.canvas if source_of(config.dataset)[1] else 28
    return (1, side, side)


def build_model(config: TrainConfig, rng=None):
    """The network ``config`` describes (``models.build_network``), weights drawn from ``rng``."""
    return build_network(config.layers, filters=config.filters, rank=config.rank,
                         combining=config.combining, normalize=config.normalize,
                         batch_norm=config.batch_norm, coord_conv=config.coord_conv,
                         input_dependent=config.input_dependent, lc_init=config.lc_init,
                         input_shape=input_shape(config), rng=rng)


# --------------------------------------------------------------------------- evaluation

def count_correct(logits, labels) -> int:
    """How many rows of logits (N, classes), on any backend, pick the host label (N,)."""
    return int((backend.to_numpy(logits.argmax(axis=1)) == labels).sum())


def evaluate(model, images, labels, batch_size=500) -> float:
    """Accuracy of ``model`` (evaluation mode) on uint8 images (N, 28, 28) and labels (N,)."""
    from .data import to_model_input

    if len(labels) == 0:
        return float("nan")
    correct = 0
    for start in range(0, len(labels), batch_size):
        x = backend.to_device(to_model_input(images[start : start + batch_size]))
        logits = model.forward(x, training=False)
        correct += count_correct(logits, labels[start : start + batch_size])
    return correct / len(labels)


# --------------------------------------------------------------------------- checkpoints

def load_checkpoint(path, model, optimizer, rng):
    """Restore a run from ``path`` into model, optimizer and rng; returns (epoch, step).

    Everything is read and checked before anything is assigned, so a damaged file leaves
    the model as it was and raises ``RunError`` (a ValueError) naming the file.
    """
    state = read_checkpoint(path, model, optimizer, rng)
    restore(state, model, optimizer, rng)
    return state["epoch"], state["step"]


# --------------------------------------------------------------------------- opening a run

@dataclasses.dataclass
class Run:
    """An opened run directory: the network, its optimiser and data, and where the run stands."""

    out: Path
    config: TrainConfig
    model: object
    optimizer: SGD
    data_rng: numpy.random.Generator
    train_set: tuple
    val_set: tuple
    test_set: tuple
    steps_per_epoch: int
    epoch: int = 0                  # epochs finished
    step: int = 0                   # SGD steps taken
    history: list = dataclasses.field(default_factory=list)
    threads: int | None = None      # the thread count the loop is pinned to (None: the environment's)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    @property
    def warmup_steps(self) -> int:
        return int(round(self.config.warmup_epochs * self.steps_per_epoch))

    def learning_rate(self, step) -> float:
        """The schedule's learning rate at ``step`` (0-based) of the run."""
        c = self.config
        return learning_rate(c.schedule, step, self.total_steps, c.lr, self.warmup_steps)

    def save(self, metrics):
        """Record a finished epoch: the checkpoint (the record of the run), then metrics.jsonl (its copy)."""
        self.history.append(metrics)
        trained_with = {"settings": self.config.to_json(), "threads": thread_count()}
        save_checkpoint(self.out / CHECKPOINT, self.model, self.optimizer, self.data_rng, self.epoch, self.step,
                        self.history, trained_with)
        write_metrics(self.out / METRICS, self.history)

    def diverged(self, epoch, step, loss, said=None) -> TrainingDiverged:
        """Write diverged.json and return the error that stops the run (the last checkpoint stays).

        said  what the message says of the loss (default: its value)
        """
        lr = self.optimizer.lr
        write_divergence(self.out, epoch, step, lr, loss)
        return TrainingDiverged(_divergence_message(self.out, loss if said is None else said, epoch, step, lr,
                                                    self.config.lr))


def _checked(config, out, resume, overwrite):
    """Read and check config.json, diverged.json and the checkpoint's record (writing nothing).

    -> (config to train, changes to record, the new changes, the epochs of the settings the
        checkpoint was trained with)
    """
    plan = plan_of(resume, overwrite)
    if plan != "resume":
        if config is None:
            raise ValueError("train: a new run needs a TrainConfig (config=None only with resume=True)")
        config.validate()
        _refuse_a_run_there(out, plan)
        return _absolute(config), [], [], config.epochs
    try:
        saved, changes = read_config(out)
    except FileNotFoundError:
        raise FileNotFoundError(f"{out}: nothing to resume (no {CONFIG}); start a run there without "
                                f"--resume") from None
    _refuse_lost_checkpoint(out)
    diverged = read_divergence(out)
    baseline, edits = resume_baseline(out, saved, changes)
    asked = _absolute((config or baseline).validate())
    edited = hand_edit_error(out, edits, asked)
    if edited is not None:
        raise edited
    done = saved_epoch(out) or 0
    if not 0 <= done <= baseline.epochs:            # a damaged epoch: the checkpoint check names it
        done = 0
    new = resume_changes(out, baseline, asked, done, diverged)
    return asked, changes + new, new, baseline.epochs


def _absolute(config):
    """data_dir saved as an absolute path, so that a resume from another folder finds it."""
    if config.data_dir is None:
        return config
    return dataclasses.replace(config, data_dir=str(Path(config.data_dir).expanduser().absolute()))


def _refuse_a_run_there(out, plan):
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(20, "not a folder", str(out))
    if plan == "new" and (out / CHECKPOINT).exists():
        raise FileExistsError(
            f"{out} already holds a run ({describe(out)}); continue it with --resume "
            f"(resume=True), start it again with --overwrite (overwrite=True), or choose another --out")


def _refuse_lost_checkpoint(out):
    """Finished epochs on record but no checkpoint: the record to continue from is gone."""
    if (out / CHECKPOINT).exists():
        return
    finished = len(read_metrics(out / METRICS))
    if finished:
        raise RunError(f"{out}: {METRICS} holds {finished} finished epoch{'s' if finished != 1 else ''} but "
                       f"{CHECKPOINT}, the state to continue from, is missing; nothing was changed. Put "
                       f"{CHECKPOINT} back to continue, start the run again with --overwrite, or choose "
                       f"another --out")


def open_run(config, out_dir, *, resume=False, overwrite=False, threads=None, log=print) -> Run:
    """Open the run directory ``out_dir`` for ``fit``: check every file, then write config.json.

    config     the settings (a TrainConfig); None with ``resume`` takes the saved ones
    resume     continue the run from its checkpoint; ``config`` may differ from the settings it
               was trained with only as ``lrlc_np.settings`` allows (more epochs, another
               data_dir, a new lr after a divergence), and a hand edit of config.json is
               refused. Without a checkpoint (stopped in epoch 1) the run starts again.
    overwrite  start again in a directory that holds a run (its run files are replaced)
    threads    the thread count to pin the loop to (None: the environment's); a resumed run
               keeps the count its checkpoint records
    Raises RunError (a ValueError) for a damaged run file or a change that is not allowed,
    before anything is written.
    """
    out = Path(out_dir)
    config, changes, new, trained_epochs = _checked(config, out, resume, overwrite)
    train_set, val_set, test_set = load_data(config)
    seeds = numpy.random.SeedSequence(config.seed).spawn(2)
    model = build_model(config, numpy.random.default_rng(seeds[0]))
    optimizer = SGD(model.params, config.lr, momentum=config.momentum, nesterov=config.nesterov,
                    weight_decay=config.weight_decay, decay=model.decay_names())
    run = Run(out, config, model, optimizer, numpy.random.default_rng(seeds[1]), train_set, val_set, test_set,
              steps_per_epoch=math.ceil(len(train_set[1]) / config.batch_size), threads=threads)
    state = _read_state(run, trained_epochs) if resume and (out / CHECKPOINT).exists() else None
    # ---- every file is read and checked: from here on the run directory is written
    if overwrite:
        remove_run_files(out)
    out.mkdir(parents=True, exist_ok=True)
    write_config(out, config, changes)
    if state is None:
        if resume:
            log(f"{out} holds no checkpoint (it was stopped before its first epoch ended): "
                f"starting it again with the saved settings")
        (out / DIVERGED).unlink(missing_ok=True)
        write_metrics(out / METRICS, [])
        return run
    restore(state, model, optimizer, run.data_rng)
    run.epoch, run.step, run.history = state["epoch"], state["step"], state["history"]
    if any(c["setting"] == "lr" for c in new):       # the new rate answers the divergence
        (out / DIVERGED).unlink(missing_ok=True)
    if not same_records(read_metrics(out / METRICS), run.history):
        write_metrics(out / METRICS, run.history)
    log(f"resuming {out} after epoch {run.epoch} of {config.epochs}")
    for change in new:
        log(_describe_change(change, run))
    _pin_recorded_threads(run, log)
    return run


def _read_state(run, epochs):
    """The checkpoint, read and checked against the network, the optimiser and a run of ``epochs``."""
    path = run.out / CHECKPOINT
    state = read_checkpoint(path, run.model, run.optimizer, run.data_rng)
    check_against_run(state, path, epochs, run.steps_per_epoch)
    on_disk = read_metrics(run.out / METRICS)
    if len(on_disk) > len(state["history"]) or not same_records(on_disk, state["history"][:len(on_disk)]):
        raise RunError(f"{run.out / METRICS}: its records disagree with {path}, the record of the run; "
                       f"delete {run.out / METRICS} and --resume rewrites it from the checkpoint")
    return state


def _pin_recorded_threads(run, log):
    """A resumed run keeps the thread count it was trained with: the chunks, and so the float
    sums, depend on it (``lrlc_np.threads``). A checkpoint of a version before 0.7 records
    none: that version used the environment's count, and so does its continuation."""
    record = read_trained_with(run.out / CHECKPOINT)
    if record is None:
        if run.threads is not None:
            log(f"{run.out} records no thread count (an older version wrote it): continuing on the "
                f"environment's {thread_count()}, as that version did")
        run.threads = None
        return
    recorded = record.get("threads")
    with pinned(run.threads):
        now = thread_count()
    if recorded is not None and recorded != now:
        log(f"{run.out} was trained on {recorded} thread{'s' if recorded != 1 else ''}: continuing on "
            f"{recorded} (not {now}), so that it gives the numbers of an uninterrupted run")
        run.threads = recorded


# --------------------------------------------------------------------------- the loop

def fit(run: Run, *, progress=True, on_epoch_end=None, log=print) -> list:
    """Train ``run`` (from ``open_run``) to its last epoch; returns the metrics of every epoch.

    Each epoch: the training images once in a fresh random order, in batches; each batch
    forward, loss, backward and an SGD step at the schedule's learning rate; then the
    validation and test sets; then the checkpoint and metrics.jsonl. A loss that stops being
    finite, or parameters that do, raise TrainingDiverged (the last checkpoint stays).
    on_epoch_end  optional callable(metrics: dict) called after each epoch's checkpoint
    """
    from .data import iterate_minibatches, to_model_input

    config, model, optimizer = run.config, run.model, run.optimizer
    loss_fn = SoftmaxCrossEntropy()
    first = run.epoch
    with pinned(run.threads):
        for epoch in range(first + 1, config.epochs + 1):
            started = time.perf_counter()
            total_loss, correct, seen = 0.0, 0, 0
            bar = _progress(len(run.train_set[1]), f"epoch {epoch}/{config.epochs}", progress)
            for images, labels in iterate_minibatches(*run.train_set, config.batch_size, run.data_rng):
                optimizer.lr = run.learning_rate(run.step)
                x, y = backend.to_device(to_model_input(images)), backend.to_device(labels)
                logits = model.forward(x, training=True)                 # forward
                loss = loss_fn.forward(logits, y)                        # loss
                if not math.isfinite(loss):
                    _close(bar)
                    raise run.diverged(epoch, run.step + 1, loss)
                model.backward(loss_fn.backward())                       # backward
                optimizer.step(model.grads)                              # SGD step
                run.step += 1
                total_loss += loss * len(labels)
                correct += count_correct(logits, labels)
                seen += len(labels)
                _advance(bar, len(labels), total_loss / seen, correct / seen)
            _close(bar)
            metrics = _evaluated(run, epoch, started, total_loss / seen, correct / seen, seen)   # evaluate
            run.epoch = epoch
            run.save(metrics)                                            # save
            log(f"epoch {epoch}/{config.epochs}: loss {metrics['train_loss']:.4f}, train {metrics['train_acc']:.4f}, "
                f"val {metrics['val_acc']:.4f}, test {metrics['test_acc']:.4f}, "
                f"{metrics['seconds']:.1f} s, {metrics['images_per_s']:.0f} img/s")
            if on_epoch_end is not None:
                on_epoch_end(metrics)
    if first == config.epochs and first > 0:
        log(f"{run.out} has finished all {config.epochs} epochs; nothing to train (a larger --epochs continues it)")
    warning = health_warning(run.history, config)
    if warning and first < config.epochs:
        log(warning)
    return run.history


def _evaluated(run, epoch, started, train_loss, train_acc, seen):
    """The epoch's metrics, with the validation and test accuracies; TrainingDiverged when a
    parameter became non-finite (a state that cannot be used again is never saved)."""
    train_seconds = time.perf_counter() - started
    size = run.config.eval_batch_size
    metrics = {
        "epoch": epoch,
        "train_loss": train_loss,
        "train_acc": train_acc,
        "val_acc": evaluate(run.model, *run.val_set, size),
        "test_acc": evaluate(run.model, *run.test_set, size),
        "lr": run.optimizer.lr,
        "seconds": time.perf_counter() - started,
        "images_per_s": seen / train_seconds,
        **where_it_ran(),                       # threads and cpu: where this epoch ran
    }
    broken = [name for name, v in {**run.model.params, **run.model.buffers}.items()
              if not bool(backend.get_array_module(v).isfinite(v).all())]
    if broken:
        raise run.diverged(epoch, run.step, train_loss,
                           said=f"finite ({train_loss:.3g}) but {', '.join(broken[:3])} became non-finite")
    return metrics


def resume_config(out_dir, **given):
    """The settings ``--resume`` continues with: the ones the checkpoint was trained with (and the
    changes ``--resume`` recorded since), with ``given`` (the flags given with --resume) on top.
    FileNotFoundError without config.json; RunError for a damaged one."""
    from .options import resolve_combining

    saved, changes = read_config(out_dir)
    baseline, _ = resume_baseline(out_dir, saved, changes)
    if "layers" in given:
        given["layers"] = tuple(given["layers"])
    if "combining" in given or "input_dependent" in given:
        given["combining"] = resolve_combining(given.get("combining", baseline.combining),
                                               given.get("input_dependent", baseline.input_dependent), None)
    return dataclasses.replace(baseline, **given)


def write_figures(out_dir, model, history):
    """The run's PNG figures (``plots.plot_run``); a network with input-dependent LRLC layers also
    gets their combining weights for one test image of each of six digits. -> the paths"""
    from .data import load_dataset
    from .plots import plot_run

    examples = None
    if any(getattr(layer, "input_dependent", False) for layer in model.layers):
        saved, _ = read_config(out_dir)
        examples = load_dataset("test", saved.dataset, saved.data_dir, saved.canvas)
    return plot_run(model, history, out_dir, examples=examples)


def train(config, out_dir, *, resume=False, overwrite=False, progress=True, on_epoch_end=None, log=print,
          threads=None):
    """Train the network described by ``config``; returns (per-epoch metrics, model).

    ``open_run`` (the run directory: new, ``resume`` or ``overwrite``; see there) then ``fit``
    (the loop). on_epoch_end is called with each epoch's metrics after its checkpoint;
    ``threads`` pins the ops' thread count. Raises TrainingDiverged when the loss stops being
    finite (the last good checkpoint stays, and diverged.json records it); RunError (a
    ValueError) for a damaged run file or a change that is not allowed, before anything is
    written.
    """
    run = open_run(config, out_dir, resume=resume, overwrite=overwrite, threads=threads, log=log)
    return fit(run, progress=progress, on_epoch_end=on_epoch_end, log=log), run.model


def _progress(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency, but keep training without it
        return None
    return tqdm(total=total, desc=desc, unit="img", leave=False, dynamic_ncols=True)


def _advance(bar, images, loss, accuracy):
    if bar is not None:
        bar.set_postfix(loss=f"{loss:.4f}", acc=f"{accuracy:.4f}")
        bar.update(images)


def _close(bar):
    if bar is not None:
        bar.close()


def health_warning(history, config, classes=10):
    """A warning when a finished run ended worse than guessing; None when it did not.

    Guessing uniformly over ``classes`` gives a loss of ln(classes) and an accuracy of
    1/classes. A run whose last training loss is 1.5 times that, or whose validation and test
    accuracies are within 2 points of chance, did not learn: usually the learning rate. A run
    that never left its warm-up (the cosine schedule's rising rate) is too short to judge and
    gets no warning.
    """
    if not history or (config.schedule == "cosine" and config.warmup_epochs >= config.epochs):
        return None
    last, guess = history[-1], math.log(classes)
    chance = 1.0 / classes
    accuracies = [a for a in (last["val_acc"], last["test_acc"]) if math.isfinite(a)]
    loss_bad = not math.isfinite(last["train_loss"]) or last["train_loss"] > 1.5 * guess
    acc_bad = bool(accuracies) and max(accuracies) <= chance + 0.02
    if not (loss_bad or acc_bad):
        return None
    return (f"warning: the run ended worse than an untrained network would: train loss "
            f"{last['train_loss']:.3g} (guessing uniformly gives ln {classes} = {guess:.2f}), test accuracy "
            f"{100 * last['test_acc']:.1f}% (chance {100 * chance:.0f}%). With learning rate {config.lr:g} "
            f"this is usually a rate that is too large: start again with a smaller --lr "
            f"(--overwrite, or another --out).")


def _describe_change(change, run):
    name, before, after = change["setting"], change["from"], change["to"]
    if name == "epochs":
        lr = run.learning_rate(run.step)
        return (f"epochs {before} -> {after}: the {run.config.schedule} schedule is now that of a run of "
                f"{after} epochs; epochs 1-{change['after_epoch']} keep the rates they were trained with, "
                f"epoch {change['after_epoch'] + 1} starts at learning rate {lr:.4g}")
    if name == "lr":
        return f"learning rate {before} -> {after} from epoch {change['after_epoch'] + 1}, after the divergence"
    return f"{name}: {before} -> {after}"


def _divergence_message(out, loss, epoch, step, lr, peak):
    smaller = f"{peak / 10:g}"
    if epoch > 1:
        kept = f"the checkpoint of epoch {epoch - 1} in {out / CHECKPOINT} is kept"
        retry = (f"continue from it with a smaller learning rate: lrlc train --out {out} --resume --lr {smaller} "
                 f"(train(..., resume=True) with lr={smaller})")
    else:
        kept = "no epoch had finished, so there is no checkpoint yet"
        retry = (f"start again with a smaller learning rate: lrlc train --out {out} --resume --lr {smaller} "
                 f"(the saved settings with the new rate)")
    return (f"loss is {loss} at epoch {epoch}, step {step} (learning rate {lr:.3g}); training stopped, "
            f"{kept}. The rate is probably too large: {retry}.")
