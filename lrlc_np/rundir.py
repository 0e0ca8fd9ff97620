"""A run directory: what it holds, and every file read back checked before it is used.

    config.json      the run's settings (the fields of ``train.TrainConfig``) and "changes",
                     the list of settings ``--resume`` changed, each with the epoch after
                     which it changed: {"after_epoch", "setting", "from", "to"}
    checkpoint.npz   parameters, BatchNorm buffers, optimiser state, data-order RNG state,
                     epoch, step, the metrics of every finished epoch, and "trained_with":
                     the settings and the thread count that trained it (since 0.7); written
                     atomically after each epoch, so it is the record of the run
    metrics.jsonl    the same metrics, one JSON line per epoch, for reading and plotting;
                     rewritten (atomically) from the checkpoint after it
    diverged.json    only after a divergence: the epoch, step, learning rate and loss; it
                     lets ``--resume`` take a new learning rate

A directory "holds a run" once it has a checkpoint. Each reader below raises ``RunError``
naming the file, what was expected, what was found and what to do; nothing is written
until every file has been read and checked. The settings themselves, their defaults and
which ones ``--resume`` may change are declared in ``lrlc_np.settings``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy

from ._atomic import atomic_write
from .settings import ADDED_SETTINGS, RESUMABLE, SETTINGS, TrainConfig, resume_rule, resume_ways, show

CONFIG = "config.json"
CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.jsonl"
DIVERGED = "diverged.json"
#: every file a run writes besides its figures (``--overwrite`` removes these and the PNGs)
RUN_FILES = (CONFIG, CHECKPOINT, METRICS, DIVERGED)

#: what every line of metrics.jsonl and every record in a checkpoint holds
METRIC_KEYS = ("epoch", "train_loss", "train_acc", "val_acc", "test_acc", "lr", "seconds", "images_per_s")

class RunError(ValueError):
    """A run directory cannot be used as asked: a damaged file or differing settings."""


class SettingsMismatch(RunError):
    """The settings asked for differ from the saved ones. ``differences``: (name, saved, asked)."""

    def __init__(self, message, differences=()):
        super().__init__(message)
        self.differences = list(differences)


def _fresh_start(out):
    return (f"to start this run again use --overwrite (lrlc train --out {out} --overwrite ...), "
            f"or choose another --out")


# --------------------------------------------------------------------------- config.json

def read_config(out_dir):
    """(TrainConfig, changes) from ``out_dir/config.json``, checked; FileNotFoundError when absent."""
    path = Path(out_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    remedy = f"fix the file, or {_fresh_start(Path(out_dir))}"
    try:
        saved = json.loads(path.read_text())
    except (UnicodeDecodeError, OSError) as err:
        raise RunError(f"{path}: cannot be read ({err}); {remedy}") from None
    except ValueError as err:
        raise RunError(f"{path}: not valid JSON ({err}); it should hold the settings lrlc train "
                       f"wrote; {remedy}") from None
    if not isinstance(saved, dict):
        raise RunError(f"{path}: expected a JSON object of settings, found a JSON "
                       f"{type(saved).__name__}; {remedy}")
    fields = [s.name for s in SETTINGS]
    unknown = sorted(set(saved) - set(fields) - {"changes"})
    missing = [name for name in fields if name not in saved and name not in ADDED_SETTINGS]
    if unknown or missing:
        found = "; ".join(part for part in (
            f"unknown settings {', '.join(unknown)}" if unknown else "",
            f"missing settings {', '.join(missing)}" if missing else "") if part)
        raise RunError(f"{path}: expected exactly the settings {', '.join(fields)}, found {found}; {remedy}")
    changes = saved.pop("changes", [])
    if not isinstance(changes, list) or not all(
            isinstance(c, dict) and set(c) == {"after_epoch", "setting", "from", "to"} for c in changes):
        raise RunError(f"{path}: expected \"changes\" as a list of {{after_epoch, setting, from, to}} "
                       f"objects, found {changes!r}; {remedy}")
    if not isinstance(saved["layers"], list):
        raise RunError(f"{path}: expected \"layers\" as a list, found {saved['layers']!r}; {remedy}")
    try:
        config = TrainConfig.from_json(saved).validate()
    except (TypeError, ValueError) as err:
        raise RunError(f"{path}: {err}; {remedy}") from None
    return config, changes


def write_config(out_dir, config, changes=()):
    """Write config.json atomically: the settings, then the list of changes."""
    record = config.to_json()
    record["changes"] = list(changes)
    with atomic_write(Path(out_dir) / CONFIG, "w") as f:
        f.write(json.dumps(record, indent=2) + "\n")


def differences(saved, asked, ignore=()):
    """[(name, saved value, asked value)] for every setting that differs, in field order."""
    out = []
    for setting in SETTINGS:
        if setting.name in ignore:
            continue
        a, b = getattr(saved, setting.name), getattr(asked, setting.name)
        if a != b:
            out.append((setting.name, a, b))
    return out


def format_differences(diffs):
    return ", ".join(f"{name} (saved {show(a)}, asked {show(b)})" for name, a, b in diffs)


def resume_changes(out_dir, saved, asked, epochs_done, diverged):
    """The changes ``--resume`` makes to ``saved`` to get ``asked``; SettingsMismatch if not allowed.

    saved        the settings the run continues from (``resume_baseline``)
    epochs_done  epochs in the checkpoint (0 without one)
    diverged     the divergence record (diverged.json) or None
    -> [{"after_epoch", "setting", "from", "to"}], empty when nothing changes

    Which settings may change, and when, is declared in ``settings.SETTINGS`` (``on_resume``).
    """
    out = Path(out_dir)
    diffs = differences(saved, asked)
    refused = [d for d in diffs if d[0] not in RESUMABLE]
    why = []
    if refused:
        why.append(f"these settings cannot change on --resume: {format_differences(refused)}")
    why += [reason for name, before, after in diffs if name in RESUMABLE
            for reason in [resume_rule(name, before, after, epochs_done, diverged)] if reason]
    if why:
        raise SettingsMismatch(
            f"{out}: cannot resume as asked: " + "; ".join(why) + ". --resume continues with the "
            f"saved settings ({out / CONFIG}) and accepts {resume_ways()}; {_fresh_start(out)}.", diffs)
    return [{"after_epoch": epochs_done, "setting": name, "from": before, "to": after}
            for name, before, after in diffs]


def resume_baseline(out_dir, saved, changes):
    """The settings a resumed run continues from, and the hand edits of config.json.

    The checkpoint records the settings that trained it ("trained_with"); the changes that
    ``--resume`` recorded in config.json after the checkpoint's epoch apply on top. A setting
    of config.json that differs from the result was edited by hand. A checkpoint of an older
    version holds no record: then config.json is all there is.
    -> (baseline TrainConfig, [(name, baseline value, config.json value)])
    """
    record = read_trained_with(Path(out_dir) / CHECKPOINT)
    if record is None:
        return saved, []
    epoch, settings = record["epoch"], dict(record["settings"])
    for change in changes:
        if change["after_epoch"] >= epoch:
            settings[change["setting"]] = change["to"]
    baseline = TrainConfig.from_json(settings)
    return baseline, differences(baseline, saved)


def hand_edit_error(out_dir, edits, asked):
    """RunError for the hand edits of config.json that the settings asked for do not confirm, or None.

    A hand edit stands when the same value is asked for (a flag given with --resume); it is
    then an ordinary change, which ``resume_changes`` allows or refuses.
    """
    out = Path(out_dir)
    unconfirmed = [(name, trained, edited) for name, trained, edited in edits if getattr(asked, name) != edited]
    if not unconfirmed:
        return None
    named = "; ".join(f"{name} is {show(edited)} in {out / CONFIG} but {out / CHECKPOINT} was trained with "
                      f"{show(trained)}" for name, trained, edited in unconfirmed)
    allowed = [(name, edited) for name, _, edited in unconfirmed if name in RESUMABLE]
    ways = f"set {', '.join(name for name, _, _ in unconfirmed)} back in {out / CONFIG}"
    if allowed:
        flags = " ".join(f"--{name.replace('_', '-')} {show(edited)}" for name, edited in allowed)
        ways += f", or ask for the change on the command line (lrlc train --out {out} --resume {flags})"
    return RunError(f"{out}: config.json was edited by hand: {named}. --resume continues with the settings "
                    f"the checkpoint was trained with; {ways}, or start again with --overwrite.")


# --------------------------------------------------------------------------- metrics

def _check_record(record, where, epoch):
    if not isinstance(record, dict):
        return f"{where}: expected a JSON object of metrics, found {record!r}"
    missing = [k for k in METRIC_KEYS if k not in record]
    if missing:
        return f"{where}: the record has no {', '.join(missing)}"
    if record["epoch"] != epoch or isinstance(record["epoch"], bool):
        return f"{where}: expected epoch {epoch}, found {record['epoch']!r}"
    bad = [k for k in METRIC_KEYS[1:] if not isinstance(record[k], (int, float)) or isinstance(record[k], bool)]
    if bad:
        return f"{where}: expected numbers for {', '.join(bad)}, found {[record[k] for k in bad]!r}"
    return None


def read_metrics(path):
    """The records of metrics.jsonl, checked (epochs 1, 2, ... with every metric); [] when absent."""
    path = Path(path)
    if not path.exists():
        return []
    remedy = (f"delete it: --resume rewrites it from {CHECKPOINT}, which keeps the same records")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise RunError(f"{path}: cannot be read ({err}); {remedy}") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as err:
            raise RunError(f"{path}: line {number} is not valid JSON ({err}); {remedy}") from None
        problem = _check_record(record, f"{path}: line {number}", len(records) + 1)
        if problem:
            raise RunError(f"{problem}; {remedy}")
        records.append(record)
    return records


def write_metrics(path, history):
    """Rewrite metrics.jsonl atomically from ``history`` (a reader sees the old or the new file)."""
    with atomic_write(path, "w") as f:
        f.write("".join(json.dumps(m) + "\n" for m in history))


def same_records(a, b):
    """Equal records, NaN included (a run with no validation set has val_acc NaN)."""
    return [json.dumps(r, sort_keys=True) for r in a] == [json.dumps(r, sort_keys=True) for r in b]


# --------------------------------------------------------------------------- checkpoint.npz

def save_checkpoint(path, model, optimizer, rng, epoch, step, history=(), trained_with=None):
    """Write the state of a run and its metrics to ``path`` atomically.

    trained_with  {"settings": config.json's settings, "threads": n}: what trained this state
                  (read back by ``read_trained_with``); None leaves it out
    A crash while writing leaves the previous checkpoint intact.
    """
    from . import backend

    arrays = {f"param/{k}": backend.to_numpy(v) for k, v in model.params.items()}
    arrays.update({f"buffer/{k}": backend.to_numpy(v) for k, v in model.buffers.items()})
    arrays.update({f"optim/{k}": backend.to_numpy(v) for k, v in optimizer.state_dict().items()})
    arrays["epoch"] = numpy.array(epoch)
    arrays["step"] = numpy.array(step)
    arrays["rng_state"] = numpy.array(json.dumps(rng.bit_generator.state))
    arrays["metrics"] = numpy.array(json.dumps(list(history)))
    if trained_with is not None:
        arrays["trained_with"] = numpy.array(json.dumps(trained_with))
    with atomic_write(path) as f:
        numpy.savez(f, **arrays)


def _integer(arrays, key, path):
    value = arrays[key]
    if value.shape != () or value.dtype.kind not in "iu":
        raise RunError(f"{path}: expected {key!r} as a whole number, found {value!r}")
    return int(value)


def read_checkpoint(path, model, optimizer, rng):
    """Read and check ``path`` against the network, optimiser and generator it will fill.

    -> dict with "arrays" (the file's arrays), "epoch", "step", "history" (its metrics) and
       "rng_state"; nothing is assigned yet (``restore`` does that). Raises RunError.
    """
    path = Path(path)
    try:
        with numpy.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as err:
        raise RunError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    for key in ("epoch", "step", "rng_state"):
        if key not in arrays:
            raise RunError(f"{path}: checkpoint has no {key!r}; was it written by lrlc_np?")
    epoch, step = _integer(arrays, "epoch", path), _integer(arrays, "step", path)
    targets = [(f"param/{k}", v) for k, v in model.params.items()]
    targets += [(f"buffer/{k}", v) for k, v in model.buffers.items()]
    targets += [(f"optim/velocity/{k}", v) for k, v in optimizer.velocity.items()]
    for key, value in targets:
        if key not in arrays:
            raise RunError(f"{path}: checkpoint has no {key}; was it written by another network?")
        saved = arrays[key]
        if saved.shape != tuple(value.shape):
            raise RunError(f"{path}: {key} has shape {saved.shape}, the network expects {tuple(value.shape)}")
        if saved.dtype.kind != "f" or not numpy.isfinite(saved).all():
            raise RunError(f"{path}: {key} holds {'non-finite values' if saved.dtype.kind == 'f' else saved.dtype}, "
                           f"expected finite floating-point numbers")
        if key.endswith("running_var") and (saved < 0).any():
            raise RunError(f"{path}: {key} holds a negative variance ({saved.min():.3g}); a variance is >= 0")
    try:
        rng_state = json.loads(str(arrays["rng_state"]))
        probe = type(rng.bit_generator)()
        probe.state = rng_state                       # checks the generator's name and its state
    except (ValueError, TypeError, KeyError) as err:
        raise RunError(f"{path}: rng_state is not a saved state of a {type(rng.bit_generator).__name__} "
                       f"generator ({type(err).__name__}: {err}); found {str(arrays['rng_state'])[:80]!r}") from None
    history = None
    if "metrics" in arrays:
        try:
            history = json.loads(str(arrays["metrics"]))
        except ValueError:
            raise RunError(f"{path}: its metrics are not valid JSON") from None
        if not isinstance(history, list):
            raise RunError(f"{path}: expected its metrics as a list of records, found {history!r}")
        for number, record in enumerate(history, 1):
            problem = _check_record(record, f"{path}: metrics of epoch {number}", number)
            if problem:
                raise RunError(problem)
    return {"arrays": arrays, "epoch": epoch, "step": step, "history": history, "rng_state": rng_state}


def read_trained_with(path):
    """The checkpoint's record of what trained it: {"epoch", "settings", "threads"}; None when the
    checkpoint is missing or older than the record (it is checked with the rest of the file later)."""
    try:
        with numpy.load(path, allow_pickle=False) as data:
            if "trained_with" not in data.files:
                return None
            record, epoch = json.loads(str(data["trained_with"])), int(data["epoch"])
    except FileNotFoundError:
        return None
    except Exception as err:
        raise RunError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(record, dict) or not isinstance(record.get("settings"), dict):
        raise RunError(f"{path}: expected trained_with as {{settings, threads}}, found {record!r}")
    return {**record, "epoch": epoch}


def restore(state, model, optimizer, rng):
    """Assign a checked checkpoint (``read_checkpoint``) to model, optimiser and generator."""
    from . import backend

    arrays = state["arrays"]
    for name, value in model.params.items():
        value[...] = backend.to_device(arrays[f"param/{name}"])
    for name, value in model.buffers.items():
        value[...] = backend.to_device(arrays[f"buffer/{name}"])
    optimizer.load_state_dict({k[len("optim/"):]: v for k, v in arrays.items() if k.startswith("optim/")})
    rng.bit_generator.state = state["rng_state"]


def check_against_run(state, path, epochs, steps_per_epoch):
    """The checkpoint's epoch, step and metrics fit a run of ``epochs`` epochs of ``steps_per_epoch``."""
    epoch, step, history = state["epoch"], state["step"], state["history"]
    remedy = _fresh_start(Path(path).parent)
    if not 1 <= epoch <= epochs:
        raise RunError(f"{path}: epoch is {epoch}, expected 1 to {epochs} (the run's epochs, "
                       f"{Path(path).parent / CONFIG}); {remedy}")
    if step != epoch * steps_per_epoch:
        raise RunError(f"{path}: step is {step}, expected {epoch * steps_per_epoch} ({epoch} epochs of "
                       f"{steps_per_epoch} steps); {remedy}")
    if history is None:
        raise RunError(f"{path}: the checkpoint holds no metrics (it was written by lrlc_np before 0.5); "
                       f"{remedy}")
    if len(history) != epoch:
        raise RunError(f"{path}: expected the metrics of {epoch} epochs, found {len(history)}; {remedy}")


# --------------------------------------------------------------------------- diverged.json

def read_divergence(out_dir):
    """The divergence record of ``out_dir`` (a dict) or None."""
    path = Path(out_dir) / DIVERGED
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (ValueError, OSError) as err:
        raise RunError(f"{path}: not valid JSON ({err}); delete it (it only records that the run "
                       f"diverged)") from None
    if not isinstance(record, dict) or not {"epoch", "step", "lr"} <= set(record):
        raise RunError(f"{path}: expected an object with epoch, step, lr, found {record!r}; delete it "
                       f"(it only records that the run diverged)")
    return record


def write_divergence(out_dir, epoch, step, lr, loss):
    with atomic_write(Path(out_dir) / DIVERGED, "w") as f:
        f.write(json.dumps({"epoch": epoch, "step": step, "lr": lr,
                            "loss": loss if math.isfinite(loss) else str(loss)}) + "\n")


# --------------------------------------------------------------------------- what is on disk

def saved_epoch(out_dir):
    """Epochs in the checkpoint of ``out_dir`` (0 without one, None when it cannot be read)."""
    path = Path(out_dir) / CHECKPOINT
    if not path.exists():
        return 0
    try:
        with numpy.load(path, allow_pickle=False) as data:
            return int(data["epoch"])
    except Exception:
        return None


def describe(out_dir, epochs=None):
    """One sentence on what ``out_dir`` holds, for messages after an interruption."""
    out = Path(out_dir)
    try:
        epoch, has_config = saved_epoch(out), (out / CONFIG).exists()
    except OSError:                                      # a name too long, a folder we may not read
        return f"nothing was written to {out}"
    of = f" of {epochs}" if epochs else ""
    if epoch is None:
        return f"{out / CHECKPOINT} cannot be read"
    if epoch == 0:
        if has_config:
            return f"no epoch finished, so {out} has no {CHECKPOINT}, only {CONFIG} (the settings)"
        return f"nothing was written to {out}"
    return f"{out / CHECKPOINT} holds epoch {epoch}{of}"


def remove_run_files(out_dir):
    """Delete the files of a run (and its PNG figures) from ``out_dir``; other files stay."""
    out = Path(out_dir)
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for png in out.glob("*.png"):
        png.unlink()
