"""fit() with Keras' semantics, and sweeps trained together: the engine against single runs,
a plain optax loop as the reference, determinism, recompilation, divergence and bad input."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import layerlab
from layerlab import layers
from layerlab.errors import ConfigError
from layerlab.layers.regularization import NO_NOISE_SHAPE
from layerlab.training.checks import UNSUPPORTED


def mlp(rate=0.2, units=16, classes=4, activation="relu", shape=(6, 6)):
    return layerlab.Sequential([
        layers.Flatten(input_shape=shape),
        layers.Dense(units, activation=activation),
        layers.Dropout(rate),
        layers.Dense(classes, activation="softmax"),
    ])


def compiled(model, optimizer="adam"):
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_single_model_returns_keras_history(data):
    (x, y), (xv, yv) = data
    model = compiled(mlp())
    history = model.fit(x, y, validation_data=(xv, yv), epochs=3, seed=1, verbose=0)
    assert isinstance(history, layerlab.History)
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(v) == 3 and all(isinstance(f, float) for f in v) for v in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert history.params["epochs"] == 3 and history.params["steps"] == -(-600 // 32)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, acc = model.evaluate(xv, yv)
    assert loss == pytest.approx(history.history["val_loss"][-1], rel=1e-5)
    assert acc == pytest.approx(history.history["val_accuracy"][-1], abs=1e-6)
    probs = model.predict(xv)
    assert probs.shape == (200, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(probs.argmax(1) == yv) == pytest.approx(acc, abs=1e-6)


def test_history_without_validation_or_metrics(data):
    (x, y), _ = data
    model = mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=2, seed=0, verbose=0)
    assert list(history.history) == ["loss"]
    assert isinstance(model.evaluate(x, y), float)


def test_validation_split_holds_out_the_last_samples(data):
    (x, y), _ = data
    model = compiled(mlp())
    history = model.fit(x, y, epochs=1, validation_split=0.25, seed=0, verbose=0)
    assert history.params["steps"] == -(-450 // 32)
    assert model.evaluate(x[450:], y[450:])[0] == pytest.approx(history.history["val_loss"][0], rel=1e-5)


def test_same_seed_gives_bitwise_the_same_history(data):
    (x, y), (xv, yv) = data
    runs = []
    for _ in range(2):
        model = compiled(mlp(layerlab.sweep([0.0, 0.5])))
        runs.append(model.fit(x, y, validation_data=(xv, yv), epochs=2, seed=3, verbose=0).metrics)
    for k in runs[0]:
        assert np.array_equal(runs[0][k], runs[1][k]), k
    other = compiled(mlp(layerlab.sweep([0.0, 0.5]))).fit(x, y, epochs=2, seed=4, verbose=0)
    assert not np.array_equal(other.metrics["loss"], runs[0]["loss"])


def test_sweep_of_five_equals_five_single_runs(data):
    (x, y), (xv, yv) = data
    rates = [0.0, 0.2, 0.4, 0.6, 0.8]
    result = compiled(mlp(layerlab.sweep(rates))).fit(x, y, validation_data=(xv, yv), epochs=3, seed=1, verbose=0)
    assert [v["dropout.rate"] for v in result.variants] == rates  # the layer is 'dropout' in a fresh session
    for i, rate in enumerate(rates):
        layerlab.backend.clear_session()
        single = compiled(mlp(rate)).fit(x, y, validation_data=(xv, yv), epochs=3, seed=1, verbose=0)
        for k, values in single.history.items():
            np.testing.assert_allclose(result.histories[i].history[k], values, rtol=1e-5, atol=1e-5, err_msg=k)


def test_variant_result_does_not_depend_on_its_neighbours(data):
    (x, y), _ = data
    a = compiled(mlp(layerlab.sweep([0.1, 0.3]))).fit(x, y, epochs=2, seed=2, verbose=0)
    b = compiled(mlp(layerlab.sweep([0.3, 0.7, 0.1, 0.9]))).fit(x, y, epochs=2, seed=2, verbose=0)
    np.testing.assert_allclose(a.metrics["loss"][0], b.metrics["loss"][2], rtol=1e-5)
    np.testing.assert_allclose(a.metrics["loss"][1], b.metrics["loss"][0], rtol=1e-5)


def plain_loop(x, y, tx, seed, epochs=2, batch=48):
    """The reference: mlp(0.0) trained by hand with the optax transformation `tx`, batch by batch in
    fixed order; (losses, accuracies, weights in get_weights' order)."""
    layerlab.backend.clear_session()
    ref = mlp(0.0)
    params = ref.init(jax.random.fold_in(jax.random.PRNGKey(seed), 0), (6, 6))
    opt_state = tx.init(params)

    def loss_fn(p, xb, yb):
        logits = ref.apply(p, xb, logits=True)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean(), logits

    n = len(x)
    losses, accs = [], []
    for _ in range(epochs):
        total = correct = 0.0
        for start in range(0, n, batch):  # the last batch may be partial and is kept
            xb, yb = jnp.asarray(x[start:start + batch]), jnp.asarray(y[start:start + batch], jnp.int32)
            (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, xb, yb)
            updates, opt_state = tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            total += float(loss) * len(yb)
            correct += float(jnp.sum(jnp.argmax(logits, -1) == yb))
        losses.append(total / n)
        accs.append(correct / n)
    weights = [np.asarray(params[i][k]) for i in (1, 3) for k in ("kernel", "bias")]
    return losses, accs, weights


def test_engine_matches_a_plain_optax_loop(data):
    """The reference: the same model trained by hand, batch by batch, in fixed order."""
    (x, y), _ = data
    x, y = x[:200], y[:200]
    model = compiled(mlp(0.0))
    history = model.fit(x, y, epochs=2, batch_size=48, shuffle=False, seed=5, verbose=0)
    # 200 samples in batches of 48: the last batch has 8 samples and is kept.
    losses, accs, weights = plain_loop(x, y, optax.adam(1e-3, b1=0.9, b2=0.999, eps=1e-7), seed=5)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-5)
    np.testing.assert_allclose(history.history["accuracy"], accs, atol=1e-6)
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_no_recompilation_after_the_first_epoch(data):
    (x, y), (xv, yv) = data
    model = compiled(mlp(layerlab.sweep([0.0, 0.5])))
    model.fit(x[:123], y[:123], validation_data=(xv, yv), epochs=1, seed=0, verbose=0)
    (program,) = model.compiled.programs.values()
    compiled_once = program.epoch._cache_size()
    model.fit(x[:123], y[:123], validation_data=(xv, yv), epochs=4, seed=1, verbose=0)
    assert program.epoch._cache_size() == compiled_once  # epochs 2-4 and the refit reused it
    layerlab.backend.clear_session()
    twin = compiled(mlp(layerlab.sweep([0.1, 0.2, 0.3])))  # same structure: a new model shares it
    twin.fit(x[:123], y[:123], validation_data=(xv, yv), epochs=2, seed=0, verbose=0)
    assert list(twin.compiled.programs.values()) == [program]
    assert program.epoch._cache_size() == compiled_once + 1  # three variants: one new shape


