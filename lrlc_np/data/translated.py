"""Translated MNIST: every digit pasted at a random offset into a larger empty canvas.

The paper's argument for LRLC is that MNIST digits are roughly aligned, so the best filter
differs by position. Translated MNIST removes the alignment and keeps everything else: the
same digits, the same labels, the same train / validation / test split.

    images  uint8 (N, 28, 28)  ->  uint8 (N, canvas, canvas), zero (black) everywhere except
            the 28x28 digit, whose pixels are copied unchanged to rows r..r+27, columns c..c+27

The offset (r, c) of example i is a hash of (seed, split, i), each coordinate uniform over
0..canvas-28. It depends on nothing else (not on how many examples are loaded, nor on the
run's seed), so every run sees the same images, and index i of the bundled sample and of
full MNIST get the same offset. The data sets are named by a prefix on the source's name:
``translated-mnist``, ``translated-fashion-mnist``, ``translated-mnist-sample``.

    lrlc digits --dataset translated-mnist --out examples.png      # a figure of a few of them
"""

from __future__ import annotations

import numpy

from .registry import DATASETS, IMAGE_SIZE

PREFIX = "translated-"
#: the canvas side used when none is given (the digit moves by up to 12 pixels each way)
DEFAULT_CANVAS = 40
#: the seed of the offsets: one set of images for every run
SEED = 0
_SPLIT_CODES = {"train": 1, "test": 2}
_MASK = numpy.uint64(0xFFFFFFFFFFFFFFFF)


def dataset_names():
    """Every data set name ``load_dataset`` accepts: the stored ones and their translated forms."""
    return (*DATASETS, *(PREFIX + name for name in DATASETS))


def source_of(dataset):
    """The stored data set behind ``dataset`` ("translated-mnist" -> "mnist"), and whether it is translated."""
    if dataset.startswith(PREFIX) and dataset[len(PREFIX):] in DATASETS:
        return dataset[len(PREFIX):], True
    return dataset, False


def _splitmix64(z):
    """SplitMix64's finaliser on uint64 arrays: a well-mixed 64-bit hash of each value."""
    with numpy.errstate(over="ignore"):           # the arithmetic is modulo 2**64 on purpose
        z = (z + numpy.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = ((z ^ (z >> numpy.uint64(30))) * numpy.uint64(0xBF58476D1CE4E5B9)) & _MASK
        z = ((z ^ (z >> numpy.uint64(27))) * numpy.uint64(0x94D049BB133111EB)) & _MASK
        return z ^ (z >> numpy.uint64(31))


def offsets(count, canvas, split, seed=SEED):
    """(count, 2) int64: the (row, column) of the top-left corner of digits 0..count-1 of ``split``."""
    if split not in _SPLIT_CODES:
        raise ValueError(f"offsets: unknown split {split!r}; choose 'train' or 'test'")
    canvas = _check_canvas(canvas, "offsets")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"offsets: expected seed as an int >= 0, got {seed!r}")
    span = numpy.uint64(canvas - IMAGE_SIZE + 1)
    index = numpy.arange(count, dtype=numpy.uint64)
    key = _splitmix64(numpy.uint64(seed) * numpy.uint64(4) + numpy.uint64(_SPLIT_CODES[split]))
    rows = _splitmix64(key ^ (index * numpy.uint64(2)))
    cols = _splitmix64(key ^ (index * numpy.uint64(2) + numpy.uint64(1)))
    return numpy.stack([rows % span, cols % span], axis=1).astype(numpy.int64)


def _check_canvas(canvas, owner):
    if not isinstance(canvas, int) or isinstance(canvas, bool) or canvas < IMAGE_SIZE:
        raise ValueError(f"{owner}: expected canvas as an int >= {IMAGE_SIZE} (the digits are "
                         f"{IMAGE_SIZE}x{IMAGE_SIZE}), got {canvas!r}")
    return canvas


def translate(images, canvas, split, seed=SEED):
    """uint8 digits (N, 28, 28) -> uint8 (N, canvas, canvas), digit i at ``offsets(N, ...)[i]``."""
    images = numpy.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"translate: expected images (N, {IMAGE_SIZE}, {IMAGE_SIZE}), got shape {images.shape}")
    canvas = _check_canvas(canvas, "translate")
    where = offsets(len(images), canvas, split, seed)
    out = numpy.zeros((len(images), canvas, canvas), dtype=images.dtype)
    # Index arrays that put pixel (p, q) of digit n at (r_n + p, c_n + q): one fancy assignment.
    grid = numpy.arange(IMAGE_SIZE)
    rows = where[:, 0, None, None] + grid[None, :, None]          # (N, 28, 1)
    cols = where[:, 1, None, None] + grid[None, None, :]          # (N, 1, 28)
    out[numpy.arange(len(images))[:, None, None], rows, cols] = images
    return out


def load_dataset(split="train", dataset="mnist", data_dir=None, canvas=DEFAULT_CANVAS, download=True):
    """One split of any data set ``dataset_names()`` lists: images uint8 (N, H, W), labels int64 (N,).

    Stored data sets come from ``load_mnist`` (H = W = 28); "translated-<name>" loads <name>
    and pastes each digit into a ``canvas`` x ``canvas`` image (``translate``).
    """
    from .sources import load_mnist

    if not isinstance(dataset, str) or dataset not in dataset_names():
        raise ValueError(f"load_dataset: unknown dataset {dataset!r}; choose one of {', '.join(dataset_names())}")
    source, translated = source_of(dataset)
    images, labels = load_mnist(split, data_dir=data_dir, download=download, dataset=source)
    if translated:
        images = translate(images, canvas, split)
    return images, labels
