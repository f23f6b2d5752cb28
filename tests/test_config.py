"""Configs round-trip: optimizers and losses serialise to the dicts run stores keep (whose format
must not change) and back; an unknown name is one line naming the valid ones."""
import inspect
import json

import pytest

from layerlab import activations, initializers, losses, optimizers
from layerlab.errors import ConfigError
from layerlab.sweep import sweep

NON_DEFAULT = {  # every optimizer with every argument away from its default
    optimizers.Adam: {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6, "amsgrad": True},
    optimizers.AdamW: {"learning_rate": 0.01, "weight_decay": 0.1, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6},
    optimizers.SGD: {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
    optimizers.RMSprop: {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.5, "epsilon": 1e-6, "centered": True},
    optimizers.Adagrad: {"learning_rate": 0.01, "initial_accumulator_value": 0.5, "epsilon": 1e-6},
}


def test_every_optimizer_is_covered():
    assert set(NON_DEFAULT) == set(optimizers.OPTIMIZERS.values())


@pytest.mark.parametrize("klass", list(NON_DEFAULT), ids=lambda k: k.__name__)
def test_an_optimizer_round_trips_through_json(klass):
    opt = klass(**NON_DEFAULT[klass])
    d = optimizers.serialize(opt)
    assert d == {"class_name": klass.__name__, "config": NON_DEFAULT[klass]}  # the stored format
    back = optimizers.deserialize(json.loads(json.dumps(d)))
    assert type(back) is klass and back.get_config() == opt.get_config() and repr(back) == repr(opt)
    assert back.hparams() == opt.hparams() and back.statics() == opt.statics()


@pytest.mark.parametrize("klass", list(NON_DEFAULT), ids=lambda k: k.__name__)
def test_the_signature_is_the_one_place_for_arguments_and_defaults(klass):
    params = inspect.signature(klass).parameters
    assert klass.arguments == tuple(params) and list(klass().get_config()) == list(params)
    assert klass().get_config() == {n: p.default for n, p in params.items()}
    assert repr(klass()) == f"{klass.__name__}({', '.join(f'{n}={p.default!r}' for n, p in params.items())})"


def test_a_swept_optimizer_round_trips_with_its_sweep():
    opt = optimizers.Adam(learning_rate=sweep([0.001, 0.01]), beta_1=0.8)
    d = optimizers.serialize(opt)
    assert d["config"]["learning_rate"] == {"sweep": [0.001, 0.01]}
    back = optimizers.deserialize(json.loads(json.dumps(d)))
    assert repr(back) == ("Adam(learning_rate=sweep([0.001, 0.01]), beta_1=0.8, beta_2=0.999, epsilon=1e-07, "
                          "amsgrad=False)")
    assert back.sweeps() == {"optimizer.learning_rate": sweep([0.001, 0.01])}


def test_class_names_match_whatever_their_case():
    assert type(optimizers.deserialize({"class_name": "adamw", "config": {}})) is optimizers.AdamW


@pytest.mark.parametrize("bad", [{"class_name": "Adamm", "config": {}}, {"config": {}}, "adam"])
def test_an_unknown_optimizer_class_name(bad):
    with pytest.raises(ConfigError) as info:
        optimizers.deserialize(bad)
    text = str(info.value)
    assert "\n" not in text and text.startswith("optimizer.class_name: expected one of ")
    assert "['Adagrad', 'Adam', 'AdamW', 'RMSprop', 'SGD']" in text


def test_a_subclass_must_check_every_argument():
    with pytest.raises(TypeError, match=r"Lion: the __init__ arguments \['learning_rate', 'beta'\]"):
        class Lion(optimizers.Optimizer):  # noqa: F841
            _checks = {"learning_rate": None}

            def __init__(self, learning_rate=1e-4, beta=0.9):
                self._set(locals())


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
@pytest.mark.parametrize("from_logits", [False, True])
def test_a_loss_round_trips_through_json(name, from_logits):
    loss = losses.LOSSES[name](from_logits=from_logits)
    d = losses.serialize(loss)
    assert d == {"name": name, "config": {"from_logits": from_logits}}  # the stored format
    back = losses.deserialize(json.loads(json.dumps(d)))
    assert type(back) is type(loss) and back.get_config() == loss.get_config() and repr(back) == repr(loss)
    assert repr(type(loss).from_config(loss.get_config())) == repr(loss)


@pytest.mark.parametrize("bad", [{"name": "mse", "config": {}}, {"config": {}}, 3])
def test_an_unknown_loss_name(bad):
    with pytest.raises(ConfigError) as info:
        losses.deserialize(bad)
    text = str(info.value)
    assert "\n" not in text and text.startswith("loss.name: expected one of ")
    assert str(sorted(losses.LOSSES)) in text


def test_initializers_serialize_to_their_keras_names_as_activations_do():
    for name, fn in initializers.INITIALIZERS.items():
        assert initializers.serialize(name) == initializers.serialize(fn) == name
        assert initializers.get(initializers.serialize(fn)) is fn
    assert initializers.serialize(lambda key, shape: None) is None
    with pytest.raises(ConfigError, match=r"initializer: expected one of \[.*\]; received 'glorot'"):
        initializers.serialize("glorot")
    assert activations.serialize(activations.relu) == activations.serialize("relu") == "relu"
    assert activations.get(activations.serialize(activations.swish)) is activations.silu
