"""Runs back out of a store: load_run() as a SweepResult, load_model() as a trained Sequential.

The store (layerlab.store) keeps records: rows, JSON specs and checkpoint bytes. This module,
above the models and training, turns them back into the objects the Python API returns.
"""
import json
import os
from pathlib import Path

import numpy as np

from layerlab import engine, losses, optimizers
from layerlab.errors import ConfigError, StoreError
from layerlab.models import Sequential
from layerlab.store import Store, checkpoint, run_status
from layerlab.training import History, SweepResult

BAD_VARIANT = ("load_model: variant: expected an index from 0 to {last} of run {run}'s variants; "
               "received {received!r}. `layerlab show {run}` lists them.")
KERAS_FILE_GIVEN = ("load_model: run_id: expected a run id of the store; received {received!r}, a Keras file. "
                    "Load it with layerlab.models.load_model({received!r}).")
BAD_WHICH = "load_model: which: expected 'last' or 'best'; received {received!r}. Pass which='best' or leave it out."
NO_CHECKPOINT = ("store {path}: run {run} variant {variant}: no checkpoint yet; expected at least one recorded "
                 "epoch. Resume the run to train it.")
WRONG_STATE = ("store {path}: run {run}: the checkpoint of group {group} does not fit this model's state "
               "({received} arrays; expected {expected} shaped like {shapes}...). Load it with the layerlab that "
               "wrote it ({version}).")
OTHER_STUDY = ("run: --resume {resume}: run {run} is of {recorded}; received study {received}. "
               "Leave the study out to resume run {run}.")
NOT_A_STUDY_RUN = ("run: --resume {resume}: run {run} was recorded by model.fit() from Python, not from a study "
                   "file; expected a study run. Resume it with model.fit(..., store=..., resume={run}).")
NO_BEST = ("load_model: run {run} variant {variant}: no checkpoint kept at its best val_loss (epoch {epoch}); "
           "expected one recorded with keep_best=True (`layerlab run --keep-best`). Use which='last'.")


