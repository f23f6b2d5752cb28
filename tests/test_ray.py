"""The Ray backend on a real two-node Ray cluster started here (`ray start`, 127.0.0.1, one CPU
a node, every port Ray's choice): a variant's numbers are the local backend's whichever backend
trains it and however its group is sliced; the store gets every epoch as it finishes, and a run
stopped on either backend resumes on the other; a worker killed mid-run is replaced and its slice
continues from the last epoch the driver received, and after max_retries the fit ends in one line;
without an address $RAY_ADDRESS is used, then the cluster `ray start` began here; `layerlab run
--backend ray` records a run that show and report read; without Ray, the message says how to
install it."""
import html
import importlib.util
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import layerlab
from layerlab import backends, cli, layers
from layerlab.analysis import analyze
from layerlab.analysis.words import OVERFITTING
from layerlab.backends import BackendWarning, Ray, RayNotInstalled
from layerlab.backends import ray as ray_backend
from layerlab.backends.ray import GAVE_UP, NO_CLUSTER
from layerlab.errors import ConfigError, LayerlabError
from layerlab.store import Store, StoreRecorder
from synthetic import blobs
from tiny_study import tiny_study

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray is not installed: `pip install -e \".[test]\"` (or \"layerlab[ray]\") "
                                      "installs it")
