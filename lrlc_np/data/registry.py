"""The data sets this package knows: names, files, checksums, mirrors; the errors it raises."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A data file is missing, corrupt, not the expected IDX file, or could not be downloaded."""


class DownloadError(DataError):
    """Every mirror failed for a file. ``attempts`` lists (url, error); ``folder`` is the target."""

    def __init__(self, message, attempts=(), folder=None):
        super().__init__(message)
        self.attempts = list(attempts)
        self.folder = folder


SPLITS = ("train", "test")
IMAGE_SIZE = 28

#: Folder of the bundled sample (four IDX .gz files).
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"


def _standard_files():
    return {
        "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    }


#: Every data set ``load_mnist`` and ``download`` know. Per data set:
#:   title        name for messages
#:   files        split -> (images file, labels file)
#:   sha256       file name -> SHA-256 of the DECOMPRESSED file
#:   counts       split -> number of examples
#:   mirrors      base URLs tried in order (a file's URL is base + file name); [] = never downloads
#:   search_dirs  extra folders searched after data_dir / default_data_dir()
#:   folder       (bundled data only) the one folder it is read from
#:   hint         (optional) an extra line for the "where to put the files" message
DATASETS = {
    "mnist": {
        "title": "MNIST",
        "files": _standard_files(),
        "sha256": {
            "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        "counts": {"train": 60000, "test": 10000},
        "mirrors": [
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ],
        "search_dirs": [],
    },
    "fashion-mnist": {
        "title": "Fashion-MNIST",
        "files": _standard_files(),
        # Computed from Debian's dataset-fashion-mnist (0.0~git20200523.55506a9-1), whose .gz
        # files are recompressed (their MD5s differ from upstream's) but decompress to
        # upstream's bytes: 6000/1000 examples per class, mean train pixel 72.94.
        "sha256": {
            "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        "counts": {"train": 60000, "test": 10000},
        "mirrors": [
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ],
        "search_dirs": ["/usr/share/datasets/fashion-mnist"],
        "hint": "On Debian/Ubuntu, `apt-get install dataset-fashion-mnist` puts them in "
                "/usr/share/datasets/fashion-mnist, which is searched too.",
    },
    "mnist-sample": {
        "title": "MNIST sample (bundled)",
        "files": _standard_files(),
        # make_sample(<full MNIST>, SAMPLE_DIR, n_train=4000, n_test=1000, seed=2020)
        "sha256": {
            "train-images-idx3-ubyte.gz": "ed286715f0d8229ba6e24c3e557a0e9a830c3ecc4187a810d78ce4e2419eea87",
            "train-labels-idx1-ubyte.gz": "d483d54249d17f0aeb868ab861a8d5add6a1ce4f27f7ec0481f11899dfcb612e",
            "t10k-images-idx3-ubyte.gz": "9d9ded0cd338a1c00a9e1adf4e32599c0078130b45fb8497bb819995be51ed68",
            "t10k-labels-idx1-ubyte.gz": "ee93765f503a38ef1770364348621caf4b7064c976f13b7338f7e29ebc91ac09",
        },
        "counts": {"train": 4000, "test": 1000},
        "mirrors": [],
        "search_dirs": [],
        "folder": SAMPLE_DIR,
    },
}
