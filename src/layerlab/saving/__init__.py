"""Keras 3's own file formats, read and written: `.keras` (a zip of config.json, metadata.json
and model.weights.h5), `.weights.h5`, and the JSON of model.to_json().

Files written here load in Keras 3 (keras.models.load_model) and files Keras 3 saves load here,
optimizer state included where both sides keep it alike (optimizer_state.py). _config.py maps
configs through the layer registry, weights.py the HDF5 paths, _archive.py the zip, written
whole or not at all. Nothing in a file is ever run or unpickled.

This package knows files and configs; layerlab.models turns them into Sequential models
(`model.save`, `layerlab.models.load_model`). The store's `layerlab.load_model(run, variant)`
is another thing: it reads a recorded run.
"""
import datetime
import json
from typing import Any, NamedTuple

import numpy as np

from layerlab._version import __version__
from layerlab.errors import ConfigError

from . import optimizer_state
from ._archive import LEGACY_H5, check_target, existing, is_hdf5, pack, unpack, write_atomic
from ._config import compile_from_keras, from_keras, to_keras
from .weights import is_legacy, keras_order, layer_paths, read_h5, trainable_names, write_h5

KERAS_VERSION = "3.15.1"  # the Keras release whose files these were checked against (tests/test_saving.py)

NOT_HDF5 = ("{method}: {source}: expected an HDF5 weights file (.weights.h5); received a file that is not one "
            "or is truncated. Save it again with model.save_weights().")
WRONG_COUNT = ("{method}: {source}: {path} (layer {name!r}, {cls}): expected {expected} weight arrays; received "
               "{received}. The file holds another model; load it into the model it was saved from.")
WRONG_SHAPE = ("{method}: {source}: {path}/vars/{index} ({name}.{weight}): expected shape {expected}; received "
               "{received}. The file holds another model; load it into the model it was saved from.")
EXTRA_LAYERS = ("{method}: {source}: expected weights for the layers {expected}; received weights for {extra} too. "
                "The file holds another model; load it into the model it was saved from.")
WRONG_SLOT = ("{method}: {source}: optimizer/vars/{index}: expected shape {expected}; received {received}. "
              "Load with compile=False to leave the optimizer's state out.")
BAD_JSON = ("model_from_json: json_string: expected the JSON text of model.to_json(); received {received!r} "
            "({detail}). Pass the string to_json() returned.")

__all__ = [
    "BAD_JSON",
    "EXTRA_LAYERS",
    "KERAS_VERSION",
    "NOT_HDF5",
    "WRONG_COUNT",
    "WRONG_SHAPE",
    "WRONG_SLOT",
    "Loaded",
    "assign",
    "check_target",
    "config_from_json",
    "existing",
    "is_hdf5",
    "optimizer_from",
    "read_model",
    "read_weights",
    "save_model",
    "save_weights",
    "to_json",
]


class Loaded(NamedTuple):
    """What a .keras file holds, in layerlab's terms."""

    config: dict          # a layerlab Sequential config (Sequential.from_config)
    compile: Any          # (optimizer, loss, metrics) from compile_config, or None
    weights: dict         # 'layers/dense' -> [arrays], 'optimizer' -> [arrays] (weights.read_h5)
    metadata: dict        # metadata.json


def _h5(model, params, opt_state):
    layers = model.layers
    paths = layer_paths(type(layer).__name__ for layer in layers)
    layer_weights = [(path, [p[n] for n in keras_order(type(layer).__name__, p)])
                     for path, layer, p in zip(paths, layers, params)]
    optimizer = None
    if model.compiled is not None:
        opt = model.compiled.optimizer
        state = opt_state if opt_state is not None else opt.transform().init(params)
        optimizer = (opt.name, optimizer_state.to_keras(opt, state, trainable_names(layers, params, model.trainable)))
    return write_h5(model.name, layer_weights, optimizer)


def save_model(model, params, opt_state, filepath, overwrite=True):
    """Writes `model` (a concrete Sequential) with `params` (per layer dicts, the layers' layout)
    and its optimizer's optax state (one variant's, or None: a fresh one) as a .keras file."""
    path = check_target("save", filepath, ".keras", "model.keras", overwrite)
    config = to_keras(model, "save")
    metadata = {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "layerlab_version": __version__}
    write_atomic("save", path, pack(config, metadata, _h5(model, params, opt_state)))
    return path


