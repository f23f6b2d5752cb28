"""What fit() hands a backend: one job per compile group, and the run they fill in together.

A GroupJob holds a compile group's program, per-variant numbers and keys, where it starts
(fresh, a trained model's state, or a resumed run's last checkpoint), and what follows each
epoch (metrics into the Run, the recorder, the progress line). The backends see jobs only
through the contract written in layerlab.backends.base.
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from layerlab import engine
from layerlab import variants as variants_

from .steering import Steering


class Continuation(NamedTuple):
    """Where a single model's next fit() starts (Keras: fitting again continues training)."""

    structure: str | None  # engine.structure() of the program that trained `state`; None: none
    params: Any            # the model's parameters (per layer dicts), or None
    state: Any             # the engine state after the last fit, or None
    epochs: int            # epochs trained so far (the random draws continue from there)
    opt_state: Any = None  # with params: the optimizer's state to go on from (a loaded file's), or None


class Run:
    """What fit() gathers: metrics (variants, epochs) per name, trained params per variant."""

    def __init__(self, n_variants, names, epochs):
        self.names, self.epochs = list(names), epochs
        self.metrics = {n: np.full((n_variants, epochs), np.nan, np.float64) for n in names}
        self.trained = [None] * n_variants
        self.group_of = [None] * n_variants
        self.stopped = {}  # variant -> (last epoch trained, from 0; why), for variants a callback stopped


class FitContext(NamedTuple):
    """What every job of one fit() shares."""

    model: Any             # the Sequential being fitted (its sweeps unresolved)
    variants: list         # every variant's settings
    independent: bool      # independent_draws
    run: Run
    recorder: Any          # a recorder (layerlab.recording) or None
    progress: Any          # a Progress
    start: Continuation | None
    callbacks: Any = None  # per variant: its callbacks (a list), or None without callbacks
    concrete: Any = None   # function(i) -> variant i's concrete Sequential (for its callbacks)
    fit_params: Any = None  # Keras' callback.params: {'epochs', 'steps', 'verbose'}


