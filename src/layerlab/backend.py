"""`layerlab.backend`: Keras' name for the session functions (`tf.keras.backend.clear_session()`),
kept so that Keras code and imports run unchanged; layerlab.session holds them."""
from layerlab.session import clear_session

__all__ = ["clear_session"]
