"""Sequential: a stack of layers, built and summarised as in Keras, trained by layerlab's engine.

>>> import layerlab
>>> from layerlab import layers
>>> layerlab.backend.clear_session()
>>> model = layerlab.Sequential([layers.Flatten(input_shape=(28, 28)),
...                              layers.Dense(128, activation="relu"),
...                              layers.Dropout(0.2), layers.Dense(10, activation="softmax")])
>>> model.count_params()
101770
"""
from collections.abc import Iterable

import jax
import numpy as np

from layerlab import session, training, variants
from layerlab.errors import ConfigError
from layerlab.layers import InputLayer, Layer, Stack
from layerlab.layers.base import check_shape
from layerlab.layers.registry import UNKNOWN_LAYER_CLASS, deserialize, serialize  # noqa: F401  (models re-exports it)
from layerlab.sweep import expand

from . import files
from .summary import summary_lines

NOT_A_LIST = ("Sequential: layers: expected a list of layerlab layers; received {received!r} "
              "(of type {type}). Pass e.g. [layerlab.layers.Dense(10)].")
SHAPE_SWEPT = ("{method}: model {name!r} sweeps settings that change shapes ({swept}); expected "
               "the same result in every compile group. Call summary() to see each group.")
NOT_A_LAYER = ("Sequential: layers[{index}]: expected a layerlab layer such as "
               "layerlab.layers.Dense(10); received {received!r} (of type {type}). "
               "Build the model from layerlab.layers.")
DUPLICATE_NAME = ("Sequential: layers[{index}]: expected a unique layer name; received {name!r} "
                  "twice. Give one of them another name= or leave name out.")
LATE_INPUT = ("Sequential: layers[{index}]: expected Input only as the first item; received it "
              "after other layers. Move layerlab.layers.Input(shape=...) to the front.")
UNKNOWN_INPUT_SHAPE = ("{method}: the input shape of model {name!r} is unknown; expected "
                       "input_shape= on the first layer. Pass input_shape=(28, 28) to the first "
                       "layer, start with layerlab.layers.Input(shape=(28, 28)), or call "
                       "model.build((None, 28, 28)).")
NO_LAYERS = ("{method}: model {name!r} has no layers; expected at least one. "
             "Call model.add(layer) first.")
BAD_NAME = ("Sequential: name: expected a non-empty string; received {received!r}. "
            "Pass a string or leave name out.")
NO_WEIGHTS_YET = ("get_weights(): model {name!r} has no weights yet; expected a trained or built model. "
                  "Call fit() first.")
WRONG_COUNT = ("set_weights: weights: expected {expected} arrays; received {received}. "
               "Pass what get_weights() returns for this model.")
WRONG_SHAPE = ("set_weights: {name}: expected shape {expected}; received {received}. "
               "Pass arrays shaped like get_weights() returns.")