def test_common_random_numbers_share_initial_weights_and_independent_draws_do_not(data):
    (x, y), _ = data
    model = compiled(mlp(layerlab.sweep([0.0, 0.5])))
    crn = model.fit(x, y, epochs=1, seed=0, verbose=0)
    # Same init: Dense biases start at zero, but kernels differ only through training; compare the
    # output layer after one epoch of a tiny learning rate instead of training effects.
    tiny = compiled(mlp(layerlab.sweep([0.0, 0.5])), layerlab.optimizers.SGD(learning_rate=1e-12))
    same = tiny.fit(x, y, epochs=1, seed=0, verbose=0)
    np.testing.assert_allclose(same.model(0).get_weights()[0], same.model(1).get_weights()[0], atol=1e-9)
    indep = compiled(mlp(layerlab.sweep([0.0, 0.5])), layerlab.optimizers.SGD(learning_rate=1e-12)).fit(
        x, y, epochs=1, seed=0, verbose=0, independent_draws=True)
    assert not np.allclose(indep.model(0).get_weights()[0], indep.model(1).get_weights()[0])
    assert crn.variants == [{"dropout.rate": 0.0, "seed": 0}, {"dropout.rate": 0.5, "seed": 0}]


def draws(program, keys, epoch, n):
    """Per stream of `keys`: the epoch's batch order (steps, B) and its first chunk's dropout draws,
    made by the program's own functions from the stream's keys as its epoch makes them."""
    out = []
    for s in range(len(keys.shuffle)):
        order, _ = program._batches(keys.shuffle[s], epoch, n)
        chunk_key = jax.random.fold_in(jax.random.fold_in(keys.dropout[s], epoch), 0)
        steps = min(layerlab.engine.NOISE_STEPS, order.shape[0])
        noise = program.model.noise_draws(chunk_key, (steps, program.batch_size), program.in_shape)
        out.append((np.asarray(order), [np.asarray(u) for u in noise if u is not None]))
    return out


