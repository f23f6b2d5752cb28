"""Session state that Keras users expect: automatic names count up until clear_session()."""
import re
import threading

_lock = threading.Lock()
_counters: dict[str, int] = {}


def clear_session():
    """Resets automatic naming, as `tf.keras.backend.clear_session()` does."""
    with _lock:
        _counters.clear()


def unique_name(base: str) -> str:
    """'dense', then 'dense_1', 'dense_2', ... within one session."""
    with _lock:
        n = _counters.get(base, 0)
        _counters[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def snake_case(class_name: str) -> str:
    """'LeakyReLU' -> 'leaky_re_lu', 'PReLU' -> 'p_re_lu', as Keras derives layer names."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()
