"""The store's tables, its version, and opening a file as a store (creating or migrating it).

The version lives in SQLite's `user_version`, the owner in `application_id` ("LLAB"), so a
foreign SQLite file is told apart from an empty new store. Migrations are numbered: version N
is what applying MIGRATIONS[1..N] in order gives, so a fresh store and a migrated old one end
with the same tables. A store newer than this code is refused, never written.
"""
import os
import sqlite3
import time
from pathlib import Path

from layerlab.errors import StoreError

SCHEMA_VERSION = 3
APPLICATION_ID = 0x4C4C4142  # "LLAB"
BUSY_SECONDS = 120.0  # a second writer waits this long for the first one's epoch commit

MIGRATIONS = {
    1: """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        study TEXT NOT NULL,              -- study file or script (absolute path), or fit's name=
        study_text TEXT,                  -- the TOML as read; NULL for runs started from Python
        spec TEXT NOT NULL,               -- resolved spec: model config, compile, fit, study (JSON)
        spec_sha256 TEXT NOT NULL,
        dataset TEXT NOT NULL,            -- 'mnist', or 'arrays' for data passed to fit()
        dataset_sha256 TEXT NOT NULL,     -- of the arrays trained and validated on
        layerlab_version TEXT NOT NULL, jax_version TEXT NOT NULL, python_version TEXT NOT NULL,
        machine TEXT NOT NULL,
        started TEXT NOT NULL, ended TEXT, -- ISO 8601, UTC
        status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'interrupted', 'failed')),
        epochs INTEGER NOT NULL,          -- planned
        error TEXT
    );
    CREATE TABLE variants (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        idx INTEGER NOT NULL,             -- index in the SweepResult
        settings TEXT NOT NULL,           -- {'dropout.rate': 0.2, 'seed': 1} (JSON)
        seed INTEGER NOT NULL,
        grp INTEGER NOT NULL,             -- compile group
        position INTEGER,                 -- row of the group's (S*R) state layout
        diverged_at INTEGER,              -- first epoch (1-based) with a non-finite loss
        PRIMARY KEY (run_id, idx)
    );
    CREATE TABLE history (
        run_id INTEGER NOT NULL, variant INTEGER NOT NULL, epoch INTEGER NOT NULL,  -- epoch from 0
        metric TEXT NOT NULL, value REAL,  -- NULL is NaN
        PRIMARY KEY (run_id, variant, epoch, metric)
    ) WITHOUT ROWID;
    CREATE TABLE checkpoints (
        run_id INTEGER NOT NULL, grp INTEGER NOT NULL,
        epoch INTEGER NOT NULL,           -- the state after this epoch (from 0)
        rng_epoch INTEGER NOT NULL,       -- RNG position: keys derive from (seed, epoch), so the next epoch
        sha256 TEXT NOT NULL, size INTEGER NOT NULL, created TEXT NOT NULL,
        data BLOB NOT NULL,               -- npz of the state leaves, in jax.tree.leaves order
        PRIMARY KEY (run_id, grp, epoch)
    );
    """,
    2: """
    ALTER TABLE runs ADD COLUMN pid INTEGER;   -- of the process writing it, to tell a killed run
    ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE variants ADD COLUMN epochs_done INTEGER NOT NULL DEFAULT 0;
    UPDATE variants SET epochs_done = (SELECT COUNT(DISTINCT epoch) FROM history h
                                       WHERE h.run_id = variants.run_id AND h.variant = variants.idx);
    """,
    3: """
    ALTER TABLE runs ADD COLUMN claimed TEXT;    -- when (pid, host) claimed the run (ISO 8601, UTC)
    ALTER TABLE runs ADD COLUMN heartbeat TEXT;  -- the owner's last sign of life (ISO 8601, UTC)
    ALTER TABLE runs ADD COLUMN process TEXT;    -- the owner's boot id and start time (Linux): its pid's identity
    UPDATE runs SET claimed = started, heartbeat = COALESCE(ended, started);
    """,
}

NO_STORE = ("store {path}: no such file; expected a run store written by `layerlab run` or "
            "fit(store=). Run a study first, or pass --store (or set LAYERLAB_STORE) to an existing store.")
CANNOT_OPEN = ("store {path}: cannot be opened ({error}); expected a readable SQLite file. "
               "Check the path and its permissions, or pass --store with another path.")
