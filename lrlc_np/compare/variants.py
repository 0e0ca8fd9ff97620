"""What a comparison trains: the variants of the network, their settings and their folders.

Every variant is the paper's network with one layer position swapped (``variants``); a run
is a variant, a seed and the shared settings (``variant_config``), in
``out/<variant>/seed<seed>/`` (``run_folder``). The rank x position sweep has cells instead
(``sweep_cells``). Presets: ``QUICK`` (``lrlc compare --quick``) and ``COMPARE_DEFAULTS``.
"""

from __future__ import annotations

import dataclasses

from ..settings import distinct

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

    @property
    def has_rank(self) -> bool:
        """LRLC rows have a rank; wide conv has the rank whose parameter count it matches; conv and LC none."""
        return any(kind in ("lrlc", "wide_conv") for kind in self.layers)


def preset(quick, given):
    """The comparison's settings: ``given`` (flags the user gave, None where not given) over
    ``QUICK`` or ``COMPARE_DEFAULTS``."""
    chosen = QUICK if quick else COMPARE_DEFAULTS
    return {key: chosen[key] if given.get(key) is None else given[key] for key in chosen}


def swapped(kind, position, num_layers):
    """The layer types of a network with ``kind`` at ``position`` (1-based) and conv elsewhere."""
    return tuple(kind if i == position - 1 else "conv" for i in range(num_layers))


def variants(position, num_layers, ranks, wide_rank, input_dependent=False, *, coord_conv=False,
             lc_inits=("he",)):
    """The networks to compare: conv everywhere, then one position swapped.

    input_dependent  True: one input-dependent LRLC variant per rank, after the fixed ones; a
                     list of ranks: only those
    coord_conv       also the CoordConv baseline (all conv, coordinates appended to the input)
    lc_inits         the LC rows: "he" ("lc"), "keras" ("lc (keras init)"), or both
    """
    distinct(ranks, "rank")
    at = dict(position=position, num_layers=num_layers)
    out = [Variant("conv", swapped("conv", **at), 1),
           Variant(f"wide_conv (K={wide_rank})", swapped("wide_conv", **at), wide_rank)]
    if coord_conv:
        out.append(Variant(COORD_CONV, swapped("conv", **at), 1, coord_conv=True))
    out += [Variant("lc" if init == "he" else LC_KERAS, swapped("lc", **at), 1, lc_init=init) for init in lc_inits]
    out += [Variant(f"lrlc K={r}", swapped("lrlc", **at), r) for r in ranks]
    if input_dependent:
        dependent = ranks if input_dependent is True else distinct(input_dependent, "rank")
        out += [Variant(f"{INPUT_DEPENDENT} K={r}", swapped("lrlc", **at), r, True) for r in dependent]
    return out


def sweep_cells(positions, ranks, num_layers):
    """[(position, rank, Variant)] of the rank x position sweep: the all-conv network first
    (position and rank None), then LRLC of every rank at every position."""
    distinct(positions, "position")
    distinct(ranks, "rank")
    cells = [(None, None, Variant("conv", ("conv",) * num_layers, 1))]
    for p in positions:
        cells += [(p, r, Variant(f"lrlc K={r} at layer {p}", swapped("lrlc", p, num_layers), r)) for r in ranks]
    return cells


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


def slug(name):
    """The folder of a variant: "lrlc K=4" -> "lrlc_K4", "lc (keras init)" -> "lc_keras_init"."""
    return name.replace(" ", "_").replace("(", "").replace(")", "").replace("=", "")