@pytest.fixture(scope="module")
def draw_runs(data):
    """Two variants of seed 0 whose setting barely matters (SGD learning rates 1e-5 apart,
    relatively; dropout 0.5; shuffled batches), trained under common random numbers and twice with
    independent draws: {kind: [(loss (2, epochs), [(keys, draws per stream) per epoch])]}. A spy on
    the local backend sees each epoch's stream keys."""
    from layerlab.backends import local
    (x, y), _ = data
    seen, real = [], local.run_epoch

    def spy(program, state, hp, keys, epoch, *args):
        seen.append((keys, draws(program, keys, int(epoch), len(x))))
        return real(program, state, hp, keys, epoch, *args)

    def run(**kwargs):
        seen.clear()
        layerlab.backend.clear_session()
        opt = layerlab.optimizers.SGD(learning_rate=layerlab.sweep([0.05, 0.05 * (1 + 1e-5)]), momentum=0.9)
        result = compiled(mlp(0.5), opt).fit(x, y, epochs=2, seed=0, verbose=0,
                                             backend=layerlab.backends.Local(workers=1), **kwargs)
        return result.metrics["loss"], list(seen)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(local, "run_epoch", spy)
        return {"common": [run()], "independent": [run(independent_draws=True), run(independent_draws=True)]}


def test_common_random_numbers_share_batch_order_and_dropout_draws(draw_runs):
    """Under common random numbers both variants train on one stream, the seed's: the same
    initial weights, the same batches and the same masks, step by step; so the two barely
    different settings follow one trajectory. With independent draws the same pair differs by
    orders of magnitude more."""
    (shared, epochs), = draw_runs["common"]
    assert len(epochs) == 2
    for keys, _ in epochs:
        assert keys.shuffle.shape == (1, 2)  # one stream: both variants train on its batches and masks
        expected = layerlab.engine.stream_keys(jax.random.PRNGKey(0)[None])
        assert all(np.array_equal(a, b) for a, b in zip(keys, expected))
    shared_gap = np.abs(shared[0] - shared[1]).max()
    own = draw_runs["independent"][0][0]
    own_gap = np.abs(own[0] - own[1]).max()
    assert shared_gap < 1e-4 * shared.max(), shared_gap
    assert own_gap > 100 * max(shared_gap, 1e-7), (own_gap, shared_gap)


def test_independent_draws_give_each_variant_its_batches_and_masks_reproducibly(draw_runs):
    """independent_draws=True gives each variant a stream of its own, whose batch order and
    dropout draws differ from the other's, and are the same in a second run (bitwise the same loss)."""
    (first, first_epochs), (again, again_epochs) = draw_runs["independent"]
    assert np.array_equal(first, again)
    for (keys, (a, b)), (keys_again, per_stream_again) in zip(first_epochs, again_epochs):
        assert keys.shuffle.shape == (2, 2)  # a stream per variant
        assert not np.array_equal(a[0], b[0])  # batch orders differ
        assert len(a[1]) == 1 and not np.array_equal(a[1][0], b[1][0])  # dropout draws differ
        for name in keys._fields:
            assert np.array_equal(getattr(keys, name), getattr(keys_again, name)), name
        for (order, noise), (order_again, noise_again) in zip((a, b), per_stream_again):
            assert np.array_equal(order, order_again) and np.array_equal(noise[0], noise_again[0])
    # Each epoch draws anew: epoch 2's batch order is not epoch 1's.
    assert not np.array_equal(first_epochs[0][1][0][0], first_epochs[1][1][0][0])


def test_seed_sweep_repeats_and_learning_rate_sweep_form_a_grid(data):
    (x, y), _ = data
    model = compiled(mlp(layerlab.sweep([0.0, 0.5])), layerlab.optimizers.Adam(learning_rate=layerlab.sweep([1e-3, 1e-2])))
    result = model.fit(x, y, epochs=1, repeats=3, seed=10, verbose=0)
    assert len(result) == 2 * 2 * 3
    assert result.variants[0] == {"dropout.rate": 0.0, "optimizer.learning_rate": 1e-3, "seed": 10}
    assert result.variants[-1] == {"dropout.rate": 0.5, "optimizer.learning_rate": 1e-2, "seed": 12}
    frame = result.to_frame()
    assert {"variant", "dropout.rate", "optimizer.learning_rate", "seed", "epoch", "metric", "value"} <= set(frame)
    assert len(frame) == 12 * 1 * 2
    # The lr=1e-2 variant of a seed equals the same variant trained alone.
    layerlab.backend.clear_session()
    alone = compiled(mlp(0.5), layerlab.optimizers.Adam(learning_rate=1e-2)).fit(x, y, epochs=1, seed=11, verbose=0)
    i = result.variants.index({"dropout.rate": 0.5, "optimizer.learning_rate": 1e-2, "seed": 11})
    np.testing.assert_allclose(result.metrics["loss"][i], alone.history["loss"], rtol=1e-5)


