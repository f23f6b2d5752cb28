"""A study file read, validated up front, and turned into the Python API's objects."""
import hashlib
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
WRONG_SHAPE = ("{file}: {where}[0].input_shape: expected {expected}, the shape of one {dataset} image; "
               "received {received}. Fix input_shape, or leave it out (the dataset gives it).")
TOO_FEW_UNITS = ("{file}: {where}[{index}]: expected at least {classes} output units for {dataset}'s "
                 "{classes} classes; received {units}. Give the last layer units = {classes}.")
NO_DATA = "{file}: dataset.name = {name!r}: {error}"  # the dataset's own message says the fix
SEVERAL_MODELS = ("{file}: models: this study compares the models {names}; expected one model for model(). "
                  "Use study.models() (a dict by name) or study.train(study.data()[0]).")
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
    """A validated study: `model()` builds the compiled Sequential (`models()` the models of a
    study that compares several, by name), `load_data()` the arrays, `fit_kwargs()` the rest of
    fit's arguments, `resolved()` the spec with every default; `data()` and `train(data)` train
    either kind, as `layerlab run` does.

    >>> s = study.load("studies/layer-types.toml")                       # doctest: +SKIP
    >>> data, dataset = s.data()                                          # doctest: +SKIP
    >>> result = s.train(data, epochs=3, store="layerlab-runs/layerlab.db")  # doctest: +SKIP
    """

    def __init__(self, path, text, data: dict):
        self.path, self.text, self.file = Path(path), text, str(path)
        checks.keys(self.file, "", data, SECTIONS)
        for section in ("dataset", "compile", "fit"):
            if section not in data:
                raise checks.missing(self.file, f"[{section}]", "a table", f"[{section}] with {SECTIONS[section][0]} = ...")
        for section in SECTIONS:
            if section not in ("layers", "models", "callbacks") and section in data and not isinstance(data[section], dict):
                raise checks.bad(self.file, section, "a table", data[section], NOT_A_TABLE_FIX.format(section=section))
        study = data.get("study", {})
        checks.keys(self.file, "study", study, SECTIONS["study"])
        self.name = checks.string(self.file, "study.name", study.get("name", self.path.stem))
        self.description = checks.string(self.file, "study.description", study.get("description", ""))
        self.dataset = sections.dataset(self.file, data["dataset"])
        name = self.dataset["name"]
        self.datasets = list(name["sweep"]) if isinstance(name, dict) else [name]
        self._layers = data.get("layers")
        self._models = self._model_tables(data)
        self.compile = sections.compile_(self.file, data["compile"])
        self.fit = sections.fit(self.file, data["fit"])
        self.plot = sections.plot(self.file, data.get("plot", {}))
        self.callbacks = sections.callbacks(self.file, data.get("callbacks", []))
        store = data.get("store", {})
        checks.keys(self.file, "store", store, SECTIONS["store"])
        self.keep_best = checks.flag(self.file, "store.keep_best", store.get("keep_best", False))
        if self._models is None:
            self._check(self.model())
        else:
            for i, model in enumerate(self.models().values()):
                self._check(model, f"models[{i}].layers")

    def __repr__(self):
        return f"Study({self.file!r}, name={self.name!r})"

    def _model_tables(self, data):
        """The [[models]] tables, or None for a study of one model ([[layers]])."""
        if "models" not in data:
            if len(self.datasets) > 1:
                raise checks.bad(self.file, "dataset.name", "one dataset for a study of one model", self.datasets,
                                 "Give each architecture a [[models]] table, or name one dataset.")
            return None
        if "layers" in data:
            raise checks.bad(self.file, "layers", "[[layers]] or [[models]], not both", "both",
                             "Put the layers inside a [[models]] table ([[models.layers]]).")
        return sections.models(self.file, data["models"])

    @property
    def several(self) -> bool:
        """Whether the study compares models ([[models]]) rather than sweeping one ([[layers]])."""
        return self._models is not None

    # -- objects for the Python API ---------------------------------------------------------------
    def model(self) -> Sequential:
        """A fresh compiled Sequential; layers are named as in a fresh Keras session."""
        if self.several:
            raise ConfigError(SEVERAL_MODELS.format(file=self.file, names=list(self.models())))
        return self._compiled(sections.model(self.file, self._layers))

    def models(self) -> dict:
        """{name: fresh compiled Sequential}, one per [[models]] table (for a [[layers]] study its one
        model under the study's name); each named as in a fresh Keras session."""
        if not self.several:
            return {self.name: self.model()}
        return {m["name"]: self._compiled(sections.model(self.file, m["layers"], f"models[{i}].layers"))
                for i, m in enumerate(self._models)}

    def summary(self, print_fn=None):
        """model.summary() of each model, under its name when the study compares several."""
        for name, model in self.models().items():
            if self.several:
                (print_fn or print)(f"Model {name!r}")
            model.summary(print_fn=print_fn)

    def _compiled(self, model):
        if model.input_shape is None:
            model.build((None,) + self.input_shape)
        optimizer = self.compile["optimizer"]
        optimizer = optimizer if isinstance(optimizer, str) else sections.optimizer(self.file, optimizer)
        model.compile(optimizer=optimizer, loss=self.compile["loss"], metrics=self.compile["metrics"])
        return model

    @property
    def input_shape(self) -> tuple:
        return tuple(_registry.REGISTRY[self.datasets[0]].files[0].shape[1:])  # every dataset has it

    def load_data(self, name=None):
        """((x, y), validation_data or None, (dataset name, sha256 of the raw arrays used)) of the
        study's dataset, or of `name` among them."""
        d = dict(self.dataset, name=name or self.datasets[0])
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

    def data(self):
        """(data for fit(), (dataset name, sha256)) for the run store: every dataset of the study."""
        loaded = {name: self.load_data(name) for name in self.datasets}
        if len(loaded) == 1:
            train, validation, dataset = loaded[self.datasets[0]]
            return (train, validation), dataset
        checksum = hashlib.sha256(" ".join(f"{k}:{d[2][1]}" for k, d in loaded.items()).encode()).hexdigest()
        return {k: (d[0], d[1]) for k, d in loaded.items()}, ("+".join(loaded), checksum)

    def train(self, data, epochs=None, **options):
        """Trains the study on `data` (from data()): its model's fit(), or fit_models() for its
        models and datasets. options: fit's verbose, store, backend, resume."""
        kwargs = {**self.fit_kwargs(epochs), **options}
        if not self.several:
            (x, y), validation = data
            return self.model().fit(x, y, validation_data=validation, **kwargs)
        from layerlab.training.several import fit_models
        kwargs.pop("combinations", None)  # refused when the study is read
        batch = {m["name"]: Sweep(m["batch_size"]["sweep"]) if isinstance(m["batch_size"], dict) else m["batch_size"]
                 for m in self._models if m["batch_size"] is not None}
        if batch:
            kwargs["batch_size"] = {name: batch.get(name, kwargs.get("batch_size", 32)) for name in self.models()}
        if isinstance(data, dict):
            return fit_models(self.models(), datasets=data, **kwargs)
        (x, y), validation = data
        return fit_models(self.models(), x, y, validation_data=validation, **kwargs)

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
        model = {"models": [{"name": name, "model": m.get_config(), "batch_size": t["batch_size"]}
                            for (name, m), t in zip(self.models().items(), self._models)]} if self.several \
            else {"model": self.model().get_config()}
        return {"study": {"name": self.name, "description": self.description}, "dataset": dict(self.dataset),
                **model, "compile": plain(self.compile), "fit": plain(fit),
                "plot": plain(self.plot), "store": {"keep_best": self.keep_best},
                **({"callbacks": plain(self.callbacks)} if self.callbacks else {})}

    # -- whole-model checks --------------------------------------------------------------------------
    def _check(self, model, where="layers"):
        """What needs the whole model: the input shape, the output units, the combinations."""
        shape, first = self.input_shape, model.input_shape
        if first is not None and tuple(first) != shape:
            raise ConfigError(WRONG_SHAPE.format(file=self.file, where=where, expected=shape,
                                                 dataset=self.datasets[0], received=tuple(first)))
        for values in expand(model.static_sweeps()):  # one check per compile group
            try:
                units = model.with_values(values).shapes(shape)[-1][-1]
            except ConfigError as e:
                raise at(self.file, where, e) from None
            if self.compile["loss"].startswith("sparse") and units < CLASSES:
                raise ConfigError(TOO_FEW_UNITS.format(file=self.file, where=where, index=len(model.layers) - 1,
                                                       classes=CLASSES, dataset=self.datasets[0], units=units))
        if self.fit["combinations"] is not None and self.several:
            raise checks.bad(self.file, "fit.combinations", "no combinations in a study of several models",
                             "a list", "Leave combinations out; each model trains its whole grid.")
        if self.fit["combinations"] is not None:
            fit_sweeps = {k: Sweep(self.fit[k]["sweep"]) for k in ("batch_size", "seed")
                          if isinstance(self.fit[k], dict)}
            sweeps = {**model.sweeps(), **model.compiled.optimizer.sweeps(), **fit_sweeps}
            try:
                expand(sweeps, self.fit["combinations"])
            except ConfigError as e:
                raise at(self.file, "fit", e, separator=".") from None
