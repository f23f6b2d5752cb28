"""StoreRecorder: fit()'s recorder protocol (layerlab.recording) writing into a Store.

One run row per fit, one variant row per variant; after every epoch of a compile group, that
group's history rows and its state (params, optimizer state) as a checkpoint, committed together.
Resuming hands the last good checkpoint and the history before it back to fit(), which continues
bitwise as if never stopped: every random draw derives from (seed, epoch), so the epoch number
is the whole RNG position.
"""
import hashlib
import json
import os
import platform
import sys
import warnings

import numpy as np

from layerlab import losses, optimizers
from layerlab._json import number
from layerlab._version import __version__
from layerlab.errors import ConfigError, StoreError, StoreWarning
from layerlab.recording import FRESH, Resumed

from . import _ownership, checkpoint
from ._db import Store

CHANGED = ("resume: run {run} was recorded with {path} = {recorded}; this fit has {received}. "
           "Resume with the settings it was recorded with, or start a new run (leave out resume).")
FALLBACK = "run {run}: {problems}; resuming group {group} from {start} instead."


class StoreRecorder:
    """Records a fit into a run store; `model.fit(..., store=path)` makes one.

    store: a Store, a path, or None for the default (./layerlab-runs/layerlab.db or
    $LAYERLAB_STORE). resume: the id of a stopped run to continue. data: the arrays trained and
    validated on, (x, y, x_val, y_val), checksummed unless `dataset=(name, sha256)` is given.
    study: {'path', 'text', 'resolved'} of a study file. keep_last: how many of a group's
    latest checkpoints to keep (more: a fallback if one is damaged); keep_best: keep each
    variant's checkpoint at its lowest val_loss too. announce: called with the recorder once
    the run id is known. force: resume a run whose owner on another host has been silent for
    longer than layerlab.store._ownership.STALE_SECONDS (a live owner is never taken over).
    heartbeat: seconds between the owner's heartbeats during an epoch.
    """

    def __init__(self, store=None, *, resume=None, data=None, dataset=None, study=None,
                 keep_last=1, keep_best=False, announce=None, force=False,
                 heartbeat=_ownership.HEARTBEAT_SECONDS):
        self._owns_store = not isinstance(store, Store)
        self.store = Store.open(store, create=True) if self._owns_store else store
        self.resume, self.data, self.dataset, self.study = resume, data, dataset, study
        self.keep_last, self.keep_best, self.announce = max(1, int(keep_last)), bool(keep_best), announce
        self.run_id, self.status, self.epochs_before = None, None, 0
        self._orders, self._failure = {}, None
        self.force, self.owner, self._heartbeat_seconds, self._heartbeat = bool(force), None, heartbeat, None

    # -- the recorder protocol ------------------------------------------------------------------
    def start(self, *, model, variants, groups, fit_args, metric_names, name=None):
        self.names = list(metric_names)
        spec = run_spec(model, groups, fit_args, metric_names, self._input_shape(model),
                        self.study["resolved"] if self.study else None)
        spec_sha = _sha(json.dumps(spec, sort_keys=True))
        dataset, data_sha = self.dataset or ("arrays", data_checksum(self.data))
        try:
            self._claim(spec, spec_sha, dataset, data_sha, fit_args, variants, groups, name)
        except BaseException:
            if self._owns_store:
                self.store.close()
            raise
        _ownership.activate(self.store, self.run_id)
        path = self.store.path
        self._heartbeat = _ownership.Heartbeat(lambda busy: Store.open(path, busy_seconds=busy), self.run_id,
                                               self.owner, self._heartbeat_seconds).start()
        if self.announce:
            self.announce(self)

    def _claim(self, spec, spec_sha, dataset, data_sha, fit_args, variants, groups, name):
        """A new run, or the run to resume claimed: either way this process owns it now."""
        self.owner = _ownership.here()
        if self.resume is None:
            group_of = {i: g for g, indices in enumerate(groups) for i in indices}
            self.run_id = self.store.create_run(dict(
                study=self.study["path"] if self.study else (name or script_name()),
                study_text=self.study["text"] if self.study else None, spec=json.dumps(spec),
                spec_sha256=spec_sha, dataset=dataset, dataset_sha256=data_sha, epochs=fit_args["epochs"],
                **self.owner, **provenance()),
                [{"idx": i, "settings": v, "seed": v["seed"], "grp": group_of[i]} for i, v in enumerate(variants)])
            self.owner["claimed"] = self.store.run(self.run_id)["claimed"]
            return
        run = self.store.run(self.resume)
        self.run_id = run["id"]
        _ownership.check_claim(self.store, run, self.force)  # a clear line before comparing settings
        recorded = {"spec": _trained(run["spec"]), "dataset": run["dataset_sha256"],
                    "variants": [v["settings"] for v in self.store.variants(run["id"])]}
        _same(run["id"], recorded, {"spec": _trained(spec), "variants": variants, "dataset": data_sha})
        run = self.store.claim_run(run["id"], self.owner,
                                   lambda now: _ownership.check_claim(self.store, now, self.force))
        self.epochs_before = run["epochs_completed"]

    def group_start(self, group, order) -> Resumed:
        self._orders[group] = [int(i) for i in order]
        self.store.set_positions(self.run_id, group, self._orders[group])
        if self.resume is None:
            return FRESH
        problems = []
        for ck in self.store.checkpoints(self.run_id, group):
            try:
                data = self.store.checkpoint_data(self.run_id, group, ck["epoch"])
                leaves = checkpoint.unpack(data, ck["sha256"], group, ck["epoch"])
            except StoreError as e:
                problems.append(str(e))
                continue
            done = ck["epoch"] + 1
            history = self._history(self._orders[group], done)
            if history is None:
                problems.append(f"the history before epoch {done + 1} of group {group} is incomplete")
                continue
            if problems:
                warnings.warn(FALLBACK.format(run=self.run_id, problems="; ".join(problems), group=group,
                                              start=f"its checkpoint at epoch {done}"), StoreWarning, stacklevel=2)
            return Resumed(done, leaves, history, checkpoint.unpack_extras(data) or None)
        if problems:
            warnings.warn(FALLBACK.format(run=self.run_id, problems="; ".join(problems), group=group,
                                          start="epoch 1 (no earlier checkpoint is kept; the result is the "
                                                "same, it only takes longer)"), StoreWarning, stacklevel=2)
        return FRESH

    def epoch_end(self, group, epoch, row, state, extras=None):
        """extras: {name: array} recorded with the checkpoint (the callbacks' state); a variant
        the callbacks had stopped has NaN in every metric (NULL rows), and is not diverged."""
        order = self._orders[group]
        rows = [(v, epoch, name, number(row[name][j])) for name in self.names for j, v in enumerate(order)]
        trained = [j for j in range(len(order)) if not all(np.isnan(row[k][j]) for k in self.names)]
        diverged = [order[j] for j in trained if not np.isfinite(row["loss"][j])]
        try:
            self.store.commit_epoch(self.run_id, group, epoch, rows, checkpoint.pack(state(), extras), diverged,
                                    keep_best=self.keep_best and "val_loss" in self.names, keep_last=self.keep_last,
                                    owner=self.owner)
        except StoreError as e:
            self._failure = e
            raise

    def finish(self, status, metrics):
        exc = sys.exc_info()[1]  # fit() calls this from its `finally`: the exception on its way out
        if status == "finished":
            self.status, error = "finished", None
        elif self._failure is not None or (exc is not None and not isinstance(exc, KeyboardInterrupt)):
            cause = self._failure or exc
            self.status, error = "failed", (str(cause).splitlines() or [type(cause).__name__])[0]
        else:
            self.status, error = "interrupted", None
        if self._heartbeat is not None:
            self._heartbeat.stop()
        try:
            if self.run_id is None:
                return
            if self._failure is not None:  # a failed write may have left the connection in doubt
                self.store.reopen()
                try:
                    self.store.checkpoint_wal()  # frees the WAL's space for the status update
                except StoreError:
                    pass
            self.store.finish_run(self.run_id, self.status, error, owner=self.owner)
        except StoreError:
            if exc is None:
                raise  # otherwise the exception on its way out says more
        finally:
            _ownership.deactivate(self.store, self.run_id)
            if self._owns_store:
                self.store.close()

    # -- helpers -------------------------------------------------------------------------------
    def _input_shape(self, model):
        if model.input_shape is not None:
            return list(model.input_shape)
        return list(np.shape(self.data[0])[1:]) if self.data is not None else None

    def _history(self, order, done):
        """{metric: (len(order), done) array} from the store, or None if a row is missing."""
        pos = {v: j for j, v in enumerate(order)}
        out = {k: np.full((len(order), done), np.nan, np.float64) for k in self.names}
        n = 0
        for v, e, m, x in self.store.history(self.run_id, order, done):
            if m in out:
                out[m][pos[v], e] = np.nan if x is None else x
                n += 1
        return out if n == len(order) * done * len(self.names) else None