def test_explicit_combinations(data):
    (x, y), _ = data
    model = compiled(mlp(layerlab.sweep([0.0, 0.5])), layerlab.optimizers.Adam(learning_rate=layerlab.sweep([1e-3, 1e-2])))
    result = model.fit(x, y, epochs=1, seed=0, verbose=0, combinations=[
        {"dropout.rate": 0.0, "optimizer.learning_rate": 1e-3}, {"dropout.rate": 0.5, "optimizer.learning_rate": 1e-2}])
    assert len(result) == 2
    with pytest.raises(ConfigError, match=r"combinations\[0\]"):
        model.fit(x, y, epochs=1, verbose=0, combinations=[{"dropout.rate": 0.3, "optimizer.learning_rate": 1e-3}])


def test_shape_settings_form_separate_compile_groups(data):
    (x, y), (xv, yv) = data
    model = compiled(mlp(layerlab.sweep([0.0, 0.4]), units=layerlab.sweep([8, 16]),
                         activation=layerlab.sweep(["relu", "tanh"])))
    result = model.fit(x, y, validation_data=(xv, yv), epochs=1, seed=0, verbose=0)
    assert len(result) == 8
    assert len(model.compiled.programs) == 4  # units x activation; the rates share a program
    i = result.variants.index({"dense.units": 8, "dense.activation": "tanh", "dropout.rate": 0.4, "seed": 0})
    trained = result.model(i)
    assert trained.layers[1].units == 8 and trained.layers[1].activation == "tanh"
    assert trained.evaluate(xv, yv)[0] == pytest.approx(result.metrics["val_loss"][i, -1], rel=1e-5)
    layerlab.backend.clear_session()
    alone = compiled(mlp(0.4, units=8, activation="tanh")).fit(x, y, validation_data=(xv, yv), epochs=1, seed=0, verbose=0)
    np.testing.assert_allclose(result.metrics["val_loss"][i], alone.history["val_loss"], rtol=1e-5)


def test_batch_size_sweep(data):
    (x, y), _ = data
    result = compiled(mlp()).fit(x, y, epochs=1, batch_size=layerlab.sweep([32, 100]), seed=0, verbose=0)
    assert [v["batch_size"] for v in result.variants] == [32, 100]


def test_a_diverging_variant_is_marked_and_does_not_disturb_the_others(data):
    (x, y), _ = data
    opt = layerlab.optimizers.SGD(learning_rate=layerlab.sweep([0.01, 1e6]))
    result = compiled(mlp(0.0), opt).fit(x, y, epochs=3, seed=0, verbose=0)
    assert result.diverged_at[0] is None
    assert result.diverged_at[1] is not None and 1 <= result.diverged_at[1] <= 3
    layerlab.backend.clear_session()
    alone = compiled(mlp(0.0), layerlab.optimizers.SGD(learning_rate=0.01)).fit(x, y, epochs=3, seed=0, verbose=0)
    np.testing.assert_allclose(result.metrics["loss"][0], alone.history["loss"], rtol=1e-5)


@pytest.mark.parametrize("optimizer", [  # each class once, its flags and numbers away from the defaults
    layerlab.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
    layerlab.optimizers.RMSprop(learning_rate=0.01, rho=0.8, momentum=0.5, epsilon=0.1, centered=True),
    layerlab.optimizers.Adagrad(learning_rate=0.1, initial_accumulator_value=0.5, epsilon=0.1),
    layerlab.optimizers.Adam(learning_rate=0.01, epsilon=0.1, amsgrad=True),
    layerlab.optimizers.AdamW(learning_rate=0.01, weight_decay=0.3, epsilon=0.1),
], ids=repr)
def test_the_engine_trains_with_each_optimizers_update(data, optimizer):
    """The engine (numbers injected per variant) equals a plain loop over the optimizer's optax
    transformation; tests/test_optimizers.py checks that transformation against Keras' formulas."""
    (x, y), _ = data
    x, y = x[:200], y[:200]
    model = compiled(mlp(0.0), optimizer)
    history = model.fit(x, y, epochs=2, batch_size=48, shuffle=False, seed=5, verbose=0)
    tx = layerlab.optimizers.get(optimizer).transform()
    losses, accs, weights = plain_loop(x, y, tx, seed=5)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-5)
    np.testing.assert_allclose(history.history["accuracy"], accs, atol=1e-6)
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_optimizer_defaults_are_keras_defaults():
    adam = layerlab.optimizers.get("adam")
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    sgd = layerlab.optimizers.get("sgd")
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov) == (0.01, 0.0, False)
    rms = layerlab.optimizers.get("rmsprop")
    assert (rms.learning_rate, rms.rho, rms.epsilon) == (0.001, 0.9, 1e-7)
    assert layerlab.optimizers.get("adamw").weight_decay == 0.004
    with pytest.raises(ConfigError, match="Did you mean 'adam'"):
        layerlab.optimizers.get("adma")
    with pytest.raises(ConfigError, match="learning_rate"):
        layerlab.optimizers.Adam(learning_rate=-1)


