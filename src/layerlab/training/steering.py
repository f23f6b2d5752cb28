"""Callbacks acting on one compile group, variant by variant, between its epochs.

Each variant has its own copies of fit's callbacks (a single model: the user's own objects, as
Keras); they see a VariantModel: that variant's weights, learning rate and `stop_training`.
Between two epochs the group's program receives two per-variant numbers it already knows how
to take: each variant's learning rate (in the optimizer state, through optax.inject_hyperparams)
and `hp['active']`, which keeps a stopped variant's state as it was (engine.Program._epoch). So
stopping or slowing one variant changes numbers, never the compiled program.

What the callbacks hold (counters, best values, best weights), the learning rates and who
stopped when are recorded with each epoch's checkpoint (`record()`), so a resumed run continues
with the same callbacks in the same state: bitwise the same history.
"""
import json

import jax
import numpy as np

from layerlab import callbacks as callbacks_

STATE_KEY = "callbacks"  # the JSON part of a checkpoint's extras; arrays follow as "callbacks.<n>"


class VariantModel:
    """`self.model` of a variant's callbacks: its weights now, its learning rate, stop_training;
    anything else is the variant's Sequential (name, layers, summary, ...)."""

    def __init__(self, steering, j, concrete):
        self._steering, self._j, self._concrete = steering, j, concrete
        self.stop_training = False
        self.optimizer = _Optimizer(steering, j, concrete.compiled.optimizer if concrete.compiled else None)

    def __getattr__(self, name):
        return getattr(self._concrete, name)

    def _current(self):
        self._concrete.params = self._steering.params(self._j)
        return self._concrete

    def get_weights(self):
        return self._current().get_weights()

    def set_weights(self, weights):
        """Sets the variant's final weights (EarlyStopping's restore at the end of training)."""
        model = self._current()
        model.set_weights(weights)
        self._steering.restored[self._j] = model.params

    def save(self, filepath, **kwargs):
        """Keras' .keras file of this variant as it is now (layerlab.models' saving)."""
        return self._current().save(filepath, **kwargs)

    def save_weights(self, filepath, **kwargs):
        return self._current().save_weights(filepath, **kwargs)


class _Optimizer:
    """The variant's optimizer as a callback sees it: `learning_rate` read and set."""

    def __init__(self, steering, j, optimizer):
        self._steering, self._j, self._optimizer = steering, j, optimizer

    @property
    def learning_rate(self):
        return float(self._steering.lr[self._j])

    @learning_rate.setter
    def learning_rate(self, value):
        self._steering.lr[self._j] = np.float32(value)

    def __getattr__(self, name):
        return getattr(self._optimizer, name)


