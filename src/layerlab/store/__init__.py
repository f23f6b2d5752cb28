"""The run store: every run, its variants, per-epoch history and checkpoints, in one SQLite file.

    >>> import layerlab
    >>> result = model.fit(x, y, epochs=5, store="layerlab-runs/layerlab.db")   # doctest: +SKIP
    >>> layerlab.load_run(result.run_id, store="layerlab-runs/layerlab.db")      # doctest: +SKIP
    >>> layerlab.load_model(result.run_id, 2, store="layerlab-runs/layerlab.db") # doctest: +SKIP

The default store is ./layerlab-runs/layerlab.db, or $LAYERLAB_STORE. The store is the only
part of layerlab that speaks SQL (_schema: tables and migrations; _db: reads and writes);
_recorder turns fit()'s recorder hooks into commits, _load turns runs back into objects.
Checkpoints are .npz bytes with a SHA-256 (never pickle); configs are JSON.
"""
from ._db import DEFAULT_PATH, ENV_STORE, Store, default_path
from ._load import load_model, load_run, model_for
from ._recorder import StoreRecorder, data_checksum, process_alive
from ._schema import SCHEMA_VERSION

__all__ = ["DEFAULT_PATH", "ENV_STORE", "SCHEMA_VERSION", "Store", "StoreRecorder", "data_checksum",
           "default_path", "load_model", "load_run", "model_for", "process_alive"]
