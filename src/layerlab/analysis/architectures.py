"""Several models compared (a result of fit_models or a [[models]] study): per dataset, which
architecture is best, by how much, and where each of its settings starts to overfit.

An architecture's score is its best setting's: the setting (mean curve over seeds, with
repeats) with the lowest val_loss at any epoch, as analyze()'s recommendation picks one; its
val_accuracy is read at that same epoch. Overfitting onsets are analysis.curves'.

>>> comparison = compare_architectures(result)      # doctest: +SKIP
>>> print("\\n".join(comparison.findings))           # doctest: +SKIP
"""
from dataclasses import dataclass

import numpy as np

from layerlab._json import plain
from layerlab.analysis.curves import MIN_RISE, WINDOW, finite_prefix, overfitting_onset
from layerlab.analysis.stats import mean_band, seed_groups

COLUMNS = ("dataset", "model", "rank", "best_setting", "best_epoch", "best_val_loss", "val_accuracy_at_best",
           "onsets")


@dataclass
class Comparison:
    """table: one row per (dataset, model), best first within a dataset; findings: sentences."""
    table: "pd.DataFrame"  # noqa: F821
    findings: list

    def to_dict(self):
        return plain({"table": self.table.to_dict(orient="records"), "findings": list(self.findings)})


def compares_models(result) -> bool:
    """Whether `result` holds several models (its variants carry a 'model' setting)."""
    return "model" in result.swept and len({v.get("model") for v in result.variants}) > 1


def compare_architectures(result, window=WINDOW, min_rise=MIN_RISE):
    """The Comparison of a result's models, or None when it holds one model."""
    import pandas as pd
    if not compares_models(result):
        return None
    groups = seed_groups(result)
    rows, findings = [], []
    datasets = list(dict.fromkeys(v.get("dataset") for v in result.variants))
    for dataset in datasets:
        mine = [g for g in groups if g.settings.get("dataset") == dataset]
        scores = []
        for model in dict.fromkeys(g.settings["model"] for g in mine):
            settings = [g for g in mine if g.settings["model"] == model]
            scores.append(_score(result, model, settings, window, min_rise))
        scores.sort(key=lambda s: (np.isnan(s["best_val_loss"]), s["best_val_loss"]))
        for rank, s in enumerate(scores, 1):
            rows.append({"dataset": dataset, "model": s["model"], "rank": rank, "best_setting": s["setting"],
                         "best_epoch": s["epoch"], "best_val_loss": s["best_val_loss"],
                         "val_accuracy_at_best": s["val_accuracy"], "onsets": s["onsets_text"]})
        findings += _sentences(dataset, scores, result.metrics["val_loss"].shape[1])
    return Comparison(pd.DataFrame(rows, columns=list(COLUMNS)), findings)


def best_groups(result) -> dict:
    """{(dataset or None, model): the SeedGroup of that model's best setting (lowest mean val_loss)}."""
    out, low = {}, {}
    for g in seed_groups(result):
        finite = finite_prefix(mean_band(result.metrics["val_loss"][g.indices], None)[0])
        key = (g.settings.get("dataset"), g.settings.get("model"))
        value = float(finite.min()) if finite.size else np.inf
        if key not in out or value < low[key]:
            out[key], low[key] = g, value
    return out


def _score(result, model, settings, window, min_rise):
    """A model's best setting (lowest mean val_loss), its numbers and every setting's onset."""
    best = None
    onsets = []
    for g in settings:
        val = mean_band(result.metrics["val_loss"][g.indices], None)[0]
        acc = mean_band(result.metrics["val_accuracy"][g.indices], None)[0] if "val_accuracy" in result.metrics \
            else np.full_like(val, np.nan)
        finite = finite_prefix(val)
        label = _short(g.settings)
        onsets.append((label, overfitting_onset(val, window, min_rise)))
        if finite.size and (best is None or finite.min() < best["best_val_loss"]):
            e = int(np.argmin(finite))
            best = {"setting": label, "epoch": e + 1, "best_val_loss": float(finite[e]), "val_accuracy": float(acc[e])}
    best = best or {"setting": "-", "epoch": None, "best_val_loss": float("nan"), "val_accuracy": float("nan")}
    text = "; ".join(f"{label}: {'epoch ' + str(o) if o else 'none'}" for label, o in onsets)
    return {"model": model, **best, "onsets": onsets, "onsets_text": text}


def _short(settings):
    """'rate=0.2' from a seed group's settings, without the model and the dataset."""
    parts = [f"{k.rsplit('.', 1)[-1]}={v}" for k, v in settings.items() if k not in ("model", "dataset")]
    return ", ".join(parts) or "its one setting"


def _accuracy(score):
    return "" if np.isnan(score["val_accuracy"]) else f", val_accuracy {score['val_accuracy']:.4f}"


def _sentences(dataset, scores, epochs):
    where = f"On {dataset}" if dataset else "Of the models"
    good = [s for s in scores if not np.isnan(s["best_val_loss"])]
    out = []
    if not good:
        return [f"{where}, no model has a finite val_loss (every one diverged)."]
    first = good[0]
    head = (f"{where}, {first['model']} is best: its lowest val_loss is {first['best_val_loss']:.4f} "
            f"({first['setting']}, epoch {first['epoch']}{_accuracy(first)})")
    if len(good) > 1:
        others = []
        for s in good[1:]:
            diff = s["best_val_loss"] - first["best_val_loss"]
            part = (f"{s['model']}: {s['best_val_loss']:.4f} ({s['setting']}, epoch {s['epoch']}{_accuracy(s)}), "
                    f"{diff:.4f} ({diff / first['best_val_loss']:.0%}) higher than {first['model']}'s")
            if not (np.isnan(s["val_accuracy"]) or np.isnan(first["val_accuracy"])):
                points = 100 * (s["val_accuracy"] - first["val_accuracy"])
                part += f", {abs(points):.2f} val_accuracy points {'above' if points > 0 else 'below'} it"
            others.append(part)
        head += "; then " + "; ".join(others)
    out.append(head + ".")
    if not any(o for s in scores for _, o in s["onsets"]):
        none = f"{where}, no model overfits within {epochs} epochs with any setting (val_loss never rises for good)."
        return [*out, none]
    for s in scores:
        rising = [(label, o) for label, o in s["onsets"] if o]
        if not rising:
            out.append(f"{where}, {s['model']} does not overfit within {epochs} epochs with any setting "
                       f"(val_loss never rises for good).")
            continue
        flat = [label for label, o in s["onsets"] if not o]
        listed = ", ".join(f"{label} from epoch {o}" for label, o in rising)
        tail = f"; {', '.join(flat)} not within {epochs} epochs" if flat else ""
        out.append(f"{where}, {s['model']} starts to overfit (val_loss rising for good) with {listed}{tail}.")
    return out
