"""Download a dataset into layerlab's cache: to a partial file, verify, then rename.

A file lands under its real name only after its decompressed SHA-256 matches the registry, so
the cache never holds a truncated or wrong file; the partial file is deleted on any failure,
Ctrl-C included (the pattern of keras.utils.get_file). Mirrors are tried in order. For MNIST,
Keras' mnist.npz is the last resort when the IDX mirror fails.
Set LAYERLAB_OFFLINE=1 to forbid downloads (tests do; so can machines without internet).
"""

from __future__ import annotations

import http.client
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

from layerlab.errors import DatasetError

from . import _idx, _read
from ._registry import DatasetSpec

ENV_OFFLINE = "LAYERLAB_OFFLINE"
TIMEOUT_S = 60.0  # per blocking socket operation, not for the whole file
# What a failed mirror may raise: DatasetError (bad bytes), URLError/timeouts (OSError),
# IncompleteRead (HTTPException), unknown URL types (ValueError). Anything else is a bug.
MIRROR_ERRORS = (OSError, ValueError, http.client.HTTPException)

DOWNLOAD_FAILED = "download of {dataset} into {folder} failed: {failures}"
NO_CACHE = (
    "{folder}: cannot create layerlab's cache folder ({reason}). Set XDG_CACHE_HOME to a "
    "writable folder, or provide the files with data_dir= or LAYERLAB_DATA."
)


def offline() -> bool:
    """True when $LAYERLAB_OFFLINE forbids downloads (any value but "", "0", "false", "no").

    >>> isinstance(offline(), bool)
    True
    """
    return os.environ.get(ENV_OFFLINE, "").strip().lower() not in ("", "0", "false", "no")


def download(url: str, dest: Path, timeout: float = TIMEOUT_S) -> None:
    """Write the body served at `url` to `dest`: the only code here that touches the network.

    Tests replace it with monkeypatch.setattr(_download, "download", fake).

    >>> download("https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
    ...          Path("/tmp/labels.gz"))  # doctest: +SKIP
    """
    request = urllib.request.Request(url, headers={"User-Agent": "layerlab"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)


def fetch_file(url: str, final: Path, verify: Callable[[Path], object]) -> None:
    """Download `url` to a partial file beside `final`, verify(partial), rename it to `final`."""
    # A unique partial name, so two processes filling one cache never write the same file.
    fd, name = tempfile.mkstemp(prefix=f"{final.name}.", suffix=".part", dir=final.parent)
    os.close(fd)
    part = Path(name)
    try:
        download(url, part)  # looked up at call time, so a test's replacement is used
        verify(part)
        os.chmod(part, 0o644)  # mkstemp made it private; a dataset is not a secret
        os.replace(part, final)  # atomic: readers see no file or the whole verified file
    except BaseException:  # KeyboardInterrupt too: never leave a partial behind
        part.unlink(missing_ok=True)
        raise


def fetch(spec: DatasetSpec, folder: Path) -> None:
    """Fill `folder` with `spec`'s four IDX .gz files (or its .npz); raise DatasetError if not.

    Files already in `folder` are kept (they are verified when loaded), so an interrupted
    download resumes where it stopped.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(NO_CACHE.format(folder=folder, reason=_idx.one_line(e))) from e
    failures: list[str] = []
    complete = True
    for f in spec.files:
        if (folder / f.name).is_file() or (folder / f"{f.name}.gz").is_file():
            continue
        for base in spec.urls:
            url = base + f.name + ".gz"
            try:
                fetch_file(
                    url,
                    folder / f"{f.name}.gz",
                    lambda p, f=f: _idx.read_idx(p, sha256=f.sha256, shape=f.shape, dtype=f.dtype),
                )
                break
            except MIRROR_ERRORS as e:
                failures.append(f"{url}: {_idx.one_line(e)}")
        else:
            complete = False
            break
    if complete:
        return
    if spec.npz_url and spec.npz_name:
        try:
            fetch_file(spec.npz_url, folder / spec.npz_name, lambda p: _read.read_npz_file(p, spec))
            return
        except MIRROR_ERRORS as e:
            failures.append(f"{spec.npz_url}: {_idx.one_line(e)}")
    raise DatasetError(
        DOWNLOAD_FAILED.format(dataset=spec.name, folder=folder, failures="; ".join(failures))
    )
