"""The engine's documented internals (docs/keras-differences.md, "Engine internals"): validation in
chunks of VAL_CHUNK samples equals one unchunked pass, and the cache of compiled programs keeps
at most MAX_PROGRAMS, dropping the least recently used first."""
import importlib
from collections import OrderedDict

import numpy as np
import pytest
from synthetic import blobs
from test_training import compiled, mlp

import layerlab
from layerlab import engine, layers
from layerlab.engine import programs


def numpy_metrics(weights, x, y):
    """mlp()'s loss and accuracy in inference mode, in float64 over all of x at once: Flatten,
    Dense relu, Dropout (the identity), Dense softmax; the cross-entropy from the logits."""
    w1, b1, w2, b2 = (np.asarray(w, np.float64) for w in weights)
    hidden = np.maximum(x.reshape(len(x), -1).astype(np.float64) @ w1 + b1, 0.0)
    logits = hidden @ w2 + b2
    top = logits.max(axis=1, keepdims=True)
    log_probs = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(y)), y].mean(), np.mean(logits.argmax(axis=1) == y)


def test_validation_in_chunks_equals_one_unchunked_pass():
    """5000 validation samples: two whole chunks of 2048 and a padded one of 904."""
    (x, y), (xv, yv) = blobs(n=600, n_val=5000)
    assert engine.VAL_CHUNK == 2048 and len(xv) > 2 * engine.VAL_CHUNK and len(xv) % engine.VAL_CHUNK
    model = compiled(mlp(0.3))
    history = model.fit(x, y, validation_data=(xv, yv), epochs=2, seed=0, verbose=0)
    loss, accuracy = numpy_metrics(model.get_weights(), xv, yv)
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-5)
    assert history.history["val_accuracy"][-1] == pytest.approx(accuracy, abs=1 / len(xv))  # a float tie at most
    evaluated = model.evaluate(xv, yv)
    assert evaluated[0] == pytest.approx(loss, rel=1e-5)
    assert evaluated[1] == pytest.approx(accuracy, abs=1 / len(xv))
    # Fewer samples than a chunk (one chunk of exactly n) agree as well.
    small_loss, small_accuracy = model.evaluate(xv[:777], yv[:777])
    want = numpy_metrics(model.get_weights(), xv[:777], yv[:777])
    assert small_loss == pytest.approx(want[0], rel=1e-5)
    assert small_accuracy == pytest.approx(want[1], abs=1 / 777)


def test_a_convnet_validates_in_smaller_chunks_with_the_same_numbers(monkeypatch):
    """A convnet's patches are large: its validation chunk shrinks with VAL_BYTES (a power of two,
    32 at least, the last chunk padded) and gives what one pass over all samples gives."""
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 8, 8, 1), np.float32), rng.integers(0, 3, 64)
    xv, yv = rng.random((100, 8, 8, 1), np.float32), rng.integers(0, 3, 100)

    def val_loss(budget):
        monkeypatch.setattr(importlib.import_module("layerlab.engine.program"), "VAL_BYTES", budget)
        engine.clear_programs()
        model = layerlab.Sequential([layers.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                                     layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model.fit(x, y, validation_data=(xv, yv), epochs=1, seed=0, verbose=0).history["val_loss"][-1]

    assert model_peak() == 6 * 6 * 9
    small, whole = val_loss(4 * 36 * 9 * 40), val_loss(2 ** 30)   # chunks of 32 (4 of them), and 1 of 100
    assert small == pytest.approx(whole, rel=1e-6)
    engine.clear_programs()


def model_peak():
    model = layerlab.Sequential([layers.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3), layers.MaxPooling2D(2)])
    return model.peak_floats((8, 8, 1))


# -- the program cache ----------------------------------------------------------------------------
@pytest.fixture
def cache(monkeypatch):
    """An empty cache of 3 programs (the process's own is put back afterwards)."""
    monkeypatch.setattr(programs, "_PROGRAMS", OrderedDict())
    monkeypatch.setattr(programs, "MAX_PROGRAMS", 3)
    return programs._PROGRAMS


def program_for(width):
    """The program of a one-layer model on inputs of `width` features: a structure of its own per
    width. Building one compiles nothing (its functions are jitted lazily)."""
    model = layerlab.Sequential([layers.Dense(4, activation="softmax")])
    return programs.program(model, layerlab.optimizers.Adam(), layerlab.losses.get("sparse_categorical_crossentropy"),
                            (width,))


def test_the_documented_cache_size():
    assert engine.MAX_PROGRAMS == 64  # docs/keras-differences.md: "at most 64"


def test_the_cache_drops_the_least_recently_used_program(cache):
    a, b, c = program_for(1), program_for(2), program_for(3)
    assert program_for(1) is a  # the same structure: the same program, now the most recently used
    assert list(cache.values()) == [b, c, a]
    d = program_for(4)  # full: b, the least recently used, goes
    assert list(cache.values()) == [c, a, d]
    b_again = program_for(2)  # a new program for b's structure; c goes
    assert b_again is not b
    assert list(cache.values()) == [a, d, b_again]
    layerlab.backend.clear_session()  # resets names, not programs
    assert program_for(1) is a and len(cache) == 3
    programs.clear_programs()
    assert len(cache) == 0 and program_for(1) is not a


def test_models_of_one_structure_share_a_program_whatever_their_names_and_numbers(cache):
    loss = layerlab.losses.get("sparse_categorical_crossentropy")
    first = programs.program(mlp(0.2), layerlab.optimizers.Adam(learning_rate=0.1), loss, (6, 6))
    second = programs.program(mlp(0.7), layerlab.optimizers.Adam(learning_rate=0.01), loss, (6, 6))
    assert second is first and len(cache) == 1
    wider = programs.program(mlp(0.2, units=8), layerlab.optimizers.Adam(), loss, (6, 6))
    amsgrad = programs.program(mlp(0.2), layerlab.optimizers.Adam(amsgrad=True), loss, (6, 6))
    assert len({id(first), id(wider), id(amsgrad)}) == 3 and len(cache) == 3
