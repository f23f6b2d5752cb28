"""layerlab against the reference trainers (tf.keras and PyTorch, one model after another) on
the article's sweep, on this machine, in one run.

    bash benchmarks/setup_peers.sh              # once: a separate venv with TensorFlow and PyTorch
    python benchmarks/compare.py --epochs 3     # peers from ../benchvenv, data from LAYERLAB_DATA

Reports steady-state seconds per model-epoch (each model's first epoch, which includes
compilation or tracing, left out), the median over the remaining epochs and models, and the
speed-up of layerlab. Writes the raw rows to --json if given.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
BENCH = HERE.parent.parent / "shared" / "bench"


def peer(python, script, data, epochs, rates):
    cmd = [python, str(BENCH / script), "--data", data, "--epochs", str(epochs),
           "--rates", ",".join(map(str, rates))]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def steady(rows):
    return statistics.median(r["seconds"] for r in rows if r["epoch"] > 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rates", default="0.0,0.2,0.4,0.6,0.8")
    p.add_argument("--peer-python", default=str(HERE.parent.parent / "benchvenv" / "bin" / "python"))
    p.add_argument("--peers", default="keras,torch")
    p.add_argument("--json")
    a = p.parse_args()
    rates = [float(r) for r in a.rates.split(",")]
    data = os.path.join(os.environ.get("LAYERLAB_DATA", str(BENCH.parent / "datasets")), "mnist")
    results = {}
    scripts = {"keras": "reference_keras.py", "torch": "reference_torch.py"}
    for name in a.peers.split(","):
        if name:
            rows = peer(a.peer_python, scripts[name], data, a.epochs, rates)
            results[name] = {"s_per_model_epoch": round(steady(rows), 4), "rows": rows}
            print(f"{name:9s} {results[name]['s_per_model_epoch']:.3f} s per model-epoch", flush=True)
    sys.path.insert(0, str(HERE))
    from bench_layerlab import run
    for v in (len(rates), 1):
        row = run(v, a.epochs)
        results[f"layerlab_{v}"] = row
        print(f"layerlab ({v} variant{'s' * (v > 1)}) {row['s_per_model_epoch']:.3f} s per model-epoch", flush=True)
    base = results[f"layerlab_{len(rates)}"]["s_per_model_epoch"]
    for name in a.peers.split(","):
        if name:
            print(f"speed-up over {name}: {results[name]['s_per_model_epoch'] / base:.1f}x")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
