"""Model input and mini-batches: uint8 digits to float [-1, 1], the validation split, epochs."""

from __future__ import annotations

import numpy


# --------------------------------------------------------------------------- model input and batches

def to_model_input(images):
    """uint8 images (N, H, W), pixels 0..255 -> float32 (N, 1, H, W) in [-1, 1]: x / 127.5 - 1."""
    images = numpy.asarray(images)
    if images.dtype != numpy.uint8:
        raise TypeError(f"to_model_input: expected uint8 pixels 0..255, got dtype {images.dtype}")
    if images.ndim != 3:
        raise ValueError(f"to_model_input: expected images (N, H, W), got shape {images.shape}")
    x = images[:, None, :, :].astype(numpy.float32)    # (N, 1, H, W), a new array
    x /= numpy.float32(127.5)
    x -= numpy.float32(1.0)
    return x


def train_val_split(images, labels, val_fraction=0.08):
    """Split a training set: the first ``val_fraction`` is validation (the paper's code), the rest training.

    images  (N, ...) any array; labels (N,)
    ->      (train_images, train_labels), (val_images, val_labels), views of the inputs;
            validation holds round(N * val_fraction) examples (4800 of MNIST's 60000)
    """
    if len(images) != len(labels):
        raise ValueError(f"train_val_split: {len(images)} images but {len(labels)} labels")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"train_val_split: val_fraction must be in [0, 1), got {val_fraction}")
    n_val = int(round(len(labels) * val_fraction))
    return (images[n_val:], labels[n_val:]), (images[:n_val], labels[:n_val])


def iterate_minibatches(images, labels, batch_size, rng=None, shuffle=True, drop_last=False):
    """One epoch of minibatches: yields (x, y) = (images[idx], labels[idx]).

    images      (N, ...) any array; labels (N,)
    batch_size  examples per batch; the last batch is smaller unless ``drop_last``
    rng         ``numpy.random.Generator``: one permutation of range(N) per call (drawn when
                the function is called), so every example appears exactly once per epoch;
                may be None when shuffle=False (batches are then views, in order)
    ->          an iterator of (x (B, ...), y (B,))
    """
    n = len(labels)
    if len(images) != n:
        raise ValueError(f"iterate_minibatches: {len(images)} images but {n} labels")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, numpy.integer)) or batch_size < 1:
        raise ValueError(f"iterate_minibatches: batch_size must be a positive integer, got {batch_size!r}")
    batch_size = int(batch_size)
    if shuffle and not isinstance(rng, numpy.random.Generator):
        raise TypeError(f"iterate_minibatches: shuffle=True needs a numpy.random.Generator "
                        f"(numpy.random.default_rng(seed)), got {type(rng).__name__}")
    order = rng.permutation(n) if shuffle else None
    stop = n - n % batch_size if drop_last else n

    def batches():
        for start in range(0, stop, batch_size):
            if order is None:
                yield images[start:start + batch_size], labels[start:start + batch_size]
            else:
                idx = order[start:start + batch_size]
                yield images[idx], labels[idx]

    return batches()
