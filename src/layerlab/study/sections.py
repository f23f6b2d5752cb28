"""The sections of a study file, each parsed into the Python API's values and checked on its own:
[dataset] [[layers]] [compile] [fit] [plot] (the whole-model checks are Study's)."""
import inspect
import re

from layerlab import losses, optimizers, session
from layerlab.datasets import _registry
from layerlab.errors import ConfigError
from layerlab.layers import LAYERS
from layerlab.models import Sequential
from layerlab.study import checks
from layerlab.study.checks import at, bad, choice, keys, missing, real
from layerlab.sweep import Sweep

SECTIONS = {  # the keys each section may hold
    "study": ("name", "description"),
    "dataset": ("name", "limit_train", "limit_test", "divide_by", "validation"),
    "layers": (),
    "models": (),
    "compile": ("optimizer", "loss", "metrics"),
    "fit": ("epochs", "batch_size", "seed", "repeats", "shuffle", "independent_draws", "combinations"),
    "plot": ("metrics", "ylim"),
    "store": ("keep_best",),
    "callbacks": (),
}
LAYER_TYPES = {**LAYERS, "Input": LAYERS["InputLayer"]}
VALIDATIONS = ("test", "none")
METRIC_NAMES = ("loss", "accuracy", "val_loss", "val_accuracy")


def dataset(file, table) -> dict:
    """{name, limit_train, limit_test, divide_by, validation}, every default filled in."""
    keys(file, "dataset", table, SECTIONS["dataset"])
    if "name" not in table:
        raise missing(file, "dataset.name", f"one of {sorted(_registry.REGISTRY)}", 'name = "mnist"')
    named = checks.value(file, "dataset.name", table["name"])  # one name, or { sweep = [...] } to train on each
    names = [choice(file, "dataset.name", n, _registry.REGISTRY,
                    "Use a dataset layerlab provides (`layerlab datasets` lists them).")
             for n in (named.values if isinstance(named, Sweep) else (named,))]
    shapes = {n: _registry.REGISTRY[n].files[0].shape[1:] for n in names}
    if len(set(shapes.values())) > 1:
        raise bad(file, "dataset.name", "datasets of one sample shape", shapes, "Sweep datasets of the same shape.")
    name = names[0]
    spec = min((_registry.REGISTRY[n] for n in names), key=lambda s: s.files[0].shape[0])
    out = {"name": named.to_config() if isinstance(named, Sweep) else name}
    for key, n in (("limit_train", spec.files[0].shape[0]), ("limit_test", spec.files[2].shape[0])):
        out[key] = table.get(key, n)
        if isinstance(out[key], bool) or not isinstance(out[key], int) or not 1 <= out[key] <= n:
            raise bad(file, f"dataset.{key}", f"an int from 1 to {n}", out[key], f"Write e.g. {key} = {min(n, 2000)}.")
    out["divide_by"] = table.get("divide_by", 255.0)
    if not real(out["divide_by"]) or out["divide_by"] <= 0:
        raise bad(file, "dataset.divide_by", "a number > 0", out["divide_by"],
                  "Write divide_by = 255.0 for pixels in [0, 1].")
    v = table.get("validation", "test")
    if not (v in VALIDATIONS or (real(v) and 0 < v < 1)):
        raise bad(file, "dataset.validation", '"test", "none" or a fraction in (0, 1)', v,
                  'Write validation = "test" to validate on the test split.')
    out["validation"] = float(v) if real(v) else v
    return out


def model(file, layers, where="layers") -> Sequential:
    """The Sequential of the [[layers]] tables (`where` in the file); layers are named as in a
    fresh Keras session."""
    if not isinstance(layers, list) or not layers or not all(isinstance(t, dict) for t in layers):
        raise missing(file, where, f"one [[{where}]] table per layer", f'[[{where}]] with type = "Dense" and units = 10')
    counters, built = {}, []
    for i, table in enumerate(layers):
        path = f"{where}[{i}]"
        if "type" not in table:
            raise missing(file, f"{path}.type", f"one of {sorted(LAYER_TYPES)}", 'type = "Dense"')
        kind = choice(file, f"{path}.type", table["type"], LAYER_TYPES, "Use a layer layerlab provides.")
        klass = LAYER_TYPES[kind]
        args = {k: v for k, v in table.items() if k != "type"}
        keys(file, path, args, _arguments(klass))
        kwargs = {k: checks.value(file, f"{path}.{k}", v) for k, v in args.items()}
        if "name" not in kwargs:  # Keras' names in a fresh session, whatever this session counted
            base = session.snake_case(klass.__name__)
            kwargs["name"] = base if base not in counters else f"{base}_{counters[base]}"
            counters[base] = counters.get(base, 0) + 1
        try:
            built.append(klass(**kwargs))
        except ConfigError as e:
            raise _relocate(file, path, klass, kwargs, str(e)) from None
    try:
        return Sequential(built, name="sequential")
    except ConfigError as e:
        message = str(e).removeprefix("Sequential: ")
        raise (at(file, "", message, separator="") if where == "layers" else at(file, where, message)) from None


