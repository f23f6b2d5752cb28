"""Who owns a run: one process at a time trains it, and everyone can tell whether it still lives.

Claiming a run (starting or resuming it) is one transaction (Store.claim_run) that records the
owner's host, process id, the moment of the claim and a first heartbeat. While it trains, the
owner refreshes the heartbeat with every committed epoch and, from a small thread, every
HEARTBEAT_SECONDS during long epochs. Each write checks that the run is still the writer's
(same host, pid and claim), so a process that lost its run can never record into it.

Whether the owner lives:
  live:   on this host, its process runs (not a zombie, and the same process: its boot and start
          time, recorded on Linux, match, so a pid reused after the owner died or after a
          reboot does not count); on another host, its heartbeat is younger than STALE_SECONDS;
  gone:   the run is not 'running', or its process on this host is dead: anyone may resume it;
  silent: on another host, its heartbeat is older than STALE_SECONDS: probably gone, but this
          host cannot look, so only `--force` (force=True) takes it over.
A live owner is never taken over. Hosts compare heartbeats with their own clocks: they are
assumed to agree within a few seconds (NTP), far below STALE_SECONDS.
"""
import os
import socket
import threading
from datetime import UTC, datetime

from layerlab.errors import StoreError

HEARTBEAT_SECONDS = 5.0   # the owner's heartbeat during an epoch longer than this
STALE_SECONDS = 60.0      # a heartbeat older than this, from another host, counts as silent

OWNED = ("resume: run {run} is owned by {owner}; expected a run no live process trains. Wait for it to "
         "end, or stop that process, then resume.")
SILENT = ("resume: run {run} is owned by {owner}, older than {limit:g} s: it is probably gone, but "
          "this host ({here}) cannot tell; expected --force to take it over. Make sure it is stopped, then "
          "resume with --force (fit: StoreRecorder(..., force=True)).")
TAKEN_OVER = ("store {path}: run {run} is no longer this process's: {owner} took it over; expected to own "
              "it while recording. Nothing more is recorded by this process.")

_ACTIVE: set = set()  # (store path, run id) being written by this process


def here() -> dict:
    """This process as an owner: {'pid', 'host', 'process'}."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "process": process_token(os.getpid())}


def process_token(pid):
    """'BOOT_ID:START_TICKS' of a process on Linux (one process, even when its pid is reused), else None."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        with open(f"/proc/{pid}/stat") as f:
            start = f.read().rsplit(")", 1)[1].split()[19]  # field 22, starttime
    except (OSError, IndexError):
        return None
    return f"{boot}:{start}"


def owner_state(store, run) -> str:
    """'live', 'gone' or 'silent' (see the module's docstring) for a run row of `store`."""
    if run["status"] != "running" or not run["pid"]:
        return "gone"
    if run["host"] != socket.gethostname():
        age = heartbeat_age(run)
        return "live" if age is not None and age < STALE_SECONDS else "silent"
    if run["pid"] == os.getpid():
        return "live" if _key(store, run["id"]) in _ACTIVE else "gone"
    if run.get("process") and process_token(run["pid"]) not in (None, run["process"]):
        return "gone"  # the pid is another process's now
    return "live" if _pid_alive(run["pid"]) else "gone"


def _pid_alive(pid) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped is a zombie: it no longer writes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def heartbeat_age(run):
    """Seconds since the run's last heartbeat (by this host's clock), or None if it has none."""
    beat = run.get("heartbeat")
    if not beat:
        return None
    try:
        return max(0.0, (datetime.now(UTC) - datetime.fromisoformat(beat)).total_seconds())
    except ValueError:
        return None


def owner_text(run) -> str:
    """'process 123 on host-a since 2026-...Z, last heartbeat 2026-...Z (4 s ago)'."""
    age = heartbeat_age(run)
    beat = "no heartbeat" if age is None else f"last heartbeat {run['heartbeat']} ({age:.0f} s ago)"
    return f"process {run['pid']} on {run['host']} since {run.get('claimed') or run['started']}, {beat}"


def check_claim(store, run, force=False):
    """Raises StoreError unless this process may claim `run` (read inside the claiming transaction)."""
    state = owner_state(store, run)
    if state == "live":
        raise StoreError(OWNED.format(run=run["id"], owner=owner_text(run)))
    if state == "silent" and not force:
        raise StoreError(SILENT.format(run=run["id"], owner=owner_text(run), limit=STALE_SECONDS,
                                       here=socket.gethostname()))


def activate(store, run_id):
    _ACTIVE.add(_key(store, run_id))


def deactivate(store, run_id):
    _ACTIVE.discard(_key(store, run_id))


def _key(store, run_id):
    return os.path.abspath(store.path), run_id


class Heartbeat:
    """A daemon thread that refreshes `owner`'s heartbeat on run `run_id` every `seconds`, on its
    own connection (`connect(busy_seconds)` opens a Store); a beat that fails (a busy or full
    disk) is skipped, never fatal: the epoch commits beat too, and a missed beat only makes the
    owner look older."""

    def __init__(self, connect, run_id, owner, seconds=HEARTBEAT_SECONDS):
        self.connect, self.run_id, self.owner, self.seconds = connect, run_id, owner, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"layerlab-heartbeat-{run_id}", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.seconds + 1)

    def _run(self):
        store = None
        try:
            while not self._stop.wait(self.seconds):
                try:
                    store = store or self.connect(self.seconds)
                    if not store.beat(self.run_id, self.owner):
                        return  # taken over (or deleted): the epoch commit will say so
                except StoreError:
                    continue
        finally:
            if store is not None:
                store.close()
