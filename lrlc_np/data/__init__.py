"""MNIST-format data sets: read IDX files, verify them, find them, download them, batch them.

    images, labels = load_mnist("train")      # uint8 (60000, 28, 28), int64 (60000,)
    (train, val) = train_val_split(images, labels)   # validation = the first 8% (the paper's code)
    for x, y in iterate_minibatches(*train, 128, rng):   # one permutation per epoch
        x = to_model_input(x)                 # float32 (N, 1, 28, 28) in [-1, 1]

Data sets (``DATASETS``):

    "mnist"          LeCun, Cortes and Burges' handwritten digits, 60000 train + 10000 test
    "fashion-mnist"  Zalando's clothing pictures in the same format and under the same file names
    "mnist-sample"   4000 train + 1000 test real MNIST digits (class-balanced, 400/100 per digit)
                     shipped inside the package (lrlc_np/sample_data/), so tutorials and tests
                     run with no download; built by ``make_sample``
    "translated-<name>"  any of them with every digit pasted at a fixed random offset into a
                     larger empty canvas (``translated``: 40x40 unless told), ``load_dataset``

The IDX format (LeCun's): a big-endian header, then the raw bytes, row-major.

    bytes 0-3   magic number: 0x00 0x00, element type (0x08 = unsigned byte), number of dimensions
                0x00000801 labels (N,)    0x00000803 images (N, rows, cols)
    then        one big-endian uint32 per dimension
    then        prod(sizes) unsigned bytes

Files keep their standard names (``train-images-idx3-ubyte.gz``, ...) and are checked by the
SHA-256 of their *decompressed* bytes, so a file that a mirror or a Linux distribution
recompressed still verifies (Debian's Fashion-MNIST is such a case). Uncompressed copies
(the same names without ``.gz``) are accepted too.

Where ``load_mnist`` looks, in this order (the first folder whose files verify wins):

    data_dir, data_dir/<dataset>                          when data_dir is given
    default_data_dir(), default_data_dir()/<dataset>      otherwise ($LRLC_NP_DATA or ~/.cache/lrlc_np)
    /usr/share/datasets/fashion-mnist                     for "fashion-mnist" (Debian: apt-get install dataset-fashion-mnist)

MNIST and Fashion-MNIST share file names, so a folder whose files fail the checksums (for
instance it holds the other data set) is skipped, not trusted. If no folder verifies,
``download`` fetches the files into ``<data_dir or default_data_dir()>/<dataset>

The package, by concern: ``registry`` (the data sets and the errors), ``idx`` (the file
format and checksums), ``sources`` (searching, loading, downloading), ``sample`` (the
bundled sample) and ``batches`` (model input, the validation split, mini-batches).
"""

from .batches import iterate_minibatches, to_model_input, train_val_split
from .idx import read_idx, verify_file, write_idx
from .registry import DATASETS, IMAGE_SIZE, SAMPLE_DIR, SPLITS, DataError, DownloadError, _standard_files
from .sample import make_sample
from .sources import _find_file, default_data_dir, download, load_mnist
from .translated import dataset_names, load_dataset, offsets, translate

__all__ = [
    "DATASETS", "IMAGE_SIZE", "SAMPLE_DIR", "SPLITS", "DataError", "DownloadError", "default_data_dir",
    "download", "iterate_minibatches", "load_mnist", "make_sample", "read_idx", "to_model_input",
    "train_val_split", "verify_file", "write_idx", "dataset_names", "load_dataset", "offsets", "translate",
]
