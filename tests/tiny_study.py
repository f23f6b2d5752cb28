"""The tiny study that the command-line, study, resume and figure tests run: an MNIST subset,
Flatten -> Dense(16, relu) -> Dropout(0.0 | 0.5) -> Dense(10, softmax), Adam, a few epochs."""


def tiny_study(*, name=None, limit_train=300, limit_test=100, epochs=2, seed=1, extra=""):
    """The study file's text; `extra` is appended (e.g. a [plot] table)."""
    head = f'\n[study]\nname = "{name}"\n' if name else ""
    return head + f"""
[dataset]
name = "mnist"
limit_train = {limit_train}
limit_test = {limit_test}

[[layers]]
type = "Flatten"

[[layers]]
type = "Dense"
units = 16
activation = "relu"

[[layers]]
type = "Dropout"
rate = {{ sweep = [0.0, 0.5] }}

[[layers]]
type = "Dense"
units = 10
activation = "softmax"

[compile]
optimizer = "adam"
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]

[fit]
epochs = {epochs}
seed = {seed}
""" + extra
