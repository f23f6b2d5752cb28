"""fit()'s own additions to Keras' signature and the public paths a Keras user types."""
import numpy as np
import pytest

import layerlab
from layerlab import layers, training
from synthetic import blobs

DATA = blobs(n=200, classes=4)


def model(**optimizer):
    layerlab.backend.clear_session()
    m = layerlab.Sequential([layers.Flatten(input_shape=(6, 6)), layers.Dense(8, activation="relu"),
                             layers.Dense(4, activation="softmax")])
    m.compile(optimizer=layerlab.optimizers.Adagrad(**optimizer) if optimizer else "adam",
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def fit(m, **kwargs):
    (x, y), _ = DATA
    return m.fit(x, y, epochs=2, seed=1, verbose=0, **kwargs)


def test_keras_paths_still_work():
    from layerlab.backend import clear_session  # tf.keras.backend.clear_session, as an import too
    assert clear_session is layerlab.backend.clear_session is layerlab.session.clear_session
    assert layerlab.models.Sequential is layerlab.Sequential
    assert callable(layerlab.utils.set_random_seed) and callable(layerlab.load_run) and callable(layerlab.load_model)
    assert layerlab.nn.relu is layerlab.activations.relu and layerlab.layers.Dense is layers.Dense


@pytest.mark.parametrize("name", ["", "  ", 3])
def test_a_run_name_is_a_non_empty_string(name, config_error, tmp_path):
    config_error(training.BAD_NAME, fit, model(), store=tmp_path / "runs.db", name=name, mentions=("name", repr(name)))


def test_a_run_name_needs_a_store(config_error):
    config_error(training.NAME_WITHOUT_STORE, fit, model(), name="sweep", mentions=("name", "store="))


def test_resume_needs_a_store_not_a_recorder(config_error):
    class Recorder:
        def start(self, **info): ...
        def group_start(self, group, order): ...
        def epoch_end(self, group, epoch, row, state): ...
        def finish(self, status, metrics): ...
    config_error(training.RESUME_WITH_RECORDER, fit, model(), store=Recorder(), resume=1, mentions=("resume",))


def test_a_sweep_of_adagrads_initial_accumulator_trains_each_value():
    """The value shapes the optimizer's state at init, so each value is a compile group of its
    own (before, the sweep's variants all trained with the first value)."""
    swept = fit(model(initial_accumulator_value=layerlab.sweep([0.1, 1.0])))
    for i, value in enumerate((0.1, 1.0)):
        alone = fit(model(initial_accumulator_value=value))
        np.testing.assert_allclose(swept.metrics["loss"][i], alone.history["loss"], rtol=1e-5)
    assert not np.allclose(swept.metrics["loss"][0], swept.metrics["loss"][1])
