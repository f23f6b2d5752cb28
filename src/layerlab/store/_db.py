"""Store: runs, variants, per-epoch history and checkpoints in one SQLite file.

Every write is one `BEGIN IMMEDIATE ... COMMIT`: an epoch's history rows, its checkpoint and the
pruning of older checkpoints land together or not at all, so a crash costs at most the epoch in
flight, and a second process writing the same store waits for the commit instead of failing.
A run's owner (layerlab.store._ownership) is claimed in one such transaction, and the owner's
writes (epochs, heartbeats, its final status) change the run only while it is still the owner.
"""
import json
import os
import sqlite3
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from layerlab.errors import StoreError

from . import _schema
from ._ownership import TAKEN_OVER
from ._ownership import owner_text as _owner_text

NO_CHECKPOINT = ("store {path}: run {run} has no checkpoint of group {group} at epoch {epoch}; expected one "
                 "after every recorded epoch. Resume the run to write it.")
ENV_STORE = "LAYERLAB_STORE"
DEFAULT_PATH = Path("layerlab-runs") / "layerlab.db"

NO_RUN = ("store {path}: run {run}: no such run; expected one of the ids `layerlab runs` lists "
          "({known}). Pass one of those.")
WRITE_FAILED = ("store {path}: could not {action}: {error} (is the disk full, or a file-size limit "
                "reached?). What was committed before is kept; free space, then resume the run.")
READ_ONLY = ("store {path}: could not {action}: {error}; expected a store this process may write. Check the "
             "permissions of the file and its folder (or the mount), or pass --store with a writable path.")
READ_FAILED = "store {path}: could not {action}: {error}. Check the file, or pass --store with another path."


