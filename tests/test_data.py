"""Tests for lrlc_np.data: IDX files, checksums, folder search, downloads, the bundled sample,
model input and minibatches.

No test touches the network: downloads go to HTTP servers on 127.0.0.1 started here, and an
autouse fixture makes any other host name fail. Fake data sets are small class-balanced
samples of the bundled MNIST sample (``make_sample``), registered in ``DATASETS`` with their
own checksums. Tests that need the full MNIST set read LRLC_NP_DATA and skip without it:

    LRLC_NP_DATA=/path/to/mnist pytest tests/test_data.py
"""

import functools
import gzip
import hashlib
import http.server
import os
import shutil
import socket
import sys
import threading
from pathlib import Path

import numpy
import pytest

from lrlc_np import data
from lrlc_np.data import (
    DATASETS,
    SAMPLE_DIR,
    DataError,
    DownloadError,
    default_data_dir,
    download,
    iterate_minibatches,
    load_mnist,
    make_sample,
    read_idx,
    to_model_input,
    train_val_split,
    verify_file,
    write_idx,
)

NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
FULL_DATA = os.environ.get("LRLC_NP_DATA")   # read before the autouse fixture replaces it
N_TRAIN, N_TEST = 200, 100                   # size of the fake data sets


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No network but 127.0.0.1, and an empty default data folder (never ~/.cache)."""
    real_getaddrinfo = socket.getaddrinfo

    def local_only(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", "::1", b"127.0.0.1", b"localhost"):
            raise OSError(f"test tried to reach {host!r}: the tests must not use the network")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    monkeypatch.setenv("LRLC_NP_DATA", str(tmp_path / "default-cache"))


@pytest.fixture(scope="module")
def fake_sources(tmp_path_factory):
    """Two fake data sets with MNIST's file names: folders and their checksums."""
    out = {}
    for seed, key in ((1, "fake"), (2, "fake-b")):
        folder = tmp_path_factory.mktemp(key)
        out[key] = (folder, make_sample(SAMPLE_DIR, folder, N_TRAIN, N_TEST, seed=seed))
    return out


def _spec(title, digests, mirrors=()):
    return {"title": title, "files": data._standard_files(), "sha256": dict(digests),
            "counts": {"train": N_TRAIN, "test": N_TEST}, "mirrors": list(mirrors), "search_dirs": []}


