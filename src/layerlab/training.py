"""compile(), fit(), evaluate() and predict(): Keras' contract, with sweeps.

fit() turns the model's, the optimizer's and fit's own sweeps into variants, groups them by
everything that changes shapes or code (one compiled program per group), trains each group's
variants together (layerlab.engine), and returns a History (one variant) or a SweepResult.

Keras semantics kept here: batch_size 32, reshuffled every epoch, last partial batch kept;
`loss`/`accuracy` are sample-weighted means over the epoch's batches with dropout active;
`val_*` are computed at each epoch's end in inference mode on the whole validation set.
"""
import hashlib
import json
import numbers
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from layerlab import engine, losses, optimizers
from layerlab.errors import ConfigError
from layerlab.history import History, SweepResult
from layerlab.progress import Progress
from layerlab.sweep import Sweep, expand

NOT_COMPILED = ("{method}: model {name!r} is not compiled; expected compile() first. Call "
                "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy']).")
NO_WEIGHTS = ("{method}: model {name!r} has no trained weights; expected fit() first. "
              "Call model.fit(x, y) (or use result.model(i) of a sweep).")
BAD_X_SHAPE = ("{method}: {arg}: expected samples of shape {expected} (the model's input shape), "
               "i.e. an array (n, {dims}); received shape {received}. Reshape {arg} or change the "
               "first layer's input_shape.")
EMPTY = ("{method}: {arg}: expected at least one sample; received an empty array of shape {received}. "
         "Pass the data to train on.")
BAD_LENGTH = ("{method}: {arg}: expected {expected} labels, one per sample of {x_arg}; received {received}. "
              "Pass x and y of the same length.")
BAD_LABELS = ("{method}: {arg}: expected integer class labels in [0, {units}) for the model's {units} "
              "output units; received {received}. Check the labels or give the last layer more units.")
NOT_NUMERIC = ("{method}: {arg}: expected a numeric array; received {received}. "
               "Convert it with numpy.asarray(..., dtype='float32').")
BAD_VALIDATION = ("fit: validation_data: expected a tuple (x_val, y_val); received {received}. "
                  "Pass validation_data=(x_test, y_test).")
UNSUPPORTED = ("fit: {arg}: not supported by layerlab yet; received {arg}={received!r}. "
               "Leave it at its default ({default!r}).")
BAD_INT = ("{method}: {arg}: expected a positive int; received {received!r}. Pass e.g. {arg}={example}.")
BAD_SEED = ("fit: seed: expected an int >= 0, a layerlab.sweep of them, or None; received {received!r}. "
            "Pass e.g. seed=1.")

_default_seed = None


def set_random_seed(seed):
    """Sets the seed fit() uses when none is given, as keras.utils.set_random_seed does."""
    global _default_seed
    _check_seed(seed)
    _default_seed = int(seed)


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(BAD_SEED.format(received=seed))


class Compiled:
    def __init__(self, optimizer, loss, metrics):
        self.optimizer, self.loss, self.metrics = optimizer, loss, metrics
        self.programs = {}  # compile-group signature -> engine.Program (kept: no recompiling on refit)


