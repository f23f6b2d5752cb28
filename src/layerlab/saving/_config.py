"""A Sequential's config in Keras 3's JSON (config.json, to_json) and back, driven by the layer
registry: a layer's Keras class name is its layerlab class name, and its get_config() keys are
Keras' argument names, so a new layer needs nothing here unless Keras writes an argument it
lacks with a non-default value (KERAS_DEFAULTS) or orders its weights differently (weights.py).

Safe by default, as Keras' safe_mode: a Lambda layer, a serialised Python function or any object
from outside Keras' own modules is refused; nothing in a file is ever run.
"""
import inspect

import numpy as np

from layerlab import losses, optimizers
from layerlab.errors import ConfigError
from layerlab.layers.registry import LAYERS
from layerlab.session import snake_case

NOT_SEQUENTIAL = ("{method}: {source}: expected a Sequential model; received a {received} model. "
                  "layerlab rebuilds Sequential models only; rebuild it as keras.Sequential([...]) and save again.")
UNSAFE = ("{method}: {source}: {where}: refused: {what} would run code from the file, and layerlab never does "
          "(as Keras' safe_mode). Rebuild the model from built-in layers and functions, or load its weights "
          "with model.load_weights().")
UNKNOWN_LAYER = ("{method}: {source}: layer {name!r}: expected a layer class layerlab has ({valid}); received "
                 "{received!r}. Rebuild the model without it.")
UNSUPPORTED_ARG = ("{method}: {source}: {where}: {arg}: layerlab has no such setting; received {arg}={value!r}. "
                   "{fix}")
SWEPT = ("{method}: model {name!r}: expected one concrete model; received sweeps of {swept}. Save one variant: "
         "result.model(i).save(...) or result.save_models(folder).")
BAD_CONFIG = ("{method}: {source}: {where}: expected {expected}; received {received!r}. "
              "Save it again with model.save().")
NO_SHAPE = ("{method}: model {name!r}: expected a known input shape; received none. Pass input_shape= to the "
            "first layer or call model.build((None, 28, 28)) first.")

KERAS_DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
# Arguments Keras writes that layerlab's classes lack, ignored when they hold these values (Keras'
# defaults: the same layer). Any other value is refused with one line. None and False are always ignored.
KERAS_DEFAULTS = {"dtype": None, "name": None, "ema_momentum": 0.99, "reduction": "sum_over_batch_size",
                  "steps_per_execution": 1, "jit_compile": True,
                  # convolutions
                  "groups": 1, "dilation_rate": [1, 1], "data_format": "channels_last",
                  # batch normalisation
                  "axis": -1, "center": True, "scale": True, "synchronized": False,
                  "beta_initializer": "zeros", "gamma_initializer": "ones",
                  "moving_mean_initializer": "zeros", "moving_variance_initializer": "ones",
                  # used only with renorm=True, which is refused on its own (any value ignored)
                  "renorm_momentum": None}


# -- layerlab -> Keras -------------------------------------------------------------------------------
# Keras' own config of these layers leaves `trainable` out, and their __init__ refuses it
# (keras/src/layers/regularization/spatial_dropout.py: no **kwargs).
NO_TRAINABLE_ARG = frozenset({"SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"})


def to_keras(model, method="save") -> dict:
    """config.json for a concrete Sequential (no sweeps), its compile settings included."""
    swept = list(model.sweeps()) + (list(model.compiled.optimizer.sweeps()) if model.compiled is not None else [])
    if swept:
        raise ConfigError(SWEPT.format(method=method, name=model.name, swept=", ".join(swept)))
    in_shape = model.input_shape
    if in_shape is None:
        raise ConfigError(NO_SHAPE.format(method=method, name=model.name))
    layers = [{"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
               "config": {"batch_shape": [None, *in_shape], "dtype": "float32", "sparse": False,
                          "name": model._input.name if model._input is not None else "input_layer"}}]
    shape = tuple(in_shape)
    for layer in model.layers:
        args = {k: v for k, v in layer.get_config().items() if k not in ("name", "input_shape", "trainable")}
        trainable = {} if type(layer).__name__ in NO_TRAINABLE_ARG else {"trainable": bool(layer.trainable)}
        layers.append({"module": "keras.layers", "class_name": type(layer).__name__, "registered_name": None,
                       "config": {"name": layer.name, **trainable, "dtype": KERAS_DTYPE, **args},
                       "build_config": {"input_shape": [None, *shape]}})
        shape = layer.output_shape_for(shape)
    build = {"input_shape": [None, *in_shape]}
    config = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": model.name, "trainable": bool(model.trainable), "dtype": KERAS_DTYPE,
                         "layers": layers, "build_input_shape": [None, *in_shape]},
              "build_config": build}
    if model.compiled is not None:
        config["compile_config"] = _compile_to_keras(model.compiled)
    return config


