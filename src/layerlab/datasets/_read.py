"""Read a located dataset, checking every file against the registry before anything is used.

Two layouts hold the same data: four IDX files (.gz or raw), or one Keras-style .npz. Both are
verified against the registry's SHA-256 of the decompressed IDX files; an .npz array is hashed
as the IDX file it came from (header + big-endian values), so one table of hashes covers both.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from . import _idx, _verify
from ._registry import DatasetSpec

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test


def read_idx_files(paths: tuple[Path, ...], spec: DatasetSpec) -> Arrays:
    """The four verified, read-only arrays from IDX files given in spec.files' order."""
    return tuple(
        _idx.read_idx(path, sha256=f.sha256, shape=f.shape, dtype=f.dtype)
        for path, f in zip(paths, spec.files, strict=True)
    )


def read_npz_file(path: Path, spec: DatasetSpec) -> Arrays:
    """The four verified, read-only arrays from a Keras-style .npz (x_train, y_train, ...)."""
    arrays = _idx.read_npz(path)
    for f in spec.files:
        _idx.check_array(arrays[f.role], path, f"array {f.role}", f.shape, f.dtype)
    # Keras' own file is recognised by its published hash: cheap (11 MB, not 55 MB).
    if spec.npz_sha256:
        if _verify.digest(path, "npz", lambda: _file_sha256(path)) == spec.npz_sha256:
            return tuple(arrays[f.role] for f in spec.files)
    # Any other .npz (re-saved, re-compressed) must hold exactly the registered data.
    got = _verify.digest(
        path,
        "npz-arrays",
        lambda: ",".join(
            hashlib.sha256(_idx.idx_bytes(arrays[f.role])).hexdigest() for f in spec.files
        ),
    ).split(",")
    for f, digest in zip(spec.files, got, strict=True):
        _idx.check_sha256(digest, f.sha256, f"{path} (array {f.role})")
    return tuple(arrays[f.role] for f in spec.files)


def read_found(kind: str, paths: tuple[Path, ...], spec: DatasetSpec) -> Arrays:
    """Dispatch on the layout a search found: "idx" (four files) or "npz" (one file)."""
    if kind == "npz":
        return read_npz_file(paths[0], spec)
    return read_idx_files(paths, spec)


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()
