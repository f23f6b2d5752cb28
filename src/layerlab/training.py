"""compile(), fit(), evaluate() and predict(): Keras' contract, with sweeps.

fit() turns the model's, the optimizer's and fit's own sweeps into variants, groups them by
everything that changes shapes or code (layerlab.variants), trains each group's variants
together in one compiled program (layerlab.engine; the backend may cut a group into slices
that train side by side), and returns a History (one variant) or a SweepResult.

Keras semantics kept here: batch_size 32, reshuffled every epoch, last partial batch kept;
`loss`/`accuracy` are sample-weighted means over the epoch's batches with dropout active;
`val_*` are computed at each epoch's end in inference mode on the whole validation set; a
second fit() of the same model continues from its weights and optimizer state.
"""
import json
import numbers
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from layerlab import backends, data, engine, losses, optimizers, variants as variants_
from layerlab.errors import ConfigError
from layerlab.history import History, SweepResult
from layerlab.progress import Progress
from layerlab.sweep import Sweep

NOT_COMPILED = ("{method}: model {name!r} is not compiled; expected compile() first. Call "
                "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy']).")
NO_WEIGHTS = ("{method}: model {name!r} has no trained weights; expected fit() first. "
              "Call model.fit(x, y) (or use result.model(i) of a sweep).")
UNSUPPORTED = ("{method}: {arg}: not supported by layerlab yet; received {arg}={received!r}. "
               "Leave it at its default ({default!r}).")
BAD_INT = ("{method}: {arg}: expected a positive int; received {received!r}. Pass e.g. {arg}={example}.")
BAD_SEED = ("fit: seed: expected an int >= 0, a layerlab.sweep of them, or None; received {received!r}. "
            "Pass e.g. seed=1.")
SEED_TWICE = ("fit: repeats: expected repeats or a seed sweep, not both; received both. "
              "Drop repeats= or pass seed as one int.")
RECORDER_TWICE = "fit: recorder: expected recorder= or store=, not both; received both. Drop one."

_default_seed = None


def set_random_seed(seed):
    """Sets the seed fit() uses when none is given, as keras.utils.set_random_seed does."""
    global _default_seed
    _check_seed(seed)
    _default_seed = int(seed)


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(BAD_SEED.format(received=seed))


def _positive_int(method, arg, v, example):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
        raise ConfigError(BAD_INT.format(method=method, arg=arg, received=v, example=example))


def _reject_unsupported(method, given):
    """given: (argument, value, default) triples of Keras arguments layerlab does not implement."""
    for arg, value, default in given:
        if value is not default and not (default is not None and isinstance(value, type(default)) and value == default):
            raise ConfigError(UNSUPPORTED.format(method=method, arg=arg, received=_short(value), default=default))


def _short(value):
    """A one-line stand-in for a value in a message: arrays by shape, long text cut."""
    if hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
        return _Shown(f"<array of shape {tuple(value.shape)}>")
    text = repr(value)
    return _Shown(text if len(text) <= 80 and "\n" not in text else f"<{type(value).__name__}>")


class _Shown(str):
    def __repr__(self):
        return str(self)


class Compiled:
    """What compile() fixed: the optimizer, the loss, the metrics, and the programs in use."""

    def __init__(self, optimizer, loss, metrics):
        self.optimizer, self.loss, self.metrics = optimizer, loss, metrics
        self.programs = {}  # compile-group signature -> engine.Program of the last fit


