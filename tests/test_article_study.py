"""The article's study as stored in docs/dropout-study/: its history (every variant's four metrics
per epoch) read back, analysed, and held against what analysis.txt and README.md there say.

A reader trusts those two files; each number they state about the onset, the slopes after epoch 20,
the recommendation and the article's findings is checked here on the stored run, both against
analyze() and, where the definition is short, recomputed from the curves with plain numpy.
Nothing trains; the numbers stated in README.md's prose are parsed from it, so editing the prose
without the run (or the analysis without the prose) turns a test red.
"""
import csv
import itertools
import pathlib
import re

import numpy as np
import pytest
from synthetic import make_result

from layerlab import analysis as A
from layerlab.analysis import AGREES, PARTLY

STUDY = pathlib.Path(__file__).resolve().parents[1] / "docs" / "dropout-study"
RATES = [0.0, 0.2, 0.4, 0.6, 0.8]
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
EPOCHS = 100


def load_history(path):
    """history.csv (SweepResult.to_frame(): variant, dropout.rate, seed, epoch, metric, value) back
    into a SweepResult with the same variants, metrics (variants, epochs) and swept settings."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    n, epochs = 1 + max(int(r["variant"]) for r in rows), max(int(r["epoch"]) for r in rows)
    metrics = {m: np.full((n, epochs), np.nan) for m in {r["metric"] for r in rows}}
    variants = [None] * n
    for r in rows:
        i = int(r["variant"])
        metrics[r["metric"]][i, int(r["epoch"]) - 1] = float(r["value"])
        variants[i] = {"dropout.rate": float(r["dropout.rate"]), "seed": int(r["seed"])}
    return make_result(metrics, variants, ["dropout.rate"])


@pytest.fixture(scope="module")
def study():
    return load_history(STUDY / "history.csv")


@pytest.fixture(scope="module")
def analysis(study):
    return A.analyze(study)


@pytest.fixture(scope="module")
def prose():
    """README.md's text with its line breaks undone, so a sentence can be matched across lines."""
    return " ".join((STUDY / "README.md").read_text(encoding="utf-8").split())


def stated(pattern, text):
    match = re.search(pattern, text)
    assert match, f"docs/dropout-study/README.md no longer says {pattern!r}"
    return match


def test_the_stored_history_is_the_whole_study(study):
    # README: "seed 1, 5 dropout rates x 100 epochs on MNIST"; "every variant's four metrics per epoch"
    assert [v["dropout.rate"] for v in study.variants] == RATES
    assert {v["seed"] for v in study.variants} == {1}
    assert sorted(study.metrics) == sorted(METRICS)
    assert all(study.metrics[m].shape == (5, EPOCHS) and np.all(np.isfinite(study.metrics[m])) for m in METRICS)
    assert [study.label(i) for i in range(5)] == [f"rate={r}" for r in RATES]


def test_analysis_txt_is_what_analyze_prints_on_the_stored_history(study, analysis):
    # README: "`analysis.txt` is `result.analyze()` printed" (studies/dropout.py writes str + "\n").
    stored = (STUDY / "analysis.txt").read_text(encoding="utf-8").splitlines()
    now = str(analysis).splitlines()
    differ = [(i + 1, a, b) for i, (a, b) in enumerate(zip(stored, now)) if a != b]
    assert not differ and len(stored) == len(now), differ[:5] or (len(stored), len(now))


def test_onset_of_rate_0_is_the_stated_epoch(study, analysis, prose):
    # README: "val_loss for rate 0.0 worsens steadily from about epoch 8 (here: exactly 8)".
    onset = int(stated(r"val_loss for rate 0\.0 worsens steadily from about epoch \d+ \(here: exactly (\d+)\)",
                       prose).group(1))
    assert analysis.table.loc["rate=0.0", "onset_epoch"] == onset
    assert analysis.groups.loc["rate=0.0", "onset_epoch"] == onset
    # The definition, recomputed (WINDOW = 5, MIN_RISE = 5 %): the 5-epoch centred moving average
    # is lowest within 2 epochs of the onset, whose raw value is the lowest of that window; then
    # val_loss trends upwards and ends more than 5 % above that low.
    v = study.metrics["val_loss"][0]
    smoothed = np.array([v[max(0, e - 2):e + 3].mean() for e in range(len(v))])
    low = int(np.argmin(smoothed))
    assert abs(low + 1 - onset) <= 2
    assert onset - 1 == max(0, low - 2) + int(np.argmin(v[max(0, low - 2):low + 3]))
    assert np.polyfit(np.arange(onset, EPOCHS + 1), v[onset - 1:], 1)[0] > 0
    assert smoothed[-1] > 1.05 * smoothed[low]
    # "while val_accuracy hides it": the finding agrees without "accuracy does show it".
    finding = next(f for f in analysis.article if "about epoch 8" in f.claim)
    assert finding.verdict == AGREES and f"onset at epoch {onset} " in finding.evidence
    assert "accuracy does show it" not in finding.evidence


