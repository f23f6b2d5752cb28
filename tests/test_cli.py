"""The `layerlab` command, in process: run, summary, runs, show, export (CSV, JSON, and
TensorBoard read back with TensorBoard's own reader), datasets, delete; one-line errors with
exit code 2, tracebacks only with --debug."""
import io
import json
import re
import sqlite3

import numpy as np
import pandas as pd
import pytest

import layerlab
from layerlab import cli
from layerlab.errors import ConfigError
from tiny_study import tiny_study

TINY = tiny_study()


@pytest.fixture
def layerlab_cmd(tmp_path, monkeypatch, capsys):
    """layerlab_cmd('run', 's.toml') -> (exit code, stdout, stderr), in a fresh working folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAYERLAB_STORE", raising=False)
    (tmp_path / "s.toml").write_text(TINY)

    def run(*argv):
        code = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, real_mnist):
    """One run of the tiny study, recorded in a store shared by the read-only tests."""
    folder = tmp_path_factory.mktemp("recorded")
    (folder / "s.toml").write_text(TINY)
    store = folder / "runs.db"
    assert cli.main(["run", str(folder / "s.toml"), "--store", str(store), "--quiet"]) == 0
    return store


@pytest.mark.usefixtures("real_mnist")
def test_run_records_the_study_and_says_where(layerlab_cmd):
    code, out, err = layerlab_cmd("run", "s.toml")
    assert code == 0 and err == ""
    assert "run 1 started: s.toml; recording into layerlab-runs/layerlab.db" in out
    assert "run 1 finished: 2 variant(s) x 2 epochs in layerlab-runs/layerlab.db; see `layerlab show 1`" in out
    code, out, _ = layerlab_cmd("runs", "--json")
    (run,) = json.loads(out)
    assert {k: run[k] for k in ("id", "status", "epochs_completed", "epochs", "variants")} == \
        {"id": 1, "status": "finished", "epochs_completed": 2, "epochs": 2, "variants": 2}
    assert run["study"].endswith("s.toml")
    code, out, _ = layerlab_cmd("runs")
    assert out.splitlines()[0].split() == ["id", "study", "status", "epochs", "variants", "started", "heartbeat"]
    assert out.splitlines()[2].split()[:5] == ["1", "s.toml", "finished", "2/2", "2"]


@pytest.mark.usefixtures("real_mnist")
def test_epochs_override_and_the_store_from_the_environment(layerlab_cmd, monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLAB_STORE", str(tmp_path / "elsewhere.db"))
    assert layerlab_cmd("run", "s.toml", "--epochs", 1, "--quiet")[0] == 0
    assert json.loads(layerlab_cmd("runs", "--json")[1])[0]["epochs"] == 1
    assert (tmp_path / "elsewhere.db").exists() and not (tmp_path / "layerlab-runs").exists()


def test_layerlabs_own_warnings_print_as_one_line(capsys):
    from layerlab.errors import BackendWarning, StoreWarning
    shown = []
    one_line = cli._one_line_warning(lambda *a: shown.append(a))
    for category in (BackendWarning, StoreWarning):
        one_line(category("group 0 slice 1:\n  worker died;   resubmitting"), category, "x.py", 1)
    assert capsys.readouterr().err == "layerlab: warning: group 0 slice 1: worker died; resubmitting\n" * 2
    one_line(UserWarning("someone else's"), UserWarning, "x.py", 1)
    assert len(shown) == 1  # other warnings are shown as Python shows them


@pytest.mark.usefixtures("real_mnist")
def test_run_with_workers_and_its_misuse(layerlab_cmd):
    code, out, err = layerlab_cmd("run", "s.toml", "--workers", 1, "--quiet")
    assert code == 0 and err == ""
    code, out, err = layerlab_cmd("run", "s.toml", "--workers", 2, "--backend", "ray")
    assert code == 2 and err.startswith("layerlab: error: run: --workers: expected with --backend local; "
                                        "received --workers 2 with --backend ray.")
    assert layerlab_cmd("run", "s.toml", "--workers", 0)[0] == 2


def test_show_gives_final_and_best_metrics_per_variant(layerlab_cmd, recorded):
    result = layerlab.load_run(1, store=recorded)
    code, out, _ = layerlab_cmd("show", 1, "--store", recorded, "--json")
    rows = json.loads(out)["variants"]
    assert code == 0 and [r["label"] for r in rows] == ["rate=0.0", "rate=0.5"]
    for i, row in enumerate(rows):
        assert row["final_val_loss"] == result.metrics["val_loss"][i, -1]
        assert row["best_val_loss"] == result.metrics["val_loss"][i].min()
        assert row["best_val_loss_epoch"] == int(np.argmin(result.metrics["val_loss"][i])) + 1
        assert row["epochs"] == 2 and row["diverged_at"] is None
    code, out, _ = layerlab_cmd("show", 1, "--store", recorded)
    lines = out.splitlines()
    assert lines[0].startswith("run 1: ") and "finished, 2/2 epochs" in lines[0]
    assert lines[1].split()[:3] == ["#", "variant", "epochs"] and lines[4].split()[:2] == ["1", "rate=0.5"]


def test_export_csv_and_json(layerlab_cmd, recorded, tmp_path):
    result = layerlab.load_run(1, store=recorded)
    code, out, _ = layerlab_cmd("export", 1, "--store", recorded, "--format", "csv")
    frame = pd.read_csv(io.StringIO(out))
    assert code == 0 and len(frame) == 2 * 2 * 4
    assert list(frame.columns) == ["variant", "dropout.rate", "seed", "epoch", "metric", "value"]
    assert frame.query("variant == 1 and metric == 'val_loss'")["value"].tolist() == result.histories[1].history["val_loss"]
    assert layerlab_cmd("export", 1, "--store", recorded, "--format", "json", "--out", tmp_path / "r.json")[0] == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["run"]["id"] == 1 and doc["run"]["dataset"] == "mnist" and doc["metrics"] == list(result.metrics)
    assert doc["variants"][1]["settings"] == {"dropout.rate": 0.5, "seed": 1}
    assert doc["variants"][1]["history"]["loss"] == result.histories[1].history["loss"]


def test_export_tensorboard_is_read_back_by_tensorboard(layerlab_cmd, recorded, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing import event_accumulator, event_multiplexer
    from tensorboard.plugins.hparams import metadata

    result = layerlab.load_run(1, store=recorded)
    code, out, _ = layerlab_cmd("export", 1, "--store", recorded, "--format", "tensorboard", "--out", tmp_path / "tb")
    assert code == 0 and f"view with `tensorboard --logdir {tmp_path / 'tb'}`" in out
    multiplexer = event_multiplexer.EventMultiplexer().AddRunsFromDirectory(str(tmp_path / "tb"))
    assert sorted(multiplexer.Runs()) == [".", "00-rate=0.0", "01-rate=0.5"]  # one run per variant
    for i, run in enumerate(["00-rate=0.0", "01-rate=0.5"]):
        acc = event_accumulator.EventAccumulator(str(tmp_path / "tb" / run))
        acc.Reload()
        assert sorted(acc.Tags()["scalars"]) == sorted(result.metrics)
        for name in result.metrics:
            events = acc.Scalars(name)
            assert [e.step for e in events] == [1, 2]
            assert [e.value for e in events] == [np.float32(v) for v in result.metrics[name][i]]
        (content,) = acc.PluginTagToContent(metadata.PLUGIN_NAME).values()
        hparams = metadata.parse_session_start_info_plugin_data(content).hparams
        assert hparams["dropout.rate"].number_value == result.variants[i]["dropout.rate"]
        assert hparams["seed"].number_value == 1


def test_summary_prints_each_compile_group(layerlab_cmd, tmp_path):
    (tmp_path / "s.toml").write_text(TINY.replace("units = 16", "units = { sweep = [16, 32] }"))
    code, out, _ = layerlab_cmd("summary", "s.toml")
    assert code == 0
    assert "Compile group 1 of 2: dense.units=16" in out and "Compile group 2 of 2: dense.units=32" in out
    assert "Total params: 12,730" in out and "Total params: 25,450" in out


def test_datasets_says_where_each_is_found(layerlab_cmd, real_mnist):
    code, out, _ = layerlab_cmd("datasets", "--json")
    mnist = next(d for d in json.loads(out) if d["name"] == "mnist")
    assert code == 0 and mnist["status"] == "ok" and mnist["source"] == real_mnist.source
    assert layerlab_cmd("datasets", "--no-verify")[1].splitlines()[0].split() == ["dataset", "status", "source", "where"]


@pytest.mark.usefixtures("real_mnist")
def test_delete_removes_a_run_and_everything_it_recorded(layerlab_cmd, tmp_path):
    assert layerlab_cmd("run", "s.toml", "--quiet")[0] == 0
    code, out, err = layerlab_cmd("delete", 1)
    assert (code, out.splitlines()[0], err) == (0, "deleted run 1", "")
    assert out.splitlines()[1].startswith("store layerlab-runs/layerlab.db: ") and out.count("\n") == 2
    assert json.loads(layerlab_cmd("runs", "--json")[1]) == []
    with sqlite3.connect(tmp_path / "layerlab-runs" / "layerlab.db") as db:
        assert [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("history", "checkpoints", "variants")] == [0, 0, 0]


@pytest.mark.usefixtures("real_mnist")
def test_resume_of_a_finished_or_missing_run(layerlab_cmd):
    code, out, _ = layerlab_cmd("run", "s.toml", "--resume", "--quiet")
    assert code == 0 and "no earlier run of s.toml in layerlab-runs/layerlab.db; starting a new one" in out
    code, out, _ = layerlab_cmd("run", "s.toml", "--resume")
    assert code == 0 and "run 1 of s.toml already finished (2 of 2 epochs); nothing to resume" in out
    assert "already finished" in layerlab_cmd("run", "--resume", 1)[1]


def test_errors_are_one_line_with_exit_code_2(layerlab_cmd, tmp_path, hide_datasets):
    (tmp_path / "bad.toml").write_text(TINY.replace("[0.0, 0.5]", "[0.0, 1.5]"))
    (tmp_path / "garbage.db").write_bytes(b"\x00not sqlite" * 500)
    newer = tmp_path / "newer.db"
    layerlab_cmd("runs", "--store", newer)  # creates nothing: no store there yet
    from layerlab.store import Store
    Store.open(newer, create=True).close()
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 7")
    python_run = layerlab.Sequential([layerlab.layers.Dense(10, input_shape=(3,))])
    python_run.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    python_run.fit(np.zeros((4, 3)), np.zeros(4), verbose=0, store=tmp_path / "py.db")
    cases = [
        (["run", "missing.toml"], r"missing\.toml: no such study file; expected a TOML study"),
        (["run", "bad.toml"], r"bad\.toml: layers\[2\]\.rate: expected a float in the range \[0, 1\); received 1\.5"),
        (["run"], r"run: study: expected a study file or --resume RUN; received neither"),
        (["runs"], r"store layerlab-runs/layerlab\.db: no such file; expected a run store"),
        (["runs", "--store", "garbage.db"], r"store garbage\.db: not a SQLite database"),
        (["show", 1, "--store", newer], r"schema version 7, newer than this layerlab's \d+"),
        (["show", 3, "--store", "py.db"], r"run 3: no such run; expected one of the ids `layerlab runs` lists \(1\)"),
        (["run", "--resume", 1, "--store", "py.db"], r"run 1 was recorded by model\.fit\(\) from Python"),
        (["export", 1, "--store", "py.db", "--format", "tensorboard", "--out", "garbage.db"],
         r"export: --out garbage\.db: expected a folder for TensorBoard's event files; received a file"),
    ]
    for argv, message in cases:
        code, out, err = layerlab_cmd(*argv)
        assert code == 2, (argv, out, err)
        assert err.endswith("\n") and err.count("\n") == 1, err
        assert err.startswith("layerlab: error: ")
        assert re.search(message, err), (argv, err)
    hide_datasets()
    code, _, err = layerlab_cmd("run", "s.toml")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("layerlab: error: s.toml: dataset.name = 'mnist': mnist: no copy found on this machine")


def test_usage_errors_and_help(layerlab_cmd):
    code, _, err = layerlab_cmd("export", 1, "--format", "xml")
    assert code == 2 and err.splitlines()[0].startswith("layerlab export: error: argument --format: invalid choice: 'xml'")
    assert err.splitlines()[1].startswith("usage: layerlab export")
    code, _, err = layerlab_cmd("run", "s.toml", "--epochs", 0)
    assert code == 2 and "argument --epochs: expected a positive int; received '0'" in err
    for name in cli.COMMANDS:
        code, out, _ = layerlab_cmd(name, "--help")
        assert code == 0 and out.startswith(f"usage: layerlab {name}") and "--store" in out
    code, out, _ = layerlab_cmd("--help")
    assert code == 0 and all(name in out for name in cli.COMMANDS)


def test_debug_shows_the_traceback(layerlab_cmd):
    with pytest.raises(ConfigError, match="no such study file"):
        cli.main(["run", "missing.toml", "--debug"])
    with pytest.raises(ConfigError):
        cli.main(["--debug", "run", "missing.toml"])


@pytest.mark.usefixtures("real_mnist")
def test_resume_takes_plot_edits_but_refuses_changed_training_settings(layerlab_cmd, tmp_path, monkeypatch):
    from layerlab.store import StoreRecorder
    real = StoreRecorder.epoch_end

    def ctrl_c_after_the_first_epoch(self, group, epoch, row, state):
        real(self, group, epoch, row, state)
        raise KeyboardInterrupt
    monkeypatch.setattr(StoreRecorder, "epoch_end", ctrl_c_after_the_first_epoch)
    code, out, err = layerlab_cmd("run", "s.toml")
    assert code == 130 and err == ("layerlab: interrupted: run 1 stopped with 1 of 2 epochs recorded; "
                                   "resume with `layerlab run --resume 1`\n")
    assert json.loads(layerlab_cmd("runs", "--json")[1])[0]["status"] == "interrupted"
    monkeypatch.setattr(StoreRecorder, "epoch_end", real)
    (tmp_path / "s.toml").write_text(TINY.replace("[0.0, 0.5]", "[0.0, 0.4]"))
    code, _, err = layerlab_cmd("run", "s.toml", "--resume")
    assert code == 2 and err.startswith("layerlab: error: resume: run 1 was recorded with "
                                        "spec.model.layers[2].config.rate.sweep[1] = 0.5; this fit has 0.4.")
    (tmp_path / "s.toml").write_text(TINY + '\n[plot]\nylim = { loss = [0.0, 3.0] }\n')
    code, out, _ = layerlab_cmd("run", "s.toml", "--resume", "--quiet")
    assert code == 0 and "run 1 resumed after 1 epochs" in out and "run 1 finished" in out
