"""The analysis in words: sentences a learner reads about every setting's curves, and the whole
analysis as text (words first, then the table and the definitions).

Everything here reads an Analysis (layerlab.analysis) and computes nothing new.

>>> format_cell("best_val_loss", 0.0712345)
'0.0712'
"""
import math
import textwrap

import numpy as np

FORMATS = {"best_val_loss": "{:.4f}", "final_val_loss": "{:.4f}", "final_gap": "{:+.4f}",
           "slope": "{:+.5f}", "final_accuracy": "{:.4f}", "final_val_accuracy": "{:.4f}", "val_accuracy_at_best": "{:.4f}",
           "final_loss": "{:.4f}", "difference": "{:+.4f}", "ci_low": "{:+.4f}", "ci_high": "{:+.4f}"}
OVERFITTING = ("val_loss is the loss on the validation data, which the model never trains on. When it rises "
               "while the training loss keeps falling, the model is learning its training data by heart instead "
               "of the task: it overfits.")


def missing(value):
    """True for a cell without a number: None, pandas' NA or NaN."""
    return (value is None or type(value).__name__ == "NAType"  # pandas.NA, without importing pandas here
            or (isinstance(value, (float, np.floating)) and math.isnan(value)))


def per10(x):
    """A slope per epoch as the change over 10 epochs, signed: '+0.0120'."""
    return "n/a" if not math.isfinite(x) else f"{10 * x:+.4f}"


def describe(analysis):
    """Plain sentences about every setting's curves, the recommendation and the comparisons."""
    t, e, out = analysis.groups, analysis.epochs, []
    for label, row in t.iterrows():
        if missing(row.best_epoch):
            out.append(f"{label}: no finite val_loss at all (the run diverged at once).")
        elif not missing(row.onset_epoch):
            out.append(f"{label}: val_loss is lowest at epoch {row.best_epoch} ({row.best_val_loss:.4f}) "
                       f"and keeps rising from epoch {row.onset_epoch} on, to {row.final_val_loss:.4f} at "
                       f"epoch {e}: the model overfits.")
        else:
            out.append(f"{label}: val_loss does not rise for good within {e} epochs (lowest "
                       f"{row.best_val_loss:.4f} at epoch {row.best_epoch}, {row.final_val_loss:.4f} at the end).")
    if "diverged_at" in analysis.table:
        for label, row in analysis.table.iterrows():
            if not missing(row.diverged_at):
                out.append(f"{label} diverged at epoch {row.diverged_at} (its loss became NaN or "
                           "infinite); its numbers use the epochs before.")
    if "stopped_after" in analysis.table:
        for label, row in analysis.table.iterrows():
            if not missing(row.stopped_after):
                out.append(f"{label} was stopped by a callback after epoch {int(row.stopped_after)}; its numbers "
                           "use the epochs it trained.")
    gaps = t.final_gap.dropna()
    if len(gaps) > 1:
        out.append(f"Gap between validation and training loss at the end: largest for {gaps.idxmax()} "
                   f"({gaps.max():+.4f}), smallest for {gaps.idxmin()} ({gaps.min():+.4f}).")
    if len(gaps) and gaps.min() < 0:
        out.append("A negative gap is normal with dropout: the training loss is measured with dropout "
                   "on, which handicaps the model, the validation loss with it off.")
    slopes = t.slope
    if slopes.notna().any():
        listed = ", ".join(f"{label} {per10(s)}" for label, s in slopes.items())
        out.append(f"After epoch {analysis.slope_after}, val_loss changes per 10 epochs by: {listed}.")
    else:
        out.append(f"Too few epochs after epoch {analysis.slope_after} to measure how val_loss changes "
                   f"there; train longer or pass a smaller slope_after.")
    out.append(str(analysis.recommendation))
    if analysis.comparisons is not None:
        out.extend(comparison_sentence(r) for r in analysis.comparisons.itertuples())
    return out


def comparison_sentence(r):
    """One row of Analysis.comparisons in words, with whether the seeds can tell the two apart."""
    what = r.metric.replace("_val_loss", " val_loss")
    head = f"{what}, {r.setting} minus {r.versus}: {r.difference:+.4f}"
    if not math.isfinite(r.ci_low):
        return head + " (too few seeds for an interval)."
    head += (f" (95% CI {r.ci_low:+.4f} to {r.ci_high:+.4f}, {r.n} {'paired ' if r.paired else ''}seeds)")
    if r.significant:
        return head + f": {r.setting} is {'higher' if r.difference > 0 else 'lower'}, a real difference."
    return head + ": not significant - the interval contains 0, so these seeds cannot tell the two apart."


def format_text(analysis, width=100):
    """The analysis as text: words first, then the table and the definitions."""
    wrap = lambda s, indent="  - ": textwrap.fill(s, width, initial_indent=indent,  # noqa: E731
                                                  subsequent_indent=" " * len(indent))
    n = len(analysis.groups)
    lines = [f"What the curves say ({n} setting{'s' * (n != 1)}, {analysis.epochs} epochs"
             + (", mean over seeds" if analysis.repeats else "") + ")",
             textwrap.fill(OVERFITTING, width), ""]
    lines += [wrap(s) for s in analysis.findings]
    if analysis.article:
        lines += ["", "Compared with the article"]
        for f in analysis.article:
            lines += [wrap(f"[{f.verdict}] {f.claim}"), wrap(f"here: {f.evidence}", "      ")]
    if analysis.architectures is not None:
        lines += ["", "Models compared (best setting of each, best first)",
                  format_table(analysis.architectures.table.set_index(["dataset", "model"]).drop(columns="onsets"))]
    lines += ["", "Table" + (" (one row per setting, mean curve over its seeds)" if analysis.repeats else ""),
              format_table(analysis.display_table()), "", "Definitions"]
    lines += [wrap(f"{k}: {v}") for k, v in analysis.definitions().items()]
    return "\n".join(lines)


def format_cell(column, value):
    """A table cell as text: the column's number format (FORMATS), '-' for a missing value."""
    if missing(value):
        return "-"
    if column in FORMATS and isinstance(value, (float, np.floating)):
        return FORMATS[column].format(value) if math.isfinite(value) else "-"
    return str(value)


def format_table(table):
    """A DataFrame as aligned text, every cell through format_cell."""
    shown = table.copy().astype(object)
    for col in shown:
        shown[col] = [format_cell(col, v) for v in table[col]]
    return shown.to_string()
