"""Every setting of a training run, declared once, and the rules between settings.

A setting has a name, a default, a kind (which values it takes: an int with bounds, one of
a list, True or False, ...), a help text, whether ``lrlc train`` has a flag for it, and
whether ``--resume`` may change it. Everything else is derived from ``SETTINGS``:

    TrainConfig          the dataclass of a run's settings, in this order (config.json's order)
    TrainConfig.validate each setting by its kind, then the rules between settings (``check_rules``)
    add_flags            the command line's flags, their parsers, defaults and help
    RESUMABLE            the settings ``--resume`` may change, and when (``resume_rule``)
    distinct             the rule that a list of seeds, ranks or positions names each once

The run directory (``rundir``) reads and writes these settings; the trainer (``train``) runs
them; the command line (``cli``) turns flags into them. This module imports neither.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass

from .options import (COMBININGS, LAYER_TYPES, LC_INITS, NORMALIZATIONS, SCHEDULES, check_input_dependent,
                      python_spelling, resolve_combining)

#: the side of an MNIST digit; the translated data sets' canvas is at least this
IMAGE_SIZE = 28


# --------------------------------------------------------------------------- kinds of values

@dataclass(frozen=True)
class Number:
    """An int or a float with bounds: ``minimum`` (inclusive, or exclusive with ``above``) and
    an exclusive upper bound ``below``; ``optional`` also allows None."""

    type: type = int
    minimum: float = 1
    above: bool = False
    below: float | None = None
    optional: bool = False
    why: str = ""

    def expects(self) -> str:
        what = "an int" if self.type is int else "a number"
        if self.below is not None:
            bounds = f"in [{self.minimum:g}, {self.below:g})"
        else:
            bounds = f"{'>' if self.above else '>='} {self.minimum:g}"
        text = f"{what} {bounds}" if self.below is None else f"a number {bounds}"
        text = f"None or {text}" if self.optional else text
        return f"{text} {self.why}".rstrip()

    def valid(self, value) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.type is int and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        low = value > self.minimum if self.above else value >= self.minimum
        return low and (self.below is None or value < self.below)

    def parse(self, text):
        try:
            value = self.type(text)
        except ValueError:
            value = None
        if value is None or not self.valid(value):
            raise argparse.ArgumentTypeError(f"expected {self.expects()}, got {text!r}")
        return value


@dataclass(frozen=True)
class Choice:
    """One of a tuple of strings (or of what a function returns: the data set names)."""

    options: object

    def values(self) -> tuple:
        return tuple(self.options() if callable(self.options) else self.options)

    def expects(self) -> str:
        return f"in {', '.join(self.values())}"

    def valid(self, value) -> bool:
        return isinstance(value, str) and value in self.values()


@dataclass(frozen=True)
class Switch:
    """True or False."""

    def expects(self) -> str:
        return "as True or False"

    def valid(self, value) -> bool:
        return isinstance(value, bool)


@dataclass(frozen=True)
class LayerList:
    """A non-empty list of layer types."""

    def expects(self) -> str:
        return f"as a non-empty list of {', '.join(LAYER_TYPES)}"

    def valid(self, value) -> bool:
        return (isinstance(value, (tuple, list)) and len(value) > 0
                and all(isinstance(t, str) and t in LAYER_TYPES for t in value))

    def parse(self, text):
        kinds = [t.strip() for t in text.split(",")]
        if not self.valid(kinds):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(LAYER_TYPES)}, "
                                             f"got {text!r}")
        return kinds


@dataclass(frozen=True)
class Folder:
    """None or a folder's path (a string)."""

    def expects(self) -> str:
        return "as None or a folder (a string)"

    def valid(self, value) -> bool:
        return value is None or isinstance(value, str)


def _dataset_names():
    from .data.translated import dataset_names

    return dataset_names()


# --------------------------------------------------------------------------- the settings

@dataclass(frozen=True)
class Setting:
    """One setting of a run.

    flag       the ``lrlc train`` flag (None: no flag; the setting keeps its default there)
    on_resume  None (--resume may not change it), "more" (only a larger value: epochs),
               "any" (data_dir: the checksums make it the same data) or "after divergence" (lr)
    added      True for settings that runs of version 0.4 did not save: missing from a
               config.json, they take their default, which is what 0.4 did
    """

    name: str
    default: object
    kind: object
    help: str
    flag: str | None = None
    on_resume: str | None = None
    added: bool = False
    none_means: str = "none"          # what a default of None stands for, in the help


