"""The Layer contract: a constructor that stores and validates its arguments, and a pure
init/apply pair the engine vmaps over variants.

    params, out_shape = layer.init(key, in_shape)                 # shapes exclude the batch
    y = layer.apply(params, x, hparams, key=key, train=True)      # x: (batch, *in_shape)

A layer that draws random numbers while training (Dropout) says so with noise_per_sample(in_shape)
and draw_noise(key, shape); the engine then draws many steps' worth at once and hands each step
its share as apply(..., noise=...), since one small draw per step costs more than the draw.

`hparams` holds the layer's numeric settings that do not change shapes (Dropout's rate,
LeakyReLU's slope). They are passed in, never read from `self`, so that the engine can give every
variant its own value as a traced array without recompiling.

A layer declares its own arrays, never leaving the engine to guess from a name:
- `_weights`: the names of its arrays in Keras' get_weights() order ("kernel", "bias");
- `_state`: of those, the ones gradients do not train (BatchNormalization's moving statistics).
  While training, apply_with_state() returns their new values; the engine carries them per
  variant beside the parameters, the store checkpoints them, and inference reads them;
- to_storage()/from_storage(): the layout the engine keeps its trained arrays in (Dense keeps
  its kernel transposed, BENCHMARKS.md says why); the layer's own maths always sees its layout.
"""
import json

from layerlab import session
from layerlab._json import python
from layerlab.errors import ConfigError
from layerlab.sweep import Sweep, from_config as sweep_from_config

BAD_INPUT_SHAPE = ("{layer}: input_shape: expected a tuple of positive ints for one sample, "
                   "e.g. (28, 28); received {received!r}. Give the shape without the batch axis.")
NOT_JSON = ("get_config: expected JSON-serialisable arguments; received {received!r}. "
            "Use a named activation or initializer instead of a custom object.")
UNKNOWN_KWARG = ("{layer}: {arg}: not a keyword argument this layer takes; received {arg}={received!r}. "
                 "Remove it or check its spelling.")
BAD_CONFIG = ("{layer}.from_config: config: expected the layer's arguments as get_config() gives them; "
              "received {received!r} ({error}). Add the missing arguments.")
BAD_NAME = ("{layer}: name: expected a non-empty string; received {received!r}. "
            "Pass a string or leave name out for an automatic one.")


