"""Studies from TOML files, parsed into the objects of the Python API and validated up front.

A study names the dataset, the layers (any argument may be `{ sweep = [...] }`), the compile and
fit settings and the plot settings; `studies/dropout.toml` is the article's experiment. Every
error names the file, the key path, what was expected and received, and the fix, e.g.
`studies/x.toml: layers[2].rate: expected a float in the range [0, 1); received 1.5. ...`.
Nothing in a study file is evaluated as code: activations, optimizers and losses are names.

>>> from layerlab import study
>>> s = study.load("studies/dropout.toml")          # doctest: +SKIP
>>> s.model().summary()                              # doctest: +SKIP
"""
import difflib
import inspect
import numbers
import tomllib
from pathlib import Path

import numpy as np

from layerlab import backend, losses, optimizers
from layerlab.datasets import _load, _registry
from layerlab.errors import ConfigError, DatasetError
from layerlab.layers import LAYERS
from layerlab.models import Sequential
from layerlab.sweep import Sweep, expand

NOT_FOUND = "{file}: no such study file; expected a TOML study such as studies/dropout.toml. Check the path."
NOT_TOML = "{file}: not valid TOML: {error}. Fix the syntax there (key = value, [section], [[layers]])."
UNKNOWN_KEY = "{file}: {path}: unknown key; expected one of {valid}.{hint} Remove it or fix its spelling."
MISSING = "{file}: {path}: missing; expected {expected}. Add it, e.g. {example}."
BAD_VALUE = "{file}: {path}: expected {expected}; received {received!r}. {fix}"
BAD_TABLE = ("{file}: {path}: expected a value or {{ sweep = [...] }}; received a table with keys {keys}. "
             "Write e.g. rate = {{ sweep = [0.0, 0.5] }}.")
WRONG_SHAPE = ("{file}: layers[0].input_shape: expected {expected}, the shape of one {dataset} image; "
               "received {received}. Fix input_shape, or leave it out (the dataset gives it).")
TOO_FEW_UNITS = ("{file}: layers[{index}]: expected at least {classes} output units for {dataset}'s "
                 "{classes} classes; received {units}. Give the last layer units = {classes}.")

SECTIONS = {  # the keys each section may hold
    "study": ("name", "description"),
    "dataset": ("name", "limit_train", "limit_test", "divide_by", "validation"),
    "layers": (),
    "compile": ("optimizer", "loss", "metrics"),
    "fit": ("epochs", "batch_size", "seed", "repeats", "shuffle", "independent_draws", "combinations"),
    "plot": ("metrics", "ylim"),
    "store": ("keep_best",),
}
LAYER_TYPES = {**LAYERS, "Input": LAYERS["InputLayer"]}
VALIDATIONS = ("test", "none")
METRIC_NAMES = ("loss", "accuracy", "val_loss", "val_accuracy")
CLASSES = 10  # every registered dataset (MNIST, Fashion-MNIST) has labels 0-9


def load(path) -> "Study":
    """Reads and validates a study file; raises ConfigError naming the file and the key."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(NOT_FOUND.format(file=path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot be read ({e}); expected a UTF-8 TOML file. Check the path.") from None
    return loads(text, path)


def loads(text: str, path="<study>") -> "Study":
    """A study from TOML text; `path` is what error messages call it."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(NOT_TOML.format(file=path, error=e)) from None
    return Study(path, text, data)


