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
``download`` fetches the files into ``<data_dir or default_data_dir()>/<dataset>``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import zlib
from pathlib import Path

import numpy

from . import __version__


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
SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"


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


# --------------------------------------------------------------------------- IDX files

_MAGIC = {"labels": 0x00000801, "images": 0x00000803}


def _read_raw(path):
    """The decompressed bytes of a .gz file, or the bytes of a plain file (sniffed, not by name)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e})") from e
    return _gunzip(raw, str(path))


def _gunzip(raw, where):
    if raw[:2] != b"\x1f\x8b":                      # gzip's magic bytes; IDX starts with 0x00 0x00
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:   # truncated stream, bad CRC, corrupt deflate data
        raise DataError(f"{where}: not a valid gzip file ({e}); it is probably truncated or "
                        "corrupt: delete it and fetch it again") from e


def _magic_hint(raw):
    if raw[:2] == b"\x00\x00" and raw[2] != 0x08:
        return f" (element type 0x{raw[2]:02x}; only 0x08, unsigned bytes, is supported)"
    if raw[:3] == b"\x00\x00\x08":
        return (f" (an IDX file of unsigned bytes with {raw[3]} dimension{'s' * (raw[3] != 1)}; "
                "labels have 1 dimension, images 3)")
    if raw.lstrip()[:1] == b"<":
        return " (the file starts with '<': it looks like an HTML page, e.g. a web server's error page)"
    return ""


def _parse_idx(raw, where, expect=None):
    """IDX bytes -> uint8 array (N,) or (N, 28, 28); every header field checked. ``where`` names the file."""
    if len(raw) < 4:
        raise DataError(f"{where}: too short for an IDX file: expected a header of at least 4 bytes, "
                        f"found {len(raw)} bytes")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in _MAGIC.values():
        raise DataError(f"{where}: not an IDX file of labels or images: expected magic number "
                        f"0x00000801 (labels, 1 dimension) or 0x00000803 (images, 3 dimensions), "
                        f"found 0x{magic:08x}{_magic_hint(raw)}")
    ndim = raw[3]
    kind = "labels" if ndim == 1 else "images"
    if expect is not None and kind != expect:
        raise DataError(f"{where}: expected an IDX file of {expect} (magic number "
                        f"0x{_MAGIC[expect]:08x}), found {kind} (0x{magic:08x})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{where}: truncated IDX header: expected {header} bytes, found {len(raw)}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if kind == "images" and dims[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(f"{where}: expected {IMAGE_SIZE}x{IMAGE_SIZE} images, found {dims[1]}x{dims[2]}")
    expected = int(numpy.prod(dims, dtype=numpy.int64))
    found = len(raw) - header
    if found != expected:
        what = (f"label data ({dims[0]} labels)" if kind == "labels"
                else f"image data ({dims[0]} images of {IMAGE_SIZE}x{IMAGE_SIZE})")
        why = "the file is truncated" if found < expected else "extra bytes after the data"
        raise DataError(f"{where}: expected {expected} bytes of {what}, found {found} ({why})")
    # frombuffer on bytes is read-only; the copy gives the caller an ordinary writable array
    return numpy.frombuffer(raw, dtype=numpy.uint8, count=expected, offset=header).reshape(dims).copy()


def read_idx(path):
    """Read one IDX file of unsigned bytes, gzipped or not (gzip is recognised by its content).

    path  a labels file (magic 0x00000801) or an images file (magic 0x00000803, 28x28)
    ->    uint8 array: labels (N,) or images (N, 28, 28)

    Raises ``DataError`` naming the file, what was expected and what was found: bad magic
    number, unsupported element type or number of dimensions, image size other than 28x28,
    a payload shorter or longer than the product of the sizes (a truncated download), or
    a broken gzip stream.
    """
    return _parse_idx(_read_raw(path), str(path))


def _idx_bytes(array):
    """uint8 (N,) or (N, 28, 28) array -> IDX bytes (header + data)."""
    array = numpy.asarray(array)
    if array.dtype != numpy.uint8:
        raise TypeError(f"write_idx: expected a uint8 array, got dtype {array.dtype}")
    if array.ndim not in (1, 3):
        raise ValueError(f"write_idx: expected labels (N,) or images (N, H, W), got shape {array.shape}")
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + numpy.ascontiguousarray(array).tobytes()


def write_idx(path, array, compresslevel=9):
    """Write a uint8 array as an IDX file, gzipped when ``path`` ends in ``.gz``.

    array  uint8 labels (N,) or images (N, H, W)
    ->     the SHA-256 (hex) of the decompressed bytes, the checksum ``DATASETS`` records

    The gzip header carries no file name and no time stamp, so the output depends only on
    the data (and on zlib's version).
    """
    raw = _idx_bytes(array)
    path = Path(path)
    with open(path, "wb") as f:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", compresslevel=compresslevel, fileobj=f, mtime=0) as gz:
                gz.write(raw)
        else:
            f.write(raw)
    return hashlib.sha256(raw).hexdigest()


# --------------------------------------------------------------------------- verification

def _known_as(name, digest):
    """' (that is the Fashion-MNIST file)' when ``digest`` belongs to another data set's ``name``."""
    for spec in DATASETS.values():
        if spec.get("sha256", {}).get(name) == digest:
            return f" (that is the {spec['title']} file)"
    return ""


def _check_raw(raw, sha256, where, name, expect=None):
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256.lower():
        raise DataError(f"{where}: SHA-256 of the decompressed bytes is {digest}, expected {sha256}"
                        f"{_known_as(name, digest)}")
    return _parse_idx(raw, where, expect)


def verify_file(path, sha256):
    """Check a data file against the SHA-256 (hex) of its decompressed bytes.

    path    a .gz file (decompressed before hashing) or a plain file
    sha256  64 hex digits, e.g. ``DATASETS["mnist"]["sha256"]["train-images-idx3-ubyte.gz"]``
    ->      True; raises ``DataError`` naming the file and both hashes when they differ,
            or saying why the file cannot be read (missing, broken gzip stream)
    """
    path = Path(path)
    digest = hashlib.sha256(_read_raw(path)).hexdigest()
    if digest != sha256.lower():
        name = path.name if path.name.endswith(".gz") else path.name + ".gz"
        raise DataError(f"{path}: SHA-256 of the decompressed bytes is {digest}, expected {sha256}"
                        f"{_known_as(name, digest)}")
    return True


# --------------------------------------------------------------------------- finding files

def default_data_dir():
    """The data folder used when none is given: ``$LRLC_NP_DATA``, else ``~/.cache/lrlc_np`` (a Path)."""
    env = os.environ.get("LRLC_NP_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "lrlc_np"


def _spec(dataset, caller):
    if not isinstance(dataset, str) or dataset not in DATASETS:
        options = ", ".join(repr(k) for k in DATASETS)
        raise ValueError(f"{caller}: unknown dataset {dataset!r}; choose one of {options}")
    return DATASETS[dataset]


def _all_names(spec):
    return [name for split in SPLITS for name in spec["files"][split]]


def _root(data_dir):
    return Path(data_dir).expanduser() if data_dir is not None else default_data_dir()


def _search_dirs(dataset, spec, data_dir):
    if "folder" in spec:
        return [Path(spec["folder"])]
    root = _root(data_dir)
    dirs = [root, root / dataset] + [Path(d) for d in spec.get("search_dirs", ())]
    unique = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def _find_file(folder, name):
    """folder/name, or folder/name-without-.gz (an uncompressed copy), or None."""
    for candidate in (name, name[:-3] if name.endswith(".gz") else None):
        if candidate and (Path(folder) / candidate).is_file():
            return Path(folder) / candidate
    return None


def _load_from(folder, spec, split):
    """((images, labels), None) from a folder whose files verify, else (None, why it was skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None, "no such folder"
    names = spec["files"][split]
    paths = [_find_file(folder, name) for name in names]
    missing = [name for name, path in zip(names, paths) if path is None]
    if missing:
        return None, "missing " + ", ".join(missing)
    arrays = []
    for name, path, kind in zip(names, paths, ("images", "labels")):
        try:
            arrays.append(_check_raw(_read_raw(path), spec["sha256"][name], str(path), name, kind))
        except DataError as e:
            return None, str(e)
    images, labels = arrays
    if len(images) != len(labels):
        raise DataError(f"{folder}: {names[0]} holds {len(images)} images but {names[1]} holds "
                        f"{len(labels)} labels")
    expected = spec["counts"][split]
    if expected is not None and len(labels) != expected:
        raise DataError(f"{folder}: expected {expected} {split} examples of {spec['title']}, "
                        f"found {len(labels)}")
    return (images, labels.astype(numpy.int64)), None


def _by_hand(dataset, spec, folder):
    lines = [f"To install them by hand, put these four files (gzipped or not) in {folder}:"]
    lines += [f"    {name}" for name in _all_names(spec)]
    if spec["mirrors"]:
        lines.append("  from one of: " + ", ".join(spec["mirrors"]))
    if spec.get("hint"):
        lines.append("  " + spec["hint"])
    lines.append(f"  Or point data_dir= or $LRLC_NP_DATA at a folder that holds them, or fetch them "
                 f"with lrlc_np.data.download({dataset!r}) (`lrlc download` on the command line).")
    return "\n".join(lines)


def _attempts_text(attempts):
    return "\n".join(f"    {url}: {error}" for url, error in attempts)


# --------------------------------------------------------------------------- loading

def load_mnist(split="train", data_dir=None, download=True, dataset="mnist"):
    """Load one split of an MNIST-format data set, verified by checksum.

    split     "train" or "test"
    data_dir  folder to search (itself and data_dir/<dataset>); None: ``default_data_dir()``
    download  fetch the files (``download()``) into <data_dir or default_data_dir()>/<dataset>
              when no searched folder holds files that verify
    dataset   "mnist", "fashion-mnist" or "mnist-sample" (bundled, never downloads)
    ->        images uint8 (N, 28, 28), pixels 0..255; labels int64 (N,), 0..9
              N = 60000 / 10000 for mnist and fashion-mnist, 4000 / 1000 for mnist-sample

    Raises ``DataError`` listing the folders searched, each file that failed verification
    and why, every URL tried with its error, and where to put the files by hand.
    """
    if split not in SPLITS:
        raise ValueError(f"load_mnist: unknown split {split!r}; choose 'train' or 'test'")
    spec = _spec(dataset, "load_mnist")
    searched = []
    for folder in _search_dirs(dataset, spec, data_dir):
        result, why = _load_from(folder, spec, split)
        if result is not None:
            return result
        searched.append((folder, why))

    lines = [f"{spec['title']} ({dataset!r}) {split} files not found or not valid.",
             "Folders searched, in order:"]
    lines += [f"    {folder}: {why}" for folder, why in searched]
    if "folder" in spec:
        lines.append("The bundled sample ships inside the package: reinstall lrlc_np "
                     "(pip install -e . or pip install .).")
        raise DataError("\n".join(lines))
    target = _root(data_dir) / dataset
    if not download:
        lines.append("Nothing was downloaded (download=False).")
        lines.append(_by_hand(dataset, spec, target))
        raise DataError("\n".join(lines))
    try:
        folder = _download(dataset, data_dir)   # (the argument ``download`` hides the function)
    except DownloadError as e:
        if e.attempts:
            lines.append("Download failed; URLs tried, in order:")
            lines.append(_attempts_text(e.attempts))
        else:
            lines.append(f"Download failed: {e}")
        lines.append(_by_hand(dataset, spec, e.folder or target))
        raise DataError("\n".join(lines)) from e
    result, why = _load_from(folder, spec, split)
    if result is None:
        raise DataError(f"{folder}: the downloaded files do not load: {why}")
    return result


# --------------------------------------------------------------------------- downloading

def _describe(error, timeout):
    import urllib.error

    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, TimeoutError):
            return f"timed out after {timeout} s"
        return str(reason)
    if isinstance(error, TimeoutError):
        return f"timed out after {timeout} s"
    if isinstance(error, DataError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _progress_bar(total, label):
    try:
        from tqdm import tqdm
    except ImportError:
        print(f"downloading {label}", file=sys.stderr)
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label)


def _stream(url, out, progress, timeout, label):
    """Copy ``url`` into the open file ``out``; error when fewer bytes arrive than announced."""
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": f"lrlc_np/{__version__}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.strip().isdigit() else None
        bar = _progress_bar(total, label) if progress else None
        received = 0
        try:
            while True:
                # http.client returns b"" (no exception) when the server closes early: hence the check below
                chunk = response.read(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if total is not None and received != total:
        raise DataError(f"transfer cut short: received {received} of {total} bytes")


def _fetch(url, final, sha256, kind, progress, timeout):
    """Download ``url`` to a temporary file beside ``final``, verify it, then rename it into place.

    The temporary file is removed on any failure (or interruption), so ``final`` only ever
    appears complete and verified.
    """
    from ._atomic import atomic_write

    where = f"{final.name} from {url}"

    def verify(tmp):
        _check_raw(_gunzip(tmp.read_bytes(), where), sha256, where, final.name, kind)

    with atomic_write(final, check=verify) as out:   # a reader sees no file or the whole verified file
        _stream(url, out, progress, timeout, final.name)


def download(dataset="mnist", data_dir=None, mirrors=None, progress=True, timeout=30):
    """Fetch the files of ``dataset`` that are missing or fail verification.

    dataset   "mnist" or "fashion-mnist" ("mnist-sample" is bundled: it is only verified)
    data_dir  root folder; the files go to <data_dir or default_data_dir()>/<dataset>
    mirrors   base URLs tried in order for each file (default ``DATASETS[dataset]["mirrors"]``);
              the last mirror that worked is tried first for the next file
    progress  show a byte progress bar (tqdm, when installed) on stderr
    timeout   seconds a connection may stay silent before a mirror counts as failed
    ->        the folder (a Path) that now holds the four verified files

    Each file streams into a temporary file in the target folder, is checked (SHA-256 of
    the decompressed bytes and the IDX header), and only then renamed into place with
    ``os.replace``; on any failure the temporary file is deleted. Valid files already there
    are kept. Raises ``DownloadError`` (a ``DataError``) listing every URL tried with its
    error and where to put the files by hand, at the first file that no mirror delivers.
    """
    import http.client

    spec = _spec(dataset, "download")
    if "folder" in spec:                        # bundled: nothing to fetch, only check it
        folder = Path(spec["folder"])
        for name in _all_names(spec):
            verify_file(_find_file(folder, name) or folder / name, spec["sha256"][name])
        return folder
    if mirrors is None:
        mirrors = spec["mirrors"]
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    order = [m if m.endswith("/") else m + "/" for m in mirrors]
    if not order:
        raise ValueError(f"download: no mirror URLs given for {dataset!r}")
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"download: timeout must be a positive number of seconds, got {timeout!r}")
    folder = _root(data_dir) / dataset
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create the data folder {folder}: {e}", folder=folder) from e

    attempts = []
    for split in SPLITS:
        for name, kind in zip(spec["files"][split], ("images", "labels")):
            present = _find_file(folder, name)
            if present is not None:
                try:
                    _check_raw(_read_raw(present), spec["sha256"][name], str(present), name, kind)
                    continue                    # already there and valid
                except DataError:
                    pass                        # replaced below (a .gz file wins over a plain one)
            for base in list(order):
                url = base + name
                try:
                    _fetch(url, folder / name, spec["sha256"][name], kind, progress, timeout)
                except (OSError, http.client.HTTPException, ValueError) as e:  # ValueError: DataError, bad URL
                    attempts.append((url, _describe(e, timeout)))
                    continue
                order.remove(base)
                order.insert(0, base)
                break
            else:
                raise DownloadError(
                    f"could not download {spec['title']} file {name}; URLs tried, in order:\n"
                    f"{_attempts_text(attempts)}\n{_by_hand(dataset, spec, folder)}",
                    attempts=attempts, folder=folder)
    return folder


_download = download


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