def compile_model(model, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
    """model.compile(): optimizer and loss by name or object, metrics=['accuracy']."""
    if kwargs:
        arg = sorted(kwargs)[0]
        raise ConfigError(f"compile: {arg}: not supported by layerlab; received {arg}={kwargs[arg]!r}. "
                          "Pass optimizer=, loss= and metrics= only.")
    if loss is None:
        raise ConfigError("compile: loss: expected a loss name or object; received None. "
                          "Pass loss='sparse_categorical_crossentropy' for integer labels.")
    model.compiled = Compiled(optimizers.get(optimizer), losses.get(loss), losses.check_metrics(metrics))
    model._train_state = None


# -- compiled programs, shared by structure ---------------------------------------------------------
_PROGRAMS: dict = {}   # structure -> engine.Program (the jit caches live on the Program)
_MAX_PROGRAMS = 64


def _structure(model, optimizer, loss, in_shape, batch_size, shuffle, validate):
    """What decides a program's code: layer classes, static arguments and trainability, never
    names or the numbers that reach the program as per-variant arrays."""
    layers = []
    for layer in model.layers:
        config = {k: v for k, v in layer.get_config().items()
                  if k not in ("name", "input_shape") and k not in layer._dynamic}
        layers.append((type(layer).__name__, config, layer.trainable))
    opt = None if optimizer is None else (type(optimizer).__name__, optimizer.statics())
    return json.dumps([layers, opt, None if loss is None else (type(loss).__name__, loss.get_config()),
                       list(in_shape), batch_size, shuffle, validate], sort_keys=True, default=repr)


def _program(model, optimizer, loss, in_shape, batch_size=None, shuffle=True, validate=True):
    """The shared program for this structure (optimizer None: evaluate and predict only)."""
    key = _structure(model, optimizer, loss, in_shape, batch_size, shuffle, validate)
    program = _PROGRAMS.pop(key, None)
    if program is None:
        if len(_PROGRAMS) >= _MAX_PROGRAMS:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))  # the least recently used
        program = engine.Program(model, None if optimizer is None else optimizer.transform(), loss, in_shape,
                                 batch_size or 32, shuffle=shuffle, validate=validate)
    _PROGRAMS[key] = program
    return program


def clear_programs():
    """Forgets every compiled program (clear_session() keeps them, as they do not depend on names)."""
    _PROGRAMS.clear()