class Sequential(Stack):
    """A linear stack of layers. Any layer argument may be a `layerlab.sweep([...])`.

    The pure functions the engine trains (init, apply, noise_draws, ...) are Stack's; this class
    adds Keras' building, summary, weights, config and the compile/fit/evaluate/predict facade
    (layerlab.training holds the logic)."""

    def __init__(self, layers=None, name=None, *, trainable=True):
        if name is not None and (not isinstance(name, str) or not name):
            raise ConfigError(BAD_NAME.format(received=name))
        self.name = name if name is not None else session.unique_name("sequential")
        self._layers: list[Layer] = []
        self._input: InputLayer | None = None
        self._built_shape = None
        self.trainable = trainable
        self.params = None       # per-layer dicts of arrays once trained or built
        self.compiled = None     # set by compile()
        self.history = None
        if layers is not None:
            if isinstance(layers, Layer):
                layers = [layers]
            if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
                raise ConfigError(NOT_A_LIST.format(received=layers, type=type(layers).__name__))
            for layer in layers:
                self.add(layer)

    # -- structure -------------------------------------------------------------------------
    def add(self, layer):
        index = len(self._layers) + (self._input is not None)
        if not isinstance(layer, Layer):
            raise ConfigError(NOT_A_LAYER.format(index=index, received=layer, type=type(layer).__name__))
        if isinstance(layer, InputLayer):
            if self._layers or self._input is not None:
                raise ConfigError(LATE_INPUT.format(index=index))
            self._input = layer
            return
        if any(existing.name == layer.name for existing in self._layers):
            raise ConfigError(DUPLICATE_NAME.format(index=index, name=layer.name))
        self._layers.append(layer)
        self.params = None

    def pop(self):
        if not self._layers:
            raise ConfigError(NO_LAYERS.format(method="pop()", name=self.name))
        self.params = None
        return self._layers.pop()

    def build(self, input_shape):
        """Fixes the input shape, given with the batch axis as in Keras: build((None, 28, 28))."""
        # The first axis is always the batch, as in Keras: build((32, 784)) means (784,) samples.
        shape = tuple(input_shape)[1:] if isinstance(input_shape, (tuple, list)) else input_shape
        self._built_shape = check_shape("build", shape)

    @property
    def input_shape(self):
        """One sample's shape (no batch axis), or None while unknown."""
        if self._input is not None:
            return self._input.shape
        if self._layers and self._layers[0].input_shape is not None:
            return self._layers[0].input_shape
        return self._built_shape

    def init(self, key, in_shape=None):
        """Fresh parameters (Stack.init) for `in_shape`, by default the model's input shape."""
        return super().init(key, in_shape or self._require_shape("init()"))

    def _require_shape(self, method):
        if not self._layers:
            raise ConfigError(NO_LAYERS.format(method=method, name=self.name))
        if self.input_shape is None:
            raise ConfigError(UNKNOWN_INPUT_SHAPE.format(method=method, name=self.name))
        return self.input_shape

    def shapes(self, in_shape=None):
        """Output shape (without batch) of every layer, for a model without shape sweeps."""
        shape = in_shape or self._require_shape("shapes()")
        return self._same_in_every_group("shapes()", lambda model: model._shapes(shape))

    # -- sweeps ------------------------------------------------------------------------------
    def sweeps(self) -> dict:
        """{'dropout.rate': Sweep, ...} for every swept layer argument, in layer order."""
        return {f"{layer.name}.{arg}": s for layer in self._layers for arg, s in layer.sweeps().items()}

    def static_sweeps(self) -> dict:
        """The sweeps that change shapes or code (units, activation): one compile group each."""
        return {k: s for k, s in self.sweeps().items() if variants.is_static(k, self)}

    def with_values(self, values: dict):
        """A concrete copy (same names) where each 'layer.arg' in `values` takes one value."""
        per_layer = {}
        for location, value in values.items():
            layer_name, _, arg = location.rpartition(".")
            per_layer.setdefault(layer_name, {})[arg] = value
        layers = [layer.with_values(per_layer[layer.name]) if layer.name in per_layer else layer
                  for layer in self._layers]
        model = Sequential.__new__(Sequential)
        model.__dict__.update(self.__dict__)
        model._layers = layers
        model.params = None
        return model

    # -- Keras conveniences ------------------------------------------------------------------
    def _same_in_every_group(self, method, fn):
        """fn(concrete model), which must not depend on the compile group (an activation sweep
        keeps shapes; a units sweep does not)."""
        static = self.static_sweeps()
        if not static:
            return fn(self)
        results = [fn(self.with_values(values)) for values in expand(static)]
        if any(r != results[0] for r in results):
            raise ConfigError(SHAPE_SWEPT.format(method=method, name=self.name, swept=", ".join(static)))
        return results[0]

    def count_params(self):
        shape = self._require_shape("count_params()")
        return self._same_in_every_group("count_params()", lambda model: model._count_params(shape))

    def summary(self, line_length=None, positions=None, print_fn=None):
        """Prints the Keras table; with shape sweeps, one table per compile group."""
        self._require_shape("summary()")
        print_fn = print_fn or print
        static = self.static_sweeps()
        if not static:
            print_fn("\n".join(self._summary_lines(line_length, positions)))
            return
        groups = expand(static)
        for i, values in enumerate(groups, 1):
            label = ", ".join(f"{k}={v!r}" for k, v in values.items())
            print_fn(f"Compile group {i} of {len(groups)}: {label}")
            print_fn("\n".join(self.with_values(values)._summary_lines(line_length, positions)))

    def _summary_lines(self, line_length, positions):
        shape = self.input_shape
        rows = []
        for layer in self._layers:
            count = layer.param_count(shape)
            # Keras: a frozen layer's weights are all non-trainable; a trainable one's `_state` is.
            fixed = count if not (layer.trainable and self.trainable) else layer.non_trainable_count(shape)
            shape = layer.output_shape_for(shape)
            rows.append((layer.name, type(layer).__name__, shape, count, fixed))
        return summary_lines(self.name, rows, line_length, positions)

    def get_weights(self):
        """Weights as numpy arrays in Keras' order, layer by layer (kernel, bias; BatchNormalization's
        gamma, beta, moving_mean, moving_variance)."""
        if self.params is None:
            raise ConfigError(NO_WEIGHTS_YET.format(name=self.name))
        return [np.asarray(p[n]) for layer, p in zip(self._layers, self.params) for n in layer.weight_names(p)]

    def set_weights(self, weights):
        template = self.params if self.params is not None else self.init(jax.random.PRNGKey(0))
        weights = list(weights)
        expected = sum(len(p) for p in template)
        if len(weights) != expected:
            raise ConfigError(WRONG_COUNT.format(expected=expected, received=len(weights)))
        it = iter(weights)
        new = []
        for layer, p in zip(self._layers, template):
            q = {}
            for name in layer.weight_names(p):
                w, old = np.asarray(next(it), dtype=np.float32), p[name]
                if w.shape != np.shape(old):
                    raise ConfigError(WRONG_SHAPE.format(name=name, expected=np.shape(old), received=w.shape))
                q[name] = w
            new.append(q)
        self.params = new
        self._train_state = None  # a later fit() starts from these weights, with a fresh optimizer

    # -- config ------------------------------------------------------------------------------
    def get_config(self) -> dict:
        layers = [serialize(layer) for layer in ([self._input] if self._input is not None else []) + self._layers]
        return {"name": self.name, "layers": layers}

    @classmethod
    def from_config(cls, config: dict):
        layers = [deserialize(spec, i) for i, spec in enumerate(config.get("layers", []))]
        return cls(layers, name=config.get("name"))

    # -- files (Keras 3's formats; .files and layerlab.saving hold the logic) -------------------
    def save(self, filepath, overwrite=True, **kwargs):
        """Writes a .keras file that Keras 3 loads: layers, weights, compile settings, optimizer state."""
        files.save(self, filepath, overwrite, **kwargs)

    def save_weights(self, filepath, overwrite=True):
        files.save_weights(self, filepath, overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        files.load_weights(self, filepath, skip_mismatch)

    def to_json(self, **kwargs):
        return files.to_json(self, **kwargs)

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in ([self._input] if self._input else []) + self._layers)
        return f"Sequential([{inner}], name={self.name!r})"

    # -- training (layerlab.training holds the logic) ----------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        training.compile_model(self, optimizer, loss, metrics, **kwargs)

    def fit(self, x=None, y=None, **kwargs):
        """Trains the model, or every variant of its sweeps at once: see layerlab.training.fit."""
        return training.fit(self, x, y, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        return training.evaluate(self, x, y, **kwargs)

    def predict(self, x, **kwargs):
        return training.predict(self, x, **kwargs)
