"""Small checks of one value in a study file; each error names the file, the key path, what was
expected, what was received and the fix."""
import difflib
import numbers

from layerlab.errors import ConfigError
from layerlab.sweep import Sweep

UNKNOWN_KEY = "{file}: {path}: unknown key; expected one of {valid}.{hint} Remove it or fix its spelling."
MISSING = "{file}: {path}: missing; expected {expected}. Add it, e.g. {example}."
BAD_VALUE = "{file}: {path}: expected {expected}; received {received!r}. {fix}"
BAD_TABLE = ("{file}: {path}: expected a value or {{ sweep = [...] }}; received a table with keys {keys}. "
             "Write e.g. rate = {{ sweep = [0.0, 0.5] }}.")
AT = "{file}: {path}{separator}{message}"  # a message from below, placed at its file and key path
DID_YOU_MEAN = "Did you mean {close!r}?"


def at(file, path, error, separator=": ") -> ConfigError:
    """`error` (raised below the study, e.g. by a layer) as reported at `file: path`."""
    return ConfigError(AT.format(file=file, path=path, separator=separator, message=error))


def bad(file, path, expected, received, fix) -> ConfigError:
    return ConfigError(BAD_VALUE.format(file=file, path=path, expected=expected, received=received, fix=fix))


def missing(file, path, expected, example) -> ConfigError:
    return ConfigError(MISSING.format(file=file, path=path, expected=expected, example=example))


def choice(file, path, value, valid, fix):
    """`value` if it is one of `valid`, else an error suggesting the closest one."""
    if isinstance(value, str) and value in valid:
        return value
    close = difflib.get_close_matches(str(value), list(valid), n=1)
    raise bad(file, path, f"one of {sorted(valid)}", value, DID_YOU_MEAN.format(close=close[0]) if close else fix)


def keys(file, where, table, valid):
    """Every key of `table` is one of `valid`; else the closest one is suggested."""
    for key in table:
        if key not in valid:
            close = difflib.get_close_matches(key, list(valid), n=1)
            raise ConfigError(UNKNOWN_KEY.format(file=file, path=f"{where}.{key}" if where else key,
                                                 valid=", ".join(valid),
                                                 hint=" " + DID_YOU_MEAN.format(close=close[0]) if close else ""))


def value(file, path, v):
    """A value as written, or a Sweep for { sweep = [...] }."""
    if isinstance(v, dict):
        if set(v) != {"sweep"}:
            raise ConfigError(BAD_TABLE.format(file=file, path=path, keys=sorted(v)))
        try:
            return Sweep(v["sweep"])
        except ConfigError as e:
            raise at(file, path, e, separator=".") from None
    return v


def integer(file, path, v, low):
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise bad(file, path, f"an int >= {low}", v, f"Write {_key(path)} = {max(low, 1)} (no quotes).")


def flag(file, path, v):
    if not isinstance(v, bool):
        raise bad(file, path, "true or false", v, f"Write {_key(path)} = true.")
    return v


def string(file, path, v):
    if not isinstance(v, str):
        raise bad(file, path, "a string", v, f'Write {_key(path)} = "...".')
    return v


def real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _key(path):
    return path.rsplit(".", 1)[-1]