def save_weights(model, params, opt_state, filepath, overwrite=True):
    """model.save_weights('m.weights.h5'): the HDF5 file of a .keras archive, on its own."""
    path = check_target("save_weights", filepath, ".weights.h5", "model.weights.h5", overwrite)
    write_atomic("save_weights", path, _h5(model, params, opt_state))
    return path


def to_json(model) -> str:
    return json.dumps(to_keras(model, "to_json"))


def config_from_json(text) -> dict:
    """A layerlab Sequential config from model.to_json()'s text (Keras' or layerlab's)."""
    try:
        value = json.loads(text)
    except (TypeError, json.JSONDecodeError) as e:
        shown = text if not isinstance(text, str) else text[:40] + ("..." if len(text) > 40 else "")
        raise ConfigError(BAD_JSON.format(received=shown, detail=e)) from None
    if not isinstance(value, dict):
        raise ConfigError(BAD_JSON.format(received=text[:40], detail="not an object"))
    return from_keras(value, "model_from_json", "json_string")


def read_model(filepath, compile=True) -> Loaded:
    """A .keras file's config, compile settings and weights, checked (nothing built yet)."""
    config, metadata, weights = unpack("load_model", filepath)
    source = str(filepath)
    layerlab_config = from_keras(config, "load_model", source)
    compiled = compile_from_keras(config, "load_model", source) if compile else None
    arrays = {}
    if weights is not None:
        try:
            arrays = read_h5(weights)
        except OSError:
            raise ConfigError(NOT_HDF5.format(method="load_model", source=f"{source}: model.weights.h5")) from None
    return Loaded(layerlab_config, compiled, arrays, metadata)


def read_weights(filepath, method="load_weights") -> dict:
    path = existing(method, filepath)
    if not is_hdf5(path):
        raise ConfigError(NOT_HDF5.format(method=method, source=str(path)))
    try:
        if is_legacy(str(path)):
            raise ConfigError(LEGACY_H5.format(method=method, path=str(path)))
        return read_h5(str(path))
    except OSError:
        raise ConfigError(NOT_HDF5.format(method=method, source=str(path))) from None


def assign(layers, template, arrays, method, source):
    """Per-layer params from the file's arrays, checked against `template` (per-layer dicts of
    anything with .shape, e.g. jax.eval_shape(model.init)): counts, shapes, no foreign layers."""
    paths = layer_paths(type(layer).__name__ for layer in layers)
    extra = sorted(p for p, a in arrays.items() if p.startswith("layers/") and a and p not in paths)
    if extra:
        raise ConfigError(EXTRA_LAYERS.format(method=method, source=source, expected=paths, extra=extra))
    params = []
    for path, layer, t in zip(paths, layers, template):
        names = keras_order(type(layer).__name__, t)
        given = arrays.get(path, [])
        if len(given) != len(names):
            raise ConfigError(WRONG_COUNT.format(method=method, source=source, path=path, name=layer.name,
                                                 cls=type(layer).__name__, expected=len(names), received=len(given)))
        p = {}
        for index, (n, a) in enumerate(zip(names, given)):
            if tuple(a.shape) != tuple(t[n].shape):
                raise ConfigError(WRONG_SHAPE.format(method=method, source=source, path=path, index=index,
                                                     name=layer.name, weight=n, expected=tuple(t[n].shape),
                                                     received=tuple(a.shape)))
            p[n] = np.asarray(a, np.float32)
        params.append(p)
    return params


def optimizer_from(model, params, arrays, method, source):
    """The optax state a file's optimizer/vars hold for model's compiled optimizer, or None."""
    if model.compiled is None or not arrays:
        return None
    opt = model.compiled.optimizer
    fresh = opt.transform().init(params)
    try:
        return optimizer_state.from_keras(opt, fresh, arrays, trainable_names(model.layers, params, model.trainable))
    except optimizer_state.SlotShapeError as e:
        index, expected, received = e.args
        raise ConfigError(WRONG_SLOT.format(method=method, source=source, index=index, expected=expected,
                                            received=received)) from None

