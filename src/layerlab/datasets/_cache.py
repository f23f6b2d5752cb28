"""Where layerlab's cache lives: the downloads (<cache>/<dirname>/) and the checksum memo.

The one place that knows the folder, so the search (_locate), the download (_load) and the
checksum memo (_verify) cannot disagree about it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._registry import DatasetSpec


def cache_root() -> Path:
    """layerlab's cache folder: $XDG_CACHE_HOME/layerlab, else ~/.cache/layerlab.

    Read at every call, so a changed environment (a test's monkeypatch) takes effect at once.

    >>> cache_root().name
    'layerlab'
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "layerlab"


def cache_dir(spec: DatasetSpec) -> Path:
    """Where layerlab keeps (and downloads) `spec`'s files: <cache_root()>/<spec.dirname>.

    >>> from layerlab.datasets._registry import MNIST
    >>> cache_dir(MNIST).parts[-2:]
    ('layerlab', 'mnist')
    """
    return cache_root() / spec.dirname
