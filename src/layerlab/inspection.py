"""A recorded run's mistakes and predictions: the data it was validated on, rebuilt from its
study's [dataset] table, every variant's predictions (layerlab.training: one compiled program per
compile group) and your own pictures classified by one variant.

>>> from layerlab import inspection, load_run
>>> result = load_run(1)                                            # doctest: +SKIP
>>> mistakes, x = inspection.inspect_run(result)                     # doctest: +SKIP
>>> inspection.predict_images(result.model(0), ["seven.png"], inspection.class_names("mnist"))  # doctest: +SKIP
"""
import numpy as np

from layerlab import images
from layerlab.analysis.mistakes import Mistakes
from layerlab.datasets import _load, fashion_mnist
from layerlab.errors import ConfigError
from layerlab.runs import load_model
from layerlab.training.predictions import predict_models

TOP = 3  # classes shown per picture
NO_DATASET = ("inspect: run {run}: expected a run of a study file, whose [dataset] names the data; received a "
              "run trained on arrays passed to fit(), which the store does not keep. From Python: "
              "layerlab.load_run({run}).mistakes(x_val, y_val).")
BAD_WHICH = "inspect: which: expected 'last' or 'best'; received {received!r}. Pass which='best' or leave it out."
BAD_VARIANT = ("predict: variant: expected an index from 0 to {last} of run {run}'s variants; received {received!r}. "
               "`layerlab show {run}` lists them.")
NOT_DIGIT_SHAPED = ("predict: run {run}: expected a model whose input holds a 28x28 image; received input shape "
                    "{shape}. Your own pictures are prepared as 28x28 MNIST digits.")


def class_names(dataset) -> list:
    """The name of each class: Fashion-MNIST's article names, else the digits '0' ... '9'."""
    return list(fashion_mnist.CLASS_NAMES) if dataset == "fashion_mnist" else [str(c) for c in range(10)]


def study_dataset(result) -> dict:
    """The recorded run's [dataset] table (name, limits, divide_by, validation), or ConfigError."""
    study = result.run["spec"].get("study") or {}
    if not study.get("dataset"):
        raise ConfigError(NO_DATASET.format(run=result.run_id))
    return study["dataset"]


def evaluation_data(result):
    """(x, y, class names, description): the images the run was validated on, scaled as it was
    trained (the test split, or the held-out end of the training split for validation = 0.x;
    the test split too for a run without validation)."""
    d = study_dataset(result)
    (x, y), (xt, yt) = _load.load(d["name"])
    if isinstance(d["validation"], float):
        x, y = x[:d["limit_train"]], y[:d["limit_train"]]
        cut = int(len(x) * (1 - d["validation"]))  # as Keras' validation_split
        xv, yv, what = x[cut:], y[cut:], f"the last {len(x) - cut} training images (validation = {d['validation']})"
    else:
        xv, yv = xt[:d["limit_test"]], yt[:d["limit_test"]]
        what = f"the first {len(xv)} test images"
    return (xv / d["divide_by"]).astype(np.float32), yv.astype(np.int64), class_names(d["name"]), \
        f"{d['name']}: {what}"


def trained_models(result, which="last", store=None) -> list:
    """Every variant's trained model, with its last weights or those at its best val_loss."""
    if which not in ("last", "best"):
        raise ConfigError(BAD_WHICH.format(received=which))
    if which == "last":
        return result.models
    return [load_model(result.run_id, i, store=store, which="best") for i in range(len(result))]


def inspect_run(result, which="last", store=None):
    """(Mistakes of every variant on the run's validation data, those images (n, 28, 28))."""
    x, y, names, what = evaluation_data(result)
    models = trained_models(result, which, store)
    return Mistakes(predict_models(models, x), y, [result.label(i) for i in range(len(result))], names, what), x


def variant_model(result, variant, which="last", store=None):
    """Variant `variant`'s trained model; ConfigError names the valid range."""
    if isinstance(variant, bool) or not isinstance(variant, (int, np.integer)) or not 0 <= variant < len(result):
        raise ConfigError(BAD_VARIANT.format(last=len(result) - 1, run=result.run_id, received=variant))
    if which not in ("last", "best"):
        raise ConfigError(BAD_WHICH.format(received=which))
    return result.model(variant) if which == "last" else load_model(result.run_id, variant, store=store, which="best")


def predict_images(model, paths, names, divide_by=255.0, run=None) -> list:
    """Per picture {'path', 'predictions': [{'class', 'label', 'probability'}] (top 3)} or
    {'path', 'error'} for one that could not be read; the others are still answered. Each
    answer also keeps '_gray' (the picture), '_input' (the 28x28 the model saw) and
    '_probabilities' for the figures."""
    shape = tuple(model.input_shape or (28, 28))
    if int(np.prod(shape)) != 28 * 28:
        raise ConfigError(NOT_DIGIT_SHAPED.format(run=run, shape=shape))
    answers, ready = [], []
    for path in paths:
        try:
            gray = images.read_gray(path)
            answers.append({"path": str(path), "_gray": gray, "_input": images.preprocess(gray, path=path)})
            ready.append(answers[-1])
        except images.ImageError as e:
            answers.append({"path": str(path), "error": str(e)})
    if ready:
        # The model saw x / divide_by of 0-255 pixels; the pictures are prepared in [0, 1].
        x = np.stack([a["_input"] for a in ready]) * np.float32(255.0 / divide_by)
        probabilities = predict_models([model], x.reshape((len(ready),) + shape))[0]
        for answer, p in zip(ready, probabilities):
            top = np.argsort(-p, kind="stable")[:TOP]
            answer["_probabilities"] = p
            answer["predictions"] = [{"class": int(c), "label": names[c] if c < len(names) else str(c),
                                      "probability": round(float(p[c]), 6)} for c in top]
    return answers


def public(answer) -> dict:
    """An answer of predict_images as JSON prints it (no arrays)."""
    return {k: v for k, v in answer.items() if not k.startswith("_")}


__all__ = ["NO_DATASET", "class_names", "evaluation_data", "inspect_run", "predict_images",
           "public", "study_dataset", "trained_models", "variant_model"]
