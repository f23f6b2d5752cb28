"""Callbacks that write files: ModelCheckpoint, CSVLogger and TensorBoard, one set of files per variant.

A path may name the variant by its settings and, where Keras allows, the epoch and the logs:
`ckpt/{dropout.rate}/{epoch:02d}-{val_loss:.3f}.keras`. Settings are looked up by their full
name ('dropout.rate', 'seed') or their short one ('rate') when that is unique; the text they put
into a path is a safe name (no separators, no '..'), and the path must stay inside the folder
written before the first placeholder. Every folder is checked for writing before training starts.
"""
import csv
import os
import re
import string
import tempfile

from layerlab.errors import ConfigError

from .base import BAD_ARG, Callback, check_mode, check_monitor, lower_is_better

UNKNOWN_FIELD = ("{cls}: {arg}: {{{field}}} names neither a setting of this variant ({settings}) nor {others}; "
                 "received {arg}={received!r}. Use one of those names in braces.")
OUTSIDE = ("{cls}: {arg}: expected a path inside {base!r}; received {arg}={received!r}, which for this variant "
           "is {path!r}. Keep the placeholders out of the folders above.")
NOT_WRITABLE = ("{cls}: {arg}: the folder {folder!r} cannot be written ({error}); expected a writable folder. "
                "Pass a path in a folder you can write.")
SAME_FILE = ("{cls}: {arg}: every variant of the sweep would write {path!r}; expected a path that names the "
             "variant. Put a setting in braces, e.g. {example!r}.")
BAD_SUFFIX = ("ModelCheckpoint: filepath: expected a path ending in {suffix} (save_weights_only={flag}); "
              "received filepath={received!r}. Pass e.g. filepath='ckpt/best{suffix}'.")
_SAFE = re.compile(r"[^A-Za-z0-9_.=+-]+")


def safe(value) -> str:
    """A setting's value as text that can be one path component."""
    text = _SAFE.sub("_", str(value)).replace("..", "_")
    return text or "_"