class Study:
    """A validated study: `model()` builds the compiled Sequential, `load_data()` the arrays,
    `fit_kwargs()` the rest of fit's arguments, `resolved()` the spec with every default."""

    def __init__(self, path, text, data: dict):
        self.path, self.text, self.file = Path(path), text, str(path)
        _keys(self.file, "", data, SECTIONS)
        for section in ("dataset", "compile", "fit"):
            if section not in data:
                raise _missing(self.file, f"[{section}]", "a table", f"[{section}] with {SECTIONS[section][0]} = ...")
        for section in SECTIONS:
            if section != "layers" and section in data and not isinstance(data[section], dict):
                raise _bad(self.file, section, "a table", data[section], f"Write [{section}] on its own line.")
        study = data.get("study", {})
        _keys(self.file, "study", study, SECTIONS["study"])
        self.name = _string(self.file, "study.name", study.get("name", self.path.stem))
        self.description = _string(self.file, "study.description", study.get("description", ""))
        self.dataset = _dataset(self.file, data["dataset"])
        self._layers = data.get("layers")
        self.compile = _compile(self.file, data["compile"])
        self.fit = _fit(self.file, data["fit"])
        self.plot = _plot(self.file, data.get("plot", {}))
        store = data.get("store", {})
        _keys(self.file, "store", store, SECTIONS["store"])
        self.keep_best = _flag(self.file, "store.keep_best", store.get("keep_best", False))
        self._check(self.model())

    def __repr__(self):
        return f"Study({self.file!r}, name={self.name!r})"

    # -- objects for the Python API ---------------------------------------------------------------
    def model(self) -> Sequential:
        """A fresh compiled Sequential; layers are named as in a fresh Keras session."""
        model = _model(self.file, self._layers)
        if model.input_shape is None:
            model.build((None,) + self.input_shape)
        optimizer = self.compile["optimizer"]
        optimizer = optimizer if isinstance(optimizer, str) else _optimizer(self.file, optimizer)
        model.compile(optimizer=optimizer, loss=self.compile["loss"], metrics=self.compile["metrics"])
        return model

    @property
    def input_shape(self) -> tuple:
        return tuple(_registry.REGISTRY[self.dataset["name"]].files[0].shape[1:])

    def load_data(self):
        """((x, y), validation_data or None, (dataset name, sha256 of the raw arrays used))."""
        d = self.dataset
        try:
            (x, y), (xt, yt) = _load.load(d["name"])
        except (DatasetError, ConfigError) as e:
            raise type(e)(f"{self.file}: dataset.name = {d['name']!r}: {e}") from None
        x, y = x[:d["limit_train"]], y[:d["limit_train"]]
        xt, yt = xt[:d["limit_test"]], yt[:d["limit_test"]]
        from layerlab.store import data_checksum
        checksum = data_checksum((x, y, xt, yt))
        # As the article: x / 255.0 in float64, then fit's float32.
        x, xt = (x / d["divide_by"]).astype(np.float32), (xt / d["divide_by"]).astype(np.float32)
        validation = (xt, yt) if d["validation"] == "test" else None
        return (x, y), validation, (d["name"], checksum)

    def fit_kwargs(self, epochs=None) -> dict:
        """fit()'s keyword arguments (sweeps as layerlab.sweep); `epochs` overrides the study's."""
        f = dict(self.fit)
        if epochs is not None:
            f["epochs"] = epochs
        if isinstance(self.dataset["validation"], float):
            f["validation_split"] = self.dataset["validation"]
        return {k: Sweep(v["sweep"]) if isinstance(v, dict) and "sweep" in v else v
                for k, v in f.items() if v is not None}

    def resolved(self, epochs=None) -> dict:
        """The spec with every default filled in, as JSON (the run store keeps it)."""
        fit = dict(self.fit, epochs=epochs if epochs is not None else self.fit["epochs"])
        return {"study": {"name": self.name, "description": self.description}, "dataset": dict(self.dataset),
                "model": self.model().get_config(), "compile": _jsonable(self.compile), "fit": _jsonable(fit),
                "plot": _jsonable(self.plot), "store": {"keep_best": self.keep_best}}

    # -- whole-model checks --------------------------------------------------------------------------
    def _check(self, model):
        """What needs the whole model: the input shape, the output units, the combinations."""
        shape, first = self.input_shape, model.input_shape
        if first is not None and tuple(first) != shape:
            raise ConfigError(WRONG_SHAPE.format(file=self.file, expected=shape, dataset=self.dataset["name"],
                                                 received=tuple(first)))
        static = {k: s for k, s in model.sweeps().items() if not _dynamic(model, k)}
        for values in expand(static):  # one check per compile group
            try:
                units = model.with_values(values).shapes(shape)[-1][-1]
            except ConfigError as e:
                raise ConfigError(f"{self.file}: layers: {e}") from None
            if self.compile["loss"].startswith("sparse") and units < CLASSES:
                raise ConfigError(TOO_FEW_UNITS.format(file=self.file, index=len(self._layers) - 1, classes=CLASSES,
                                                       dataset=self.dataset["name"], units=units))
        if self.fit["combinations"] is not None:
            fit_sweeps = {k: Sweep(self.fit[k]["sweep"]) for k in ("batch_size", "seed")
                          if isinstance(self.fit[k], dict)}
            sweeps = {**model.sweeps(), **model.compiled.optimizer.sweeps(), **fit_sweeps}
            try:
                expand(sweeps, self.fit["combinations"])
            except ConfigError as e:
                raise ConfigError(f"{self.file}: fit.{e}") from None


