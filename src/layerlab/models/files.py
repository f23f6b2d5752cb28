"""Sequential models to and from Keras 3's files: model.save('m.keras'), load_model('m.keras'),
save_weights/load_weights ('m.weights.h5'), to_json/model_from_json. layerlab.saving holds the
formats; this module gives them a model's weights and optimizer state and builds models back.

Two loaders share a name, as in layerlab's top package: `layerlab.models.load_model('m.keras')`
reads Keras' file (this module); `layerlab.load_model(run, variant)` reads a recorded run.
"""
import os

import jax
import numpy as np

from layerlab import engine, saving
from layerlab.errors import ConfigError
from layerlab.training.jobs import Continuation

STORE_GIVEN = ("load_model: filepath: expected a .keras file; received {received!r}, which names a recorded run. "
               "Load a run's model with layerlab.load_model(run, variant, store=...).")
NO_CUSTOM_OBJECTS = ("{method}: custom_objects: expected None; received {received!r}. layerlab runs no code "
                     "from files and has no custom objects; rebuild the model from layerlab's layers.")
SAVE_ARG = ("save: {arg}: not supported by layerlab; received {arg}={received!r}. layerlab writes Keras 3's "
            "zipped .keras format only; leave {arg} out.")
WEIGHTS_SUFFIX = ("load_weights: filepath: expected a .weights.h5 or .keras file; received {received!r}. "
                  "Pass the path model.save_weights() or model.save() wrote.")


def _params(model):
    """The weights to write: the trained ones, or fresh ones (seed 0) for a model never trained."""
    if model.params is not None:
        return [{k: np.asarray(v) for k, v in p.items()} for p in model.params]
    return jax.device_get(model.init(jax.random.PRNGKey(0)))


def _opt_state(model):
    """One variant's optax state in the layers' layout, or None (a fresh optimizer)."""
    start = getattr(model, "_train_state", None)
    if start is None or model.compiled is None:
        return None
    if start.state is not None:
        return jax.device_get(engine.Program.public_opt_state(model.layers, start.state))
    return start.opt_state


def save(model, filepath, overwrite=True, zipped=None, **kwargs):
    """Keras' model.save(filepath): a .keras file that Keras 3 loads."""
    if kwargs or zipped is False:
        arg, value = next(iter(kwargs.items())) if kwargs else ("zipped", zipped)
        raise ConfigError(SAVE_ARG.format(arg=arg, received=value))
    saving.save_model(model, _params(model), _opt_state(model), filepath, overwrite)


def save_weights(model, filepath, overwrite=True):
    saving.save_weights(model, _params(model), _opt_state(model), filepath, overwrite)


def _check_loader_argument(filepath, custom_objects, method):
    if custom_objects:
        raise ConfigError(NO_CUSTOM_OBJECTS.format(method=method, received=custom_objects))
    if isinstance(filepath, (int, np.integer)) and not isinstance(filepath, bool) or \
            isinstance(filepath, (str, os.PathLike)) and str(filepath).endswith((".db", ".sqlite", ".sqlite3")):
        raise ConfigError(STORE_GIVEN.format(received=filepath))


def load_model(sequential, filepath, custom_objects=None, compile=True, safe_mode=True):
    """A `sequential` (the class) from a .keras file (layerlab.models.load_model says more)."""
    del safe_mode  # always safe
    _check_loader_argument(filepath, custom_objects, "load_model")
    loaded = saving.read_model(filepath, compile=compile)
    model = sequential.from_config(loaded.config)
    if loaded.compile is not None:
        optimizer, loss, metrics = loaded.compile
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    _load_arrays(model, loaded.weights, "load_model", str(filepath))
    return model


def load_weights(model, filepath, skip_mismatch=False):
    """Weights (and optimizer state, if compiled) from a .weights.h5 or .keras file, checked."""
    if skip_mismatch:
        raise ConfigError(SAVE_ARG.replace("save:", "load_weights:").format(arg="skip_mismatch", received=True))
    if not isinstance(filepath, (str, os.PathLike)) or not str(filepath).endswith((".weights.h5", ".keras")):
        raise ConfigError(WEIGHTS_SUFFIX.format(received=filepath))
    if str(filepath).endswith(".keras"):
        arrays = saving.read_model(filepath, compile=False).weights
    else:
        arrays = saving.read_weights(filepath)
    _load_arrays(model, arrays, "load_weights", str(filepath))


def _load_arrays(model, arrays, method, source):
    template = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0)))
    params = saving.assign(model.layers, template, arrays, method, source)
    model.params, model._train_state = params, None
    opt_state = saving.optimizer_from(model, params, arrays.get("optimizer"), method, source)
    if opt_state is not None:
        model._train_state = Continuation(None, model.params, None, 0, opt_state)


def to_json(model, **kwargs):
    """Keras' model.to_json(): the config.json text (layers, input shape, compile settings)."""
    return saving.to_json(model)


def model_from_json(sequential, json_string, custom_objects=None):
    _check_loader_argument(None, custom_objects, "model_from_json")
    return sequential.from_config(saving.config_from_json(json_string))