def format_path(cls, arg, template, settings, fields=None, others="epoch or a logged metric"):
    """`template` with {setting} from the variant's settings and {name} from `fields` (epoch,
    metrics); fields=None formats only the settings and leaves the rest for later."""
    short = {}
    for k in settings:
        short.setdefault(k.rsplit(".", 1)[-1], []).append(k)
    out = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        out.append(literal.replace("{", "{{").replace("}", "}}") if fields is None else literal)
        if field is None:
            continue
        key = field if field in settings else (short[field][0] if len(short.get(field, ())) == 1 else None)
        if key is not None:
            out.append(safe(format(settings[key], spec or "")))
        elif fields is None:
            out.append("{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
        elif field in fields:
            out.append(safe(format(fields[field], spec or "")))
        else:
            raise ConfigError(UNKNOWN_FIELD.format(cls=cls, arg=arg, field=field, settings=", ".join(settings),
                                                   others=others, received=template))
    path = "".join(out)
    base = os.path.dirname(template.split("{", 1)[0]) or "."
    if not os.path.abspath(path).startswith(os.path.abspath(base).rstrip(os.sep) + os.sep):
        raise ConfigError(OUTSIDE.format(cls=cls, arg=arg, base=base, received=template, path=path))
    return path


def check_folder(cls, arg, path):
    """Creates the fixed folder part of `path` and checks that a file can be written in it."""
    folder = os.path.dirname(path.split("{", 1)[0]) or "."
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise ConfigError(NOT_WRITABLE.format(cls=cls, arg=arg, folder=folder, error=e.strerror or e)) from None


class _FileCallback(Callback):
    """A callback whose path is formatted per variant (`_path_arg` names the argument)."""

    _path_arg = "filepath"

    def check(self, names, settings):
        super().check(names, settings)
        self._check_paths(settings, {})

    def _check_paths(self, settings, fields):
        """Formats the path for this variant and checks its folder; `fields`: example values of
        what the path may name besides the settings (epoch, metrics)."""
        cls, arg = type(self).__name__, self._path_arg
        self._variant_path = format_path(cls, arg, getattr(self, arg), settings)
        format_path(cls, arg, self._variant_path, settings, fields, others=", ".join(fields) or "nothing else")
        check_folder(cls, arg, self._variant_path)


def check_distinct(callbacks_per_variant):
    """Refuses file callbacks whose paths are the same for two variants of a sweep."""
    if len(callbacks_per_variant) < 2:
        return
    for column in zip(*callbacks_per_variant):
        if not isinstance(column[0], _FileCallback):
            continue
        paths = [c._variant_path for c in column]
        if len(set(paths)) < len(paths):
            c = column[0]
            arg = c._path_arg
            head, tail = os.path.split(getattr(c, arg))
            raise ConfigError(SAME_FILE.format(cls=type(c).__name__, arg=arg, path=paths[0],
                                               example=os.path.join(head, "{seed}-" + tail)))


class ModelCheckpoint(_FileCallback):
    """Saves a variant's model (or weights) after each epoch, or only when `monitor` improved.

    filepath may name the variant, the epoch (from 1) and the logs:
    `ModelCheckpoint('ckpt/{dropout.rate}/{epoch:02d}-{val_loss:.3f}.keras')`.
    """

    _state = ("best",)

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        cls = "ModelCheckpoint"
        check_monitor(cls, monitor)
        check_mode(cls, mode)
        if save_freq != "epoch":
            raise ConfigError(BAD_ARG.format(cls=cls, arg="save_freq", expected="'epoch' (layerlab runs whole "
                                             "epochs in one program)", received=save_freq, example="'epoch'"))
        filepath = os.fspath(filepath)
        suffix = ".weights.h5" if save_weights_only else ".keras"
        if not filepath.endswith(suffix):
            raise ConfigError(BAD_SUFFIX.format(suffix=suffix, flag=bool(save_weights_only), received=filepath))
        self.filepath, self.monitor, self.verbose = filepath, monitor, verbose
        self.save_best_only, self.save_weights_only, self.mode = bool(save_best_only), bool(save_weights_only), mode
        self.initial_value_threshold = initial_value_threshold
        self.best = initial_value_threshold if initial_value_threshold is not None else (
            float("inf") if lower_is_better(monitor, mode) else float("-inf"))

    def check(self, names, settings):
        if self.save_best_only:
            Callback.check(self, names, settings)
        self._check_paths(settings, {"epoch": 1, **{n: 0.0 for n in names}})

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        current = logs.get(self.monitor)
        if self.save_best_only:
            lower = lower_is_better(self.monitor, self.mode)
            if current is None or not (current < self.best if lower else current > self.best):
                return
            self.best = float(current)
        path = format_path("ModelCheckpoint", "filepath", self._variant_path, {}, {"epoch": epoch + 1, **logs})
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)

    def __repr__(self):
        return (f"ModelCheckpoint(filepath={self.filepath!r}, monitor={self.monitor!r}, "
                f"save_best_only={self.save_best_only!r}, save_weights_only={self.save_weights_only!r}, "
                f"mode={self.mode!r})")


class CSVLogger(_FileCallback):
    """Writes each epoch's logs as a CSV row (`epoch` first, then the logs by name), as Keras does."""

    _path_arg = "filename"

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, bool(append)
        self._file = self._writer = None

    def on_train_begin(self, logs=None):
        path = self._variant_path
        append = self.append or getattr(self, "_resumed", False)  # a resumed run adds to its rows
        self._header = not (append and os.path.exists(path) and os.path.getsize(path) > 0)
        self._file = open(path, "a" if append else "w", newline="")
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        keys = sorted(logs)
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + keys, delimiter=self.sep)
            if self._header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs[k] for k in keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None

    def __repr__(self):
        return f"CSVLogger(filename={self.filename!r}, separator={self.sep!r}, append={self.append!r})"
