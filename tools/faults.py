"""The fault suite: one small study, trained by real `layerlab` processes that are killed, raced,
read, starved of disk and given damaged stores; the measured results as JSON (docs/reliability.md).

    LAYERLAB_DATA=../shared/datasets python tools/faults.py --kills 20 --races 10 --disk-full 10 \
        --damage 30 --out faults.json

Every check compares with one uninterrupted run of the same study (bitwise: history rows and
weights) and counts: epochs lost, epochs recorded twice (an audit trigger added to the store
counts every checkpoint commit), runs trained by two processes, `PRAGMA integrity_check`s
passed. tests/test_faults.py and tests/test_ownership.py run each fault in a short form.

Longer than 300 lines: each fault is a short function, and they share the launcher, the
reference and the checks; one file keeps the suite and its counting readable together.
"""
import argparse
import hashlib
import json
import os
import random
import select
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

EPOCHS = 40
EPOCH_SLEEP = 0.03  # after each commit, so that a group of processes overlaps the training

# `layerlab` with hooks from the environment, none of which changes a number:
#   FAULTS_BARRIER=DIR: before claiming the run, write DIR/ready-PID and wait for DIR/go;
#   FAULTS_SLEEP=S: sleep S seconds after each epoch is recorded;
#   FAULTS_FULL=E:N: before recording epoch E (from 0), the store may grow by N pages only
#   (SQLite's max_page_count: every later write that needs a page fails with SQLITE_FULL).
LAUNCHER = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from layerlab.store import StoreRecorder, _db
env = os.environ
if env.get("FAULTS_BARRIER"):
    folder, real_claim = env["FAULTS_BARRIER"], _db.Store.claim_run
    def claim_run(self, *args, **kwargs):
        open(os.path.join(folder, f"ready-{os.getpid()}"), "w").close()
        while not os.path.exists(os.path.join(folder, "go")):
            time.sleep(0.001)
        return real_claim(self, *args, **kwargs)
    _db.Store.claim_run = claim_run
real_end, sleep = StoreRecorder.epoch_end, float(env.get("FAULTS_SLEEP") or 0)
full = [int(x) for x in env["FAULTS_FULL"].split(":")] if env.get("FAULTS_FULL") else None
def epoch_end(self, group, epoch, row, state):
    if full and epoch == full[0]:
        conn = self.store._conn
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0] + full[1]}")
    real_end(self, group, epoch, row, state)
    time.sleep(sleep)
StoreRecorder.epoch_end = epoch_end
from layerlab.cli import main
sys.exit(main(sys.argv[1:]))
"""
AUDIT = """
CREATE TABLE IF NOT EXISTS audit (run_id INTEGER, grp INTEGER, epoch INTEGER, pid INTEGER);
CREATE TRIGGER IF NOT EXISTS audit_commit AFTER INSERT ON checkpoints BEGIN
    INSERT INTO audit VALUES (NEW.run_id, NEW.grp, NEW.epoch, (SELECT pid FROM runs WHERE id = NEW.run_id));
