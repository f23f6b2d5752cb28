"""fit_models(): several models (architectures) trained side by side into one result and one run.

Each model keeps its own sweeps; its variants gain the setting 'model' (its name) and, with
several datasets, 'dataset'. Both are static: every model trains in its own compile groups,
exactly as model.fit() would train it alone (same groups, same numbers, same random draws), so
a variant's result never depends on the models beside it. One recorder sees every group of
every model, so a store holds them as one run, resumed as one.

>>> result = layerlab.fit_models({"dense": dense, "convnet": convnet}, x, y,          # doctest: +SKIP
...                              validation_data=(x_test, y_test), epochs=12,
...                              batch_size={"dense": 32, "convnet": 128}, seed=1)
>>> result.label(0)                                                                    # doctest: +SKIP
'model=dense, rate=0.0'
"""
import math
import re

from layerlab import backends, engine, losses, optimizers
from layerlab import variants as variants_
from layerlab.errors import ConfigError
from layerlab.sweep import Sweep

from . import (
    BAD_NAME,
    NAME_WITHOUT_STORE,
    NOT_COMPILED,
    _output_units,
    _recorder,
    _resolve_seed,
    checks,
)
from .jobs import FitContext, GroupJob, Run
from .progress import Progress
from .results import SweepResult, concrete_variant, variant_label

NO_MODELS = ("fit_models: models: expected a dict of at least one name -> compiled Sequential; received "
             "{received}. Pass e.g. {{'dense': dense, 'convnet': convnet}}.")
BAD_MODEL_NAME = ("fit_models: models: expected names of letters, digits, '_' and '-'; received {received!r}. "
                  "Rename it, e.g. 'conv_bn'.")
NOT_A_MODEL = ("fit_models: models[{name!r}]: expected a layerlab Sequential; received {received}. "
               "Build it with layerlab.Sequential([...]).")
SAME_MODEL = ("fit_models: models[{name!r}]: expected a model of its own; received the same object as "
              "models[{other!r}]. Build a second Sequential.")
OTHER_LOSS = ("fit_models: models[{name!r}]: expected the loss and metrics of models[{first!r}] ({expected}); "
              "received {received}. Compile every model with the same loss and metrics, so their curves compare.")
BAD_BATCH = ("fit_models: batch_size: expected an int, a layerlab.sweep, or a dict of them by model name "
             "{names}; received {received!r}. Pass e.g. batch_size={{'dense': 32}} (others: 32).")
DATA_TWICE = ("fit_models: datasets: expected datasets= or x and y, not both; received both. "
              "Pass datasets={{'mnist': ((x, y), (x_test, y_test))}} alone.")
BAD_DATASETS = ("fit_models: datasets: expected a dict of name -> ((x, y), (x_val, y_val) or None); "
                "received {received}. Pass e.g. datasets={{'mnist': ((x, y), (x_test, y_test))}}.")
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


class Models:
    """The models of one fit_models() as the recorder sees them: one config of all of them (each
    with its compile settings), the shared loss and metrics, the input shape."""

    def __init__(self, models: dict, input_shape):
        self.models, self.input_shape = models, tuple(input_shape)
        self.compiled = next(iter(models.values())).compiled  # loss and metrics are the same for all
        self.name = "models"

    def get_config(self) -> dict:
        return {"class_name": "Models", "config": {"models": [
            {"name": name, "config": m.get_config(),
             "compile": {"optimizer": optimizers.serialize(m.compiled.optimizer),
                         "loss": losses.serialize(m.compiled.loss), "metrics": list(m.compiled.metrics)}}
            for name, m in self.models.items()]}}