# -- fit ------------------------------------------------------------------------------------------------
def fit(model, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
        validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
        sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
        validation_batch_size=None, validation_freq=1, *, seed=None, repeats=None,
        combinations=None, independent_draws=False, recorder=None, store=None, resume=None, backend=None):
    """Trains the model, or every variant of its sweeps at once.

    Keras' arguments keep their meaning. layerlab adds:
      seed: an int (or a sweep of ints) fixing initial weights, batch order and dropout; None
        uses layerlab.utils.set_random_seed's, else a fresh one (recorded in .params['seed']).
      repeats: train every variant with seeds seed, seed+1, ..., seed+repeats-1.
      combinations: a list of dicts {location: value} to train instead of the whole grid.
      independent_draws: give each variant its own random draws instead of sharing them with
        the variants of the same seed (common random numbers, the default).
      store, resume: record into a run store (a path, or a layerlab.store.Store), continuing
        run `resume` there if given; the returned History/SweepResult then has the `run_id`.
      recorder: an object told about the run as it goes (layerlab's run store is one):
        start(model=, variants=, groups=, fit_args=, metric_names=) once;
        group_start(group, order) -> (epochs_done, state_leaves, history) before a group
          trains: `order` lists the group's variant indices in the engine's layout,
          `history[name]` is an array (len(order), epochs_done); (0, None, None) starts fresh;
        epoch_end(group, epoch, row, state) after each epoch: row[name] is an array over
          `order`, state() returns the group's state (params, optimizer state) as numpy arrays;
        finish(status, metrics) at the end: "finished", or "interrupted" on any exception.
      backend: where the compile groups train: None or 'local' here, a program per core at
        a time (layerlab.backends.Local(workers=...) sets how many); 'ray' (or a
        layerlab.backends.Ray(address=...)) as Ray tasks across a cluster. Each epoch is
        recorded as it finishes; a variant's result does not depend on the backend.

    >>> result = model.fit(x, y, validation_data=(xv, yv), epochs=5, seed=1)  # doctest: +SKIP
    """
    _reject_unsupported("fit", (
        ("callbacks", callbacks, None), ("class_weight", class_weight, None), ("sample_weight", sample_weight, None),
        ("initial_epoch", initial_epoch, 0), ("steps_per_epoch", steps_per_epoch, None),
        ("validation_steps", validation_steps, None), ("validation_batch_size", validation_batch_size, None),
        ("validation_freq", validation_freq, 1)))
    if model.compiled is None:
        raise ConfigError(NOT_COMPILED.format(method="fit", name=model.name))
    _positive_int("fit", "epochs", epochs, 5)
    if not isinstance(shuffle, bool):
        raise ConfigError(f"fit: shuffle: expected True or False; received {shuffle!r}. "
                          "layerlab reshuffles all samples every epoch (shuffle=True) or none (False).")
    verbose = 1 if verbose == "auto" else verbose
    if verbose not in (0, 1, 2):
        raise ConfigError(f"fit: verbose: expected 0, 1, 2 or 'auto'; received {verbose!r}. Pass verbose=0 to silence it.")
    batch_size = 32 if batch_size is None else batch_size
    for b in (batch_size.values if isinstance(batch_size, Sweep) else (batch_size,)):
        _positive_int("fit", "batch_size", b, 32)
    if x is None or y is None:
        raise ConfigError("fit: x, y: expected training data; received None. Pass model.fit(x_train, y_train).")

    x = data.as_x("fit", "x", x, model.input_shape)
    in_shape = model.input_shape or tuple(x.shape[1:])
    loss = model.compiled.loss
    units = _output_units(model, in_shape)
    y = data.as_y("fit", "y", y, len(x), "x", loss, units)
    x, y, x_val, y_val = data.validation(validation_data, validation_split, x, y)
    if validation_data is not None:
        x_val = data.as_x("fit", "validation_data[0]", x_val, in_shape)
        y_val = data.as_y("fit", "validation_data[1]", y_val, len(x_val), "validation_data[0]", loss, units)

    seed = _resolve_seed(seed, repeats)
    backend = backends.get(backend)
    optimizer = model.compiled.optimizer
    sweeps = variants_.collect(model, optimizer, batch_size, seed)
    variant_list = variants_.variants(sweeps, combinations, seed, batch_size)
    groups = variants_.groups(model, optimizer, variant_list, sweeps, batch_size, independent_draws, in_shape)

    names = ["loss"] + (["accuracy"] if model.compiled.metrics else [])
    if x_val is not None:
        names += ["val_" + n for n in names]
    run = _Run(variant_list, names, epochs)
    if store is not None or resume is not None:
        if recorder is not None:
            raise ConfigError(RECORDER_TWICE)
        from layerlab.store import StoreRecorder
        recorder = StoreRecorder(store, resume=resume, data=(x, y, x_val, y_val))
    if recorder is not None:
        recorder.start(model=model, variants=variant_list, groups=[g.indices for g in groups],
                       fit_args={"epochs": epochs, "batch_size": None if isinstance(batch_size, Sweep) else batch_size,
                                 "shuffle": bool(shuffle), "independent_draws": bool(independent_draws),
                                 "n_train": int(x.shape[0]), "n_val": 0 if x_val is None else int(x_val.shape[0])},
                       metric_names=names)

    # Keras: fitting a trained model again continues from its weights and optimizer state.
    start = model._train_state if not sweeps and getattr(model, "_train_state", None) else None
    model._train_state = None  # its buffers are donated to the engine; set again on success
    if not sweeps and start is None and model.params is not None:
        start = (None, model.params, None, 0)
    progress = Progress(verbose, epochs * len(groups), len(variant_list))
    status = "interrupted"
    try:
        jobs = []  # kept for a single model: fitting it again continues from its state

        def make_job(group, init=True):
            program = _program(group.model, group.optimizer, loss, in_shape, group.batch_size,
                               bool(shuffle), x_val is not None)
            model.compiled.programs[group.signature] = program
            job = _GroupJob(model, group, program, run, variant_list, independent_draws, recorder, progress, start,
                            init=init)
            if not sweeps:
                jobs.append(job)
            return job

        if isinstance(backend, backends.Local):
            device = engine.to_device_data(x, y) + (engine.to_device_data(x_val, y_val) if x_val is not None
                                                    else (None, None))
            backend.train(groups, make_job, device)
        else:  # the backend draws the initial weights where it trains
            backend.train([make_job(group, init=False) for group in groups], (x, y, x_val, y_val))
        if not sweeps:
            group, job = groups[0], jobs[0]
            model._train_state = (_structure(group.model, group.optimizer, loss, in_shape, group.batch_size,
                                             bool(shuffle), x_val is not None), None, job.state, job.offset + epochs)
        status = "finished"
    finally:
        progress.close()
        if recorder is not None:
            recorder.finish(status, run.metrics)
    return _result(model, run, variant_list, sweeps, in_shape, verbose, len(x), seed, recorder)


def _output_units(model, in_shape):
    """The output layer's units; with shape sweeps, the fewest of any compile group."""
    from layerlab.sweep import expand
    return min(model.with_values(v).shapes(in_shape)[-1][-1] for v in expand(model.static_sweeps()))


def _resolve_seed(seed, repeats):
    if seed is None:
        seed = _default_seed if _default_seed is not None else int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
    if repeats is not None:
        _positive_int("fit", "repeats", repeats, 5)
        if isinstance(seed, Sweep):
            raise ConfigError(SEED_TWICE)
        _check_seed(seed)
        seed = Sweep(range(seed, seed + repeats)) if repeats > 1 else seed
    for s in (seed.values if isinstance(seed, Sweep) else (seed,)):
        _check_seed(s)
    return seed