def run_spec(model, groups, fit_args, metric_names, input_shape, study):
    """What a run needs to be rebuilt: the model's config, compile and fit settings (JSON)."""
    c = model.compiled
    return {"model": model.get_config(), "input_shape": input_shape,
            "compile": {"optimizer": optimizers.serialize(c.optimizer), "loss": losses.serialize(c.loss),
                        "metrics": list(c.metrics)},
            "fit": dict(fit_args), "metrics": list(metric_names), "groups": [list(map(int, g)) for g in groups],
            "study": study}


def data_checksum(data) -> str:
    """SHA-256 over the arrays' dtypes, shapes and bytes (None entries skipped)."""
    h = hashlib.sha256()
    for a in data or ():
        if a is not None:
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def script_name() -> str:
    """What a run started from Python is called: the script that runs (its absolute path, as a
    study file's), 'notebook' in Jupyter, else 'python'."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path and not os.path.basename(path).startswith("ipykernel"):
        return os.path.abspath(path)
    return "notebook" if "ipykernel" in sys.modules else "python"


def provenance() -> dict:
    import jax
    try:
        device = jax.devices()[0].device_kind
    except RuntimeError:
        device = "unknown device"
    return {"layerlab_version": __version__, "jax_version": jax.__version__,
            "python_version": platform.python_version(),
            "machine": f"{platform.node()}: {platform.system()} {platform.machine()}, "
                       f"{jax.default_backend()} ({device})"}


def process_alive(store, run) -> bool:
    """Whether the run's owner lives: its process on this host runs, or its heartbeat from another
    host is fresh (layerlab.store._ownership)."""
    return _ownership.owner_state(store, run) == "live"


def run_status(store, run) -> str:
    """The recorded status, honestly: 'running' only while the owner lives, else 'interrupted'
    for a run whose owner is gone (killed, crashed, or silent on another host)."""
    if run["status"] == "running" and not process_alive(store, run):
        return "interrupted"
    return run["status"]


def _trained(spec):
    """The part of a spec that decides the numbers: a study's name, plots and store options may change."""
    study = spec.get("study")
    if not study:
        return spec
    return {**spec, "study": {k: v for k, v in study.items() if k not in ("study", "plot", "store")}}


def _same(run_id, recorded, received, path=""):
    """Raises CHANGED at the first place where `received` differs from `recorded`."""
    if isinstance(recorded, dict) and isinstance(received, dict):
        for k in list(recorded) + [k for k in received if k not in recorded]:
            _same(run_id, recorded.get(k), received.get(k), f"{path}.{k}" if path else str(k))
    elif isinstance(recorded, list) and isinstance(received, list) and len(recorded) == len(received):
        for i, (a, b) in enumerate(zip(recorded, received)):
            _same(run_id, a, b, f"{path}[{i}]")
    elif json.dumps(recorded) != json.dumps(received, default=str):
        raise ConfigError(CHANGED.format(run=run_id, path=path, recorded=_short(recorded), received=_short(received)))


def _short(value):
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _sha(text):
    return hashlib.sha256(text.encode()).hexdigest()