def _dynamic(model, location):
    """Whether a swept layer setting is a number the engine takes per variant (not a compile group)."""
    name, _, arg = location.rpartition(".")
    return arg in next(layer for layer in model.layers if layer.name == name)._dynamic


# -- sections ------------------------------------------------------------------------------------------
def _bad(file, path, expected, received, fix):
    return ConfigError(BAD_VALUE.format(file=file, path=path, expected=expected, received=received, fix=fix))


def _missing(file, path, expected, example):
    return ConfigError(MISSING.format(file=file, path=path, expected=expected, example=example))


def _choice(file, path, value, valid, fix):
    """`value` if it is one of `valid`, else an error suggesting the closest one."""
    if isinstance(value, str) and value in valid:
        return value
    close = difflib.get_close_matches(str(value), list(valid), n=1)
    raise _bad(file, path, f"one of {sorted(valid)}", value, f"Did you mean {close[0]!r}?" if close else fix)


def _keys(file, where, table, valid):
    for key in table:
        if key not in valid:
            close = difflib.get_close_matches(key, list(valid), n=1)
            raise ConfigError(UNKNOWN_KEY.format(file=file, path=f"{where}.{key}" if where else key,
                                                 valid=", ".join(valid),
                                                 hint=f" Did you mean {close[0]!r}?" if close else ""))


def _dataset(file, table):
    _keys(file, "dataset", table, SECTIONS["dataset"])
    if "name" not in table:
        raise _missing(file, "dataset.name", f"one of {sorted(_registry.REGISTRY)}", 'name = "mnist"')
    name = _choice(file, "dataset.name", table["name"], _registry.REGISTRY,
                   "Use a dataset layerlab provides (`layerlab datasets` lists them).")
    spec = _registry.REGISTRY[name]
    out = {"name": name}
    for key, n in (("limit_train", spec.files[0].shape[0]), ("limit_test", spec.files[2].shape[0])):
        out[key] = table.get(key, n)
        if isinstance(out[key], bool) or not isinstance(out[key], int) or not 1 <= out[key] <= n:
            raise _bad(file, f"dataset.{key}", f"an int from 1 to {n}", out[key],
                       f"Write e.g. {key} = {min(n, 2000)}.")
    out["divide_by"] = table.get("divide_by", 255.0)
    if not _real(out["divide_by"]) or out["divide_by"] <= 0:
        raise _bad(file, "dataset.divide_by", "a number > 0", out["divide_by"],
                   "Write divide_by = 255.0 for pixels in [0, 1].")
    v = table.get("validation", "test")
    if not (v in VALIDATIONS or (_real(v) and 0 < v < 1)):
        raise _bad(file, "dataset.validation", '"test", "none" or a fraction in (0, 1)', v,
                   'Write validation = "test" to validate on the test split.')
    out["validation"] = float(v) if _real(v) else v
    return out