SETTINGS = (
    Setting("layers", ("conv", "conv", "conv"), LayerList(),
            "comma-separated layer types, each conv, lc, lrlc or wide_conv", "--layers"),
    Setting("rank", 1, Number(), "rank K of LRLC layers, and the width target of wide_conv", "--rank"),
    Setting("filters", 64, Number(), "filters per layer", "--filters"),
    Setting("combining", "row_col", Choice(COMBININGS),
            "how the combining weights of (fixed) LRLC layers vary over positions "
            "(input-dependent LRLC always uses full)", "--combining"),
    Setting("normalize", "softmax", Choice(NORMALIZATIONS),
            "normalisation of the combining weights over K", "--normalize"),
    Setting("coord_conv", False, Switch(),
            "append row/column coordinate channels to the input (CoordConv baseline)", "--coord-conv"),
    Setting("batch_norm", True, Switch(), "BatchNorm after every 3x3 layer"),
    Setting("input_dependent", False, Switch(),
            "combining weights computed from each input by a small network, the paper's "
            "input-dependent variant (implies --combining full); also writes alpha_per_digit.png, "
            "the weights for one test image of each of six digits", "--input-dependent"),
    Setting("epochs", 10, Number(), "training epochs", "--epochs", on_resume="more"),
    Setting("batch_size", 128, Number(), "mini-batch size", "--batch-size"),
    Setting("lr", 0.05, Number(float, 0.0, above=True), "peak learning rate", "--lr",
            on_resume="after divergence"),
    Setting("momentum", 0.9, Number(float, 0.0, below=1.0, why="(at 1 or more the velocity never decays)"),
            "SGD momentum", "--momentum"),
    Setting("nesterov", True, Switch(), "plain momentum instead of Nesterov momentum", "--no-nesterov"),
    Setting("weight_decay", 5e-4, Number(float, 0.0),
            "L2 weight decay on weights and bases, not biases, BatchNorm or logits", "--weight-decay"),
    Setting("schedule", "cosine", Choice(SCHEDULES), "learning-rate schedule; cosine has a linear warm-up",
            "--schedule"),
    Setting("warmup_epochs", 1.0, Number(float, 0.0), "epochs of linear warm-up for the cosine schedule",
            "--warmup-epochs"),
    Setting("seed", 0, Number(int, 0), "seed for weights and data order", "--seed"),
    Setting("dataset", "mnist", Choice(_dataset_names),
            "mnist, fashion-mnist, mnist-sample (a small real subset bundled with the package, works "
            "offline), or translated-<any of them>: every digit pasted at a fixed random offset into a "
            "--canvas x --canvas image", "--dataset"),
    Setting("canvas", 40, Number(int, IMAGE_SIZE, why=f"(the digits are {IMAGE_SIZE}x{IMAGE_SIZE})"),
            "image side of the translated data sets", "--canvas", added=True),
    Setting("lc_init", "he", Choice(LC_INITS),
            "how LC layers start: he (fan-in C_in*kh*kw) or keras (as Keras's LocallyConnected2D, whose "
            "fan-in also counts the H_out*W_out positions: sqrt(H_out*W_out) times smaller)", "--lc-init",
            added=True),
    Setting("data_dir", None, Folder(),
            "folder holding the IDX .gz files (default: $LRLC_NP_DATA, then ~/.cache/lrlc_np)", "--data-dir",
            on_resume="any"),
    Setting("limit_train", None, Number(optional=True),
            "use only the first N training examples (after the validation split)", "--limit-train",
            none_means="all"),
    Setting("val_fraction", 0.08, Number(float, 0.0, below=1.0), "the first fraction of the training set "
            "kept for validation"),
    Setting("eval_batch_size", 500, Number(), "images per evaluation batch"),
)

BY_NAME = {s.name: s for s in SETTINGS}
#: settings ``--resume`` may change (see ``Setting.on_resume``)
RESUMABLE = tuple(s.name for s in SETTINGS if s.on_resume)
#: settings that runs of version 0.4 did not save (they take their defaults)
ADDED_SETTINGS = tuple(s.name for s in SETTINGS if s.added)


# --------------------------------------------------------------------------- TrainConfig

def _validate(self):
    """Check every setting by its kind, then the rules between settings; raises ValueError
    naming the bad one. -> self"""
    for setting in SETTINGS:
        value = getattr(self, setting.name)
        if not setting.kind.valid(value):
            raise ValueError(f"TrainConfig: expected {setting.name} {_phrase(setting.kind)}, got {value!r}")
    check_rules(self, "TrainConfig")
    return self


def _phrase(kind):
    text = kind.expects()
    return f"as {text}" if text.startswith(("an ", "a ", "None or")) else text


def _to_json(self) -> dict:
    """The settings as config.json holds them (layers as a list)."""
    d = dataclasses.asdict(self)
    d["layers"] = list(self.layers)
    return d


@classmethod
def _from_json(cls, d: dict):
    """A TrainConfig from config.json's settings; unknown keys are ignored, missing ones take defaults."""
    d = {k: v for k, v in d.items() if k in BY_NAME}
    d["layers"] = tuple(d.get("layers", BY_NAME["layers"].default))
    return cls(**d)


TrainConfig = dataclasses.make_dataclass(
    "TrainConfig", [(s.name, object, dataclasses.field(default=s.default)) for s in SETTINGS],
    namespace={"validate": _validate, "to_json": _to_json, "from_json": _from_json,
               "__doc__": "Everything that defines a run, one field per ``settings.SETTINGS`` entry, in its "
                          "order. Defaults follow the paper's MNIST set-up."})