def _compile_to_keras(compiled) -> dict:
    opt = compiled.optimizer
    loss = compiled.loss
    loss_config = loss.name if not loss.from_logits else {
        "module": "keras.losses", "class_name": type(loss).__name__, "registered_name": None,
        "config": {"from_logits": True}}
    return {"optimizer": {"module": "keras.optimizers", "class_name": type(opt).__name__, "registered_name": None,
                          "config": {"name": opt.name, **opt.get_config()}},
            "loss": loss_config, "loss_weights": None, "metrics": list(compiled.metrics) or None,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": True}


# -- Keras -> layerlab -------------------------------------------------------------------------------
def from_keras(config: dict, method, source) -> dict:
    """A layerlab Sequential config from Keras' config.json (or to_json) dict, checked."""
    check_safe(config, method, source, "config.json")
    if config.get("class_name") != "Sequential":
        raise ConfigError(NOT_SEQUENTIAL.format(method=method, source=source, received=config.get("class_name")))
    inner = config.get("config")
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise ConfigError(BAD_CONFIG.format(method=method, source=source, where="config.layers",
                                            expected="a list of layers", received=type(inner).__name__))
    layers = []
    for spec in inner["layers"]:
        layers.append(_layer_from_keras(spec, method, source))
    if layers and layers[0]["class_name"] != "InputLayer":
        shape = inner.get("build_input_shape") or (config.get("build_config") or {}).get("input_shape")
        if shape:
            layers.insert(0, {"class_name": "InputLayer", "config": {"name": "input_layer", "shape": list(shape[1:])}})
    return {"name": inner.get("name"), "layers": layers}


def _layer_from_keras(spec, method, source):
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise ConfigError(BAD_CONFIG.format(method=method, source=source, where="config.layers[]",
                                            expected="a layer object", received=spec))
    cls, cfg = spec.get("class_name"), dict(spec["config"])
    name = cfg.get("name", cls)
    if cls == "InputLayer":
        shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
        if not isinstance(shape, list) or len(shape) < 2:
            raise ConfigError(BAD_CONFIG.format(method=method, source=source, where=f"layer {name!r}.batch_shape",
                                                expected="[null, d1, ...]", received=shape))
        return {"class_name": "InputLayer", "config": {"name": name, "shape": list(shape[1:])}}
    klass = LAYERS.get(cls)
    if klass is None:
        raise ConfigError(UNKNOWN_LAYER.format(method=method, source=source, name=name, received=cls,
                                               valid=", ".join(sorted(set(LAYERS) - {"InputLayer"}))))
    accepted = _arguments(klass)
    out = {}
    for key, value in cfg.items():
        if key in ("kernel_initializer", "bias_initializer", "alpha_initializer", "beta_initializer",
                   "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer"):
            value = _initializer_name(value)
        elif key == "activation" and isinstance(value, dict):
            value = value.get("config") if isinstance(value.get("config"), str) else value
        if key in accepted and key != "dtype":
            out[key] = value
        elif not _ignorable(key, value):
            raise ConfigError(UNSUPPORTED_ARG.format(method=method, source=source, where=f"layer {name!r} ({cls})",
                                                     arg=key, value=value, fix="Rebuild the model without it."))
    return {"class_name": cls, "config": out}


def _arguments(klass):
    names = set()
    for c in klass.__mro__:
        if "__init__" in vars(c):
            names |= {p for p in inspect.signature(c.__init__).parameters if p not in ("self", "kwargs")}
    return names | {"name", "trainable", "input_shape"}


def _ignorable(key, value):
    return value is None or value is False or (key in KERAS_DEFAULTS and KERAS_DEFAULTS[key] in (None, value)) \
        or (key == "trainable" and value is True)


def _initializer_name(value):
    """'glorot_uniform' from Keras' {'class_name': 'GlorotUniform', 'config': {'seed': None}}."""
    if isinstance(value, dict) and not any(v is not None for v in (value.get("config") or {}).values()):
        return snake_case(value.get("class_name", ""))
    return value


def compile_from_keras(config: dict, method, source):
    """(optimizer, loss, metrics) from Keras' compile_config, or None without one."""
    compile_config = config.get("compile_config")
    if not compile_config:
        return None
    fix = "Load it with compile=False and compile() it yourself."
    where = "compile_config"
    opt_spec = compile_config.get("optimizer")
    if isinstance(opt_spec, str):
        opt_spec = {"class_name": opt_spec, "config": {}}
    if not isinstance(opt_spec, dict) or str(opt_spec.get("class_name", "")).lower() not in optimizers.OPTIMIZERS:
        received = opt_spec.get("class_name") if isinstance(opt_spec, dict) else opt_spec
        raise ConfigError(UNSUPPORTED_ARG.format(method=method, source=source, where=where, arg="optimizer",
                                                 value=received, fix=fix))
    klass = optimizers.OPTIMIZERS[opt_spec["class_name"].lower()]
    args = {}
    for key, value in (opt_spec.get("config") or {}).items():
        if key in klass.arguments and not isinstance(value, dict):
            args[key] = float(str(np.float32(value))) if isinstance(value, float) else value
        elif not _ignorable(key, value):
            raise ConfigError(UNSUPPORTED_ARG.format(method=method, source=source, where=f"{where}.optimizer",
                                                     arg=key, value=value, fix=fix))
    optimizer = klass(**args)
    loss = _loss_from_keras(compile_config.get("loss"), method, source, fix)
    metrics = []
    for m in compile_config.get("metrics") or []:
        m = m[0] if isinstance(m, list) and len(m) == 1 else m
        if m not in losses.METRICS:
            raise ConfigError(UNSUPPORTED_ARG.format(method=method, source=source, where=where, arg="metrics",
                                                     value=m, fix=fix))
        metrics.append(m)
    return optimizer, loss, metrics or None


def _loss_from_keras(spec, method, source, fix):
    name, args = spec, {}
    if isinstance(spec, dict):
        name = spec.get("config") if spec.get("class_name") == "function" else snake_case(spec.get("class_name", ""))
        for key, value in (spec.get("config") or {}).items() if isinstance(spec.get("config"), dict) else ():
            if key == "from_logits":
                args[key] = value
            elif not _ignorable(key, value) and key != "name":
                raise ConfigError(UNSUPPORTED_ARG.format(method=method, source=source, where="compile_config.loss",
                                                         arg=key, value=value, fix=fix))
    if name not in losses.LOSSES:
        raise ConfigError(UNSUPPORTED_ARG.format(method=method, source=source, where="compile_config", arg="loss",
                                                 value=name, fix=fix))
    return losses.LOSSES[name](**args)


def check_safe(value, method, source, where):
    """Refuses anything that would need code from the file: a Lambda layer, a serialised lambda, an
    object from outside Keras' own modules or registered as a custom object ('package>Name')."""
    if isinstance(value, list):
        for item in value:
            check_safe(item, method, source, where)
        return
    if not isinstance(value, dict):
        return
    cls, module, registered = value.get("class_name"), value.get("module"), value.get("registered_name")
    if isinstance(cls, str):
        what = None
        if cls in ("Lambda", "__lambda__"):
            what = f"a {cls} object"
        elif (module is not None and not str(module).startswith("keras")) or ">" in str(registered or ""):
            what = f"the custom object {registered or cls!r} (module {module!r})"
        if what:
            config = value.get("config")
            name = config.get("name", cls) if isinstance(config, dict) else cls
            raise ConfigError(UNSAFE.format(method=method, source=source, where=f"{where}: {name!r}", what=what))
    for key, item in value.items():
        if key not in ("module", "registered_name"):
            check_safe(item, method, source, where)
