"""`layerlab.models.Sequential`, as `tf.keras.models.Sequential`: the Keras facade over layers,
summary and training."""
from .sequential import (
    DUPLICATE_NAME, LATE_INPUT, NO_LAYERS, NOT_A_LAYER, NOT_A_LIST, SHAPE_SWEPT, UNKNOWN_INPUT_SHAPE,
    UNKNOWN_LAYER_CLASS, Sequential,
)

__all__ = ["DUPLICATE_NAME", "LATE_INPUT", "NO_LAYERS", "NOT_A_LAYER", "NOT_A_LIST", "SHAPE_SWEPT",
           "Sequential", "UNKNOWN_INPUT_SHAPE", "UNKNOWN_LAYER_CLASS"]
