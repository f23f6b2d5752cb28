"""Tests of layerlab.datasets: the IDX reader, the search order, downloads, and the real data.

No test touches the network: an autouse fixture sets LAYERLAB_OFFLINE=1, points HOME, the caches
and the Debian folder at tmp_path, and replaces the download function with one that fails the
test; download tests install a fake that serves bytes from a dict. Fake datasets are tiny
(3 training and 2 test images of 4x4) and swapped into the registry under the real names.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import string
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from layerlab.datasets import _cache, _download, _idx, _load, _locate, _registry, _verify
from layerlab.datasets import clear_cache, describe, fashion_mnist, mnist
from layerlab.errors import ConfigError, DatasetError

# Captured before the autouse fixture rewrites them: the real-data tests put them back.
ENV_VARS = ("HOME", "XDG_CACHE_HOME", "KERAS_HOME", "LAYERLAB_DATA")
REAL_ENV = {k: os.environ.get(k) for k in ENV_VARS}
REAL_DEBIAN = _locate.DEBIAN_ROOT
ROLES = ("x_train", "y_train", "x_test", "y_test")


def matches(template: str) -> str:
    """A regex matching any message made from `template` (fields become .*)."""
    parts = string.Formatter().parse(template)
    return "".join(re.escape(text) + ("" if field is None else ".*") for text, field, *_ in parts)


def fake_arrays(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (3, 4, 4), dtype=np.uint8),
        "y_train": rng.integers(0, 10, (3,), dtype=np.uint8),
        "x_test": rng.integers(0, 256, (2, 4, 4), dtype=np.uint8),
        "y_test": rng.integers(0, 10, (2,), dtype=np.uint8),
    }


FAKE = fake_arrays(0)  # stands in for mnist
FAKE_FASHION = fake_arrays(1)  # stands in for fashion_mnist
MIRRORS = ("https://mirror-a.invalid/", "https://mirror-b.invalid/")
NPZ_URL = "https://npz.invalid/mnist.npz"


def fake_spec(real: _registry.DatasetSpec, arrays: dict) -> _registry.DatasetSpec:
    """`real` with `arrays`' shapes and checksums, fake mirrors, and no Keras .npz hash."""
    files = tuple(
        f._replace(shape=arrays[f.role].shape, sha256=_sha(_idx.idx_bytes(arrays[f.role])))
        for f in real.files
    )
    npz = real.npz_name is not None
    return real._replace(
        files=files, urls=MIRRORS, npz_url=NPZ_URL if npz else None, npz_sha256=None
    )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_set(folder: Path, arrays=FAKE, *, gz=True, corrupt=False, skip=()) -> Path:
    """Write the four IDX files of `arrays` into `folder`; corrupt flips one pixel (valid IDX)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in _registry.MNIST.files:
        if f.role in skip:
            continue
        array = arrays[f.role].copy()
        if corrupt:
            array.flat[0] ^= 0xFF
        data = _idx.idx_bytes(array)
        if gz:
            (folder / f"{f.name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / f.name).write_bytes(data)
    return folder


def npz_bytes(arrays=FAKE) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _no_network(url, dest, timeout=None):
    raise AssertionError(f"a test tried to download {url}")


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_CACHE_HOME", "KERAS_HOME", "LAYERLAB_DATA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LAYERLAB_OFFLINE", "1")
    monkeypatch.setattr(_locate, "DEBIAN_ROOT", tmp_path / "debian")
    monkeypatch.setattr(_download, "download", _no_network)
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def fake(monkeypatch):
    """The fake mnist spec; fashion_mnist is faked too, so nothing real is ever matched."""
    spec = fake_spec(_registry.MNIST, FAKE)
    monkeypatch.setitem(_registry.REGISTRY, "mnist", spec)
    fashion = fake_spec(_registry.FASHION_MNIST, FAKE_FASHION)
    monkeypatch.setitem(_registry.REGISTRY, "fashion_mnist", fashion)
    return spec


@pytest.fixture
def places(tmp_path, monkeypatch):
    """The five folders of the search order, for mnist; LAYERLAB_DATA set, data_dir created."""
    home = tmp_path / "home"
    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "env"))
    (tmp_path / "given").mkdir()
    return {
        "data_dir": tmp_path / "given",
        "env": tmp_path / "env" / "mnist",
        "cache": home / ".cache" / "layerlab" / "mnist",
        "keras": home / ".keras" / "datasets",
        "debian": tmp_path / "debian" / "mnist",
    }


def assert_fake(split, arrays=FAKE):
    (x_train, y_train), (x_test, y_test) = split
    for role, got in zip(ROLES, (x_train, y_train, x_test, y_test)):
        np.testing.assert_array_equal(got, arrays[role])
        assert got.dtype == np.uint8 and got.flags.writeable


# ---------------------------------------------------------------- the IDX reader


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_idx_round_trip(tmp_path, gz, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
    data = _idx.idx_bytes(array)
    path = tmp_path / ("a.gz" if gz else "a")
    path.write_bytes(gzip.compress(data) if gz else data)
    got = _idx.read_idx(path, sha256=_sha(data), shape=(2, 3, 4), dtype=dtype)
    np.testing.assert_array_equal(got, array)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative and not got.flags.writeable


def test_idx_header_written_by_hand():
    # The reference: bytes laid out as LeCun's page describes, independent of idx_bytes.
    assert _idx.parse_idx(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 8, 9])).tolist() == [7, 8, 9]
    int16 = bytes([0, 0, 0x0B, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])
    assert _idx.parse_idx(int16).tolist() == [[258, -2]]  # big-endian
    assert _idx.idx_bytes(np.array([[258, -2]], np.int16)) == int16


GOOD = _idx.idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
BROKEN = {
    "truncated": (GOOD[:-1], _idx.BAD_LENGTH),
    "trailing junk": (GOOD + b"\x00", _idx.BAD_LENGTH),
    "header cut": (GOOD[:6], _idx.TOO_SHORT),
    "empty": (b"", _idx.TOO_SHORT),
    "html page": (b"<html><body>Forbidden</body></html>", _idx.BAD_MAGIC),
    "dtype code": (bytes([0, 0, 0x07]) + GOOD[3:], _idx.BAD_DTYPE),
    "wrong dims": (bytes([0, 0, 8, 2, 0, 0, 0, 4, 0, 0, 0, 4]) + GOOD[12:], _idx.BAD_LENGTH),
}


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_idx_broken_files_name_path_and_problem(tmp_path, case, gz):
    data, template = BROKEN[case]
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DatasetError, match=matches(template)) as info:
        _idx.read_idx(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


def test_gzip_damage_is_reported(tmp_path):
    packed = gzip.compress(GOOD)
    crc = bytearray(packed)
    crc[-8] ^= 0xFF  # the CRC-32 trailer
    for name, data in {"cut": packed[: len(packed) // 2], "crc": bytes(crc)}.items():
        path = tmp_path / f"{name}.gz"
        path.write_bytes(data)
        with pytest.raises(DatasetError, match=matches(_idx.BAD_GZIP)) as info:
            _idx.read_idx(path)
        assert str(path) in str(info.value)


def test_idx_checks_checksum_shape_and_dtype(tmp_path, fake):
    path = tmp_path / "labels"
    path.write_bytes(GOOD)
    with pytest.raises(DatasetError, match=matches(_idx.BAD_SHA256)):
        _idx.read_idx(path, sha256="0" * 64)
    with pytest.raises(DatasetError, match=matches(_idx.BAD_ARRAY)):
        _idx.read_idx(path, shape=(4, 3))
    with pytest.raises(DatasetError, match=matches(_idx.BAD_ARRAY)):
        _idx.read_idx(path, dtype="int8")
    # The usual mix-up, Fashion-MNIST's file where MNIST's belongs, is named.
    path.write_bytes(_idx.idx_bytes(FAKE_FASHION["y_train"]))
    with pytest.raises(DatasetError, match="these are the bytes of fashion_mnist's train-labels"):
        _idx.read_idx(path, sha256=fake.files[1].sha256)


def test_missing_file_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match=matches(_idx.UNREADABLE)):
        _idx.read_idx(tmp_path / "absent")


def test_npz_reader(tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(npz_bytes())
    assert sorted(_idx.read_npz(path)) == sorted(ROLES)
    np.savez(path, x_train=FAKE["x_train"])
    with pytest.raises(DatasetError, match="missing arrays"):
        _idx.read_npz(path)
    np.savez(path, **{**FAKE, "y_test": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(DatasetError, match=matches(_idx.BAD_NPZ)):  # pickles are refused
        _idx.read_npz(path)
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(DatasetError, match=matches(_idx.BAD_NPZ)):
        _idx.read_npz(path)


def test_checksums_are_remembered_in_process_and_on_disk(tmp_path, monkeypatch):
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(GOOD))
    want, real, calls = _sha(GOOD), hashlib.sha256, []
    monkeypatch.setattr(hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    for _ in range(3):
        _idx.read_idx(path, sha256=want)
    assert len(calls) == 1
    _verify.clear()  # a new process: the JSON memo in the cache answers
    _idx.read_idx(path, sha256=want)
    assert len(calls) == 1 and (_cache.cache_root() / _verify.MEMO_NAME).is_file()
    os.utime(path, ns=(0, 0))  # a changed file is hashed again
    _idx.read_idx(path, sha256=want)
    assert len(calls) == 2


def test_unwritable_cache_only_costs_the_memo(tmp_path, monkeypatch, fake, places):
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    write_set(places["debian"])
    before = sorted(os.listdir(places["debian"]))
    assert_fake(mnist.load_data())
    assert sorted(os.listdir(places["debian"])) == before  # nothing written beside the data


# ---------------------------------------------------------------- where files are found

ORDER = ["data_dir", "env", "cache", "keras", "debian"]
SOURCES = {"data_dir": "data_dir=", "env": "$LAYERLAB_DATA", "cache": "layerlab cache",
           "keras": "Keras cache", "debian": "Debian"}


@pytest.mark.parametrize("winner", ORDER)
def test_search_order(fake, places, winner):
    write_set(places[winner])
    for later in ORDER[ORDER.index(winner) + 1 :]:
        write_set(places[later], corrupt=True)  # would raise if read: proves it was not
    found, searched = _locate.search(fake, places["data_dir"])
    assert (found.source, found.kind) == (SOURCES[winner], "idx")
    assert {p.parent for p in found.paths} == {places[winner]}
    assert_fake(mnist.load_data(places["data_dir"]))


def test_data_dir_may_hold_dataset_folders(tmp_path, fake):
    write_set(tmp_path / "data" / "mnist", gz=False)
    write_set(tmp_path / "data" / "fashion-mnist", FAKE_FASHION)
    assert_fake(mnist.load_data(tmp_path / "data"))
    assert_fake(fashion_mnist.load_data(data_dir=str(tmp_path / "data")), FAKE_FASHION)


def test_raw_and_gz_files_may_be_mixed(tmp_path, fake):
    write_set(tmp_path / "d", skip=("x_train",))
    write_set(tmp_path / "d", gz=False, skip=("y_train", "x_test", "y_test"))
    assert_fake(mnist.load_data(tmp_path / "d"))


def test_xdg_cache_home_and_keras_home_are_honoured(tmp_path, monkeypatch, fake):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    write_set(tmp_path / "xdg" / "layerlab" / "mnist")
    assert _locate.search(fake)[0].source == "layerlab cache"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    write_set(tmp_path / "kh" / "datasets" / "fashion-mnist", FAKE_FASHION)
    assert_fake(fashion_mnist.load_data(), FAKE_FASHION)


def test_corrupt_files_raise_instead_of_being_skipped(fake, places):
    write_set(places["keras"], corrupt=True)
    write_set(places["debian"])  # a good copy later in the order is not silently used
    with pytest.raises(DatasetError, match=matches(_idx.BAD_SHA256)) as info:
        mnist.load_data()
    assert str(places["keras"]) in str(info.value)


def test_incomplete_set_raises_where_the_user_pointed(fake, places):
    write_set(places["env"], skip=("y_test",))
    with pytest.raises(DatasetError, match=matches(_locate.INCOMPLETE)) as info:
        mnist.load_data()
    assert "t10k-labels-idx1-ubyte" in str(info.value) and "$LAYERLAB_DATA" in str(info.value)


def test_incomplete_set_in_a_cache_is_passed_over(fake, places):
    write_set(places["cache"], skip=("x_train",))
    write_set(places["debian"])
    found, searched = _locate.search(fake)
    assert found.source == "Debian"
    assert any("incomplete, missing train-images-idx3-ubyte" in note for note in searched)


def test_keras_npz(fake, places, monkeypatch):
    (places["keras"]).mkdir(parents=True)
    (places["keras"] / "mnist.npz").write_bytes(npz_bytes())
    found, _ = _locate.search(fake)
    assert (found.source, found.kind) == ("Keras cache", "npz")
    assert_fake(mnist.load_data())
    clear_cache()
    assert_fake(mnist.load_data("mnist.npz"))  # Keras' positional path=, relative to its cache
    assert _locate.search(fake, path=Path("mnist.npz"))[0].source == "path="
    (places["keras"] / "mnist.npz").write_bytes(npz_bytes({**FAKE, "y_test": FAKE["y_test"] + 1}))
    with pytest.raises(DatasetError, match=r"mnist\.npz \(array y_test\)"):
        mnist.load_data(path=places["keras"] / "mnist.npz")


def test_missing_path_falls_through(fake, places):
    write_set(places["debian"])
    assert_fake(mnist.load_data(path="elsewhere/mnist.npz"))


@pytest.mark.parametrize(
    ("kwargs", "template"),
    [
        ({"data_dir": "/no/such/folder"}, _locate.BAD_DATA_DIR),
        ({"data_dir": 3}, _locate.BAD_DATA_DIR),
        ({"path": "mnist.pkl"}, _locate.BAD_PATH),
    ],
)
def test_bad_arguments(kwargs, template):
    with pytest.raises(ConfigError, match=matches(template)):
        mnist.load_data(**kwargs)


def test_data_dir_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        mnist.load_data(tmp_path / "f")


@pytest.mark.parametrize("module", [mnist, fashion_mnist], ids=["mnist", "fashion_mnist"])
def test_nothing_found_lists_every_place(tmp_path, monkeypatch, module):
    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "env"))
    (tmp_path / "given").mkdir()
    with pytest.raises(DatasetError, match=matches(_load.NOT_FOUND)) as info:
        module.load_data(tmp_path / "given")
    message, dirname = str(info.value), "mnist" if module is mnist else "fashion-mnist"
    for place in [
        tmp_path / "given",
        tmp_path / "given" / dirname,
        tmp_path / "env" / dirname,
        tmp_path / "home" / ".cache" / "layerlab" / dirname,
        tmp_path / "home" / ".keras" / "datasets",
        tmp_path / "debian" / dirname,
    ]:
        assert str(place) in message
    assert "LAYERLAB_OFFLINE=1" in message and "LAYERLAB_DATA" in message and "\n" not in message
    assert ("apt-get install dataset-fashion-mnist" in message) == (module is fashion_mnist)


# ---------------------------------------------------------------- downloads


def serve(monkeypatch, responses: dict):
    """Replace the download function with one serving `responses` (url -> bytes or error)."""
    calls = []

    def fake_download(url, dest, timeout=None):
        calls.append(url)
        body = responses.get(url, urllib.error.URLError("unreachable"))
        if isinstance(body, BaseException):
            dest.write_bytes(b"\x1f\x8b partial")  # a partial file must not survive
            raise body
        dest.write_bytes(body)

    monkeypatch.setattr(_download, "download", fake_download)
    monkeypatch.delenv("LAYERLAB_OFFLINE")
    return calls


def mirror(base=MIRRORS[0], arrays=FAKE) -> dict[str, bytes]:
    return {base + f.name + ".gz": gzip.compress(_idx.idx_bytes(arrays[f.role]))
            for f in _registry.MNIST.files}


def cache_files(places) -> list[str]:
    return sorted(os.listdir(places["cache"])) if places["cache"].exists() else []


def test_download_lands_verified_files_in_the_cache(fake, places, monkeypatch):
    calls = serve(monkeypatch, mirror())
    assert_fake(mnist.load_data())
    assert len(calls) == 4 and cache_files(places) == sorted(f.name + ".gz" for f in fake.files)
    clear_cache()
    assert_fake(mnist.load_data())  # now found in the cache
    assert len(calls) == 4


def test_download_resumes_and_tries_the_next_mirror(fake, places, monkeypatch):
    write_set(places["cache"], skip=("x_train", "y_train"))
    responses = mirror(MIRRORS[1])  # mirror a: wrong images, no labels
    wrong = gzip.compress(_idx.idx_bytes(FAKE_FASHION["x_train"]))
    responses[MIRRORS[0] + "train-images-idx3-ubyte.gz"] = wrong
    calls = serve(monkeypatch, responses)
    assert_fake(mnist.load_data())
    assert calls == [
        base + name
        for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
        for base in MIRRORS
    ]
    assert not any(name.endswith(".part") for name in cache_files(places))


def test_bad_download_never_lands_in_the_cache(fake, places, monkeypatch):
    responses = mirror()
    wrong = gzip.compress(_idx.idx_bytes(FAKE_FASHION["x_train"]))
    for base in MIRRORS:
        responses[base + "train-images-idx3-ubyte.gz"] = wrong  # valid IDX, wrong data
    responses[NPZ_URL] = b"<html>not found</html>"
    serve(monkeypatch, responses)
    with pytest.raises(DatasetError, match=matches(_load.NOT_FOUND)) as info:
        mnist.load_data()
    assert "SHA-256" in str(info.value) and NPZ_URL in str(info.value)
    assert "train-images-idx3-ubyte.gz" not in cache_files(places)
    assert not any(name.endswith(".part") for name in cache_files(places))


@pytest.mark.parametrize("error", [OSError("connection reset"), KeyboardInterrupt()],
                         ids=["network", "ctrl-c"])
def test_partial_file_is_deleted_on_failure(fake, places, monkeypatch, error):
    responses = mirror()
    responses[MIRRORS[0] + "t10k-images-idx3-ubyte.gz"] = error
    serve(monkeypatch, responses)
    with pytest.raises(type(error) if isinstance(error, KeyboardInterrupt) else DatasetError):
        mnist.load_data()
    assert "t10k-images-idx3-ubyte.gz" not in cache_files(places)
    assert not any(name.endswith(".part") for name in cache_files(places))


def test_npz_is_the_last_resort(fake, places, monkeypatch):
    serve(monkeypatch, {NPZ_URL: npz_bytes()})  # both IDX mirrors unreachable
    assert_fake(mnist.load_data())
    assert "mnist.npz" in cache_files(places)


# ---------------------------------------------------------------- describe() and copies


def test_describe(fake, places):
    write_set(places["debian"])
    write_set(places["cache"].parent / "fashion-mnist", FAKE_FASHION, corrupt=True)
    report = {entry["name"]: entry for entry in describe()}
    assert report["mnist"]["status"] == "ok" and report["mnist"]["source"] == "Debian"
    assert report["fashion_mnist"]["status"] == "corrupt"
    assert "SHA-256" in report["fashion_mnist"]["detail"]
    assert describe(verify=False)[1]["status"] == "unverified"


def test_describe_missing(fake):
    report = describe()
    assert [entry["status"] for entry in report] == ["missing", "missing"]
    assert all(entry["searched"] for entry in report)


def test_returns_fresh_writable_copies(fake, places):
    write_set(places["debian"])
    (x_train, _), _ = mnist.load_data()
    x_train[:] = 0
    assert_fake(mnist.load_data())


# ---------------------------------------------------------------- the real datasets


@pytest.fixture
def real_machine(monkeypatch):
    """This machine's own environment and Debian folder back; still offline."""
    for key, value in REAL_ENV.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    monkeypatch.setattr(_locate, "DEBIAN_ROOT", REAL_DEBIAN)