END;
"""
DROP_PRIVILEGES = ("import os, sys; os.setgroups([]); os.setgid(65534); os.setuid(65534); "
                   "os.execv(sys.executable, [sys.executable, '-m', 'layerlab.cli'] + sys.argv[1:])")


class Lab:
    """A folder, the study, a JAX compilation cache and the uninterrupted run to compare with."""

    def __init__(self, folder, epochs=EPOCHS):
        from tiny_study import tiny_study
        self.folder, self.epochs = Path(folder), epochs
        self.study = self.folder / "faults.toml"
        self.study.write_text(tiny_study(limit_train=600, limit_test=200, epochs=epochs, seed=4))
        self.cache = self.folder / "jax-cache"
        self.n = 0
        self.reference_store = self.store()
        p = self.launch("run", self.study, "--store", self.reference_store, "--quiet")
        _read_line(p)
        started = time.monotonic()
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        self.train_seconds = time.monotonic() - started  # from its run's claim to its end, on this machine now
        self.rows, self.weights = recorded(self.reference_store)

    def store(self, audit=True):
        """A new store (with the audit trigger), created before any process writes it."""
        from layerlab.store import Store
        self.n += 1
        path = self.folder / f"store-{self.n}" / "runs.db"
        Store.open(path, create=True).close()
        if audit:
            with sqlite3.connect(path) as db:
                db.executescript(AUDIT)
        return path

    def launch(self, *args, sleep=EPOCH_SLEEP, barrier=None, full=None, nobody=False, cwd=None):
        """`layerlab *args` in a new process (see LAUNCHER), its output in pipes."""
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
                   FAULTS_SLEEP=str(sleep), FAULTS_BARRIER=str(barrier or ""), FAULTS_FULL=full or "")
        env.pop("LAYERLAB_STORE", None)
        command = ["-c", LAUNCHER]
        if nobody:
            command = ["-c", DROP_PRIVILEGES]
        else:
            env.update(JAX_COMPILATION_CACHE_DIR=str(self.cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                       JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
        return subprocess.Popen([sys.executable, *command, *map(str, args)], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd or self.folder)

    def run(self, *args, **kwargs):
        p = self.launch(*args, **kwargs)
        out, err = p.communicate(timeout=600)
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def recorded(store, run_id=1):
    """(sorted history rows, every variant's weights) of a run."""
    import layerlab
    from layerlab.store import Store
    with Store.open(store) as s:
        rows = sorted(s.history(run_id))
        n = len(s.variants(run_id))
    return rows, [layerlab.load_model(run_id, i, store=store).get_weights() for i in range(n)]


def same_as_reference(lab, store, run_id=1):
    import numpy as np
    rows, weights = recorded(store, run_id)
    return rows == lab.rows and all(np.array_equal(a, b) for w, r in zip(weights, lab.weights) for a, b in zip(w, r))


def check_store(lab, store, run_id=1):
    """{integrity_ok, epochs, whole, prefix_ok, doubled}: the store's state against the reference."""
    from layerlab.store import Store, checkpoint
    with Store.open(store) as s, s.snapshot():
        ok = s.integrity() == "ok"
        run = s.run(run_id)
        done, rows = run["epochs_completed"], sorted(s.history(run_id))
        n = len(s.variants(run_id)) * len(run["spec"]["metrics"])
        epochs = sorted({r[1] for r in rows})
        whole = epochs == list(range(done)) and len(rows) == n * done
        kept = s.checkpoints(run_id, 0)
        if done:
            checkpoint.unpack(s.checkpoint_data(run_id, 0, kept[0]["epoch"]), kept[0]["sha256"])
    with sqlite3.connect(store) as db:
        has_audit = db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit'").fetchone()[0]
        doubled = db.execute("SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) n FROM audit WHERE run_id = ? "
                             "GROUP BY grp, epoch)", (run_id,)).fetchone()[0] if has_audit else 0
    prefix = [r for r in lab.rows if r[1] < done]
    return {"integrity_ok": ok, "epochs": done, "whole": whole, "prefix_ok": rows == prefix, "doubled": doubled}


def _integrity(store):
    with sqlite3.connect(store) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _read_line(process, timeout=120):
    """The process's first stdout line ('run 1 started: ...'), or '' if it ended first."""
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline() if ready else ""


# -- the faults ------------------------------------------------------------------------------------------
def kills(lab, n, rng):
    """SIGKILL at `n` random moments, resuming after each; a run that finishes before its kill
    is checked (bitwise) and a new one started, so the kills spread over several runs."""
    out = {"kills": 0, "processes": 0, "runs": 0, "bitwise": 0, "doubled": 0, "epochs_lost": 0,
           "integrity_ok": 0, "integrity_checks": 0, "bad_states": []}
    store, epochs, scale = None, 0, 1.0
    while out["kills"] < n and out["processes"] < 4 * n:
        if store is None:
            store, epochs = lab.store(), 0
            out["runs"] += 1
        args = ["run", lab.study] if epochs == 0 and not _has_run(store) else ["run", "--resume", "1"]
        p = lab.launch(*args, "--store", store, "--quiet")
        out["processes"] += 1
        if not _read_line(p):
            raise AssertionError(f"no run started: {p.communicate()}")
        time.sleep(rng.uniform(0, scale * lab.train_seconds * max(0.25, 1 - epochs / lab.epochs)))
        alive = p.poll() is None
        p.kill()
        p.communicate()
        state = check_store(lab, store)
        out["integrity_checks"] += 1
        out["integrity_ok"] += state["integrity_ok"]
        if not (state["whole"] and state["prefix_ok"] and state["integrity_ok"]):
            out["bad_states"].append(state)
        epochs = state["epochs"]
        if alive and epochs < lab.epochs:
            out["kills"] += 1
        else:
            scale *= 0.7  # it finished first: later kills come sooner
        if epochs == lab.epochs or out["kills"] == n:
            _finish(lab, store, out)
            store = None
    return out


def _has_run(store):
    with sqlite3.connect(store) as db:
        return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] > 0