class _Run:
    """What fit() gathers: metrics (variants, epochs) per name, trained params per variant."""

    def __init__(self, variant_list, names, epochs):
        self.names = names
        self.metrics = {n: np.full((len(variant_list), epochs), np.nan, np.float64) for n in names}
        self.trained = [None] * len(variant_list)
        self.group_of = [None] * len(variant_list)


class _GroupJob:
    """One compile group as fit() trains and records it, whichever backend runs its epochs: its
    per-variant numbers and keys, where it starts (fresh, a trained model's state, or a resumed
    run's last checkpoint), and what follows each epoch (metrics, recorder, progress).

    state: the group's engine state to start from; None (init=False, nothing to continue) when
    the backend draws the initial weights itself. offset: epochs trained before this fit (the
    random draws continue from there); done: epochs a resumed run has recorded already.
    """

    def __init__(self, model, group, program, run, variant_list, independent, recorder, progress, start, init=True):
        self.group, self.program, self.run, self.recorder, self.progress = group, program, run, recorder, progress
        self.hp = variants_.hparams(model, model.compiled.optimizer, variant_list, group.streams)
        self.keys = engine.stream_keys(jnp.stack([variants_.root_key(model, variant_list[s[0]], independent)
                                                  for s in group.streams]))
        self.order = [i for stream in group.streams for i in stream]  # variant index of each (s, r), row-major
        self.epochs = next(iter(run.metrics.values())).shape[1]
        self.state = program.init(self.keys, self.hp) if init or start is not None else None
        self.offset = 0
        if start is not None:
            structure, params, saved, trained_epochs = start
            if saved is not None and structure == _structure(group.model, group.optimizer, program.loss,
                                                             program.in_shape, program.batch_size, program.shuffle,
                                                             program.validate):
                self.state, self.offset = saved, trained_epochs
            elif params is not None:
                self.state = program.with_params(self.state,
                                                 jax.tree.map(lambda a: jnp.asarray(a)[None, None], params))
        self.done = 0
        if recorder is not None:
            # A resumed group continues from its last committed epoch: same state, same RNG.
            self.done, leaves, history = recorder.group_start(group.index, self.order)
            if self.done:
                self.state = jax.tree.unflatten(self.treedef(), [jnp.asarray(a) for a in leaves])
                for k in run.names:
                    run.metrics[k][self.order, :self.done] = history[k]
                progress.skip(self.done)  # the bar counts the epochs recorded before the resume

    def treedef(self):
        """The structure of the group's engine state (traced, not compiled, if not at hand)."""
        if self.state is not None:
            return jax.tree.structure(self.state)
        return jax.tree.structure(jax.eval_shape(self.program.init, self.keys, self.hp))

    def epoch_end(self, e, row, state, seconds):
        """row[name]: epoch e's metrics over `order`; state() the group's state leaves as numpy."""
        names, metrics = self.run.names, self.run.metrics
        for k in names:
            metrics[k][self.order, e] = row[k]
        if self.recorder is not None:
            self.recorder.epoch_end(self.group.index, e, row, state)
        self.progress.epoch_done(self.group.label, e + 1, self.epochs, seconds,
                                 _mean_logs(metrics, names, self.group.indices, e), _best(metrics, names, e))

    def finish(self, state):
        """Keeps the final engine state and each variant's trained parameters."""
        self.state = state
        params = jax.device_get(self.program.public_params(state))
        for s, stream in enumerate(self.group.streams):
            for r, i in enumerate(stream):
                self.run.trained[i] = jax.tree.map(lambda a: np.asarray(a[s, r]), params)
                self.run.group_of[i] = self.group


def run_epoch(program, state, hp, keys, epoch, device, names):
    """Trains `state` for epoch number `epoch`: (state, row, seconds), row[name] an (S, R) array.
    Every backend runs this, on a whole group or on a slice of it."""
    t0 = time.perf_counter()
    state, m = program.epoch(state, hp, keys, jnp.int32(epoch), *device)
    row = {k: np.asarray(getattr(m, k)) for k in names}
    return state, row, time.perf_counter() - t0


def epochs_of(program, state, hp, keys, offset, epochs, device, names):
    """Trains `state` for each epoch in `epochs` (a range) and yields (epoch, row, state, seconds)
    after each: row[name] is an array over the state's (S, R) variants, row-major."""
    for e in epochs:
        state, row, seconds = run_epoch(program, state, hp, keys, offset + e, device, names)
        yield e, {k: v.reshape(-1) for k, v in row.items()}, state, seconds


