"""The Callback base class, LambdaCallback, and the checks fit() runs on a callbacks list.

layerlab runs each epoch as one compiled program, so only the epoch- and train-level hooks
exist: a callback that defines a batch-level hook (on_train_batch_begin, ...) is refused with
one line. In a sweep every variant gets its own copy of every callback (copy.deepcopy): its
`self.model` is that variant's model and `self.model.stop_training = True` stops that variant
only. A callback's counters (`_state`, JSON numbers) and arrays (`_array_state`, e.g.
EarlyStopping's best weights) are recorded with each epoch's checkpoint, so a resumed run's
callbacks continue where they were.
"""
import math
import numbers

from layerlab.errors import ConfigError

BATCH_HOOK = ("{cls}: {hook}: batch-level hooks are not supported; layerlab runs each epoch as one compiled "
              "program, so no Python runs between batches. Use on_epoch_end (or on_epoch_begin) instead.")
NOT_A_CALLBACK = ("fit: callbacks: expected a list of layerlab.callbacks.Callback objects; received {received!r}. "
                  "Pass e.g. callbacks=[layerlab.callbacks.EarlyStopping(patience=3)].")
NO_SUCH_METRIC = ("{cls}: monitor: expected one of the metrics this fit logs ({names}); received "
                  "monitor={received!r}. Pass one of those (val_* need validation_data= or validation_split=).")
BAD_ARG = "{cls}: {arg}: expected {expected}; received {arg}={received!r}. Pass e.g. {arg}={example}."
BAD_MODE = ("{cls}: mode: expected 'auto', 'min' or 'max'; received mode={received!r}. "
            "Pass mode='min' for a loss, mode='max' for an accuracy.")

BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end",
               "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Keras' Callback: override on_train_begin/end(logs) and on_epoch_begin/end(epoch, logs).

    `self.model` is the (variant's) model: `get_weights()`, `set_weights()`, `save()`,
    `optimizer.learning_rate` (read and set) and `stop_training`; `self.params` fit's settings.

    >>> class Print(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(epoch, round(logs["loss"], 3))
    """

    _state: tuple = ()        # attributes holding JSON numbers, recorded with each checkpoint
    _array_state: tuple = ()  # attributes holding a list of arrays (or None), recorded likewise

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    # -- layerlab's additions ------------------------------------------------------------------
    def check(self, names, settings):
        """Before training: refuses what cannot work with this fit's metrics `names` and this
        variant's `settings` (a monitor that is not logged, a folder that cannot be written)."""
        monitor = getattr(self, "monitor", None)
        if monitor is not None and monitor not in names:
            raise ConfigError(NO_SUCH_METRIC.format(cls=type(self).__name__, names=", ".join(names),
                                                    received=monitor))

    def get_state(self) -> dict:
        """The counters to record: {attribute: JSON value}."""
        return {k: _plain(getattr(self, k, None)) for k in self._state}

    def set_state(self, state: dict):
        for k in self._state:
            if k in state:
                setattr(self, k, state[k])

    def stop_reason(self):
        """Why this callback stopped its variant, in words, or None."""
        return

    def __repr__(self):
        return f"{type(self).__name__}()"


class LambdaCallback(Callback):
    """Keras' LambdaCallback: functions called at the epoch and train hooks.

    >>> LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))  # doctest: +ELLIPSIS
    LambdaCallback(...)
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        for hook, fn in (("on_train_batch_begin", on_train_batch_begin), ("on_train_batch_end", on_train_batch_end),
                         *kwargs.items()):
            if fn is not None:
                raise ConfigError(BATCH_HOOK.format(cls="LambdaCallback", hook=hook))
        for hook, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end)):
            if fn is not None:
                setattr(self, hook, fn)

    def __repr__(self):
        return "LambdaCallback(...)"


def check_list(callbacks) -> list:
    """fit's callbacks= as a list of Callback objects; refuses anything else and batch hooks."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    if not isinstance(callbacks, (list, tuple)) or not all(isinstance(c, Callback) for c in callbacks):
        raise ConfigError(NOT_A_CALLBACK.format(received=callbacks))
    for c in callbacks:
        for hook in BATCH_HOOKS:
            if hook in vars(c) or any(hook in vars(k) for k in type(c).__mro__ if k is not Callback):
                raise ConfigError(BATCH_HOOK.format(cls=type(c).__name__, hook=hook))
    return list(callbacks)


# -- argument checks shared by the callbacks ------------------------------------------------------
def check_int(cls, arg, value, low=0, example=3):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ConfigError(BAD_ARG.format(cls=cls, arg=arg, expected=f"an int >= {low}", received=value,
                                         example=example))


def check_number(cls, arg, value, example, low=None, below=None, none=False):
    if value is None and none:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low is None or value >= low) and (below is None or value < below)
    if not ok:
        expected = "a finite number" + (f" >= {low}" if low is not None else "") + (
            f" < {below}" if below is not None else "") + (" or None" if none else "")
        raise ConfigError(BAD_ARG.format(cls=cls, arg=arg, expected=expected, received=value, example=example))


def check_mode(cls, mode):
    if mode not in ("auto", "min", "max"):
        raise ConfigError(BAD_MODE.format(cls=cls, received=mode))


def check_monitor(cls, monitor):
    if not isinstance(monitor, str) or not monitor:
        raise ConfigError(BAD_ARG.format(cls=cls, arg="monitor", expected="a metric name", received=monitor,
                                         example="'val_loss'"))


def lower_is_better(monitor, mode) -> bool:
    """Keras' 'auto' mode: accuracies (and AUCs) up, anything else down."""
    if mode != "auto":
        return mode == "min"
    name = monitor.removeprefix("val_")
    return not ("acc" in name or name == "auc")


def _plain(value):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value