def fit_models(models, x=None, y=None, batch_size=None, epochs=1, verbose="auto", validation_split=0.0,
               validation_data=None, shuffle=True, *, datasets=None, seed=None, repeats=None,
               independent_draws=False, backend=None, store=None, resume=None, name=None) -> SweepResult:
    """Trains every model of `models` ({name: compiled Sequential}, each with its own sweeps) on
    (x, y), or on each of `datasets` ({name: ((x, y), (x_val, y_val) or None)}), into one
    SweepResult and, with store=, one run. fit()'s arguments keep their meaning; batch_size may
    also be a dict by model name (Keras' convnet trains with 128, the article's network with 32).
    """
    models = _check_models(models)
    first = next(iter(models.values()))
    batch = _batch_sizes(batch_size, models)
    verbose = checks.check_fit_args(shuffle, verbose, epochs, [b for v in batch.values()
                                                                for b in (v.values if isinstance(v, Sweep) else (v,))])
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(BAD_NAME.format(received=name).replace("fit:", "fit_models:", 1))
    if name is not None and store is None:
        raise ConfigError(NAME_WITHOUT_STORE.format(received=name).replace("fit:", "fit_models:", 1))
    data = _datasets(models, x, y, validation_data, validation_split, datasets)
    seed = _resolve_seed(seed, repeats)
    backend = backends.get(backend)
    several_datasets = len(data) > 1

    variant_list, groups, contexts, by_dataset, swept = [], [], {}, {}, []
    for dataset, (xd, yd, xv, yv) in data.items():
        for model_name, model in models.items():
            sweeps = variants_.collect(model, model.compiled.optimizer, batch[model_name], seed)
            own = variants_.variants(sweeps, None, seed, batch[model_name])
            fixed = {"dataset": dataset} if several_datasets else {}
            offset = len(variant_list)
            variant_list += [{**fixed, "model": model_name, **v} for v in own]
            for key in ["dataset"] * several_datasets + ["model"] + list(sweeps):
                swept += [key] if key not in swept else []
            in_shape = model.input_shape or tuple(xd.shape[1:])
            for g in variants_.groups(model, model.compiled.optimizer, own, sweeps, batch[model_name],
                                      independent_draws, in_shape):
                label = ", ".join(p for p in ([dataset] if several_datasets else []) + [model_name, g.label] if p)
                group = g._replace(index=len(groups), indices=[offset + i for i in g.indices],
                                   streams=[[offset + i for i in s] for s in g.streams], label=label)
                groups.append(group)
                contexts[group.index] = (model, in_shape)
                by_dataset.setdefault(dataset, []).append(group)

    names = ["loss"] + (["accuracy"] if first.compiled.metrics else [])
    validate = next(iter(data.values()))[2] is not None
    names += ["val_" + n for n in names] if validate else []
    run = Run(len(variant_list), names, epochs)
    arrays = tuple(a for d in data.values() for a in d)
    recorder = _recorder(store, resume, arrays)
    n_train, n_val = len(next(iter(data.values()))[0]), 0 if not validate else len(next(iter(data.values()))[2])
    if recorder is not None:
        same_batch = {repr(b) for b in batch.values()}
        only = next(iter(batch.values()))
        recorder.start(model=Models(models, contexts[0][1]), variants=variant_list,
                       groups=[g.indices for g in groups],
                       fit_args={"epochs": epochs,
                                 "batch_size": only if len(same_batch) == 1 and not isinstance(only, Sweep) else None,
                                 "shuffle": bool(shuffle), "independent_draws": bool(independent_draws),
                                 "n_train": n_train, "n_val": n_val}, metric_names=names, name=name)
    progress = Progress(verbose, epochs * len(groups), [variant_label(v, [k for k in swept if k in v], i)
                                                        for i, v in enumerate(variant_list)])
    fits = {id(m): FitContext(m, variant_list, bool(independent_draws), run, recorder, progress, None)
            for m in models.values()}
    status = "interrupted"
    try:
        def make_job(group, init=True):
            model, in_shape = contexts[group.index]
            program = engine.program(group.model, group.optimizer, model.compiled.loss, in_shape, group.batch_size,
                                     bool(shuffle), validate)
            return GroupJob(fits[id(model)], group, program, init=init)

        for dataset, dataset_groups in by_dataset.items():  # a backend trains on one dataset at a time
            backend.train(dataset_groups, make_job, data[dataset])
        status = "finished"
    finally:
        progress.close()
        if recorder is not None:
            recorder.finish(status, run.metrics)
    return _result(run, variant_list, swept, contexts, verbose, n_train, getattr(recorder, "run_id", None))


