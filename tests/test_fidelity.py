"""The article's model on the real MNIST behaves as tf.keras and the article report."""
import numpy as np
import pytest

import layerlab
from layerlab import layers


@pytest.fixture(scope="module")
def mnist(real_mnist):
    (x_train, y_train), (x_test, y_test) = layerlab.datasets.mnist.load_data()
    return (x_train / 255.0, y_train), (x_test / 255.0, y_test)


def test_the_articles_sweep_after_two_epochs(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    layerlab.backend.clear_session()
    rates = [0.0, 0.2, 0.4, 0.6, 0.8]
    model = layerlab.Sequential([
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation="relu"),
        layers.Dropout(layerlab.sweep(rates)),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    result = model.fit(x_train, y_train, validation_data=(x_test, y_test), epochs=2, seed=1, verbose=0)
    # tf.keras reaches about 0.969 after 2 epochs at rate 0.2.
    assert result.metrics["val_accuracy"][1, -1] >= 0.965
    # The article: smaller rates learn faster; training loss rises with the rate, every epoch.
    for epoch in range(2):
        losses = result.metrics["loss"][:, epoch]
        assert np.all(np.diff(losses) > 0), losses
    assert result.diverged_at == [None] * 5
