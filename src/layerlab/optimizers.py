"""Keras-named optimizers built on optax, with Keras' defaults.

Numeric arguments (learning rate, betas, momentum, ...) live in the optimizer *state* through
optax.inject_hyperparams, so each variant of a sweep carries its own values in one program.
Flags that change the update's code (nesterov, amsgrad, centered) are static.

Known difference from Keras: Keras' Adam adds epsilon to sqrt(v) before the bias correction of
v (the "epsilon hat" of Kingma & Ba, section 2), optax after it; with epsilon = 1e-7 the two
agree to far below the noise of training.

A new optimizer is one subclass: its `__init__` signature (Keras' names and defaults) is the
argument list, `_checks` holds one check per argument, `_static` the arguments that change code.

>>> import layerlab
>>> layerlab.optimizers.Adam(learning_rate=layerlab.sweep([1e-3, 1e-2]))
Adam(learning_rate=sweep([0.001, 0.01]), beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False)
>>> serialize(SGD(momentum=0.9))
{'class_name': 'SGD', 'config': {'learning_rate': 0.01, 'momentum': 0.9, 'nesterov': False}}
"""
import difflib
import inspect
import numbers

import optax

from layerlab.errors import ConfigError
from layerlab.sweep import Sweep, check_each, from_config as sweep_from_config

UNKNOWN_OPTIMIZER = ("optimizer: expected one of {valid} or a layerlab.optimizers object; "
                     "received {received!r}.{hint} Pass e.g. optimizer='adam'.")
UNKNOWN_CLASS_NAME = ("optimizer.class_name: expected one of {valid}; received {received!r}. "
                      "Pass a dict written by layerlab.optimizers.serialize.")
BAD_NUMBER = ("{optimizer}: {argument}: expected {expected}; received {received!r}. "
              "Pass {fix}.")
UNCHECKED = "{optimizer}: the __init__ arguments {arguments} and _checks {checks} must name the same arguments."


class Optimizer:
    """Base. A subclass's `__init__` signature lists its arguments and their defaults (read once,
    into `arguments`); `_checks` maps each argument to its check; `_static` names the arguments
    that change the update's code. `__init__` ends with `self._set(locals())`."""

    arguments: tuple = ()  # the __init__ arguments, in order: get_config's keys and the repr's
    _checks: dict = {}
    _static: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.arguments = tuple(p for p in inspect.signature(cls.__init__).parameters if p != "self")
        if set(cls.arguments) != set(cls._checks):
            raise TypeError(UNCHECKED.format(optimizer=cls.__name__, arguments=list(cls.arguments),
                                             checks=list(cls._checks)))

    def _set(self, values: dict):
        """Checks and stores the arguments (each value of a sweep is checked)."""
        for name in self.arguments:
            check = self._checks[name]
            check_each(values[name], lambda v, n=name, c=check: c(type(self).__name__, n, v))
            setattr(self, name, values[name])

    @property
    def name(self):
        return type(self).__name__.lower()

    def sweeps(self) -> dict:
        return {f"optimizer.{n}": getattr(self, n) for n in self.arguments if isinstance(getattr(self, n), Sweep)}

    def with_values(self, values: dict):
        config = self.get_config()
        config.update({k.split(".", 1)[1]: v for k, v in values.items()})
        return type(self).from_config(config)

    def hparams(self) -> dict:
        """The numbers optax.inject_hyperparams keeps in state (per variant in a sweep)."""
        return {n: float(getattr(self, n)) for n in self.arguments
                if n not in self._static and getattr(self, n) is not None}

    def statics(self) -> tuple:
        return tuple((n, getattr(self, n)) for n in self.arguments
                     if n in self._static or getattr(self, n) is None)

    def transform(self) -> optax.GradientTransformation:
        """The optax transformation, numbers injected as hyperparameters."""
        raise NotImplementedError

    def get_config(self):
        return {n: (getattr(self, n).to_config() if isinstance(getattr(self, n), Sweep) else getattr(self, n))
                for n in self.arguments}

    @classmethod
    def from_config(cls, config):
        return cls(**{k: sweep_from_config(v) for k, v in config.items()})

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.arguments)})"