def compile_model(model, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
    if kwargs:
        arg = sorted(kwargs)[0]
        raise ConfigError(f"compile: {arg}: not supported by layerlab; received {arg}={kwargs[arg]!r}. "
                          "Pass optimizer=, loss= and metrics= only.")
    if loss is None:
        raise ConfigError("compile: loss: expected a loss name or object; received None. "
                          "Pass loss='sparse_categorical_crossentropy' for integer labels.")
    model.compiled = Compiled(optimizers.get(optimizer), losses.get(loss), losses.check_metrics(metrics))


# -- data checks ---------------------------------------------------------------------------------
def _as_x(method, arg, x, in_shape):
    try:
        x = np.asarray(x)
    except Exception:
        raise ConfigError(NOT_NUMERIC.format(method=method, arg=arg, received=type(x).__name__)) from None
    if x.dtype.kind not in "biuf":
        raise ConfigError(NOT_NUMERIC.format(method=method, arg=arg, received=f"dtype {x.dtype}"))
    if x.ndim == 0 or x.shape[0] == 0:
        raise ConfigError(EMPTY.format(method=method, arg=arg, received=x.shape))
    if in_shape is not None and tuple(x.shape[1:]) != tuple(in_shape):
        raise ConfigError(BAD_X_SHAPE.format(method=method, arg=arg, expected=tuple(in_shape),
                                             dims=", ".join(map(str, in_shape)), received=x.shape))
    return x.astype(np.float32, copy=False)


def _as_y(method, arg, y, n, x_arg, loss, units):
    try:
        y = np.asarray(y)
    except Exception:
        raise ConfigError(NOT_NUMERIC.format(method=method, arg=arg, received=type(y).__name__)) from None
    if y.dtype.kind not in "biuf":
        raise ConfigError(NOT_NUMERIC.format(method=method, arg=arg, received=f"dtype {y.dtype}"))
    if y.ndim == 0 or y.shape[0] != n:
        raise ConfigError(BAD_LENGTH.format(method=method, arg=arg, expected=n, x_arg=x_arg,
                                            received=y.shape[0] if y.ndim else "a scalar"))
    if loss.sparse:
        y = y.reshape(n) if y.ndim == 2 and y.shape[1] == 1 else y
        bad = y.ndim != 1 or np.any(y != np.round(y)) or y.min() < 0 or y.max() >= units
        if bad:
            shown = f"shape {y.shape}" if y.ndim != 1 else f"values from {y.min()} to {y.max()}"
            raise ConfigError(BAD_LABELS.format(method=method, arg=arg, units=units, received=shown))
        return y.astype(np.int32)
    return y.astype(np.float32)


def _output_units(model, in_shape):
    """The output layer's units; with shape sweeps, the fewest of any compile group."""
    static = {k: s for k, s in model.sweeps().items() if _is_static(k, model)}
    return min(model.with_values(v).shapes(in_shape)[-1][-1] for v in expand(static))


def _prepare(model, method, x, y, in_shape):
    loss = model.compiled.loss
    x = _as_x(method, "x", x, in_shape)
    units = _output_units(model, tuple(x.shape[1:])) if loss.sparse else None
    return x, _as_y(method, "y", y, x.shape[0], "x", loss, units)


# -- compiled programs, shared by structure -------------------------------------------------------
_PROGRAMS: dict = {}   # structure -> engine.Program; jit caches live on the Program
_MAX_PROGRAMS = 64


def _structure(model, optimizer, loss, in_shape, batch_size, shuffle, validate):
    """What decides a program's code: layer classes and static arguments, never names or the
    numbers that reach the program as per-variant arrays."""
    layers = []
    for layer in model.layers:
        config = {k: v for k, v in layer.get_config().items()
                  if k not in ("name", "input_shape") and k not in layer._dynamic}
        layers.append((type(layer).__name__, config))
    return json.dumps([layers, type(optimizer).__name__, optimizer.statics(), type(loss).__name__,
                       loss.get_config(), list(in_shape), batch_size, shuffle, validate],
                      sort_keys=True, default=repr)


def _program(model, optimizer, loss, in_shape, batch_size, shuffle, validate):
    key = _structure(model, optimizer, loss, in_shape, batch_size, shuffle, validate)
    program = _PROGRAMS.get(key)
    if program is None:
        if len(_PROGRAMS) >= _MAX_PROGRAMS:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
        program = engine.Program(model, optimizer.transform(), loss, in_shape, batch_size,
                                 shuffle=shuffle, validate=validate)
        _PROGRAMS[key] = program
    return program


# -- variants and groups ---------------------------------------------------------------------------
def _positive_int(method, arg, v, example):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
        raise ConfigError(BAD_INT.format(method=method, arg=arg, received=v, example=example))


def _settings_key(settings):
    """A stable 31-bit number from a variant's settings, for independent draws."""
    text = json.dumps({k: v for k, v in settings.items() if k != "seed"}, sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF


def _is_static(location, model):
    if location == "batch_size":
        return True
    if location == "seed":
        return False
    if location.startswith("optimizer."):
        return location.split(".", 1)[1] in {n for n, _ in model.compiled.optimizer.statics()} or \
            location.split(".", 1)[1] in model.compiled.optimizer._static
    layer_name, _, arg = location.rpartition(".")
    layer = next(layer for layer in model.layers if layer.name == layer_name)
    return arg not in layer._dynamic


def _concrete(model, optimizer, settings):
    layer_values = {k: v for k, v in settings.items() if "." in k and not k.startswith("optimizer.")}
    opt_values = {k: v for k, v in settings.items() if k.startswith("optimizer.")}
    return model.with_values(layer_values), optimizer.with_values(opt_values)


def _layout(indices, seeds, independent):
    """Places a group's variants on the (S, R) grid: streams share seeds (unless independent)."""
    if not independent:
        by_seed = {}
        for i in indices:
            by_seed.setdefault(seeds[i], []).append(i)
        sizes = {len(v) for v in by_seed.values()}
        if len(sizes) == 1:
            return list(by_seed.values())
    return [[i] for i in indices]


def fit(model, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
        validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
        sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
        validation_batch_size=None, validation_freq=1, *, seed=None, repeats=None,
        combinations=None, independent_draws=False, recorder=None):
    """Trains the model, or every variant of its sweeps at once. See the module docstring.

    recorder: an object told about the run as it goes (layerlab's run store is one):
      start(model=, variants=, groups=, fit_args=, metric_names=) once;
      group_start(group, order) -> (epochs_done, state_leaves, history) before a group trains:
        `order` lists the group's variant indices in the engine's layout, `history[name]` is an
        array (len(order), epochs_done); return (0, None, None) to start fresh;
      epoch_end(group, epoch, row, state) after each epoch: row[name] is an array over `order`,
        state() returns the group's state (params, optimizer state) as a list of numpy arrays;
      finish(status, metrics) at the end: "finished", or "interrupted" on any exception.
    """
    for arg, value, default in (("callbacks", callbacks, None), ("class_weight", class_weight, None),
                                ("sample_weight", sample_weight, None), ("initial_epoch", initial_epoch, 0),
                                ("steps_per_epoch", steps_per_epoch, None), ("validation_steps", validation_steps, None),
                                ("validation_batch_size", validation_batch_size, None),
                                ("validation_freq", validation_freq, 1)):
        if value != default:
            raise ConfigError(UNSUPPORTED.format(arg=arg, received=value, default=default))
    if model.compiled is None:
        raise ConfigError(NOT_COMPILED.format(method="fit", name=model.name))
    _positive_int("fit", "epochs", epochs, 5)
    verbose = 1 if verbose == "auto" else verbose
    if verbose not in (0, 1, 2):
        raise ConfigError(f"fit: verbose: expected 0, 1, 2 or 'auto'; received {verbose!r}. Pass verbose=0 to silence it.")
    batch_size = 32 if batch_size is None else batch_size
    for b in (batch_size.values if isinstance(batch_size, Sweep) else (batch_size,)):
        _positive_int("fit", "batch_size", b, 32)

    # Data: the model's input shape, or one sample's shape taken from x.
    if x is None or y is None:
        raise ConfigError("fit: x, y: expected training data; received None. Pass model.fit(x_train, y_train).")
    x_arr = np.asarray(x)
    in_shape = model.input_shape or tuple(x_arr.shape[1:])
    x, y = _prepare(model, "fit", x, y, in_shape)
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ConfigError(BAD_VALIDATION.format(received=type(validation_data).__name__))
        loss = model.compiled.loss
        x_val = _as_x("fit", "validation_data[0]", validation_data[0], in_shape)
        units = _output_units(model, in_shape) if loss.sparse else None
        y_val = _as_y("fit", "validation_data[1]", validation_data[1], x_val.shape[0],
                      "validation_data[0]", loss, units)
    elif validation_split:
        if not 0 < validation_split < 1:
            raise ConfigError(f"fit: validation_split: expected a float in (0, 1); received {validation_split!r}. "
                              "Pass e.g. validation_split=0.1.")
        # Keras holds out the *last* fraction of the samples, before any shuffling.
        cut = int(x.shape[0] * (1 - validation_split))
        x, x_val, y, y_val = x[:cut], x[cut:], y[:cut], y[cut:]
    else:
        x_val = y_val = None

    # Variants: every sweep of the model, the optimizer and fit, as a grid or the listed combinations.
    if seed is None:
        seed = _default_seed if _default_seed is not None else int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
    if repeats is not None:
        _positive_int("fit", "repeats", repeats, 5)
        if isinstance(seed, Sweep):
            raise ConfigError("fit: repeats: expected repeats or a seed sweep, not both; received both. "
                              "Drop repeats= or pass seed as one int.")
        seed = Sweep(range(seed, seed + repeats)) if repeats > 1 else seed
    for s in (seed.values if isinstance(seed, Sweep) else (seed,)):
        _check_seed(s)
    optimizer = model.compiled.optimizer
    sweeps = {**model.sweeps(), **optimizer.sweeps()}
    if isinstance(batch_size, Sweep):
        sweeps["batch_size"] = batch_size
    if isinstance(seed, Sweep):
        sweeps["seed"] = seed
    variants = expand(sweeps, combinations)
    for v in variants:
        v.setdefault("seed", seed)
    swept = [k for k in sweeps]
    static_keys = [k for k in sweeps if _is_static(k, model)]

    groups = {}
    for i, v in enumerate(variants):
        groups.setdefault(tuple((k, repr(v[k])) for k in static_keys), []).append(i)

    device_x, device_y = engine.to_device_data(x, y)
    device_val = engine.to_device_data(x_val, y_val) if x_val is not None else None
    V, E = len(variants), epochs
    names = ["loss"] + (["accuracy"] if model.compiled.metrics else [])
    if device_val is not None:
        names += ["val_" + n for n in names]
    metrics = {n: np.full((V, E), np.nan, np.float64) for n in names}
    trained = [None] * V
    templates = {}
    if recorder is not None:
        recorder.start(model=model, variants=variants, groups=[ix for ix in groups.values()],
                       fit_args={"epochs": E, "batch_size": None if isinstance(batch_size, Sweep) else batch_size,
                                 "shuffle": bool(shuffle), "independent_draws": bool(independent_draws),
                                 "n_train": int(x.shape[0]), "n_val": 0 if x_val is None else int(x_val.shape[0])},
                       metric_names=names)
    progress = Progress(verbose, E * len(groups), V)
    status = "interrupted"
    try:
        for g, (signature, indices) in enumerate(groups.items()):
            settings0 = variants[indices[0]]
            # Concrete in every setting; the dynamic ones are overridden per variant through hp.
            group_model, group_opt = _concrete(model, optimizer, settings0)
            group_batch = settings0.get("batch_size", batch_size)
            streams = _layout(indices, [v["seed"] for v in variants], independent_draws)
            program = _program(group_model, group_opt, model.compiled.loss, in_shape, group_batch,
                               bool(shuffle), device_val is not None)
            model.compiled.programs[signature] = program
            hp = _hparams(model, optimizer, variants, streams)
            keys = engine.stream_keys(jnp.stack([_root_key(variants[stream[0]], independent_draws)
                                                 for stream in streams]))
            state = program.init(keys, hp)
            order = [i for stream in streams for i in stream]  # variant index of each (s, r), row-major
            done = 0
            if recorder is not None:
                # A resumed group continues from its last committed epoch: same state, same RNG.
                done, leaves, history = recorder.group_start(g, order)
                if done:
                    state = jax.tree.unflatten(jax.tree.structure(state), [jnp.asarray(a) for a in leaves])
                    for k in names:
                        metrics[k][order, :done] = history[k]
            label = _group_label(static_keys, settings0, len(groups))
            for e in range(done, E):
                t0 = time.perf_counter()
                state, m = program.epoch(state, hp, keys, jnp.int32(e), device_x, device_y,
                                         *(device_val or (None, None)))
                row = {k: np.asarray(getattr(m, k)).reshape(-1) for k in names}  # in `order`
                for k in names:
                    metrics[k][order, e] = row[k]
                if recorder is not None:
                    recorder.epoch_end(g, e, row, lambda: [np.asarray(a) for a in jax.tree.leaves(state)])
                logs = {k: float(np.nanmean(metrics[k][indices, e])) for k in names}
                progress.epoch_done(label, e + 1, E, time.perf_counter() - t0, logs,
                                    _best(metrics, names, indices, e, V))
            params = jax.device_get(program.public_params(state))
            for s, stream in enumerate(streams):
                for r, i in enumerate(stream):
                    trained[i] = jax.tree.map(lambda a: np.asarray(a[s, r]), params)
                    templates[i] = (group_model, variants[i])
        status = "finished"
    finally:
        progress.close()
        if recorder is not None:
            recorder.finish(status, metrics)

    diverged = []
    for i in range(V):
        bad = np.flatnonzero(~np.isfinite(metrics["loss"][i]))
        diverged.append(int(bad[0]) + 1 if bad.size else None)
    fit_params = {"verbose": verbose, "epochs": E, "steps": -(-x.shape[0] // variants[0].get("batch_size", batch_size)),
                  "batch_size": batch_size if not isinstance(batch_size, Sweep) else None,
                  "seed": seed if not isinstance(seed, Sweep) else None}

    def template(i):
        group_model, settings = templates[i]
        dyn = {k: settings[k] for k in swept if k not in static_keys and "." in k and not k.startswith("optimizer.")}
        concrete = group_model.with_values(dyn) if dyn else group_model.with_values({})
        concrete._built_shape = in_shape
        concrete.compiled = model.compiled
        return concrete

    if not sweeps:
        model.params = trained[0]
        model._built_shape = model._built_shape or in_shape
        history = History({k: [float(v) for v in metrics[k][0]] for k in names}, list(range(E)),
                          fit_params, model=model, diverged_at=diverged[0])
        model.history = history
        return history
    return SweepResult(variants, metrics, trained, template, diverged, fit_params, swept)


def _root_key(settings, independent):
    """A stream's root key: its seed, folded with its settings for independent draws."""
    root = jax.random.PRNGKey(settings["seed"])
    return jax.random.fold_in(root, _settings_key(settings)) if independent else root


def _hparams(model, optimizer, variants, streams):
    """Per-variant numbers as (S, R) float32 arrays: {'layers': [...], 'optimizer': {...}}."""
    per_variant = {}
    for stream in streams:
        for i in stream:
            m, o = _concrete(model, optimizer, variants[i])
            per_variant[i] = (m.hparams(), o.hparams())

    def grid(get):
        return jnp.asarray(np.array([[get(per_variant[i]) for i in stream] for stream in streams], np.float32))

    layers = [{k: grid(lambda pv, j=j, k=k: pv[0][j][k]) for k in layer_hp}
              for j, layer_hp in enumerate(per_variant[streams[0][0]][0])]
    opt = {k: grid(lambda pv, k=k: pv[1][k]) for k in per_variant[streams[0][0]][1]}
    return {"layers": layers, "optimizer": opt}


def _group_label(static_keys, settings, n_groups):
    if n_groups == 1:
        return ""
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={settings[k]}" for k in static_keys)


def _best(metrics, names, indices, e, V):
    key = "val_accuracy" if "val_accuracy" in names else ("val_loss" if "val_loss" in names else "loss")
    values = metrics[key][:, : e + 1]
    if np.all(np.isnan(values)):
        return ""
    best = np.nanmax(values) if "accuracy" in key else np.nanmin(values)
    return f"best {key} {best:.4f}"


# -- evaluate / predict on a trained model -------------------------------------------------------------
def _single_program(model, validate=True):
    if model.compiled is None:
        raise ConfigError(NOT_COMPILED.format(method="evaluate", name=model.name))
    program = _program(model, model.compiled.optimizer, model.compiled.loss, model.input_shape, 32,
                       True, validate)
    hp = {"layers": [{k: jnp.full((1, 1), v, jnp.float32) for k, v in h.items()} for h in model.hparams()],
          "optimizer": {}}
    params = jax.tree.map(lambda a: jnp.asarray(a)[None, None], model.params)
    return program, params, hp


def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", return_dict=False, **kwargs):
    """[loss, accuracy] (or loss alone without metrics) on (x, y), in inference mode."""
    if model.compiled is None:
        raise ConfigError(NOT_COMPILED.format(method="evaluate", name=model.name))
    if model.params is None:
        raise ConfigError(NO_WEIGHTS.format(method="evaluate", name=model.name))
    x, y = _prepare(model, "evaluate", x, y, model.input_shape)
    program, params, hp = _single_program(model)
    loss, acc = program.evaluate(params, hp, *engine.to_device_data(x, y))
    out = {"loss": float(loss[0, 0])}
    if model.compiled.metrics:
        out["accuracy"] = float(acc[0, 0])
    if return_dict:
        return out
    return list(out.values()) if len(out) > 1 else out["loss"]


def predict(model, x, batch_size=None, verbose="auto", **kwargs):
    """The model's outputs for x as a numpy array (n, units), final activation applied."""
    if model.params is None:
        raise ConfigError(NO_WEIGHTS.format(method="predict", name=model.name))
    x = _as_x("predict", "x", x, model.input_shape)
    program, params, hp = _single_program(model)
    return np.asarray(program.predict(params, hp, jnp.asarray(x))[0, 0])
