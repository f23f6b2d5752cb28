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


def test_engine_matches_a_plain_optax_loop(data):
    """The reference: the same model trained by hand, batch by batch, in fixed order."""
    (x, y), _ = data
    x, y = x[:200], y[:200]
    model = compiled(mlp(0.0))
    history = model.fit(x, y, epochs=2, batch_size=48, shuffle=False, seed=5, verbose=0)

    layerlab.backend.clear_session()
    ref = mlp(0.0)
    root = jax.random.PRNGKey(5)
    params = ref.init(jax.random.fold_in(root, 0), (6, 6))
    tx = optax.adam(1e-3, b1=0.9, b2=0.999, eps=1e-7)
    opt_state = tx.init(params)

    def loss_fn(p, xb, yb):
        logits = ref.apply(p, xb, logits=True)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean(), logits

    losses, accs = [], []
    for _ in range(2):
        total = correct = 0.0
        for start in range(0, 200, 48):  # the last batch has 8 samples and is kept
            xb, yb = jnp.asarray(x[start:start + 48]), jnp.asarray(y[start:start + 48], jnp.int32)
            (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, xb, yb)
            updates, opt_state = tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            total += float(loss) * len(yb)
            correct += float(jnp.sum(jnp.argmax(logits, -1) == yb))
        losses.append(total / 200)
        accs.append(correct / 200)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-5)
    np.testing.assert_allclose(history.history["accuracy"], accs, atol=1e-6)
    for got, want in zip(model.get_weights(), [np.asarray(params[1]["kernel"]), np.asarray(params[1]["bias"]),
                                               np.asarray(params[3]["kernel"]), np.asarray(params[3]["bias"])]):
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


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop", "adagrad", "adamw"])
def test_every_optimizer_by_name_trains(data, name):
    (x, y), _ = data
    opt = name if name != "sgd" else layerlab.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    if name == "adagrad":
        opt = layerlab.optimizers.Adagrad(learning_rate=0.1)
    history = compiled(mlp(0.0), opt).fit(x, y, epochs=3, seed=0, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


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
    (x, y), _ = data
    model = layerlab.Sequential([layers.Flatten(input_shape=(6, 6)), layers.Dense(8, activation="relu"),
                                 layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, (y % 2).astype(np.float32), epochs=3, seed=0, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert 0.4 < history.history["accuracy"][-1] <= 1.0


def test_softmax_output_loss_is_computed_from_logits():
    """tf.keras folds a softmax output into the loss: exact where log(softmax) underflows."""
    loss = layerlab.losses.get("sparse_categorical_crossentropy")
    assert loss.folds("softmax") and not loss.folds("linear")
    logits = jnp.array([[200.0, 0.0, -200.0]])
    assert float(loss.per_sample(logits, jnp.array([2]), True)[0]) == pytest.approx(400.0, rel=1e-6)


def test_unsupported_keras_arguments_say_so(data):
    (x, y), _ = data
    with pytest.raises(ConfigError, match="callbacks"):
        compiled(mlp()).fit(x, y, callbacks=[object()], verbose=0)


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
    result = compiled(mlp(layerlab.sweep([0.0, 0.3]))).fit(x, y, epochs=1, seed=0, verbose=0)
    json.dumps([h.history for h in result.histories])
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
