"""Remember SHA-256 digests of dataset files, so a file is hashed once, not on every load.

Hashing MNIST's 55 MB on each load costs a noticeable fraction of a second, and the data folders
may be read-only (shared/, /usr/share), so no sidecar is written next to the data. Instead:
- an in-process memo keyed by (kind, absolute path, size, mtime_ns), and
- a JSON memo in layerlab's cache (see _cache), `<cache>/verified.json`, with the same key, so
  a new process skips the hash too. Writing it is best effort: a read-only home only costs the
  speed-up.
What is stored is the digest that was computed, not a verdict, so a changed registry (or a test
that patches it) is still checked against the real bytes. A file rewritten with the same size
and the same nanosecond mtime would fool the memo; that takes intent, not accident.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ._cache import cache_root

MEMO_NAME = "verified.json"
_MEMO: dict[tuple[str, str, int, int], str] = {}


def digest(path: Path, kind: str, compute: Callable[[], str]) -> str:
    """The digest of `path` for `kind` ("idx", "npz", ...), from a memo or from compute()."""
    path = Path(path).absolute()
    st = path.stat()
    key = (kind, str(path), st.st_size, st.st_mtime_ns)
    if key in _MEMO:
        return _MEMO[key]
    # Partial downloads are renamed or deleted at once: remembering them only bloats the memo.
    remember = not path.name.endswith(".part")
    entry = _load_disk_memo().get(f"{kind}:{path}") if remember else None
    if entry and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
        value = str(entry["sha256"])
    else:
        value = compute()
        if remember:
            _save_disk_memo(f"{kind}:{path}", st.st_size, st.st_mtime_ns, value)
    if remember:
        _MEMO[key] = value
    return value


def clear() -> None:
    """Forget the in-process memo (the JSON memo on disk stays)."""
    _MEMO.clear()


def _load_disk_memo() -> dict:
    try:
        memo = json.loads((cache_root() / MEMO_NAME).read_text())
    except (OSError, ValueError):  # absent, unreadable or garbled: start afresh
        return {}
    return memo if isinstance(memo, dict) else {}


def _save_disk_memo(name: str, size: int, mtime_ns: int, value: str) -> None:
    memo = _load_disk_memo()
    # Drop entries of files that are gone (tests' temporary folders, moved datasets).
    memo = {k: v for k, v in memo.items() if os.path.exists(k.split(":", 1)[-1])}
    memo[name] = {"size": size, "mtime_ns": mtime_ns, "sha256": value}
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a concurrent reader never sees half a file.
        fd, tmp = tempfile.mkstemp(prefix=MEMO_NAME, suffix=".tmp", dir=root)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(memo, f, indent=1, sort_keys=True)
            os.replace(tmp, root / MEMO_NAME)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass  # read-only or full home: the memo is only a speed-up
