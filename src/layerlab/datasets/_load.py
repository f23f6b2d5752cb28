"""load_data for every registered dataset: search, download if allowed, verify, cache, copy.

Decoded arrays are kept per process, keyed by the files' (path, size, mtime_ns) and the
registry entry, so a second load costs a stat per file and a copy; callers get fresh writable
copies, as from Keras, and may modify them freely.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from layerlab.errors import DatasetError, LayerlabError

from . import _cache, _download, _locate, _read, _verify
from ._registry import REGISTRY, DatasetSpec

NOT_FOUND = (
    "{dataset}: no copy found on this machine and {download}. Searched: {searched}. To fix: "
    "pass data_dir= (a folder holding {files}, each .gz or uncompressed), or set LAYERLAB_DATA "
    "to a folder holding {dirname}/ with those files, {hint}."
)
OFFLINE = "downloading is off (${env}={value})"
DOWNLOAD_FAILED = "the {error}"
CACHE_SIZE = 4  # decoded datasets kept per process (MNIST: 55 MB each)

_ARRAYS: dict[tuple, _read.Arrays] = {}

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def load(name: str, data_dir=None, path=None) -> Split:
    """((x_train, y_train), (x_test, y_test)) of registered dataset `name`, as fresh arrays."""
    spec = REGISTRY[name]
    data_dir, path = _locate.check_args(spec, data_dir, path)
    found, searched = _locate.search(spec, data_dir, path)
    if found is None:
        found = _download_or_raise(spec, searched)
    x_train, y_train, x_test, y_test = (a.copy() for a in read_cached(spec, found))
    return (x_train, y_train), (x_test, y_test)


def read_cached(spec: DatasetSpec, found: _locate.Found) -> _read.Arrays:
    """The read-only arrays of a found copy, decoded and verified once per process."""
    key = (spec, found.kind, tuple(_identity(p) for p in found.paths))
    if key not in _ARRAYS:
        arrays = _read.read_found(found.kind, found.paths, spec)
        while len(_ARRAYS) >= CACHE_SIZE:
            _ARRAYS.pop(next(iter(_ARRAYS)))  # oldest first: dicts keep insertion order
        _ARRAYS[key] = arrays
    return _ARRAYS[key]


def clear_cache() -> None:
    """Forget decoded arrays and remembered checksums of this process (tests use it)."""
    _ARRAYS.clear()
    _verify.clear()


def _identity(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.absolute()), st.st_size, st.st_mtime_ns


def _download_or_raise(spec: DatasetSpec, searched: list[str]) -> _locate.Found:
    if _download.offline():
        raise _not_found(
            spec, searched, OFFLINE.format(
                env=_download.ENV_OFFLINE, value=os.environ[_download.ENV_OFFLINE]
            )
        )
    folder = _cache.cache_dir(spec)
    try:
        _download.fetch(spec, folder)
    except DatasetError as e:
        raise _not_found(spec, searched, DOWNLOAD_FAILED.format(error=e)) from e
    found, note = _locate.look_in(spec, folder, "layerlab cache")
    if found is None:  # only if something deleted the files between download and here
        raise _not_found(spec, searched, f"the download left {folder} {note}")
    return found


def _not_found(spec: DatasetSpec, searched: list[str], download: str) -> DatasetError:
    return DatasetError(
        NOT_FOUND.format(
            dataset=spec.name, download=download, searched="; ".join(searched),
            files=", ".join(f.name for f in spec.files), dirname=spec.dirname,
            hint=spec.hint or "or connect to the internet",
        )
    )


def describe(data_dir=None, *, verify: bool = True) -> list[dict]:
    """Where each registered dataset is found and whether its checksums match; never downloads.

    One dict per dataset with keys name, status ("ok", "unverified", "missing", "corrupt" or
    "error"), source (which place, e.g. "$LAYERLAB_DATA"), paths, detail (the error, if any)
    and searched (a note per place looked at). `layerlab datasets` prints this.

    >>> from layerlab.datasets import describe
    >>> [d["name"] for d in describe(verify=False)]
    ['mnist', 'fashion_mnist']
    """
    report = []
    for spec in REGISTRY.values():
        entry = {"name": spec.name, "status": "missing", "source": None, "paths": [],
                 "detail": "", "searched": []}
        try:
            folder, path = _locate.check_args(spec, data_dir, None)
            found, entry["searched"] = _locate.search(spec, folder, path)
            if found is None:
                entry["detail"] = (
                    "not found; downloading is off" if _download.offline()
                    else f"not found; load_data() will download it into {_cache.cache_dir(spec)}"
                )
            else:
                entry.update(source=found.source, paths=[str(p) for p in found.paths])
                entry["status"] = "unverified"
                if verify:
                    read_cached(spec, found)
                    entry["status"] = "ok"
        except DatasetError as e:
            entry.update(status="corrupt" if entry["paths"] else "error", detail=str(e))
        except LayerlabError as e:
            entry.update(status="error", detail=str(e))
        report.append(entry)
    return report
