"""Where an epoch's time goes: XLA's per-kernel trace of one steady-state epoch of the
article's 5-variant sweep (or of Keras' simple convnet with --model cnn), summed by kernel and
matched to its HLO.

    XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true python benchmarks/profile_epoch.py [--variants 5]
    XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true python benchmarks/profile_epoch.py --model cnn --limit 6016

Kernel times are summed over both cores' threads, so they can add up to more than the wall time;
XLA's own (Eigen) convolutions and some dots run on its thread pool and show only their launch.
"""
import argparse
import collections
import glob
import gzip
import json
import re
import tempfile

import jax
import jax.numpy as jnp

import layerlab
from cnn_sweep import convnet, mnist_images
from layerlab import engine, layers, variants as variants_


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variants", type=int, default=5)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--model", choices=["dense", "cnn"], default="dense")
    p.add_argument("--limit", type=int, help="train on the first N samples only")
    p.add_argument("--no-validation", action="store_true", help="validate on one sample only (the training steps alone)")
    p.add_argument("--hlo", help="write the compiled epoch's HLO text to this file")
    a = p.parse_args()
    rates = [round(0.8 * i / max(1, a.variants - 1), 3) for i in range(a.variants)]
    rate = layerlab.sweep(rates) if a.variants > 1 else 0.2
    if a.model == "cnn":
        (x, y), (xv, yv) = mnist_images(a.limit)
        model, batch = convnet(rate), 128
    else:
        (x, y), (xv, yv) = layerlab.datasets.mnist.load_data()
        x, y = (x[:a.limit], y[:a.limit]) if a.limit else (x, y)
        x, xv = x / 255.0, xv / 255.0
        model, batch = layerlab.Sequential([layers.Flatten(input_shape=(28, 28)), layers.Dense(128, activation="relu"),
                                            layers.Dropout(rate), layers.Dense(10, activation="softmax")]), 32
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, validation_data=(xv, yv), epochs=1, seed=1, verbose=0, batch_size=batch)
    (program,) = model.compiled.programs.values()
    variants = [{"dropout.rate": r, "seed": 1} for r in rates] if a.variants > 1 else [{"seed": 1}]
    streams = [list(range(len(variants)))]
    hp = variants_.hparams(model, model.compiled.optimizer, variants, streams)
    keys = engine.stream_keys(jnp.stack([jax.random.PRNGKey(1)]))
    if a.no_validation:
        xv, yv = xv[:1], yv[:1]   # one sample: the program still validates
    data = engine.to_device_data(x, y.astype("int32")) + engine.to_device_data(xv, yv.astype("int32"))
    state = program.init(keys, hp)
    state, m = program.epoch(state, hp, keys, jnp.int32(0), *data)
    m.loss.block_until_ready()
    hlo = program.epoch.lower(program.init(keys, hp), hp, keys, jnp.int32(0), *data).compile().as_text()
    if a.hlo:
        with open(a.hlo, "w") as f:
            f.write(hlo)
    trace_dir = tempfile.mkdtemp()
    jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
    state, m = program.epoch(state, hp, keys, jnp.int32(1), *data)
    m.loss.block_until_ready()
    jax.profiler.stop_trace()
    events = json.load(gzip.open(sorted(glob.glob(f"{trace_dir}/**/*.trace.json.gz", recursive=True))[-1]))
    total, count = collections.Counter(), collections.Counter()
    for e in events["traceEvents"]:
        if e.get("ph") == "X" and not e["name"].startswith(("ThunkExecutor", "$", "Slinky")):
            total[e["name"]] += e["dur"]
            count[e["name"]] += 1
    shapes = {}
    for line in hlo.splitlines():
        match = re.match(r"\s*(?:ROOT )?%([\w.\-]+) = (\S+) ", line)
        if match:
            shapes.setdefault(match.group(1), match.group(2))
    whole = sum(total.values())
    print(f"sum of kernel time {whole / 1e3:.0f} ms")
    for name, us in total.most_common(a.top if a.top > 0 else None):
        print(f"{us / 1e3:8.1f} ms {100 * us / whole:5.1f}% x{count[name]:<6d} {name:32s} {shapes.get(name, '')}")


if __name__ == "__main__":
    main()