NOT_SQLITE = ("store {path}: not a SQLite database ({error}); expected a layerlab run store. "
              "Move the file away or pass --store (or set LAYERLAB_STORE) to another path.")
NOT_LAYERLAB = ("store {path}: a SQLite database of another program (application_id {app_id:#x}, "
                "tables {tables}); expected a layerlab run store. Pass --store with another path.")
TOO_NEW = ("store {path}: schema version {version}, newer than this layerlab's {supported}; "
           "expected version {supported} or older. Upgrade layerlab (pip install -U layerlab), "
           "or pass --store with another path.")


def connect(path, create: bool, busy_seconds=BUSY_SECONDS) -> sqlite3.Connection:
    """An open connection to the store at `path`, at SCHEMA_VERSION, in WAL mode; a write waits
    up to `busy_seconds` for another writer's transaction."""
    path = Path(path)
    if path.is_dir():
        raise StoreError(CANNOT_OPEN.format(path=path, error="it is a folder"))
    if not path.exists():
        if not create:
            raise StoreError(NO_STORE.format(path=path))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(CANNOT_OPEN.format(path=path, error=e.strerror or e)) from None
    elif not os.access(path, os.R_OK):
        raise StoreError(CANNOT_OPEN.format(path=path, error="permission denied"))
    try:
        # Autocommit mode: every write transaction is an explicit BEGIN IMMEDIATE ... COMMIT.
        conn = sqlite3.connect(path, timeout=busy_seconds, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as e:
        raise StoreError(CANNOT_OPEN.format(path=path, error=e)) from None
    try:
        _prepare(conn, path, busy_seconds)
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn, path, busy_seconds=BUSY_SECONDS):
    deadline = time.monotonic() + busy_seconds
    while True:
        try:
            return _prepare_once(conn, path)
        except sqlite3.OperationalError as e:
            # Switching a new file to WAL needs it alone for a moment, and SQLite answers a
            # second opener "locked" at once rather than waiting: try again.
            if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                raise StoreError(CANNOT_OPEN.format(path=path, error=e)) from None
            time.sleep(0.02)
        except sqlite3.Error as e:
            raise StoreError(CANNOT_OPEN.format(path=path, error=e)) from None


def _prepare_once(conn, path):
    try:
        version, app_id, tables = _identity(conn)
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError as e:
        raise StoreError(NOT_SQLITE.format(path=path, error=e)) from None
    _check(path, version, app_id, tables)
    conn.execute("PRAGMA journal_mode=WAL")   # readers never block the writer, nor it them
    conn.execute("PRAGMA synchronous=FULL")   # a committed epoch survives a crash
    conn.execute("PRAGMA foreign_keys=ON")
    if version < SCHEMA_VERSION:
        _migrate(conn, path)


def _identity(conn):
    """(user_version, application_id, tables), read in one statement: one consistent snapshot
    even while another process is creating the store."""
    version, app_id, tables = conn.execute(
        "SELECT (SELECT user_version FROM pragma_user_version), (SELECT application_id FROM pragma_application_id), "
        "(SELECT group_concat(name, ' ') FROM sqlite_master WHERE type = 'table')").fetchone()
    return version, app_id, (tables or "").split()


def _check(path, version, app_id, tables):
    if app_id not in (0, APPLICATION_ID) or (app_id == 0 and version == 0 and tables):
        raise StoreError(NOT_LAYERLAB.format(path=path, app_id=app_id, tables=sorted(tables)[:5]))
    if version > SCHEMA_VERSION:
        raise StoreError(TOO_NEW.format(path=path, version=version, supported=SCHEMA_VERSION))


def _migrate(conn, path, target=SCHEMA_VERSION):
    conn.execute("BEGIN IMMEDIATE")  # two processes creating one store: the second waits, then sees it done
    try:
        version, app_id, tables = _identity(conn)
        _check(path, version, app_id, tables)
        for v in range(version + 1, target + 1):
            for statement in _statements(MIGRATIONS[v]):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _statements(script):
    # executescript() would commit the open transaction; split on ';' instead (no ';' in strings).
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def create_at_version(path, version):
    """A new, empty store at an older schema version (tests of migration use it)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        _migrate(conn, path, target=version)
    finally:
        conn.close()