def _positive(opt, arg, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v > 0:
        raise ConfigError(BAD_NUMBER.format(optimizer=opt, argument=arg, expected="a number > 0",
                                            received=v, fix="a positive number such as 0.001"))


def _unit(opt, arg, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= v < 1:
        raise ConfigError(BAD_NUMBER.format(optimizer=opt, argument=arg, expected="a number in [0, 1)",
                                            received=v, fix="a value such as 0.9"))


def _nonnegative(opt, arg, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0:
        raise ConfigError(BAD_NUMBER.format(optimizer=opt, argument=arg, expected="a number >= 0",
                                            received=v, fix="zero or a positive number"))


def _flag(opt, arg, v):
    if not isinstance(v, bool):
        raise ConfigError(BAD_NUMBER.format(optimizer=opt, argument=arg, expected="True or False",
                                            received=v, fix="a bool"))


class Adam(Optimizer):
    _checks = {"learning_rate": _positive, "beta_1": _unit, "beta_2": _unit, "epsilon": _positive,
               "amsgrad": _flag}
    _static = ("amsgrad",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        self._set(locals())

    def transform(self):
        base = optax.amsgrad if self.amsgrad else optax.adam
        return optax.inject_hyperparams(lambda learning_rate, beta_1, beta_2, epsilon: base(
            learning_rate, b1=beta_1, b2=beta_2, eps=epsilon))(**self.hparams())


class AdamW(Optimizer):
    _checks = {"learning_rate": _positive, "weight_decay": _nonnegative, "beta_1": _unit, "beta_2": _unit,
               "epsilon": _positive}

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self._set(locals())

    def transform(self):
        return optax.inject_hyperparams(lambda learning_rate, weight_decay, beta_1, beta_2, epsilon: optax.adamw(
            learning_rate, b1=beta_1, b2=beta_2, eps=epsilon, weight_decay=weight_decay))(**self.hparams())


class SGD(Optimizer):
    _checks = {"learning_rate": _positive, "momentum": _unit, "nesterov": _flag}
    _static = ("nesterov",)

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        self._set(locals())

    def transform(self):
        # momentum 0 as a trace with decay 0 is plain SGD (g + 0 * trace), so it stays sweepable.
        return optax.inject_hyperparams(lambda learning_rate, momentum: optax.sgd(
            learning_rate, momentum=momentum, nesterov=self.nesterov))(**self.hparams())


class RMSprop(Optimizer):
    _checks = {"learning_rate": _positive, "rho": _unit, "momentum": _unit, "epsilon": _positive,
               "centered": _flag}
    _static = ("centered",)

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
        self._set(locals())

    def transform(self):
        # Keras adds epsilon inside the square root, as optax's eps_in_sqrt=True.
        return optax.inject_hyperparams(lambda learning_rate, rho, momentum, epsilon: optax.rmsprop(
            learning_rate, decay=rho, eps=epsilon, momentum=momentum, centered=self.centered,
            eps_in_sqrt=True))(**self.hparams())


class Adagrad(Optimizer):
    _checks = {"learning_rate": _positive, "initial_accumulator_value": _nonnegative, "epsilon": _positive}
    _static = ("initial_accumulator_value",)  # it shapes the state at init, so it is static

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
        self._set(locals())

    def transform(self):
        return optax.inject_hyperparams(lambda learning_rate, epsilon: optax.adagrad(
            learning_rate, initial_accumulator_value=self.initial_accumulator_value, eps=epsilon))(**self.hparams())


OPTIMIZERS = {"adam": Adam, "adamw": AdamW, "sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier) -> Optimizer:
    """An Optimizer from a name ('adam') or an Optimizer object (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in OPTIMIZERS:
        return OPTIMIZERS[identifier.lower()]()
    close = difflib.get_close_matches(str(identifier).lower(), OPTIMIZERS, n=1)
    raise ConfigError(UNKNOWN_OPTIMIZER.format(valid=sorted(OPTIMIZERS), received=identifier,
                                               hint=f" Did you mean {close[0]!r}?" if close else ""))


def serialize(optimizer: Optimizer) -> dict:
    """{"class_name": "Adam", "config": {...}}: the form run stores and Ray workers keep."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict) -> Optimizer:
    """The inverse of serialize (class names match case-insensitively, as stores always have)."""
    name = config.get("class_name") if isinstance(config, dict) else None
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise ConfigError(UNKNOWN_CLASS_NAME.format(valid=sorted(k.__name__ for k in OPTIMIZERS.values()),
                                                    received=name if isinstance(config, dict) else config))
    return OPTIMIZERS[name.lower()].from_config(config.get("config", {}))
