"""The run store: every run, its variants, per-epoch history and checkpoints, in one SQLite file.

    >>> import layerlab
    >>> result = model.fit(x, y, epochs=5, store="layerlab-runs/layerlab.db")   # doctest: +SKIP
    >>> layerlab.load_run(result.run_id, store="layerlab-runs/layerlab.db")      # doctest: +SKIP

The default store is ./layerlab-runs/layerlab.db, or $LAYERLAB_STORE. The store is the only
part of layerlab that speaks SQL (_schema: tables and migrations; _db: reads and writes);
_recorder turns fit()'s recorder hooks (layerlab.recording) into commits. It keeps records
(rows, JSON specs, checkpoint bytes); layerlab.runs turns them back into models and results.
Checkpoints are .npz bytes with a SHA-256 (never pickle); configs are JSON. A run has one
owner at a time (_ownership: claimed atomically, kept alive by a heartbeat; docs/reliability.md).
"""
from . import checkpoint
from ._db import DEFAULT_PATH, ENV_STORE, Store, default_path
from ._ownership import HEARTBEAT_SECONDS, STALE_SECONDS, heartbeat_age, owner_state, owner_text
from ._recorder import StoreRecorder, data_checksum, process_alive, run_status, script_name
from ._schema import SCHEMA_VERSION

__all__ = ["DEFAULT_PATH", "ENV_STORE", "HEARTBEAT_SECONDS", "SCHEMA_VERSION", "STALE_SECONDS", "Store",
           "StoreRecorder", "checkpoint", "data_checksum", "default_path", "heartbeat_age", "owner_state",
           "owner_text", "process_alive", "run_status", "script_name"]
