"""Faults tried with real processes, in the short form of tools/faults.py (its long form and
measured results: docs/reliability.md): `layerlab run` killed with SIGKILL at random moments and
resumed, readers polling while two processes write two runs into one store, a disk that fills,
stores truncated or overwritten with garbage, a store in a read-only folder, and a checkpoint
whose checksum fails. Each leaves one line and exit 2 at most, a store that passes
`PRAGMA integrity_check`, and what was recorded before bitwise intact."""
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import faults  # tools/faults.py

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes and signals")


@pytest.fixture(scope="module")
def lab(tmp_path_factory, real_mnist):
    return faults.Lab(tmp_path_factory.mktemp("faults"), epochs=16)


def test_killed_at_random_moments_and_resumed_it_is_bitwise_the_uninterrupted_run(lab):
    result = faults.kills(lab, 2, random.Random(14))
    assert result["kills"] == 2 and result["bitwise"] == result["runs"] >= 1, result
    assert (result["epochs_lost"], result["doubled"], result["bad_states"]) == (0, 0, []), result
    assert result["integrity_ok"] == result["integrity_checks"], result


def test_readers_polling_while_a_run_trains_never_see_an_error_or_half_an_epoch(lab):
    result = faults.readers(lab, random.Random(14))
    assert result["errors"] == [] and result["half_epochs"] == 0, result
    assert result["epochs_seen"] >= 2, result  # it read while epochs were being recorded
    assert result["writer_exit"] == 0 and result["bitwise"] and result["integrity_ok"] == 1, result


def test_two_processes_writing_two_runs_into_one_store_both_complete(lab):
    result = faults.two_runs(lab)
    assert result["exits"] == [0, 0] and result["bitwise"] == [True, True], result
    assert result["integrity_ok"] == 2 and result["doubled"] == 0, result


def test_a_full_disk_stops_the_run_in_one_line_and_the_store_stays_sound(lab):
    result = faults.disk_full(lab, 1, random.Random(14), moments=[(1, 0)])  # the second checkpoint needs pages
    assert result == {"tries": 1, "filled": 1, "one_line": 1, "integrity_ok": 1, "prefix_ok": 1, "bitwise": 1}


def test_truncated_or_garbage_stores_are_refused_in_one_line_and_never_written(lab):
    result = faults.damaged(lab, 6, random.Random(14))
    assert result["refused"] >= 6, result  # a truncated file or a garbage header cannot be read
    assert result["one_line"] == result["untouched_when_refused"] == result["refused"], result


def test_a_store_in_a_read_only_folder_is_refused_in_one_line(lab):
    result = faults.read_only(lab)
    if "skipped" in result:
        pytest.skip(result["skipped"])
    assert result["untouched"] and result["integrity_ok"] == 1, result
    for command, (code, err) in result["results"].items():
        if command != "runs":
            assert code == 2 and err.count("\n") == 0 and err.startswith("layerlab: error: store "), (command, err)


def test_a_checkpoint_failing_its_checksum_is_refused_by_load_model_and_resumed_from_a_good_state(lab):
    result = faults.bad_checksum(lab)
    assert result["load_model_refused"] and result["resume_exit"] == 0, result
    assert result["resume_warning"].startswith("layerlab: warning: run 1: checkpoint of group 0 at epoch 4: sha256 ")
    assert result["bitwise"] and result["integrity_ok"] == 1, result


@pytest.mark.parametrize("server", ["refusing", "silent"])
def test_a_wrong_ray_address_fails_in_one_line_within_seconds(lab, monkeypatch, capsys, server):
    """Nothing listening fails at once; a server that accepts and never answers, at the deadline
    (backends.ray.CONNECT_SECONDS, here shortened to 1 s); no run is recorded either way."""
    import socket
    import time

    pytest.importorskip("ray")
    from layerlab import cli
    from layerlab.backends import ray as ray_backend
    monkeypatch.setattr(ray_backend, "CONNECT_SECONDS", 1.0)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if server == "refusing":
        listener.close()
    store = lab.folder / f"ray-{server}.db"
    try:
        start = time.monotonic()
        code = cli.main(["run", str(lab.study), "--backend", "ray", "--address", f"127.0.0.1:{port}", "--store",
                         str(store), "--quiet"])
        seconds = time.monotonic() - start
    finally:
        listener.close()
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and seconds < 1.0 + 5, (seconds, err)
    assert err.startswith(f"layerlab: error: Ray: could not connect to the cluster at '127.0.0.1:{port}' (")
    assert server == "refusing" or "no answer within 1 s" in err, err
    assert cli.main(["runs", "--json", "--store", str(store)]) == 0 and capsys.readouterr().out.strip() == "[]"


EVIL_NAMES = ["../../escape/" + "x" * 300, "/abs/path\x00nul", ".."]


def test_settings_in_file_names_never_write_outside_the_chosen_folder(tmp_path, monkeypatch, capsys):
    """Layer names are settings (a swept argument's key is `name.rate`) that end up in the
    TensorBoard export's folder names; figures are named after metrics, reports and CSV by --out:
    with `../`, `/`, NUL and a 300-character name, every file lands inside the folder given."""
    import os

    from synthetic import blobs

    import layerlab
    from layerlab import cli, layers
    pytest.importorskip("tensorboard")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (x, y), val = blobs(n=100, classes=10)
    m = layerlab.Sequential([layers.Flatten(input_shape=(6, 6))] +
                            [layers.Dropout(layerlab.sweep([0.0, 0.5]), name=n) for n in EVIL_NAMES] +
                            [layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, validation_data=val, epochs=1, seed=1, verbose=0, store="runs.db")
    out = work / "out"
    for args in (["export", "1", "--format", "tensorboard", "--out", out / "tb"], ["plot", "1", "--out", out / "fig"],
                 ["report", "1", "--out", out / "report.html"]):
        assert cli.main([*map(str, args), "--store", "runs.db"]) == 0, capsys.readouterr().err
    written = [Path(d, f) for d, _, files in os.walk(tmp_path) for f in files]
    assert {p.relative_to(work).parts[0] for p in written} == {"out", "runs.db"}, written
    assert len(list((out / "tb").iterdir())) == 2 ** len(EVIL_NAMES) + 1  # a folder a variant, and the hparams file
    assert all(len(part.encode()) <= 255 for p in written for part in p.parts), written
    assert not Path("/abs").exists() and not (tmp_path.parent / "escape").exists()


def test_delete_gives_the_space_back(tmp_path, capsys):
    from synthetic import blobs

    import layerlab
    from layerlab import cli, layers
    (x, y), val = blobs(n=100, classes=10)
    m = layerlab.Sequential([layers.Flatten(input_shape=(6, 6)), layers.Dense(256, activation="relu"),
                             layers.Dropout(layerlab.sweep([0.0, 0.5])), layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    store = tmp_path / "runs.db"
    for _ in range(2):
        m.fit(x, y, validation_data=val, epochs=3, seed=1, verbose=0, store=store)
    both = store.stat().st_size
    capsys.readouterr()
    assert cli.main(["delete", "2", "--store", str(store)]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[0] == "deleted run 2" and said[1].startswith(f"store {store}: ") and " MB -> " in said[1]
    assert store.stat().st_size < both * 0.7  # a run's checkpoint is most of it: its pages went back to the disk
    assert layerlab.load_run(1, store=store).metrics["loss"].shape == (2, 3)
