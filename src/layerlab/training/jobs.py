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

from layerlab import engine, variants as variants_


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


class FitContext(NamedTuple):
    """What every job of one fit() shares."""

    model: Any             # the Sequential being fitted (its sweeps unresolved)
    variants: list         # every variant's settings
    independent: bool      # independent_draws
    run: Run
    recorder: Any          # a recorder (layerlab.recording) or None
    progress: Any          # a Progress
    start: Continuation | None


class GroupJob:
    """One compile group as fit() trains and records it, whichever backend runs its epochs.

    state: the group's engine state to start from; None (init=False, nothing to continue) when
    the backend draws the initial weights itself. offset: epochs trained before this fit (the
    random draws continue from there); done: epochs a resumed run has recorded already.
    """

    def __init__(self, fit: FitContext, group, program, init=True):
        self.fit, self.group, self.program = fit, group, program
        self.run, self.recorder, self.progress = fit.run, fit.recorder, fit.progress
        self.names, self.epochs, self.recording = fit.run.names, fit.run.epochs, fit.recorder is not None
        self.hp = variants_.hparams(fit.model, fit.model.compiled.optimizer, fit.variants, group.streams)
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
        self.done = 0
        if self.recorder is not None:
            # A resumed group continues from its last committed epoch: same state, same RNG.
            self.done, leaves, history = self.recorder.group_start(group.index, self.order)
            if self.done:
                self.state = jax.tree.unflatten(self.treedef(), [jnp.asarray(a) for a in leaves])
                for k in self.names:
                    self.run.metrics[k][self.order, :self.done] = history[k]
                self.progress.skip(self.done)  # the bar counts the epochs recorded before the resume

    def structure(self):
        p = self.program
        return engine.structure(self.group.model, self.group.optimizer, p.loss, p.in_shape, p.batch_size,
                                p.shuffle, p.validate)

    def treedef(self):
        """The structure of the group's engine state (traced, not compiled, if not at hand)."""
        if self.state is not None:
            return jax.tree.structure(self.state)
        return engine.state_treedef(self.program, self.keys, self.hp)

    def epoch_end(self, e, row, state, seconds):
        """row[name]: epoch e's metrics over `order`; state() the group's state leaves as numpy."""
        for k in self.names:
            self.run.metrics[k][self.order, e] = row[k]
        if self.recorder is not None:
            self.recorder.epoch_end(self.group.index, e, row, state)
        self.progress.epoch_done(self.group.label, e + 1, self.epochs, seconds, self.run.metrics, self.group.indices)

    def finish(self, state):
        """Keeps the final engine state and each variant's trained parameters."""
        self.state = state
        params = jax.device_get(self.program.public_params(state))
        for s, stream in enumerate(self.group.streams):
            for r, i in enumerate(stream):
                self.run.trained[i] = jax.tree.map(lambda a: np.asarray(a[s, r]), params)
                self.run.group_of[i] = self.group

    def continuation(self):
        """Where a single model's next fit() starts: this job's final state."""
        return Continuation(self.structure(), None, self.state, self.offset + self.epochs)
