"""Runs back out of a store: load_run() as a SweepResult, load_model() as a trained Sequential."""
import jax
import jax.numpy as jnp
import numpy as np

from layerlab import engine, losses, optimizers
from layerlab.errors import ConfigError, StoreError
from layerlab.history import History, SweepResult
from layerlab.models import Sequential

from . import _checkpoint
from ._db import Store

BAD_VARIANT = ("load_model: variant: expected an index from 0 to {last} of run {run}'s variants; "
               "received {received!r}. `layerlab show {run}` lists them.")
BAD_WHICH = "load_model: which: expected 'last' or 'best'; received {received!r}. Pass which='best' or leave it out."
NO_BEST = ("load_model: run {run} variant {variant}: no checkpoint kept at its best val_loss (epoch {epoch}); "
           "expected one recorded with keep_best=True (`layerlab run --keep-best`). Use which='last'.")


def load_run(run_id, store=None) -> SweepResult:
    """The SweepResult of a recorded run: settings, per-epoch history and, on demand, each
    variant's trained model (`result.model(i)`, from the run's last checkpoints).

    >>> import layerlab
    >>> result = layerlab.load_run(1, store="layerlab-runs/layerlab.db")  # doctest: +SKIP
    >>> result.histories[0].history["val_loss"]                            # doctest: +SKIP
    """
    with _open(store) as s, s.snapshot():
        run = s.run(run_id)
        variants = s.variants(run["id"])
        rows = s.history(run["id"])
    spec = run["spec"]
    epochs = max((r[1] for r in rows), default=-1) + 1
    metrics = {k: np.full((len(variants), epochs), np.nan, np.float64) for k in spec["metrics"]}
    for v, e, m, x in rows:
        if m in metrics:
            metrics[m][v, e] = np.nan if x is None else x
    settings = [v["settings"] for v in variants]
    swept = [k for k in settings[0] if k != "seed" or len({v["seed"] for v in variants}) > 1] if settings else []
    batch = spec["fit"].get("batch_size")
    fit_params = {"verbose": 0, "epochs": epochs, "batch_size": batch,
                  "steps": -(-spec["fit"]["n_train"] // batch) if batch else None,
                  "seed": variants[0]["seed"] if len({v["seed"] for v in variants}) == 1 else None}
    path = s.path

    def template(i):
        return model_for(spec, settings[i])

    result = SweepResult(settings, metrics, _LazyWeights(path, run, variants), template,
                         [v["diverged_at"] for v in variants], fit_params, swept)
    result.run_id, result.run = run["id"], run  # provenance, the spec (study plot settings included) and the text
    return result


def load_model(run_id, variant=0, store=None, which="last") -> Sequential:
    """Variant `variant` of a recorded run as a compiled Sequential with its trained weights
    (which='last', or 'best': at its lowest val_loss, if kept), ready for evaluate/predict."""
    if which not in ("last", "best"):
        raise ConfigError(BAD_WHICH.format(received=which))
    with _open(store) as s:
        run = s.run(run_id)
        variants = s.variants(run["id"])
        if isinstance(variant, bool) or not isinstance(variant, (int, np.integer)) or \
                not 0 <= variant < len(variants):
            raise ConfigError(BAD_VARIANT.format(last=len(variants) - 1, run=run["id"], received=variant))
        v = variants[variant]
        rows = s.history(run["id"], [v["idx"]])
        history = {k: [] for k in run["spec"]["metrics"]}
        for _, e, m, x in sorted(rows, key=lambda r: (r[1], r[2])):
            history.setdefault(m, []).append(float("nan") if x is None else x)
        epoch = None
        if which == "best":
            val = history.get("val_loss") or []
            epoch = int(np.nanargmin(np.asarray(val, float))) if val and not np.all(np.isnan(val)) else -1
        model = model_for(run["spec"], v["settings"])
        model.params = _weights(s, run, v, model, epoch)
    model.history = History(history, list(range(len(history["loss"]))), {"epochs": run["epochs"]},
                            model=model, diverged_at=v["diverged_at"])
    return model


def model_for(spec, settings) -> Sequential:
    """The concrete, compiled Sequential of one variant of a recorded spec (no weights)."""
    model = Sequential.from_config(spec["model"])
    layer_values = {k: x for k, x in settings.items() if "." in k and not k.startswith("optimizer.")}
    opt_values = {k: x for k, x in settings.items() if k.startswith("optimizer.")}
    compile_ = spec["compile"]
    opt_class = optimizers.OPTIMIZERS[compile_["optimizer"]["class_name"].lower()]
    opt = opt_class.from_config(compile_["optimizer"]["config"])
    loss = losses.LOSSES[compile_["loss"]["name"]](**compile_["loss"]["config"])
    concrete = model.with_values(layer_values)
    concrete.compile(optimizer=opt.with_values(opt_values), loss=loss, metrics=compile_["metrics"] or None)
    if spec.get("input_shape"):
        concrete._built_shape = tuple(spec["input_shape"])
    return concrete


def _weights(store, run, variant, model, epoch=None):
    """The variant's params from its group's checkpoint (the last one, or the one at `epoch`)."""
    kept = store.checkpoints(run["id"], variant["grp"])
    if epoch is not None:
        kept = [c for c in kept if c["epoch"] == epoch]
        if not kept:
            raise StoreError(NO_BEST.format(run=run["id"], variant=variant["idx"], epoch=epoch + 1))
    if not kept or variant["position"] is None:
        raise StoreError(f"store {store.path}: run {run['id']} variant {variant['idx']}: no checkpoint yet; "
                         "expected at least one recorded epoch. Resume the run to train it.")
    ck = kept[0]
    leaves = _checkpoint.unpack(store.checkpoint_data(run["id"], variant["grp"], ck["epoch"]), ck["sha256"],
                                variant["grp"], ck["epoch"])
    # The checkpoint holds the engine's state leaves, in its own layout: rebuild that state's
    # structure from the engine (shapes only, nothing compiled) and ask it for the public params.
    opt = model.compiled.optimizer
    program = engine.Program(model, opt.transform(), model.compiled.loss, model.input_shape, 1)
    hp = {"layers": [], "optimizer": {k: jax.ShapeDtypeStruct((1, 1), jnp.float32) for k in opt.hparams()}}
    shapes = jax.eval_shape(program.init, engine.stream_keys(jnp.zeros((1, 2), jnp.uint32)), hp)
    treedef = jax.tree.structure(shapes)
    want = [s.shape[2:] for s in jax.tree.leaves(shapes)]
    if [tuple(a.shape[2:]) for a in leaves] != [tuple(w) for w in want]:
        raise StoreError(f"store {store.path}: run {run['id']}: the checkpoint of group {variant['grp']} does not "
                         f"fit this model's state ({len(leaves)} arrays; expected {len(want)} shaped like "
                         f"{want[:3]}...). Load it with the layerlab that wrote it ({run['layerlab_version']}).")
    public = program.public_params(jax.tree.unflatten(treedef, leaves))
    return jax.tree.map(lambda a: np.array(np.asarray(a).reshape((-1,) + a.shape[2:])[variant["position"]]), public)


class _LazyWeights:
    """SweepResult's per-variant params, read from the store when a model is asked for."""

    def __init__(self, path, run, variants):
        self.path, self.run, self.variants = path, run, variants

    def __len__(self):
        return len(self.variants)

    def __getitem__(self, i):
        with Store.open(self.path) as s:
            model = model_for(self.run["spec"], self.variants[i]["settings"])
            return _weights(s, self.run, self.variants[i], model)


def _open(store):
    if isinstance(store, Store):
        return _Borrowed(store)
    return Store.open(store)


class _Borrowed:
    """A Store the caller owns: used in a `with` block without closing it."""

    def __init__(self, store):
        self.store = store

    def __enter__(self):
        return self.store

    def __exit__(self, *exc):
        return None
