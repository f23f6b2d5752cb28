"""Losses and the accuracy metric, per sample, with Keras' names and semantics.

With a softmax (or sigmoid) output and from_logits=False, the loss is computed from the
pre-activation logits, as TensorFlow's Keras does: it is exact where log(softmax) would
underflow. Otherwise probabilities are clipped to [1e-7, 1 - 1e-7] like Keras' epsilon.

>>> serialize(SparseCategoricalCrossentropy())
{'name': 'sparse_categorical_crossentropy', 'config': {'from_logits': False}}
>>> deserialize({'name': 'binary_crossentropy', 'config': {'from_logits': True}})
BinaryCrossentropy(from_logits=True)
"""
import difflib

import jax.numpy as jnp
import optax

from layerlab.errors import ConfigError

EPSILON = 1e-7
UNKNOWN_LOSS = ("loss: expected one of {valid} or a layerlab.losses object; received {received!r}.{hint} "
                "Pass e.g. loss='sparse_categorical_crossentropy' for integer labels.")
UNKNOWN_LOSS_NAME = ("loss.name: expected one of {valid}; received {received!r}. "
                     "Pass a dict written by layerlab.losses.serialize.")
UNKNOWN_METRIC = ("metrics: expected a list of names from {valid}; received {received!r}. "
                  "Pass metrics=['accuracy'].")


class Loss:
    name = "loss"
    sparse = False

    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)

    def per_sample(self, out, y, folded):
        """Loss per sample; `out` is logits when the output activation was folded in."""
        raise NotImplementedError

    def correct(self, out, y, folded):
        """1.0 where the prediction is right (Keras picks the accuracy that fits the loss);
        `out` is logits when `folded` or from_logits."""
        raise NotImplementedError

    def folds(self, output_activation):
        """Whether the output activation is left out of the model and applied inside the loss."""
        return not self.from_logits and output_activation == self._folded

    def get_config(self):
        return {"from_logits": self.from_logits}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class SparseCategoricalCrossentropy(Loss):
    name = "sparse_categorical_crossentropy"
    sparse = True
    _folded = "softmax"

    def per_sample(self, out, y, folded):
        if self.from_logits or folded:
            return optax.softmax_cross_entropy_with_integer_labels(out, y)
        # Keras normalises probabilities that do not sum to 1 (e.g. a sigmoid output) first.
        out = out / jnp.sum(out, axis=-1, keepdims=True)
        p = jnp.clip(jnp.take_along_axis(out, y[..., None], axis=-1)[..., 0], EPSILON, 1 - EPSILON)
        return -jnp.log(p)

    def correct(self, out, y, folded):
        return (jnp.argmax(out, axis=-1) == y).astype(jnp.float32)


class CategoricalCrossentropy(Loss):
    name = "categorical_crossentropy"
    _folded = "softmax"

    def per_sample(self, out, y, folded):
        if self.from_logits or folded:
            return optax.softmax_cross_entropy(out, y)
        p = out / jnp.sum(out, axis=-1, keepdims=True)
        return -jnp.sum(y * jnp.log(jnp.clip(p, EPSILON, 1 - EPSILON)), axis=-1)

    def correct(self, out, y, folded):
        return (jnp.argmax(out, axis=-1) == jnp.argmax(y, axis=-1)).astype(jnp.float32)


class BinaryCrossentropy(Loss):
    name = "binary_crossentropy"
    _folded = "sigmoid"

    def per_sample(self, out, y, folded):
        y = y.reshape(out.shape).astype(out.dtype)
        if self.from_logits or folded:
            per = optax.sigmoid_binary_cross_entropy(out, y)
        else:
            p = jnp.clip(out, EPSILON, 1 - EPSILON)
            per = -(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))
        return per.reshape(per.shape[0], -1).mean(axis=-1)

    def correct(self, out, y, folded):
        threshold = 0.0 if self.from_logits or folded else 0.5  # logits: sigmoid(0) = 0.5
        y = y.reshape(out.shape)
        hit = ((out > threshold).astype(jnp.float32) == y).astype(jnp.float32)
        return hit.reshape(hit.shape[0], -1).mean(axis=-1)


LOSSES = {cls.name: cls for cls in (SparseCategoricalCrossentropy, CategoricalCrossentropy, BinaryCrossentropy)}
METRICS = ("accuracy", "acc")


def get(identifier) -> Loss:
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in LOSSES:
        return LOSSES[identifier]()
    close = difflib.get_close_matches(str(identifier), LOSSES, n=1)
    raise ConfigError(UNKNOWN_LOSS.format(valid=sorted(LOSSES), received=identifier,
                                          hint=f" Did you mean {close[0]!r}?" if close else ""))


def serialize(loss: Loss) -> dict:
    """{"name": "sparse_categorical_crossentropy", "config": {...}}: the form run stores keep."""
    return {"name": loss.name, "config": loss.get_config()}


def deserialize(config: dict) -> Loss:
    """The inverse of serialize."""
    name = config.get("name") if isinstance(config, dict) else config
    if not isinstance(name, str) or name not in LOSSES:
        raise ConfigError(UNKNOWN_LOSS_NAME.format(valid=sorted(LOSSES), received=name))
    return LOSSES[name].from_config(config.get("config", {}))


def check_metrics(metrics):
    """Keras' History keys: 'accuracy' (or 'acc' -> recorded as 'accuracy')."""
    if metrics is None:
        return ()
    if isinstance(metrics, str):
        metrics = [metrics]
    out = []
    for m in metrics:
        if m not in METRICS:
            raise ConfigError(UNKNOWN_METRIC.format(valid=list(METRICS), received=m))
        out.append("accuracy")
    return tuple(dict.fromkeys(out))