def _mean_logs(metrics, names, indices, e):
    """This epoch's metrics averaged over the group's variants that have not diverged."""
    out = {}
    for k in names:
        values = metrics[k][indices, e]
        finite = values[np.isfinite(values)]
        out[k] = float(finite.mean()) if finite.size else float("nan")
    return out


def _best(metrics, names, e):
    key = "val_accuracy" if "val_accuracy" in names else ("val_loss" if "val_loss" in names else "loss")
    values = metrics[key][:, : e + 1]
    values = values[np.isfinite(values)]
    if not values.size:
        return ""
    return f"best {key} {(values.max() if 'accuracy' in key else values.min()):.4f}"


def _result(model, run, variant_list, sweeps, in_shape, verbose, n_train, seed, recorder):
    """A History for a single model (trained in place), else a SweepResult."""
    names, metrics = run.names, run.metrics
    epochs = metrics["loss"].shape[1]
    diverged = []
    for i in range(len(variant_list)):
        bad = np.flatnonzero(~np.isfinite(metrics["loss"][i]))
        diverged.append(int(bad[0]) + 1 if bad.size else None)
    params = [{"verbose": verbose, "epochs": epochs, "steps": -(-n_train // run.group_of[i].batch_size),
               "batch_size": run.group_of[i].batch_size, "seed": variant_list[i]["seed"]}
              for i in range(len(variant_list))]
    run_id = getattr(recorder, "run_id", None)
    if not sweeps:
        model.params = run.trained[0]
        model._built_shape = model._built_shape or in_shape
        history = History({k: [float(v) for v in metrics[k][0]] for k in names}, list(range(epochs)),
                          params[0], model=model, diverged_at=diverged[0])
        model.history = history
        history.run_id = run_id
        return history

    def template(i):
        layer_values = {k: v for k, v in variant_list[i].items() if variants_.kind(k) == "layer"}
        concrete = run.group_of[i].model.with_values(layer_values)
        concrete._built_shape = in_shape
        concrete.compiled = model.compiled
        concrete._train_state = None
        return concrete

    result = SweepResult(variant_list, metrics, run.trained, template, diverged, params, list(sweeps))
    result.run_id = run_id
    return result


# -- evaluate / predict on a trained model ---------------------------------------------------------------
def _inference(model, method):
    if model.params is None:
        raise ConfigError(NO_WEIGHTS.format(method=method, name=model.name))
    loss = model.compiled.loss if model.compiled is not None else None
    program = _program(model, None, loss, model.input_shape)
    hp = {"layers": [{k: jnp.full((1, 1), v, jnp.float32) for k, v in h.items()} for h in model.hparams()],
          "optimizer": {}}
    params = jax.tree.map(lambda a: jnp.asarray(a)[None, None], model.params)
    return program, params, hp


def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
             callbacks=None, return_dict=False):
    """[loss, accuracy] (or the loss alone without metrics) on (x, y), in inference mode.
    batch_size and verbose are accepted for Keras' sake: layerlab evaluates in chunks of 2048."""
    _reject_unsupported("evaluate", (("sample_weight", sample_weight, None), ("steps", steps, None),
                                     ("callbacks", callbacks, None)))
    if model.compiled is None:
        raise ConfigError(NOT_COMPILED.format(method="evaluate", name=model.name))
    program, params, hp = _inference(model, "evaluate")
    x = data.as_x("evaluate", "x", x, model.input_shape)
    y = data.as_y("evaluate", "y", y, len(x), "x", model.compiled.loss, model.shapes()[-1][-1])
    loss, acc = program.evaluate(params, hp, *engine.to_device_data(x, y))
    out = {"loss": float(loss[0, 0])}
    if model.compiled.metrics:
        out["accuracy"] = float(acc[0, 0])
    if return_dict:
        return out
    return list(out.values()) if len(out) > 1 else out["loss"]


def predict(model, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
    """The model's outputs for x as a numpy array (n, units), final activation applied."""
    _reject_unsupported("predict", (("steps", steps, None), ("callbacks", callbacks, None)))
    program, params, hp = _inference(model, "predict")
    x = data.as_x("predict", "x", x, model.input_shape)
    return np.asarray(program.predict(params, hp, jnp.asarray(x))[0, 0])