MODEL_KEYS = ("name", "layers", "batch_size")
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
MODEL_NAME_FIX = 'Write name = "conv_bn" (letters, digits, "_" and "-").'


def models(file, tables) -> list:
    """[{name, layers, batch_size}] of the [[models]] tables: each model its own name, its own
    [[models.layers]] (sweeps inside) and optionally its own batch_size."""
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise missing(file, "models", "one [[models]] table per model", '[[models]] with name = "dense"')
    out, seen = [], {}
    for i, table in enumerate(tables):
        path = f"models[{i}]"
        keys(file, path, table, MODEL_KEYS)
        if "name" not in table:
            raise missing(file, f"{path}.name", "the model's name", 'name = "dense"')
        name = table["name"]
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise bad(file, f"{path}.name", 'a name of letters, digits, "_" and "-"', name, MODEL_NAME_FIX)
        if name in seen:
            raise bad(file, f"{path}.name", f"a name no other model has (models[{seen[name]}] is {name!r})", name,
                      "Rename one of them.")
        seen[name] = i
        batch = table.get("batch_size")
        if batch is not None:
            value = checks.value(file, f"{path}.batch_size", batch)
            for v in (value.values if isinstance(value, Sweep) else (value,)):
                checks.integer(file, f"{path}.batch_size", v, 1)
        out.append({"name": name, "layers": table.get("layers"), "batch_size": batch})
    return out


def _arguments(klass):
    own = [p for p in inspect.signature(klass.__init__).parameters if p not in ("self", "kwargs")]
    return list(dict.fromkeys(own + ["name", "input_shape", "trainable"]))


def _relocate(file, path, klass, kwargs, message) -> ConfigError:
    """'Dropout: rate: expected ...' -> 'file: layers[2].rate: expected ...'."""
    for prefix in (f"{klass.__name__}: ", "Input: "):
        message = message.removeprefix(prefix)
    for key in list(kwargs) + (["shape"] if klass.__name__ == "InputLayer" else []):
        if message.startswith(f"{key}: "):
            return at(file, f"{path}.{key}", message[len(key) + 2:])
    return at(file, path, message)


def compile_(file, table) -> dict:
    """{optimizer (a name or the table as written), loss, metrics}."""
    keys(file, "compile", table, SECTIONS["compile"])
    out = {"optimizer": table.get("optimizer", "rmsprop"), "loss": table.get("loss"),
           "metrics": table.get("metrics", [])}
    if out["loss"] is None:
        raise missing(file, "compile.loss", "a loss name", 'loss = "sparse_categorical_crossentropy"')
    if isinstance(out["metrics"], str):
        out["metrics"] = [out["metrics"]]
    opt = out["optimizer"]
    if not isinstance(opt, (str, dict)):
        raise bad(file, "compile.optimizer", "a name or a table", opt,
                  'Write optimizer = "adam" or optimizer = { name = "adam", learning_rate = 0.001 }.')
    try:  # each check's message starts with its key: 'loss: expected ...'
        losses.get(out["loss"] if isinstance(out["loss"], str) else repr(out["loss"]))
        losses.check_metrics(out["metrics"])
        if isinstance(opt, str):
            optimizers.get(opt)
    except ConfigError as e:
        raise at(file, "compile", e, separator=".") from None
    if isinstance(opt, dict):
        optimizer(file, opt)
    return out