TrainConfig.__module__ = __name__           # pickled and printed as lrlc_np.settings.TrainConfig


# --------------------------------------------------------------------------- rules between settings

def check_rules(config, owner, spell=python_spelling):
    """The rules that tie settings together (``lrlc_np.options``); each raises ValueError naming
    ``owner`` and the settings as ``spell`` writes them (``flag_spelling`` on the command line).

    - input_dependent changes LRLC layers, so the layers must include one;
    - input_dependent computes a logit for every position, so combining must be "full".
    """
    check_input_dependent(config.layers, config.input_dependent, owner, spell)
    resolve_combining(config.combining, config.input_dependent, owner, spell)


def flag_spelling(name, value) -> str:
    """How the command line spells a setting: ``--combining full``, ``--input-dependent``."""
    flag = BY_NAME[name].flag
    if isinstance(value, bool):
        return flag if value == (not flag.startswith("--no-")) else f"no {flag}"
    return f"{flag} {show(value)}"


def distinct(values, what: str, flag: str | None = None):
    """``values`` when each appears once; else ValueError naming the first repeated one.

    A repeated seed trains one run directory twice at once, and a repeated rank or position
    counts one run as two samples in the statistics.
    """
    seen = set()
    for value in values:
        if value in seen:
            where = f" ({flag})" if flag else ""
            raise ValueError(f"{what} {value} is given more than once{where}; give each {what} once")
        seen.add(value)
    return list(values)


def plan_of(resume: bool, overwrite: bool) -> str:
    """The plan for a run directory: "resume", "overwrite" or "new". Resume continues the run
    and overwrite starts it again, so they exclude each other (ValueError)."""
    if resume and overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite starts it again: give one "
                         "(resume=True and overwrite=True exclude each other)")
    return "resume" if resume else "overwrite" if overwrite else "new"


def resume_rule(name, before, after, epochs_done, diverged):
    """Why ``--resume`` may not change setting ``name`` from ``before`` to ``after``; None when it may."""
    rule = BY_NAME[name].on_resume
    if rule is None:
        return f"{name} cannot change on --resume (saved {show(before)}, asked {show(after)})"
    if rule == "more" and after < epochs_done:
        return (f"the run has already trained {epochs_done} epochs, so --{name} must be at least "
                f"{epochs_done} (asked {after})")
    if rule == "after divergence" and diverged is None:
        return (f"the learning rate can change on --resume only after the run diverged "
                f"(saved {before}, asked {after})")
    return None


def show(value):
    """A setting's value as a flag would spell it: layers as conv,conv,lrlc."""
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


def resume_ways() -> str:
    """What --resume accepts, in words (from the declarations)."""
    words = {"more": "a larger --{}", "any": "a new --{}", "after divergence": "a new --{} after a divergence"}
    parts = [words[s.on_resume].format(s.flag.lstrip("-")) for s in SETTINGS if s.on_resume]
    return ", ".join(parts[:-1]) + ", and " + parts[-1]


# --------------------------------------------------------------------------- the command line

def add_flags(parser, names, defaults=None, shown=None):
    """Add the flags of the settings ``names`` to an argparse parser.

    defaults  {name: default} of this command where it is not the setting's (None: resolved
              later, e.g. from compare's presets)
    shown     {name: text} for the help's "(default: ...)" where the default is resolved later
    """
    defaults, shown = defaults or {}, shown or {}
    for name in names:
        setting = BY_NAME[name]
        if isinstance(setting.kind, Switch):
            store_false = setting.flag.startswith("--no-")
            parser.add_argument(setting.flag, dest=name, action="store_false" if store_false else "store_true",
                                help=setting.help)
            continue
        default = defaults.get(name, setting.default)
        text = shown.get(name, show(setting.default) if setting.default is not None else setting.none_means)
        kind = setting.kind
        extra = {"choices": kind.values()} if isinstance(kind, Choice) else {"type": kind.parse} if hasattr(kind, "parse") else {}
        described = setting.help if "(default:" in setting.help else f"{setting.help} (default: {text})"
        parser.add_argument(setting.flag, dest=name, default=list(default) if isinstance(default, tuple) else default,
                            help=described, **extra)


# --------------------------------------------------------------------------- argument types

#: argparse ``type``s for numbers: each parses its text and checks its bounds, with a one-line
#: error ("expected an int >= 1, got '0'") that argparse prefixes with the flag
positive_int = Number(int, 1).parse
non_negative_int = Number(int, 0).parse
positive_float = Number(float, 0.0, above=True).parse
non_negative_float = Number(float, 0.0).parse


def number_list(what, minimum=0):
    """An argparse ``type`` for comma-separated whole numbers >= ``minimum``, each given once
    (``distinct``); ``what`` names one of them in the errors ("seed", "rank")."""
    def parse(text):
        try:
            values = [int(t) for t in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
        if min(values) < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}s >= {minimum}, got {text!r}")
        try:
            return distinct(values, what)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return parse