def default_path() -> Path:
    """$LAYERLAB_STORE, else ./layerlab-runs/layerlab.db."""
    return Path(os.environ.get(ENV_STORE) or DEFAULT_PATH)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """A run store. `Store.open(path)` for reading; `Store.open(path, create=True)` to record."""

    def __init__(self, path, conn):
        self.path, self._conn = Path(path), conn

    @classmethod
    def open(cls, path=None, *, create=False, busy_seconds=_schema.BUSY_SECONDS):
        path = Path(path) if path is not None else default_path()
        return cls(path, _schema.connect(path, create, busy_seconds))

    def close(self):
        self._conn.close()

    def reopen(self):
        """A fresh connection, after a failed write left this one in doubt."""
        try:
            self._conn.close()
        except sqlite3.Error:
            pass
        self._conn = _schema.connect(self.path, create=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"Store({str(self.path)!r})"

    # -- transactions ------------------------------------------------------------------------
    def _write_error(self, action, e):
        template = READ_ONLY if "readonly" in str(e) or "read-only" in str(e) else WRITE_FAILED
        return StoreError(template.format(path=self.path, action=action, error=e))

    @contextmanager
    def _write(self, action):
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise self._write_error(action, e) from None
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException as e:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # a failed COMMIT may have rolled back already
            if isinstance(e, sqlite3.Error):
                raise self._write_error(action, e) from None
            raise

    @contextmanager
    def snapshot(self):
        """Reads inside see one state of the store, however many epochs writers commit meanwhile."""
        self._conn.execute("BEGIN")
        try:
            yield self
        finally:
            self._conn.execute("COMMIT")

    def _read(self, action, sql, args=()):
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise StoreError(READ_FAILED.format(path=self.path, action=action, error=e)) from None

    # -- runs ----------------------------------------------------------------------------------
    def create_run(self, run: dict, variants: list[dict]) -> int:
        """Inserts a run (status 'running', claimed by run's pid and host) and its variants; returns the run id."""
        started = now()
        fields = {**run, "started": started, "status": "running", "claimed": started, "heartbeat": started}
        with self._write("start a run") as db:
            cur = db.execute(f"INSERT INTO runs ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})",
                             list(fields.values()))
            run_id = cur.lastrowid
            db.executemany("INSERT INTO variants (run_id, idx, settings, seed, grp) VALUES (?, ?, ?, ?, ?)",
                           [(run_id, v["idx"], json.dumps(v["settings"]), v["seed"], v["grp"]) for v in variants])
        return run_id

    def run(self, run_id) -> dict:
        rows = self._runs("WHERE r.id = ?", (_as_id(run_id),))
        if not rows:
            known = ", ".join(str(r["id"]) for r in self.runs()[-10:]) or "none yet"
            raise StoreError(NO_RUN.format(path=self.path, run=run_id, known=known))
        return rows[0]

    def runs(self) -> list[dict]:
        """Every run, oldest first, with `variants` and `epochs_completed` (by every variant)."""
        return self._runs("", ())

    def latest_run(self, study: str):
        rows = self._runs("WHERE r.study = ?", (study,))
        return rows[-1] if rows else None

    def _runs(self, where, args):
        rows = self._read("list runs", f"""
            SELECT r.id, r.study, r.study_text, r.spec, r.spec_sha256, r.dataset, r.dataset_sha256,
                   r.layerlab_version, r.jax_version, r.python_version, r.machine, r.started, r.ended,
                   r.status, r.epochs, r.error, r.pid, r.host, r.claimed, r.heartbeat, r.process,
                   (SELECT COUNT(*) FROM variants v WHERE v.run_id = r.id),
                   (SELECT COALESCE(MIN(v.epochs_done), 0) FROM variants v WHERE v.run_id = r.id)
            FROM runs r {where} ORDER BY r.id""", args)
        keys = ("id", "study", "study_text", "spec", "spec_sha256", "dataset", "dataset_sha256",
                "layerlab_version", "jax_version", "python_version", "machine", "started", "ended",
                "status", "epochs", "error", "pid", "host", "claimed", "heartbeat", "process", "variants",
                "epochs_completed")
        out = []
        for row in rows:
            d = dict(zip(keys, row))
            d["spec"] = json.loads(d["spec"])
            out.append(d)
        return out

    def mark_running(self, run_id, pid, host):
        with self._write(f"resume run {run_id}") as db:
            db.execute("UPDATE runs SET status = 'running', ended = NULL, error = NULL, pid = ?, host = ? "
                       "WHERE id = ?", (pid, host, run_id))

    def claim_run(self, run_id, owner, check) -> dict:
        """Makes `owner` ({'pid', 'host', 'process'}) the run's owner in one transaction if `check(run)`
        does not raise; returns the run as claimed; owner['claimed'] is what later writes check."""
        with self._write(f"claim run {run_id}") as db:
            run = self.run(run_id)
            check(run)
            stamp = now()
            db.execute("UPDATE runs SET status = 'running', ended = NULL, error = NULL, pid = ?, host = ?, process = ?, "
                       "claimed = ?, heartbeat = ? WHERE id = ?",
                       (owner["pid"], owner["host"], owner.get("process"), stamp, stamp, run["id"]))
        owner["claimed"] = stamp
        return {**run, "status": "running", "ended": None, "error": None, **owner, "heartbeat": stamp}

    def _still_owned(self, db, run_id, owner) -> bool:
        """Refreshes the heartbeat if `owner` still owns the run (inside a write)."""
        cur = db.execute("UPDATE runs SET heartbeat = ? WHERE id = ? AND pid = ? AND host = ? AND claimed = ?",
                         (now(), run_id, owner["pid"], owner["host"], owner["claimed"]))
        return cur.rowcount == 1

    def beat(self, run_id, owner) -> bool:
        """The owner's heartbeat; False if it no longer owns the run."""
        with self._write(f"refresh the heartbeat of run {run_id}") as db:
            return self._still_owned(db, run_id, owner)

    def finish_run(self, run_id, status, error=None, owner=None):
        """Marks the run `status`; with `owner`, only if it still owns the run (returns whether it did)."""
        with self._write(f"mark run {run_id} {status}") as db:
            sql, args = "UPDATE runs SET status = ?, ended = ?, error = ? WHERE id = ?", [status, now(), error, run_id]
            if owner is not None:
                sql += " AND pid = ? AND host = ? AND claimed = ?"
                args += [owner["pid"], owner["host"], owner["claimed"]]
            return db.execute(sql, args).rowcount == 1

    def delete_run(self, run_id):
        run_id = self.run(run_id)["id"]
        with self._write(f"delete run {run_id}") as db:
            for table in ("history", "checkpoints", "variants"):
                db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    # -- variants and history -------------------------------------------------------------------
    def variants(self, run_id) -> list[dict]:
        rows = self._read("read variants", "SELECT idx, settings, seed, grp, position, diverged_at, epochs_done "
                          "FROM variants WHERE run_id = ? ORDER BY idx", (run_id,))
        return [{"idx": r[0], "settings": json.loads(r[1]), "seed": r[2], "grp": r[3], "position": r[4],
                 "diverged_at": r[5], "epochs_done": r[6]} for r in rows]

    def set_positions(self, run_id, group, order):
        with self._write(f"record the layout of group {group}") as db:
            db.executemany("UPDATE variants SET grp = ?, position = ? WHERE run_id = ? AND idx = ?",
                           [(group, p, run_id, int(i)) for p, i in enumerate(order)])

    def history(self, run_id, variants=None, epochs=None) -> list[tuple]:
        """(variant, epoch, metric, value) rows; value None stands for NaN."""
        sql, args = "SELECT variant, epoch, metric, value FROM history WHERE run_id = ?", [run_id]
        if variants is not None:
            sql += f" AND variant IN ({', '.join('?' * len(variants))})"
            args += [int(v) for v in variants]
        if epochs is not None:
            sql += " AND epoch < ?"
            args.append(int(epochs))
        return self._read("read the history", sql, args)

    # -- an epoch, committed whole ------------------------------------------------------------------
    def commit_epoch(self, run_id, group, epoch, rows, checkpoint, diverged, keep_best=False, keep_last=1,
                     owner=None):
        """History rows (variant, epoch, metric, value), the group's checkpoint (sha256, data) and
        the diverged variants, in one transaction; then drops the group's older checkpoints but
        the last `keep_last` and, with keep_best, those at each variant's lowest val_loss. With
        `owner`, nothing is written unless it still owns the run (StoreError), and its heartbeat is refreshed."""
        sha256, data = checkpoint
        variants = sorted({int(r[0]) for r in rows})
        with self._write(f"record epoch {epoch + 1} of run {run_id}") as db:
            if owner is not None and not self._still_owned(db, run_id, owner):
                raise StoreError(TAKEN_OVER.format(path=self.path, run=run_id, owner=_owner_text(self.run(run_id))))
            db.executemany("INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?)",
                           [(run_id, int(v), int(e), m, x) for v, e, m, x in rows])
            db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, group, epoch, epoch + 1, sha256, len(data), now(), sqlite3.Binary(data)))
            marks = ", ".join("?" * len(variants))
            db.execute(f"UPDATE variants SET epochs_done = ? WHERE run_id = ? AND idx IN ({marks})",
                       [epoch + 1, run_id, *variants])
            db.executemany("UPDATE variants SET diverged_at = ? WHERE run_id = ? AND idx = ? AND diverged_at IS NULL",
                           [(epoch + 1, run_id, int(v)) for v in diverged])
            keep = set(range(max(0, epoch - keep_last + 1), epoch + 1))
            if keep_best:
                best = db.execute(f"""
                    SELECT variant, epoch FROM history WHERE run_id = ? AND metric = 'val_loss'
                    AND value IS NOT NULL AND variant IN ({marks}) ORDER BY variant, value DESC, epoch DESC""",
                                  [run_id, *variants]).fetchall()
                keep |= set(dict(best).values())  # the last row of each variant wins: its minimum
            db.execute(f"DELETE FROM checkpoints WHERE run_id = ? AND grp = ? AND epoch NOT IN "
                       f"({', '.join('?' * len(keep))})", [run_id, group, *sorted(keep)])

    def checkpoints(self, run_id, group) -> list[dict]:
        """The group's checkpoints, newest first, without their data."""
        rows = self._read("list checkpoints", "SELECT epoch, rng_epoch, sha256, size, created FROM checkpoints "
                          "WHERE run_id = ? AND grp = ? ORDER BY epoch DESC", (run_id, group))
        return [dict(zip(("epoch", "rng_epoch", "sha256", "size", "created"), r)) for r in rows]

    def checkpoint_data(self, run_id, group, epoch) -> bytes:
        rows = self._read("read a checkpoint", "SELECT data FROM checkpoints WHERE run_id = ? AND grp = ? "
                          "AND epoch = ?", (run_id, group, epoch))
        if not rows:
            raise StoreError(NO_CHECKPOINT.format(path=self.path, run=run_id, group=group, epoch=epoch + 1))
        return bytes(rows[0][0])

    def integrity(self) -> str:
        """SQLite's own check: 'ok', or what is wrong."""
        return "; ".join(r[0] for r in self._read("check integrity", "PRAGMA integrity_check"))

    def checkpoint_wal(self):
        """Moves committed pages into the main file and empties the WAL (frees its space)."""
        self._read("checkpoint the WAL", "PRAGMA wal_checkpoint(TRUNCATE)")

    def vacuum(self):
        """Rewrites the file without the free pages deleted runs left (the disk space comes back);
        a writer of another run waits meanwhile, as for an epoch commit."""
        try:
            self._conn.execute("VACUUM")
        except sqlite3.Error as e:
            raise self._write_error("vacuum the store", e) from None
        self.checkpoint_wal()

    def size(self) -> int:
        """Bytes on disk: the file, its WAL and shared-memory index."""
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm"))
                   if p.exists())


def _as_id(run_id):
    try:
        return int(run_id)
    except (TypeError, ValueError):
        return -1