def test_slopes_after_epoch_20_are_the_stated_ones_in_rank_order(study, analysis, prose):
    # README: "after epoch 20 the slope of val_loss is smaller for larger rates (here in rank
    # order: +0.016, +0.009, +0.008, +0.005, +0.003 per 10 epochs)".
    listed = stated(r"after epoch 20 the slope of val_loss is smaller for larger rates \(here in rank order: "
                    r"([^)]*) per 10 epochs\)", prose).group(1)
    per10 = [float(x) for x in listed.split(",")]
    assert len(per10) == len(RATES)
    digits = len(listed.split(",")[0].split(".")[1])
    e = np.arange(20, EPOCHS + 1)
    for i, label in enumerate(f"rate={r}" for r in RATES):
        # least-squares slope per epoch of val_loss from epoch 20 to the last, recomputed
        fitted = np.polyfit(e, study.metrics["val_loss"][i, 19:], 1)[0]
        assert analysis.table.loc[label, "slope"] == pytest.approx(fitted, rel=1e-9)
        assert round(10 * fitted, digits) == pytest.approx(per10[i]), label
    assert all(a > b for a, b in itertools.pairwise(per10))  # strictly smaller for larger rates
    finding = next(f for f in analysis.article if "slope" in f.claim)
    assert finding.verdict == AGREES


def test_recommendation_is_the_stated_rate_and_epochs(study, analysis, prose):
    # README: "rate 0.2 gives the lowest val_loss (after 11 epochs, within 5% of it from epoch 8,
    # not 5: after 5 epochs it is 12% above its best)".
    m = stated(r"rate (0\.\d) gives the lowest val_loss \(after (\d+) epochs, within (\d+)% of it from epoch "
               r"(\d+), not 5: after 5 epochs it is (\d+)% above its best\)", prose)
    label, best_epochs, tolerance, within_from, above = (f"rate={m.group(1)}", *map(int, m.group(2, 3, 4, 5)))
    rec = analysis.recommendation
    assert (rec.label, rec.epochs) == (label, best_epochs)
    assert rec.tolerance == pytest.approx(tolerance / 100)
    assert (rec.quick_label, rec.quick_epochs) == (label, within_from)
    # Recomputed: the lowest val_loss over every rate and epoch, and rate 0.2's epochs within 5 % of it.
    val = study.metrics["val_loss"]
    i, e = np.unravel_index(int(np.argmin(val)), val.shape)
    assert (study.label(int(i)), int(e) + 1) == (label, best_epochs)
    j = RATES.index(float(m.group(1)))
    assert int(np.flatnonzero(val[j] <= val.min() * (1 + tolerance / 100))[0]) + 1 == within_from
    assert round(100 * (val[j, 4] / val.min() - 1)) == above
    finding = next(f for f in analysis.article if "epochs=5" in f.claim)
    assert finding.verdict == PARTLY
    assert f"+{above}% against the best" in finding.evidence and f"from epoch {within_from})" in finding.evidence


def test_the_articles_findings_have_the_stated_verdicts(study, analysis, prose):
    # README: "Eight of the article's nine findings agree, one partly"; the partly one is the
    # tutorial's 5 epochs, and "rate 0.0 reaches 1.0", "smaller rates learn faster".
    words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
    m = stated(r"(\w+) of the article's (\w+) findings agree, (\w+) partly", prose)
    agree, total, partly = (words[w.lower()] for w in m.groups())
    verdicts = [f.verdict for f in analysis.article]
    assert (len(verdicts), verdicts.count(AGREES), verdicts.count(PARTLY)) == (total, agree, partly)
    by_claim = {f.claim: f.verdict for f in analysis.article}
    assert by_claim["The tutorial's rate=0.2 with epochs=5 are well-chosen values."] == PARTLY
    assert by_claim["Rate 0.0 (no dropout) reaches a training accuracy of 1.0."] == AGREES
    assert by_claim["The smaller the rate, the faster the model learns."] == AGREES
    assert by_claim["Training accuracy and loss improve with the epochs for every rate."] == AGREES
    # Recomputed from the curves: rate 0.0's training accuracy reaches 0.999 (the figure's 1.0),
    # and the mean training accuracy over epochs 1-10 falls strictly with the rate.
    acc = study.metrics["accuracy"]
    assert acc[0].max() >= 0.999
    early = acc[:, :10].mean(axis=1)
    assert all(a > b for a, b in itertools.pairwise(early))
