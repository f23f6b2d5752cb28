"""Study files: the article's study exactly, the same objects as the Python API, and one
error per kind of bad input naming the file, the key path, what was expected and the fix."""
import json
import pathlib
import re

import numpy as np
import pytest

import layerlab
from layerlab import layers, study
from layerlab.analysis.article import ARTICLE_YLIM
from layerlab.errors import ConfigError, DatasetError
from tiny_study import tiny_study

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = tiny_study()


def test_dropout_toml_is_the_articles_experiment_exactly():
    s = study.load(ROOT / "studies" / "dropout.toml")
    layerlab.backend.clear_session()
    article = layerlab.Sequential([  # studies/dropout.py's model, in a fresh session
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation="relu"),
        layers.Dropout(layerlab.sweep([0.0, 0.2, 0.4, 0.6, 0.8])),
        layers.Dense(10, activation="softmax"),
    ])
    model = s.model()
    assert model.get_config() == article.get_config()
    assert model.count_params() == 101770
    adam = model.compiled.optimizer
    assert (type(adam).__name__, adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == ("Adam", 0.001, 0.9, 0.999, 1e-7)
    assert model.compiled.loss.name == "sparse_categorical_crossentropy" and model.compiled.metrics == ("accuracy",)
    assert s.fit_kwargs() == {"epochs": 100, "batch_size": 32, "seed": 1, "shuffle": True, "independent_draws": False}
    assert s.dataset == {"name": "mnist", "limit_train": 60000, "limit_test": 10000, "divide_by": 255.0,
                         "validation": "test"}
    assert s.plot["ylim"] == ARTICLE_YLIM
    assert s.name == "dropout" and s.keep_best is False


def test_a_study_parses_into_the_python_apis_objects(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TINY.replace('optimizer = "adam"', 'optimizer = { name = "sgd", learning_rate = { sweep = [0.1, 0.01] } }')
                    .replace("seed = 1", "seed = 1\nrepeats = 2\nbatch_size = { sweep = [16, 32] }"))
    s = study.load(path)
    model = s.model()
    assert isinstance(model, layerlab.Sequential) and model.input_shape == (28, 28)  # from the dataset
    assert model.sweeps() == {"dropout.rate": layerlab.sweep([0.0, 0.5])}
    assert model.compiled.optimizer.sweeps() == {"optimizer.learning_rate": layerlab.sweep([0.1, 0.01])}
    kwargs = s.fit_kwargs(epochs=7)
    assert kwargs["epochs"] == 7 and kwargs["batch_size"] == layerlab.sweep([16, 32]) and kwargs["repeats"] == 2
    resolved = s.resolved(epochs=7)
    assert json.loads(json.dumps(resolved)) == resolved and resolved["fit"]["epochs"] == 7
    assert resolved["model"] == model.get_config()


def test_layer_names_do_not_depend_on_the_session(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TINY)
    layers.Dense(3), layers.Dense(3), layers.Dropout(0.1)  # the session's counters move on
    assert [layer.name for layer in study.load(path).model().layers] == ["flatten", "dense", "dropout", "dense_1"]


@pytest.mark.usefixtures("real_mnist")
def test_load_data_takes_the_subset_scales_and_checksums_it(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TINY)
    (x, y), validation, (name, checksum) = study.load(path).load_data()
    assert x.shape == (300, 28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert validation[0].shape == (100, 28, 28) and name == "mnist" and len(checksum) == 64
    (raw, labels), _ = layerlab.datasets.mnist.load_data()
    assert np.array_equal(x, (raw[:300] / 255.0).astype(np.float32)) and np.array_equal(y, labels[:300])
    assert study.load(path).load_data()[2][1] == checksum
    path.write_text(TINY.replace('limit_test = 100', 'limit_test = 100\nvalidation = 0.25'))
    s = study.load(path)
    assert s.load_data()[1] is None and s.fit_kwargs()["validation_split"] == 0.25


def edit(old, new):
    return lambda text: text.replace(old, new, 1)


ERRORS = [  # (edit of TINY, the message's regex after "s.toml: ")
    (edit("rate = { sweep = [0.0, 0.5] }", "rate = 1.5"),
     r"layers\[2\]\.rate: expected a float in the range \[0, 1\); received 1\.5\. Use a rate below 1"),
    (edit("[0.0, 0.5]", "[0.0, 1.5]"), r"layers\[2\]\.rate: expected a float in the range \[0, 1\); received 1\.5"),
    (edit("[0.0, 0.5]", "[]"), r"layers\[2\]\.rate\.sweep: expected a non-empty list of values; received \[\]"),
    (edit("rate = { sweep", "rate = { values"), r"layers\[2\]\.rate: expected a value or \{ sweep = \[\.\.\.\] \}; "
                                                r"received a table with keys \['values'\]"),
    (edit("units = 16", "unit = 16"), r"layers\[1\]\.unit: unknown key; expected one of units, activation.* "
                                      r"Did you mean 'units'\? Remove it or fix its spelling\."),
    (edit("[fit]", "[fitt]"), r"fitt: unknown key; expected one of study, dataset.* Did you mean 'fit'\?"),
    (edit('type = "Dense"', 'type = "Dence"'), r"layers\[1\]\.type: expected one of \[.*'Dense'.*\]; received 'Dence'\. "
                                               r"Did you mean 'Dense'\?"),
    (edit('activation = "relu"', 'activation = "relux"'), r"layers\[1\]\.activation: expected one of .*; received "
                                                          r"'relux'\. Did you mean 'relu'\?"),
    (edit("units = 10", "units = 5"), r"layers\[3\]: expected at least 10 output units for mnist's 10 classes; received 5"),
    (edit('type = "Flatten"', 'type = "Flatten"\ninput_shape = [6, 6]'),
     r"layers\[0\]\.input_shape: expected \(28, 28\), the shape of one mnist image; received \(6, 6\)"),
    (edit("epochs = 2", 'epochs = "2"'), r"fit\.epochs: expected an int >= 1; received '2'\. Write epochs = 1 \(no quotes\)"),
    (edit("epochs = 2", ""), r"fit\.epochs: missing; expected a positive int\. Add it, e.g\. epochs = 10\."),
    (edit("seed = 1", "seed = -1"), r"fit\.seed: expected an int >= 0; received -1"),
    (edit("seed = 1", "seed = { sweep = [1, 2] }\nrepeats = 2"), r"fit\.repeats: expected repeats or a seed sweep, not both"),
    (edit("seed = 1", 'seed = 1\ncombinations = [{ "dropout.rat" = 0.0 }]'),
     r"fit\.combinations\[0\]: expected keys among the swept settings \['dropout\.rate'\]; received 'dropout\.rat'"),
    (edit('name = "mnist"', 'name = "mnits"'), r"dataset\.name: expected one of \['fashion_mnist', 'mnist'\]; received "
                                               r"'mnits'\. Did you mean 'mnist'\?"),
    (edit("limit_train = 300", "limit_train = 0"), r"dataset\.limit_train: expected an int from 1 to 60000; received 0"),
    (edit('optimizer = "adam"', 'optimizer = "adma"'), r"compile\.optimizer: expected one of .*received 'adma'\. "
                                                       r"Did you mean 'adam'\?"),
    (edit('optimizer = "adam"', 'optimizer = { name = "adam", learning_rate = -1 }'),
     r"compile\.optimizer\.learning_rate: expected a number > 0; received -1"),
    (edit('optimizer = "adam"', 'optimizer = { name = "adam", lr = 0.1 }'),
     r"compile\.optimizer\.lr: unknown key; expected one of learning_rate.*"),
    (edit('loss = "sparse_categorical_crossentropy"', 'loss = "mse"'), r"compile\.loss: expected one of \[.*\] or a layerlab\.losses object; received 'mse'\. Pass e\.g\."),
    (edit('loss = "sparse_categorical_crossentropy"', ""), r"compile\.loss: missing; expected a loss name"),
    (edit("[compile]", "[plot]\nylim = { val_loss = [0.3, 0.1] }\n[compile]"),
     r"plot\.ylim\.val_loss: expected \[low, high\] with low < high; received \[0\.3, 0\.1\]"),
    (edit("epochs = 2", "epochs = 2 2"), r"not valid TOML: .*\(at line \d+, column \d+\)\. Fix the syntax there"),
    (edit('optimizer = "adam"', 'optimizer = { name = "adam", epsilon = { values = [1] } }'),
     r"compile\.optimizer\.epsilon: expected a value or \{ sweep = \[\.\.\.\] \}; received a table with keys \['values'\]"),
]


@pytest.mark.parametrize("change, message", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors_name_the_file_the_key_and_the_fix(tmp_path, change, message):
    path = tmp_path / "s.toml"
    path.write_text(change(TINY))
    with pytest.raises(ConfigError) as info:
        study.load(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: "), text
    assert re.match(message, text[len(f"{path}: "):]), text


def test_a_missing_study_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: no such study file; expected a TOML study"):
        study.load(tmp_path / "nope.toml")


def test_nothing_in_a_study_is_evaluated_as_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "s.toml"
    path.write_text(TINY.replace('activation = "relu"', f'activation = "__import__(\'os\').system(\'touch {marker}\')"'))
    with pytest.raises(ConfigError, match=r"layers\[1\]\.activation: expected one of"):
        study.load(path)
    assert not marker.exists()
    files = sorted((ROOT / "src" / "layerlab" / "study").glob("*.py"))
    assert len(files) >= 3  # the whole study package is read
    for file in files:
        assert not re.search(r"\b(eval|exec|pickle|import_module|getattr\(layerlab)\b", file.read_text()), file


def test_a_study_whose_dataset_cannot_be_found(tmp_path, hide_datasets):
    hide_datasets()
    path = tmp_path / "s.toml"
    path.write_text(TINY.replace('name = "mnist"', 'name = "fashion_mnist"'))
    s = study.load(path)  # the file is valid: the data is looked for when it is needed
    with pytest.raises(DatasetError) as info:
        s.load_data()
    text = str(info.value)
    assert text.startswith(f"{path}: dataset.name = 'fashion_mnist': fashion_mnist: no copy found") and "\n" not in text
    assert "LAYERLAB_DATA" in text  # the fix
