"""Find a dataset's files on this machine, in a fixed order, without touching the network.

Order (first complete copy wins):
    1. path=      Keras' argument: an .npz file (relative: to the working dir, then Keras' cache)
    2. data_dir=  a folder holding the four files directly, or holding <dirname>/
    3. $LAYERLAB_DATA/<dirname>/ (relative: to the working folder at the time of the search)
    4. layerlab's cache: $XDG_CACHE_HOME/layerlab/<dirname>/ (default ~/.cache/layerlab/...)
    5. Keras' cache: ~/.keras/datasets/ ($KERAS_HOME honoured): mnist.npz, fashion-mnist/*.gz
    6. Debian's /usr/share/datasets/<dirname>/ (apt-get install dataset-fashion-mnist)
A folder counts when it holds all four IDX files (each .gz or raw) or the dataset's .npz.

Decisions:
- Files that are present but corrupt are never skipped: reading them raises (see _read), so a
  user learns their copy is broken instead of silently training on another one.
- An incomplete set (some of the four files) raises in the places a user names (data_dir=,
  LAYERLAB_DATA): they meant those files to be used. In caches and Debian's folder it is noted
  and passed over: an interrupted download there is routine, and the download completes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from layerlab.errors import ConfigError, DatasetError

from ._cache import cache_dir
from ._registry import DatasetSpec

# Module-level so tests can point them at temporary folders.
DEBIAN_ROOT = Path("/usr/share/datasets")
ENV_DATA = "LAYERLAB_DATA"

BAD_DATA_DIR = (
    "data_dir={data_dir!r}: {problem}; expected a folder holding the four IDX files of "
    "{dataset} (e.g. {example}) or a {dirname}/ folder. Pass an existing folder, or None to search "
    "the default places."
)
BAD_PATH = (
    "path={path!r}: expected the name of an .npz file (like Keras' 'mnist.npz'), got {got}. "
    "Pass an .npz path, or use data_dir= for a folder of IDX files."
)
INCOMPLETE = (
    "{folder}: {n} of the 4 {dataset} files are here, {missing} missing (as .gz or uncompressed). "
    "Add the missing files, or point {source} at a folder holding all four."
)


class Found(NamedTuple):
    source: str  # which place: "path=", "data_dir=", "$LAYERLAB_DATA", "layerlab cache", ...
    kind: str  # "idx" (four IDX files) or "npz" (one Keras-style archive)
    paths: tuple[Path, ...]  # the four files in spec.files' order, or the one .npz


def keras_root() -> Path:
    """Keras' dataset cache, ~/.keras/datasets, or $KERAS_HOME/datasets as Keras reads it."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"


def check_args(spec: DatasetSpec, data_dir, path) -> tuple[Path | None, Path | None]:
    """Validate load_data's arguments; a data_dir ending in .npz is Keras' positional path=."""
    if data_dir is not None:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise _bad_dir(spec, data_dir, f"expected a str or os.PathLike, got {type(data_dir)}")
        if str(data_dir).endswith(".npz") and path is None:
            data_dir, path = None, data_dir  # mnist.load_data("mnist.npz"), as with Keras
        elif not Path(data_dir).expanduser().is_dir():
            problem = "is a file, not a folder" if Path(data_dir).exists() else "does not exist"
            raise _bad_dir(spec, data_dir, problem)
    if path is not None and (
        not isinstance(path, (str, os.PathLike)) or not str(path).endswith(".npz")
    ):
        raise ConfigError(BAD_PATH.format(path=path, got=f"{type(path).__name__} {path!r}"))
    return (
        None if data_dir is None else Path(data_dir).expanduser(),
        None if path is None else Path(path).expanduser(),
    )


def _bad_dir(spec, data_dir, problem):
    return ConfigError(
        BAD_DATA_DIR.format(
            data_dir=data_dir, problem=problem, dataset=spec.name,
            example=spec.files[0].name + ".gz", dirname=spec.dirname,
        )
    )


def search(
    spec: DatasetSpec, data_dir: Path | None = None, path: Path | None = None
) -> tuple[Found | None, list[str]]:
    """The first complete copy of `spec` in the search order, and a note per place looked at.

    Raises DatasetError for an incomplete set where the user pointed (see the module doc).

    >>> from layerlab.datasets._registry import MNIST
    >>> found, searched = search(MNIST)
    >>> found is None or found.kind in ("idx", "npz")
    True
    """
    searched: list[str] = []
    if path is not None:
        options = [path] if path.is_absolute() else [Path.cwd() / path, keras_root() / path]
        for option in options:
            if option.is_file():
                return Found("path=", "npz", (option,)), searched
        searched.append(f"path= {' and '.join(map(str, options))}: no such file")
    places: list[tuple[str, Path, bool]] = []  # (source, folder, strict)
    if data_dir is not None:
        places += [("data_dir=", data_dir, True), ("data_dir=", data_dir / spec.dirname, True)]
    env = os.environ.get(ENV_DATA, "")
    if env:
        # Relative: to the working folder now; absolute here, so notes name the folder looked in.
        places.append((f"${ENV_DATA}", Path(env).expanduser().absolute() / spec.dirname, True))
    else:
        searched.append(f"${ENV_DATA}: not set")
    places += [
        ("layerlab cache", cache_dir(spec), False),
        ("Keras cache", keras_root() / spec.keras_subdir, False),
        ("Debian", DEBIAN_ROOT / spec.dirname, False),
    ]
    for source, folder, strict in places:
        found, note = look_in(spec, folder, source, strict)
        searched.append(f"{source} {folder}: {note}")
        if found is not None:
            return found, searched
    return None, searched


def look_in(
    spec: DatasetSpec, folder: Path, source: str = "", strict: bool = False
) -> tuple[Found | None, str]:
    """A complete copy of `spec` in `folder` (IDX files preferred over an .npz), and a note."""
    if not folder.is_dir():
        return None, "no such folder"
    paths, missing = [], []
    for f in spec.files:
        # The uncompressed file first: same bytes once decompressed, and faster to read.
        present = [p for p in (folder / f.name, folder / f"{f.name}.gz") if p.is_file()]
        if present:
            paths.append(present[0])
        else:
            missing.append(f.name)
    if not missing:
        return Found(source, "idx", tuple(paths)), "found"
    if spec.npz_name and (folder / spec.npz_name).is_file():
        return Found(source, "npz", (folder / spec.npz_name,)), "found"
    if not paths:
        return None, "no dataset files"
    note = INCOMPLETE.format(
        folder=folder, n=len(paths), dataset=spec.name, missing=", ".join(missing),
        source=source or "the search",
    )
    if strict:
        raise DatasetError(note)
    return None, f"incomplete, missing {', '.join(missing)}"