def test_categorical_crossentropy_on_one_hot_equals_sparse(data):
    (x, y), _ = data
    sparse = compiled(mlp(0.0)).fit(x, y, epochs=2, seed=0, verbose=0)
    layerlab.backend.clear_session()
    model = mlp(0.0)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    dense = model.fit(x, np.eye(4)[y], epochs=2, seed=0, verbose=0)
    np.testing.assert_allclose(dense.history["loss"], sparse.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(dense.history["accuracy"], sparse.history["accuracy"], atol=1e-6)


def test_binary_crossentropy_with_a_sigmoid_output(data):
    """On linearly separable labels a sigmoid output learns them (chance is about 0.5), and the
    accuracy it reports is numpy's on its own predictions."""
    (x, _), (xv, _) = data
    direction = np.random.default_rng(3).normal(size=36)
    cut = np.median(x.reshape(len(x), -1) @ direction)  # a hyperplane through the middle of x
    target, val_target = ((a.reshape(len(a), -1) @ direction > cut).astype(np.float32) for a in (x, xv))
    assert target.mean() == 0.5 and 0.35 < val_target.mean() < 0.65  # guessing one class scores <= 0.65
    model = layerlab.Sequential([layers.Flatten(input_shape=(6, 6)), layers.Dense(8, activation="relu"),
                                 layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=layerlab.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, target, validation_data=(xv, val_target), epochs=10, seed=0, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9
    assert history.history["val_accuracy"][-1] > 0.9
    predicted = model.predict(xv)[:, 0] > 0.5
    assert history.history["val_accuracy"][-1] == pytest.approx(np.mean(predicted == val_target), abs=1e-6)


def test_softmax_output_loss_is_computed_from_logits():
    """tf.keras folds a softmax output into the loss: exact where log(softmax) underflows."""
    loss = layerlab.losses.get("sparse_categorical_crossentropy")
    assert loss.folds("softmax") and not loss.folds("linear")
    logits = jnp.array([[200.0, 0.0, -200.0]])
    assert float(loss.per_sample(logits, jnp.array([2]), True)[0]) == pytest.approx(400.0, rel=1e-6)


# docs/keras-differences.md: "Unsupported fit arguments (...) raise a one-line error instead of
# being ignored". Each with a value other than Keras' default, and the default itself.
UNSUPPORTED_FIT = [("class_weight", {0: 1.0, 1: 2.0}, None),
                   ("sample_weight", np.ones(600), None), ("initial_epoch", 1, 0),
                   ("steps_per_epoch", 5, None), ("validation_steps", 2, None),
                   ("validation_batch_size", 64, None), ("validation_freq", 2, 1)]


@pytest.mark.parametrize("arg, value, default", UNSUPPORTED_FIT, ids=[a for a, _, _ in UNSUPPORTED_FIT])
def test_unsupported_keras_arguments_say_so(data, config_error, arg, value, default):
    (x, y), (xv, yv) = data
    message = config_error(UNSUPPORTED, compiled(mlp()).fit, x, y, validation_data=(xv, yv), verbose=0,
                           mentions=(f"fit: {arg}: ", f"received {arg}=", f"default ({default!r})"), **{arg: value})
    assert message.startswith(f"fit: {arg}: not supported"), message


def test_unsupported_keras_arguments_at_their_defaults_are_accepted(data):
    (x, y), (xv, yv) = data
    defaults = {arg: default for arg, _, default in UNSUPPORTED_FIT}
    assert len(defaults) == 7
    history = compiled(mlp()).fit(x, y, validation_data=(xv, yv), epochs=1, seed=0, verbose=0, **defaults)
    assert len(history.history["val_loss"]) == 1


@pytest.mark.parametrize("noise_shape", [(None, 1), (1, 16)])
def test_dropout_noise_shape_is_refused_in_one_line(config_error, noise_shape):
    config_error(NO_NOISE_SHAPE, layers.Dropout, 0.5, noise_shape=noise_shape,
                 mentions=("Dropout: noise_shape: ", repr(noise_shape)))
    assert layers.Dropout(0.5, noise_shape=None).rate == 0.5


@pytest.mark.parametrize("call, pattern", [
    (lambda m, x, y: m.fit(x.reshape(len(x), -1), y, verbose=0), r"fit: x: expected samples of shape \(6, 6\).*received shape \(600, 36\)"),
    (lambda m, x, y: m.fit(x, y + 4, verbose=0), r"fit: y: expected integer class labels in \[0, 4\).*received values from 4 to 7"),
    (lambda m, x, y: m.fit(x, y[:-1], verbose=0), r"fit: y: expected 600 labels, one per sample of x; received 599"),
    (lambda m, x, y: m.fit(x[:0], y[:0], verbose=0), r"fit: x: expected at least one sample; received an empty array"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x[:, :3], y), verbose=0), r"validation_data\[0\]: expected samples of shape"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x, y[:5]), verbose=0), r"validation_data\[1\]: expected 600 labels"),
    (lambda m, x, y: m.fit(x, y, validation_data=x, verbose=0), r"validation_data: expected a tuple"),
    (lambda m, x, y: m.fit(x, y, epochs=0, verbose=0), r"fit: epochs: expected a positive int; received 0"),
    (lambda m, x, y: m.fit(x, y, seed=-1, verbose=0), r"fit: seed: expected an int >= 0"),
    (lambda m, x, y: m.fit(np.array([["a"] * 36] * 2).reshape(2, 6, 6), y[:2], verbose=0), r"fit: x: expected a numeric array"),
])
def test_fit_time_errors_are_one_line_with_the_fix(data, call, pattern):
    (x, y), _ = data
    with pytest.raises(ConfigError, match=pattern) as info:
        call(compiled(mlp()), x, y)
    assert "\n" not in str(info.value)


