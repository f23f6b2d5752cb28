"""One compiled program: a compile group's variants trained together, an epoch per call.

Variants of a group are laid out on a grid (S, R): S *streams* (one per seed under common random
numbers, one per variant with independent draws), each with R variants that share the stream's
batches, dropout masks and initial weights. The maths is written for one variant and one batch;
`vmap` adds R (the batch is broadcast, so the first Dense layer of all R variants becomes one
wider matmul) and then S.

One call of `epoch` runs a whole epoch: a lax.scan over chunks of NOISE_STEPS batches (each
chunk first draws its dropout noise for all its steps, then scans over them; a last partial
chunk is a scan of its own), then the validation pass,
with the data resident on the device and no Python per step. The epoch number is a traced
argument, so the program compiles once per group.

This is the only module of layerlab that uses jax.lax (an import-linter contract checks it).
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

VAL_CHUNK = 2048  # validation samples per pass: bounds memory at (S, R, VAL_CHUNK, width)
# ... and fewer when the variants' largest activations of that many samples would pass this many
# bytes (a convnet's patches: 0.7 MB a sample for 5 variants of Keras' simple convnet), so that a
# pass stays in cache instead of writing gigabytes (BENCHMARKS.md); a power of two, 32 at least.
VAL_BYTES = 96 * 2 ** 20
# Dropout's draws for this many steps are made at once: one threefry call per batch of 32 costs
# more in loop overhead than in arithmetic (BENCHMARKS.md). Changing it changes the draws, and
# so does an epoch of fewer steps (its one chunk is that long). Memory: NOISE_STEPS x S x batch
# x the layer's width floats per Dropout layer (0.5 MB a stream for the article's model).
NOISE_STEPS = 32


class Keys(NamedTuple):
    init: jax.Array      # (S, 2) initial weights
    shuffle: jax.Array   # (S, 2) batch order, folded with the epoch
    dropout: jax.Array   # (S, 2) dropout masks, folded with epoch, chunk of steps and layer


class State(NamedTuple):
    params: list          # per layer: dict of (S, R, ...) trained arrays, in the layer's storage layout
    opt_state: tuple      # optax state with (S, R) leading axes
    non_trainable: list   # per layer: dict of (S, R, ...) arrays the layer updates itself while
    #                       training (its `_state`: BatchNormalization's moving statistics); {} for most


class Metrics(NamedTuple):
    loss: jax.Array          # (S, R) sample-weighted mean over the epoch's batches, dropout on
    accuracy: jax.Array      # (S, R)
    val_loss: jax.Array      # (S, R) on the whole validation set, inference mode
    val_accuracy: jax.Array  # (S, R)


def _moments_layout(layers, opt_state, to_storage):
    """An optimizer state's params-shaped entries (per layer: a dict of arrays, as `State.params`)
    converted between the layers' own layout and their storage layout, as the params are."""
    def is_params(node):
        return isinstance(node, list) and len(node) == len(layers) and all(isinstance(d, dict) for d in node)

    def convert(node):
        if not is_params(node):
            return node
        return [(layer.to_storage if to_storage else layer.from_storage)(d) for layer, d in zip(layers, node)]
    return jax.tree.map(convert, opt_state, is_leaf=is_params)


def stream_keys(roots) -> Keys:
    """Splits each stream's root key (S, 2) into independent purposes."""
    roots = jnp.asarray(roots)
    return Keys(*(jax.vmap(lambda k, i=i: jax.random.fold_in(k, i))(roots) for i in range(3)))


def _sharded(f, S_R):
    """vmap over R (shared-batch arguments broadcast) and then over S."""
    inner = jax.vmap(f, in_axes=S_R)
    return jax.vmap(inner, in_axes=0)