class Layer:
    """Base class: subclasses list their arguments in `_args` and the numeric ones in `_dynamic`."""

    _args: tuple[str, ...] = ()     # constructor arguments recorded in the config, in order
    _dynamic: tuple[str, ...] = ()  # of those, the numbers that may be traced (sweepable cheaply)
    _weights: tuple[str, ...] = ()  # its arrays' names in Keras' get_weights() order
    _state: tuple[str, ...] = ()    # of those, the non-trainable ones (updated by apply_with_state)

    def __init__(self, *, name=None, input_shape=None, **kwargs):
        unknown = set(kwargs) - {"dtype", "trainable"}
        if unknown:
            arg = sorted(unknown)[0]
            raise ConfigError(UNKNOWN_KWARG.format(layer=type(self).__name__, arg=arg, received=kwargs[arg]))
        if name is not None and (not isinstance(name, str) or not name):
            raise ConfigError(BAD_NAME.format(layer=type(self).__name__, received=name))
        if input_shape is not None:
            input_shape = check_shape(type(self).__name__, input_shape)
        self.name = name if name is not None else session.unique_name(session.snake_case(type(self).__name__))
        self.input_shape = input_shape
        self.trainable = kwargs.get("trainable", True)

    # -- the pure pair ---------------------------------------------------------------------
    def output_shape_for(self, in_shape: tuple) -> tuple:
        return tuple(in_shape)

    def init(self, key, in_shape: tuple):
        """Returns (params: dict of arrays, out_shape). The default has no parameters."""
        del key
        return {}, self.output_shape_for(in_shape)

    def apply(self, params, x, hparams=None, *, key=None, train=False):
        raise NotImplementedError

    def apply_with_state(self, params, x, hparams=None, *, mask=None, **kwargs):
        """(y, updates): apply() and the new values of the layer's `_state` arrays ({} for a
        layer without state, or at inference). mask (B,): 0 for padding samples in a training
        batch, which batch statistics leave out (layers without state ignore it)."""
        del mask
        return self.apply(params, x, hparams, **kwargs), {}

    def to_storage(self, params: dict) -> dict:
        """The trainable arrays in the layout the engine stores and updates them in (default: as is)."""
        return params

    def from_storage(self, stored: dict) -> dict:
        """The inverse of to_storage: the layer's own layout back."""
        return stored

    def weight_names(self, params: dict) -> list:
        """The names in `params` in Keras' get_weights() order."""
        return [n for n in self._weights if n in params] + sorted(n for n in params if n not in self._weights)

    def label(self) -> str:
        """How errors found at shape time name the layer: "Conv2D 'conv2d_1'"."""
        return f"{type(self).__name__} {self.name!r}"

    def non_trainable_count(self, in_shape: tuple) -> int:
        """How many of param_count() are `_state` (Keras' Non-trainable params of a trainable layer)."""
        return 0

    def noise_per_sample(self, in_shape: tuple):
        """The shape of the uniform draws apply() needs per sample while training; None: none.
        A layer that returns a shape also defines draw_noise() and takes apply(..., noise=)."""
        return None

    def draw_noise(self, key, shape):
        raise NotImplementedError(f"{type(self).__name__}: noise_per_sample() gives a shape, so the layer must "
                                  "define draw_noise(key, shape) too.")

    def param_count(self, in_shape: tuple) -> int:
        return 0

    def hparams(self) -> dict:
        """This layer's numeric settings as plain numbers (the engine overrides them per variant)."""
        return {k: getattr(self, k) for k in self._dynamic}

    def output_activation(self):
        """(name, function) of a final nonlinearity the loss may fold in, or None."""
        return None

    # -- sweeps ------------------------------------------------------------------------------
    def sweeps(self) -> dict:
        """{argument: Sweep} for the arguments given as layerlab.sweep(...)."""
        return {k: v for k, v in self._config_args().items() if isinstance(v, Sweep)}

    def with_values(self, values: dict):
        """A copy with the same name where each swept argument in `values` takes one value."""
        config = self.get_config()
        config.update(values)
        return type(self).from_config(config)

    # -- config ------------------------------------------------------------------------------
    def _config_args(self) -> dict:
        return {k: getattr(self, k) for k in self._args}

    def get_config(self) -> dict:
        config = {"name": self.name}
        for k, v in self._config_args().items():
            config[k] = v.to_config() if isinstance(v, Sweep) else _config_value(v)
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        if not self.trainable:  # Keras writes it always; layerlab only when it is not the default
            config["trainable"] = False
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = {k: sweep_from_config(v) for k, v in config.items()}
        if config.get("input_shape") is not None:
            config["input_shape"] = tuple(config["input_shape"])
        try:
            return cls(**config)
        except TypeError as e:  # a required argument missing: one line, not a traceback
            raise ConfigError(BAD_CONFIG.format(layer=cls.__name__, received=config, error=e)) from None

    def _repr_args(self) -> dict:
        args = self._config_args()
        if self.input_shape is not None:  # part of the spec (and of the config) when given
            args["input_shape"] = self.input_shape
        return args

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._repr_args().items())
        return f"{type(self).__name__}({args}{', ' if args else ''}name={self.name!r})"


def _config_value(v):
    """v as JSON (np.float32(0.2) -> 0.2: numpy scalars pass validation, so configs take them)."""
    v = python(v)
    try:
        json.dumps(v)
    except TypeError:
        raise ConfigError(NOT_JSON.format(received=v)) from None
    return v


def check_shape(layer, shape):
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ConfigError(BAD_INPUT_SHAPE.format(layer=layer, received=shape)) from None
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ConfigError(BAD_INPUT_SHAPE.format(layer=layer, received=shape))
    return shape
