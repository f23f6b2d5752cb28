"""Every layer class by its Keras class name, and layers rebuilt from their configs."""
from layerlab.errors import ConfigError

from .activation_layers import LeakyReLU, PReLU
from .convolutional import Conv2D
from .core import Activation, Dense, Flatten, InputLayer
from .normalization import BatchNormalization
from .pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D
from .regularization import Dropout, SpatialDropout2D
from .reshaping import Reshape

LAYERS = {cls.__name__: cls for cls in (
    InputLayer, Flatten, Reshape, Dense, Dropout, Activation, LeakyReLU, PReLU, Conv2D, MaxPooling2D,
    AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, BatchNormalization, SpatialDropout2D)}

UNKNOWN_LAYER_CLASS = ("from_config: layers[{index}].class_name: expected one of {valid}; "
                       "received {received!r}. Use a layer class layerlab provides.")


def deserialize(spec: dict, index=0):
    """A layer from {'class_name': 'Dense', 'config': {...}}, as Sequential.get_config lists them."""
    klass = LAYERS.get(spec.get("class_name"))
    if klass is None:
        raise ConfigError(UNKNOWN_LAYER_CLASS.format(index=index, valid=sorted(LAYERS), received=spec.get("class_name")))
    return klass.from_config(dict(spec.get("config", {})))


def serialize(layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}
