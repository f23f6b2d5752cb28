"""`layerlab.models.Sequential`, as `tf.keras.models.Sequential`: the Keras facade over layers,
summary and training; `load_model('m.keras')` and `model_from_json`, as `keras.models`' (Keras 3's
files; a recorded run's model is `layerlab.load_model(run, variant)`)."""
from .files import load_model, model_from_json
from .sequential import (
    DUPLICATE_NAME, LATE_INPUT, NO_LAYERS, NOT_A_LAYER, NOT_A_LIST, SHAPE_SWEPT, UNKNOWN_INPUT_SHAPE,
    UNKNOWN_LAYER_CLASS, Sequential,
)

__all__ = ["DUPLICATE_NAME", "LATE_INPUT", "NO_LAYERS", "NOT_A_LAYER", "NOT_A_LIST", "SHAPE_SWEPT",
           "Sequential", "UNKNOWN_INPUT_SHAPE", "UNKNOWN_LAYER_CLASS", "load_model", "model_from_json"]
