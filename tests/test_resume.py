"""Crashes cost at most the epoch in flight: `layerlab run` killed with SIGKILL at moments drawn
from a seed (between epochs, before an epoch is recorded, inside the transaction recording it)
and resumed gives bitwise the uninterrupted run; Ctrl-C stops after recording what is
complete and marks the run interrupted; a full disk (a file-size limit) stops the run with a
one-line error and leaves the store consistent and resumable. Real processes, real signals."""
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import layerlab
from layerlab import cli
from layerlab.store import Store, checkpoint
from tiny_study import tiny_study

SRC = Path(layerlab.__file__).resolve().parents[1]
EPOCHS = 12
STUDY = tiny_study(limit_train=3000, limit_test=500, epochs=EPOCHS, seed=4)  # signals land where it pauses (PAUSING)

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

# Runs `layerlab` and stops it (SIGSTOP to itself) at a chosen moment, so that a signal lands
# there however fast the machine is. $PAUSE is WHERE:EPOCH (epochs counted from 0), WHERE one of
#   after:  epoch EPOCH - 1 is committed (the store holds EPOCH epochs, the next one not begun);
#   before: epoch EPOCH is trained and about to be recorded (its numbers exist only in memory);
#   inside: epoch EPOCH's rows are written in the open transaction, not yet committed.
# In each case a reader of the store sees EPOCH whole epochs.
PAUSING = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # a parent run in the background leaves it ignored
from layerlab.store import StoreRecorder, _db
where, at = os.environ["LAYERLAB_TEST_PAUSE"].split(":")
at, real_end, real_binary, committing = int(at), StoreRecorder.epoch_end, _db.sqlite3.Binary, []

def stop():
    os.kill(os.getpid(), signal.SIGSTOP)

def binary(data):  # called inside commit_epoch's transaction, after the history rows
    if committing and committing[-1]:
        stop()
    return real_binary(data)

def epoch_end(self, group, epoch, row, state):
    if (where, epoch) == ("before", at):
        stop()
    committing.append((where, epoch) == ("inside", at))
    try:
        real_end(self, group, epoch, row, state)
    finally:
        committing.pop()
    if (where, epoch + 1) == ("after", at):
        stop()
    if (where, epoch + 1) == ("interrupt", at):  # Ctrl-C, a real SIGINT, right after epoch `at` is recorded
        os.kill(os.getpid(), signal.SIGINT)

