"""Keras' callbacks, acting per variant: `fit(..., callbacks=[EarlyStopping(patience=3)])`.

In a sweep each variant has its own copy of every callback: `self.model` is that variant's
model, `logs` its metrics, and `self.model.stop_training = True` stops that variant only; its
weights then stay fixed while the others train on in the same compiled program. Only epoch- and
train-level hooks exist (layerlab runs each epoch as one program).

>>> import layerlab
>>> layerlab.callbacks.EarlyStopping(monitor="val_loss", patience=3)  # doctest: +ELLIPSIS
EarlyStopping(monitor='val_loss', min_delta=0, patience=3, ...)
"""
from layerlab.errors import ConfigError

from .base import (
    BATCH_HOOK,
    NO_SUCH_METRIC,
    NOT_A_CALLBACK,
    Callback,
    LambdaCallback,
    check_list,
)
from .files import (
    NOT_WRITABLE,
    OUTSIDE,
    SAME_FILE,
    CSVLogger,
    ModelCheckpoint,
    check_distinct,
    format_path,
)
from .rates import BAD_SCHEDULE, LearningRateScheduler, ReduceLROnPlateau
from .stopping import EarlyStopping, TerminateOnNaN
from .tensorboard import TensorBoard, slug

UNKNOWN_CALLBACK = ("callbacks: type: expected one of {valid}; received {received!r}. "
                    "Write e.g. type = \"EarlyStopping\".")

CALLBACKS = {c.__name__: c for c in (EarlyStopping, ReduceLROnPlateau, LearningRateScheduler, ModelCheckpoint,
                                     CSVLogger, TerminateOnNaN, TensorBoard)}
# Callbacks a study file may name: LearningRateScheduler and LambdaCallback take code, which a
# study never runs.
FROM_CONFIG = tuple(k for k in CALLBACKS if k != "LearningRateScheduler")
LR_CALLBACKS = (ReduceLROnPlateau, LearningRateScheduler)

__all__ = [
    "BAD_SCHEDULE",
    "BATCH_HOOK",
    "CALLBACKS",
    "NOT_A_CALLBACK",
    "NOT_WRITABLE",
    "NO_SUCH_METRIC",
    "OUTSIDE",
    "SAME_FILE",
    "UNKNOWN_CALLBACK",
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
    "check_distinct",
    "check_list",
    "format_path",
    "from_config",
    "slug",
]


def from_config(config: dict) -> Callback:
    """A callback from a study's `[[callbacks]]` table: {'type': 'EarlyStopping', 'patience': 3}."""
    config = dict(config)
    name = config.pop("type", None)
    if name not in FROM_CONFIG:
        raise ConfigError(UNKNOWN_CALLBACK.format(valid=", ".join(FROM_CONFIG), received=name))
    try:
        return CALLBACKS[name](**config)
    except TypeError as e:
        raise ConfigError(f"callbacks: {name}: {e}; check the argument names against Keras' {name}.") from None