def _model(file, layers):
    if not isinstance(layers, list) or not layers or not all(isinstance(t, dict) for t in layers):
        raise _missing(file, "layers", "one [[layers]] table per layer",
                       '[[layers]] with type = "Dense" and units = 10')
    counters, built = {}, []
    for i, table in enumerate(layers):
        path = f"layers[{i}]"
        if "type" not in table:
            raise _missing(file, f"{path}.type", f"one of {sorted(LAYER_TYPES)}", 'type = "Dense"')
        kind = _choice(file, f"{path}.type", table["type"], LAYER_TYPES, "Use a layer layerlab provides.")
        klass = LAYER_TYPES[kind]
        args = {k: v for k, v in table.items() if k != "type"}
        _keys(file, path, args, _arguments(klass))
        kwargs = {k: _value(file, f"{path}.{k}", v) for k, v in args.items()}
        if "name" not in kwargs:  # Keras' names in a fresh session, whatever this session counted
            base = backend.snake_case(klass.__name__)
            kwargs["name"] = base if base not in counters else f"{base}_{counters[base]}"
            counters[base] = counters.get(base, 0) + 1
        try:
            built.append(klass(**kwargs))
        except ConfigError as e:
            raise ConfigError(_relocate(file, path, klass, kwargs, str(e))) from None
    try:
        return Sequential(built, name="sequential")
    except ConfigError as e:
        raise ConfigError(f"{file}: {str(e).removeprefix('Sequential: ')}") from None


def _arguments(klass):
    own = [p for p in inspect.signature(klass.__init__).parameters if p not in ("self", "kwargs")]
    return list(dict.fromkeys(own + ["name", "input_shape", "trainable"]))


def _relocate(file, path, klass, kwargs, message):
    """'Dropout: rate: expected ...' -> 'file: layers[2].rate: expected ...'."""
    for prefix in (f"{klass.__name__}: ", "Input: "):
        message = message.removeprefix(prefix)
    for key in list(kwargs) + (["shape"] if klass.__name__ == "InputLayer" else []):
        if message.startswith(f"{key}: "):
            return f"{file}: {path}.{key}: {message[len(key) + 2:]}"
    return f"{file}: {path}: {message}"


def _value(file, path, v):
    """A value as written, or a Sweep for { sweep = [...] }."""
    if isinstance(v, dict):
        if set(v) != {"sweep"}:
            raise ConfigError(BAD_TABLE.format(file=file, path=path, keys=sorted(v)))
        try:
            return Sweep(v["sweep"])
        except ConfigError as e:
            raise ConfigError(f"{file}: {path}.{e}") from None
    return v


def _compile(file, table):
    _keys(file, "compile", table, SECTIONS["compile"])
    out = {"optimizer": table.get("optimizer", "rmsprop"), "loss": table.get("loss"),
           "metrics": table.get("metrics", [])}
    if out["loss"] is None:
        raise _missing(file, "compile.loss", "a loss name", 'loss = "sparse_categorical_crossentropy"')
    if isinstance(out["metrics"], str):
        out["metrics"] = [out["metrics"]]
    opt = out["optimizer"]
    if not isinstance(opt, (str, dict)):
        raise _bad(file, "compile.optimizer", "a name or a table", opt,
                   'Write optimizer = "adam" or optimizer = { name = "adam", learning_rate = 0.001 }.')
    try:  # each check's message starts with its key: 'loss: expected ...'
        losses.get(out["loss"] if isinstance(out["loss"], str) else repr(out["loss"]))
        losses.check_metrics(out["metrics"])
        if isinstance(opt, str):
            optimizers.get(opt)
    except ConfigError as e:
        raise ConfigError(f"{file}: compile.{e}") from None
    if isinstance(opt, dict):
        _optimizer(file, opt)
    return out