EPOCHS = 4
NAMES = ["loss", "accuracy", "val_loss", "val_accuracy"]
ENV = {"RAY_DISABLE_USAGE_STATS": "1", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
DROPOUT_STUDY = str(Path(__file__).resolve().parents[1] / "studies" / "dropout.toml")


DATA = blobs(n=300, n_val=100)


def fit(epochs=EPOCHS, **kwargs):
    """Two compile groups (units 8, 16), each of two seeds x two dropout rates: 2 streams of 2."""
    layerlab.backend.clear_session()
    model = layerlab.Sequential([layers.Flatten(input_shape=(6, 6)),
                                 layers.Dense(layerlab.sweep([8, 16]), activation="relu"),
                                 layers.Dropout(layerlab.sweep([0.0, 0.5])), layers.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    (x, y), val = DATA
    return model.fit(x, y, validation_data=val, epochs=epochs, seed=3, repeats=2, verbose=0, **kwargs)


def assert_same(result, reference, tol=1e-5):
    """Every metric of every epoch, and every trained weight, within `tol`."""
    assert result.variants == reference.variants
    for k in NAMES:
        np.testing.assert_allclose(result.metrics[k], reference.metrics[k], rtol=0, atol=tol, err_msg=k)
    for i in range(len(reference)):
        for a, b in zip(result.model(i).get_weights(), reference.model(i).get_weights()):
            np.testing.assert_allclose(a, b, rtol=0, atol=tol)


def stored_rows(path, run=1):
    with Store.open(path) as store:
        return {(v, e, m): x for v, e, m, x in store.history(run)}


@pytest.fixture(scope="module")
def cluster():
    """A head and a second node on 127.0.0.1, one CPU each; `ray stop --force` at the end."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed: `pip install -e \".[test]\"` installs it")
    import ray
    # The cluster and this driver must agree on authentication: a token in ~/.ray (left by any
    # earlier `ray.init()`) turns it on for `ray start` but not for a connecting driver.
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    command = [shutil.which("ray") or str(Path(sys.executable).parent / "ray")]

    def ray_cli(*args):
        run = subprocess.run(command + list(args), capture_output=True, text=True, timeout=180, check=False)
        assert run.returncode == 0, f"ray {' '.join(args)}: {run.stdout}{run.stderr}"
        return run.stdout + run.stderr

    try:
        # Port 0 everywhere Ray allows it: each server binds a port the kernel picks, so no other
        # process can take one between our choosing it and Ray binding it (as with a port chosen
        # here and passed on). The head's address is read back from what `ray start` prints.
        # (Only Ray's client server keeps a fixed port, 10001; the tests do not use it.)
        free = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--min-worker-port=0", "--max-worker-port=0",
                "--dashboard-agent-listen-port=0"]
        head = ray_cli("start", "--head", "--port=0", *free, "--disable-usage-stats", "--include-dashboard=false")
        address = re.search(r"ray start --address='([^']+:\d+)'", head)
        assert address, head
        address = address.group(1)
        ray_cli("start", f"--address={address}", *free)
        ray.init(address=address, logging_level=logging.WARNING)
        deadline = time.monotonic() + 60
        while sum(n["Alive"] for n in ray.nodes()) < 2 or ray.cluster_resources().get("CPU", 0) < 2:
            assert time.monotonic() < deadline, ray.nodes()
            time.sleep(0.2)
        yield address
    finally:
        ray.shutdown()
        subprocess.run(command + ["stop", "--force"], capture_output=True, timeout=180)
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The local backend's run, recorded: the reference."""
    path = tmp_path_factory.mktemp("local") / "runs.db"
    return fit(store=path), path


@needs_ray
def test_same_numbers_whichever_backend_and_however_sliced(cluster, local, tmp_path):
    reference, reference_store = local
    whole = Ray(address=cluster)  # one task a group: two groups fill the two CPUs
    assert_same(fit(backend=whole), reference)
    assert sorted(whole.workers) == [(0, 0), (1, 0)] and whole.restarts == []
    sliced = Ray(address=cluster, variants_per_task=2)  # each group in two slices of one stream
    result = fit(backend=sliced, store=tmp_path / "runs.db")
    assert_same(result, reference)
    assert sorted(sliced.workers) == [(0, 0), (0, 1), (1, 0), (1, 1)] and sliced.restarts == []
    # The store holds what the local backend's holds: the same rows, a checkpoint per group.
    rows, expected = stored_rows(tmp_path / "runs.db"), stored_rows(reference_store)
    assert rows.keys() == expected.keys() and len(rows) == 8 * EPOCHS * 4
    assert max(abs(rows[k] - expected[k]) for k in rows) < 1e-5
    loaded = layerlab.load_run(1, store=tmp_path / "runs.db")
    assert all(np.array_equal(loaded.metrics[k], result.metrics[k]) for k in NAMES)
    np.testing.assert_allclose(layerlab.load_model(1, 5, store=tmp_path / "runs.db").get_weights()[0],
                               reference.model(5).get_weights()[0], atol=1e-5)


def fit_conv_bn(**kwargs):
    """A conv+BatchNormalization model: filters static (two groups), momentum and the spatial
    dropout rate numbers in one program; BatchNormalization's moving statistics travel with the state."""
    layerlab.backend.clear_session()
    model = layerlab.Sequential([
        layers.Reshape((6, 6, 1), input_shape=(6, 6)), layers.Conv2D(layerlab.sweep([2, 3]), 3, use_bias=False),
        layers.BatchNormalization(momentum=layerlab.sweep([0.9, 0.5])), layers.Activation("relu"),
        layers.SpatialDropout2D(0.3), layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    (x, y), val = DATA
    return model.fit(x[:200], y[:200], validation_data=val, epochs=2, batch_size=64, seed=5, verbose=0, **kwargs)


@needs_ray
def test_a_conv_batch_norm_model_on_ray_equals_local(cluster, tmp_path):
    reference = fit_conv_bn()
    result = fit_conv_bn(backend=Ray(address=cluster, variants_per_task=1), store=tmp_path / "runs.db")
    assert_same(result, reference)
    moving_variance = [reference.model(i).get_weights()[4] for i in range(len(reference))]
    assert not np.array_equal(moving_variance[0], moving_variance[1])  # each momentum its own statistics
    loaded = layerlab.load_model(1, 3, store=tmp_path / "runs.db").get_weights()
    for a, b in zip(loaded, reference.model(3).get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


@needs_ray
def test_callbacks_run_in_the_driver_and_give_the_local_result(cluster, tmp_path):
    """Each variant stops and slows where it does locally: the callbacks act in the driver
    between epochs, and each slice's task trains one epoch from the state they left."""
    def plan():
        return [layerlab.callbacks.EarlyStopping(patience=0, min_delta=0.1, restore_best_weights=True),
                layerlab.callbacks.ReduceLROnPlateau(patience=0, min_delta=0.2, factor=0.5)]
    here = fit(epochs=6, callbacks=plan())
    there = fit(epochs=6, callbacks=plan(), backend=Ray(address=cluster, variants_per_task=2),
                store=tmp_path / "runs.db")
    lengths = [len(h.epoch) for h in here.histories]
    assert min(lengths) < 6 and [len(h.epoch) for h in there.histories] == lengths
    for a, b in zip(here.histories, there.histories):
        assert a.stopped_epoch == b.stopped_epoch
        for k in a.history:
            np.testing.assert_allclose(a.history[k], b.history[k], rtol=1e-5, atol=1e-6)
    for i in range(len(here)):
        for a, b in zip(here.model(i).get_weights(), there.model(i).get_weights()):
            np.testing.assert_allclose(a, b, atol=1e-5)


class KillsAWorker(StoreRecorder):
    """Once epoch 1 of group 0 is committed, kills (SIGKILL) the worker training its slice 0."""

    def __init__(self, store, backend):
        super().__init__(store)
        self.backend, self.killed, self.epochs_seen = backend, None, []

    def epoch_end(self, group, epoch, row, state):
        super().epoch_end(group, epoch, row, state)
        self.epochs_seen.append((group, epoch))
        if (group, epoch) == (0, 0) and self.killed is None:
            self.killed = self.backend.workers[(0, 0)]
            os.kill(self.killed, signal.SIGKILL)


@needs_ray
def test_a_worker_killed_mid_run_is_replaced_and_nothing_recorded_is_lost(cluster, local, tmp_path):
    backend = Ray(address=cluster, variants_per_task=2)
    recorder = KillsAWorker(tmp_path / "runs.db", backend)
    with pytest.warns(BackendWarning, match="group 0 slice 0 .*WorkerCrashedError.*resubmitting it from epoch"):
        result = fit(store=recorder, backend=backend)
    # Its task was still running (epochs stream back as they finish), so it was resubmitted
    # from the last epoch the driver had received, on a new worker.
    ((group, piece, restart),) = backend.restarts
    assert (group, piece) == (0, 0) and 1 <= restart < EPOCHS and backend.workers[(0, 0)] != recorder.killed
    assert_same(result, local[0])
    assert sorted(recorder.epochs_seen) == [(g, e) for g in (0, 1) for e in range(EPOCHS)]
    with Store.open(tmp_path / "runs.db") as store:
        run = store.run(1)
        assert (run["status"], run["epochs_completed"]) == ("finished", EPOCHS)
    rows = stored_rows(tmp_path / "runs.db")
    assert sorted({e for _, e, _ in rows}) == list(range(EPOCHS)) and len(rows) == 8 * EPOCHS * 4


class Logged(StoreRecorder):
    """Records as fit(store=) does, logs (group, epoch) of every epoch recorded, and presses
    Ctrl-C once group 0 has recorded `stop_after` epochs."""

    def __init__(self, store, stop_after=None, **kwargs):
        (x, y), (x_val, y_val) = DATA
        super().__init__(store, data=(x, y, x_val, y_val), **kwargs)
        self.stop_after, self.seen = stop_after, []

    def epoch_end(self, group, epoch, row, state):
        super().epoch_end(group, epoch, row, state)
        self.seen.append((group, epoch))
        if (group, epoch + 1) == (0, self.stop_after):
            raise KeyboardInterrupt


@needs_ray
def test_a_run_stopped_on_ray_resumes_on_either_backend(cluster, local, tmp_path):
    path = tmp_path / "runs.db"
    for run, resume_with in ((1, Ray(address=cluster)), (2, None)):
        stopped = Logged(path, stop_after=2)
        with pytest.raises(KeyboardInterrupt):
            fit(store=stopped, backend=Ray(address=cluster, variants_per_task=2))
        with Store.open(path) as store:
            assert store.run(run)["status"] == "interrupted"
        assert {e for (v, e, m) in stored_rows(path, run) if v < 4} == {0, 1}  # group 0: 2 epochs recorded
        resumed = Logged(path, resume=run)
        assert_same(fit(store=resumed, backend=resume_with), local[0])
        assert resumed.status == "finished"
        assert sorted(resumed.seen + stopped.seen) == [(g, e) for g in (0, 1) for e in range(EPOCHS)]


@needs_ray
def test_a_run_stopped_locally_resumes_on_ray(cluster, local, tmp_path):
    path = tmp_path / "runs.db"
    stopped = Logged(path, stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        fit(store=stopped)  # the local backend
    with Store.open(path) as store:
        assert store.run(1)["status"] == "interrupted"
    assert {e for (v, e, m) in stored_rows(path) if v < 4} == {0, 1}  # group 0: 2 epochs recorded
    resumed, backend = Logged(path, resume=1), Ray(address=cluster, variants_per_task=2)
    assert_same(fit(store=resumed, backend=backend), local[0])
    assert resumed.status == "finished" and {(0, 0), (0, 1)} <= set(backend.workers)  # group 0 went on on Ray
    assert sorted(resumed.seen + stopped.seen) == [(g, e) for g in (0, 1) for e in range(EPOCHS)]
    assert stored_rows(path).keys() == stored_rows(local[1]).keys()


class KillsEveryWorker(StoreRecorder):
    """Kills (SIGKILL) every worker that reports an epoch of group 0's slice 0."""

    def __init__(self, store, backend):
        super().__init__(store)
        self.backend, self.killed = backend, []

    def epoch_end(self, group, epoch, row, state):
        super().epoch_end(group, epoch, row, state)
        pid = self.backend.workers.get((0, 0))
        if group == 0 and pid not in self.killed:
            self.killed.append(pid)
            os.kill(pid, signal.SIGKILL)


@needs_ray
def test_max_retries_gives_up_in_one_line_after_the_last_retry_keeping_what_was_recorded(cluster, tmp_path):
    """max_retries=1: the first lost worker is replaced (one warning), the second ends the fit with
    GAVE_UP; the run is marked failed and resumes to the uninterrupted run's numbers."""
    epochs = 2 * EPOCHS  # a replaced worker, one epoch ahead at most, is still training when killed
    backend, path = Ray(address=cluster, variants_per_task=2, max_retries=1), tmp_path / "runs.db"
    recorder = KillsEveryWorker(path, backend)
    with pytest.warns(BackendWarning) as warned, pytest.raises(LayerlabError) as info:
        fit(epochs=epochs, store=recorder, backend=backend)
    expected = re.escape(GAVE_UP.format(group=0, slice=0, times=2, retries=1, error="ERROR"))
    message = str(info.value)
    assert re.fullmatch(expected.replace("ERROR", r"WorkerCrashedError: [^\n]+"), message), message
    retries = [str(w.message) for w in warned if issubclass(w.category, BackendWarning)]
    assert len(retries) == 1 and "(retry 1 of 1)" in retries[0], retries
    assert len(recorder.killed) == 2 and [r[:2] for r in backend.restarts] == [(0, 0)]
    with Store.open(path) as store:
        run = store.run(1)
        assert run["status"] == "failed" and run["error"] == message
        assert run["epochs_completed"] < epochs
    recorded = sorted({e for (v, e, m) in stored_rows(path) if v < 4})  # group 0's epochs, whole
    assert recorded and recorded == list(range(len(recorded)))
    resumed = fit(epochs=epochs, store=StoreRecorder(path, resume=1))  # here: everything recorded is kept
    assert_same(resumed, fit(epochs=epochs))


def connected_to():
    import ray
    return ray.get_runtime_context().gcs_address


class Connected(Exception):
    """Raised by a spy of ray.init once connected: the fit goes no further (no workers start)."""


def cluster_found_by(backend, monkeypatch):
    """The address of the cluster that a fit with `backend` connects this driver to."""
    import ray
    real = ray.init

    def init(*args, **kwargs):
        real(*args, **kwargs)
        raise Connected(connected_to())
    ray.shutdown()
    with monkeypatch.context() as m:
        m.setattr(ray, "init", init)
        with pytest.raises(Connected) as info:
            fit(epochs=1, backend=backend)
    return str(info.value)


@needs_ray
def test_without_an_address_ray_address_is_used_then_the_cluster_ray_start_began(cluster, monkeypatch, tmp_path):
    """README: without an address layerlab uses $RAY_ADDRESS, else the cluster `ray start` began
    on this machine (the one started here is the latest); an address given wins over both."""
    import ray
    try:
        # $RAY_ADDRESS alone names the cluster: with Ray's folder elsewhere no `ray start` is known
        # here, and Ray would start a cluster of its own.
        monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
        monkeypatch.setenv("RAY_ADDRESS", cluster)
        assert cluster_found_by(Ray(), monkeypatch) == cluster
        monkeypatch.delenv("RAY_TMPDIR")
        with socket.socket() as nothing:  # bound, not listening: nobody serves there meanwhile
            nothing.bind(("127.0.0.1", 0))
            monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{nothing.getsockname()[1]}")
            assert cluster_found_by(Ray(address=cluster), monkeypatch) == cluster  # the address given wins
        monkeypatch.delenv("RAY_ADDRESS")
        assert cluster_found_by(Ray(), monkeypatch) == cluster  # nothing said: the cluster `ray start` began
    finally:
        ray.shutdown()
        ray.init(address=cluster, logging_level=logging.WARNING)


@needs_ray
@pytest.mark.usefixtures("real_mnist")
def test_layerlab_run_backend_ray_records_a_run_show_and_report_read(cluster, tmp_path, capsys):
    study = tmp_path / "tiny.toml"
    study.write_text(tiny_study(name="tiny on ray"))
    ray_store, local_store = tmp_path / "ray.db", tmp_path / "local.db"
    assert cli.main(["run", str(study), "--backend", "ray", "--address", cluster, "--store", str(ray_store),
                     "--quiet"]) == 0
    assert cli.main(["run", str(study), "--store", str(local_store), "--quiet"]) == 0
    on_ray, here = stored_rows(ray_store), stored_rows(local_store)
    assert on_ray.keys() == here.keys() and max(abs(on_ray[k] - here[k]) for k in here) < 1e-5
    capsys.readouterr()
    assert cli.main(["show", "1", "--store", str(ray_store)]) == 0
    assert "finished, 2/2 epochs" in capsys.readouterr().out
    assert cli.main(["report", "1", "--out", str(tmp_path / "report.html"), "--store", str(ray_store)]) == 0
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    result = layerlab.load_run(1, store=ray_store)
    assert "<title>tiny on ray: run 1</title>" in page and "<h1>tiny on ray: run 1</h1>" in page
    assert '<p class="meta">2 variants, 2 epochs; swept: dropout.rate: 0.0, 0.5;' in page
    for heading in ("Study", "Model", "Results at the last epoch", "Analysis", "Learning curves"):
        assert f"<h2>{heading}</h2>" in page, heading
    assert "[[layers]]" in page and "dense (Dense)" in page
    results = page.split("<h2>Results at the last epoch</h2>")[1].split("<h2>")[0]
    for i in range(len(result)):  # every variant has its row
        assert f'<td class="text">{html.escape(result.label(i))}</td>' in results, result.label(i)
    analysis = analyze(result)
    assert html.escape(str(analysis.recommendation)) in page
    assert f"<p>{html.escape(OVERFITTING)}</p>" in page
    names = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"/>',
                       page.split("<h2>Mistakes</h2>")[0])  # the learning curves
    assert names == ["overview", "accuracy", "loss", "val_accuracy", "val_loss"], names


# -- without a cluster ------------------------------------------------------------------------------
def test_without_ray_the_message_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as when it is not installed
    with pytest.raises(RayNotInstalled, match=r'pip install "layerlab\[ray\]"'):
        fit(epochs=1, backend="ray")
    assert isinstance(RayNotInstalled(""), ConfigError)
    store = tmp_path / "runs.db"
    assert cli.main(["run", DROPOUT_STUDY, "--backend", "ray", "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerlab: error: backend: 'ray' needs Ray") and 'pip install "layerlab[ray]"' in err
    assert len(err.strip().splitlines()) == 1 and not store.exists()  # nothing created


@needs_ray
@pytest.mark.parametrize(("address", "env", "named"), [
    (None, "10.9.8.7:6379", "the cluster at $RAY_ADDRESS='10.9.8.7:6379'"),
    ("auto", "10.9.8.7:6379", "the cluster at $RAY_ADDRESS='10.9.8.7:6379'"),
    ("head:6379", "10.9.8.7:6379", "the cluster at 'head:6379'"),
    (None, None, "the cluster `ray start` began on this machine")])
def test_a_cluster_out_of_reach_is_named_in_one_line(monkeypatch, address, env, named):
    """The message names the cluster Ray tried (README's order), not the address left out."""
    import ray

    def init(address=None, **kwargs):
        raise ConnectionError(f"Failed to connect to Ray cluster at {address}")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray_backend, "_no_answer", lambda address: None)  # ray.init is what fails here
    if env is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", env)
    with pytest.raises(LayerlabError) as info:
        fit(epochs=1, backend=Ray(address=address))
    expected = re.escape(NO_CLUSTER.format(cluster=named, error="ERROR")).replace("ERROR", "ConnectionError: [^\n]+")
    assert re.fullmatch(expected, str(info.value)), str(info.value)


def test_bad_backend_arguments_name_the_fix(config_error):
    config_error(backends.BAD_BACKEND, fit, epochs=1, backend="spark", mentions=("backend", "'spark'"))
    config_error(None, Ray, variants_per_task=0, mentions=("variants_per_task", "0"))
    config_error(None, Ray, cpus_per_task=0, mentions=("cpus_per_task",))
    config_error(None, Ray, lead=0, mentions=("lead",))
    assert cli.main(["run", DROPOUT_STUDY, "--address", "auto"]) == 2


def test_slices_are_contiguous_and_even():
    assert backends.ray.slices(5, 2) == [(0, 2), (2, 5)]
    assert backends.ray.slices(4, 4) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert backends.ray.slices(1, 1) == [(0, 1)]
