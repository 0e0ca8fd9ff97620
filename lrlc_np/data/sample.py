"""The bundled sample: 4,000 + 1,000 class-balanced real MNIST digits, and how it was made."""

from __future__ import annotations

from pathlib import Path

import numpy

from .idx import read_idx, write_idx
from .registry import DataError, _standard_files
from .sources import _find_file


# --------------------------------------------------------------------------- the bundled sample

def _balanced_choice(labels, n, rng):
    """n indices, as equal a share per class as possible, drawn without replacement, shuffled."""
    classes = numpy.unique(labels)
    per, extra = divmod(n, len(classes))
    chosen = []
    for i, c in enumerate(classes):
        pool = numpy.flatnonzero(labels == c)
        take = per + (i < extra)
        if take > len(pool):
            raise ValueError(f"make_sample: class {c} has {len(pool)} examples, {take} requested")
        chosen.append(rng.choice(pool, size=take, replace=False))
    return rng.permutation(numpy.concatenate(chosen))


def make_sample(source_dir, out_dir, n_train=4000, n_test=1000, seed=2020):
    """Build a class-balanced sample of an MNIST-format data set, as four IDX .gz files.

    source_dir  folder with the four full files (gzipped or not), e.g. a verified MNIST copy
    out_dir     where the sample's files go (created), under the same four names
    n_train     examples drawn from the training set, n_test from the test set; each class
                gets n // 10 (the first n % 10 classes one more), without replacement, then
                the order is shuffled (so the first 8% still hold every class)
    seed        seed of the ``numpy.random.Generator`` that draws them
    ->          dict file name -> SHA-256 of the decompressed file (for ``DATASETS``)

    The bundled sample is ``make_sample(<MNIST>, SAMPLE_DIR, 4000, 1000, seed=2020)``:
    its decompressed bytes, hence its checksums, come out identical on every machine.
    """
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    rng = numpy.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    digests = {}
    for split, n in (("train", n_train), ("test", n_test)):
        image_name, label_name = _standard_files()[split]
        images = read_idx(_find_file(source_dir, image_name) or source_dir / image_name)
        labels = read_idx(_find_file(source_dir, label_name) or source_dir / label_name)
        if len(images) != len(labels):
            raise DataError(f"{source_dir}: {len(images)} {split} images but {len(labels)} labels")
        index = _balanced_choice(labels, n, rng)
        digests[image_name] = write_idx(out_dir / image_name, images[index])
        digests[label_name] = write_idx(out_dir / label_name, labels[index])
    return digests
