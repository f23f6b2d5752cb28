"""How big a run store grows: the article's study (5 variants x 100 epochs) and 50 variants x 100
epochs of the same model, each trained in full into a new store; then `layerlab delete` of the
first run, which gives the space back. The sizes are those of the records (history rows, one
checkpoint a compile group, as pruned by default), which do not depend on how many images are
trained on: the study is run on 1,000 of MNIST's images to take minutes, not hours.

    LAYERLAB_DATA=../shared/datasets python tools/store_size.py
"""
import contextlib
import io
import json
import re
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def study(rates):
    text = (ROOT / "studies" / "dropout.toml").read_text()
    text = text.replace('divide_by = 255.0', 'divide_by = 255.0\nlimit_train = 1000\nlimit_test = 1000', 1)
    return re.sub(r"rate = \{ sweep = \[[^\]]*\] \}", f"rate = {{ sweep = {json.dumps(rates)} }}", text)


def measure(path):
    """{'file': bytes on disk, tables: bytes in each table and its index}, after closing."""
    with sqlite3.connect(path) as db:
        tables = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        ck = db.execute("SELECT COUNT(*), AVG(size) FROM checkpoints").fetchone()
        rows = db.execute("SELECT COUNT(*) FROM history").fetchone()[0]
    return {"file": path.stat().st_size, "history": tables.get("history", 0), "history_rows": rows,
            "checkpoints": tables.get("checkpoints", 0), "checkpoints_kept": ck[0], "checkpoint_bytes": ck[1]}


def main():
    from layerlab import cli
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        store = folder / "runs.db"
        for name, rates in (("article: 5 variants x 100 epochs", [0.0, 0.2, 0.4, 0.6, 0.8]),
                            ("50 variants x 100 epochs", [round(0.016 * i, 3) for i in range(50)])):
            path = folder / f"{len(rates)}.toml"
            path.write_text(study(rates))
            one = folder / f"{len(rates)}.db"
            assert cli.main(["run", str(path), "--store", str(one), "--quiet"]) == 0
            assert cli.main(["run", str(path), "--store", str(store), "--quiet"]) == 0
            out[name] = measure(one)
        before = store.stat().st_size
        with contextlib.redirect_stdout(io.StringIO()) as said:
            assert cli.main(["delete", "2", "--store", str(store)]) == 0
        out["delete"] = {"before": before, "after": store.stat().st_size, "said": said.getvalue().strip()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