def test_fit_before_compile_and_evaluate_before_fit(data):
    (x, y), _ = data
    with pytest.raises(ConfigError, match=r"fit: model 'sequential' is not compiled; expected compile\(\) first"):
        mlp().fit(x, y)
    with pytest.raises(ConfigError, match=r"evaluate: .*has no trained weights"):
        compiled(mlp()).evaluate(x, y)


def test_input_shape_is_taken_from_x_when_the_model_has_none(data):
    (x, y), _ = data
    model = layerlab.Sequential([layers.Flatten(), layers.Dense(4, activation="softmax")])
    compiled(model).fit(x, y, epochs=1, seed=0, verbose=0)
    assert model.predict(x[:3]).shape == (3, 4)


def test_verbose_2_prints_one_line_per_epoch(data, capsys):
    (x, y), _ = data
    compiled(mlp()).fit(x, y, epochs=2, seed=0, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in out] == ["Epoch 1/2", "Epoch 2/2"]
    assert "loss: " in out[0] and "accuracy: " in out[0]


def test_a_sweeps_epoch_line_names_its_best_variant_and_the_range(data, capsys):
    (x, y), (xv, yv) = data
    result = compiled(mlp(layerlab.sweep([0.0, 0.3, 0.6]))).fit(x, y, validation_data=(xv, yv), epochs=2, seed=0,
                                                                  verbose=2, backend=layerlab.backends.Local(1))
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in out] == ["Epoch 1/2", "Epoch 2/2"]
    val = result.metrics["val_loss"][:, 1]
    best = int(np.argmin(val))
    assert f"best of 3 variants by val_loss: {result.label(best)} with val_loss {val[best]:.4f}" in out[1], out[1]
    assert f"val_accuracy {result.metrics['val_accuracy'][best, 1]:.4f}" in out[1], out[1]
    assert f"val_loss over the variants {val.min():.4f} to {val.max():.4f}" in out[1], out[1]


def test_to_frame_and_history_are_json_ready(data):
    (x, y), _ = data
    result = compiled(mlp(layerlab.sweep([0.0, 0.3]))).fit(x, y, epochs=2, seed=0, verbose=0)
    histories = [h.history for h in result.histories]
    # Strict JSON (no NaN, no numpy scalars), and back again unchanged: plain floats.
    assert json.loads(json.dumps(histories, allow_nan=False)) == histories
    assert all(type(v) is float for h in histories for values in h.values() for v in values)
    assert [h.params for h in result.histories] == json.loads(json.dumps([h.params for h in result.histories],
                                                                      allow_nan=False))
    frame = result.to_frame()
    records = frame.to_dict("records")
    assert json.loads(json.dumps(records, allow_nan=False)) == records
    assert len(frame) == 2 * 2 * 2  # variants x epochs x (loss, accuracy)
    row = frame[(frame.variant == 1) & (frame.epoch == 2) & (frame.metric == "loss")]
    assert row.value.item() == histories[1]["loss"][1]
    assert result.label(1) == "rate=0.3"


class MemoryRecorder:
    """Keeps every epoch's state; can hand back the state after `resume_after` epochs."""

    def __init__(self, resume_from=None, resume_after=0):
        self.rows, self.states, self.status = {}, {}, None
        self.resume_from, self.resume_after = resume_from, resume_after

    def start(self, **info):
        self.info = info

    def group_start(self, group, order):
        if self.resume_from is None or not self.resume_after:
            return 0, None, None
        done = self.resume_after
        history = {k: np.stack([self.resume_from.rows[(group, e)][k] for e in range(done)], axis=1)
                   for k in self.info["metric_names"]}
        return done, self.resume_from.states[(group, done - 1)], history

    def epoch_end(self, group, epoch, row, state):
        self.rows[(group, epoch)] = row
        self.states[(group, epoch)] = state()

    def finish(self, status, metrics):
        self.status = status