StoreRecorder.epoch_end, _db.sqlite3.Binary = epoch_end, binary
from layerlab.cli import main
sys.exit(main(sys.argv[1:]))
"""
WHERE = ("after", "before", "inside")


def launch(*args, small_disk=False, cache=None, pause=None):
    """`layerlab *args` in a new process; `cache`: a JAX compilation cache folder (saves ~3 s a
    start); `pause`: (where, epoch) at which it stops itself (see PAUSING)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    env.pop("LAYERLAB_STORE", None)
    if cache is not None:
        env.update(JAX_COMPILATION_CACHE_DIR=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    command = ["-m", "layerlab.cli"]
    if small_disk:
        command = ["-c", SMALL_DISK]
    elif pause is not None:
        command = ["-c", PAUSING]
        env["LAYERLAB_TEST_PAUSE"] = "{}:{}".format(*pause)
    return subprocess.Popen([sys.executable, *command, *map(str, args)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_until_paused(store, process, timeout=120):
    """Waits until the process has stopped itself; returns the epochs the store holds then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status = os.waitpid(process.pid, os.WUNTRACED | os.WNOHANG)
        if pid and os.WIFSTOPPED(status):
            break
        assert not pid, f"it ended ({status}) before it paused: {process.communicate()}"
        time.sleep(0.01)
    else:
        raise AssertionError(f"not paused in {timeout} s")
    with Store.open(store) as s:
        return s.run(1)["epochs_completed"]


def assert_consistent(store, status, said=""):
    """Every variant has the same whole epochs, and the checkpoint of the last one is sound."""
    with Store.open(store) as s:
        assert s.integrity() == "ok", said
        run = s.run(1)
        done = run["epochs_completed"]
        assert run["status"] == status and 1 <= done < EPOCHS, (run["status"], done, said)
        epochs = sorted({e for _, e, _, _ in s.history(1)})
        assert epochs == list(range(done)) and len(s.history(1)) == 2 * done * 4, (epochs, said)
        (last,) = s.checkpoints(1, 0)
        assert last["epoch"] == done - 1, said
        checkpoint.unpack(s.checkpoint_data(1, 0, last["epoch"]), last["sha256"])
    return run


def kill_moments(seed):
    """One kill at each place of WHERE, in an order and at epochs drawn from `seed`: (where,
    epochs recorded), the epochs rising from 1 and the last below EPOCHS (the run is unfinished)."""
    rng, epochs, moments = random.Random(seed), 0, []
    for i, where in enumerate(rng.sample(WHERE, len(WHERE))):
        epochs += rng.randint(1, (EPOCHS - 1 - epochs) // (len(WHERE) - i))
        moments.append((where, epochs))
    return moments


def test_every_seed_gives_reachable_kill_moments_at_every_place():
    for seed in range(500):
        moments = kill_moments(seed)
        epochs = [e for _, e in moments]
        assert epochs == sorted(set(epochs)) and epochs[0] >= 1 and epochs[-1] < EPOCHS, (seed, moments)
        assert sorted(w for w, _ in moments) == sorted(WHERE), (seed, moments)


def test_killed_at_chosen_moments_and_resumed_it_is_bitwise_the_uninterrupted_run(study, reference, cache, tmp_path):
    """SIGKILL after a committed epoch, before recording one, and inside the transaction that
    records one, at epochs drawn from a seed (LAYERLAB_TEST_SEED to choose another); each
    resumed run starts from what the store holds."""
    seed = int(os.environ.get("LAYERLAB_TEST_SEED", "4"))
    moments = kill_moments(seed)
    said = f"LAYERLAB_TEST_SEED={seed}: kills at (where, epochs recorded) {moments}"
    store = tmp_path / "runs.db"
    for kill, (where, epochs) in enumerate(moments):
        resume = [] if kill == 0 else (["--resume"] if kill == 1 else ["--resume", 1])
        process = launch("run", *([] if kill == 2 else [study]), *resume, "--store", store, "--quiet", cache=cache,
                         pause=(where, epochs))
        try:
            assert wait_until_paused(store, process) == epochs, said
        finally:
            process.kill()  # a stopped process dies of SIGKILL at once
            process.communicate()
        run = assert_consistent(store, "running", said)  # a killed run cannot say so: its status stays
        assert run["epochs_completed"] == epochs, said
        assert layerlab.store.run_status(Store.open(store), run) == "interrupted", said
    assert cli.main(["run", "--resume", "1", "--store", str(store), "--quiet"]) == 0
    rows, weights = recorded(store)
    assert rows == reference[0], said
    for a, b in zip(weights, reference[1]):
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), said


def test_ctrl_c_records_what_is_complete_and_marks_the_run_interrupted(study, reference, cache, tmp_path):
    store = tmp_path / "runs.db"
    process = launch("run", study, "--store", store, "--quiet", cache=cache, pause=("interrupt", 2))
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    run = assert_consistent(store, "interrupted")
    assert run["epochs_completed"] == 2  # recording is the main thread's: Ctrl-C lands right after epoch 2
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


# A small convnet with batch normalisation: its moving statistics are part of the state a
# checkpoint holds, so a resumed run must restore them bitwise too.
CONV_EPOCHS = 4
CONV_STUDY = f"""
[dataset]
name = "mnist"
limit_train = 200
limit_test = 100

[[layers]]
type = "Reshape"
target_shape = [28, 28, 1]

[[layers]]
type = "Conv2D"
filters = 4
kernel_size = 3
use_bias = false

[[layers]]
type = "BatchNormalization"
momentum = {{ sweep = [0.9, 0.5] }}

[[layers]]
type = "Activation"
activation = "relu"

[[layers]]
type = "MaxPooling2D"
pool_size = 4

[[layers]]
type = "SpatialDropout2D"
rate = 0.25

[[layers]]
type = "Flatten"

[[layers]]
type = "Dense"
units = 10
activation = "softmax"

[compile]
optimizer = "adam"
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]

[fit]
epochs = {CONV_EPOCHS}
batch_size = 64
seed = 2
"""


def test_a_conv_batch_norm_run_killed_and_resumed_is_bitwise_the_uninterrupted_run(real_mnist, cache, tmp_path):
    study = tmp_path / "conv.toml"
    study.write_text(CONV_STUDY)
    reference = tmp_path / "reference.db"
    assert cli.main(["run", str(study), "--store", str(reference), "--quiet"]) == 0
    store = tmp_path / "runs.db"
    process = launch("run", study, "--store", store, "--quiet", cache=cache, pause=("before", 2))
    try:
        assert wait_until_paused(store, process) == 2
    finally:
        process.kill()
        process.communicate()
    assert cli.main(["run", "--resume", "1", "--store", str(store), "--quiet"]) == 0
    (rows, weights), (want_rows, want_weights) = recorded(store), recorded(reference)
    assert rows == want_rows and len(rows) == 2 * CONV_EPOCHS * 4
    assert [w.shape for w in weights[0]][:5] == [(3, 3, 1, 4), (4,), (4,), (4,), (4,)]  # gamma, beta, moving mean, variance
    assert not np.array_equal(weights[0][3], weights[1][3])  # each momentum its own moving statistics
    for a, b in zip(weights, want_weights):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
