"""The .keras file itself: a zip of config.json, metadata.json and model.weights.h5, read with
checks and written whole or not at all (a temporary file in the same folder, then a rename).

Nothing in a file is ever executed or unpickled: JSON is parsed as data, HDF5 is read as arrays.
"""
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

from layerlab.errors import ConfigError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

NOT_A_PATH = ("{method}: filepath: expected a path ending in {suffix}; received {received!r}. "
              "Pass e.g. {example!r}.")
NOT_FOUND = "{method}: filepath: expected an existing file; received {path!r}, which is not one. Check the path."
LEGACY_H5 = ("{method}: {path}: expected a Keras 3 file; received a legacy Keras 2 HDF5 file (.h5). "
             "Convert it once with Keras 3: keras.models.load_model({path!r}).save('model.keras') (or, for "
             "weights, save_weights('model.weights.h5') from the model holding them), then load that.")
WEIGHTS_GIVEN = ("{method}: {path}: expected a .keras model file; received a weights file (.weights.h5), which "
                 "holds no layers. Build the model, then call model.load_weights({path!r}).")
NOT_A_ZIP = ("{method}: {path}: expected a .keras file (a zip archive); received a file that is not one or is "
             "truncated ({size} bytes). Save it again with model.save().")
NO_CONFIG = ("{method}: {path}: expected config.json inside the .keras archive; received an archive holding "
             "{names}. Save it again with model.save().")
BAD_JSON = ("{method}: {path}: {member}: expected JSON; received text that does not parse ({detail}). "
            "Save it again with model.save().")
UNWRITABLE = ("{method}: filepath: expected a folder that can be written; received {path!r} ({detail}). "
              "Create the folder or choose another one.")
EXISTS = ("{method}: filepath: {path!r} exists and overwrite=False; expected a new file. Pass overwrite=True "
          "or another path.")


def check_target(method, path, suffix, example, overwrite=True) -> Path:
    """The path to write, checked before any work: the right suffix, a writable folder."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).endswith(suffix):
        raise ConfigError(NOT_A_PATH.format(method=method, suffix=suffix, received=path, example=example))
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(UNWRITABLE.format(method=method, path=str(path), detail=f"no folder {str(folder)!r}"))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(UNWRITABLE.format(method=method, path=str(path), detail="permission denied"))
    if path.exists() and not overwrite:
        raise ConfigError(EXISTS.format(method=method, path=str(path)))
    return path


def write_atomic(method, path: Path, data: bytes):
    """Writes `data` to a temporary file beside `path` and renames it into place: a reader sees the
    old file or the whole new one, never half of one."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent or ".")
    except OSError as e:
        raise ConfigError(UNWRITABLE.format(method=method, path=str(path), detail=e.strerror or e)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise ConfigError(UNWRITABLE.format(method=method, path=str(path), detail=e.strerror or e)) from None
        raise


def pack(config: dict, metadata: dict, weights_h5: bytes) -> bytes:
    """The archive's bytes, members in Keras' order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        z.writestr("metadata.json", json.dumps(metadata))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", weights_h5)
    return buffer.getvalue()


def existing(method, path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(NOT_A_PATH.format(method=method, suffix=".keras", received=path, example="model.keras"))
    path = Path(path)
    if not path.is_file():
        raise ConfigError(NOT_FOUND.format(method=method, path=str(path)))
    return path


def is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


def unpack(method, path) -> tuple[dict, dict, bytes | None]:
    """(config, metadata, the weights file's bytes or None) of a .keras archive, checked."""
    path = existing(method, path)
    if is_hdf5(path):
        template = WEIGHTS_GIVEN if str(path).endswith(".weights.h5") else LEGACY_H5
        raise ConfigError(template.format(method=method, path=str(path)))
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if "config.json" not in names:
                raise ConfigError(NO_CONFIG.format(method=method, path=str(path), names=names or "nothing"))
            config = _json(method, path, "config.json", z.read("config.json"))
            metadata = _json(method, path, "metadata.json", z.read("metadata.json")) if "metadata.json" in names else {}
            weights = z.read("model.weights.h5") if "model.weights.h5" in names else None
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, OSError):
        raise ConfigError(NOT_A_ZIP.format(method=method, path=str(path), size=path.stat().st_size)) from None
    return config, metadata, weights


def _json(method, path, member, data):
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(BAD_JSON.format(method=method, path=str(path), member=member, detail=e)) from None
    if not isinstance(value, dict):
        raise ConfigError(BAD_JSON.format(method=method, path=str(path), member=member, detail="not an object"))
    return value