def test_a_resumed_fit_is_bitwise_the_uninterrupted_one(data):
    (x, y), (xv, yv) = data

    def run(recorder):
        layerlab.backend.clear_session()
        model = compiled(mlp(layerlab.sweep([0.0, 0.5]), units=layerlab.sweep([8, 16])))
        return model.fit(x, y, validation_data=(xv, yv), epochs=3, seed=7, verbose=0, store=recorder)

    full = MemoryRecorder()
    whole = run(full)
    assert full.status == "finished" and len(full.states) == 2 * 3
    resumed = run(MemoryRecorder(resume_from=full, resume_after=2))
    for k in whole.metrics:
        assert np.array_equal(whole.metrics[k], resumed.metrics[k]), k
    for i in range(len(whole)):
        for a, b in zip(whole.model(i).get_weights(), resumed.model(i).get_weights()):
            assert np.array_equal(a, b)


def test_an_interrupted_fit_tells_the_recorder(data):
    (x, y), _ = data

    class Stop(MemoryRecorder):
        def epoch_end(self, group, epoch, row, state):
            raise KeyboardInterrupt

    recorder = Stop()
    with pytest.raises(KeyboardInterrupt):
        compiled(mlp()).fit(x, y, epochs=2, seed=0, verbose=0, store=recorder)
    assert recorder.status == "interrupted"


def test_fitting_again_continues_like_one_longer_fit(data):
    (x, y), (xv, yv) = data
    model = compiled(mlp(0.3))
    first = model.fit(x, y, validation_data=(xv, yv), epochs=1, seed=4, verbose=0)
    second = model.fit(x, y, validation_data=(xv, yv), epochs=1, seed=4, verbose=0)
    layerlab.backend.clear_session()
    both = compiled(mlp(0.3)).fit(x, y, validation_data=(xv, yv), epochs=2, seed=4, verbose=0)
    for k in both.history:
        assert [first.history[k][0], second.history[k][0]] == both.history[k], k
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    after_reset = model.fit(x, y, epochs=1, seed=4, verbose=0)
    assert after_reset.history["loss"][0] == pytest.approx(np.log(4), rel=1e-3)  # all-zero weights: uniform output


def test_trainable_false_keeps_a_layers_weights(data):
    (x, y), _ = data
    model = layerlab.Sequential([layers.Flatten(input_shape=(6, 6)), layers.Dense(8, activation="relu", trainable=False),
                                 layers.Dense(4, activation="softmax")])
    compiled(model).fit(x, y, epochs=1, seed=0, verbose=0)
    start = jax.random.PRNGKey(0)
    frozen = model.get_weights()[0]
    init = model.init(jax.random.fold_in(start, 0))[1]["kernel"]
    np.testing.assert_array_equal(frozen, np.asarray(init))
    assert not np.array_equal(model.get_weights()[2], np.asarray(model.init(jax.random.fold_in(start, 0))[2]["kernel"]))


