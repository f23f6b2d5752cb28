"""Several architectures in one study: fit_models and [[models]] studies train each model as
fit() would (own compile groups, same numbers), into one result and one store run that resumes
bitwise; the figures and the analysis compare the models; bad input is one line each.

The models are small dense networks of different depths, so the tests stay fast;
studies/layer-types.toml (dense vs conv vs conv+BN) is checked for what it declares."""
import pathlib
import re

import numpy as np
import pytest

import layerlab
from layerlab import analysis, cli, layers, study
from layerlab.errors import ConfigError
from layerlab.store import Store, StoreRecorder
from layerlab.training import several
from layerlab.training.several import fit_models

ROOT = pathlib.Path(__file__).resolve().parents[1]
RATES = [0.0, 0.5]


def net(hidden, rates=RATES, loss="sparse_categorical_crossentropy"):
    """Flatten -> Dense(16, relu) x hidden -> Dropout(sweep) -> Dense(10, softmax), in a fresh session."""
    layerlab.backend.clear_session()
    model = layerlab.Sequential([layers.Flatten(), *[layers.Dense(16, activation="relu") for _ in range(hidden)],
                                 layers.Dropout(layerlab.sweep(rates)), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model


def model_table(name, hidden, extra=""):
    dense = '[[models.layers]]\ntype = "Dense"\nunits = 16\nactivation = "relu"\n\n' * hidden
    return (f'[[models]]\nname = "{name}"\n{extra}\n[[models.layers]]\ntype = "Flatten"\n\n{dense}'
            f'[[models.layers]]\ntype = "Dropout"\nrate = {{ sweep = {RATES} }}\n\n'
            '[[models.layers]]\ntype = "Dense"\nunits = 10\nactivation = "softmax"\n\n')


def two_model_study(dataset='"mnist"', epochs=2, models=None):
    models = models if models is not None else model_table("one", 1) + model_table("two", 2, "batch_size = 16")
    return (f'[dataset]\nname = {dataset}\nlimit_train = 300\nlimit_test = 100\n\n'
            '[compile]\noptimizer = "adam"\nloss = "sparse_categorical_crossentropy"\nmetrics = ["accuracy"]\n\n'
            f'[fit]\nepochs = {epochs}\nseed = 1\n\n' + models)


# -- fit_models: each model as fit() trains it --------------------------------------------------------
def test_fit_models_trains_each_model_exactly_as_fit_does_alone(data):
    (x, y), val = data
    result = fit_models({"one": net(1), "two": net(2)}, x, y, validation_data=val, epochs=2, seed=3,
                        batch_size={"two": 64}, verbose=0)
    alone = [net(1).fit(x, y, validation_data=val, epochs=2, seed=3, verbose=0),
             net(2).fit(x, y, validation_data=val, epochs=2, seed=3, batch_size=64, verbose=0)]
    for k in ("loss", "accuracy", "val_loss", "val_accuracy"):  # bitwise: a model's numbers never depend on the others
        assert np.array_equal(result.metrics[k], np.concatenate([a.metrics[k] for a in alone]))
    assert [result.label(i) for i in range(4)] == ["model=one, rate=0.0", "model=one, rate=0.5",
                                                   "model=two, rate=0.0", "model=two, rate=0.5"]
    assert result.swept == ["model", "dropout.rate"] and [p["batch_size"] for p in
                                                          (h.params for h in result.histories)] == [32, 32, 64, 64]
    assert result.model(3).count_params() == alone[1].model(1).count_params() != result.model(0).count_params()
    assert np.allclose(result.model(2).predict(val[0][:5]), alone[1].model(0).predict(val[0][:5]))


def test_independent_draws_do_not_depend_on_the_models_name(data):
    (x, y), val = data
    a = fit_models({"a": net(1)}, x, y, validation_data=val, epochs=1, seed=2, independent_draws=True, verbose=0)
    b = fit_models({"b": net(1)}, x, y, validation_data=val, epochs=1, seed=2, independent_draws=True, verbose=0)
    alone = net(1).fit(x, y, validation_data=val, epochs=1, seed=2, independent_draws=True, verbose=0)
    assert np.array_equal(a.metrics["loss"], b.metrics["loss"]) and np.array_equal(a.metrics["loss"],
                                                                                   alone.metrics["loss"])


# -- a TOML study of two architectures: one run, figures, analysis ------------------------------------
@pytest.fixture(scope="module")
def two_models(tmp_path_factory, real_mnist):
    """The two-model study run once by `layerlab run`, 3 epochs: (folder, store, result)."""
    folder = tmp_path_factory.mktemp("two-models")
    (folder / "s.toml").write_text(two_model_study(epochs=3))
    store = folder / "runs.db"
    assert cli.main(["run", str(folder / "s.toml"), "--store", str(store), "--quiet"]) == 0
    return folder, store, layerlab.load_run(1, store=store)


def test_a_study_of_two_architectures_is_one_run_with_each_model_in_its_own_groups(two_models):
    folder, store, result = two_models
    with Store.open(store) as s:
        runs = s.runs()
        assert len(runs) == 1 and runs[0]["status"] == "finished" and runs[0]["variants"] == 4
        spec = s.run(1)["spec"]
    assert spec["groups"] == [[0, 1], [2, 3]] and [m["name"] for m in spec["model"]["config"]["models"]] == ["one", "two"]
    assert [v["model"] for v in result.variants] == ["one", "one", "two", "two"]
    assert result.model(0).count_params() == 12730 and result.model(3).count_params() == 13002  # each its own model
    s = study.load(folder / "s.toml")  # the Python form: the same models given to fit_models, the same numbers
    data, _ = s.data()
    (x, y), val = data
    python = fit_models({"one": net(1), "two": net(2)}, x, y, validation_data=val, epochs=3, seed=1,
                        batch_size={"two": 16}, verbose=0)
    for k in result.metrics:
        assert np.array_equal(python.metrics[k], result.metrics[k])


def test_the_figures_and_the_analysis_compare_the_models(two_models, tmp_path, capsys):
    folder, store, result = two_models
    found = result.analyze()
    table = found.architectures.table
    assert list(table["model"]) in (["one", "two"], ["two", "one"]) and list(table["rank"]) == [1, 2]
    best, second = table.iloc[0], table.iloc[1]
    assert best.best_val_loss < second.best_val_loss
    lowest = {m: np.nanmin(result.metrics["val_loss"][[i for i, v in enumerate(result.variants) if v["model"] == m]])
              for m in ("one", "two")}
    assert best.best_val_loss == lowest[best.model] and second.best_val_loss == lowest[second.model]
    head = found.findings[0]
    assert head.startswith(f"Of the models, {best.model} is best: its lowest val_loss is {best.best_val_loss:.4f}")
    diff = second.best_val_loss - best.best_val_loss
    assert f"{diff:.4f} ({diff / best.best_val_loss:.0%}) higher than {best.model}'s" in head
    assert any("overfit" in f for f in found.findings[1:3]) and "Models compared" in str(found)
    assert found.to_dict()["architectures"]["table"][0]["model"] == best.model
    assert cli.main(["plot", "1", "--out", str(tmp_path / "fig"), "--store", str(store)]) == 0
    names = {p.name for p in (tmp_path / "fig").iterdir()}
    assert {"models_val_accuracy.png", "models_val_loss.png", "sweeps_val_loss.png", "sweeps_val_accuracy.svg",
            "overview.png"} <= names
    fig = layerlab.figures.models_figure(result, "val_loss")
    lines = fig.axes[0].get_lines()  # one line per model: its best setting's curve
    assert sorted(line.get_label() for line in lines) == sorted(
        f"{r.model} ({r.best_setting})" for r in table.itertuples())
    assert min(np.min(line.get_ydata()) for line in lines) == table.best_val_loss.min()
    assert len(layerlab.figures.sweeps_figure(result).axes) == 2
    assert cli.main(["report", "1", "--out", str(tmp_path / "r.html"), "--store", str(store)]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "Models compared" in page and 'alt="models_val_accuracy"' in page and "Model &#x27;two&#x27;" in page
    capsys.readouterr()
    assert cli.main(["summary", str(folder / "s.toml")]) == 0
    out = capsys.readouterr().out
    assert "Model 'one'" in out and "Model 'two'" in out and "Total params: 13,002" in out


class _Interrupting(StoreRecorder):
    """Stops the run (as Ctrl-C would) once the second model has recorded its first epoch."""

    def epoch_end(self, group, epoch, row, state):
        super().epoch_end(group, epoch, row, state)
        if group == 1 and epoch == 0:
            raise KeyboardInterrupt


def test_an_interrupted_study_of_several_models_resumes_bitwise(two_models, tmp_path):
    folder, _, finished = two_models
    s = study.load(folder / "s.toml")
    data, dataset = s.data()
    store = tmp_path / "runs.db"
    recorder = _Interrupting(store, dataset=dataset, study={"path": str((folder / "s.toml").resolve()),
                                                            "text": s.text, "resolved": s.resolved()})
    with pytest.raises(KeyboardInterrupt):
        s.train(data, verbose=0, store=recorder, backend=layerlab.backends.Local(1))
    with Store.open(store) as st:
        assert st.run(1)["status"] == "interrupted" and st.run(1)["epochs_completed"] < 3
    assert cli.main(["run", "--resume", "1", "--store", str(store), "--quiet"]) == 0
    resumed = layerlab.load_run(1, store=store)
    for k in finished.metrics:
        assert np.array_equal(resumed.metrics[k], finished.metrics[k])


def test_a_study_of_two_datasets_is_one_run_compared_per_dataset(real_mnist, tmp_path):
    from layerlab.datasets import _locate, _registry
    if _locate.search(_registry.FASHION_MNIST)[0] is None:
        pytest.skip("no Fashion-MNIST on this machine (apt-get install dataset-fashion-mnist)")
    path = tmp_path / "s.toml"
    path.write_text(two_model_study(dataset='{ sweep = ["mnist", "fashion_mnist"] }', epochs=1))
    s = study.load(path)
    data, (name, _) = s.data()
    assert name == "mnist+fashion_mnist" and set(data) == {"mnist", "fashion_mnist"}
    result = s.train(data, verbose=0, store=tmp_path / "runs.db")
    assert [(v["dataset"], v["model"]) for v in result.variants][::2] == [
        ("mnist", "one"), ("mnist", "two"), ("fashion_mnist", "one"), ("fashion_mnist", "two")]
    fashion = layerlab.datasets.fashion_mnist.load_data()[0]
    python = fit_models({"one": net(1)}, fashion[0][:300] / 255.0, fashion[1][:300], epochs=1, seed=1, verbose=0,
                        validation_data=(data["fashion_mnist"][1]))
    assert np.array_equal(python.metrics["val_loss"], result.metrics["val_loss"][4:6])  # its numbers, as alone
    findings = result.analyze().findings
    assert findings[0].startswith("On mnist, ") and any(f.startswith("On fashion_mnist, ") for f in findings)
    assert len(layerlab.figures.sweeps_figure(result).axes) == 4  # a row per dataset, a column per model
    assert len(layerlab.load_run(1, store=tmp_path / "runs.db")) == 8


def test_the_analysis_says_which_model_is_best_by_how_much_and_where_each_overfits():
    from synthetic import make_result
    epochs = np.arange(1, 21)
    u_shape = 0.30 + 0.002 * (epochs - 6) ** 2          # lowest at epoch 6, then rising for good
    falling = 0.40 - 0.005 * epochs                      # still falling at epoch 20: no onset
    curves = {"dense": [u_shape, u_shape + 0.05], "conv": [falling - 0.2, falling - 0.19]}
    variants, val_loss = [], []
    for model, rows in curves.items():
        for rate, row in zip(RATES, rows):
            variants.append({"model": model, "dropout.rate": rate, "seed": 1})
            val_loss.append(row)
    val_loss = np.array(val_loss)
    result = make_result({"loss": val_loss - 0.1, "val_loss": val_loss, "val_accuracy": 1 - val_loss / 2},
                         variants, ["model", "dropout.rate"])
    comparison = analysis.compare_architectures(result)
    assert list(comparison.table.model) == ["conv", "dense"]
    conv, dense = comparison.table.iloc[0], comparison.table.iloc[1]
    assert (conv.best_setting, conv.best_epoch, conv.best_val_loss) == ("rate=0.0", 20, pytest.approx(0.1))
    assert (dense.best_setting, dense.best_epoch, dense.best_val_loss) == ("rate=0.0", 6, pytest.approx(0.3))
    best, conv_line, dense_line = comparison.findings
    assert best == ("Of the models, conv is best: its lowest val_loss is 0.1000 (rate=0.0, epoch 20, val_accuracy "
                    "0.9500); then dense: 0.3000 (rate=0.0, epoch 6, val_accuracy 0.8500), 0.2000 (200%) higher "
                    "than conv's, 10.00 val_accuracy points below it.")
    onset = analysis.overfitting_onset(u_shape)
    assert onset is not None and dense_line == (f"Of the models, dense starts to overfit (val_loss rising for good) "
                                                f"with rate=0.0 from epoch {onset}, rate=0.5 from epoch {onset}.")
    assert conv_line == "Of the models, conv does not overfit within 20 epochs with any setting (val_loss never " \
                        "rises for good)."
    assert analysis.compare_architectures(make_result({"val_loss": val_loss[:2]}, variants[:2],
                                                               ["model", "dropout.rate"])) is None  # one model


# -- the shipped study ---------------------------------------------------------------------------------
def test_layer_types_toml_declares_dense_conv_and_conv_bn_on_mnist_and_fashion_mnist():
    s = study.load(ROOT / "studies" / "layer-types.toml")
    models = s.models()
    assert list(models) == ["dense", "conv", "conv_bn"] and s.datasets == ["mnist", "fashion_mnist"]
    assert [m.count_params() for m in models.values()] == [101770, 34826, 35114]  # conv: Keras' simple convnet
    assert all(m.sweeps() == {"dropout.rate": layerlab.sweep([0.0, 0.2, 0.4, 0.6, 0.8])} for m in models.values())
    assert [layer.name for layer in models["conv_bn"].layers][2] == "batch_normalization"
    assert {m["name"]: m["batch_size"] for m in s._models} == {"dense": 32, "conv": None, "conv_bn": None}
    assert s.fit["batch_size"] == 128 and s.fit["epochs"] == 20
    resolved = s.resolved()
    assert [m["name"] for m in resolved["models"]] == ["dense", "conv", "conv_bn"] and "model" not in resolved


# -- bad input: one line each ----------------------------------------------------------------------------
def second(text, old, new):
    """`text` with the second `old` (the second model's) replaced."""
    at = text.index(old, text.index(old) + 1)
    return text[:at] + new + text[at + len(old):]


STUDY_ERRORS = [
    (lambda t: second(t, 'type = "Flatten"', 'type = "Conv3D"'), r"models\[1\]\.layers\[0\]\.type: expected one of"),
    (lambda t: t.replace('name = "two"', 'name = "one"'), r"models\[1\]\.name: expected a name no other model has"),
    (lambda t: t.replace('name = "two"', 'name = "conv bn"'), r"models\[1\]\.name: expected a name of letters"),
    (lambda t: t.replace('name = "two"\n', ''), r"models\[1\]\.name: missing"),
    (lambda t: t.replace("batch_size = 16", "batch_size = 0"), r"models\[1\]\.batch_size: expected an int >= 1"),
    (lambda t: t.replace("batch_size = 16", "units = 16"), r"models\[1\]\.units: unknown key"),
    (lambda t: t.replace('units = 10\n', 'units = 3\n', 1), r"models\[0\]\.layers\[3\]: expected at least 10"),
    (lambda t: t + '[[layers]]\ntype = "Dense"\nunits = 10\n', r"layers: expected \[\[layers\]\] or \[\[models\]\]"),
    (lambda t: t.replace("seed = 1", 'seed = 1\ncombinations = [{ "dropout.rate" = 0.0 }]'),
     r"fit\.combinations: expected no combinations in a study of several models"),
    (lambda t: t.replace('name = "mnist"', 'name = { sweep = ["mnist", "cifar10"] }'), r"dataset\.name: expected one of"),
    (lambda t: two_model_study(models="[[models]]\n"), r"models\[0\]\.name: missing"),
]


@pytest.mark.parametrize("edit, message", STUDY_ERRORS)
def test_a_bad_study_of_several_models_is_one_line(edit, message):
    with pytest.raises(ConfigError) as info:
        study.loads(edit(two_model_study()), "s.toml")
    text = str(info.value)
    assert "\n" not in text and text.startswith("s.toml: ") and re.search(message, text), text


def test_one_model_swept_over_datasets_and_model_of_several_are_refused_in_one_line():
    from tiny_study import tiny_study
    with pytest.raises(ConfigError, match=r"^s.toml: dataset.name: expected one dataset for a study of one model"):
        study.loads(tiny_study().replace('name = "mnist"', 'name = { sweep = ["mnist", "fashion_mnist"] }'), "s.toml")
    with pytest.raises(ConfigError, match=r"^s.toml: models: this study compares the models \['one', 'two'\]"):
        study.loads(two_model_study(), "s.toml").model()


def test_bad_arguments_of_fit_models_are_one_line(data, config_error):
    (x, y), _ = data
    one = net(1)
    config_error(several.NO_MODELS, fit_models, {}, x, y, mentions=("an empty dict",))
    config_error(several.NO_MODELS, fit_models, [one], x, y, mentions=("list",))
    config_error(several.BAD_MODEL_NAME, fit_models, {"a b": one}, x, y, mentions=("'a b'",))
    config_error(several.NOT_A_MODEL, fit_models, {"a": "dense"}, x, y, mentions=("str",))
    config_error(several.SAME_MODEL, fit_models, {"a": one, "b": one}, x, y, mentions=("'b'", "'a'"))
    other = net(1, loss="categorical_crossentropy")
    config_error(several.OTHER_LOSS, fit_models, {"a": one, "b": other}, x, y, mentions=("categorical_crossentropy",))
    config_error(several.BAD_BATCH, fit_models, {"a": one}, x, y, batch_size={"b": 16}, mentions=("'b'",))
    config_error(several.DATA_TWICE, fit_models, {"a": one}, x, y, datasets={"d": ((x, y), None)})
    config_error(several.BAD_DATASETS, fit_models, {"a": one}, datasets={"d": (x, y, x)}, mentions=("dict",))
    with pytest.raises(ConfigError, match=r"^fit_models: name: names a run in a store; received name='x' without"):
        fit_models({"a": one}, x, y, name="x")
    bare = layerlab.Sequential([layers.Flatten(), layers.Dense(10, activation="softmax")])
    config_error(layerlab.training.NOT_COMPILED, fit_models, {"a": bare}, x, y, mentions=("'a'",))
