"""Checkpoints as bytes: an .npz of numpy arrays (never pickle) and its SHA-256."""
import hashlib
import io
import zipfile

import numpy as np

from layerlab.errors import StoreError

BAD_CHECKSUM = ("checkpoint of group {group} at epoch {epoch}: sha256 {got} does not match the "
                "recorded {expected} (the stored bytes changed)")
UNREADABLE = "checkpoint of group {group} at epoch {epoch}: not a readable npz ({error})"


def pack(arrays, extras=None) -> tuple[str, bytes]:
    """(sha256, npz bytes) of a list of arrays, kept in order as arr_0, arr_1, ...; `extras`
    ({name: array}, e.g. the callbacks' state) are kept beside them under their names."""
    buf = io.BytesIO()
    np.savez(buf, *[np.asarray(a) for a in arrays], **{k: np.asarray(v) for k, v in (extras or {}).items()})
    data = buf.getvalue()
    return hashlib.sha256(data).hexdigest(), data


def unpack(data: bytes, sha256: str, group=0, epoch=0) -> list[np.ndarray]:
    """The arrays of a checkpoint, after checking its SHA-256; StoreError says what is wrong."""
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise StoreError(BAD_CHECKSUM.format(group=group, epoch=epoch + 1, got=got[:12], expected=sha256[:12]))
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return [npz[f"arr_{i}"] for i in range(sum(f.startswith("arr_") for f in npz.files))]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise StoreError(UNREADABLE.format(group=group, epoch=epoch + 1, error=e)) from None


def unpack_extras(data: bytes) -> dict:
    """The named arrays pack() kept beside the state (empty if none); the bytes are checked by unpack."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {f: npz[f] for f in npz.files if not f.startswith("arr_")}