def _result(run, variant_list, swept, contexts, verbose, n_train, run_id):
    diverged = []
    for i in range(len(variant_list)):
        bad = [e for e, v in enumerate(run.metrics["loss"][i]) if not math.isfinite(v)]
        diverged.append(bad[0] + 1 if bad else None)
    params = [{"verbose": verbose, "epochs": run.epochs, "steps": -(-n_train // run.group_of[i].batch_size),
               "batch_size": run.group_of[i].batch_size, "seed": variant_list[i]["seed"]}
              for i in range(len(variant_list))]

    def template(i):
        group = run.group_of[i]
        model, in_shape = contexts[group.index]
        return concrete_variant(model, group, variant_list[i], in_shape)

    result = SweepResult(variant_list, run.metrics, run.trained, template, diverged, params, swept)
    result.run_id = run_id
    return result


def _check_models(models):
    if not isinstance(models, dict) or not models:
        shown = "an empty dict" if isinstance(models, dict) else type(models).__name__
        raise ConfigError(NO_MODELS.format(received=shown))
    first_name, seen = next(iter(models)), {}
    for name, model in models.items():
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise ConfigError(BAD_MODEL_NAME.format(received=name))
        if not callable(getattr(model, "static_sweeps", None)):  # a Sequential (training sits below models)
            raise ConfigError(NOT_A_MODEL.format(name=name, received=type(model).__name__))
        if id(model) in seen:
            raise ConfigError(SAME_MODEL.format(name=name, other=seen[id(model)]))
        seen[id(model)] = name
        if model.compiled is None:
            raise ConfigError(NOT_COMPILED.format(method="fit_models", name=name))
        c, f = model.compiled, models[first_name].compiled
        if (losses.serialize(c.loss), tuple(c.metrics)) != (losses.serialize(f.loss), tuple(f.metrics)):
            raise ConfigError(OTHER_LOSS.format(name=name, first=first_name,
                                                expected=f"{f.loss.name}, {list(f.metrics)}",
                                                received=f"{c.loss.name}, {list(c.metrics)}"))
    return dict(models)


def _batch_sizes(batch_size, models):
    """{model name: int or Sweep}: one value for all, or a dict by name (missing names get 32)."""
    if isinstance(batch_size, dict):
        unknown = [k for k in batch_size if k not in models]
        if unknown:
            raise ConfigError(BAD_BATCH.format(names=list(models), received=batch_size))
        return {k: batch_size.get(k, 32) for k in models}
    return {k: 32 if batch_size is None else batch_size for k in models}


def _datasets(models, x, y, validation_data, validation_split, datasets):
    """{name or None: (x, y, x_val, y_val)}, each checked against every model."""
    if datasets is None:
        if x is None or y is None:
            raise ConfigError(checks.NO_DATA)
        given = {None: (x, y, validation_data, validation_split)}
    else:
        if x is not None or y is not None:
            raise ConfigError(DATA_TWICE.format())
        if not isinstance(datasets, dict) or not datasets or not all(
                isinstance(k, str) and isinstance(v, (tuple, list)) and len(v) == 2 and len(v[0]) == 2
                for k, v in datasets.items()):
            raise ConfigError(BAD_DATASETS.format(received=type(datasets).__name__))
        given = {k: (v[0][0], v[0][1], v[1], validation_split) for k, v in datasets.items()}
    out = {}
    for key, (xd, yd, val, split) in given.items():
        where = "" if key is None else f"datasets[{key!r}]."
        for model in models.values():
            in_shape = model.input_shape
            xs = checks.as_x("fit_models", f"{where}x", xd, in_shape)
            units = _output_units(model, in_shape or tuple(xs.shape[1:]))
            ys = checks.as_y("fit_models", f"{where}y", yd, len(xs), "x", model.compiled.loss, units)
            xs, ys, xv, yv = checks.validation(val, split, xs, ys)
            if xv is not None:
                xv = checks.as_x("fit_models", f"{where}validation x", xv, in_shape or tuple(xs.shape[1:]))
                yv = checks.as_y("fit_models", f"{where}validation y", yv, len(xv), "validation x",
                                 model.compiled.loss, units)
        out[key] = (xs, ys, xv, yv)
    return out
