"""`layerlab.keras.utils.set_random_seed(1)`, as keras.utils'."""
from layerlab.training import set_random_seed

__all__ = ["set_random_seed"]
