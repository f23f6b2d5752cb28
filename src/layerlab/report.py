"""One self-contained HTML report of a run: the study, the model summary, the results table,
the analysis in words, the learning curves and, per variant, its mistakes (confusion matrix, the
most confident mistakes; the best variant against the others), with the figures embedded as base64 PNG.

The page needs no network (a Content-Security-Policy forbids every external resource and all
scripts) and every string that comes from the user (title, study text, labels, settings) is
escaped with html.escape.

>>> from layerlab.report import write_report
>>> write_report("out/dropout/report.html", result, title="Dropout against overfitting")  # doctest: +SKIP
"""
import html
import pathlib

import pandas as pd

from layerlab import figures as drawing  # not `figures`: render_html takes a figures= argument
from layerlab._version import __version__
from layerlab.analysis import analyze, compares_models, format_cell
from layerlab.analysis.words import OVERFITTING

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.1em; } .meta { color: #666; margin-top: 0; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: right; vertical-align: top; }
th.text, td.text { text-align: left; }
.recommendation { background: #eef6ee; border-left: 4px solid #4a4; padding: 0.5em 1em; }
.agrees { color: #1a7a1a; } .partly { color: #a66b00; } .disagrees { color: #b22; } .untestable { color: #777; }
figure { margin: 1em 0; } figure img { max-width: 100%; } figcaption { color: #555; font-size: 0.9em; }
dt { font-weight: 600; } dd { margin: 0 0 0.4em 1.5em; color: #444; }
"""
VERDICT_CLASS = {"agrees": "agrees", "partly": "partly", "disagrees": "disagrees", "not testable": "untestable"}
FINAL_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
CAPTIONS = {"overview": "All four curves. Top: training data (dropout on); bottom: validation data.",
            "accuracy": "Training accuracy per epoch.", "loss": "Training loss per epoch.",
            "val_accuracy": "Validation accuracy per epoch.",
            "val_loss": "Validation loss per epoch: where it turns upward, the model starts to overfit.",
            "models_val_accuracy": "Validation accuracy of each model's best setting (lowest val_loss), per dataset.",
            "models_val_loss": "Validation loss of each model's best setting (lowest val_loss), per dataset.",
            "sweeps_val_accuracy": "Validation accuracy of every setting, a panel per dataset and model.",
            "sweeps_val_loss": "Validation loss of every setting, a panel per dataset and model: where a curve "
                               "turns upward, that setting starts to overfit.",
            "confusion": "Confusion matrix: rows are the true classes; left counts, right each row's shares.",
            "most confident mistakes": "Misclassified images, most confident first: true -> predicted (confidence).",
            "difference": "The other variant's confusion counts minus the best's: blue where it puts more images."}


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def table_html(frame: pd.DataFrame, index=True) -> str:
    """A DataFrame as an HTML table, every header and cell escaped (numbers formatted, right-aligned)."""
    frame = frame.reset_index() if index else frame
    numeric = {c: pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns}
    cls = {c: "" if numeric[c] else ' class="text"' for c in frame.columns}
    head = "".join(f"<th{cls[c]}>{esc(c)}</th>" for c in frame.columns)
    rows = ["<tr>" + "".join(f"<td{cls[c]}>{esc(format_cell(c, v))}</td>" for c, v in row.items()) + "</tr>"
            for _, row in frame.iterrows()]
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def results_frame(result) -> pd.DataFrame:
    """Each variant's settings and its metrics at the last epoch."""
    rows = []
    for i, settings in enumerate(result.variants):
        row = {"variant": result.label(i), **{k: settings.get(k) for k in result.swept}}
        last = result.stopped[i][0] if i in result.stopped else -1  # a variant a callback stopped ends there
        row.update({f"final_{m}": float(result.metrics[m][i, last]) for m in FINAL_METRICS if m in result.metrics})
        row["diverged_at"] = result.diverged_at[i] if result.diverged_at[i] is not None else "-"
        if result.stopped:
            row["stopped_after"] = result.stopped[i][0] + 1 if i in result.stopped else "-"
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def _figure_html(name, fig):
    caption = CAPTIONS.get(name, name)
    return (f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{drawing.png_base64(fig)}"/>'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def _analysis_html(analysis):
    parts = [f"<p>{esc(OVERFITTING)}</p>",
             f'<p class="recommendation">{esc(analysis.recommendation)}</p>',
             "<ul>" + "".join(f"<li>{esc(s)}</li>" for s in analysis.findings
                              if s != str(analysis.recommendation)) + "</ul>"]
    if analysis.article:
        rows = "".join(f'<tr><td class="text {VERDICT_CLASS[f.verdict]}">{esc(f.verdict)}</td>'
                       f'<td class="text">{esc(f.claim)}</td><td class="text">{esc(f.evidence)}</td></tr>'
                       for f in analysis.article)
        parts.append('<h3>Compared with the article</h3><table><thead><tr><th class="text">verdict</th>'
                     '<th class="text">the article says</th><th class="text">this run shows</th></tr></thead>'
                     f"<tbody>{rows}</tbody></table>")
    if analysis.architectures is not None:
        parts.append("<h3>Models compared (best setting of each, best first)</h3>"
                     + table_html(analysis.architectures.table, index=False))
    caption = "per setting, mean curve over its seeds" if analysis.repeats else "per variant"
    parts.append(f"<h3>Table ({esc(caption)})</h3>" + table_html(analysis.display_table()))
    if analysis.comparisons is not None and len(analysis.comparisons):
        parts.append("<h3>Differences between settings (95% confidence intervals over seeds)</h3>"
                     + table_html(analysis.comparisons, index=False))
    parts.append("<h3>Definitions</h3><dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>"
                                                      for k, v in analysis.definitions().items()) + "</dl>")
    return "\n".join(parts)


NO_ANALYSIS = ("No analysis: this run has no validation data, and the analysis reads where each variant "
               "starts to overfit from val_loss. Train with validation_data= or validation_split= to get one.")


def _mistakes_html(result, mistakes):
    """Per variant its confusion matrix and most confident mistakes; the best variant against
    the others. mistakes: (Mistakes, images) or None: computed for a recorded study run."""
    if mistakes is None:
        from layerlab.inspection import inspect_run  # its predictions cost a pass over the data
        try:
            mistakes = inspect_run(result)
        except Exception as e:  # a run from Python on arrays, no weights, no dataset: the page goes on
            return f"<p>{esc(NO_MISTAKES.format(reason=' '.join(str(e).split())))}</p>"
    m, x = mistakes
    best = result.best("val_loss") if "val_loss" in result.metrics else 0
    parts = [f"<p>On {esc(m.description)}; "
             f"{m.hard_core().size} of {m.y.size} images are wrong in every variant.</p>"]
    for v in range(len(m)):
        parts.append(f"<h3>{esc(m.labels[v])}</h3>" + _figure_html("confusion", drawing.confusion_figure(m, v))
                     + _figure_html("most confident mistakes", drawing.gallery_figure(
                         x, m.misclassified(v), m.class_names, f"{m.labels[v]}: the most confident mistakes", 20)))
    for v in (v for v in range(len(m)) if v != best):
        c = m.compare(best, v)
        parts.append(f"<h3>{esc(m.labels[best])} (best) against {esc(m.labels[v])}</h3>"
                     f"<p>{len(c['a_only'])} images right only in {esc(m.labels[best])}, {len(c['b_only'])} right "
                     f"only in {esc(m.labels[v])}.</p>"
                     + _figure_html("difference", drawing.difference_figure(m, best, v)))
    return "\n".join(parts)


NO_MISTAKES = "No mistakes section: {reason}"


def render_html(result, analysis=None, *, title, study_text=None, summary_text=None, figures=None,
                ylims=None, mistakes=None) -> str:
    """The report as one HTML string.

    analysis: an Analysis (default: analyze(result), or none for a run without validation data,
    which the page then says). study_text: the study file or a description
    (shown verbatim). summary_text: model.summary()'s text. figures: {name: matplotlib Figure}
    (default: the overview and the four learning curves, with `ylims` such as ARTICLE_YLIM).
    mistakes: (Mistakes, images) for the mistakes section (default: a recorded study run's own,
    layerlab.inspection.inspect_run), or False for none.
    """
    if analysis is None and "val_loss" in result.metrics:
        analysis = analyze(result)
    if figures is None:
        names = ["overview"] + [m for m in drawing.METRICS if m in result.metrics]
        figures = drawing.figures(result, names, ylims)
    if compares_models(result) and not any(drawing.is_architecture_figure(n) for n in figures):
        figures = {**drawing.figures(result, drawing.architecture_names(result)), **figures}  # the models first
    epochs = next(iter(result.metrics.values())).shape[1]
    swept = "; ".join(f"{k}: " + ", ".join(dict.fromkeys(str(v[k]) for v in result.variants))
                      for k in result.swept)
    fit = ", ".join(f"{k}={v}" for k, v in result.params.items() if k in ("epochs", "batch_size", "seed") and v is not None)
    body = [f"<h1>{esc(title)}</h1>",
            f'<p class="meta">{len(result)} variants, {epochs} epochs; swept: {esc(swept or "nothing")}; '
            f"{esc(fit)}; layerlab {esc(__version__)}</p>"]
    if study_text:
        body.append(f"<h2>Study</h2><pre>{esc(study_text)}</pre>")
    if summary_text:
        body.append(f"<h2>Model</h2><pre>{esc(summary_text)}</pre>")
    body.append("<h2>Results at the last epoch</h2>" + table_html(results_frame(result)))
    body.append("<h2>Analysis</h2>" + (_analysis_html(analysis) if analysis is not None else f"<p>{esc(NO_ANALYSIS)}</p>"))
    body.append("<h2>Learning curves</h2>" + "".join(_figure_html(n, f) for n, f in figures.items()))
    if mistakes is not False and (mistakes is not None or hasattr(result, "run")):
        body.append("<h2>Mistakes</h2>" + _mistakes_html(result, mistakes))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_report(path, result, analysis=None, *, title, **kwargs):
    """Writes render_html(...) to path (UTF-8), creating its folder; returns the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result, analysis, title=title, **kwargs), encoding="utf-8")
    return path
