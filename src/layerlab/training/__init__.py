"""compile(), fit(), evaluate() and predict(): Keras' contract, with sweeps.

fit() turns the model's, the optimizer's and fit's own sweeps into variants, groups them by
everything that changes shapes or code (layerlab.variants), and hands one job per compile
group (training.jobs) to a backend (layerlab.backends), which trains each group's variants
together in compiled programs (layerlab.engine). It returns a History (one variant) or a
SweepResult (training.results).

Keras semantics kept here: batch_size 32, reshuffled every epoch, last partial batch kept;
`loss`/`accuracy` are sample-weighted means over the epoch's batches with dropout active;
`val_*` are computed at each epoch's end in inference mode on the whole validation set; a
second fit() of the same model continues from its weights and optimizer state.
"""
import os

import jax
import jax.numpy as jnp
import numpy as np

import copy

from layerlab import backends, callbacks as callbacks_, engine, losses, optimizers, store as stores, \
    variants as variants_
from layerlab.errors import ConfigError
from layerlab.recording import is_recorder
from layerlab.sweep import Sweep, expand

from . import checks
from .jobs import Continuation, FitContext, GroupJob, Run
from .progress import Progress
from .results import History, SweepResult, build, concrete_variant, variant_label

NOT_COMPILED = ("{method}: model {name!r} is not compiled; expected compile() first. Call "
                "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy']).")
NO_WEIGHTS = ("{method}: model {name!r} has no trained weights; expected fit() first. "
              "Call model.fit(x, y) (or use result.model(i) of a sweep).")
SEED_TWICE = ("fit: repeats: expected repeats or a seed sweep, not both; received both. "
              "Drop repeats= or pass seed as one int.")
COMPILE_ARG = ("compile: {arg}: not supported by layerlab; received {arg}={received!r}. "
               "Pass optimizer=, loss= and metrics= only.")
RESUME_WITH_RECORDER = ("fit: resume: expected a store path or layerlab.store.Store in store= to resume a run "
                        "from; received a recorder. Give the recorder the run to resume instead.")
BAD_NAME = ("fit: name: expected a non-empty string naming the run in the store; received {received!r}. "
            "Pass e.g. name='dropout sweep', or leave it out to name the run after the script.")
NAME_WITHOUT_STORE = ("fit: name: names a run in a store; received name={received!r} without store=. "
                      "Pass store='layerlab-runs/layerlab.db' too, or leave name out.")
NO_LOSS = ("compile: loss: expected a loss name or object; received None. "
           "Pass loss='sparse_categorical_crossentropy' for integer labels.")

__all__ = ["BAD_NAME", "COMPILE_ARG", "History", "NAME_WITHOUT_STORE", "NOT_COMPILED", "NO_LOSS", "NO_WEIGHTS",
           "RESUME_WITH_RECORDER", "SEED_TWICE", "SweepResult", "compile_model", "evaluate", "fit", "predict",
           "set_random_seed"]

_default_seed = None


def set_random_seed(seed):
    """Sets the seed fit() uses when none is given, as keras.utils.set_random_seed does."""
    global _default_seed
    checks.check_seed(seed)
    _default_seed = int(seed)


class Compiled:
    """What compile() fixed: the optimizer, the loss, the metrics, and the programs in use."""

    def __init__(self, optimizer, loss, metrics):
        self.optimizer, self.loss, self.metrics = optimizer, loss, metrics
        self.programs = {}  # compile-group signature -> engine.Program of the last fit


