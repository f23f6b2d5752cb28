"""A study file read, validated up front, and turned into the Python API's objects."""
import tomllib
from pathlib import Path

import numpy as np

from layerlab._json import plain
from layerlab.datasets import _load, _registry
from layerlab.errors import ConfigError, DatasetError
from layerlab.models import Sequential
from layerlab.study import checks, sections
from layerlab.study.checks import at
from layerlab.study.sections import SECTIONS
from layerlab.sweep import Sweep, expand

NOT_FOUND = "{file}: no such study file; expected a TOML study such as studies/dropout.toml. Check the path."
NOT_READABLE = "{file}: cannot be read ({error}); expected a UTF-8 TOML file. Check the path."
NOT_TOML = "{file}: not valid TOML: {error}. Fix the syntax there (key = value, [section], [[layers]])."
NOT_A_TABLE_FIX = "Write [{section}] on its own line."
WRONG_SHAPE = ("{file}: layers[0].input_shape: expected {expected}, the shape of one {dataset} image; "
               "received {received}. Fix input_shape, or leave it out (the dataset gives it).")
TOO_FEW_UNITS = ("{file}: layers[{index}]: expected at least {classes} output units for {dataset}'s "
                 "{classes} classes; received {units}. Give the last layer units = {classes}.")
NO_DATA = "{file}: dataset.name = {name!r}: {error}"  # the dataset's own message says the fix
CLASSES = 10  # every registered dataset (MNIST, Fashion-MNIST) has labels 0-9


def load(path) -> "Study":
    """Reads and validates a study file; raises ConfigError naming the file and the key."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(NOT_FOUND.format(file=path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(NOT_READABLE.format(file=path, error=e)) from None
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
        checks.keys(self.file, "", data, SECTIONS)
        for section in ("dataset", "compile", "fit"):
            if section not in data:
                raise checks.missing(self.file, f"[{section}]", "a table", f"[{section}] with {SECTIONS[section][0]} = ...")
        for section in SECTIONS:
            if section not in ("layers", "callbacks") and section in data and not isinstance(data[section], dict):
                raise checks.bad(self.file, section, "a table", data[section], NOT_A_TABLE_FIX.format(section=section))
        study = data.get("study", {})
        checks.keys(self.file, "study", study, SECTIONS["study"])
        self.name = checks.string(self.file, "study.name", study.get("name", self.path.stem))
        self.description = checks.string(self.file, "study.description", study.get("description", ""))
        self.dataset = sections.dataset(self.file, data["dataset"])
        self._layers = data.get("layers")
        self.compile = sections.compile_(self.file, data["compile"])
        self.fit = sections.fit(self.file, data["fit"])
        self.plot = sections.plot(self.file, data.get("plot", {}))
        self.callbacks = sections.callbacks(self.file, data.get("callbacks", []))
        store = data.get("store", {})
        checks.keys(self.file, "store", store, SECTIONS["store"])
        self.keep_best = checks.flag(self.file, "store.keep_best", store.get("keep_best", False))
        self._check(self.model())

    def __repr__(self):
        return f"Study({self.file!r}, name={self.name!r})"

    # -- objects for the Python API ---------------------------------------------------------------
    def model(self) -> Sequential:
        """A fresh compiled Sequential; layers are named as in a fresh Keras session."""
        model = sections.model(self.file, self._layers)
        if model.input_shape is None:
            model.build((None,) + self.input_shape)
        optimizer = self.compile["optimizer"]
        optimizer = optimizer if isinstance(optimizer, str) else sections.optimizer(self.file, optimizer)
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
            raise type(e)(NO_DATA.format(file=self.file, name=d["name"], error=e)) from None
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
        out = {k: Sweep(v["sweep"]) if isinstance(v, dict) and "sweep" in v else v
               for k, v in f.items() if v is not None}
        if self.callbacks:  # fresh objects for every fit
            from layerlab import callbacks
            out["callbacks"] = [callbacks.from_config(c) for c in self.callbacks]
        return out

    def resolved(self, epochs=None) -> dict:
        """The spec with every default filled in, as JSON (the run store keeps it)."""
        fit = dict(self.fit, epochs=epochs if epochs is not None else self.fit["epochs"])
        return {"study": {"name": self.name, "description": self.description}, "dataset": dict(self.dataset),
                "model": self.model().get_config(), "compile": plain(self.compile), "fit": plain(fit),
                "plot": plain(self.plot), "store": {"keep_best": self.keep_best},
                **({"callbacks": plain(self.callbacks)} if self.callbacks else {})}

    # -- whole-model checks --------------------------------------------------------------------------
    def _check(self, model):
        """What needs the whole model: the input shape, the output units, the combinations."""
        shape, first = self.input_shape, model.input_shape
        if first is not None and tuple(first) != shape:
            raise ConfigError(WRONG_SHAPE.format(file=self.file, expected=shape, dataset=self.dataset["name"],
                                                 received=tuple(first)))
        for values in expand(model.static_sweeps()):  # one check per compile group
            try:
                units = model.with_values(values).shapes(shape)[-1][-1]
            except ConfigError as e:
                raise at(self.file, "layers", e) from None
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
                raise at(self.file, "fit", e, separator=".") from None
