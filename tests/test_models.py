"""Sequential: the article's model three ways, summary() byte for byte, naming, configs,
validation, and the pure init/apply pair checked against a numpy forward pass."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import layerlab
from layerlab import layers, models, sweep
from layerlab.backend import clear_session

# The article's model.summary() output, byte for byte: table rows padded to 65 columns.
ARTICLE_SUMMARY = [
    'Model: "sequential"',
    "_________________________________________________________________",
    "Layer (type)                 Output Shape              Param #   ",
    "=================================================================",
    "flatten (Flatten)            (None, 784)               0         ",
    "_________________________________________________________________",
    "dense (Dense)                (None, 128)               100480    ",
    "_________________________________________________________________",
    "dropout (Dropout)            (None, 128)               0         ",
    "_________________________________________________________________",
    "dense_1 (Dense)              (None, 10)                1290      ",
    "=================================================================",
    "Total params: 101,770",
    "Trainable params: 101,770",
    "Non-trainable params: 0",
    "_________________________________________________________________",
]


def article_model_strings():
    return layerlab.Sequential([
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ])


def article_model_functions():
    return layerlab.models.Sequential([
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation=layerlab.nn.relu),
        layers.Dropout(0.2),
        layers.Dense(10, activation=layerlab.nn.softmax),
    ])


def article_model_add():
    model = layerlab.Sequential()
    model.add(layers.Flatten(input_shape=(28, 28)))
    model.add(layers.Dense(128, activation="relu"))
    model.add(layers.Dropout(0.2))
    model.add(layers.Dense(10, activation="softmax"))
    return model


def article_model_input():
    return layerlab.Sequential([
        layers.Input(shape=(28, 28)),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ])


def article_model_jax_functions():
    return layerlab.Sequential([
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation=jax.nn.relu),
        layers.Dropout(0.2),
        layers.Dense(10, activation=jax.nn.softmax),
    ])


THREE_WAYS = [article_model_strings, article_model_functions, article_model_add]
ALL_WAYS = THREE_WAYS + [article_model_input, article_model_jax_functions]


def summary_text(model, **kwargs):
    calls = []
    model.summary(print_fn=calls.append, **kwargs)
    assert len(calls) == 1
    return calls[0]


# -- the article's model -------------------------------------------------------------------------
def test_models_sequential_is_the_same_class():
    assert layerlab.models.Sequential is layerlab.Sequential is models.Sequential


@pytest.mark.parametrize("build", ALL_WAYS)
def test_summary_prints_the_articles_table_byte_for_byte(build, capsys):
    build().summary()
    assert capsys.readouterr().out == "\n".join(ARTICLE_SUMMARY) + "\n"


def test_summary_rows_are_padded_to_65_columns():
    lines = summary_text(article_model_strings()).split("\n")
    assert all(len(line) == 65 for line in lines if "(" in line and "Model" not in line)
    assert all(len(line) == 65 for line in lines if set(line) <= {"_", "="})
    assert lines[2].endswith("Param #   ")


def test_expected_summary_is_the_article_text_and_the_seed_spec(seed_folder):
    article = (seed_folder / "original-article.de.txt").read_text(encoding="utf-8").splitlines()
    start = article.index('Model: "sequential"')
    assert article[start:start + len(ARTICLE_SUMMARY)] == ARTICLE_SUMMARY
    spec = (seed_folder / "SEED-SPEC.md").read_text(encoding="utf-8").splitlines()
    start = spec.index('Model: "sequential"')
    assert spec[start:start + len(ARTICLE_SUMMARY)] == [line.rstrip() for line in ARTICLE_SUMMARY]


def test_print_fn_is_called_once_with_the_whole_table():
    calls = []
    article_model_strings().summary(print_fn=lambda text: calls.append(text))
    assert calls == ["\n".join(ARTICLE_SUMMARY)]


def test_summary_line_length_and_positions_like_keras():
    text = summary_text(article_model_strings(), line_length=80, positions=[0.4, 0.7, 1.0])
    lines = text.split("\n")
    assert lines[1] == "_" * 80 and lines[3] == "=" * 80
    assert lines[4] == "flatten (Flatten)".ljust(32) + "(None, 784)".ljust(24) + "0".ljust(24)


@pytest.mark.parametrize("build", THREE_WAYS[1:] + [article_model_jax_functions])
def test_three_ways_give_the_same_model(build):
    reference = article_model_strings()
    ref_config, ref_summary, ref_repr = reference.get_config(), summary_text(reference), repr(reference)
    clear_session()
    other = build()
    assert other.get_config() == ref_config
    assert summary_text(other) == ref_summary
    assert repr(other) == ref_repr
    assert other.count_params() == reference.count_params() == 101770


def test_input_first_is_the_same_model_with_an_input_entry():
    model = article_model_input()
    assert model.input_shape == (28, 28)
    assert [type(layer).__name__ for layer in model.layers] == ["Flatten", "Dense", "Dropout", "Dense"]
    config = model.get_config()
    assert config["layers"][0] == {"class_name": "InputLayer", "config": {"name": "input_layer", "shape": [28, 28]}}
    clear_session()
    strings = article_model_strings().get_config()
    strings["layers"][0]["config"].pop("input_shape")
    assert config["layers"][1:] == strings["layers"]


def test_count_params_and_shapes():
    model = article_model_strings()
    assert model.count_params() == 784 * 128 + 128 + 128 * 10 + 10
    assert model.shapes() == [(784,), (128,), (128,), (10,)]


# -- automatic names -----------------------------------------------------------------------------
def names(model):
    return [model.name] + [layer.name for layer in model.layers]


def test_names_count_up_within_a_session_like_keras():
    assert names(article_model_strings()) == ["sequential", "flatten", "dense", "dropout", "dense_1"]
    second = article_model_add()
    assert names(second) == ["sequential_1", "flatten_1", "dense_2", "dropout_1", "dense_3"]
    text = summary_text(second)
    assert text.startswith('Model: "sequential_1"\n')
    assert "\n" + "flatten_1 (Flatten)".ljust(29) + "(None, 784)".ljust(26) + "0".ljust(10) + "\n" in text
    assert "\n" + "dense_3 (Dense)".ljust(29) + "(None, 10)".ljust(26) + "1290".ljust(10) + "\n" in text
    assert names(article_model_strings())[1] == "flatten_2"
    clear_session()
    assert names(article_model_strings()) == ["sequential", "flatten", "dense", "dropout", "dense_1"]


def test_names_of_the_other_layers_are_keras_snake_case():
    made = [layers.LeakyReLU(), layers.PReLU(), layers.Activation("relu"), layers.LeakyReLU(), layers.Input(shape=(2,))]
    assert [layer.name for layer in made] == ["leaky_re_lu", "p_re_lu", "activation", "leaky_re_lu_1", "input_layer"]


def test_name_argument_overrides_and_takes_no_number():
    model = layerlab.Sequential([layers.Dense(4, input_shape=(3,), name="hidden"), layers.Dense(2)], name="mlp")
    assert names(model) == ["mlp", "hidden", "dense"]
    assert summary_text(model).startswith('Model: "mlp"\n')
    assert layerlab.Sequential().name == "sequential"


def test_duplicate_names_in_one_model_are_rejected(config_error):
    from layerlab.models import DUPLICATE_NAME
    config_error(DUPLICATE_NAME, layerlab.Sequential, [layers.Dense(3, name="a"), layers.Dense(3, name="a")],
                 mentions=("layers[1]", "'a'"))
    dense = layers.Dense(3)
    model = layerlab.Sequential([dense])
    config_error(DUPLICATE_NAME, model.add, dense, mentions=("'dense'",))
    assert len(model.layers) == 1


# -- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("thing", [3, "dense", layerlab.nn.relu, None])
def test_things_that_are_not_layers_are_rejected(config_error, thing):
    from layerlab.models import NOT_A_LAYER
    config_error(NOT_A_LAYER, layerlab.Sequential, [layers.Dense(3), thing], mentions=("layers[1]", repr(thing)))
    model = layerlab.Sequential([layers.Dense(3)])
    config_error(NOT_A_LAYER, model.add, thing, mentions=("layers[1]", repr(thing)))


@pytest.mark.parametrize("thing", [3, "dense"])
def test_a_layers_argument_that_is_not_a_list_is_rejected(config_error, thing):
    from layerlab.models import NOT_A_LIST
    config_error(NOT_A_LIST, layerlab.Sequential, thing, mentions=("layers", repr(thing)))


def test_a_single_layer_is_accepted_as_the_list():
    assert len(layerlab.Sequential(layers.Dense(3)).layers) == 1


def test_input_must_come_first(config_error):
    from layerlab.models import LATE_INPUT
    config_error(LATE_INPUT, layerlab.Sequential, [layers.Flatten(), layers.Input(shape=(28, 28))],
                 mentions=("layers[1]", "Input"))
    config_error(LATE_INPUT, layerlab.Sequential, [layers.Input(shape=(2,)), layers.Input(shape=(2,))],
                 mentions=("layers[1]",))


@pytest.mark.parametrize("method", ["summary", "count_params", "shapes"])
def test_unknown_input_shape_is_a_clear_error(config_error, method):
    from layerlab.models import UNKNOWN_INPUT_SHAPE
    model = layerlab.Sequential([layers.Flatten(), layers.Dense(10)])
    config_error(UNKNOWN_INPUT_SHAPE, getattr(model, method), mentions=(f"{method}()", "input_shape", "'sequential'"))


@pytest.mark.parametrize("method", ["summary", "count_params", "pop"])
def test_empty_model_is_a_clear_error(config_error, method):
    from layerlab.models import NO_LAYERS
    config_error(NO_LAYERS, getattr(layerlab.Sequential(), method), mentions=(f"{method}()", "'sequential'", "add"))


def test_bad_model_name_is_rejected(config_error):
    config_error(None, layerlab.Sequential, [], name="", mentions=("name", "''"))


# -- build, pop, layers --------------------------------------------------------------------------
@pytest.mark.parametrize("batch", [None, 32])
def test_build_fixes_the_input_shape_so_summary_works(batch):
    model = layerlab.Sequential([layers.Flatten(), layers.Dense(128, activation="relu"),
                                 layers.Dropout(0.2), layers.Dense(10, activation="softmax")])
    model.build((batch, 28, 28))     # the first axis is the batch, as in Keras
    assert model.input_shape == (28, 28)
    assert summary_text(model) == "\n".join(ARTICLE_SUMMARY)


def test_build_rejects_a_shape_without_sample_axes(config_error):
    from layerlab.layers.base import BAD_INPUT_SHAPE
    model = layerlab.Sequential([layers.Dense(3)])
    config_error(BAD_INPUT_SHAPE, model.build, (None,), mentions=("build", "input_shape"))
    config_error(BAD_INPUT_SHAPE, model.build, (None, 0), mentions=("build", "(0,)"))


def test_pop_removes_and_returns_the_last_layer():
    model = article_model_strings()
    last = model.pop()
    assert last.name == "dense_1" and isinstance(last, layers.Dense)
    assert [layer.name for layer in model.layers] == ["flatten", "dense", "dropout"]
    assert model.count_params() == 100480
    assert "dense_1" not in summary_text(model)
    model.add(layers.Dense(5))
    assert model.count_params() == 100480 + 128 * 5 + 5


def test_layers_property_is_a_copy():
    model = article_model_strings()
    model.layers.clear()
    assert len(model.layers) == 4


# -- sweeps in a model ---------------------------------------------------------------------------
def test_a_rate_sweep_does_not_change_the_summary():
    model = layerlab.Sequential([layers.Flatten(input_shape=(28, 28)), layers.Dense(128, activation="relu"),
                                 layers.Dropout(sweep([0.0, 0.2, 0.4])), layers.Dense(10, activation="softmax")])
    assert model.sweeps() == {"dropout.rate": sweep([0.0, 0.2, 0.4])}
    assert summary_text(model) == "\n".join(ARTICLE_SUMMARY)
    assert model.count_params() == 101770


def test_a_units_sweep_prints_one_table_per_compile_group(config_error):
    from layerlab.models import SHAPE_SWEPT
    model = layerlab.Sequential([layers.Dense(sweep([2, 3]), input_shape=(4,)), layers.Dense(1)])
    calls = []
    model.summary(print_fn=calls.append)
    assert calls[0] == "Compile group 1 of 2: dense.units=2"
    assert calls[2] == "Compile group 2 of 2: dense.units=3"
    assert "Total params: 13" in calls[1] and "Total params: 19" in calls[3]
    config_error(SHAPE_SWEPT, model.count_params, mentions=("count_params()", "dense.units"))
    config_error(SHAPE_SWEPT, model.shapes, mentions=("shapes()", "dense.units"))


def test_an_activation_sweep_keeps_shapes_and_counts():
    model = layerlab.Sequential([layers.Dense(3, activation=sweep(["relu", "tanh"]), input_shape=(4,)),
                                 layers.Dense(2)])
    assert model.count_params() == 15 + 8
    assert model.shapes() == [(3,), (2,)]
    calls = []
    model.summary(print_fn=calls.append)
    assert calls[0] == "Compile group 1 of 2: dense.activation='relu'" and len(calls) == 4


# -- configs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("build", ALL_WAYS)
def test_model_config_round_trips_through_json(build):
    model = build()
    text = json.dumps(model.get_config())
    again = layerlab.Sequential.from_config(json.loads(text))
    assert json.dumps(again.get_config()) == text
    assert repr(again) == repr(model)
    assert summary_text(again) == summary_text(model)


def test_model_config_with_sweeps_round_trips_through_json():
    model = layerlab.Sequential([layers.Input(shape=(8,)),
                                 layers.Dense(sweep([16, 32]), activation=sweep(["relu", "tanh"])),
                                 layers.LeakyReLU(sweep([0.1, 0.3])), layers.Dropout(sweep([0.0, 0.5])),
                                 layers.Dense(2)])
    text = json.dumps(model.get_config())
    again = layerlab.Sequential.from_config(json.loads(text))
    assert again.sweeps() == model.sweeps() == {
        "dense.units": sweep([16, 32]), "dense.activation": sweep(["relu", "tanh"]),
        "leaky_re_lu.negative_slope": sweep([0.1, 0.3]), "dropout.rate": sweep([0.0, 0.5])}
    assert json.dumps(again.get_config()) == text


def test_from_config_rejects_an_unknown_layer_class(config_error):
    from layerlab.models import UNKNOWN_LAYER_CLASS
    config = {"name": "m", "layers": [{"class_name": "LSTM", "config": {}}]}
    config_error(UNKNOWN_LAYER_CLASS, layerlab.Sequential.from_config, config, mentions=("class_name", "'LSTM'"))


def test_from_config_with_missing_arguments_is_one_line(config_error):
    from layerlab.layers.base import BAD_CONFIG
    config = {"name": "m", "layers": [{"class_name": "Conv2D", "config": {"filters": 4}}]}
    config_error(BAD_CONFIG, layerlab.Sequential.from_config, config, mentions=("Conv2D", "kernel_size"))


def test_repr_shows_the_layers_and_the_name():
    assert repr(article_model_input()) == (
        "Sequential([InputLayer(shape=(28, 28), name='input_layer'), Flatten(data_format=None, name='flatten'), "
        "Dense(units=128, activation='relu', use_bias=True, kernel_initializer='glorot_uniform', "
        "bias_initializer='zeros', name='dense'), Dropout(rate=0.2, seed=None, name='dropout'), "
        "Dense(units=10, activation='softmax', use_bias=True, kernel_initializer='glorot_uniform', "
        "bias_initializer='zeros', name='dense_1')], name='sequential')")


# -- the pure pair, against numpy ----------------------------------------------------------------
def numpy_forward(weights, x):
    """The article's model at inference in float64 numpy: the reference implementation."""
    k1, b1, k2, b2 = (np.asarray(w, np.float64) for w in weights)
    h = np.maximum(x.reshape(len(x), -1) @ k1 + b1, 0)
    z = h @ k2 + b2
    z = z - z.max(axis=-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


def test_init_and_apply_match_a_numpy_forward_pass():
    model = article_model_strings()
    params = model.init(jax.random.PRNGKey(0))
    assert [{k: v.shape for k, v in p.items()} for p in params] == [
        {}, {"kernel": (784, 128), "bias": (128,)}, {}, {"kernel": (128, 10), "bias": (10,)}]
    x = np.random.default_rng(1).uniform(size=(5, 28, 28)).astype(np.float32)
    y = np.asarray(model.apply(params, x))
    assert y.shape == (5, 10)
    weights = [params[1]["kernel"], params[1]["bias"], params[3]["kernel"], params[3]["bias"]]
    np.testing.assert_allclose(y, numpy_forward(weights, x), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(y.sum(axis=-1), np.ones(5), rtol=1e-5)
    logits = model.apply(params, x, logits=True)           # softmax left for the loss
    np.testing.assert_allclose(np.asarray(jax.nn.softmax(logits)), y, rtol=1e-5, atol=1e-7)


def test_model_apply_vmaps_dropout_rates_through_hparams_under_jit():
    model = article_model_strings()
    params = model.init(jax.random.PRNGKey(0))
    x = np.random.default_rng(1).uniform(size=(4, 28, 28)).astype(np.float32)
    hp = model.hparams()
    assert hp == [{}, {}, {"rate": 0.2}, {}]
    traces = []

    @jax.jit
    def run(rates):
        traces.append(1)
        one = lambda r: model.apply(params, x, [{}, {}, {"rate": r}, {}], key=jax.random.PRNGKey(2), train=True)
        return jax.vmap(one)(rates)

    out = run(jnp.array([0.0, 0.5]))
    run(jnp.array([0.3, 0.9]))
    assert len(traces) == 1
    assert out.shape == (2, 4, 10)
    # rate 0 in training equals inference; rate 0.5 changes the outputs
    np.testing.assert_allclose(np.asarray(out[0]), np.asarray(model.apply(params, x)), rtol=1e-5)
    assert not np.allclose(np.asarray(out[1]), np.asarray(out[0]))


def test_set_weights_and_get_weights_in_keras_order():
    model = article_model_strings()
    rng = np.random.default_rng(0)
    shapes = [(784, 128), (128,), (128, 10), (10,)]
    weights = [rng.normal(size=s).astype(np.float32) for s in shapes]
    model.set_weights(weights)
    got = model.get_weights()
    assert [w.shape for w in got] == shapes
    for a, b in zip(got, weights):
        np.testing.assert_array_equal(a, b)
    x = rng.uniform(size=(3, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model.apply(model.params, x)), numpy_forward(weights, x), rtol=1e-4, atol=1e-6)


def test_set_weights_checks_count_and_shapes(config_error):
    model = article_model_strings()
    good = [np.zeros(s, np.float32) for s in [(784, 128), (128,), (128, 10), (10,)]]
    config_error(None, model.set_weights, good[:3], mentions=("set_weights", "weights", "4", "3"))
    bad = good[:1] + [np.zeros((127,), np.float32)] + good[2:]
    config_error(None, model.set_weights, bad, mentions=("set_weights", "bias", "(128,)", "(127,)"))
    assert model.params is None


def test_get_weights_before_any_weights_is_a_clear_error(config_error):
    config_error(None, article_model_strings().get_weights, mentions=("get_weights()", "'sequential'"))
