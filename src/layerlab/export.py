"""A recorded run out to other tools: a tidy CSV, a JSON document, TensorBoard event files;
and the per-variant table of final and best metrics that `layerlab show` prints.

>>> import layerlab
>>> from layerlab import export
>>> result = layerlab.load_run(1)                          # doctest: +SKIP
>>> export.to_tensorboard(result, "tb/run-1")             # doctest: +SKIP
"""
import hashlib
import json
import re
import time
from pathlib import Path

import numpy as np

from layerlab._json import number
from layerlab.errors import ConfigError

NO_TENSORBOARD = ("export: format 'tensorboard': expected the tensorboard package; it is not installed. "
                  "Run `pip install 'layerlab[tensorboard]'` (or pip install tensorboard).")
OUT_IS_A_FILE = ("export: --out {out}: expected a folder for TensorBoard's event files; received a file. "
                 "Pass another --out.")
FORMATS = ("csv", "json", "tensorboard")


def summary_rows(result) -> list[dict]:
    """Per variant: its settings, epochs recorded, diverged_at, and for every metric the final
    value and the best one (lowest loss, highest accuracy) with its epoch (from 1)."""
    rows = []
    for i in range(len(result)):
        recorded = np.zeros(0, bool)
        for values in result.metrics.values():
            finite = np.isfinite(values[i])
            recorded = finite if recorded.size == 0 else recorded | finite
        epochs = int(np.flatnonzero(recorded)[-1]) + 1 if recorded.any() else 0
        stop = result.stopped.get(i)
        row = {"variant": i, "label": result.label(i), "settings": dict(result.variants[i]), "epochs": epochs,
               "diverged_at": result.diverged_at[i],
               # a callback stopped it after this epoch (from 1), and why
               "stopped_after": None if stop is None else stop[0] + 1, "stop_reason": None if stop is None else stop[1]}
        for name, values in result.metrics.items():
            v = values[i, :epochs]
            row[f"final_{name}"] = number(v[-1]) if epochs else None
            best, at = None, None
            if np.isfinite(v).any():
                j = int(np.nanargmax(v) if "accuracy" in name else np.nanargmin(v))
                best, at = number(v[j]), j + 1
            row[f"best_{name}"], row[f"best_{name}_epoch"] = best, at
        rows.append(row)
    return rows


def to_csv(result, path_or_buffer):
    """One row per (variant, epoch, metric), settings as columns: result.to_frame()."""
    result.to_frame().to_csv(path_or_buffer, index=False)


def to_json(result) -> dict:
    """{'run': provenance, 'metrics': [...], 'variants': [{index, label, settings, diverged_at,
    history: {metric: [per epoch, null for NaN]}}]}; ready for json.dump."""
    run = getattr(result, "run", None)
    return {"run": run, "metrics": list(result.metrics),
            "variants": [{"index": i, "label": result.label(i), "settings": result.variants[i],
                          "diverged_at": result.diverged_at[i],
                          "history": {k: [number(x) for x in v[i]] for k, v in result.metrics.items()}}
                         for i in range(len(result))]}


def write_json(result, path_or_buffer):
    text = json.dumps(to_json(result), indent=1)
    if hasattr(path_or_buffer, "write"):
        path_or_buffer.write(text + "\n")
    else:
        Path(path_or_buffer).write_text(text + "\n")


def to_tensorboard(result, logdir) -> list[Path]:
    """TensorBoard event files under `logdir`: one run (sub-folder) per variant with its
    settings as hparams and every metric per epoch (step = epoch from 1), plus the HParams
    experiment at the top. `tensorboard --logdir <logdir>` shows them. Returns the folders."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import summary_v2 as hp
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise ConfigError(NO_TENSORBOARD) from None
    logdir = Path(logdir)
    if logdir.exists() and not logdir.is_dir():
        raise ConfigError(OUT_IS_A_FILE.format(out=logdir))
    keys = list(dict.fromkeys(k for v in result.variants for k in v))
    now = time.time()

    def write(folder, events):
        writer = EventFileWriter(str(folder))
        for event in events:
            writer.add_event(event)
        writer.close()

    config = hp.hparams_config_pb([hp.HParam(k) for k in keys], [hp.Metric(k) for k in result.metrics])
    write(logdir, [event_pb2.Event(wall_time=now, summary=config)])
    folders = []
    for i, settings in enumerate(result.variants):
        folder = logdir / f"{i:02d}-{_slug(result.label(i))}"
        events = [event_pb2.Event(wall_time=now, summary=hp.hparams_pb({k: _hparam(settings.get(k)) for k in keys},
                                                                       trial_id=f"{i:02d} {result.label(i)}"))]
        for name, values in result.metrics.items():
            for e, x in enumerate(values[i]):
                if np.isfinite(x):
                    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=name, simple_value=float(x))])
                    events.append(event_pb2.Event(wall_time=now, step=e + 1, summary=summary))
        write(folder, events)
        folders.append(folder)
    return folders


def _hparam(v):
    return v if isinstance(v, (bool, int, float, str)) else json.dumps(v)


def _slug(label, limit=100):
    """A file name's part from a variant's label (its settings, layer names included): only
    [A-Za-z0-9_.=-], so never a separator or NUL; at most `limit` characters, a long label
    cut and told apart by a hash of the whole (a file name may have 255 bytes)."""
    slug = re.sub(r"[^A-Za-z0-9_.=-]+", "_", label).strip("_") or "variant"
    if len(slug) > limit:
        slug = f"{slug[:limit - 9]}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"
    return slug
