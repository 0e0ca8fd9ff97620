"""Training loop, evaluation and the run directory it writes.

``train(config, out_dir)`` trains the paper's network with SGD and writes, in ``out_dir``
(the files are described in ``lrlc_np.rundir``):

    config.json        the settings of the run, and what ``--resume`` changed
    checkpoint.npz     parameters, BatchNorm buffers, optimiser state, data-order RNG state,
                       the epoch and the metrics so far; rewritten atomically after every epoch
    metrics.jsonl      one JSON object per epoch: epoch, train_loss, train_acc, val_acc,
                       test_acc, lr, seconds, images_per_s (rewritten after the checkpoint)

``train(None, out_dir, resume=True)`` continues from the checkpoint with the saved settings
and ends with exactly the numbers of an uninterrupted run with the same seed. A run
directory describes one configuration: ``resume`` with a config accepts only the changes
``rundir.RESUMABLE`` lists, and a new run refuses a directory that holds one unless
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
from .rundir import (CHECKPOINT, CONFIG, DIVERGED, METRICS, RunError, SettingsMismatch, _write_metrics,
                     check_against_run, describe, read_checkpoint, read_config, read_divergence,
                     read_metrics, remove_run_files, restore, resume_changes, same_records, saved_epoch,
                     save_checkpoint, write_config, write_divergence)

__all__ = ["TrainConfig", "TrainingDiverged", "RunError", "SettingsMismatch", "train", "evaluate",
           "load_data", "count_correct", "save_checkpoint", "load_checkpoint", "read_metrics",
           "read_config", "health_warning", "describe", "CHECKPOINT", "CONFIG", "METRICS"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run. Defaults follow the paper's MNIST set-up."""

    layers: tuple = ("conv", "conv", "conv")
    rank: int = 1
    filters: int = 64
    combining: str = "row_col"
    normalize: str = "softmax"
    coord_conv: bool = False
    batch_norm: bool = True
    input_dependent: bool = False    # LRLC alpha computed from each input (needs combining "full")
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    seed: int = 0
    dataset: str = "mnist"           # or "fashion-mnist", "mnist-sample", "translated-<any of them>"
    canvas: int = 40                 # side of the translated data sets' images (others: 28)
    lc_init: str = "he"              # LC weights: "he" (fan-in C_in*kh*kw) or "keras" (times H_out*W_out)
    data_dir: str | None = None
    limit_train: int | None = None
    val_fraction: float = 0.08
    eval_batch_size: int = 500

    def validate(self) -> "TrainConfig":
        """Check every setting; raises ValueError naming the bad one."""
        from .data import IMAGE_SIZE, dataset_names
        from .options import COMBININGS, LAYER_TYPES, LC_INITS, NORMALIZATIONS, SCHEDULES, resolve_combining

        def bad(name, expected):
            raise ValueError(f"TrainConfig: expected {name} {expected}, got {getattr(self, name)!r}")

        def number(value):
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

        if (not isinstance(self.layers, (tuple, list)) or not self.layers
                or any(not isinstance(t, str) or t not in LAYER_TYPES for t in self.layers)):
            bad("layers", f"as a non-empty list of {', '.join(LAYER_TYPES)}")
        for name in ("rank", "filters", "epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                bad(name, "as an int >= 1")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            bad("seed", "as an int >= 0")
        if self.limit_train is not None and (not isinstance(self.limit_train, int)
                                             or isinstance(self.limit_train, bool) or self.limit_train < 1):
            bad("limit_train", "as None or an int >= 1")
        if not isinstance(self.combining, str) or self.combining not in COMBININGS:
            bad("combining", f"in {', '.join(COMBININGS)}")
        if not isinstance(self.normalize, str) or self.normalize not in NORMALIZATIONS:
            bad("normalize", f"in {', '.join(NORMALIZATIONS)}")
        for name in ("coord_conv", "batch_norm", "nesterov", "input_dependent"):
            if not isinstance(getattr(self, name), bool):
                bad(name, "as True or False")
        if self.input_dependent and "lrlc" not in self.layers:
            bad("layers", "to include 'lrlc' with input_dependent=True (it changes LRLC layers only)")
        resolve_combining(self.combining, self.input_dependent, "TrainConfig")
        if not isinstance(self.schedule, str) or self.schedule not in SCHEDULES:
            bad("schedule", f"in {', '.join(SCHEDULES)}")
        for name in ("lr", "weight_decay", "warmup_epochs"):
            if not number(getattr(self, name)) or getattr(self, name) < 0:
                bad(name, "as a finite number >= 0")
        if not number(self.momentum) or not 0 <= self.momentum < 1:
            bad("momentum", "as a number in [0, 1) (at 1 or more the velocity never decays)")
        if not number(self.val_fraction) or not 0 <= self.val_fraction < 1:
            bad("val_fraction", "in [0, 1)")
        if not isinstance(self.dataset, str) or self.dataset not in dataset_names():
            bad("dataset", f"in {', '.join(dataset_names())}")
        if not isinstance(self.canvas, int) or isinstance(self.canvas, bool) or self.canvas < IMAGE_SIZE:
            bad("canvas", f"as an int >= {IMAGE_SIZE}")
        if not isinstance(self.lc_init, str) or self.lc_init not in LC_INITS:
            bad("lc_init", f"in {', '.join(LC_INITS)}")
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            bad("data_dir", "as None or a folder (a string)")
        return self

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["layers"] = list(self.layers)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["layers"] = tuple(d.get("layers", cls.layers))
        return cls(**d)


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


# --------------------------------------------------------------------------- training

def _progress(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency, but keep training without it
        return None
    return tqdm(total=total, desc=desc, unit="img", leave=False, dynamic_ncols=True)


def health_warning(history, config, classes=10):
    """A warning when a finished run ended worse than guessing; None when it did not.

    Guessing uniformly over ``classes`` gives a loss of ln(classes) and an accuracy of
    1/classes. A run whose last training loss is 1.5 times that, or whose validation and test
    accuracies are within 2 points of chance, did not learn: usually the learning rate.
    """
    if not history:
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


def _prepare(config, out, resume, overwrite, log):
    """Read and check config.json and diverged.json (writing nothing).

    -> (config asked for, changes saved so far, divergence record or None, saved config or None)
    """
    if resume and overwrite:
        raise ValueError("train: resume and overwrite exclude each other: resume continues the run, "
                         "overwrite starts it again")
    if not resume:
        if config is None:
            raise ValueError("train: a new run needs a TrainConfig (config=None only with resume=True)")
        config.validate()
        if (out / CHECKPOINT).exists() and not overwrite:
            raise FileExistsError(
                f"{out} already holds a run ({describe(out)}); continue it with --resume "
                f"(resume=True), start it again with --overwrite (overwrite=True), or choose another --out")
        return config, [], None, None
    try:
        saved, changes = read_config(out)
    except FileNotFoundError:
        raise FileNotFoundError(f"{out}: nothing to resume (no {CONFIG}); start a run there without "
                                f"--resume") from None
    diverged = read_divergence(out)
    if config is None:
        config = saved
    config.validate()
    return config, changes, diverged, saved


def train(config, out_dir, *, resume=False, overwrite=False, progress=True, on_epoch_end=None, log=print):
    """Train the network described by ``config``; returns (per-epoch metrics, model).

    out_dir       run directory (created); a new run refuses one that holds a run
    resume        continue the run in ``out_dir``; ``config`` None takes the saved settings,
                  a config may differ from them only as ``rundir.RESUMABLE`` allows: more
                  epochs, another data_dir, a new lr after a divergence. With more epochs the
                  schedule becomes that of a run of the new length: the epochs already
                  trained keep the rates they had, the rest follow the new schedule from the
                  current step. Without a checkpoint (stopped in epoch 1) the run starts
                  again with the saved settings.
    overwrite     start again in a directory that holds a run (its run files are replaced)
    on_epoch_end  optional callable(metrics: dict) called after each epoch's checkpoint
    Raises TrainingDiverged when the loss stops being finite (the last good checkpoint stays,
    and diverged.json records it); RunError (a ValueError) for a damaged run file or a
    change that is not allowed, before anything is written.
    """
    out = Path(out_dir)
    checkpoint = out / CHECKPOINT
    config, changes, diverged, saved = _prepare(config, out, resume, overwrite, log)
    if config.data_dir is not None:                # saved absolute: a resume from elsewhere finds it
        config = dataclasses.replace(config, data_dir=str(Path(config.data_dir).expanduser().absolute()))
    new = []
    if resume:                                     # the settings first: they decide the network's shapes
        done = saved_epoch(out) or 0
        if not 0 <= done <= saved.epochs:          # a damaged epoch: the checkpoint check names it
            done = 0
        new = resume_changes(out, saved, config, done, diverged)

    train_set, val_set, test_set = load_data(config)
    seeds = numpy.random.SeedSequence(config.seed).spawn(2)
    model = build_model(config, numpy.random.default_rng(seeds[0]))
    data_rng = numpy.random.default_rng(seeds[1])
    optimizer = SGD(model.params, config.lr, momentum=config.momentum, nesterov=config.nesterov,
                    weight_decay=config.weight_decay, decay=model.decay_names())
    steps_per_epoch = math.ceil(len(train_set[1]) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = int(round(config.warmup_epochs * steps_per_epoch))

    history, start_epoch, step, state = [], 0, 0, None
    if resume:
        if checkpoint.exists():
            state = read_checkpoint(checkpoint, model, optimizer, data_rng)
            check_against_run(state, checkpoint, saved.epochs, steps_per_epoch)
            start_epoch, step, history = state["epoch"], state["step"], state["history"]
            on_disk = read_metrics(out / METRICS)
            if len(on_disk) > len(history) or not same_records(on_disk, history[:len(on_disk)]):
                raise RunError(f"{out / METRICS}: its records disagree with {checkpoint}, the record of "
                               f"the run; delete {out / METRICS} and --resume rewrites it from the checkpoint")
        changes = changes + new
    # ---- every file is read and checked: from here on the run directory is written
    if overwrite:
        remove_run_files(out)
    out.mkdir(parents=True, exist_ok=True)
    write_config(out, config, changes)
    if state is not None:
        restore(state, model, optimizer, data_rng)
        if any(c["setting"] == "lr" for c in new):       # the new rate answers the divergence
            (out / DIVERGED).unlink(missing_ok=True)
        if not same_records(read_metrics(out / METRICS), history):
            _write_metrics(out / METRICS, history)
        log(f"resuming {out} after epoch {start_epoch} of {config.epochs}")
        for change in new:
            log(_describe_change(change, config, step, total_steps, warmup_steps))
    else:
        if resume:
            log(f"{out} holds no checkpoint (it was stopped before its first epoch ended): "
                f"starting it again with the saved settings")
        (out / DIVERGED).unlink(missing_ok=True)
        _write_metrics(out / METRICS, [])

    from .data import iterate_minibatches, to_model_input

    loss_fn = SoftmaxCrossEntropy()
    for epoch in range(start_epoch + 1, config.epochs + 1):
        started = time.perf_counter()
        total_loss, correct, seen = 0.0, 0, 0
        bar = _progress(len(train_set[1]), f"epoch {epoch}/{config.epochs}", progress)
        for images, labels in iterate_minibatches(*train_set, config.batch_size, data_rng):
            optimizer.lr = learning_rate(config.schedule, step, total_steps, config.lr, warmup_steps)
            x = backend.to_device(to_model_input(images))
            y = backend.to_device(labels)
            logits = model.forward(x, training=True)
            loss = loss_fn.forward(logits, y)
            if not math.isfinite(loss):
                if bar is not None:
                    bar.close()
                write_divergence(out, epoch, step + 1, optimizer.lr, loss)
                raise TrainingDiverged(_divergence_message(out, loss, epoch, step + 1, optimizer.lr, config.lr))
            model.backward(loss_fn.backward())
            optimizer.step(model.grads)
            step += 1
            total_loss += loss * len(labels)
            correct += count_correct(logits, labels)
            seen += len(labels)
            if bar is not None:
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
                bar.update(len(labels))
        if bar is not None:
            bar.close()
        train_seconds = time.perf_counter() - started
        metrics = {
            "epoch": epoch,
            "train_loss": total_loss / seen,
            "train_acc": correct / seen,
            "val_acc": evaluate(model, *val_set, config.eval_batch_size),
            "test_acc": evaluate(model, *test_set, config.eval_batch_size),
            "lr": optimizer.lr,
            "seconds": time.perf_counter() - started,
            "images_per_s": seen / train_seconds,
        }
        broken = [name for name, v in {**model.params, **model.buffers}.items()
                  if not bool(backend.get_array_module(v).isfinite(v).all())]
        if broken:                                # never save a state that cannot be used again
            write_divergence(out, epoch, step, optimizer.lr, metrics["train_loss"])
            raise TrainingDiverged(_divergence_message(
                out, f"finite ({metrics['train_loss']:.3g}) but {', '.join(broken[:3])} became non-finite",
                epoch, step, optimizer.lr, config.lr))
        history.append(metrics)
        save_checkpoint(checkpoint, model, optimizer, data_rng, epoch, step, history)   # the record ...
        _write_metrics(out / METRICS, history)                                         # ... then its copy
        log(f"epoch {epoch}/{config.epochs}: loss {metrics['train_loss']:.4f}, train {metrics['train_acc']:.4f}, "
            f"val {metrics['val_acc']:.4f}, test {metrics['test_acc']:.4f}, "
            f"{metrics['seconds']:.1f} s, {metrics['images_per_s']:.0f} img/s")
        if on_epoch_end is not None:
            on_epoch_end(metrics)
    if start_epoch == config.epochs and state is not None:
        log(f"{out} has finished all {config.epochs} epochs; nothing to train (a larger --epochs continues it)")
    warning = health_warning(history, config)
    if warning and start_epoch < config.epochs:
        log(warning)
    return history, model


def _describe_change(change, config, step, total_steps, warmup_steps):
    name, before, after = change["setting"], change["from"], change["to"]
    if name == "epochs":
        lr = learning_rate(config.schedule, step, total_steps, config.lr, warmup_steps)
        return (f"epochs {before} -> {after}: the {config.schedule} schedule is now that of a run of "
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
