"""Where the files are: search the folders, load a split, download what is missing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy

from .. import __version__
from .idx import _check_raw, _gunzip, _read_raw, verify_file
from .registry import DATASETS, SPLITS, DataError, DownloadError


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
            return None, f"{e}; delete {path} and put a good copy in {folder}"
    images, labels = arrays
    if len(images) != len(labels):
        raise DataError(f"{folder}: {names[0]} holds {len(images)} images but {names[1]} holds "
                        f"{len(labels)} labels")
    expected = spec["counts"][split]
    if expected is not None and len(labels) != expected:
        raise DataError(f"{folder}: expected {expected} {split} examples of {spec['title']}, "
                        f"found {len(labels)}")
    return (images, labels.astype(numpy.int64)), None


def _holds_some(folder, spec):
    """Whether ``folder`` holds any file of the data set (then it is where the data set lives)."""
    return Path(folder).is_dir() and any(_find_file(folder, name) for name in _all_names(spec))


def _check_data_dir(root, spec, dataset):
    """A data_dir that was given must be a folder; DataError naming it (nothing is created)."""
    if root.is_dir():
        return
    if root.exists():
        raise DataError(f"load_mnist: the data folder {root} is a file, not a folder; point --data-dir "
                        f"(data_dir=) at the folder that holds the {spec['title']} files")
    raise DataError(f"load_mnist: the data folder {root} does not exist (nothing was created); "
                    f"check the path, or create the folder to download {spec['title']} into it "
                    f"(lrlc download --dataset {dataset} --data-dir {root})")


def _verified_folder(dataset, spec, data_dir):
    """The first searched folder whose files all verify (both splits), or None."""
    for folder in _search_dirs(dataset, spec, data_dir):
        if all(_load_from(folder, spec, split)[0] is not None for split in SPLITS):
            return folder
    return None


def _target(dataset, spec, data_dir):
    """Where missing files go: the searched folder that already holds some of the data set's
    files (where a damaged one is), else <data folder>/<dataset>."""
    return next((folder for folder in _search_dirs(dataset, spec, data_dir) if _holds_some(folder, spec)),
                _root(data_dir) / dataset)


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
    if "folder" not in spec and data_dir is not None:
        _check_data_dir(_root(data_dir), spec, dataset)
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
    target = _target(dataset, spec, data_dir)
    if not download:
        lines.append("Nothing was downloaded (download=False).")
        lines.append(_by_hand(dataset, spec, target))
        raise DataError("\n".join(lines))
    try:
        folder = _fill(dataset, spec, target, spec["mirrors"], progress=True, timeout=30)
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
    from .._atomic import atomic_write

    where = f"{final.name} from {url}"

    def verify(tmp):
        _check_raw(_gunzip(tmp.read_bytes(), where), sha256, where, final.name, kind)

    with atomic_write(final, check=verify) as out:   # a reader sees no file or the whole verified file
        _stream(url, out, progress, timeout, final.name)


def download(dataset="mnist", data_dir=None, mirrors=None, progress=True, timeout=30):
    """Fetch the files of ``dataset`` that are missing or fail verification.

    dataset   "mnist" or "fashion-mnist" ("mnist-sample" is bundled: it is only verified)
    data_dir  root folder; a folder ``load_mnist`` searches (data_dir itself, data_dir/<dataset>)
              whose files all verify is used as it is; else missing files go where the data
              set already has some files, else to <data_dir or default_data_dir()>/<dataset>
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
    if data_dir is not None and _root(data_dir).exists() and not _root(data_dir).is_dir():
        raise DataError(f"download: the data folder {_root(data_dir)} is a file, not a folder")
    found = _verified_folder(dataset, spec, data_dir)
    if found is not None:
        return found
    return _fill(dataset, spec, _target(dataset, spec, data_dir), order, progress, timeout)


def _fill(dataset, spec, folder, mirrors, progress, timeout):
    """Fetch into ``folder`` every file of ``dataset`` that is missing there or fails verification.

    The folder (and any missing folder above it) is created only when a file is about to be
    fetched, and what was created here is removed again if it is still empty when every
    mirror failed.
    """
    import http.client

    folder = Path(folder)
    order = [m if m.endswith("/") else m + "/" for m in mirrors]
    created = []                                    # the folders made here, innermost first
    attempts = []
    try:
        for split in SPLITS:
            for name, kind in zip(spec["files"][split], ("images", "labels")):
                present = _find_file(folder, name)
                if present is not None:
                    try:
                        _check_raw(_read_raw(present), spec["sha256"][name], str(present), name, kind)
                        continue                    # already there and valid
                    except DataError:
                        pass                        # replaced below (a .gz file wins over a plain one)
                if not folder.is_dir():
                    created = [p for p in (folder, *folder.parents) if not p.exists()]
                    try:
                        folder.mkdir(parents=True)
                    except OSError as e:
                        raise DownloadError(f"cannot create the data folder {folder}: {e}", folder=folder) from e
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
    except BaseException:
        for made in created:                        # leave no empty folder behind
            if made.is_dir() and not any(made.iterdir()):
                made.rmdir()
        raise
    return folder


_download = download
