"""Crashes cost at most the epoch in flight: `layerlab run` killed with SIGKILL at random
moments and resumed gives bitwise the uninterrupted run; Ctrl-C stops after recording what is
complete and marks the run interrupted; a full disk (a file-size limit) stops the run with a
one-line error and leaves the store consistent and resumable. Real processes, real signals."""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import layerlab
from layerlab import cli
from layerlab.errors import StoreError
from layerlab.store import Store, checkpoint
from tiny_study import tiny_study

SRC = Path(layerlab.__file__).resolve().parents[1]
EPOCHS = 12
STUDY = tiny_study(limit_train=30000, limit_test=1000, epochs=EPOCHS, seed=4)  # ~0.15 s an epoch: time to land a signal

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and rlimits")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("jax-cache")


@pytest.fixture(scope="module")
def study(tmp_path_factory, real_mnist):
    path = tmp_path_factory.mktemp("study") / "crash.toml"
    path.write_text(STUDY)
    return path


@pytest.fixture(scope="module")
def reference(study):
    """The uninterrupted run: its history rows and weights."""
    store = study.parent / "reference.db"
    assert cli.main(["run", str(study), "--store", str(store), "--quiet"]) == 0
    return recorded(store)


def recorded(store):
    with Store.open(store) as s:
        rows = sorted(s.history(1))
    weights = [layerlab.load_model(1, i, store=store).get_weights() for i in range(2)]
    return rows, weights


# Runs `layerlab` with writes past 1.2 MB failing with EFBIG, as on a full disk (SIGXFSZ ignored
# survives the exec; no preexec_fn, which would fork this multithreaded JAX process).
SMALL_DISK = ("import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (1_200_000, 1_200_000)); "
              "os.execv(sys.executable, [sys.executable, '-m', 'layerlab.cli'] + sys.argv[1:])")


def launch(*args, small_disk=False, cache=None):
    """`layerlab *args` in a new process; `cache`: a JAX compilation cache folder (saves ~3 s a start)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    env.pop("LAYERLAB_STORE", None)
    if cache is not None:
        env.update(JAX_COMPILATION_CACHE_DIR=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    command = ["-c", SMALL_DISK] if small_disk else ["-m", "layerlab.cli"]
    return subprocess.Popen([sys.executable, *command, *map(str, args)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_epochs(store, n, process, timeout=120):
    """Polls the store (read while the run writes) until every variant has n epochs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            with Store.open(store) as s:
                if s.run(1)["epochs_completed"] >= n:
                    return
        except StoreError:
            pass  # no store, or no run in it, yet
        time.sleep(0.01)
    raise AssertionError(f"no {n} epochs in {timeout} s")


def assert_consistent(store, status):
    """Every variant has the same whole epochs, and the checkpoint of the last one is sound."""
    with Store.open(store) as s:
        assert s.integrity() == "ok"
        run = s.run(1)
        done = run["epochs_completed"]
        assert run["status"] == status and 1 <= done < EPOCHS
        epochs = sorted({e for _, e, _, _ in s.history(1)})
        assert epochs == list(range(done)) and len(s.history(1)) == 2 * done * 4
        (last,) = s.checkpoints(1, 0)
        assert last["epoch"] == done - 1
        checkpoint.unpack(s.checkpoint_data(1, 0, last["epoch"]), last["sha256"])
    return run


def test_killed_at_random_moments_and_resumed_it_is_bitwise_the_uninterrupted_run(study, reference, cache, tmp_path):
    seed = int(os.environ.get("LAYERLAB_TEST_SEED", time.time_ns() % 10 ** 6))
    rng = random.Random(seed)
    store, target, moments = tmp_path / "runs.db", 0, []
    for kill in range(3):
        target += rng.randint(1, 3)  # kill once this many epochs are committed, plus a random delay
        delay = rng.uniform(0.0, 0.2)
        resume = [] if kill == 0 else (["--resume"] if kill == 1 else ["--resume", 1])
        process = launch("run", *([] if kill == 2 else [study]), *resume, "--store", store, "--quiet", cache=cache)
        wait_for_epochs(store, target, process)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        moments.append((target, round(delay, 3)))
        run = assert_consistent(store, "running")  # a killed run cannot say so: its status stays
        assert layerlab.store.run_status(Store.open(store), run) == "stopped", moments
    assert cli.main(["run", "--resume", "1", "--store", str(store), "--quiet"]) == 0
    rows, weights = recorded(store)
    assert rows == reference[0], f"seed {seed}, kills after (epochs, delay) {moments}"
    for a, b in zip(weights, reference[1]):
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), f"seed {seed}, kills {moments}"


def test_ctrl_c_records_what_is_complete_and_marks_the_run_interrupted(study, reference, cache, tmp_path):
    store = tmp_path / "runs.db"
    process = launch("run", study, "--store", store, "--quiet", cache=cache)
    wait_for_epochs(store, 2, process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    run = assert_consistent(store, "interrupted")
    assert err.splitlines() == [f"layerlab: interrupted: run 1 stopped with {run['epochs_completed']} of {EPOCHS} "
                                f"epochs recorded; resume with `layerlab run --resume 1 --store {store}`"]
    assert out.startswith(f"run 1 started: {study}")
    assert cli.main(["run", str(study), "--resume", "--store", str(store), "--quiet"]) == 0
    assert recorded(store)[0] == reference[0]


def test_a_full_disk_stops_the_run_cleanly_and_the_store_stays_consistent(study, reference, tmp_path):
    store = tmp_path / "runs.db"
    process = launch("run", study, "--store", store, "--quiet", small_disk=True)  # no cache: it would write too
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith(f"layerlab: error: store {store}: could not record epoch "), err
    assert "(is the disk full, or a file-size limit reached?)" in err
    run = assert_consistent(store, "failed")
    assert "could not record epoch" in run["error"]
    assert cli.main(["run", "--resume", "1", "--store", str(store), "--quiet"]) == 0  # with room again
    assert recorded(store)[0] == reference[0]