class GroupJob:
    """One compile group as fit() trains and records it, whichever backend runs its epochs.

    state: the group's engine state to start from; None (init=False, nothing to continue) when
    the backend draws the initial weights itself. offset: epochs trained before this fit (the
    random draws continue from there); done: epochs a resumed run has recorded already.
    """

    def __init__(self, fit: FitContext, group, program, init=True):
        self.fit, self.group, self.program = fit, group, program
        self.run, self.recorder, self.progress = fit.run, fit.recorder, fit.progress
        # the engine's metrics; fit.run.names may add `learning_rate`, which the callbacks log
        self.names = [n for n in fit.run.names if n != "learning_rate"]
        self.epochs, self.recording = fit.run.epochs, fit.recorder is not None
        self.hp = variants_.hparams(fit.model, fit.model.compiled.optimizer, fit.variants, group.streams)
        self.steering = None
        if fit.callbacks is not None:
            S, R = len(group.streams), len(group.streams[0])
            self.hp["active"] = jnp.ones((S, R), bool)  # engine.Program: False keeps a stopped variant's state
        self.keys = engine.stream_keys(jnp.stack([variants_.root_key(fit.model, fit.variants[s[0]], fit.independent)
                                                  for s in group.streams]))
        self.order = [i for stream in group.streams for i in stream]  # variant index of each (s, r), row-major
        start = fit.start
        self.state = program.init(self.keys, self.hp) if init or start is not None else None
        self.offset = 0
        if start is not None:
            if start.state is not None and start.structure == self.structure():
                self.state, self.offset = start.state, start.epochs
            elif start.params is not None:
                self.state = program.with_params(self.state,
                                                 jax.tree.map(lambda a: jnp.asarray(a)[None, None], start.params))
                if start.opt_state is not None:
                    self.state = program.with_opt_state(self.state, start.opt_state)
        self.done, extras = 0, None
        if self.recorder is not None:
            # A resumed group continues from its last committed epoch: same state, same RNG.
            resumed = self.recorder.group_start(group.index, self.order)
            self.done, leaves, history = resumed[:3]
            extras = resumed[3] if len(resumed) > 3 else None
            if self.done:
                self.state = jax.tree.unflatten(self.treedef(), [jnp.asarray(a) for a in leaves])
                for k in self.run.names:
                    self.run.metrics[k][self.order, :self.done] = history[k]
                self.progress.skip(self.done)  # the bar counts the epochs recorded before the resume
        if fit.callbacks is not None:
            self.steering = Steering(self, fit.callbacks, {i: fit.concrete(i) for i in self.order}, fit.fit_params)
            state_lr = None
            if self.state is not None and "learning_rate" in getattr(self.state.opt_state, "hyperparams", {}):
                state_lr = np.asarray(self.state.opt_state.hyperparams["learning_rate"])
            self.steering.begin(self.done, extras, state_lr)
            self.recording = True  # the callbacks read each epoch's weights

    def structure(self):
        p = self.program
        return engine.structure(self.group.model, self.group.optimizer, p.loss, p.in_shape, p.batch_size,
                                p.shuffle, p.validate)

    def treedef(self):
        """The structure of the group's engine state (traced, not compiled, if not at hand)."""
        if self.state is not None:
            return jax.tree.structure(self.state)
        return engine.state_treedef(self.program, self.keys, self.hp)

    @property
    def steered(self):
        """Whether callbacks act between this group's epochs (see layerlab.backends.base)."""
        return self.steering is not None

    @property
    def finished(self):
        """Whether every variant of the group has been stopped by a callback."""
        return self.steering is not None and self.steering.finished

    def steer(self, state, hp, part):
        """A slice's state and numbers for its next epoch: the learning rates and active flags
        the callbacks set (`part` cuts a (S, R) array to the slice); unchanged without callbacks."""
        return (state, hp) if self.steering is None else self.steering.steer(state, hp, part)

    def epoch_end(self, e, row, state, seconds):
        """row[name]: epoch e's metrics over `order`; state() the group's state leaves as numpy."""
        extras, self.trained_to = None, e + 1
        if self.steering is not None:
            row = self.steering.epoch_end(e, row, state())
            extras = self.steering.record()
        for k in self.run.names:
            self.run.metrics[k][self.order, e] = row[k]
        if self.recorder is not None:
            if extras is None:
                self.recorder.epoch_end(self.group.index, e, row, state)
            else:
                self.recorder.epoch_end(self.group.index, e, row, state, extras=extras)
        self.progress.epoch_done(self.group.label, e + 1, self.epochs, seconds, self.run.metrics, self.group.indices)

    def finish(self, state):
        """Keeps the final engine state and each variant's trained parameters (with callbacks,
        after their on_train_end: EarlyStopping may restore a variant's best weights)."""
        self.state = state
        params = jax.device_get(self.program.public_params(state))
        restored = {}
        if self.steering is not None:
            self.progress.skip(self.epochs - max(self.done, getattr(self, "trained_to", 0)))  # epochs not trained
            self.steering.leaves = [np.asarray(a) for a in jax.tree.leaves(state)]
            self.steering.end()
            restored = self.steering.restored
            for j, (e, why) in ((j, (e, self.steering.reasons.get(j))) for j, e in self.steering.stopped.items()):
                self.run.stopped[self.order[j]] = (e, why)
        for s, stream in enumerate(self.group.streams):
            for r, i in enumerate(stream):
                j = s * len(stream) + r
                own = restored.get(j)
                self.run.trained[i] = own if own is not None else jax.tree.map(lambda a, s=s, r=r: np.asarray(a[s, r]),
                                                                                params)
                self.run.group_of[i] = self.group
        if restored and len(self.order) == 1:  # a single model's next fit() goes on from its restored weights
            self.state = self.program.with_params(state, jax.tree.map(lambda a: jnp.asarray(a)[None, None],
                                                                      restored[0]))

    def continuation(self):
        """Where a single model's next fit() starts: this job's final state."""
        return Continuation(self.structure(), None, self.state, self.offset + self.epochs)
