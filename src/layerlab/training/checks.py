"""Checks of what fit(), evaluate() and predict() are given (arrays, numbers, Keras arguments
layerlab does not implement): one line per mistake, naming the argument, what was expected,
what was received and the fix."""
import numbers

import numpy as np

from layerlab.errors import ConfigError

BAD_X_SHAPE = ("{method}: {arg}: expected samples of shape {expected} (the model's input shape), "
               "i.e. an array (n, {dims}); received shape {received}. Reshape {arg} or change the "
               "first layer's input_shape.")
NOT_SAMPLES = ("{method}: {arg}: expected an array of samples (n, ...) with at least 2 axes; "
               "received shape {received}. Add the sample axis, e.g. x.reshape(1, -1) for one sample.")
EMPTY = ("{method}: {arg}: expected at least one sample; received an empty array of shape {received}. "
         "Pass the data to train on.")
NOT_FINITE = ("{method}: {arg}: expected finite numbers; received NaN or inf in sample {index}. "
              "Clean or drop those samples.")
BAD_LENGTH = ("{method}: {arg}: expected {expected} labels, one per sample of {x_arg}; received {received}. "
              "Pass x and y of the same length.")
BAD_LABELS = ("{method}: {arg}: expected integer class labels in [0, {units}) for the model's {units} "
              "output units; received {received}. {fix}")
BAD_ONE_HOT = ("{method}: {arg}: expected one row of {units} class weights per sample (one-hot) for "
               "{loss}; received shape {received}. {fix}")
NOT_NUMERIC = ("{method}: {arg}: expected a numeric array; received {received}. "
               "Convert it with numpy.asarray(..., dtype='float32').")
BAD_VALIDATION = ("fit: validation_data: expected a tuple (x_val, y_val); received {received}. "
                  "Pass validation_data=(x_test, y_test).")
UNSUPPORTED = ("{method}: {arg}: not supported by layerlab yet; received {arg}={received!r}. "
               "Leave it at its default ({default!r}).")
BAD_INT = ("{method}: {arg}: expected a positive int; received {received!r}. Pass e.g. {arg}={example}.")
BAD_SEED = ("fit: seed: expected an int >= 0, a layerlab.sweep of them, or None; received {received!r}. "
            "Pass e.g. seed=1.")
BAD_SHUFFLE = ("fit: shuffle: expected True or False; received {received!r}. "
               "layerlab reshuffles all samples every epoch (shuffle=True) or none (False).")
BAD_VERBOSE = ("fit: verbose: expected 0, 1, 2 or 'auto'; received {received!r}. Pass verbose=0 to silence it.")
NO_DATA = "fit: x, y: expected training data; received None. Pass model.fit(x_train, y_train)."
BAD_SPLIT = ("fit: validation_split: expected a float in (0, 1) that leaves samples on both sides; "
             "received {received!r} for {n} samples. Pass e.g. validation_split=0.1.")


def _numeric(method, arg, value):
    """value as a numpy array of numbers (bool, int or float), or a one-line error."""
    try:
        array = np.asarray(value)
    except Exception:
        raise ConfigError(NOT_NUMERIC.format(method=method, arg=arg, received=f"a ragged {type(value).__name__}")) from None
    if array.dtype.kind not in "biuf":
        raise ConfigError(NOT_NUMERIC.format(method=method, arg=arg, received=f"dtype {array.dtype}"))
    return array


def as_x(method, arg, x, in_shape):
    """float32 samples (n, *in_shape); in_shape None accepts any sample shape."""
    x = _numeric(method, arg, x)
    if x.ndim >= 1 and x.shape[0] == 0:
        raise ConfigError(EMPTY.format(method=method, arg=arg, received=x.shape))
    if x.ndim < 2:
        raise ConfigError(NOT_SAMPLES.format(method=method, arg=arg, received=x.shape))
    if in_shape is not None and tuple(x.shape[1:]) != tuple(in_shape):
        raise ConfigError(BAD_X_SHAPE.format(method=method, arg=arg, expected=tuple(in_shape),
                                             dims=", ".join(map(str, in_shape)), received=x.shape))
    x = x.astype(np.float32, copy=False)
    finite = np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if not finite.all():
        raise ConfigError(NOT_FINITE.format(method=method, arg=arg, index=int(np.argmin(finite))))
    return x


