"""Training loop, evaluation and checkpoints.

``train(config, out_dir)`` trains the paper's network with SGD and writes, in ``out_dir``:

    config.json        the settings of the run
    metrics.jsonl      one JSON object per epoch: epoch, train_loss, train_acc, val_acc,
                       test_acc, lr, seconds, images_per_s
    checkpoint.npz     parameters, BatchNorm buffers, optimiser state, data-order RNG state
                       and the epoch; rewritten atomically after every epoch

``train(config, out_dir, resume=True)`` continues from the checkpoint and ends with exactly
the numbers of an uninterrupted run with the same seed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy

from . import backend
from ._atomic import atomic_write
from .layers import SoftmaxCrossEntropy
from .models import build_network
from .optim import SGD, learning_rate

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.jsonl"
CONFIG = "config.json"


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
    dataset: str = "mnist"
    data_dir: str | None = None
    limit_train: int | None = None
    val_fraction: float = 0.08
    eval_batch_size: int = 500

    def validate(self) -> "TrainConfig":
        """Check every setting; raises ValueError naming the bad one."""
        from .options import COMBININGS, LAYER_TYPES, NORMALIZATIONS, SCHEDULES, resolve_combining

        def bad(name, expected):
            raise ValueError(f"TrainConfig: expected {name} {expected}, got {getattr(self, name)!r}")

        if not self.layers or any(t not in LAYER_TYPES for t in self.layers):
            bad("layers", f"as a non-empty list of {', '.join(LAYER_TYPES)}")
        for name in ("rank", "filters", "epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                bad(name, "as an int >= 1")
        if self.limit_train is not None and (not isinstance(self.limit_train, int) or self.limit_train < 1):
            bad("limit_train", "as None or an int >= 1")
        if self.combining not in COMBININGS:
            bad("combining", f"in {', '.join(COMBININGS)}")
        if self.normalize not in NORMALIZATIONS:
            bad("normalize", f"in {', '.join(NORMALIZATIONS)}")
        for name in ("coord_conv", "batch_norm", "nesterov", "input_dependent"):
            if not isinstance(getattr(self, name), bool):
                bad(name, "as True or False")
        if self.input_dependent and "lrlc" not in self.layers:
            bad("layers", "to include 'lrlc' with input_dependent=True (it changes LRLC layers only)")
        resolve_combining(self.combining, self.input_dependent, "TrainConfig")
        if self.schedule not in SCHEDULES:
            bad("schedule", f"in {', '.join(SCHEDULES)}")
        for name in ("lr", "momentum", "weight_decay", "warmup_epochs"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                bad(name, "as a finite number >= 0")
        if not 0 <= self.val_fraction < 1:
            bad("val_fraction", "in [0, 1)")
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
    """(train, val, test) splits as (images uint8 (N, 28, 28), labels int64 (N,)) pairs.

    Validation is the first ``val_fraction`` of the training set (8%, as in the paper's
    code); ``limit_train`` keeps only the first examples of the rest.
    """
    from .data import load_mnist, train_val_split

    train_images, train_labels = load_mnist("train", data_dir=config.data_dir, dataset=config.dataset)
    test = load_mnist("test", data_dir=config.data_dir, dataset=config.dataset)
    train, val = train_val_split(train_images, train_labels, config.val_fraction)
    if config.limit_train is not None:
        train = (train[0][: config.limit_train], train[1][: config.limit_train])
    return train, val, test


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

def save_checkpoint(path, model, optimizer, rng, epoch, step):
    """Write the state of a run to ``path`` atomically (temporary file, then rename).

    A crash while writing leaves the previous checkpoint intact.
    """
    arrays = {f"param/{k}": backend.to_numpy(v) for k, v in model.params.items()}
    arrays.update({f"buffer/{k}": backend.to_numpy(v) for k, v in model.buffers.items()})
    arrays.update({f"optim/{k}": backend.to_numpy(v) for k, v in optimizer.state_dict().items()})
    arrays["epoch"] = numpy.array(epoch)
    arrays["step"] = numpy.array(step)
    arrays["rng_state"] = numpy.array(json.dumps(rng.bit_generator.state))
    with atomic_write(path) as f:
        numpy.savez(f, **arrays)


def load_checkpoint(path, model, optimizer, rng):
    """Restore a run from ``path`` into model, optimizer and rng; returns (epoch, step).

    Everything is read and checked before anything is assigned, so a damaged file leaves
    the model as it was and raises ValueError naming the file.
    """
    path = Path(path)
    try:
        with numpy.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as err:
        raise ValueError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    for key in ("epoch", "step", "rng_state"):
        if key not in arrays:
            raise ValueError(f"{path}: checkpoint has no {key!r}; was it written by lrlc_np?")
    targets = [(f"param/{k}", v) for k, v in model.params.items()]
    targets += [(f"buffer/{k}", v) for k, v in model.buffers.items()]
    targets += [(f"optim/velocity/{k}", v) for k, v in optimizer.velocity.items()]
    for key, value in targets:
        if key not in arrays:
            raise ValueError(f"{path}: checkpoint has no {key}; was it written by another network?")
        if arrays[key].shape != tuple(value.shape):
            raise ValueError(f"{path}: {key} has shape {arrays[key].shape}, the network expects {tuple(value.shape)}")
    try:
        rng_state = json.loads(str(arrays["rng_state"]))
    except ValueError:
        raise ValueError(f"{path}: the saved random-generator state is not valid JSON") from None
    for key, value in targets:
        if not key.startswith("optim/"):
            value[...] = backend.to_device(arrays[key])
    optimizer.load_state_dict({k[len("optim/"):]: v for k, v in arrays.items() if k.startswith("optim/")})
    rng.bit_generator.state = rng_state
    return int(arrays["epoch"]), int(arrays["step"])


# --------------------------------------------------------------------------- training

def _progress(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency, but keep training without it
        return None
    return tqdm(total=total, desc=desc, unit="img", leave=False, dynamic_ncols=True)


def train(config: TrainConfig, out_dir, *, resume=False, progress=True, on_epoch_end=None, log=print):
    """Train the network described by ``config``; returns (per-epoch metrics, model).

    out_dir       run directory (created); refuses to overwrite an existing checkpoint
                  unless ``resume`` is True
    on_epoch_end  optional callable(metrics: dict) called after each epoch's checkpoint
    Raises TrainingDiverged when the loss stops being finite (the last good checkpoint stays).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / CHECKPOINT
    if resume:
        saved = out / CONFIG
        if not saved.exists() or not checkpoint.exists():
            raise FileNotFoundError(f"{out}: nothing to resume (no {CONFIG} and {CHECKPOINT})")
        config = TrainConfig.from_json(json.loads(saved.read_text()))
    elif checkpoint.exists():
        raise FileExistsError(f"{out} already holds a run ({CHECKPOINT}); pass resume=True "
                              "(--resume) to continue it, or choose another output directory")
    config.validate()
    (out / CONFIG).write_text(json.dumps(config.to_json(), indent=2) + "\n")

    train_set, val_set, test_set = load_data(config)
    seeds = numpy.random.SeedSequence(config.seed).spawn(2)
    model = build_network(config.layers, filters=config.filters, rank=config.rank,
                          combining=config.combining, normalize=config.normalize,
                          batch_norm=config.batch_norm, coord_conv=config.coord_conv,
                          input_dependent=config.input_dependent, rng=numpy.random.default_rng(seeds[0]))
    data_rng = numpy.random.default_rng(seeds[1])
    optimizer = SGD(model.params, config.lr, momentum=config.momentum, nesterov=config.nesterov,
                    weight_decay=config.weight_decay, decay=model.decay_names())
    steps_per_epoch = math.ceil(len(train_set[1]) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = int(round(config.warmup_epochs * steps_per_epoch))

    history, start_epoch, step = [], 0, 0
    if resume:
        start_epoch, step = load_checkpoint(checkpoint, model, optimizer, data_rng)
        history = read_metrics(out / METRICS)[:start_epoch]
        _write_metrics(out / METRICS, history)
        log(f"resuming {out} after epoch {start_epoch} of {config.epochs}")
    else:
        (out / METRICS).write_text("")

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
                last = f"the checkpoint of epoch {epoch - 1} in {checkpoint}" if epoch > 1 else "no checkpoint yet"
                raise TrainingDiverged(
                    f"loss is {loss} at epoch {epoch}, step {step + 1} (learning rate "
                    f"{optimizer.lr:.3g}); training stopped, {last} is kept. Try a smaller --lr.")
            model.backward(loss_fn.backward())
            optimizer.step(model.grads)
            step += 1
            total_loss += loss * len(labels)
            correct += count_correct(logits, labels)
            seen += len(labels)
            if bar is not None:
                rate = seen / (time.perf_counter() - started)
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}", img_s=f"{rate:.0f}")
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
        history.append(metrics)
        save_checkpoint(checkpoint, model, optimizer, data_rng, epoch, step)
        with open(out / METRICS, "a") as f:
            f.write(json.dumps(metrics) + "\n")
        log(f"epoch {epoch}/{config.epochs}: loss {metrics['train_loss']:.4f}, train {metrics['train_acc']:.4f}, "
            f"val {metrics['val_acc']:.4f}, test {metrics['test_acc']:.4f}, "
            f"{metrics['seconds']:.1f} s, {metrics['images_per_s']:.0f} img/s")
        if on_epoch_end is not None:
            on_epoch_end(metrics)
    return history, model


def read_metrics(path):
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write_metrics(path, history):
    Path(path).write_text("".join(json.dumps(m) + "\n" for m in history))