class Program:
    """The compiled training program of one compile group.

    model: a concrete Sequential (static settings fixed); tx: the optax transformation with its
    numbers injected as hyperparameters, or None for a program that only evaluates and
    predicts; loss: a layerlab.losses.Loss (None: predict only). Layers with trainable=False
    keep their weights: their updates are zeroed.
    """

    def __init__(self, model, tx, loss, in_shape, batch_size, shuffle=True, validate=True):
        self.model, self.tx, self.loss = model, tx, loss
        self.in_shape = tuple(in_shape)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.validate = validate
        self.fold = loss.folds(model.output_activation()) if loss is not None else False
        self.frozen = frozenset(i for i, layer in enumerate(model.layers) if not layer.trainable)
        self.init = jax.jit(self._init)
        self.epoch = jax.jit(self._epoch, donate_argnums=(0,))
        self.evaluate = jax.jit(self._evaluate)
        self.predict = jax.jit(self._predict)

    # -- one variant ------------------------------------------------------------------------
    # -- layouts: the layers declare which arrays are trained and how they are stored ----------
    def _split(self, params):
        """Per-layer dicts in the layers' layout -> (trained arrays in storage layout, state)."""
        stored, fixed = [], []
        for layer, p in zip(self.model.layers, params):
            stored.append(layer.to_storage({k: v for k, v in p.items() if k not in layer._state}))
            fixed.append({k: v for k, v in p.items() if k in layer._state})
        return stored, fixed

    def _join(self, stored, fixed):
        """The inverse of _split: each layer's arrays in its own layout, state included."""
        return [{**layer.from_storage(s), **f} for layer, s, f in zip(self.model.layers, stored, fixed)]

    # -- one variant ------------------------------------------------------------------------
    def _init_one(self, key, opt_hp):
        params, fixed = self._split(self.model.init(key, self.in_shape))
        opt_state = self.tx.init(params)
        # inject_hyperparams keeps the numbers in state: give this variant its own.
        opt_state = opt_state._replace(hyperparams={
            k: jnp.asarray(opt_hp[k], jnp.asarray(v).dtype) for k, v in opt_state.hyperparams.items()})
        return State(params, opt_state, fixed)

    def _loss_one(self, stored, fixed, layer_hp, x, y, w, noise):
        out, new_state = self.model.apply_with_state(self._join(stored, fixed), x, layer_hp, train=True,
                                                     logits=self.fold, noise=noise, mask=w)
        per = self.loss.per_sample(out, y, self.fold)                        # (B,)
        total = jnp.sum(per * w)
        return total / jnp.sum(w), (total, jnp.sum(self.loss.correct(out, y, self.fold) * w), new_state)

    def _step_one(self, state, hp, x, y, w, noise):
        grads, (loss_sum, correct, new_state) = jax.grad(self._loss_one, has_aux=True)(
            state.params, state.non_trainable, hp["layers"], x, y, w, noise)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        if self.frozen:
            updates = [jax.tree.map(jnp.zeros_like, u) if i in self.frozen else u for i, u in enumerate(updates)]
        fixed = [f if i in self.frozen else {**f, **new} for i, (f, new) in
                 enumerate(zip(state.non_trainable, new_state))]
        return State(optax.apply_updates(state.params, updates), opt_state, fixed), (loss_sum, correct)

    def _eval_one(self, params, layer_hp, x, y, w):
        out = self.model.apply(params, x, layer_hp, train=False, logits=self.fold)
        return jnp.sum(self.loss.per_sample(out, y, self.fold) * w), jnp.sum(self.loss.correct(out, y, self.fold) * w)

    # -- all variants -------------------------------------------------------------------------
    def _init(self, keys: Keys, hp):
        # Streams share initial weights: the R variants of stream s start from one draw.
        return jax.vmap(jax.vmap(self._init_one, in_axes=(None, 0)))(keys.init, hp["optimizer"])

    def _batches(self, key, epoch, n):
        """(steps, B) sample indices and weights; the last partial batch is padded with weight 0."""
        B = self.batch_size
        steps = -(-n // B)
        order = (jax.random.permutation(jax.random.fold_in(key, epoch), n) if self.shuffle
                 else jnp.arange(n))
        pad = steps * B - n
        idx = jnp.concatenate([order, jnp.zeros(pad, order.dtype)]).reshape(steps, B)
        w = jnp.concatenate([jnp.ones(n, jnp.float32), jnp.zeros(pad, jnp.float32)]).reshape(steps, B)
        return idx, w

    def _epoch(self, state: State, hp, keys: Keys, epoch, x, y, x_val, y_val):
        n, B, start = x.shape[0], self.batch_size, state
        idx, w = jax.vmap(self._batches, in_axes=(0, None, None))(keys.shuffle, epoch, n)  # (S, steps, B)
        idx, w = jnp.swapaxes(idx, 0, 1), jnp.swapaxes(w, 0, 1)                          # (steps, S, B)
        epoch_keys = jax.vmap(lambda k: jax.random.fold_in(k, epoch))(keys.dropout)        # (S, 2)
        step = _sharded(self._step_one, (0, 0, None, None, None, None))

        def draws(chunk, k):
            """Per layer: (k, S, B, ...) uniform draws for k steps from chunk `chunk`, or None."""
            per_stream = jax.vmap(lambda key: self.model.noise_draws(
                jax.random.fold_in(key, chunk), (k, B), self.in_shape))(epoch_keys)
            return [None if u is None else jnp.swapaxes(u, 0, 1) for u in per_stream]

        def body(state, inputs):
            idx_t, w_t, noise_t = inputs
            xb, yb = x[idx_t], y[idx_t]                                   # (S, B, ...), gathered
            return step(state, hp, xb, yb, w_t, noise_t)

        def chunk(state, inputs):
            c, idx_c, w_c = inputs                                        # (K, S, B)
            return jax.lax.scan(body, state, (idx_c, w_c, draws(c, K)))

        steps = idx.shape[0]
        K = min(NOISE_STEPS, steps)
        full = steps // K
        S = idx.shape[1]
        state, (loss_sums, correct) = jax.lax.scan(
            chunk, state, (jnp.arange(full), idx[:full * K].reshape(full, K, S, B), w[:full * K].reshape(full, K, S, B)))
        loss_sums, correct = jnp.sum(loss_sums, axis=(0, 1)), jnp.sum(correct, axis=(0, 1))  # (S, R)
        if steps > full * K:  # the last partial chunk
            state, (rest_loss, rest_correct) = jax.lax.scan(
                body, state, (idx[full * K:], w[full * K:], draws(full, steps - full * K)))
            loss_sums, correct = loss_sums + jnp.sum(rest_loss, axis=0), correct + jnp.sum(rest_correct, axis=0)
        loss, accuracy = loss_sums / n, correct / n                        # (S, R)
        if "active" in hp:  # (S, R) bool: a variant a callback stopped keeps its state (training.steering)
            state = jax.tree.map(lambda new, old: jnp.where(
                hp["active"].reshape(hp["active"].shape + (1,) * (new.ndim - 2)), new, old), state, start)
        if self.validate:
            val_loss, val_accuracy = self._evaluate(self.public_params(state), hp, x_val, y_val)
        else:
            val_loss = val_accuracy = jnp.full_like(loss, jnp.nan)
        return state, Metrics(loss, accuracy, val_loss, val_accuracy)

    def public_params(self, state: State):
        """Every layer's arrays (trained and state) in its own layout, for evaluation and users."""
        return self._join(state.params, state.non_trainable)

    def with_params(self, state: State, params):
        """`state` starting from given (S, R, ...) arrays in the layers' layout (state included)."""
        stored, fixed = self._split(params)
        return state._replace(params=stored, non_trainable=fixed)

    @staticmethod
    def public_opt_state(layers, state: State, s=0, r=0):
        """Variant (s, r)'s optimizer state in the layers' layout, without variant axes (for a file);
        `layers`: the model's layers, which declare their storage layout."""
        return _moments_layout(layers, jax.tree.map(lambda a: a[s, r], state.opt_state), to_storage=False)

    def with_opt_state(self, state: State, opt_state):
        """`state` whose every variant continues from `opt_state`, one variant's optimizer state in
        the layers' layout (read from a file); the dtypes stay the state's own."""
        given = _moments_layout(self.model.layers, opt_state, to_storage=True)
        return state._replace(opt_state=jax.tree.map(
            lambda fresh, g: jnp.broadcast_to(jnp.asarray(g, fresh.dtype), fresh.shape), state.opt_state, given))

    def _evaluate(self, params, hp, x, y):
        """Mean loss and accuracy of every variant on (x, y), in inference mode: (S, R) each."""
        n = x.shape[0]
        S, R = jax.tree.leaves(params)[0].shape[:2]
        fits = VAL_BYTES // (4 * S * R * self.model.peak_floats(self.in_shape))
        chunk = min(VAL_CHUNK, n, max(32, 1 << (max(int(fits), 1).bit_length() - 1)))
        chunks = -(-n // chunk)
        pad = chunks * chunk - n
        xs = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)]).reshape((chunks, chunk) + x.shape[1:])
        ys = jnp.concatenate([y, jnp.zeros((pad,) + y.shape[1:], y.dtype)]).reshape((chunks, chunk) + y.shape[1:])
        ws = jnp.concatenate([jnp.ones(n, jnp.float32), jnp.zeros(pad, jnp.float32)]).reshape(chunks, chunk)
        ev = jax.vmap(jax.vmap(self._eval_one, in_axes=(0, 0, None, None, None)),
                      in_axes=(0, 0, None, None, None))

        def body(acc, inputs):
            xc, yc, wc = inputs
            loss_sum, correct = ev(params, hp["layers"], xc, yc, wc)
            return (acc[0] + loss_sum, acc[1] + correct), None

        zero = jnp.zeros((S, R), jnp.float32)
        (loss_sum, correct), _ = jax.lax.scan(body, (zero, zero), (xs, ys, ws))
        return loss_sum / n, correct / n

    def _predict(self, params, hp, x):
        """Outputs (S, R, n, ...) of every variant, final activation applied."""
        return jax.vmap(jax.vmap(lambda p, h: self.model.apply(p, x, h, train=False),
                                 in_axes=(0, 0)))(params, hp["layers"])