def optimizer(file, table) -> optimizers.Optimizer:
    """The optimizer of `optimizer = { name = "adam", learning_rate = ... }`."""
    name = table.get("name")
    name = choice(file, "compile.optimizer.name", name.lower() if isinstance(name, str) else name,
                  optimizers.OPTIMIZERS, 'Write name = "adam".')
    klass = optimizers.OPTIMIZERS[name]
    args = {k: v for k, v in table.items() if k != "name"}
    keys(file, "compile.optimizer", args, klass.arguments)
    kwargs = {k: checks.value(file, f"compile.optimizer.{k}", v) for k, v in args.items()}
    try:
        return klass(**kwargs)
    except ConfigError as e:
        raise _relocate(file, "compile.optimizer", klass, args, str(e)) from None


def fit(file, table) -> dict:
    """fit()'s settings as written (sweeps as { sweep = [...] }), every default filled in."""
    keys(file, "fit", table, SECTIONS["fit"])
    if "epochs" not in table:
        raise missing(file, "fit.epochs", "a positive int", "epochs = 10")
    out = {"epochs": table["epochs"], "batch_size": table.get("batch_size", 32), "seed": table.get("seed", 0),
           "repeats": table.get("repeats"), "shuffle": table.get("shuffle", True),
           "independent_draws": table.get("independent_draws", False), "combinations": table.get("combinations")}
    checks.integer(file, "fit.epochs", out["epochs"], 1)
    for key, low in (("batch_size", 1), ("seed", 0)):
        value = checks.value(file, f"fit.{key}", out[key])
        for v in (value.values if isinstance(value, Sweep) else (value,)):
            checks.integer(file, f"fit.{key}", v, low)
        out[key] = value.to_config() if isinstance(value, Sweep) else value
    if out["repeats"] is not None:
        checks.integer(file, "fit.repeats", out["repeats"], 1)
        if isinstance(out["seed"], dict):
            raise bad(file, "fit.repeats", "repeats or a seed sweep, not both", out["repeats"],
                      "Drop repeats, or make seed one int.")
    for key in ("shuffle", "independent_draws"):
        checks.flag(file, f"fit.{key}", out[key])
    combos = out["combinations"]
    if combos is not None and (not isinstance(combos, list) or not all(isinstance(c, dict) for c in combos)):
        raise bad(file, "fit.combinations", "a list of tables", combos,
                  'Write combinations = [{ "dropout.rate" = 0.2 }].')
    return out


def plot(file, table) -> dict:
    """{metrics, ylim}: which curves to draw, in which order, and their y-limits."""
    keys(file, "plot", table, SECTIONS["plot"])
    metrics = table.get("metrics", ["accuracy", "loss", "val_accuracy", "val_loss"])  # the article's order
    if not isinstance(metrics, list) or not all(m in METRIC_NAMES for m in metrics):
        raise bad(file, "plot.metrics", f"a list of {list(METRIC_NAMES)}", metrics,
                  'Write metrics = ["loss", "val_loss"].')
    ylim = table.get("ylim", {})
    if not isinstance(ylim, dict):
        raise bad(file, "plot.ylim", "a table of metric = [low, high]", ylim,
                  "Write ylim = { val_loss = [0.05, 0.30] }.")
    keys(file, "plot.ylim", ylim, METRIC_NAMES)
    for k, lim in ylim.items():
        if not (isinstance(lim, list) and len(lim) == 2 and all(real(v) for v in lim) and lim[0] < lim[1]):
            raise bad(file, f"plot.ylim.{k}", "[low, high] with low < high", lim, f"Write {k} = [0.0, 1.0].")
    return {"metrics": metrics, "ylim": {k: tuple(float(v) for v in lim) for k, lim in ylim.items()}}


def callbacks(file, tables) -> list:
    """[[callbacks]] tables as configs ({'type': 'EarlyStopping', 'patience': 3}), each checked
    by building it (a study never runs code: LearningRateScheduler and LambdaCallback are Python's)."""
    from layerlab import callbacks as callbacks_
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise bad(file, "callbacks", "[[callbacks]] tables", tables,
                  'Write [[callbacks]] then type = "EarlyStopping" and its arguments.')
    for i, table in enumerate(tables):
        if "type" not in table:
            raise missing(file, f"callbacks[{i}].type", f"one of {list(callbacks_.FROM_CONFIG)}",
                          'type = "EarlyStopping"')
        try:
            callbacks_.from_config(table)
        except ConfigError as e:
            raise at(file, f"callbacks[{i}]", e) from None
    return [dict(t) for t in tables]
