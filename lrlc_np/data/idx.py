"""The IDX file format (LeCun's): read, write, and verify by the SHA-256 of the decompressed bytes."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy

from .registry import DATASETS, IMAGE_SIZE, DataError


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
                        "corrupt") from e


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
                        f"{_known_as(name, digest)}; it is not the expected file: delete {path} and put "
                        f"the right one in {path.parent} (lrlc_np.data.download fetches it)")
    return True
