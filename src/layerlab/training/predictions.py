"""Every variant's predictions from the compiled programs: variants whose models compile to the
same code (layerlab.engine.structure) are stacked on the program's variant axis and predicted
in one call of one program, as they trained."""
import jax.numpy as jnp
import numpy as np

from layerlab import engine

from . import checks


def predict_models(models, x) -> np.ndarray:
    """Outputs (len(models), n, units) of trained models (each with .params) on x: one
    compiled program per distinct structure, all its models in one call."""
    models = list(models)
    x = checks.as_x("predict", "x", x, models[0].input_shape)
    groups = {}
    for i, model in enumerate(models):
        loss = model.compiled.loss if model.compiled is not None else None
        groups.setdefault(engine.structure(model, None, loss, model.input_shape), []).append(i)
    out = [None] * len(models)
    device_x = jnp.asarray(x)
    for indices in groups.values():
        first = models[indices[0]]
        loss = first.compiled.loss if first.compiled is not None else None
        program = engine.program(first, None, loss, first.input_shape)
        params = [{k: jnp.stack([jnp.asarray(models[i].params[layer][k]) for i in indices])[None]  # (1, R, ...)
                   for k in p} for layer, p in enumerate(first.params)]
        hp = {"layers": [{k: jnp.asarray([[models[i].hparams()[layer][k] for i in indices]], jnp.float32)
                          for k in h} for layer, h in enumerate(first.hparams())], "optimizer": {}}
        predicted = np.asarray(program.predict(params, hp, device_x))[0]                    # (R, n, units)
        for r, i in enumerate(indices):
            out[i] = predicted[r]
    return np.stack(out)


def predict_result(result, x) -> np.ndarray:
    """Every variant of a SweepResult on x: (variants, n, units)."""
    return predict_models(result.models, x)
