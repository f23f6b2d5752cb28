"""Keras 3's files, both ways: a model layerlab saves loads in real Keras 3 (KERAS_BACKEND=jax)
and predicts the same within 1e-5, and a model Keras 3 saves loads here, optimizer state
included; weights-only files, to_json; per-variant files of a sweep and `layerlab export
--format keras`; every kind of bad file refused in one line, nothing written half."""
import contextlib
import json
import os
import zipfile

import jax
import numpy as np
import pytest

import layerlab
from layerlab import cli, layers, saving
from layerlab.errors import ConfigError
from layerlab.models import files

os.environ["KERAS_BACKEND"] = "jax"  # before Keras is imported: the backend layerlab's files are checked on
try:
    import keras  # a test extra (pyproject [test]); never a runtime dependency
except ImportError:
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):  # as conftest._on_ci
        raise  # in CI a skip would hide that the round trip with Keras was not checked
    pytest.skip("keras is not installed: pip install -e '.[test]'", allow_module_level=True)


@contextlib.contextmanager
def in_keras():
    """Keras' own code broadcasts implicitly, which tests/conftest.py makes an error for layerlab's."""
    with jax.numpy_rank_promotion("allow"):
        yield


def data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 28, 28)).astype(np.float32), rng.integers(0, 10, n)


