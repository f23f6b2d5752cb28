"""Read IDX files (LeCun's MNIST format, .gz or raw) and Keras' mnist.npz into numpy arrays.

An IDX file is a header then a big-endian payload:
    bytes 0-1  zero
    byte  2    dtype code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
               0x0E float64)
    byte  3    number of dims n
    4n bytes   the dims, each a big-endian uint32
    the values, row-major, exactly prod(dims) * itemsize bytes.
The header is parsed and the length checked against it, never trusted by offset, so a truncated
download or a file of another kind is reported instead of being reshaped into garbage.
"""

from __future__ import annotations

import gzip
import hashlib
import zipfile
import zlib
from pathlib import Path

import numpy as np

from layerlab.errors import DatasetError

from . import _registry, _verify

# IDX dtype code -> big-endian numpy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")

# One-line message templates; tests match them, so keep them here.
UNREADABLE = "{path}: cannot read the file: {reason}. Check that it exists and is readable."
BAD_GZIP = (
    "{path}: gzip data is corrupt ({reason}); the file is probably a truncated or damaged "
    "download. Delete it and fetch a fresh copy."
)
TOO_SHORT = (
    "{path}: not an IDX file: expected a header of at least {need} bytes, got {got} bytes. "
    "Replace it with a fresh copy."
)
BAD_MAGIC = (
    "{path}: not an IDX file: expected the magic number to start with two zero bytes, got "
    "{got}. Replace it with a fresh copy (an HTML error page or a different format saved "
    "under this name looks like this)."
)
BAD_DTYPE = (
    "{path}: unknown IDX dtype code {code:#04x}: expected one of 0x08, 0x09, 0x0b, 0x0c, 0x0d, "
    "0x0e. Replace it with a fresh copy."
)
BAD_LENGTH = (
    "{path}: IDX payload is {got} bytes but the header's dims {dims} of {dtype} need {need} "
    "bytes; the file is truncated or corrupt. Replace it with a fresh copy."
)
BAD_SHA256 = (
    "{path}: SHA-256 of the decompressed file is {got}, expected {want}{note}. The file is "
    "corrupt or holds other data; replace it with a fresh copy."
)
BAD_ARRAY = (
    "{path}: expected {what} of shape {want_shape} and dtype {want_dtype}, got shape "
    "{got_shape} and dtype {got_dtype}. Replace it with the right file."
)
BAD_NPZ = (
    "{path}: not a usable .npz dataset: {reason}. Expected a numpy .npz archive with arrays "
    "x_train, y_train, x_test, y_test (like Keras' mnist.npz); replace it with a fresh copy."
)


def one_line(error: BaseException) -> str:
    """An exception's text on one line, for embedding in a one-line message."""
    return " ".join(str(error).split()) or type(error).__name__


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic (names can lie)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DatasetError(UNREADABLE.format(path=path, reason=e.strerror or e)) from e
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:  # bad CRC/length, truncated stream, bad deflate
        raise DatasetError(BAD_GZIP.format(path=path, reason=one_line(e))) from e


def parse_idx(data: bytes, path: str | Path = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into a read-only native-endian array; `path` only names errors.

    >>> parse_idx(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 8, 9])).tolist()
    [7, 8, 9]
    """
    if len(data) < 4:
        raise DatasetError(TOO_SHORT.format(path=path, need=4, got=len(data)))
    if data[:2] != b"\x00\x00":
        raise DatasetError(BAD_MAGIC.format(path=path, got="0x" + data[:4].hex()))
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise DatasetError(BAD_DTYPE.format(path=path, code=code))
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(TOO_SHORT.format(path=path, need=header, got=len(data)))
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    need = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got != need:  # short = truncated; long = trailing junk or wrong dims: both mean corrupt
        raise DatasetError(
            BAD_LENGTH.format(path=path, got=got, dims=dims, dtype=dtype.name, need=need)
        )
    array = np.frombuffer(data, dtype, offset=header).reshape(dims)
    # frombuffer over bytes is read-only; astype only copies for multi-byte dtypes.
    native = array.astype(dtype.newbyteorder("="), copy=False)
    native.flags.writeable = False
    return native


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of `array` (header + big-endian values); the inverse of parse_idx.

    Used to write test files and to hash an .npz array exactly as its IDX original was hashed.

    >>> idx_bytes(np.array([7, 8, 9], np.uint8)).hex()
    '0000080100000003070809'
    """
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; expected one of {list(_CODES)}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + np.ascontiguousarray(array, IDX_DTYPES[code]).tobytes()


def read_idx(
    path: str | Path,
    *,
    sha256: str | None = None,
    shape: tuple[int, ...] | None = None,
    dtype: str | None = None,
) -> np.ndarray:
    """Read one IDX file (.gz or raw) into a read-only array, checking what is given.

    sha256 is of the decompressed file (header included), the hash every correct copy shares
    whatever its gzip wrapper. Raises DatasetError naming `path` for anything wrong.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
    >>> _ = p.write_bytes(idx_bytes(np.array([5, 0, 4], np.uint8)))
    >>> read_idx(p, shape=(3,), dtype="uint8").tolist()
    [5, 0, 4]
    """
    path = Path(path)
    data = read_bytes(path)
    array = parse_idx(data, path)  # structure first: "truncated" says more than "bad hash"
    check_array(array, path, "an IDX array", shape, dtype)
    if sha256 is not None:
        got = _verify.digest(path, "idx", lambda: hashlib.sha256(data).hexdigest())
        check_sha256(got, sha256, path)
    return array


def check_sha256(got: str, want: str, path) -> None:
    """Raise BAD_SHA256 unless got == want, naming the dataset file `got` belongs to, if any."""
    if got != want:
        who = _registry.identify(got)
        note = f" (these are the bytes of {who})" if who else ""
        raise DatasetError(BAD_SHA256.format(path=path, got=got, want=want, note=note))


def check_array(array, path, what, shape=None, dtype=None) -> None:
    """Raise BAD_ARRAY unless `array` has the expected shape and dtype (None = any)."""
    if (shape is not None and tuple(array.shape) != tuple(shape)) or (
        dtype is not None and array.dtype != np.dtype(dtype)
    ):
        raise DatasetError(
            BAD_ARRAY.format(
                path=path, what=what, want_shape=tuple(shape) if shape else "any",
                want_dtype=dtype or "any", got_shape=tuple(array.shape), got_dtype=array.dtype,
            )
        )


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Read the four arrays of a Keras-style dataset .npz (no pickles), read-only.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "tiny.npz"
    >>> a = np.zeros((1, 2, 2), np.uint8); b = np.zeros(1, np.uint8)
    >>> np.savez(p, x_train=a, y_train=b, x_test=a, y_test=b)
    >>> sorted(read_npz(p))
    ['x_test', 'x_train', 'y_test', 'y_train']
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in NPZ_KEYS if k not in archive.files]
            if missing:
                reason = f"missing arrays {missing}, has {archive.files}"
                raise DatasetError(BAD_NPZ.format(path=path, reason=reason))
            arrays = {k: archive[k] for k in NPZ_KEYS}
    except DatasetError:
        raise
    except FileNotFoundError as e:
        raise DatasetError(UNREADABLE.format(path=path, reason=e.strerror or e)) from e
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        # ValueError covers object arrays (pickles refused) and non-npz files np.load rejects.
        reason = f"{type(e).__name__}: {one_line(e)}"
        raise DatasetError(BAD_NPZ.format(path=path, reason=reason)) from e
    for array in arrays.values():
        array.flags.writeable = False
    return arrays