def as_y(method, arg, y, n, x_arg, loss, units):
    """Labels as the loss needs them: int32 classes (sparse) or float32 rows (n, units)."""
    y = _numeric(method, arg, y)
    if y.ndim == 0 or y.shape[0] != n:
        raise ConfigError(BAD_LENGTH.format(method=method, arg=arg, expected=n, x_arg=x_arg,
                                            received=y.shape[0] if y.ndim else "a scalar"))
    if loss.sparse:
        y = y.reshape(n) if y.ndim == 2 and y.shape[1] == 1 else y
        if y.ndim != 1 or np.any(y != np.round(y)) or y.min() < 0 or y.max() >= units:
            shown = f"shape {y.shape}" if y.ndim != 1 else f"values from {y.min()} to {y.max()}"
            fix = ("For one-hot labels use loss='categorical_crossentropy'." if y.ndim == 2
                   else "Check the labels or give the last layer more units.")
            raise ConfigError(BAD_LABELS.format(method=method, arg=arg, units=units, received=shown, fix=fix))
        return y.astype(np.int32)
    if loss.name == "categorical_crossentropy" and (y.ndim != 2 or y.shape[1] != units):
        fix = ("For integer labels use loss='sparse_categorical_crossentropy'." if y.ndim == 1
               else "One-hot encode the labels, e.g. numpy.eye(units)[y].")
        raise ConfigError(BAD_ONE_HOT.format(method=method, arg=arg, units=units, loss=loss.name,
                                             received=y.shape, fix=fix))
    if loss.name == "binary_crossentropy" and y.size != n * units:
        raise ConfigError(BAD_ONE_HOT.format(method=method, arg=arg, units=units, loss=loss.name,
                                             received=y.shape, fix="Give one 0/1 label per output unit."))
    return y.astype(np.float32)


def validation(validation_data, validation_split, x, y, method="fit"):
    """(x_val, y_val) raw, or split off the end of (x, y) as Keras does; returns x, y, x_val, y_val."""
    if validation_data is not None:
        ok = isinstance(validation_data, (tuple, list)) and (
            len(validation_data) == 2 or (len(validation_data) == 3 and validation_data[2] is None))
        if not ok:
            shown = (f"a {type(validation_data).__name__} of {len(validation_data)} items"
                     if isinstance(validation_data, (tuple, list)) else type(validation_data).__name__)
            raise ConfigError(BAD_VALIDATION.format(received=shown))
        return x, y, validation_data[0], validation_data[1]
    if validation_split:
        n = len(x)
        if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real):
            raise ConfigError(BAD_SPLIT.format(received=validation_split, n=n))
        cut = int(n * (1 - validation_split))
        if not 0 < validation_split < 1 or not 0 < cut < n:
            raise ConfigError(BAD_SPLIT.format(received=validation_split, n=n))
        # Keras holds out the *last* fraction of the samples, before any shuffling.
        return x[:cut], y[:cut], x[cut:], y[cut:]
    return x, y, None, None


def positive_int(method, arg, v, example):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
        raise ConfigError(BAD_INT.format(method=method, arg=arg, received=v, example=example))


def check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(BAD_SEED.format(received=seed))


def reject_unsupported(method, given):
    """given: (argument, value, default) triples of Keras arguments layerlab does not implement."""
    for arg, value, default in given:
        if value is not default and not (default is not None and isinstance(value, type(default)) and value == default):
            raise ConfigError(UNSUPPORTED.format(method=method, arg=arg, received=_short(value), default=default))


def check_fit_args(shuffle, verbose, epochs, batch_sizes):
    """fit's own settings; returns verbose with 'auto' resolved (1)."""
    positive_int("fit", "epochs", epochs, 5)
    if not isinstance(shuffle, bool):
        raise ConfigError(BAD_SHUFFLE.format(received=shuffle))
    verbose = 1 if verbose == "auto" else verbose
    if verbose not in (0, 1, 2):
        raise ConfigError(BAD_VERBOSE.format(received=verbose))
    for b in batch_sizes:
        positive_int("fit", "batch_size", b, 32)
    return verbose


def _short(value):
    """A one-line stand-in for a value in a message: arrays by shape, long text cut."""
    if hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
        return _Shown(f"<array of shape {tuple(value.shape)}>")
    text = repr(value)
    return _Shown(text if len(text) <= 80 and "\n" not in text else f"<{type(value).__name__}>")


class _Shown(str):
    def __repr__(self):
        return str(self)