class Steering:
    """A group's callbacks: `per_variant[i]` the callbacks of variant i, `models[i]` its concrete
    Sequential. `order` is the group's layout (job.order); lr: float32 per position or None when
    the optimizer has no learning rate to set."""

    def __init__(self, job, per_variant, models, params_of_fit):
        self.job, self.order = job, job.order
        self.callbacks = [per_variant[i] for i in self.order]
        self.models = [VariantModel(self, j, models[i]) for j, i in enumerate(self.order)]
        lr = job.hp["optimizer"].get("learning_rate")
        self.lr = None if lr is None else np.array(lr, np.float32).reshape(-1)
        self.active = np.ones(len(self.order), bool)
        self.stopped = {}   # position -> the last epoch it trained (from 0)
        self.reasons = {}   # position -> why it stopped
        self.restored = {}  # position -> params set at the end (EarlyStopping's best weights)
        self.leaves = None  # the group's state leaves after the last epoch (numpy)
        self.logs_lr = any(isinstance(c, callbacks_.LR_CALLBACKS) for cbs in self.callbacks for c in cbs)
        for cbs, model in zip(self.callbacks, self.models):
            for c in cbs:
                c.set_model(model)
                c.set_params(dict(params_of_fit))

    # -- the hooks, in Keras' order -------------------------------------------------------------
    def begin(self, done, extras, state_lr):
        """Before the group's first epoch (`done`: epochs a resumed run has recorded; extras:
        what the last checkpoint recorded; state_lr: the learning rates the state holds)."""
        if state_lr is not None and self.lr is not None:
            self.lr = np.array(state_lr, np.float32).reshape(-1)
        for cbs in self.callbacks:
            for c in cbs:
                if done and hasattr(c, "append"):
                    c._resumed = True
                c.on_train_begin()
        if done and extras:
            self._restore(extras)
            return
        self.begin_epoch(done)

    def begin_epoch(self, e):
        if e >= self.job.epochs:
            return
        for j, cbs in enumerate(self.callbacks):
            if self.active[j]:
                for c in cbs:
                    c.on_epoch_begin(e, {})

    def epoch_end(self, e, row, leaves):
        """Runs the callbacks of every active variant on epoch e's logs; returns the row to
        record (NaN where a variant had stopped before, plus `learning_rate` if logged)."""
        self.leaves = leaves
        row = {k: np.array(v, np.float64) for k, v in row.items()}
        if self.logs_lr:
            row["learning_rate"] = np.full(len(self.order), np.nan)
        for j, cbs in enumerate(self.callbacks):
            if not self.active[j]:
                for k in row:
                    row[k][j] = np.nan
                continue
            logs = {k: float(row[k][j]) for k in self.job.names}
            for c in cbs:
                c.on_epoch_end(e, logs)
            if self.logs_lr:
                row["learning_rate"][j] = logs.get("learning_rate", np.nan if self.lr is None else self.lr[j])
            if self.models[j].stop_training:
                self.active[j] = False
                self.stopped[j] = e
                self.reasons[j] = next((r for r in (c.stop_reason() for c in cbs) if r),
                                       "a callback set model.stop_training")
        if self.active.any():
            self.begin_epoch(e + 1)
        return row

    def end(self):
        for cbs in self.callbacks:
            for c in cbs:
                c.on_train_end()

    @property
    def finished(self):
        return not self.active.any()

    # -- what the program receives ----------------------------------------------------------------
    def steer(self, state, hp, part):
        """`state` and `hp` of a slice (`part` cuts a (S, R) array to it) with this epoch's
        learning rates and active flags."""
        S, R = len(self.job.group.streams), len(self.job.group.streams[0])
        hp = {**hp, "active": jax.numpy.asarray(part(self.active.reshape(S, R)))}
        if self.lr is None:
            return state, hp
        opt = state.opt_state
        old = opt.hyperparams["learning_rate"]
        lr = jax.numpy.asarray(part(self.lr.reshape(S, R)), old.dtype)
        return state._replace(opt_state=opt._replace(hyperparams={**opt.hyperparams, "learning_rate": lr})), hp

    def params(self, j):
        """Variant j's parameters in the layers' layout, from the last epoch's leaves."""
        state = jax.tree.unflatten(self.job.treedef(), self.leaves)
        s, r = divmod(j, len(self.job.group.streams[0]))
        return jax.tree.map(lambda a: np.asarray(a[s, r]), jax.device_get(self.job.program.public_params(state)))

    # -- recorded with each checkpoint --------------------------------------------------------------
    def record(self) -> dict:
        """{name: array}: the callbacks' state as JSON text (uint8) and their arrays."""
        arrays, per_variant = [], []
        for cbs in self.callbacks:
            entries = []
            for c in cbs:
                saved = {}
                for name in c._array_state:
                    value = getattr(c, name, None)
                    saved[name] = None if value is None else list(range(len(arrays), len(arrays) + len(value)))
                    arrays.extend(np.asarray(a) for a in value or ())
                entries.append({"state": c.get_state(), "arrays": saved, "stop": c.model.stop_training})
            per_variant.append(entries)
        text = json.dumps({"variants": per_variant, "lr": None if self.lr is None else self.lr.tolist(),
                           "active": self.active.tolist(), "stopped": {str(j): e for j, e in self.stopped.items()},
                           "reasons": {str(j): r for j, r in self.reasons.items()}})
        out = {STATE_KEY: np.frombuffer(text.encode(), np.uint8)}
        out.update({f"{STATE_KEY}.{n}": a for n, a in enumerate(arrays)})
        return out

    def _restore(self, extras):
        saved = json.loads(bytes(extras[STATE_KEY]).decode())
        for cbs, entries, model in zip(self.callbacks, saved["variants"], self.models):
            for c, entry in zip(cbs, entries):
                c.set_state(entry["state"])
                for name, idx in entry["arrays"].items():
                    setattr(c, name, None if idx is None else [extras[f"{STATE_KEY}.{n}"] for n in idx])
                model.stop_training = entry["stop"]
        if saved["lr"] is not None:
            self.lr = np.array(saved["lr"], np.float32)
        self.active = np.array(saved["active"], bool)
        self.stopped = {int(j): e for j, e in saved["stopped"].items()}
        self.reasons = {int(j): r for j, r in saved["reasons"].items()}