def test_binary_accuracy_with_a_folded_sigmoid_matches_predictions(data):
    (x, y), _ = data
    model = layerlab.Sequential([layers.Flatten(input_shape=(6, 6)), layers.Dense(8, activation="relu"),
                                 layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    target = (y % 2).astype(np.float32)
    model.fit(x, target, epochs=2, seed=0, verbose=0)
    _, acc = model.evaluate(x, target)
    assert acc == pytest.approx(np.mean((model.predict(x)[:, 0] > 0.5) == target), abs=1e-6)


def test_a_variant_of_an_optimizer_sweep_evaluates_and_predicts(data):
    (x, y), (xv, yv) = data
    opt = layerlab.optimizers.Adam(learning_rate=layerlab.sweep([1e-3, 1e-2]))
    result = compiled(mlp(0.0), opt).fit(x, y, epochs=1, batch_size=50, seed=0, verbose=0)
    variant = result.model(1)
    loss, acc = variant.evaluate(xv, yv)
    assert np.isfinite(loss) and 0 <= acc <= 1
    assert variant.predict(xv[:5]).shape == (5, 4)
    assert [h.params["steps"] for h in result.histories] == [12, 12]


def test_batch_size_sweep_records_each_variants_steps_and_matches_a_single_run(data):
    (x, y), _ = data
    result = compiled(mlp(0.0)).fit(x, y, epochs=1, batch_size=layerlab.sweep([32, 100]), seed=0, verbose=0)
    assert [h.params["steps"] for h in result.histories] == [19, 6]
    layerlab.backend.clear_session()
    alone = compiled(mlp(0.0)).fit(x, y, epochs=1, batch_size=100, seed=0, verbose=0)
    np.testing.assert_allclose(result.metrics["loss"][1], alone.history["loss"], rtol=1e-5)


def test_independent_draws_do_not_depend_on_automatic_names(data):
    (x, y), _ = data
    first = compiled(mlp(layerlab.sweep([0.0, 0.5]))).fit(x, y, epochs=1, seed=0, verbose=0, independent_draws=True)
    again = compiled(mlp(layerlab.sweep([0.0, 0.5]))).fit(x, y, epochs=1, seed=0, verbose=0, independent_draws=True)
    assert again.variants[0] == {"dropout_1.rate": 0.0, "seed": 0}  # a second model in the session
    np.testing.assert_array_equal(first.metrics["loss"], again.metrics["loss"])


def test_combinations_cross_with_repeats_and_must_not_be_empty(data):
    (x, y), _ = data
    model = compiled(mlp(layerlab.sweep([0.0, 0.5])))
    result = model.fit(x, y, epochs=1, seed=3, repeats=2, verbose=0, combinations=[{"dropout.rate": 0.5}])
    assert result.variants == [{"dropout.rate": 0.5, "seed": 3}, {"dropout.rate": 0.5, "seed": 4}]
    with pytest.raises(ConfigError, match=r"fit: combinations: expected a non-empty list"):
        model.fit(x, y, epochs=1, verbose=0, combinations=[])


def test_gelu_from_jax_is_not_mistaken_for_keras_gelu():
    assert layerlab.activations.serialize(jax.nn.gelu) is None
    assert layerlab.activations.serialize(layerlab.nn.gelu) == "gelu"


@pytest.mark.parametrize("kwargs, pattern", [
    ({"sample_weight": np.ones(600)}, r"fit: sample_weight: not supported"),
    ({"validation_data": (np.zeros((5, 6, 6)), np.zeros(5), np.ones(5))}, r"validation_data: expected a tuple \(x_val, y_val\); received a tuple of 3 items"),
    ({"validation_split": 0.999}, r"fit: validation_split: expected a float in \(0, 1\) that leaves samples on both sides"),
    ({"shuffle": "batch"}, r"fit: shuffle: expected True or False"),
])
def test_more_fit_arguments_get_one_line_errors(data, kwargs, pattern):
    (x, y), _ = data
    with pytest.raises(ConfigError, match=pattern) as info:
        compiled(mlp()).fit(x, y, verbose=0, **kwargs)
    assert "\n" not in str(info.value)


def test_bad_arrays_get_one_line_errors(data):
    (x, y), _ = data
    bad = x.copy()
    bad[7, 0, 0] = np.nan
    with pytest.raises(ConfigError, match=r"fit: x: expected finite numbers; received NaN or inf in sample 7"):
        compiled(mlp()).fit(bad, y, verbose=0)
    with pytest.raises(ConfigError, match=r"fit: x: expected an array of samples"):
        compiled(layerlab.Sequential([layers.Dense(4)])).fit(np.ones(5), np.zeros(5), verbose=0)
    with pytest.raises(ConfigError, match=r"use loss='categorical_crossentropy'"):
        compiled(mlp()).fit(x, np.eye(4)[y], verbose=0)
    model = mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(ConfigError, match=r"use loss='sparse_categorical_crossentropy'"):
        model.fit(x, y, verbose=0)


def test_predict_needs_no_compile(data):
    (x, y), _ = data
    model = compiled(mlp())
    model.fit(x, y, epochs=1, seed=0, verbose=0)
    layerlab.backend.clear_session()
    fresh = mlp()
    fresh.set_weights(model.get_weights())
    np.testing.assert_allclose(fresh.predict(x[:4]), model.predict(x[:4]), rtol=1e-6)


def test_a_group_too_big_for_the_cache_trains_as_several_programs(data, monkeypatch):
    (x, y), _ = data
    whole = compiled(mlp(layerlab.sweep([0.0, 0.5]))).fit(x, y, epochs=2, seed=0, repeats=3, verbose=0)
    monkeypatch.setattr(layerlab.variants, "PROGRAM_STATE_BYTES", 1)  # one stream (seed) per program
    seen = []

    class Count(MemoryRecorder):
        def start(self, **info):
            seen.extend(info["groups"])
            super().start(**info)

    layerlab.backend.clear_session()
    split = compiled(mlp(layerlab.sweep([0.0, 0.5]))).fit(x, y, epochs=2, seed=0, repeats=3, verbose=0, store=Count())
    assert seen == [[0, 3], [1, 4], [2, 5]]  # variants of seeds 0, 1, 2; each with both rates
    np.testing.assert_allclose(split.metrics["loss"], whole.metrics["loss"], rtol=1e-5)