@pytest.fixture
def fake(monkeypatch, fake_sources):
    """Registers data sets "fake" and "fake-b"; returns {name: (source folder, checksums)}.

    Set the mirrors with DATASETS["fake"]["mirrors"] = [...] (undone after the test).
    """
    for key, (folder, digests) in fake_sources.items():
        monkeypatch.setitem(DATASETS, key, _spec(f"Fake {key}", digests))
    return fake_sources


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _CutShortHandler(http.server.BaseHTTPRequestHandler):
    """Announces ``len(payload)`` bytes, sends half of them, then closes the connection."""

    payload = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload[: len(self.payload) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def serve(request):
    """serve(folder) or serve(handler=cls) -> base URL of an HTTP server on 127.0.0.1 (port 0)."""

    def start(folder=None, handler=None):
        if handler is None:
            handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()

        def stop():
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        request.addfinalizer(stop)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    return start


def refused_url():
    """A URL on a port that was free a moment ago: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _copy_files(source, target, names=NAMES):
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(source / name, target / name)
    return target


def _gz(raw):
    return gzip.compress(raw, mtime=0)


def _idx_header(magic, *dims):
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)


@pytest.fixture
def full_mnist_dir():
    """The folder holding the four full MNIST files, from LRLC_NP_DATA; skips when absent."""
    if not FULL_DATA:
        pytest.skip("LRLC_NP_DATA is not set, so the tests that need full MNIST are skipped")
    for folder in (Path(FULL_DATA), Path(FULL_DATA) / "mnist"):
        if all(data._find_file(folder, name) for name in NAMES):
            return folder
    pytest.skip(f"LRLC_NP_DATA={FULL_DATA} does not hold the four MNIST files")


# --------------------------------------------------------------------------- IDX reading

def test_read_idx_round_trip_gzipped_and_plain(tmp_path):
    rng = numpy.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28), dtype=numpy.uint8)
    labels = rng.integers(0, 10, 7, dtype=numpy.uint8)
    for name, array in (("i.gz", images), ("i", images), ("l.gz", labels), ("l", labels)):
        digest = write_idx(tmp_path / name, array)
        back = read_idx(tmp_path / name)
        assert back.dtype == numpy.uint8 and back.shape == array.shape
        numpy.testing.assert_array_equal(back, array)
        back[0] = 1                                     # an ordinary, writable array
        assert verify_file(tmp_path / name, digest) is True
    assert (tmp_path / "i.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "i").read_bytes()[:4] == b"\x00\x00\x08\x03"


@pytest.mark.parametrize("raw, expected", [
    (_idx_header(0x00000901, 5) + bytes(5), "found 0x00000901"),
    (_idx_header(0x00000802, 5, 28) + bytes(140), "with 2 dimensions"),
    (_idx_header(0x00000d03, 5, 28, 28) + bytes(5 * 784 * 4), "element type 0x0d"),
    (b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "HTML page"),
    (b"\x00\x00", "found 2 bytes"),
])
def test_read_idx_rejects_bad_headers(tmp_path, raw, expected):
    path = tmp_path / "bad-idx.gz"
    path.write_bytes(_gz(raw))
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and expected in message
    if "0x0000" in expected or "dimensions" in expected:
        assert "expected magic number 0x00000801 (labels, 1 dimension) or 0x00000803" in message


def test_read_idx_checks_image_size_and_header_length(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(_idx_header(0x00000803, 2, 32, 32) + bytes(2 * 32 * 32))
    with pytest.raises(DataError, match="expected 28x28 images, found 32x32"):
        read_idx(path)
    path.write_bytes(_idx_header(0x00000803, 2))
    with pytest.raises(DataError, match="truncated IDX header: expected 16 bytes, found 8"):
        read_idx(path)


def test_read_idx_truncated_payload_names_expected_and_found_sizes(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(_gz(_idx_header(0x00000803, 60000, 28, 28) + bytes(1200)))
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert "expected 47040000 bytes of image data" in message and "found 1200" in message
    assert "truncated" in message

    labels = tmp_path / "labels"
    labels.write_bytes(_idx_header(0x00000801, 10) + bytes(12))
    with pytest.raises(DataError, match="expected 10 bytes of label data.*found 12 .extra bytes"):
        read_idx(labels)


def test_read_idx_truncated_gzip_stream(tmp_path):
    good = _gz(_idx_header(0x00000801, 1000) + bytes(range(10)) * 100)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError) as info:
        read_idx(path)
    assert str(path) in str(info.value) and "gzip" in str(info.value)
    with pytest.raises(DataError, match="file not found"):
        read_idx(tmp_path / "missing.gz")


def test_verify_file_names_the_file_and_both_hashes(tmp_path):
    labels = numpy.arange(10, dtype=numpy.uint8)
    digest = write_idx(tmp_path / "l.gz", labels)
    assert digest == hashlib.sha256(_idx_header(0x00000801, 10) + labels.tobytes()).hexdigest()
    assert verify_file(tmp_path / "l.gz", digest.upper()) is True
    wrong = "0" * 64
    with pytest.raises(DataError) as info:
        verify_file(tmp_path / "l.gz", wrong)
    assert str(tmp_path / "l.gz") in str(info.value)
    assert digest in str(info.value) and wrong in str(info.value)


# --------------------------------------------------------------------------- downloading

def _no_leftovers(folder):
    """Files in folder (a temporary download would show up as .<name>.*.part)."""
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).exists() else []


def test_download_fetches_verifies_and_loads(fake, serve, tmp_path):
    source, digests = fake["fake"]
    DATASETS["fake"]["mirrors"] = [serve(source)]
    folder = download("fake", data_dir=tmp_path / "data")
    assert folder == tmp_path / "data" / "fake"
    assert _no_leftovers(folder) == sorted(NAMES)            # the four files, no .part file
    for name in NAMES:
        assert verify_file(folder / name, digests[name])
    images, labels = load_mnist("train", data_dir=tmp_path / "data", dataset="fake", download=False)
    numpy.testing.assert_array_equal(images, read_idx(source / NAMES[0]))
    assert images.shape == (N_TRAIN, 28, 28) and images.dtype == numpy.uint8
    assert labels.shape == (N_TRAIN,) and labels.dtype == numpy.int64
    # valid files are kept: a second call needs no mirror at all
    assert download("fake", data_dir=tmp_path / "data", mirrors=[refused_url()]) == folder


def test_load_mnist_downloads_when_nothing_is_found(fake, serve, tmp_path):
    source, _ = fake["fake"]
    DATASETS["fake"]["mirrors"] = [serve(source)]
    images, labels = load_mnist("test", dataset="fake")      # default folder: $LRLC_NP_DATA
    assert images.shape == (N_TEST, 28, 28) and labels.dtype == numpy.int64
    assert _no_leftovers(default_data_dir() / "fake") == sorted(NAMES)


@pytest.mark.parametrize("first", ["404", "refused"])
def test_download_falls_back_to_the_next_mirror(fake, serve, tmp_path, first):
    source, digests = fake["fake"]
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = serve(empty) if first == "404" else refused_url()
    folder = download("fake", data_dir=tmp_path, mirrors=[bad, serve(source)], progress=False)
    assert _no_leftovers(folder) == sorted(NAMES)
    for name in NAMES:
        assert verify_file(folder / name, digests[name])


def test_transfer_cut_short_leaves_nothing_behind(fake, serve, tmp_path):
    source, _ = fake["fake"]
    handler = type("CutShort", (_CutShortHandler,), {"payload": (source / NAMES[0]).read_bytes()})
    url = serve(handler=handler)
    with pytest.raises(DownloadError) as info:
        download("fake", data_dir=tmp_path, mirrors=[url])
    message = str(info.value)
    assert url + NAMES[0] in message and "cut short" in message
    assert _no_leftovers(tmp_path / "fake") == []            # no final file, no temporary file


def test_corrupted_file_is_rejected_and_not_kept(fake, serve, tmp_path):
    source, digests = fake["fake"]
    corrupt = _copy_files(source, tmp_path / "corrupt")
    images = read_idx(source / NAMES[0])
    images[0, 14, 14] ^= 0xFF                                 # still a valid IDX file
    bad_digest = write_idx(corrupt / NAMES[0], images)
    with pytest.raises(DownloadError) as info:
        download("fake", data_dir=tmp_path / "data", mirrors=[serve(corrupt)])
    message = str(info.value)
    assert NAMES[0] in message and digests[NAMES[0]] in message and bad_digest in message
    assert _no_leftovers(tmp_path / "data" / "fake") == []


def test_invalid_existing_file_is_replaced(fake, serve, tmp_path):
    source, digests = fake["fake"]
    folder = _copy_files(source, tmp_path / "fake")
    (folder / NAMES[1]).write_bytes(b"junk")
    download("fake", data_dir=tmp_path, mirrors=[serve(source)])
    assert verify_file(folder / NAMES[1], digests[NAMES[1]])
    assert _no_leftovers(folder) == sorted(NAMES)


def test_every_mirror_failing_lists_urls_and_where_to_put_files(fake, serve, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    mirrors = [serve(empty), refused_url()]
    with pytest.raises(DownloadError) as info:
        download("fake", data_dir=tmp_path / "data", mirrors=mirrors, timeout=5)
    message = str(info.value)
    assert [url for url, _ in info.value.attempts] == [m + NAMES[0] for m in mirrors]
    assert mirrors[0] + NAMES[0] + ": HTTP 404" in message
    assert mirrors[1] + NAMES[0] + ": " in message
    assert str(tmp_path / "data" / "fake") in message and all(name in message for name in NAMES)
    assert _no_leftovers(tmp_path / "data" / "fake") == []
    assert not (tmp_path / "data").exists()              # the folders made for the download are gone

    # through load_mnist: also the folders searched
    (tmp_path / "data").mkdir()
    DATASETS["fake"]["mirrors"] = mirrors
    with pytest.raises(DataError) as info:
        load_mnist("train", data_dir=tmp_path / "data", dataset="fake")
    message = str(info.value)
    assert f"{tmp_path / 'data'}: no such folder" not in message
    assert str(tmp_path / "data") in message and str(tmp_path / "data" / "fake") in message
    assert all(m + NAMES[0] in message for m in mirrors)
    assert "put these four files" in message


def test_progress_bar_is_optional(fake, serve, tmp_path, monkeypatch, capsys):
    source, _ = fake["fake"]
    monkeypatch.setitem(sys.modules, "tqdm", None)           # "import tqdm" now raises ImportError
    folder = download("fake", data_dir=tmp_path, mirrors=[serve(source)], progress=True)
    assert _no_leftovers(folder) == sorted(NAMES)
    assert "downloading" in capsys.readouterr().err


def test_download_arguments():
    assert download("mnist-sample") == SAMPLE_DIR             # bundled: only verified
    with pytest.raises(ValueError, match="download: unknown dataset 'cifar10'; choose one of 'mnist'"):
        download("cifar10")
    with pytest.raises(ValueError, match="no mirror"):
        download("mnist", mirrors=[])
    with pytest.raises(ValueError, match="timeout"):
        download("mnist", timeout=0)


# --------------------------------------------------------------------------- finding files

def test_folder_of_another_dataset_is_skipped(fake, tmp_path):
    source_a, _ = fake["fake"]
    source_b, _ = fake["fake-b"]
    _copy_files(source_a, tmp_path)                          # same file names, other data
    _copy_files(source_b, tmp_path / "fake-b")
    images, _ = load_mnist("train", data_dir=tmp_path, dataset="fake-b", download=False)
    numpy.testing.assert_array_equal(images, read_idx(source_b / NAMES[0]))

    shutil.rmtree(tmp_path / "fake-b")
    with pytest.raises(DataError) as info:
        load_mnist("train", data_dir=tmp_path, dataset="fake-b", download=False)
    message = str(info.value)
    assert f"{tmp_path / NAMES[0]}: SHA-256 of the decompressed bytes is" in message
    assert "(that is the Fake fake file)" in message


def test_bundled_sample_folder_is_not_accepted_as_mnist(tmp_path):
    folder = _copy_files(SAMPLE_DIR, tmp_path / "digits")
    with pytest.raises(DataError) as info:
        load_mnist("test", data_dir=folder, dataset="mnist", download=False)
    message = str(info.value)
    assert "(that is the MNIST sample (bundled) file)" in message
    assert "download=False" in message and str(folder / "mnist") in message


def test_explicit_data_dir_is_used_and_default_is_not(fake, tmp_path):
    source, _ = fake["fake"]
    _copy_files(source, default_data_dir())
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    with pytest.raises(DataError) as info:
        load_mnist("train", data_dir=explicit, dataset="fake", download=False)
    assert str(default_data_dir()) not in str(info.value)
    _copy_files(source, explicit / "fake")
    images, labels = load_mnist("train", data_dir=str(explicit), dataset="fake", download=False)
    assert images.shape == (N_TRAIN, 28, 28) and labels.shape == (N_TRAIN,)


def test_default_folder_and_its_dataset_subfolder_are_searched(fake):
    source, _ = fake["fake"]
    _copy_files(source, default_data_dir() / "fake")
    _, labels = load_mnist("test", dataset="fake", download=False)
    assert labels.shape == (N_TEST,)


def test_uncompressed_files_are_accepted(fake, tmp_path):
    source, _ = fake["fake"]
    for name in NAMES:
        (tmp_path / name[:-3]).write_bytes(gzip.decompress((source / name).read_bytes()))
    images, _ = load_mnist("test", data_dir=tmp_path, dataset="fake", download=False)
    numpy.testing.assert_array_equal(images, read_idx(source / NAMES[2]))


def test_nothing_found_without_download_explains_what_to_do(tmp_path):
    with pytest.raises(DataError) as info:
        load_mnist("train", download=False)
    message = str(info.value)
    assert f"{default_data_dir()}: no such folder" in message
    assert f"{default_data_dir() / 'mnist'}: no such folder" in message
    assert "download=False" in message
    assert f"put these four files (gzipped or not) in {default_data_dir() / 'mnist'}" in message
    assert all(name in message for name in NAMES)
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/" in message


def test_fashion_mnist_folder_search_includes_debian(monkeypatch, tmp_path):
    assert "/usr/share/datasets/fashion-mnist" in DATASETS["fashion-mnist"]["search_dirs"]
    monkeypatch.setitem(DATASETS["fashion-mnist"], "search_dirs", [str(tmp_path / "debian")])
    with pytest.raises(DataError) as info:
        load_mnist("test", dataset="fashion-mnist", download=False)
    assert f"{tmp_path / 'debian'}: no such folder" in str(info.value)
    assert "apt-get install dataset-fashion-mnist" in str(info.value)


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LRLC_NP_DATA", str(tmp_path / "somewhere"))
    assert default_data_dir() == tmp_path / "somewhere"
    monkeypatch.delenv("LRLC_NP_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / ".cache" / "lrlc_np"


def test_load_mnist_arguments():
    with pytest.raises(ValueError, match="unknown split 'validation'; choose 'train' or 'test'"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="'mnist', 'fashion-mnist', 'mnist-sample'"):
        load_mnist("train", dataset="MNIST")


def test_dataset_table():
    for key in ("mnist", "fashion-mnist", "mnist-sample"):
        spec = DATASETS[key]
        assert sorted(spec["sha256"]) == sorted(NAMES)
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in spec["sha256"].values())
        assert [n for split in ("train", "test") for n in spec["files"][split]] == NAMES
    for key in ("mnist", "fashion-mnist"):
        assert len(DATASETS[key]["mirrors"]) >= 2
        assert all(m.startswith(("http://", "https://")) and m.endswith("/") for m in DATASETS[key]["mirrors"])
        assert DATASETS[key]["counts"] == {"train": 60000, "test": 10000}
    assert DATASETS["mnist-sample"]["mirrors"] == []
    # the two full data sets share file names but no checksum
    assert not set(DATASETS["mnist"]["sha256"].values()) & set(DATASETS["fashion-mnist"]["sha256"].values())


# --------------------------------------------------------------------------- the bundled sample

def test_bundled_sample():
    total = sum((SAMPLE_DIR / name).stat().st_size for name in NAMES)
    assert total < 1_000_000
    for name in NAMES:
        assert verify_file(SAMPLE_DIR / name, DATASETS["mnist-sample"]["sha256"][name])
    for split, n in (("train", 4000), ("test", 1000)):
        images, labels = load_mnist(split, dataset="mnist-sample")
        assert images.shape == (n, 28, 28) and images.dtype == numpy.uint8
        assert labels.shape == (n,) and labels.dtype == numpy.int64
        assert numpy.array_equal(numpy.bincount(labels, minlength=10), numpy.full(10, n // 10))
        assert images.max() == 255 and images.min() == 0
        assert 25 < images.mean() < 45                        # MNIST's mean pixel is about 33
        # shuffled, so the first 8% (validation) holds every class
        assert len(numpy.unique(train_val_split(images, labels)[1][1])) == 10


# --------------------------------------------------------------------------- full MNIST (LRLC_NP_DATA)

def test_full_mnist(full_mnist_dir):
    for split, n, mean in (("train", 60000, 33.32), ("test", 10000, 33.79)):
        images, labels = load_mnist(split, data_dir=full_mnist_dir, download=False)
        assert images.shape == (n, 28, 28) and images.dtype == numpy.uint8
        assert labels.shape == (n,) and labels.dtype == numpy.int64
        assert labels.min() == 0 and labels.max() == 9
        assert numpy.bincount(labels).min() > n // 12
        assert abs(images.mean() - mean) < 0.05


def test_make_sample_rebuilds_the_bundled_sample(full_mnist_dir, tmp_path):
    digests = make_sample(full_mnist_dir, tmp_path, 4000, 1000, seed=2020)
    assert digests == DATASETS["mnist-sample"]["sha256"]


def test_full_mnist_is_not_fashion_mnist(full_mnist_dir, monkeypatch):
    monkeypatch.setitem(DATASETS["fashion-mnist"], "search_dirs", [])
    with pytest.raises(DataError, match=r"\(that is the MNIST file\)"):
        load_mnist("test", data_dir=full_mnist_dir, dataset="fashion-mnist", download=False)


# --------------------------------------------------------------------------- model input and batches

def test_to_model_input():
    images = numpy.zeros((3, 28, 28), dtype=numpy.uint8)
    images[0] = 255
    images[1, 0, 0] = 127
    before = images.copy()
    x = to_model_input(images)
    assert x.shape == (3, 1, 28, 28) and x.dtype == numpy.float32
    assert x[0].min() == 1.0 and x[2].max() == -1.0
    assert abs(x[1, 0, 0, 0] - (127 / 127.5 - 1)) < 1e-7     # 127 -> -1/255
    assert -1.0 <= x.min() and x.max() <= 1.0
    numpy.testing.assert_array_equal(images, before)          # input untouched
    with pytest.raises(TypeError, match="expected uint8"):
        to_model_input(images.astype(numpy.float32))
    with pytest.raises(ValueError, match=r"expected images \(N, H, W\), got shape \(3, 1, 28, 28\)"):
        to_model_input(images[:, None])


def test_train_val_split_takes_the_first_8_percent():
    images = numpy.arange(1000 * 4, dtype=numpy.uint8).reshape(1000, 2, 2)
    labels = numpy.arange(1000)
    (x_train, y_train), (x_val, y_val) = train_val_split(images, labels)
    numpy.testing.assert_array_equal(y_val, numpy.arange(80))
    numpy.testing.assert_array_equal(y_train, numpy.arange(80, 1000))
    numpy.testing.assert_array_equal(x_val, images[:80])
    assert len(train_val_split(numpy.zeros(60000), numpy.zeros(60000))[1][0]) == 4800
    (x_all, _), (x_none, _) = train_val_split(images, labels, val_fraction=0.0)
    assert len(x_all) == 1000 and len(x_none) == 0
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(images, labels, val_fraction=1.0)
    with pytest.raises(ValueError, match="1000 images but 999 labels"):
        train_val_split(images, labels[:-1])


def test_iterate_minibatches_covers_each_example_once_per_epoch():
    n = 103
    images = numpy.arange(n * 2).reshape(n, 2)
    labels = numpy.arange(n)
    rng = numpy.random.default_rng(0)
    batches = list(iterate_minibatches(images, labels, 10, rng))
    assert [len(y) for _, y in batches] == [10] * 10 + [3]
    seen = numpy.concatenate([y for _, y in batches])
    numpy.testing.assert_array_equal(numpy.sort(seen), labels)
    assert not numpy.array_equal(seen, labels)                 # shuffled
    for x, y in batches:
        numpy.testing.assert_array_equal(x, images[y])         # pairs stay together
    epoch2 = numpy.concatenate([y for _, y in iterate_minibatches(images, labels, 10, rng)])
    assert not numpy.array_equal(epoch2, seen)                 # a new permutation per epoch

    dropped = list(iterate_minibatches(images, labels, 10, numpy.random.default_rng(0), drop_last=True))
    assert [len(y) for _, y in dropped] == [10] * 10
    assert len(numpy.unique(numpy.concatenate([y for _, y in dropped]))) == 100

    ordered = list(iterate_minibatches(images, labels, 50, None, shuffle=False))
    numpy.testing.assert_array_equal(numpy.concatenate([y for _, y in ordered]), labels)


def test_iterate_minibatches_is_reproducible():
    labels = numpy.arange(64)
    a = [y for _, y in iterate_minibatches(labels, labels, 16, numpy.random.default_rng(7))]
    b = [y for _, y in iterate_minibatches(labels, labels, 16, numpy.random.default_rng(7))]
    for ya, yb in zip(a, b, strict=True):
        numpy.testing.assert_array_equal(ya, yb)


def test_iterate_minibatches_arguments():
    labels = numpy.arange(10)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        iterate_minibatches(labels, labels, 2, None)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        iterate_minibatches(labels, labels, 2, numpy.random.RandomState(0))
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        iterate_minibatches(labels, labels, 0, numpy.random.default_rng())
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        iterate_minibatches(labels, labels[:9], 2, numpy.random.default_rng())