def _optimizer(file, table):
    name = table.get("name")
    name = _choice(file, "compile.optimizer.name", name.lower() if isinstance(name, str) else name,
                   optimizers.OPTIMIZERS, 'Write name = "adam".')
    klass = optimizers.OPTIMIZERS[name]
    args = {k: v for k, v in table.items() if k != "name"}
    _keys(file, "compile.optimizer", args, [a[0] for a in klass._args])
    try:
        return klass(**{k: _value(file, f"compile.optimizer.{k}", v) for k, v in args.items()})
    except ConfigError as e:
        raise ConfigError(_relocate(file, "compile.optimizer", klass, args, str(e))) from None


def _fit(file, table):
    _keys(file, "fit", table, SECTIONS["fit"])
    if "epochs" not in table:
        raise _missing(file, "fit.epochs", "a positive int", "epochs = 10")
    out = {"epochs": table["epochs"], "batch_size": table.get("batch_size", 32), "seed": table.get("seed", 0),
           "repeats": table.get("repeats"), "shuffle": table.get("shuffle", True),
           "independent_draws": table.get("independent_draws", False), "combinations": table.get("combinations")}
    _int(file, "fit.epochs", out["epochs"], 1)
    for key, low in (("batch_size", 1), ("seed", 0)):
        value = _value(file, f"fit.{key}", out[key])
        for v in (value.values if isinstance(value, Sweep) else (value,)):
            _int(file, f"fit.{key}", v, low)
        out[key] = value.to_config() if isinstance(value, Sweep) else value
    if out["repeats"] is not None:
        _int(file, "fit.repeats", out["repeats"], 1)
        if isinstance(out["seed"], dict):
            raise _bad(file, "fit.repeats", "repeats or a seed sweep, not both", out["repeats"],
                       "Drop repeats, or make seed one int.")
    for key in ("shuffle", "independent_draws"):
        _flag(file, f"fit.{key}", out[key])
    combos = out["combinations"]
    if combos is not None and (not isinstance(combos, list) or not all(isinstance(c, dict) for c in combos)):
        raise _bad(file, "fit.combinations", "a list of tables", combos,
                   'Write combinations = [{ "dropout.rate" = 0.2 }].')
    return out


def _plot(file, table):
    _keys(file, "plot", table, SECTIONS["plot"])
    metrics = table.get("metrics", ["accuracy", "loss", "val_accuracy", "val_loss"])  # the article's order
    if not isinstance(metrics, list) or not all(m in METRIC_NAMES for m in metrics):
        raise _bad(file, "plot.metrics", f"a list of {list(METRIC_NAMES)}", metrics,
                   'Write metrics = ["loss", "val_loss"].')
    ylim = table.get("ylim", {})
    if not isinstance(ylim, dict):
        raise _bad(file, "plot.ylim", "a table of metric = [low, high]", ylim,
                   "Write ylim = { val_loss = [0.05, 0.30] }.")
    _keys(file, "plot.ylim", ylim, METRIC_NAMES)
    for k, lim in ylim.items():
        if not (isinstance(lim, list) and len(lim) == 2 and all(_real(v) for v in lim) and lim[0] < lim[1]):
            raise _bad(file, f"plot.ylim.{k}", "[low, high] with low < high", lim, f"Write {k} = [0.0, 1.0].")
    return {"metrics": metrics, "ylim": {k: tuple(float(v) for v in lim) for k, lim in ylim.items()}}


# -- small checks -----------------------------------------------------------------------------------
def _int(file, path, v, low):
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise _bad(file, path, f"an int >= {low}", v, f"Write {path.rsplit('.', 1)[-1]} = {max(low, 1)} (no quotes).")


def _flag(file, path, v):
    if not isinstance(v, bool):
        raise _bad(file, path, "true or false", v, f"Write {path.rsplit('.', 1)[-1]} = true.")
    return v


def _string(file, path, v):
    if not isinstance(v, str):
        raise _bad(file, path, "a string", v, f'Write {path.rsplit(".", 1)[-1]} = "...".')
    return v


def _real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