def load_run(run_id, store=None) -> SweepResult:
    """The SweepResult of a recorded run: settings, per-epoch history and, on demand, each
    variant's trained model (`result.model(i)`, from the run's last checkpoints).

    >>> import layerlab
    >>> result = layerlab.load_run(1, store="layerlab-runs/layerlab.db")  # doctest: +SKIP
    >>> result.histories[0].history["val_loss"]                            # doctest: +SKIP
    """
    with _open(store) as s, s.snapshot():
        run = s.run(run_id)
        variants = s.variants(run["id"])
        rows = s.history(run["id"])
        run["status"] = run_status(s, run)  # 'running' only while its owner lives
        spec = run["spec"]
        epochs = max((r[1] for r in rows), default=-1) + 1
        metrics = {k: np.full((len(variants), epochs), np.nan, np.float64) for k in spec["metrics"]}
        for v, e, m, x in rows:
            if m in metrics:
                metrics[m][v, e] = np.nan if x is None else x
        stopped = _stops(s, run, variants, metrics)
    settings = [v["settings"] for v in variants]
    keys = list(dict.fromkeys(k for v in settings for k in v))  # models of one run sweep different layers
    swept = [k for k in keys if k != "seed" or len({v["seed"] for v in variants}) > 1]
    batch = spec["fit"].get("batch_size")
    fit_params = {"verbose": 0, "epochs": epochs, "batch_size": batch,
                  "steps": -(-spec["fit"]["n_train"] // batch) if batch else None,
                  "seed": variants[0]["seed"] if len({v["seed"] for v in variants}) == 1 else None}
    path = s.path

    def template(i):
        return model_for(spec, settings[i])

    result = SweepResult(settings, metrics, _LazyWeights(path, run, variants), template,
                         [v["diverged_at"] for v in variants], fit_params, swept, stopped)
    result.run_id, result.run = run["id"], run  # provenance, the spec (study plot settings included) and the text
    return result


def load_model(run_id, variant=0, store=None, which="last") -> Sequential:
    """Variant `variant` of a recorded run as a compiled Sequential with its trained weights
    (which='last', or 'best': at its lowest val_loss, if kept), ready for evaluate/predict."""
    if which not in ("last", "best"):
        raise ConfigError(BAD_WHICH.format(received=which))
    if isinstance(run_id, (str, os.PathLike)) and str(run_id).endswith((".keras", ".h5")):
        raise ConfigError(KERAS_FILE_GIVEN.format(received=str(run_id)))
    with _open(store) as s, s.snapshot():
        run = s.run(run_id)
        variants = s.variants(run["id"])
        if isinstance(variant, bool) or not isinstance(variant, (int, np.integer)) or \
                not 0 <= variant < len(variants):
            raise ConfigError(BAD_VARIANT.format(last=len(variants) - 1, run=run["id"], received=variant))
        v = variants[variant]
        rows = s.history(run["id"], [v["idx"]])
        history = {k: [] for k in run["spec"]["metrics"]}
        for _, e, m, x in sorted(rows, key=lambda r: (r[1], r[2])):
            history.setdefault(m, []).append(float("nan") if x is None else x)
        epoch = None
        if which == "best":
            val = history.get("val_loss") or []
            epoch = int(np.nanargmin(np.asarray(val, float))) if val and not np.all(np.isnan(val)) else -1
        model = model_for(run["spec"], v["settings"])
        model.params = _weights(s, run, v, model, epoch)
        stop = _stops(s, run, [v], {k: np.asarray([x], float) for k, x in history.items()}, others=True).get(0)
        if epoch is None:
            _restore_best(s, run, v, model)
    last = len(history["loss"]) if stop is None else stop[0] + 1
    model.history = History({k: x[:last] for k, x in history.items()}, list(range(last)), {"epochs": run["epochs"]},
                            model=model, diverged_at=v["diverged_at"], stopped_epoch=None if stop is None else stop[0],
                            stop_reason=None if stop is None else stop[1])
    return model


def _stops(store, run, variants, metrics, others=False):
    """{i: (last epoch trained, why)} for the variants callbacks stopped: every metric is NULL
    after their last epoch, while others trained on or the run finished early. `others=True`:
    `variants` is a part of the run, whose other variants are taken to have gone on."""
    values = np.stack([np.asarray(m, float) for m in metrics.values()])     # (metrics, V, E)
    trained = ~np.all(np.isnan(values), axis=0)                               # (V, E)
    planned = run["epochs"]
    out = {}
    for i in range(len(variants)):
        done = np.flatnonzero(trained[i])
        last = int(done[-1]) if done.size else -1
        went_on = others or trained[:, last + 1:].any()
        if last < planned - 1 and (went_on or run["status"] == "finished"):
            out[i] = (last, _callback_state(store, run, variants[i]["grp"]).get("reasons", {}).get(
                str(variants[i]["position"])))
    return out


def _callback_state(store, run, group):
    """What the callbacks recorded with the group's last checkpoint (JSON), {} if nothing."""
    kept = store.checkpoints(run["id"], group)
    if not kept:
        return {}
    extras = checkpoint.unpack_extras(store.checkpoint_data(run["id"], group, kept[0]["epoch"]))
    if "callbacks" not in extras:
        return {}
    state = json.loads(bytes(extras["callbacks"]).decode())
    state["arrays"] = extras
    return state


def _restore_best(store, run, variant, model):
    """A finished run's EarlyStopping(restore_best_weights=True) gave the variant its best weights."""
    if run["status"] != "finished" or variant["position"] is None:
        return
    state = _callback_state(store, run, variant["grp"])
    for entry in (state.get("variants") or [[]] * (variant["position"] + 1))[variant["position"]]:
        idx = entry["arrays"].get("best_weights")
        if idx:
            model.set_weights([state["arrays"][f"callbacks.{n}"] for n in idx])


def model_for(spec, settings) -> Sequential:
    """The concrete, compiled Sequential of one variant of a recorded spec (no weights)."""
    config, compile_ = spec["model"], spec["compile"]
    if config.get("class_name") == "Models":  # fit_models(): the variant's own model and compile settings
        entry = next(m for m in config["config"]["models"] if m["name"] == settings["model"])
        config, compile_ = entry["config"], entry["compile"]
    model = Sequential.from_config(config)
    layer_values = {k: x for k, x in settings.items() if "." in k and not k.startswith("optimizer.")}
    opt_values = {k: x for k, x in settings.items() if k.startswith("optimizer.")}
    opt, loss = optimizers.deserialize(compile_["optimizer"]), losses.deserialize(compile_["loss"])
    concrete = model.with_values(layer_values)
    concrete.compile(optimizer=opt.with_values(opt_values), loss=loss, metrics=compile_["metrics"] or None)
    if spec.get("input_shape"):
        concrete._built_shape = tuple(spec["input_shape"])
    return concrete


def _weights(store, run, variant, model, epoch=None):
    """The variant's params from its group's checkpoint (the last one, or the one at `epoch`)."""
    kept = store.checkpoints(run["id"], variant["grp"])
    if epoch is not None:
        kept = [c for c in kept if c["epoch"] == epoch]
        if not kept:
            raise StoreError(NO_BEST.format(run=run["id"], variant=variant["idx"], epoch=epoch + 1))
    if not kept or variant["position"] is None:
        raise StoreError(NO_CHECKPOINT.format(path=store.path, run=run["id"], variant=variant["idx"]))
    ck = kept[0]
    leaves = checkpoint.unpack(store.checkpoint_data(run["id"], variant["grp"], ck["epoch"]), ck["sha256"],
                               variant["grp"], ck["epoch"])
    # The checkpoint holds the engine's state leaves in its own layout: the engine rebuilds that
    # state's structure (shapes only, nothing compiled) and gives the public params.
    public, expected = engine.params_from_leaves(model, model.compiled.optimizer, model.compiled.loss,
                                                 model.input_shape, leaves)
    if public is None:
        raise StoreError(WRONG_STATE.format(path=store.path, run=run["id"], group=variant["grp"], received=len(leaves),
                                            expected=len(expected), shapes=expected[:3],
                                            version=run["layerlab_version"]))
    return [{k: np.array(np.asarray(a).reshape((-1,) + a.shape[2:])[variant["position"]]) for k, a in p.items()}
            for p in public]


class _LazyWeights:
    """SweepResult's per-variant params, read from the store when a model is asked for."""

    def __init__(self, path, run, variants):
        self.path, self.run, self.variants = path, run, variants

    def __len__(self):
        return len(self.variants)

    def __getitem__(self, i):
        with Store.open(self.path) as s, s.snapshot():  # its checkpoint is not pruned between two reads
            model = model_for(self.run["spec"], self.variants[i]["settings"])
            model.params = _weights(s, self.run, self.variants[i], model)
            _restore_best(s, self.run, self.variants[i], model)
            return model.params


def _open(store):
    if isinstance(store, Store):
        return _Borrowed(store)
    return Store.open(store)


class _Borrowed:
    """A Store the caller owns: used in a `with` block without closing it."""

    def __init__(self, store):
        self.store = store

    def __enter__(self):
        return self.store

    def __exit__(self, *exc):
        return None


def run_to_resume(store, resume, study=None):
    """The run `layerlab run --resume` continues, or None to start a new one.

    resume: a run id, or True for the latest run of `study` (a study file's path). A run given by
    id must be a study run, and of `study` when one is given; ConfigError/StoreError say so."""
    if resume is True:
        return store.latest_run(str(Path(study).resolve()))
    run = store.run(resume)
    if study is not None and str(Path(study).resolve()) != run["study"]:
        raise ConfigError(OTHER_STUDY.format(resume=resume, run=run["id"], recorded=display(run["study"]),
                                             received=study))
    if run["study_text"] is None:
        raise StoreError(NOT_A_STUDY_RUN.format(resume=resume, run=run["id"]))
    return run


def summary_text(result):
    """model.summary() of a recorded run's first compile group, rebuilt from the stored config;
    None if that is not possible (a config this layerlab cannot rebuild)."""
    spec, lines = result.run["spec"], []
    groups = spec.get("groups") or [[0]]
    several = spec["model"].get("class_name") == "Models"
    firsts = [groups[0][0]]
    if several:  # each model's first group
        firsts = list({result.variants[g[0]]["model"]: g[0] for g in reversed(groups)}.values())[::-1]
    try:
        for i in firsts:
            if several:
                lines += ([""] if lines else []) + [f"Model {result.variants[i]['model']!r}"]
            model_for(spec, result.variants[i]).summary(print_fn=lines.append)
    except Exception:  # a report goes on without the model section
        return None
    if len(groups) > len(firsts):
        lines.insert(0, f"The first compile group of each model ({len(groups)} groups in all)" if several
                     else f"Compile group 1 of {len(groups)}")
    return "\n".join(lines)


def display(path):
    """A run's name as a user reads it: a path relative to the working folder when inside it."""
    try:
        return os.path.relpath(path) if os.path.isabs(path) and not os.path.relpath(path).startswith("..") else path
    except ValueError:
        return path
