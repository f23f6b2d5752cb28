"""ReduceLROnPlateau and LearningRateScheduler: per-variant learning rates, as Keras 3 sets them.

The learning rate is a number each variant's program already holds (optax.inject_hyperparams
keeps it in the optimizer state), so changing one variant's rate changes a number, not the
program. Both add `learning_rate` (the rate the epoch trained with) to the epoch's logs, and so
to the History, as Keras 3 does.
"""
import math
import numbers

from layerlab.errors import ConfigError

from .base import (
    BAD_ARG,
    Callback,
    check_int,
    check_mode,
    check_monitor,
    check_number,
    lower_is_better,
)

BAD_SCHEDULE = ("LearningRateScheduler: schedule: expected a function returning a finite float learning rate; "
                "schedule({epoch}, {lr}) returned {received!r}. Return a number, e.g. lr * 0.9.")


class ReduceLROnPlateau(Callback):
    """Multiplies a variant's learning rate by `factor` after `patience` epochs without improvement.

    >>> ReduceLROnPlateau(factor=0.5, patience=2)
    ReduceLROnPlateau(monitor='val_loss', factor=0.5, patience=2, mode='auto', min_delta=0.0001, cooldown=0, min_lr=0.0)
    """

    _state = ("wait", "cooldown_counter", "best")

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        cls = "ReduceLROnPlateau"
        if kwargs:
            arg = sorted(kwargs)[0]
            raise ConfigError(BAD_ARG.format(cls=cls, arg=arg, expected="no such argument", received=kwargs[arg],
                                             example="None (leave it out)"))
        check_monitor(cls, monitor)
        check_number(cls, "factor", factor, 0.5, low=0, below=1.0)
        check_int(cls, "patience", patience)
        check_mode(cls, mode)
        check_number(cls, "min_delta", min_delta, 1e-4)
        check_int(cls, "cooldown", cooldown, example=0)
        check_number(cls, "min_lr", min_lr, 0.0, low=0)
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.mode, self.min_delta, self.cooldown, self.min_lr = mode, min_delta, cooldown, min_lr
        self.on_train_begin()

    def _better(self, value, reference):
        if lower_is_better(self.monitor, self.mode):
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def on_train_begin(self, logs=None):
        self.cooldown_counter, self.wait = 0, 0
        self.best = math.inf if lower_is_better(self.monitor, self.mode) else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current, self.best):
            self.best, self.wait = float(current), 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(self.model.optimizer.learning_rate)
                if old > float(_float32(self.min_lr)):
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0

    def __repr__(self):
        return (f"ReduceLROnPlateau(monitor={self.monitor!r}, factor={self.factor!r}, patience={self.patience!r}, "
                f"mode={self.mode!r}, min_delta={self.min_delta!r}, cooldown={self.cooldown!r}, "
                f"min_lr={self.min_lr!r})")


class LearningRateScheduler(Callback):
    """Sets a variant's learning rate before each epoch to `schedule(epoch, lr)` (or `schedule(epoch)`).

    >>> LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr * 0.9)  # doctest: +ELLIPSIS
    LearningRateScheduler(schedule=<function <lambda> at ...>)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise ConfigError(BAD_ARG.format(cls="LearningRateScheduler", arg="schedule",
                                             expected="a function (epoch, lr) -> lr", received=schedule,
                                             example="lambda epoch, lr: lr * 0.9"))
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.model.optimizer.learning_rate)
        try:
            new = self.schedule(epoch, lr)
        except TypeError:  # Keras: an old-style schedule(epoch)
            new = self.schedule(epoch)
        ok = isinstance(new, numbers.Real) and not isinstance(new, bool)
        if not ok or not math.isfinite(float(new)):
            raise ConfigError(BAD_SCHEDULE.format(epoch=epoch, lr=lr, received=new))
        self.model.optimizer.learning_rate = float(new)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)

    def __repr__(self):
        return f"LearningRateScheduler(schedule={self.schedule!r})"


def _float32(x):
    import numpy as np
    return np.float32(x)