def test_real_mnist(real_mnist, real_machine, monkeypatch):
    found, searched = _locate.search(_registry.MNIST)
    assert found == real_mnist, searched  # where conftest found it (skips, or fails on CI, if nowhere)
    if REAL_ENV["LAYERLAB_DATA"]:  # given (or beside the clone): it wins over the caches
        assert found.source == "$LAYERLAB_DATA", searched
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert (x_train.shape, y_train.shape) == ((60000, 28, 28), (60000,))
    assert (x_test.shape, y_test.shape) == ((10000, 28, 28), (10000,))
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_train).tolist() == counts
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9] and y_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert x_train.mean() == pytest.approx(33.318, abs=1e-3)
    # A second load comes from the process's cache (no file read): fresh, equal, writable copies.
    def no_reading(*args):
        raise AssertionError("the second load read the files again")

    monkeypatch.setattr(_load._read, "read_found", no_reading)
    (again, _), _ = mnist.load_data()
    assert again is not x_train and np.array_equal(again, x_train) and again.flags.writeable


def test_real_fashion_mnist(real_machine):
    found, searched = _locate.search(_registry.FASHION_MNIST)
    if found is None:
        pytest.skip("Fashion-MNIST not found (apt-get install dataset-fashion-mnist): "
                    + "; ".join(searched))
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()  # checksums verified
    assert (x_train.shape, x_test.shape) == ((60000, 28, 28), (10000, 28, 28))
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert fashion_mnist.CLASS_NAMES[y_train[0]] == "Ankle boot"
