"""One owner per run: claiming is one transaction recording host, pid, since and a heartbeat; a
live owner is never taken over (its line names it, exit 2), a silent one on another host only
with force; status is honest everywhere; and 2, then 4, real processes resuming one run at the
same instant leave exactly one training it (tools/faults.py races, in a short form)."""
import json
import random
import socket
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from synthetic import blobs

import layerlab
from layerlab import cli, layers
from layerlab.errors import StoreError
from layerlab.store import Store, StoreRecorder, _ownership, owner_state, run_status

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import faults

DATA = blobs(n=200, classes=10)
HOST = socket.gethostname()
DEAD_PID = 2 ** 22 + 12345  # above Linux's pid_max: no such process


def fit(epochs=3, **kwargs):
    layerlab.backend.clear_session()
    m = layerlab.Sequential([layers.Flatten(input_shape=(6, 6)), layers.Dense(8, activation="relu"),
                             layers.Dropout(layerlab.sweep([0.0, 0.5])), layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    (x, y), val = DATA
    return m.fit(x, y, validation_data=val, epochs=epochs, seed=3, verbose=0, **kwargs)


def recorder(path, resume, **kwargs):
    """A recorder resuming run `resume` (given to fit as store=, for its force= argument)."""
    with Store.open(path) as s:
        dataset = ("arrays", s.run(resume)["dataset_sha256"])  # fit's own arrays: checked in test_store
    return StoreRecorder(path, resume=resume, dataset=dataset, **kwargs)


def set_owner(path, pid, host, age=0.0, status="running"):
    """Makes run 1's recorded owner (pid, host), with a heartbeat `age` seconds old."""
    from datetime import UTC, datetime, timedelta
    beat = (datetime.now(UTC) - timedelta(seconds=age)).isoformat(timespec="seconds")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET status = ?, pid = ?, host = ?, heartbeat = ?, process = ? WHERE id = 1",
                   (status, pid, host, beat, _ownership.process_token(pid) if host == HOST else None))


@pytest.fixture
def stopped(tmp_path):
    """A store whose run 1 trained 2 of 4 epochs, and the uninterrupted run's metrics."""
    whole = fit(4)
    path = tmp_path / "runs.db"
    fit(2, store=path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET epochs = 4, spec = json_set(spec, '$.fit.epochs', 4)")
    return path, whole


def test_a_live_owner_is_never_taken_over_and_its_line_names_it(stopped):
    path, _ = stopped
    set_owner(path, 1, HOST)  # init: a process that lives, on this host
    for force in (False, True):
        with pytest.raises(StoreError) as info:
            fit(4, store=recorder(path, 1, force=force))
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"resume: run 1 is owned by process 1 on {HOST} since ")
        assert "last heartbeat" in message and "s ago)" in message
    set_owner(path, 4242, "elsewhere", age=5)  # another host, heartbeat fresh
    with pytest.raises(StoreError, match="owned by process 4242 on elsewhere"):
        fit(4, store=recorder(path, 1, force=True))
    with Store.open(path) as s:
        assert (s.run(1)["pid"], s.run(1)["epochs_completed"]) == (4242, 2)  # nothing changed


def test_a_silent_owner_on_another_host_is_taken_over_only_with_force(stopped):
    path, whole = stopped
    set_owner(path, 4242, "elsewhere", age=_ownership.STALE_SECONDS + 5)
    with pytest.raises(StoreError, match=r"older than 60 s: it is probably gone, .*expected --force"):
        fit(4, store=recorder(path, 1))
    result = fit(4, store=recorder(path, 1, force=True))
    assert all(np.array_equal(result.metrics[k], whole.metrics[k]) for k in whole.metrics)
    with Store.open(path) as s:
        run = s.run(1)
        assert (run["status"], run["pid"], run["host"]) == ("finished", __import__("os").getpid(), HOST)


def test_a_dead_owner_on_this_host_is_resumed_without_force(stopped):
    path, whole = stopped
    set_owner(path, DEAD_PID, HOST)
    result = fit(4, store=recorder(path, 1))
    assert all(np.array_equal(result.metrics[k], whole.metrics[k]) for k in whole.metrics)


@pytest.mark.parametrize(("pid", "host", "age", "state", "status"), [
    (1, HOST, 999, "live", "running"),                      # this host: the pid decides, not the heartbeat
    (DEAD_PID, HOST, 0, "gone", "interrupted"),
    (4242, "elsewhere", 5, "live", "running"),
    (4242, "elsewhere", _ownership.STALE_SECONDS + 1, "silent", "interrupted"),
])
def test_status_is_honest_in_runs_show_and_load_run(stopped, capsys, pid, host, age, state, status):
    path, _ = stopped
    set_owner(path, pid, host, age)
    with Store.open(path) as s:
        assert owner_state(s, s.run(1)) == state and run_status(s, s.run(1)) == status
    assert layerlab.load_run(1, store=path).run["status"] == status
    assert cli.main(["runs", "--json", "--store", str(path)]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["status"] == status and listed["owner"]["pid"] == pid and abs(listed["heartbeat_age"] - age) < 5
    assert cli.main(["show", "1", "--store", str(path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert f", {status}" in first and "last heartbeat " in first and first.endswith(" ago")


def test_the_heartbeat_thread_refreshes_until_the_run_is_taken_over(stopped):
    path, _ = stopped
    set_owner(path, DEAD_PID, HOST, age=600)
    with Store.open(path) as s:
        owner = {"pid": DEAD_PID, "host": HOST, "claimed": s.run(1)["claimed"]}
    beat = _ownership.Heartbeat(lambda busy: Store.open(path, busy_seconds=busy), 1, owner, seconds=0.05).start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with Store.open(path) as s:
                if _ownership.heartbeat_age(s.run(1)) < 60:
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("no heartbeat in 30 s")
        with sqlite3.connect(path) as db:  # someone else claims it: the thread stops beating
            db.execute("UPDATE runs SET pid = 7, claimed = 'later' WHERE id = 1")
        beat._thread.join(30)
        assert not beat._thread.is_alive()
    finally:
        beat.stop()


def test_a_process_that_lost_its_run_records_nothing_more(stopped):
    path, _ = stopped
    set_owner(path, DEAD_PID, HOST)
    with Store.open(path) as s:
        old = {"pid": DEAD_PID, "host": HOST, "claimed": "2020-01-01T00:00:00+00:00"}
        with pytest.raises(StoreError, match=r"run 1 is no longer this process's: process \d+ on .* took it over"):
            s.commit_epoch(1, 0, 2, [(0, 2, "loss", 1.0)], ("x", b"y"), [], owner=old)
        assert s.run(1)["epochs_completed"] == 2 and not s.finish_run(1, "finished", owner=old)
        assert s.run(1)["status"] == "running" and run_status(s, s.run(1)) == "interrupted"


@pytest.fixture(scope="module")
def lab(tmp_path_factory, real_mnist):
    return faults.Lab(tmp_path_factory.mktemp("ownership"), epochs=16)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes and signals")
@pytest.mark.parametrize("width", [2, 4])
def test_processes_resuming_one_run_at_the_same_instant_leave_exactly_one_training(lab, width):
    result = faults.races(lab, 1, width, random.Random(width))
    assert result["one_winner"] == result["rounds"] == 1, result
    assert result["owner_lines"] == result["losers"] == width - 1, result
    assert (result["trained_twice"], result["doubled"], result["epochs_lost"]) == (0, 0, 0), result
    assert result["bitwise"] and result["integrity_ok"] == 1, result


def test_a_pid_reused_by_another_process_is_not_the_owner(stopped):
    """After the owner died (or the machine rebooted), its pid may belong to another process:
    the recorded boot id and start time tell them apart (on Linux)."""
    path, _ = stopped
    if _ownership.process_token(1) is None:
        pytest.skip("no /proc: the pid alone decides")
    set_owner(path, 1, HOST)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET process = 'another-boot:123' WHERE id = 1")
    with Store.open(path) as s:
        assert owner_state(s, s.run(1)) == "gone"
        with sqlite3.connect(path) as db:
            db.execute("UPDATE runs SET process = ? WHERE id = 1", (_ownership.process_token(1),))
        assert owner_state(s, s.run(1)) == "live"