def compile_model(model, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
    """model.compile(): optimizer and loss by name or object, metrics=['accuracy']."""
    if kwargs:
        arg = sorted(kwargs)[0]
        raise ConfigError(COMPILE_ARG.format(arg=arg, received=kwargs[arg]))
    if loss is None:
        raise ConfigError(NO_LOSS)
    model.compiled = Compiled(optimizers.get(optimizer), losses.get(loss), losses.check_metrics(metrics))
    model._train_state = None


def fit(model, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
        validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
        sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
        validation_batch_size=None, validation_freq=1, *, seed=None, repeats=None,
        combinations=None, independent_draws=False, backend=None, store=None, resume=None, name=None):
    """Trains the model, or every variant of its sweeps at once.

    Keras' arguments keep their meaning. layerlab adds:
      seed: an int (or a sweep of ints) fixing initial weights, batch order and dropout; None
        uses layerlab.utils.set_random_seed's, else a fresh one (recorded in .params['seed']).
      repeats: train every variant with seeds seed, seed+1, ..., seed+repeats-1.
      combinations: a list of dicts {location: value} to train instead of the whole grid.
      independent_draws: give each variant its own random draws instead of sharing them with
        the variants of the same seed (common random numbers, the default).
      backend: where the compile groups train: None or 'local' here, a program per core at
        a time (layerlab.backends.Local(workers=...) sets how many); 'ray' (or a
        layerlab.backends.Ray(address=...)) as Ray tasks across a cluster. Each epoch is
        recorded as it finishes; a variant's result does not depend on the backend.
      store: record the run: a run store's path or a layerlab.store.Store (a StoreRecorder is
        opened on it), or any recorder (layerlab.recording.Recorder). The returned
        History/SweepResult then has the `run_id`.
      resume: continue run `resume` of that store from its last recorded epoch, bitwise.
      name: the run's name in the store (default: the script that called fit).
      callbacks: Keras' callbacks (layerlab.callbacks); in a sweep each variant has its own copy
        of each, and one that stops training stops its variant only (result.histories[i] ends
        at its own last epoch; .stopped_epoch and .stop_reason say where and why).

    >>> result = model.fit(x, y, validation_data=(xv, yv), epochs=5, seed=1)  # doctest: +SKIP
    """
    checks.reject_unsupported("fit", (
        ("class_weight", class_weight, None), ("sample_weight", sample_weight, None),
        ("initial_epoch", initial_epoch, 0), ("steps_per_epoch", steps_per_epoch, None),
        ("validation_steps", validation_steps, None), ("validation_batch_size", validation_batch_size, None),
        ("validation_freq", validation_freq, 1)))
    if model.compiled is None:
        raise ConfigError(NOT_COMPILED.format(method="fit", name=model.name))
    batch_size = 32 if batch_size is None else batch_size
    verbose = checks.check_fit_args(shuffle, verbose, epochs,
                                    batch_size.values if isinstance(batch_size, Sweep) else (batch_size,))
    if x is None or y is None:
        raise ConfigError(checks.NO_DATA)
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(BAD_NAME.format(received=name))
    if name is not None and store is None:
        raise ConfigError(NAME_WITHOUT_STORE.format(received=name))

    x = checks.as_x("fit", "x", x, model.input_shape)
    in_shape = model.input_shape or tuple(x.shape[1:])
    loss = model.compiled.loss
    units = _output_units(model, in_shape)
    y = checks.as_y("fit", "y", y, len(x), "x", loss, units)
    x, y, x_val, y_val = checks.validation(validation_data, validation_split, x, y)
    if validation_data is not None:
        x_val = checks.as_x("fit", "validation_data[0]", x_val, in_shape)
        y_val = checks.as_y("fit", "validation_data[1]", y_val, len(x_val), "validation_data[0]", loss, units)

    seed = _resolve_seed(seed, repeats)
    backend = backends.get(backend)
    optimizer = model.compiled.optimizer
    sweeps = variants_.collect(model, optimizer, batch_size, seed)
    variant_list = variants_.variants(sweeps, combinations, seed, batch_size)
    groups = variants_.groups(model, optimizer, variant_list, sweeps, batch_size, independent_draws, in_shape)

    names = ["loss"] + (["accuracy"] if model.compiled.metrics else [])
    if x_val is not None:
        names += ["val_" + n for n in names]
    callbacks = callbacks_.check_list(callbacks)
    logged = names + (["learning_rate"] if any(isinstance(c, callbacks_.LR_CALLBACKS) for c in callbacks) else [])
    per_variant = _callbacks_per_variant(callbacks, variant_list, sweeps, logged) if callbacks else None
    run = Run(len(variant_list), logged, epochs)
    recorder = _recorder(store, resume, (x, y, x_val, y_val))
    if recorder is not None:
        recorder.start(model=model, variants=variant_list, groups=[g.indices for g in groups],
                       fit_args={"epochs": epochs, "batch_size": None if isinstance(batch_size, Sweep) else batch_size,
                                 "shuffle": bool(shuffle), "independent_draws": bool(independent_draws),
                                 "n_train": int(x.shape[0]), "n_val": 0 if x_val is None else int(x_val.shape[0])},
                       metric_names=logged, name=name)

    start = _continuation(model, sweeps)
    model._train_state = None  # its buffers are donated to the engine; set again on success
    progress = Progress(verbose, epochs * len(groups), [variant_label(v, list(sweeps), i)
                                                        for i, v in enumerate(variant_list)])
    steps = None if isinstance(batch_size, Sweep) else -(-len(x) // batch_size)
    context = FitContext(model, variant_list, bool(independent_draws), run, recorder, progress, start,
                         per_variant, lambda i: concrete_variant(
                             model, next(g for g in groups if i in g.indices), variant_list[i], in_shape),
                         {"verbose": verbose, "epochs": epochs, "steps": steps})
    status = "interrupted"
    try:
        jobs = []  # kept for a single model: fitting it again continues from its state

        def make_job(group, init=True):
            program = engine.program(group.model, group.optimizer, loss, in_shape, group.batch_size,
                                     bool(shuffle), x_val is not None)
            model.compiled.programs[group.signature] = program
            job = GroupJob(context, group, program, init=init)
            if not sweeps:
                jobs.append(job)
            return job

        backend.train(groups, make_job, (x, y, x_val, y_val))
        if not sweeps:
            model._train_state = jobs[0].continuation()
        status = "finished"
    finally:
        progress.close()
        if recorder is not None:
            recorder.finish(status, run.metrics)
    return build(model, run, variant_list, sweeps, in_shape, verbose, len(x), getattr(recorder, "run_id", None))


def _callbacks_per_variant(callbacks, variant_list, sweeps, names):
    """Each variant's own copies of the callbacks (a single model: the user's objects, as in
    Keras), each checked against this fit's metrics and the variant's settings before training."""
    if len(variant_list) == 1 and not sweeps:
        per_variant = [callbacks]
    else:
        per_variant = [copy.deepcopy(callbacks) for _ in variant_list]
    for i, (cbs, settings) in enumerate(zip(per_variant, variant_list)):
        label = callbacks_.slug(f"{i:02d}-{variant_label(settings, list(sweeps), i)}") if sweeps else ""
        for c in cbs:
            c._variant_label = label
            c.check(names, settings)
    callbacks_.check_distinct(per_variant)
    return per_variant


def _recorder(store, resume, data):
    """The recorder of fit(store=, resume=): the one given, or a StoreRecorder on a path or Store."""
    if store is None and resume is None:
        return None
    if is_recorder(store):
        if resume is not None:
            raise ConfigError(RESUME_WITH_RECORDER)
        return store
    return stores.StoreRecorder(store, resume=resume, data=data)


def _continuation(model, sweeps):
    """Keras: fitting a trained model again continues from its weights and optimizer state."""
    if sweeps:
        return None
    if getattr(model, "_train_state", None):
        return model._train_state
    if model.params is not None:
        return Continuation(None, model.params, None, 0)
    return None


def _output_units(model, in_shape):
    """The output layer's units; with shape sweeps, the fewest of any compile group."""
    return min(model.with_values(v).shapes(in_shape)[-1][-1] for v in expand(model.static_sweeps()))


def _resolve_seed(seed, repeats):
    if seed is None:
        seed = _default_seed if _default_seed is not None else int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
    if repeats is not None:
        checks.positive_int("fit", "repeats", repeats, 5)
        if isinstance(seed, Sweep):
            raise ConfigError(SEED_TWICE)
        checks.check_seed(seed)
        seed = Sweep(range(seed, seed + repeats)) if repeats > 1 else seed
    for s in (seed.values if isinstance(seed, Sweep) else (seed,)):
        checks.check_seed(s)
    return seed


# -- evaluate / predict on a trained model ---------------------------------------------------------------
def _inference(model, method):
    if model.params is None:
        raise ConfigError(NO_WEIGHTS.format(method=method, name=model.name))
    loss = model.compiled.loss if model.compiled is not None else None
    program = engine.program(model, None, loss, model.input_shape)
    hp = {"layers": [{k: jnp.full((1, 1), v, jnp.float32) for k, v in h.items()} for h in model.hparams()],
          "optimizer": {}}
    params = jax.tree.map(lambda a: jnp.asarray(a)[None, None], model.params)
    return program, params, hp


def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
             callbacks=None, return_dict=False):
    """[loss, accuracy] (or the loss alone without metrics) on (x, y), in inference mode.
    batch_size and verbose are accepted for Keras' sake: layerlab evaluates in chunks of 2048."""
    checks.reject_unsupported("evaluate", (("sample_weight", sample_weight, None), ("steps", steps, None),
                                           ("callbacks", callbacks, None)))
    if model.compiled is None:
        raise ConfigError(NOT_COMPILED.format(method="evaluate", name=model.name))
    program, params, hp = _inference(model, "evaluate")
    x = checks.as_x("evaluate", "x", x, model.input_shape)
    y = checks.as_y("evaluate", "y", y, len(x), "x", model.compiled.loss, model.shapes()[-1][-1])
    loss, acc = program.evaluate(params, hp, *engine.to_device_data(x, y))
    out = {"loss": float(loss[0, 0])}
    if model.compiled.metrics:
        out["accuracy"] = float(acc[0, 0])
    if return_dict:
        return out
    return list(out.values()) if len(out) > 1 else out["loss"]


def predict(model, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
    """The model's outputs for x as a numpy array (n, units), final activation applied."""
    checks.reject_unsupported("predict", (("steps", steps, None), ("callbacks", callbacks, None)))
    program, params, hp = _inference(model, "predict")
    x = checks.as_x("predict", "x", x, model.input_shape)
    return np.asarray(program.predict(params, hp, jnp.asarray(x))[0, 0])
