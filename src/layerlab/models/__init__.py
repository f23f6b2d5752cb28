"""`layerlab.models.Sequential`, as `tf.keras.models.Sequential`: the Keras facade over layers,
summary and training; `load_model('m.keras')` and `model_from_json`, as `keras.models`' (Keras 3's
files; a recorded run's model is `layerlab.load_model(run, variant)`)."""
from . import files
from .sequential import (
    DUPLICATE_NAME, LATE_INPUT, NO_LAYERS, NOT_A_LAYER, NOT_A_LIST, SHAPE_SWEPT, UNKNOWN_INPUT_SHAPE,
    UNKNOWN_LAYER_CLASS, Sequential,
)

__all__ = ["DUPLICATE_NAME", "LATE_INPUT", "NO_LAYERS", "NOT_A_LAYER", "NOT_A_LIST", "SHAPE_SWEPT",
           "Sequential", "UNKNOWN_INPUT_SHAPE", "UNKNOWN_LAYER_CLASS", "load_model", "model_from_json"]


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A Sequential from a .keras file written by Keras 3 or layerlab, with its weights and, when
    compiled, its optimizer's state (the next fit() goes on from it), as keras.models.load_model.
    Nothing in the file is ever run (safe_mode=False changes nothing; custom objects are refused).
    A recorded run's model is another loader's: layerlab.load_model(run, variant, store=...).

    >>> model = layerlab.models.load_model("model.keras")  # doctest: +SKIP
    """
    return files.load_model(Sequential, filepath, custom_objects, compile, safe_mode)


def model_from_json(json_string, custom_objects=None):
    """A Sequential (not compiled, no weights) from model.to_json()'s text, Keras' or layerlab's."""
    return files.model_from_json(Sequential, json_string, custom_objects)
