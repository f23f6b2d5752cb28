"""The Ray backend on a real two-node Ray cluster started here (`ray start`, 127.0.0.1, one CPU
a node): a variant's numbers are the local backend's whichever backend trains it and however its
group is sliced; the store gets every epoch as it finishes and resumes across backends; a worker
killed mid-run is replaced and its slice continues from the last epoch the driver received;
`layerlab run --backend ray` records a run that show and report read; without Ray, the message
says how to install it."""
import importlib.util
import logging
import os
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
from layerlab.backends import BackendWarning, Ray, RayNotInstalled
from layerlab.errors import ConfigError
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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"

    def ray_cli(*args):
        subprocess.run(command + list(args), check=True, capture_output=True, timeout=180)

    try:
        ray_cli("start", "--head", f"--port={port}", "--num-cpus=1", "--node-ip-address=127.0.0.1",
                "--disable-usage-stats", "--include-dashboard=false")
        ray_cli("start", f"--address={address}", "--num-cpus=1", "--node-ip-address=127.0.0.1")
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
@pytest.mark.usefixtures("real_mnist")
def test_layerlab_run_backend_ray_records_a_run_show_and_report_read(cluster, tmp_path, capsys):
    study = tmp_path / "tiny.toml"
    study.write_text(tiny_study())
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
    assert (tmp_path / "report.html").stat().st_size > 0


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
