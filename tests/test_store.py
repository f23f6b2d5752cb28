"""The run store: fit(store=) records every epoch, load_run/load_model give it back bitwise,
resume continues bitwise, checkpoints are checksummed npz and pruned, and bad stores, a newer
schema, an old schema, a corrupt checkpoint and two writers at once are each handled."""
import hashlib
import io
import json
import os
import socket
import sqlite3
import threading

import numpy as np
import pytest

import layerlab
from layerlab import layers
from layerlab.errors import ConfigError, StoreError, StoreWarning
from layerlab.store import SCHEMA_VERSION, Store, StoreRecorder, checkpoint, _recorder, _schema
from synthetic import blobs


DATA = blobs(n=400, classes=10)


def model(rate=layerlab.sweep([0.0, 0.5]), units=16):
    layerlab.backend.clear_session()
    m = layerlab.Sequential([layers.Flatten(input_shape=(6, 6)), layers.Dense(units, activation="relu"),
                             layers.Dropout(rate), layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def fit(m, epochs=3, **kwargs):
    (x, y), val = DATA
    return m.fit(x, y, validation_data=val, epochs=epochs, seed=3, verbose=0, **kwargs)


def same(a, b):
    return all(np.array_equal(a.metrics[k], b.metrics[k]) for k in a.metrics) and a.variants == b.variants


def test_fit_records_every_epoch_and_load_run_gives_it_back_bitwise(tmp_path):
    path = tmp_path / "runs.db"
    swept = model(units=layerlab.sweep([8, 16]))
    config = swept.get_config()  # the model as written: its sweeps, not one variant's settings
    result = fit(swept, store=path)  # two compile groups
    assert result.run_id == 1
    with Store.open(path) as store:
        run = store.run(1)
        assert (run["status"], run["epochs"], run["epochs_completed"], run["variants"]) == ("finished", 3, 3, 4)
        assert run["dataset"] == "arrays" and len(run["dataset_sha256"]) == 64 and run["ended"] >= run["started"]
        assert run["jax_version"] and run["python_version"] and run["machine"] and run["layerlab_version"] == layerlab.__version__
        assert run["spec"]["model"] == config
        assert [layer["config"].get(k) for layer, k in zip(config["layers"][1:], ("units", "rate"))] == [
            {"sweep": [8, 16]}, {"sweep": [0.0, 0.5]}]  # the sweeps themselves are what is stored
        rebuilt = layerlab.Sequential.from_config(run["spec"]["model"])
        assert rebuilt.get_config() == config and rebuilt.get_config() != result.model(0).get_config()
        assert len(store.history(1)) == 4 * 3 * 4  # variants x epochs x metrics
        assert [len(store.checkpoints(1, g)) for g in (0, 1)] == [1, 1]  # the last one only
    loaded = layerlab.load_run(1, store=path)
    assert same(loaded, result) and loaded.run_id == 1 and loaded.swept == result.swept
    assert [h.history for h in loaded.histories] == [h.history for h in result.histories]
    (x, y), (xv, yv) = DATA
    for i in range(len(result)):
        for a, b in zip(loaded.model(i).get_weights(), result.model(i).get_weights()):
            assert np.array_equal(a, b)
        trained = layerlab.load_model(1, i, store=path)
        assert trained.layers[1].units == result.variants[i]["dense.units"]
        assert trained.evaluate(xv, yv)[0] == pytest.approx(result.metrics["val_loss"][i, -1], rel=1e-6)
        assert trained.history.history["val_loss"] == result.histories[i].history["val_loss"]


def test_a_single_model_fit_returns_a_history_with_its_run_id(tmp_path):
    history = fit(model(rate=0.2), epochs=2, store=tmp_path / "runs.db")
    assert isinstance(history, layerlab.History) and history.run_id == 1
    loaded = layerlab.load_run(1, store=tmp_path / "runs.db")
    assert len(loaded) == 1 and loaded.histories[0].history == history.history
    assert np.allclose(layerlab.load_model(1, store=tmp_path / "runs.db").predict(DATA[1][0][:5]),
                       history.model.predict(DATA[1][0][:5]))
    assert fit(model(rate=0.2), epochs=1).run_id is None  # no store, no run


def testcheckpoints_are_checksummed_npz_and_the_best_is_kept_on_request(tmp_path):
    path = tmp_path / "runs.db"
    result = fit(model(), epochs=6, store=StoreRecorder(path, keep_best=True))
    with Store.open(path) as store:
        kept = store.checkpoints(1, 0)
        best = {int(np.argmin(result.metrics["val_loss"][i])) for i in range(2)}
        assert {c["epoch"] for c in kept} == best | {5}
        data = store.checkpoint_data(1, 0, 5)
    assert hashlib.sha256(data).hexdigest() == kept[0]["sha256"] and kept[0]["rng_epoch"] == 6
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:  # plain npz: no pickle needed
        assert len(npz.files) > 4
    i = 1
    epoch = int(np.argmin(result.metrics["val_loss"][i]))
    best_model = layerlab.load_model(1, i, store=path, which="best")
    assert best_model.evaluate(*DATA[1])[0] == pytest.approx(result.metrics["val_loss"][i, epoch], rel=1e-6)
    with pytest.raises(ConfigError, match="which: expected 'last' or 'best'"):
        layerlab.load_model(1, 0, store=path, which="worst")
    with pytest.raises(ConfigError, match=r"variant: expected an index from 0 to 1 of run 1's variants; received 7"):
        layerlab.load_model(1, 7, store=path)


def interrupt_at(monkeypatch, group, epoch):
    """Ctrl-C right after (group, epoch) is committed."""
    real = StoreRecorder.epoch_end

    def epoch_end(self, g, e, row, state):
        real(self, g, e, row, state)
        if (g, e) == (group, epoch):
            raise KeyboardInterrupt
    monkeypatch.setattr(StoreRecorder, "epoch_end", epoch_end)
    return real


def test_resume_after_an_interruption_is_bitwise_the_uninterrupted_run(tmp_path, monkeypatch):
    whole = fit(model(units=layerlab.sweep([8, 16])), epochs=4)
    path = tmp_path / "runs.db"
    real = interrupt_at(monkeypatch, 1, 1)  # group 0 is done, group 1 has 2 of 4 epochs
    with pytest.raises(KeyboardInterrupt):
        fit(model(units=layerlab.sweep([8, 16])), epochs=4, store=path)
    with Store.open(path) as store:
        run = store.run(1)
        assert run["status"] == "interrupted" and run["epochs_completed"] == 2
    monkeypatch.setattr(StoreRecorder, "epoch_end", real)
    resumed = fit(model(units=layerlab.sweep([8, 16])), epochs=4, store=path, resume=1)
    assert resumed.run_id == 1 and same(resumed, whole)
    assert same(layerlab.load_run(1, store=path), whole)
    for i in range(len(whole)):
        for a, b in zip(resumed.model(i).get_weights(), whole.model(i).get_weights()):
            assert np.array_equal(a, b)
    with Store.open(path) as store:
        assert store.run(1)["status"] == "finished" and len(store.runs()) == 1


def test_resume_refuses_other_settings_saying_which(tmp_path, monkeypatch):
    path = tmp_path / "runs.db"
    interrupt_at(monkeypatch, 0, 0)
    with pytest.raises(KeyboardInterrupt):
        fit(model(), epochs=3, store=path)
    with pytest.raises(ConfigError, match=r"resume: run 1 was recorded with spec\.fit\.epochs = 3; this fit has 5\. "):
        fit(model(), epochs=5, store=path, resume=1)
    with pytest.raises(ConfigError, match=r"resume: run 1 was recorded with spec\.model\.layers\[2\]\.config\.rate\.sweep\[1\] = 0\.5; "
                                          r"this fit has 0\.6\."):
        fit(model(rate=layerlab.sweep([0.0, 0.6])), epochs=3, store=path, resume=1)
    with pytest.raises(StoreError, match=r"run 9: no such run; expected one of the ids `layerlab runs` lists \(1\)"):
        fit(model(), epochs=3, store=path, resume=9)


@pytest.mark.parametrize("keep_last", [1, 2])
def test_acheckpoint_failing_its_checksum_is_skipped_with_a_warning(tmp_path, monkeypatch, keep_last):
    whole = fit(model(), epochs=4)
    path = tmp_path / "runs.db"
    real = interrupt_at(monkeypatch, 0, 2)
    with pytest.raises(KeyboardInterrupt):
        fit(model(), epochs=4, store=StoreRecorder(path, keep_last=keep_last))
    with sqlite3.connect(path) as db:  # flip one byte of the last checkpoint
        db.execute("UPDATE checkpoints SET data = CAST(? AS BLOB) WHERE epoch = 2",
                   (b"\x00" + bytes(db.execute("SELECT data FROM checkpoints WHERE epoch = 2").fetchone()[0])[1:],))
    monkeypatch.setattr(StoreRecorder, "epoch_end", real)
    fallback = "its checkpoint at epoch 2" if keep_last == 2 else "epoch 1 \\(no earlier checkpoint is kept"
    with pytest.warns(StoreWarning, match=rf"run 1: checkpoint of group 0 at epoch 3: sha256 \w+ does not match the "
                                          rf"recorded \w+ .*; resuming group 0 from {fallback}"):
        resumed = fit(model(), epochs=4, store=StoreRecorder(path, resume=1, keep_last=keep_last))
    assert same(resumed, whole)


def test_unpack_refuses_a_bad_checksum_and_pickles():
    sha, data = checkpoint.pack([np.arange(3), np.ones((2, 2), np.float32)])
    assert [a.tolist() for a in checkpoint.unpack(data, sha)] == [[0, 1, 2], [[1, 1], [1, 1]]]
    with pytest.raises(StoreError, match="does not match the recorded"):
        checkpoint.unpack(data[:-1] + b"x", sha)
    buf = io.BytesIO()
    np.savez(buf, np.array([{"a": 1}], dtype=object))  # an object array is a pickle inside
    bad = buf.getvalue()
    with pytest.raises(StoreError, match="not a readable npz"):
        checkpoint.unpack(bad, hashlib.sha256(bad).hexdigest())


# -- stores that cannot be used ---------------------------------------------------------------
def test_bad_store_files_are_refused_in_one_line(tmp_path):
    cases = []
    (tmp_path / "folder.db").mkdir()
    cases.append((tmp_path / "folder.db", r"folder\.db: cannot be opened \(it is a folder\); expected a readable SQLite file"))
    (tmp_path / "text.db").write_bytes(b"these are not the bytes of a database, " * 100)
    cases.append((tmp_path / "text.db", r"text\.db: not a SQLite database \(file is not a database\); expected a layerlab run store"))
    with sqlite3.connect(tmp_path / "other.db") as db:
        db.execute("CREATE TABLE songs (title TEXT)")
    cases.append((tmp_path / "other.db", r"other\.db: a SQLite database of another program \(application_id 0x0, tables \['songs'\]\)"))
    newer = tmp_path / "newer.db"
    Store.open(newer, create=True).close()
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")
    cases.append((newer, rf"newer\.db: schema version 99, newer than this layerlab's {SCHEMA_VERSION}; expected version "
                         rf"{SCHEMA_VERSION} or older\. Upgrade layerlab"))
    cases.append((tmp_path / "missing.db", r"missing\.db: no such file; expected a run store"))
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.db"
        Store.open(locked, create=True).close()
        locked.chmod(0)
        cases.append((locked, r"locked\.db: cannot be opened \(permission denied\)"))
    for path, message in cases:
        with pytest.raises(StoreError, match=message) as info:
            Store.open(path)
        assert "\n" not in str(info.value)
    assert not (tmp_path / "missing.db").exists()  # reading never creates a store


def test_an_older_store_is_migrated_keeping_its_runs(tmp_path):
    path = tmp_path / "v1.db"
    _schema.create_at_version(path, 1)
    with sqlite3.connect(path) as db:  # a run recorded by the version-1 layerlab
        db.execute("INSERT INTO runs VALUES (1, 'model.fit(sequential)', NULL, '{\"metrics\": [\"loss\"]}', 'x', "
                   "'arrays', 'y', '0.0.9', '0.4', '3.11', 'box', '2024-01-01T00:00:00+00:00', NULL, 'interrupted', 5, NULL)")
        db.execute("INSERT INTO variants VALUES (1, 0, '{\"seed\": 1}', 1, 0, 0, NULL)")
        db.executemany("INSERT INTO history VALUES (1, 0, ?, 'loss', ?)", [(0, 1.5), (1, 1.25)])
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    with Store.open(path) as store:
        (run,) = store.runs()
        assert (run["id"], run["status"], run["epochs_completed"], run["pid"]) == (1, "interrupted", 2, None)
        assert store.history(1) == [(0, 0, "loss", 1.5), (0, 1, "loss", 1.25)]
        assert store.integrity() == "ok"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _fields(name):
    return dict(study=name, study_text=None, spec=json.dumps({"metrics": ["loss"]}), spec_sha256="s", dataset="arrays",
                dataset_sha256="d", epochs=40, layerlab_version="t", jax_version="t", python_version="t", machine="t")


def test_two_writers_at_once_both_succeed_and_a_reader_sees_whole_epochs(tmp_path):
    """Two writers record 40 epochs each while a reader reads snapshots until both are done; a
    writer halfway through waits for the reader to have seen a run in progress, so the reader
    provably read while epochs were being committed, and every state it saw held whole epochs."""
    path, epochs, halfway, errors, seen = tmp_path / "new" / "shared.db", 40, 20, [], []
    start, in_progress, done = threading.Barrier(3), threading.Event(), threading.Semaphore(0)

    def writer(name):
        try:
            start.wait()
            store = Store.open(path, create=True)  # both create the store at the same moment
            run = store.create_run(_fields(name), [{"idx": v, "settings": {"seed": v}, "seed": v, "grp": 0} for v in range(2)])
            store.set_positions(run, 0, [0, 1])
            rng = np.random.default_rng(run)
            for e in range(epochs):
                rows = [(v, e, "loss", float(rng.normal())) for v in range(2)]
                store.commit_epoch(run, 0, e, rows, checkpoint.pack([rng.normal(size=(64, 256))]), [])
                if e == halfway and not in_progress.wait(60):
                    raise AssertionError(f"{name}: in 60 s the reader saw no run in progress: {seen[-5:]}")
            store.finish_run(run, "finished")
            store.close()
        except Exception as e:  # reported below: a thread's exception would be lost
            errors.append(e)
        finally:
            done.release()

    def reader():
        start.wait()
        finished = 0
        while finished < 2 and not errors:
            finished += done.acquire(blocking=False)
            try:
                with Store.open(path) as store, store.snapshot():
                    for r in store.runs():
                        done_epochs = r["epochs_completed"]
                        recorded = sorted((e, v) for v, e, _, _ in store.history(r["id"]))
                        # An epoch is all there (both variants) or not at all, and agrees with the run row.
                        whole = recorded == [(e, v) for e in range(done_epochs) for v in range(2)]
                        seen.append((r["id"], r["status"], done_epochs, whole))
                        if r["status"] == "running" and 0 < done_epochs < epochs:
                            in_progress.set()
            except StoreError as e:
                if "no such file" not in str(e):
                    errors.append(e)
            except Exception as e:  # an assertion or a bug in the reader: reported below
                errors.append(e)

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(2)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads) and not errors, errors
    with Store.open(path) as store:
        runs = store.runs()
        assert [(r["status"], r["epochs_completed"]) for r in runs] == [("finished", epochs)] * 2
        assert store.integrity() == "ok" and all(len(store.checkpoints(r["id"], 0)) == 1 for r in runs)
    partial = [s for s in seen if s[1] == "running" and 0 < s[2] < epochs]
    assert partial, f"the reader never saw a run in progress: {seen[:5]} ... {seen[-5:]}"
    assert all(whole for *_, whole in seen), [s for s in seen if not s[-1]][:5]


def test_process_alive_tells_a_killed_run_from_a_running_one(tmp_path):
    store = Store.open(tmp_path / "runs.db", create=True)
    run_id = store.create_run(dict(_fields("x"), pid=2 ** 22 + 12345, host=socket.gethostname()),
                              [{"idx": 0, "settings": {"seed": 0}, "seed": 0, "grp": 0}])
    assert not _recorder.process_alive(store, store.run(run_id))  # no such process
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET pid = 1")
    assert _recorder.process_alive(store, store.run(run_id))  # init runs
    store.close()


def test_runs_from_python_are_named_after_their_script_or_the_name_given(tmp_path, monkeypatch):
    import types
    path = tmp_path / "runs.db"
    script = types.ModuleType("__main__")
    script.__file__ = str(tmp_path / "my_sweep.py")
    monkeypatch.setitem(__import__("sys").modules, "__main__", script)
    fit(model(rate=0.2), epochs=1, store=path)
    fit(model(rate=0.2), epochs=1, store=path, name="dropout in class")
    monkeypatch.setitem(__import__("sys").modules, "__main__", types.ModuleType("__main__"))  # a plain REPL
    fit(model(rate=0.2), epochs=1, store=path)
    with Store.open(path) as store:
        assert [r["study"] for r in store.runs()] == [str(tmp_path / "my_sweep.py"), "dropout in class", "python"]
