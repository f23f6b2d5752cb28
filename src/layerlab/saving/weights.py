"""Weights in Keras 3's HDF5 layout (model.weights.h5 inside a .keras file, or a .weights.h5).

Paths, as keras/src/saving/saving_lib.py writes them for a Sequential:
    layers/<layer>/vars/<i>   the layer's weights in Keras' order; <layer> is the snake-cased
                              class name, made unique in layer order: dense, dense_1, dropout ...
                              (never the layer's own name: Keras does not trust those)
    optimizer/vars/<i>        0: iterations, 1: learning_rate, then the optimizer's slots
                              (optimizer_state.py)
    vars                      the model's own variables (none for a Sequential)
A layer's weights take the order of WEIGHT_ORDER, else their names sorted; a layer whose Keras
order differs from both needs its row there. BatchNormalization's moving statistics are
weights but not trainable: no optimizer slots (NOT_TRAINABLE).
"""
import io

import h5py
import numpy as np

from layerlab.session import snake_case

WEIGHT_ORDER = {  # Keras class -> its weights' names, as layers/<layer>/vars/0, 1, ... list them
    "Dense": ("kernel", "bias"),
    "Conv2D": ("kernel", "bias"),
    "Conv1D": ("kernel", "bias"),
    "PReLU": ("alpha",),
    "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
}
NOT_TRAINABLE = {"BatchNormalization": ("moving_mean", "moving_variance")}


def keras_order(class_name, names) -> list:
    """The names of a layer's weights in Keras' order."""
    order = WEIGHT_ORDER.get(class_name, ())
    return [n for n in order if n in names] + sorted(n for n in names if n not in order)


def layer_paths(class_names) -> list:
    """'layers/dense', 'layers/dense_1', ...: Keras' unique snake-case names, in layer order."""
    used, paths = {}, []
    for cls in class_names:
        name = snake_case(cls)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        paths.append(f"layers/{name}")
    return paths


def trainable_names(layers, params, model_trainable=True) -> list:
    """(layer index, weight name) of every trainable weight, in Keras' order (model.trainable_variables):
    the order of the optimizer's slots."""
    out = []
    for i, (layer, p) in enumerate(zip(layers, params)):
        if not (model_trainable and layer.trainable):
            continue
        frozen = NOT_TRAINABLE.get(type(layer).__name__, ())
        out += [(i, n) for n in keras_order(type(layer).__name__, p) if n not in frozen]
    return out


def write_h5(model_name, layer_weights, optimizer=None) -> bytes:
    """The HDF5 file's bytes. layer_weights: (path, [arrays]) per layer; optimizer: (name, [arrays]) or None."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_group("layers")
        for path, arrays in layer_weights:
            group = f.create_group(f"{path}/vars")
            group.attrs["name"] = path.rsplit("/", 1)[-1]
            for i, a in enumerate(arrays):
                group.create_dataset(str(i), data=np.asarray(a))
        if optimizer is not None:
            group = f.create_group("optimizer/vars")
            group.attrs["name"] = optimizer[0]
            for i, a in enumerate(optimizer[1]):
                group.create_dataset(str(i), data=np.asarray(a))
        f.create_group("vars").attrs["name"] = model_name
    return buffer.getvalue()


def is_legacy(path) -> bool:
    """A Keras 2 HDF5 model or weights file (its root names its layers; Keras 3's has groups)."""
    with h5py.File(path, "r") as f:
        return "layer_names" in f.attrs or "model_config" in f.attrs


def read_h5(source) -> dict:
    """{'layers/dense': [arrays], ..., 'optimizer': [arrays]} from a path or the bytes of an HDF5 file.
    Raises OSError for bytes that are not HDF5 (the caller words it)."""
    out = {}
    with h5py.File(io.BytesIO(source) if isinstance(source, bytes) else source, "r") as f:
        for group_path in ("layers", "optimizer"):
            if group_path not in f:
                continue
            groups = [(f"layers/{k}", f["layers"][k]) for k in f["layers"]] if group_path == "layers" \
                else [("optimizer", f["optimizer"])]
            for path, group in groups:
                vars_ = group.get("vars") if isinstance(group, h5py.Group) else None
                if vars_ is None:
                    out[path] = []
                    continue
                keys = sorted(vars_.keys(), key=lambda k: int(k) if k.isdigit() else -1)
                out[path] = [np.asarray(vars_[k][()]) for k in keys]
    return out
