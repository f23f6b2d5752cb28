"""Layers applied one after another: the pure functions the engine trains.

Sequential (layerlab.models) is a Stack with Keras' conveniences; the Ray worker rebuilds a
plain Stack from a model's config, so the backends need nothing above the layers.
"""
import math

import jax

from layerlab import activations

from .convolutional import Conv2D
from .pooling import MaxPooling2D
from .registry import deserialize


class Stack:
    """`layers`, and their init/apply pair composed: params are a list with one dict per layer."""

    def __init__(self, layers):
        self._layers = list(layers)

    @classmethod
    def from_config(cls, config: dict):
        """The stack of a Sequential's get_config() (its InputLayer, if any, only fixes a shape)."""
        return cls([deserialize(spec, i) for i, spec in enumerate(config.get("layers", []))
                    if spec.get("class_name") != "InputLayer"])

    @property
    def layers(self) -> list:
        return list(self._layers)

    def init(self, key, in_shape):
        """Fresh parameters: a list with one dict per layer."""
        shape, params = tuple(in_shape), []
        for layer, k in zip(self._layers, jax.random.split(key, len(self._layers))):
            p, shape = layer.init(k, shape)
            params.append(p)
        return params

    def hparams(self):
        """Per layer, its numbers that the engine may give each variant (dropout rates, slopes)."""
        return [layer.hparams() for layer in self._layers]

    def output_activation(self):
        return self._layers[-1].output_activation() if self._layers else None

    def apply(self, params, x, hparams=None, *, key=None, train=False, logits=False, noise=None):
        """Runs the stack on a batch x (B, *input_shape). With logits=True the final layer's
        activation is left out (the loss then folds softmax/sigmoid in, as tf.keras does).
        noise: per layer, the uniform draws it uses while training (noise_draws()) or None."""
        return self.apply_with_state(params, x, hparams, key=key, train=train, logits=logits, noise=noise)[0]

    def apply_with_state(self, params, x, hparams=None, *, key=None, train=False, logits=False, noise=None,
                         mask=None):
        """(output, updates): apply() and, per layer, the new values of its non-trainable state
        (a dict, {} for layers without state or at inference). mask (B,): the batch's sample
        weights; batch statistics leave out the samples of weight 0 (padding)."""
        hparams = hparams if hparams is not None else self.hparams()
        keys = jax.random.split(key, len(self._layers)) if key is not None else [None] * len(self._layers)
        noise = noise if noise is not None else [None] * len(self._layers)
        last = len(self._layers) - 1
        pool_first = self._pool_first()
        updates = []
        for i, (layer, p, hp, k, u) in enumerate(zip(self._layers, params, hparams, keys, noise)):
            if i - 1 in pool_first:   # the pooling ran inside the convolution before it
                updates.append({})
                continue
            extra = {} if u is None else {"noise": u}
            if logits and i == last and layer.output_activation() is not None:
                extra["activate"] = False
            if i in pool_first:
                extra["pool"] = self._layers[i + 1]
            x, new = layer.apply_with_state(p, x, hp, key=k, train=train, mask=mask, **extra)
            updates.append(new)
        return x, updates

    def _pool_first(self):
        """Conv2D layers followed by a MaxPooling2D whose activation never decreases: the Conv2D
        runs the pooling (layerlab.nn.conv_max_pool, which may compute only the outputs the
        pooling reads), then adds its bias and activates, on a quarter of the cells for 2x2
        windows. The outputs are the same numbers (max commutes with adding a constant and with
        such a function); for relu so are the gradients, since both orders send a window's
        gradient to its first largest cell."""
        return {i for i, (layer, after) in enumerate(zip(self._layers, self._layers[1:]))
                if isinstance(layer, Conv2D) and isinstance(after, MaxPooling2D)
                and activations.serialize(layer.activation) in activations.NON_DECREASING}

    def noise_draws(self, key, lead, in_shape):
        """Per layer, uniform draws of shape lead + (the layer's noise_per_sample), or None; layer i
        draws from fold_in(key, i)."""
        out, shape = [], tuple(in_shape)
        for i, layer in enumerate(self._layers):
            per_sample = layer.noise_per_sample(shape)
            out.append(None if per_sample is None else
                       layer.draw_noise(jax.random.fold_in(key, i), tuple(lead) + tuple(per_sample)))
            shape = layer.output_shape_for(shape)
        return out

    def peak_floats(self, in_shape):
        """The most floats one sample occupies at once in a forward pass: the largest layer
        output, or a convolution's patches (kh*kw*in per output pixel)."""
        peak, shape = math.prod(in_shape), tuple(in_shape)
        for layer in self._layers:
            out = layer.output_shape_for(shape)
            size = math.prod(out)
            if isinstance(layer, Conv2D):
                size = max(size, math.prod(out[:-1]) * math.prod(layer.kernel_size) * shape[-1])
            peak, shape = max(peak, size), out
        return peak

    def _shapes(self, shape):
        out = []
        for layer in self._layers:
            shape = layer.output_shape_for(shape)
            out.append(shape)
        return out

    def _count_params(self, shape):
        total = 0
        for layer in self._layers:
            total += layer.param_count(shape)
            shape = layer.output_shape_for(shape)
        return total
