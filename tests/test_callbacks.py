"""Callbacks: each rule against Keras' own callbacks on crafted histories, the same callbacks on
real (tiny) training where every variant of a sweep stops where it would alone, the learning
rates they set, the files they write, a resume after kill -9 in the middle of a patience, and
bad input in one line each."""
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import layerlab
from layerlab import callbacks, layers
from layerlab.callbacks import base, files, rates

SRC = Path(layerlab.__file__).resolve().parents[1]


def mlp(rate=0.2):
    model = layerlab.Sequential([layers.Flatten(input_shape=(6, 6)), layers.Dense(16, activation="relu"),
                                 layers.Dropout(rate), layers.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# -- the rules, on crafted histories ----------------------------------------------------------------
class FakeModel:
    """What a callback touches: weights (the epoch number), a learning rate, stop_training."""

    def __init__(self):
        self.stop_training, self.epoch, self.restored = False, None, None
        self.optimizer = type("Opt", (), {"learning_rate": 0.01})()

    def get_weights(self):
        return [np.array(self.epoch)]

    def set_weights(self, weights):
        self.restored = int(weights[0])


def replay(callback, values, monitor="val_loss"):
    """Feeds `values` as the monitor's epochs until the callback stops; (epochs run, restored
    epoch, learning rates per epoch)."""
    model = FakeModel()
    callback.set_model(model)
    callback.on_train_begin()
    lrs = []
    for epoch, value in enumerate(values):
        model.epoch = epoch
        callback.on_epoch_begin(epoch, {})
        callback.on_epoch_end(epoch, {monitor: value, "loss": value})
        lrs.append(float(model.optimizer.learning_rate))
        if model.stop_training:
            break
    callback.on_train_end()
    return epoch + 1, model.restored, lrs


CURVES = [
    [1.0, 0.9, 0.8, 0.85, 0.86, 0.87, 0.88, 0.7, 0.6],          # a plateau of 4 after epoch 3
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],                              # never improves after the first
    [0.5, 0.49, 0.48, 0.479, 0.478, 0.477, 0.3, 0.2, 0.1, 0.05],  # improvements smaller than 0.005
    [2.0, 1.0, 3.0, 0.5, 4.0, 5.0, 6.0, 7.0, 0.1],
]
EARLY = [dict(patience=0), dict(patience=2), dict(patience=3, restore_best_weights=True),
         dict(patience=1, min_delta=0.005), dict(patience=2, baseline=0.95, restore_best_weights=True),
         dict(patience=1, start_from_epoch=3, restore_best_weights=True), dict(patience=2, mode="max")]


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras", reason="the keras test extra is the reference")


@pytest.mark.parametrize("args", EARLY, ids=[str(a) for a in EARLY])
@pytest.mark.parametrize("curve", range(len(CURVES)))
def test_early_stopping_stops_and_restores_where_keras_does(keras, args, curve):
    ours = replay(callbacks.EarlyStopping(**args), CURVES[curve])
    assert ours == replay(keras.callbacks.EarlyStopping(**args), CURVES[curve])


PLATEAU = [dict(patience=1), dict(patience=2, factor=0.5, cooldown=1), dict(patience=1, min_lr=0.004, factor=0.2),
           dict(patience=1, min_delta=0.05, factor=0.5), dict(patience=1, mode="max", factor=0.5)]


@pytest.mark.parametrize("args", PLATEAU, ids=[str(a) for a in PLATEAU])
@pytest.mark.parametrize("curve", range(len(CURVES)))
def test_reduce_lr_on_plateau_reduces_where_keras_does(keras, args, curve):
    ours = replay(callbacks.ReduceLROnPlateau(**args), CURVES[curve])
    theirs = replay(keras.callbacks.ReduceLROnPlateau(**args), CURVES[curve])
    assert ours[0] == theirs[0] and np.allclose(ours[2], theirs[2], rtol=1e-6)


def test_early_stopping_rule_without_keras():
    """Keras' documented example: patience=3 on a loss that never improves runs 4 epochs."""
    assert replay(callbacks.EarlyStopping(monitor="loss", patience=3), [1.0] * 10, "loss")[0] == 4
    assert replay(callbacks.EarlyStopping(patience=3, restore_best_weights=True), CURVES[0])[:2] == (6, 2)  # best at 3, 3 worse epochs
    assert replay(callbacks.TerminateOnNaN(), [1.0, 0.5, math.nan, 0.1], "loss")[0] == 3


# -- real training --------------------------------------------------------------------------------
RATES = [0.001, 0.003, 0.01]  # learning rates: the variants stop at different epochs


def lr_model(lr):
    model = mlp(0.2)
    model.compile(optimizer=layerlab.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def plan():
    return [callbacks.EarlyStopping(patience=1, min_delta=0.05, restore_best_weights=True),
            callbacks.ReduceLROnPlateau(patience=0, min_delta=0.1, factor=0.5)]


@pytest.fixture(scope="module")
def sweep_and_singles(data):
    (x, y), (xv, yv) = data
    fit = dict(validation_data=(xv, yv), epochs=10, seed=3, verbose=0)
    result = lr_model(layerlab.sweep(RATES)).fit(x, y, callbacks=plan(), **fit)
    singles = []
    for rate in RATES:
        cbs, model = plan(), lr_model(rate)
        singles.append((model.fit(x, y, callbacks=cbs, **fit), cbs[0], model))
    return result, singles


def test_each_variant_stops_where_it_would_alone(sweep_and_singles):
    result, singles = sweep_and_singles
    lengths = [len(h.epoch) for h in result.histories]
    assert len(set(lengths)) == 3 and max(lengths) < 10  # they stopped, each at its own epoch
    assert any(len(set(h.history["learning_rate"])) > 1 for h in result.histories)  # and slowed down
    for i, (history, stop, model) in enumerate(singles):
        mine = result.histories[i]
        assert mine.epoch == history.epoch
        assert list(mine.history) == ["loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]
        for k in history.history:
            np.testing.assert_allclose(mine.history[k], history.history[k], rtol=1e-5, atol=1e-6)
        assert mine.stopped_epoch == (stop.stopped_epoch or None)
        assert "EarlyStopping: val_loss did not improve" in mine.stop_reason
        # restore_best_weights: the variant's final weights are its best epoch's, as the single run's
        for a, b in zip(result.model(i).get_weights(), model.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        assert np.all(np.isnan(result.metrics["loss"][i, len(mine.epoch):]))


def test_restored_weights_are_the_best_epochs(data):
    """The restored weights give the best epoch's val_loss, not the last one's."""
    (x, y), (xv, yv) = data
    stop = callbacks.EarlyStopping(patience=2, min_delta=0.05, restore_best_weights=True)
    model = lr_model(0.01)
    history = model.fit(x, y, validation_data=(xv, yv), epochs=10, seed=3, verbose=0, callbacks=[stop])
    assert stop.stopped_epoch > 0 and len(history.epoch) == stop.stopped_epoch + 1
    best = history.history["val_loss"][stop.best_epoch]
    assert model.evaluate(xv, yv, verbose=0)[0] == pytest.approx(best, rel=1e-5)


def test_stopping_needs_no_new_program(data):
    (x, y), (xv, yv) = data
    model = mlp(layerlab.sweep([0.0, 0.3, 0.6]))
    model.fit(x, y, validation_data=(xv, yv), epochs=2, seed=1, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    program = next(iter(model.compiled.programs.values()))
    compiled = program.epoch._cache_size()
    result = model.fit(x, y, validation_data=(xv, yv), epochs=8, seed=1, verbose=0,
                       callbacks=[callbacks.EarlyStopping(patience=0, min_delta=0.12)])
    assert min(len(h.epoch) for h in result.histories) < 8
    assert program.epoch._cache_size() == compiled


def test_terminate_on_nan_stops_the_diverging_variant_only(data):
    (x, y), (xv, yv) = data
    model = mlp(0.0)
    model.compile(optimizer=layerlab.optimizers.SGD(learning_rate=layerlab.sweep([0.01, 1e6])),
                  loss="sparse_categorical_crossentropy")
    result = model.fit(x, y, validation_data=(xv, yv), epochs=3, seed=1, verbose=0,
                       callbacks=[callbacks.TerminateOnNaN()])
    calm, wild = result.histories
    assert calm.stopped_epoch is None and len(calm.epoch) == 3
    assert wild.stopped_epoch == 0 and wild.stop_reason.startswith("TerminateOnNaN") and wild.diverged_at == 1


def test_learning_rate_scheduler_sets_each_variants_rate(data):
    (x, y), (xv, yv) = data
    model = mlp(0.2)
    model.compile(optimizer=layerlab.optimizers.Adam(learning_rate=layerlab.sweep([1e-3, 1e-2])),
                  loss="sparse_categorical_crossentropy")
    result = model.fit(x, y, validation_data=(xv, yv), epochs=4, seed=1, verbose=0,
                       callbacks=[callbacks.LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr / 2)])
    for i, v in enumerate(result.variants):
        lr = v["optimizer.learning_rate"]
        np.testing.assert_allclose(result.histories[i].history["learning_rate"], [lr, lr, lr / 2, lr / 4], rtol=1e-6)


def test_files_are_written_per_variant(data, tmp_path):
    (x, y), (xv, yv) = data
    pytest.importorskip("tensorboard")
    cbs = [callbacks.CSVLogger(str(tmp_path / "log-{rate}.csv")),
           callbacks.ModelCheckpoint(str(tmp_path / "ckpt/{dropout.rate}/{epoch:02d}-{val_loss:.3f}.weights.h5"),
                                     save_weights_only=True, save_best_only=True),
           callbacks.TensorBoard(str(tmp_path / "tb"))]
    model = mlp(layerlab.sweep([0.0, 0.5]))
    result = model.fit(x, y, validation_data=(xv, yv), epochs=3, seed=1, verbose=0, callbacks=cbs)
    for i, rate in enumerate([0.0, 0.5]):
        rows = (tmp_path / f"log-{rate}.csv").read_text().splitlines()
        assert rows[0] == "epoch,accuracy,loss,val_accuracy,val_loss" and len(rows) == 4
        assert float(rows[3].split(",")[2]) == pytest.approx(result.histories[i].history["loss"][2])
        saved = sorted(p.name for p in (tmp_path / "ckpt" / str(rate)).iterdir())
        assert saved and saved[0].startswith("01-") and saved[-1].endswith(".weights.h5")
        runs = sorted((tmp_path / "tb").iterdir())
        assert len(runs) == 2 and all(list((r / "train").iterdir()) for r in runs)
        # each variant's last best checkpoint is a Keras weights file of that variant's weights
        # (weights restored from its best epoch equal the checkpoint written at that epoch)
        if result.histories[i].history["val_loss"][-1] == min(result.histories[i].history["val_loss"]):
            alone = mlp(rate)
            alone.load_weights(tmp_path / "ckpt" / str(rate) / saved[-1])
            for a, b in zip(alone.get_weights(), result.model(i).get_weights()):
                np.testing.assert_allclose(a, b, atol=1e-6)


def test_model_checkpoint_writes_keras_files_that_load(data, tmp_path):
    (x, y), (xv, yv) = data
    model = mlp(layerlab.sweep([0.0, 0.5]))
    result = model.fit(x, y, validation_data=(xv, yv), epochs=2, seed=1, verbose=0,
                       callbacks=[callbacks.ModelCheckpoint(str(tmp_path / "m-{dropout.rate}.keras"))])
    for i, rate in enumerate([0.0, 0.5]):
        loaded = layerlab.models.load_model(tmp_path / f"m-{rate}.keras")
        np.testing.assert_allclose(loaded.predict(xv[:16]), result.model(i).predict(xv[:16]), atol=1e-6)


# -- resume after kill -9 in the middle of a patience ---------------------------------------------
SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    import layerlab
    from layerlab import callbacks, layers
    from synthetic import blobs
    (x, y), (xv, yv) = blobs()
    model = layerlab.Sequential([layers.Flatten(input_shape=(6, 6)), layers.Dense(16, activation="relu"),
                                 layers.Dropout(0.2), layers.Dense(4, activation="softmax")])
    model.compile(optimizer=layerlab.optimizers.Adam(layerlab.sweep([0.001, 0.003, 0.01])),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    kill = int(sys.argv[2])

    def maybe_kill(epoch, logs):
        if epoch == kill:
            os.kill(os.getpid(), signal.SIGKILL)

    cbs = [callbacks.EarlyStopping(patience=2, min_delta=0.05, restore_best_weights=True),
           callbacks.ReduceLROnPlateau(patience=0, min_delta=0.1, factor=0.5),
           callbacks.LambdaCallback(on_epoch_end=maybe_kill)]
    resume = int(sys.argv[3]) if len(sys.argv) > 3 else None
    result = model.fit(x, y, validation_data=(xv, yv), epochs=10, seed=3, verbose=0, callbacks=cbs,
                       store=sys.argv[1], resume=resume)
    import json
    print(json.dumps({{"history": [h.history for h in result.histories],
                      "weights": [[w.tolist() for w in result.model(i).get_weights()] for i in range(3)]}}))
""")


def run_script(tmp_path, *args):
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent)))
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True, env=env,
                          check=False, timeout=300)


def test_resume_after_kill_mid_patience_is_bitwise(tmp_path):
    import json
    reference = run_script(tmp_path, tmp_path / "ref.db", -1)
    assert reference.returncode == 0, reference.stderr[-2000:]
    ref = json.loads(reference.stdout)
    lengths = [len(h["loss"]) for h in ref["history"]]
    assert min(lengths) < 10  # some variant stopped
    kill_at = 6  # epoch 7: a variant waits (EarlyStopping's wait 1 of 2), learning rates were halved
    killed = run_script(tmp_path, tmp_path / "crash.db", kill_at)
    assert killed.returncode == -9
    resumed = run_script(tmp_path, tmp_path / "crash.db", -1, 1)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout) == ref  # bitwise: JSON of the float64 histories and float32 weights


# -- bad input, one line each ----------------------------------------------------------------------
def test_monitor_that_is_not_logged_names_those_that_are(data, config_error):
    (x, y), _ = data
    message = config_error(base.NO_SUCH_METRIC, mlp().fit, x, y, epochs=1, verbose=0,
                           callbacks=[callbacks.EarlyStopping(monitor="val_loss")],
                           mentions=("EarlyStopping: monitor: ", "received monitor='val_loss'", "loss, accuracy"))
    assert "val_accuracy" not in message


@pytest.mark.parametrize("make, template, mentions", [
    (lambda: callbacks.EarlyStopping(patience=-1), base.BAD_ARG, ("EarlyStopping: patience", "patience=-1")),
    (lambda: callbacks.ReduceLROnPlateau(factor=1.0), base.BAD_ARG, ("factor=1.0",)),
    (lambda: callbacks.EarlyStopping(mode="biggest"), base.BAD_MODE, ("mode='biggest'",)),
    (lambda: callbacks.ModelCheckpoint("m.h5"), files.BAD_SUFFIX, ("filepath='m.h5'", ".keras")),
    (lambda: callbacks.LambdaCallback(on_train_batch_end=print), base.BATCH_HOOK, ("on_train_batch_end",)),
])
def test_bad_arguments(config_error, make, template, mentions):
    config_error(template, make, mentions=mentions)


@pytest.mark.parametrize("returned", ["0.01", math.nan])
def test_schedule_returning_a_string_or_nan(data, config_error, returned):
    (x, y), _ = data
    config_error(rates.BAD_SCHEDULE, mlp().fit, x, y, epochs=2, verbose=0,
                 callbacks=[callbacks.LearningRateScheduler(lambda epoch, lr: returned)],
                 mentions=("LearningRateScheduler: schedule", repr(returned)))


def test_batch_hooks_are_refused(data, config_error):
    class PerBatch(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    (x, y), _ = data
    config_error(base.BATCH_HOOK, mlp().fit, x, y, epochs=1, verbose=0, callbacks=[PerBatch()],
                 mentions=("PerBatch: on_train_batch_end",))


def test_unwritable_checkpoint_folder_is_refused_before_training(data, config_error, tmp_path):
    (x, y), _ = data
    (tmp_path / "file").write_text("not a folder")
    model = mlp()
    config_error(files.NOT_WRITABLE, model.fit, x, y, epochs=1, verbose=0,
                 callbacks=[callbacks.ModelCheckpoint(str(tmp_path / "file" / "sub" / "m.keras"))],
                 mentions=("ModelCheckpoint: filepath",))
    assert model.params is None  # nothing trained


def test_paths_stay_inside_and_name_the_variant(data, config_error, tmp_path):
    (x, y), _ = data
    assert files.format_path("C", "f", "ck/{dropout.rate}/{epoch:02d}.keras", {"dropout.rate": "../../x"}) \
        == "ck/____x/{epoch:02d}.keras"
    config_error(files.SAME_FILE, mlp(layerlab.sweep([0.0, 0.5])).fit, x, y, epochs=1, verbose=0,
                 callbacks=[callbacks.CSVLogger(str(tmp_path / "log.csv"))], mentions=("CSVLogger: filename",))
    config_error(files.UNKNOWN_FIELD, mlp().fit, x, y, epochs=1, verbose=0,
                 callbacks=[callbacks.ModelCheckpoint(str(tmp_path / "{nope}.keras"))], mentions=("{nope}",))


# -- studies ------------------------------------------------------------------------------------------
def test_a_study_takes_callbacks_and_show_says_where_each_variant_stopped(real_mnist, tmp_path, capsys):
    from tiny_study import tiny_study

    from layerlab import cli
    from layerlab.study import loads
    extra = '\n[[callbacks]]\ntype = "EarlyStopping"\nmonitor = "val_accuracy"\npatience = 0\nmin_delta = 0.05\n'
    study = loads(tiny_study(limit_train=600, limit_test=200, epochs=6, extra=extra))
    (made,) = study.fit_kwargs()["callbacks"]
    assert isinstance(made, callbacks.EarlyStopping) and made.min_delta == 0.05
    assert study.resolved()["callbacks"] == [{"type": "EarlyStopping", "monitor": "val_accuracy", "patience": 0,
                                              "min_delta": 0.05}]
    path = tmp_path / "s.toml"
    path.write_text(study.text)
    assert cli.main(["run", str(path), "--store", str(tmp_path / "r.db"), "--quiet"]) == 0
    result = layerlab.load_run(1, store=tmp_path / "r.db")
    stopped = [h for h in result.histories if h.stopped_epoch is not None]
    assert stopped and all(len(h.epoch) == h.stopped_epoch + 1 < 6 for h in stopped)
    capsys.readouterr()
    assert cli.main(["show", "1", "--store", str(tmp_path / "r.db")]) == 0
    out = capsys.readouterr().out
    assert f"stopped after epoch {stopped[0].stopped_epoch + 1}: EarlyStopping: val_accuracy did not improve" in out


@pytest.mark.parametrize("table, mentions", [
    ('type = "LearningRateScheduler"', ("callbacks[0]", "LearningRateScheduler")),
    ('type = "EarlyStopping"\npatience = -1', ("callbacks[0]", "patience=-1")),
    ('type = "EarlyStoping"', ("EarlyStoping",)),
])
def test_bad_study_callbacks_in_one_line(config_error, table, mentions):
    from tiny_study import tiny_study

    from layerlab.study import loads
    config_error(None, loads, tiny_study(extra=f"\n[[callbacks]]\n{table}\n"), mentions=mentions)
