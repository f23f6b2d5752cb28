"""EarlyStopping and TerminateOnNaN: Keras' rules, per variant.

EarlyStopping keeps Keras 3's rule exactly (keras/src/callbacks/early_stopping.py): each epoch
from `start_from_epoch` on counts one more epoch of waiting; a value better than the best by
more than `min_delta` becomes the best (and resets the wait if it also beats `baseline`); when
the wait reaches `patience` (and it is not the first epoch) the variant stops. With
`restore_best_weights=True` its weights become those of its best epoch when training ends,
whether or not it stopped early.
"""
import math

from .base import (
    Callback,
    check_int,
    check_mode,
    check_monitor,
    check_number,
    lower_is_better,
)


class EarlyStopping(Callback):
    """Stops a variant when `monitor` has stopped improving (Keras' arguments and defaults).

    >>> stop = EarlyStopping(patience=3, restore_best_weights=True)
    >>> stop
    EarlyStopping(monitor='val_loss', min_delta=0, patience=3, mode='auto', baseline=None, restore_best_weights=True, start_from_epoch=0)
    """

    _state = ("wait", "stopped_epoch", "best", "best_epoch")
    _array_state = ("best_weights",)

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        cls = "EarlyStopping"
        check_monitor(cls, monitor)
        check_number(cls, "min_delta", min_delta, 0.001)
        check_int(cls, "patience", patience)
        check_mode(cls, mode)
        check_number(cls, "baseline", baseline, 0.1, none=True)
        check_int(cls, "start_from_epoch", start_from_epoch)
        self.monitor, self.min_delta, self.patience, self.verbose = monitor, min_delta, patience, verbose
        self.mode, self.baseline = mode, baseline
        self.restore_best_weights, self.start_from_epoch = bool(restore_best_weights), start_from_epoch
        self.on_train_begin()

    def _lower(self):
        return lower_is_better(self.monitor, self.mode)

    def _better(self, value, reference):
        delta = abs(self.min_delta)
        return value + delta < reference if self._lower() else value - delta > reference

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, 0, None, 0
        self.best = math.inf if self._lower() else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._better(current, self.best):
            self.best, self.best_epoch = float(current), epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._better(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def stop_reason(self):
        if not self.stopped_epoch:
            return None
        return (f"EarlyStopping: {self.monitor} did not improve on {self.best:.4g} (epoch {self.best_epoch + 1}) "
                f"for {self.wait} epoch{'s' if self.wait != 1 else ''}")

    def __repr__(self):
        return (f"EarlyStopping(monitor={self.monitor!r}, min_delta={self.min_delta!r}, patience={self.patience!r}, "
                f"mode={self.mode!r}, baseline={self.baseline!r}, restore_best_weights={self.restore_best_weights!r}, "
                f"start_from_epoch={self.start_from_epoch!r})")


class TerminateOnNaN(Callback):
    """Stops a variant whose loss became NaN or infinite (Keras checks each batch; layerlab, whose
    epochs run as one program, checks the epoch's loss, which is NaN once any batch's was)."""

    _state = ("stopped_epoch", "stopped")

    def __init__(self):
        super().__init__()
        self.stopped_epoch, self.stopped = 0, False

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.stopped_epoch, self.stopped = epoch, True
            self.model.stop_training = True

    def stop_reason(self):
        return f"TerminateOnNaN: the loss was not finite in epoch {self.stopped_epoch + 1}" if self.stopped else None