def _finish(lab, store, out):
    """Resumes a run to its end and adds its checks to `out`."""
    final = lab.run("run", "--resume", "1", "--store", store, "--quiet")
    state = check_store(lab, store)
    out["processes"] += 1
    out["bitwise"] += final.returncode == 0 and same_as_reference(lab, store)
    out["doubled"] += state["doubled"]
    out["epochs_lost"] += lab.epochs - state["epochs"]
    out["integrity_checks"] += 1
    out["integrity_ok"] += state["integrity_ok"]


def races(lab, rounds, width, rng):
    """`width` processes resume one run at the same instant (a barrier just before the claim),
    `rounds` times; the winner of each round but the last is killed after one more epoch."""
    store = lab.store()
    p = lab.launch("run", lab.study, "--store", store, "--quiet")
    _read_line(p)
    _wait_epochs(store, 1)
    p.kill()
    p.communicate()
    result = {"rounds": 0, "one_winner": 0, "owner_lines": 0, "losers": 0, "trained_twice": 0}
    for r in range(rounds):
        barrier = Path(tempfile.mkdtemp(dir=lab.folder))
        ps = [lab.launch("run", "--resume", "1", "--store", store, "--quiet", barrier=barrier) for _ in range(width)]
        deadline = time.monotonic() + 300
        while len(list(barrier.glob("ready-*"))) < width and time.monotonic() < deadline:
            time.sleep(0.01)
        (barrier / "go").touch()
        before = check_store(lab, store)["epochs"]
        losers = _wait_losers(ps, width - 1)
        winners = [q for q in ps if q not in losers]
        result["rounds"] += 1
        result["losers"] += len(losers)
        result["one_winner"] += len(winners) == 1 and all(q.returncode == 2 for q in losers)
        with sqlite3.connect(store) as db:
            owner = db.execute("SELECT pid, host FROM runs WHERE id = 1").fetchone()
        for q in losers:
            err = q.stderr.read()
            result.setdefault("example", err.strip())
            result["owner_lines"] += (err.count("\n") == 1 and f"owned by process {owner[0]} on {owner[1]} since" in err
                                      and "last heartbeat" in err)
        last = r == rounds - 1 or before + 3 >= lab.epochs
        for q in winners:
            if not last:
                _wait_epochs(store, before + 1, q)
                q.kill()
            q.communicate(timeout=300)
        with sqlite3.connect(store) as db:
            pids = db.execute("SELECT COUNT(DISTINCT pid) FROM audit WHERE epoch >= ?", (before,)).fetchone()[0]
        result["trained_twice"] += pids > 1
        if last:
            break
    state = check_store(lab, store)
    result.update(width=width, bitwise=same_as_reference(lab, store), doubled=state["doubled"],
                  epochs_lost=lab.epochs - state["epochs"], integrity_ok=int(state["integrity_ok"]))
    return result