def article_model(rate=0.2, optimizer="adam"):
    model = layerlab.Sequential([layers.Flatten(input_shape=(28, 28)), layers.Dense(16, activation="relu"),
                                 layers.Dropout(rate), layers.Dense(10, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def keras_article_model(optimizer="adam"):
    with in_keras():
        model = keras.Sequential([keras.layers.Input((28, 28)), keras.layers.Flatten(),
                                  keras.layers.Dense(16, activation="relu"), keras.layers.Dropout(0.2),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def trained():
    x, y = data()
    model = article_model()
    model.fit(x, y, epochs=2, verbose=0, seed=1)
    return model, x


# -- layerlab -> Keras 3 ---------------------------------------------------------------------------
def test_keras_loads_layerlab_file_and_predicts_the_same(trained, tmp_path):
    model, x = trained
    model.save(tmp_path / "m.keras")
    with in_keras():
        k = keras.models.load_model(tmp_path / "m.keras")
        out = k.predict(x[:64], verbose=0)
    assert [type(layer).__name__ for layer in k.layers] == ["Flatten", "Dense", "Dropout", "Dense"]
    assert k.layers[2].rate == 0.2 and k.layers[1].activation.__name__ == "relu"
    np.testing.assert_allclose(out, model.predict(x[:64]), atol=1e-5)
    assert k.loss == "sparse_categorical_crossentropy" and type(k.optimizer).__name__ == "Adam"


def test_keras_gets_adams_moments_and_iterations(trained, tmp_path):
    """Keras' Adam: [iterations, learning_rate, (momentum, velocity) per weight]; optax's mu, nu."""
    model, _ = trained
    model.save(tmp_path / "m.keras")
    with in_keras():
        k = keras.models.load_model(tmp_path / "m.keras")
    state = files._opt_state(model)
    assert int(k.optimizer.iterations) == int(state.count) == 2 * 256 // 32
    mu, nu = state.inner_state[0].mu, state.inner_state[0].nu
    expected = [mu[1]["kernel"], nu[1]["kernel"], mu[1]["bias"], nu[1]["bias"],
                mu[3]["kernel"], nu[3]["kernel"], mu[3]["bias"], nu[3]["bias"]]
    got = [np.asarray(v) for v in k.optimizer.variables[2:]]
    assert [g.shape for g in got] == [(784, 16), (784, 16), (16,), (16,), (16, 10), (16, 10), (10,), (10,)]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-6)
    assert np.abs(got[0]).max() > 0  # trained moments, not zeros


def test_keras_reads_layerlab_weights_file_and_json(trained, tmp_path):
    model, x = trained
    model.save_weights(tmp_path / "m.weights.h5")
    with in_keras():
        k = keras.models.model_from_json(model.to_json())
        k.load_weights(tmp_path / "m.weights.h5")
        np.testing.assert_allclose(k.predict(x[:32], verbose=0), model.predict(x[:32]), atol=1e-5)


def test_every_layer_layerlab_has_both_ways(tmp_path):
    """Activation, LeakyReLU, PReLU, Dense without bias: configs and weights (random, so that an
    order or layout mistake shows) read the same by both sides."""
    model = layerlab.Sequential([layers.Input(shape=(6,)), layers.Dense(5, use_bias=False),
                                 layers.PReLU(), layers.Dense(4), layers.LeakyReLU(negative_slope=0.1),
                                 layers.Activation("tanh"), layers.Dense(3, activation="sigmoid")])
    rng = np.random.default_rng(9)
    model.params = [{k: rng.normal(size=w.shape).astype(np.float32) for k, w in p.items()}
                    for p in model.init(jax.random.PRNGKey(0))]
    x = rng.normal(size=(16, 6)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    with in_keras():
        k = keras.models.load_model(tmp_path / "m.keras")
        out = k.predict(x, verbose=0)
        k.save(tmp_path / "k.keras")
    assert [type(layer).__name__ for layer in k.layers] == ["Dense", "PReLU", "Dense", "LeakyReLU", "Activation",
                                                           "Dense"]
    np.testing.assert_allclose(out, model.predict(x), atol=1e-5)
    back = layerlab.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(back.predict(x), out, atol=1e-5)
    assert back.layers[3].negative_slope == 0.1 and back.layers[0].use_bias is False


def conv_bn_model():
    """A convnet with batch normalisation: every image layer layerlab has, and non-trainable state."""
    model = layerlab.Sequential([
        layers.Input(shape=(12, 12)), layers.Reshape((12, 12, 1)), layers.Conv2D(4, 3, padding="same"),
        layers.BatchNormalization(momentum=0.9), layers.Activation("relu"), layers.MaxPooling2D(2),
        layers.Conv2D(6, (3, 2), strides=(1, 2), use_bias=False), layers.BatchNormalization(epsilon=0.01),
        layers.SpatialDropout2D(0.1), layers.AveragePooling2D(2, padding="same"), layers.GlobalMaxPooling2D(),
        layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_convnet_with_batch_normalisation_both_ways(tmp_path):
    """Trained in layerlab (moving statistics away from 0 and 1), read by Keras 3, written by
    Keras and read back: the same predictions within 1e-5 each way, the statistics included."""
    rng = np.random.default_rng(4)
    x, y = rng.random((128, 12, 12)).astype(np.float32), rng.integers(0, 10, 128)
    model = conv_bn_model()
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, seed=3)
    weights = model.get_weights()
    assert not np.allclose(weights[3], 0) and not np.allclose(weights[5], 1)  # moving_mean, moving_variance moved
    model.save(tmp_path / "m.keras")
    with in_keras():
        k = keras.models.load_model(tmp_path / "m.keras")
        out = k.predict(x[:32], verbose=0)
        assert [w.shape for w in k.get_weights()] == [w.shape for w in weights]
        for got, expected in zip(k.get_weights(), weights):
            np.testing.assert_allclose(got, expected, rtol=1e-6)
        k.save(tmp_path / "k.keras")
    assert [type(layer).__name__ for layer in k.layers][:3] == ["Reshape", "Conv2D", "BatchNormalization"]
    assert k.layers[2].momentum == 0.9 and k.layers[6].epsilon == 0.01
    np.testing.assert_allclose(out, model.predict(x[:32]), atol=1e-5)
    back = layerlab.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(back.predict(x[:32]), out, atol=1e-5)


def test_layerlab_reads_a_keras_trained_convnet_with_batch_normalisation(tmp_path):
    rng = np.random.default_rng(5)
    x, y = rng.random((64, 12, 12, 1)).astype(np.float32), rng.integers(0, 10, 64)
    with in_keras():
        k = keras.Sequential([keras.layers.Input((12, 12, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(2),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])
        k.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        k.fit(x, y, epochs=2, batch_size=16, verbose=0)
        k.save(tmp_path / "k.keras")
        out = k.predict(x, verbose=0)
    model = layerlab.models.load_model(tmp_path / "k.keras")
    assert [type(layer).__name__ for layer in model.layers] == ["Conv2D", "BatchNormalization", "MaxPooling2D",
                                                               "GlobalAveragePooling2D", "Dense"]
    np.testing.assert_allclose(model.predict(x), out, atol=1e-5)


# -- Keras 3 -> layerlab ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    x, y = data(seed=2)
    path = tmp_path_factory.mktemp("keras") / "k.keras"
    k = keras_article_model()
    with in_keras():
        k.fit(x, y, epochs=1, verbose=0)
        k.save(path)
        out = k.predict(x[:64], verbose=0)
    return path, x, out, [np.asarray(v) for v in k.optimizer.variables]


def test_layerlab_loads_keras_file_and_predicts_the_same(keras_file):
    path, x, out, _ = keras_file
    model = layerlab.models.load_model(path)
    assert [type(layer).__name__ for layer in model.layers] == ["Flatten", "Dense", "Dropout", "Dense"]
    assert model.input_shape == (28, 28) and model.layers[2].rate == 0.2
    assert type(model.compiled.optimizer).__name__ == "Adam" and model.compiled.optimizer.learning_rate == 0.001
    np.testing.assert_allclose(model.predict(x[:64]), out, atol=1e-5)


def test_keras_optimizer_state_survives_layerlab_both_ways(keras_file, tmp_path):
    """Keras' slots -> optax's -> Keras' again, unchanged (the kernels' moments change layout twice)."""
    path, _, _, variables = keras_file
    model = layerlab.models.load_model(path)
    assert int(model._train_state.opt_state.count) == int(variables[0]) == 8
    model.save(tmp_path / "again.keras")
    with in_keras():
        k = keras.models.load_model(tmp_path / "again.keras")
    for got, expected in zip(k.optimizer.variables, variables):
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)


# Adam's epsilon is added after the bias correction in optax, before it in Keras (optimizers.py says
# so); for weights whose gradients are near zero that alone moves a step by up to 1e-3 here. A tiny
# epsilon takes it out, so what remains compared is the state: moments and the step count.
OPTIMIZERS = {"adam": lambda: layerlab.optimizers.Adam(0.01, epsilon=1e-10),
              "sgd-momentum": lambda: layerlab.optimizers.SGD(0.05, momentum=0.9),
              "rmsprop-momentum": lambda: layerlab.optimizers.RMSprop(0.01, momentum=0.5),
              "adagrad": lambda: layerlab.optimizers.Adagrad(0.05)}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_keras_takes_the_next_step_layerlab_would(name, tmp_path):
    """The slots mean the same on both sides: after two layerlab epochs, one more batch trained by
    Keras (from the saved file) and by layerlab gives the same weights; and the state Keras loaded
    and saves again comes back to layerlab unchanged."""
    x, y = data(64, seed=7)
    model = article_model(rate=0.0, optimizer=OPTIMIZERS[name]())
    model.fit(x, y, epochs=2, verbose=0, seed=8)
    model.save(tmp_path / "m.keras")
    with in_keras():
        k = keras.models.load_model(tmp_path / "m.keras")
        assert len(k.optimizer.variables) > 2  # Keras built its slots and took them from the file
        k.save(tmp_path / "k.keras")
        k.train_on_batch(x[:32], y[:32])
        keras_weights = [np.asarray(w) for w in k.get_weights()]
    back = layerlab.models.load_model(tmp_path / "k.keras")._train_state.opt_state
    for a, b in zip(jax.tree.leaves(files._opt_state(model)), jax.tree.leaves(back)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-8)
    model.fit(x[:32], y[:32], epochs=1, verbose=0, seed=8)  # one batch: its order does not matter
    for a, b in zip(model.get_weights(), keras_weights):
        np.testing.assert_allclose(b, a, atol=2e-5)


def test_fit_after_load_goes_on_from_the_saved_optimizer_state(tmp_path):
    """Without dropout or shuffling an epoch is fixed by weights and optimizer state: a loaded
    model's third epoch equals the original's; a fresh optimizer's differs."""
    x, y = data(128)
    model = article_model(rate=0.0)
    model.fit(x, y, epochs=2, verbose=0, seed=4, shuffle=False)
    model.save(tmp_path / "m.keras")
    loaded = layerlab.models.load_model(tmp_path / "m.keras")
    fresh = layerlab.models.load_model(tmp_path / "m.keras", compile=False)
    fresh.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    for m in (model, loaded, fresh):
        m.fit(x, y, epochs=1, verbose=0, seed=4, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(b, a, atol=1e-6)
    assert not np.allclose(fresh.get_weights()[0], model.get_weights()[0], atol=1e-6)


def test_layerlab_round_trip_keeps_config_weights_and_state(trained, tmp_path):
    model, x = trained
    model.save(tmp_path / "m.keras")
    back = layerlab.models.load_model(tmp_path / "m.keras")

    def configs(m):  # the input shape comes back as an InputLayer, as from Keras' own files
        return [{k: v for k, v in layer.get_config().items() if k != "input_shape"} for layer in m.layers]
    assert back.name == model.name and back.input_shape == model.input_shape == (28, 28)
    assert configs(back) == configs(model)
    for a, b in zip(model.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)
    again = layerlab.models.model_from_json(model.to_json())
    assert configs(again) == configs(model) and again.compiled is None
    fresh = article_model()
    fresh.load_weights(tmp_path / "m.keras")
    np.testing.assert_allclose(fresh.predict(x[:16]), model.predict(x[:16]), atol=1e-6)


def test_weight_paths_are_keras_own(trained, tmp_path):
    model, _ = trained
    model.save_weights(tmp_path / "m.weights.h5")
    arrays = saving.read_weights(tmp_path / "m.weights.h5")
    assert [a.shape for a in arrays["layers/dense"]] == [(784, 16), (16,)]
    assert [a.shape for a in arrays["layers/dense_1"]] == [(16, 10), (10,)]
    assert arrays["layers/flatten"] == [] and arrays["layers/dropout"] == []


# -- sweeps, the store, the command line ---------------------------------------------------------------------
def test_save_models_writes_one_keras_file_per_variant(tmp_path):
    x, y = data(64)
    adam = layerlab.optimizers.Adam(layerlab.sweep([0.001, 0.01]))
    result = article_model(rate=layerlab.sweep([0.0, 0.5]), optimizer=adam).fit(x, y, epochs=1, verbose=0, seed=5)
    paths = result.save_models(tmp_path / "models")
    assert [p.name for p in paths] == [f"{i}-dropout.rate={r}_optimizer.learning_rate={lr}.keras"
                                       for i, (r, lr) in enumerate([(0.0, 0.001), (0.0, 0.01), (0.5, 0.001),
                                                                    (0.5, 0.01)])]
    with in_keras():
        k = keras.models.load_model(paths[3])
        out = k.predict(x[:8], verbose=0)
    assert k.layers[2].rate == 0.5 and np.isclose(float(k.optimizer.learning_rate), 0.01)
    np.testing.assert_allclose(out, result.model(3).predict(x[:8]), atol=1e-5)
    with pytest.raises(ConfigError, match="Save one variant: result.model"):
        article_model(rate=layerlab.sweep([0.0, 0.5])).save(tmp_path / "s.keras")


def test_cli_exports_a_recorded_variant_as_keras(tmp_path, capsys):
    x, y = data(64)
    store = tmp_path / "runs.db"
    result = article_model(rate=layerlab.sweep([0.0, 0.5])).fit(x, y, epochs=1, verbose=0, seed=6, store=store)
    out = tmp_path / "v1.keras"
    assert cli.main(["export", str(result.run_id), "--format", "keras", "--variant", "1", "--out", str(out),
                     "--store", str(store)]) == 0
    model = layerlab.models.load_model(out)
    np.testing.assert_allclose(model.predict(x[:8]), result.model(1).predict(x[:8]), atol=1e-6)
    assert cli.main(["export", str(result.run_id), "--format", "keras", "--store", str(store)]) == 2
    assert "--out model.keras" in capsys.readouterr().err


def test_two_loaders_point_to_each_other(tmp_path):
    with pytest.raises(ConfigError, match=r"layerlab.load_model\(run, variant"):
        layerlab.models.load_model(3)
    with pytest.raises(ConfigError, match=r"layerlab.load_model\(run, variant"):
        layerlab.models.load_model(tmp_path / "runs.db")
    with pytest.raises(ConfigError, match=r"layerlab.models.load_model\('m.keras'\)"):
        layerlab.load_model("m.keras", 0, store=tmp_path / "runs.db")


# -- bad input: one line, nothing written half -----------------------------------------------------------------
def one_line(excinfo):
    text = str(excinfo.value)
    assert "\n" not in text
    return text


def test_truncated_and_non_zip_files(trained, tmp_path):
    model, _ = trained
    model.save(tmp_path / "m.keras")
    whole = (tmp_path / "m.keras").read_bytes()
    (tmp_path / "t.keras").write_bytes(whole[:len(whole) // 2])
    (tmp_path / "n.keras").write_text("not a zip")
    for name in ("t.keras", "n.keras"):
        with pytest.raises(ConfigError) as e:
            layerlab.models.load_model(tmp_path / name)
        assert "expected a .keras file (a zip archive)" in one_line(e)


def test_zip_without_config(tmp_path):
    with zipfile.ZipFile(tmp_path / "z.keras", "w") as z:
        z.writestr("metadata.json", "{}")
    with pytest.raises(ConfigError) as e:
        layerlab.models.load_model(tmp_path / "z.keras")
    assert "expected config.json inside the .keras archive" in one_line(e)


def write_config(path, config):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))


def test_unknown_layer_is_named(tmp_path, keras_file):
    config = json.loads(zipfile.ZipFile(keras_file[0]).read("config.json"))
    config["config"]["layers"][2] = {"module": "keras.layers", "class_name": "LSTM",
                                     "config": {"name": "my_lstm", "units": 4}, "registered_name": None}
    write_config(tmp_path / "u.keras", config)
    with pytest.raises(ConfigError) as e:
        layerlab.models.load_model(tmp_path / "u.keras")
    assert "layer 'my_lstm'" in one_line(e) and "received 'LSTM'" in one_line(e)


def test_lambda_and_custom_objects_are_refused(tmp_path):
    with in_keras():
        k = keras.Sequential([keras.layers.Input((4,)), keras.layers.Lambda(lambda t: t * 2), keras.layers.Dense(2)])
        k.save(tmp_path / "lambda.keras")
    with pytest.raises(ConfigError) as e:
        layerlab.models.load_model(tmp_path / "lambda.keras")
    assert "a Lambda object would run code from the file" in one_line(e)
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
        {"module": "my_package.layers", "class_name": "Fancy", "registered_name": "my_package>Fancy",
         "config": {"name": "fancy"}}]}}
    write_config(tmp_path / "custom.keras", config)
    with pytest.raises(ConfigError) as e:
        layerlab.models.load_model(tmp_path / "custom.keras")
    assert "the custom object 'my_package>Fancy'" in one_line(e)
    with pytest.raises(ConfigError, match="custom_objects: expected None"):
        layerlab.models.load_model(tmp_path / "custom.keras", custom_objects={"Fancy": object})


def test_weights_of_another_shape(trained, tmp_path):
    model, _ = trained
    model.save_weights(tmp_path / "m.weights.h5")
    other = layerlab.Sequential([layers.Flatten(input_shape=(28, 28)), layers.Dense(32, activation="relu"),
                                 layers.Dropout(0.2), layers.Dense(10, activation="softmax")])
    with pytest.raises(ConfigError) as e:
        other.load_weights(tmp_path / "m.weights.h5")
    assert "layers/dense/vars/0 (dense" in one_line(e) and "expected shape (784, 32); received (784, 16)" in one_line(e)
    assert other.params is None  # nothing assigned half


def test_legacy_keras2_h5_says_how_to_convert(tmp_path):
    import h5py
    with h5py.File(tmp_path / "old.h5", "w") as f:
        f.attrs["model_config"] = "{}"
        f.attrs["keras_version"] = "2.15.0"
    with pytest.raises(ConfigError) as e:
        layerlab.models.load_model(tmp_path / "old.h5")
    assert "legacy Keras 2 HDF5 file" in one_line(e) and ".save('model.keras')" in one_line(e)
    (tmp_path / "old.h5").rename(tmp_path / "old.weights.h5")
    with pytest.raises(ConfigError, match="legacy Keras 2 HDF5 file"):
        article_model().load_weights(tmp_path / "old.weights.h5")


def test_a_weights_file_is_not_a_model(trained, tmp_path):
    trained[0].save_weights(tmp_path / "m.weights.h5")
    with pytest.raises(ConfigError) as e:
        layerlab.models.load_model(tmp_path / "m.weights.h5")
    assert "received a weights file" in one_line(e) and "model.load_weights(" in one_line(e)


def test_unwritable_folder_and_nothing_written_half(trained, tmp_path, monkeypatch):
    model, _ = trained
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ConfigError) as e:
        model.save(tmp_path / "a_file" / "m.keras")
    assert "expected a folder that can be written" in one_line(e)
    with pytest.raises(ConfigError, match="expected a path ending in .keras"):
        model.save(tmp_path / "m.h5")
    target = tmp_path / "m.keras"
    target.write_bytes(b"the old file")

    def full_disk(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(ConfigError) as e:
        model.save(target)
    assert "No space left on device" in one_line(e)
    assert target.read_bytes() == b"the old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "m.keras"]  # no partial file left