def _wait_epochs(store, n, process=None, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(store) as db:
            done = db.execute("SELECT COALESCE(MIN(epochs_done), 0) FROM variants WHERE run_id = 1").fetchone()[0]
        if done >= n or (process is not None and process.poll() is not None):
            return done
        time.sleep(0.005)
    raise AssertionError(f"{store}: not {n} epochs in {timeout} s")


def _wait_losers(ps, n, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ended = [q for q in ps if q.poll() is not None and q.returncode == 2]
        if len(ended) >= n or all(q.poll() is not None for q in ps):
            return ended
        time.sleep(0.01)
    return [q for q in ps if q.poll() is not None]


def readers(lab, rng):
    """A reader process polls `runs`, `show`, `report` and load_run while a run trains (the
    writer claims its run once the reader is ready to poll)."""
    store, barrier = lab.store(), Path(tempfile.mkdtemp(dir=lab.folder))
    writer = lab.launch("run", lab.study, "--store", store, "--quiet", sleep=0.2, barrier=barrier)
    reader = subprocess.run([sys.executable, "-c", READER, str(store), str(lab.folder / "report.html"),
                             str(barrier / "go")], env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
                            capture_output=True, text=True, timeout=600, check=False)
    writer.communicate(timeout=600)
    seen = json.loads(reader.stdout.strip().splitlines()[-1]) if reader.returncode == 0 else {"errors": [reader.stderr]}
    state = check_store(lab, store)
    return {**seen, "writer_exit": writer.returncode, "bitwise": same_as_reference(lab, store),
            "integrity_ok": int(state["integrity_ok"])}


READER = """
import contextlib, io, json, sys
import numpy as np
import layerlab
from layerlab import cli
import time
store, report, go = sys.argv[1:4]
polls, errors, half, seen, status = 0, [], 0, set(), "running"
open(go, "w").close()
def call(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([*args, "--store", store])
    if (code != 0 or err.getvalue()) and "has no recorded epoch yet" not in err.getvalue():
        errors.append((args, code, err.getvalue()))
    return out.getvalue()
while status == "running" or polls < 4:
    runs = json.loads(call("runs", "--json"))
    if not runs:  # the writer has not claimed its run yet
        time.sleep(0.01)
        continue
    (run,) = runs
    status = run["status"]
    shown = json.loads(call("show", "1", "--json"))
    if polls % 10 == 0:
        call("report", "1", "--out", report)
    result = layerlab.load_run(1, store=store)
    epochs = next(iter(result.metrics.values())).shape[1]
    half += sum(bool(np.isnan(m).any()) for m in result.metrics.values())
    half += epochs != result.run["epochs_completed"] or len({r["epochs"] for r in shown["variants"]}) > 1
    seen.add(epochs)
    polls += 1
print(json.dumps({"polls": polls, "errors": errors[:5], "half_epochs": half, "epochs_seen": len(seen)}))
"""


def two_runs(lab):
    """Two processes start two runs of the study in one new store at the same moment."""
    store = lab.store()
    ps = [lab.launch("run", lab.study, "--store", store, "--quiet") for _ in range(2)]
    codes = [p.wait(timeout=600) for p in ps]
    states = [check_store(lab, store, i) for i in (1, 2)]
    return {"exits": codes, "bitwise": [same_as_reference(lab, store, i) for i in (1, 2)],
            "integrity_ok": sum(s["integrity_ok"] for s in states), "doubled": sum(s["doubled"] for s in states)}


def disk_full(lab, n, rng, moments=None, growing=EPOCHS - 1, pages=4):
    """The store may grow by only a few pages from a random epoch on (or at `moments`, a list of
    (epoch, pages)); the run stops with one line, exit 2, and a resume with room again finishes bitwise.
    The store grows only while its first checkpoints are written (then freed pages are reused, and
    the history needs a page every few epochs): `growing` and `pages` choose where the limit falls."""
    out = {"tries": 0, "filled": 0, "one_line": 0, "integrity_ok": 0, "prefix_ok": 0, "bitwise": 0}
    moments = moments or [(rng.randrange(0, growing), rng.randrange(0, pages)) for _ in range(n)]
    for epoch, room in moments:
        store = lab.store()
        full = f"{epoch}:{room}"
        done = lab.run("run", lab.study, "--store", store, "--quiet", full=full, sleep=0)
        out["tries"] += 1
        if done.returncode == 0:
            continue  # the run never needed a new page after the limit
        out["filled"] += 1
        if "could not start a run" in done.stderr:  # full before the run was recorded: nothing to check but SQLite
            out["integrity_ok"] += _integrity(store)
            out["one_line"] += done.returncode == 2 and done.stderr.count("\n") == 1
            out["prefix_ok"] += 1
            out["bitwise"] += 1
            continue
        out["one_line"] += (done.returncode == 2 and done.stderr.count("\n") == 1
                            and done.stderr.startswith("layerlab: error: store ") and "full" in done.stderr)
        state = check_store(lab, store)
        out["integrity_ok"] += state["integrity_ok"]
        out["prefix_ok"] += state["whole"] and state["prefix_ok"]
        out["bitwise"] += lab.run("run", "--resume", "1", "--store", store, "--quiet").returncode == 0 and \
            same_as_reference(lab, store)
    return out


def damaged(lab, n, rng):
    """Copies of a finished store truncated or overwritten with garbage; the commands that read
    and write it (run here, in this process: no concurrency is involved) answer exit 0, or exit 2
    with one line, never a traceback, and a store they refuse is left byte for byte as it was."""
    out = {"stores": 0, "commands": 0, "refused": 0, "one_line": 0, "untouched_when_refused": 0, "errors": []}
    data = lab.reference_store.read_bytes()
    for i in range(n):
        path = lab.folder / f"damaged-{i}" / "runs.db"
        path.parent.mkdir()
        kind = ("truncate", "garbage", "header")[i % 3]
        if kind == "truncate":
            damaged_bytes = data[:rng.randrange(0, len(data))]
        else:
            at = 0 if kind == "header" else rng.randrange(0, len(data))
            junk = rng.randbytes(rng.randrange(1, 4096))
            damaged_bytes = (data[:at] + junk + data[at + len(junk):])[:len(data)]
        path.write_bytes(damaged_bytes)
        out["stores"] += 1
        for args in (["runs"], ["show", "1"], ["export", "1", "--format", "csv"], ["run", "--resume", "1", "--quiet"]):
            before = hashlib.sha256(path.read_bytes()).hexdigest()
            code, _, err = cli(*args, "--store", path)
            out["commands"] += 1
            if code != 0:
                out["refused"] += 1
                line = code == 2 and err.count("\n") == 1 and err.startswith("layerlab: error: ")
                out["one_line"] += line
                if not line:
                    out["errors"].append(err[-300:])
                out["untouched_when_refused"] += before == hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def cli(*args):
    """`layerlab *args` in this process: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from layerlab import cli as commands
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = commands.main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def read_only(lab):
    """A store in a folder this user cannot write; as root (whom permissions do not stop), the
    commands run as `nobody`, or the check is skipped, saying why."""
    nobody = os.geteuid() == 0
    if nobody:
        probe = subprocess.run([sys.executable, "-c", DROP_PRIVILEGES, "--help"], capture_output=True, text=True,
                               cwd="/", env=dict(os.environ, PYTHONPATH=str(ROOT / "src")), check=False)
        if probe.returncode != 0:
            return {"skipped": f"running as root, where permissions do not stop writes, and this Python "
                               f"({sys.executable}) cannot run as nobody to try it "
                               f"({(probe.stderr.strip().splitlines() or ['?'])[-1]})"}
    folder = Path(tempfile.mkdtemp(prefix="layerlab-ro-"))
    path = folder / "runs.db"
    shutil.copy(lab.reference_store, path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET status = 'interrupted'")  # so that resume and delete try to write
    nobody = os.geteuid() == 0
    os.chmod(folder, 0o555)
    os.chmod(path, 0o444)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    results = {}
    try:
        for args in (["runs"], ["run", "--resume", "1", "--quiet"], ["delete", "1"]):
            done = lab.run(*args, "--store", path, nobody=nobody, cwd=folder)
            results[" ".join(args)] = (done.returncode, done.stderr.strip())
    finally:
        os.chmod(folder, 0o755)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        ok = db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return {"as": "nobody" if nobody else "this user", "results": results, "integrity_ok": int(ok),
            "untouched": before == hashlib.sha256(path.read_bytes()).hexdigest()}


def bad_checksum(lab):
    """A run stopped after 4 epochs whose last checkpoint's bytes changed: load_model refuses it in
    one line; resume warns in one line, starts from the last good state and ends bitwise."""
    store = lab.store()
    p = lab.launch("run", lab.study, "--store", store, "--quiet")
    _read_line(p)
    _wait_epochs(store, 4)
    p.kill()
    p.communicate()
    with sqlite3.connect(store) as db:
        db.execute("UPDATE checkpoints SET data = CAST(zeroblob(8) || substr(data, 9) AS BLOB) WHERE run_id = 1")
    load = subprocess.run([sys.executable, "-c", f"import layerlab; layerlab.load_model(1, store={str(store)!r})"],
                          env=dict(os.environ, PYTHONPATH=str(ROOT / "src")), capture_output=True, text=True,
                          check=False)
    resumed = lab.run("run", "--resume", "1", "--store", store, "--quiet")
    state = check_store(lab, store)
    return {"load_model_refused": load.returncode != 0 and "does not match the recorded" in load.stderr,
            "resume_exit": resumed.returncode, "resume_warning": resumed.stderr.strip(),
            "bitwise": same_as_reference(lab, store), "integrity_ok": int(state["integrity_ok"])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--races", type=int, default=10, help="rounds of 2, and of 4, processes")
    parser.add_argument("--readers", type=int, default=1)
    parser.add_argument("--disk-full", type=int, default=10)
    parser.add_argument("--damage", type=int, default=30)
    parser.add_argument("--full-at", type=int, nargs=2, default=(EPOCHS - 1, 4), metavar=("EPOCHS", "PAGES"),
                        help="disk full from a random epoch below EPOCHS, with room for a random number of "
                             "pages below PAGES (80: anywhere inside a checkpoint's write)")
    parser.add_argument("--only", nargs="+", metavar="FAULT", help="run only these faults (names as in the output)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the results here as JSON too")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    started = time.monotonic()
    results = {"args": vars(args)}
    faults = [("kills", lambda: kills(lab, args.kills, rng)), ("races_of_2", lambda: races(lab, args.races, 2, rng)),
              ("races_of_4", lambda: races(lab, args.races, 4, rng)),
              ("readers", lambda: [readers(lab, rng) for _ in range(args.readers)]), ("two_runs", lambda: two_runs(lab)),
              ("disk_full", lambda: disk_full(lab, args.disk_full, rng, growing=args.full_at[0], pages=args.full_at[1])), ("damaged", lambda: damaged(lab, args.damage, rng)),
              ("read_only", lambda: read_only(lab)), ("bad_checksum", lambda: bad_checksum(lab))]
    with tempfile.TemporaryDirectory(prefix="layerlab-faults-") as folder:
        lab = Lab(folder)
        for name, fault in faults:
            if args.only and name not in args.only:
                continue
            results[name] = fault()
            results["seconds"] = round(time.monotonic() - started)
            if args.out:  # after each fault: what was measured survives a suite cut short
                Path(args.out).write_text(json.dumps(results, indent=1, default=str))
    print(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
