"""analyze(): onset, slope, gap and recommendation on synthetic curves with known answers;
confidence intervals over seeds; the article's findings checked; words, table and JSON."""
import json
import math

import numpy as np
import pytest
from synthetic import RATES, article_like, make_result, v_curve

from layerlab import analysis as A
from layerlab.analysis import AGREES, DISAGREES, PARTLY, UNTESTABLE


def noisy(curve, noise, seed):
    return curve + noise * np.random.default_rng(seed).standard_normal(curve.shape)


# -- overfitting onset ---------------------------------------------------------------------------
@pytest.mark.parametrize("onset", [4, 8, 20, 60])
def test_onset_of_a_clean_v_curve_is_exact(onset):
    assert A.overfitting_onset(v_curve(100, onset, 0.065, 0.14, 0.001)) == onset


@pytest.mark.parametrize("onset", [8, 20])
def test_onset_survives_noise(onset):
    found = [A.overfitting_onset(noisy(v_curve(100, onset, 0.065, 0.14, 0.0012), 0.001, s)) for s in range(10)]
    assert all(f is not None and abs(f - onset) <= 3 for f in found), found


@pytest.mark.parametrize("curve", [
    v_curve(100, None, 0.065, 0.14, 0.0),                     # still falling at the end
    np.full(100, 0.07),                                       # flat
    v_curve(100, 30, 0.065, 0.14, 0.00002),                   # rises by 0.2 %: within noise
    v_curve(100, None, 0.065, 0.14, 0.0) + 0.03 * np.exp(-((np.arange(100) - 30) / 6) ** 2),  # a bump, then lower
    np.linspace(0.3, 0.2, 6),                                 # too short to tell
], ids=["falling", "flat", "tiny-rise", "bump", "short"])
def test_no_onset_without_a_lasting_rise(curve):
    assert A.overfitting_onset(curve) is None
    for s in range(5):
        assert A.overfitting_onset(noisy(curve, 0.002, s)) is None


def test_onset_uses_the_epochs_before_divergence():
    curve = v_curve(60, 10, 0.065, 0.14, 0.002)
    curve[40:] = np.nan
    assert A.overfitting_onset(curve) == 10


def test_smooth_keeps_length_and_means():
    np.testing.assert_allclose(A.smooth(np.arange(7.0), 3), [0.5, 1, 2, 3, 4, 5, 5.5])


# -- slope, gap, best epoch ------------------------------------------------------------------------
def test_slope_after_epoch_20():
    e = np.arange(1, 101)
    val = np.where(e < 20, 0.2 - 0.005 * e, 0.1 + 0.001 * (e - 20))
    assert A.slope(val, 20) == pytest.approx(0.001)
    assert math.isnan(A.slope(val[:21], 20))  # two epochs from 20 on: too few


def test_table_columns_and_values():
    e = np.arange(1, 41)
    val = np.stack([v_curve(40, 10, 0.06, 0.2, 0.002), v_curve(40, None, 0.08, 0.2, 0.0)])
    loss = np.stack([0.2 * np.exp(-e / 5), 0.25 * np.exp(-e / 8) + 0.09])
    result = make_result({"loss": loss, "accuracy": 1 - loss / 3, "val_loss": val, "val_accuracy": 0.98 - val / 10},
                         [{"dense.units": 64}, {"dense.units": 128}], ["dense.units"])
    a = A.analyze(result, slope_after=20)
    t = a.table
    assert list(t.index) == ["units=64", "units=128"]
    for col in ("best_epoch", "best_val_loss", "final_val_loss", "final_gap", "slope", "onset_epoch"):
        assert col in t
    assert t.loc["units=64", "best_epoch"] == 10 and t.loc["units=64", "onset_epoch"] == 10
    assert t.loc["units=64", "best_val_loss"] == pytest.approx(0.06)
    assert t.loc["units=64", "final_gap"] == pytest.approx(val[0, -1] - loss[0, -1])
    assert t.loc["units=64", "slope"] == pytest.approx(0.002)
    assert t.loc["units=128", "onset_epoch"] is pd_na()
    assert t.loc["units=128", "final_gap"] < 0  # dropout-like: training loss above val_loss
    assert a.article == []  # not the article's study
    assert "units=64: val_loss is lowest at epoch 10" in " ".join(a.findings)
    assert "negative gap is normal with dropout" in " ".join(a.findings)


def pd_na():
    import pandas as pd
    return pd.NA


# -- recommendation ------------------------------------------------------------------------------
def test_recommendation_best_and_quickest():
    e = np.arange(1, 41, dtype=float)
    slow = 0.060 + 0.1 * np.maximum(0, (30 - e) / 29) ** 2 + 0.001 * np.maximum(0, e - 30)  # best 0.060 at 30
    fast = np.where(e <= 5, 0.062 + 0.01 * (5 - e), 0.062 + 0.001 * (e - 5))               # 0.062 at 5
    result = make_result({"loss": [slow, fast], "val_loss": [slow, fast]},
                         [{"dropout.rate": 0.5}, {"dropout.rate": 0.1}], ["dropout.rate"])
    r = A.analyze(result, tolerance=0.05).recommendation
    assert (r.label, r.epochs, r.val_loss) == ("rate=0.5", 30, pytest.approx(0.060))
    assert (r.quick_label, r.quick_epochs, r.quick_val_loss) == ("rate=0.1", 5, pytest.approx(0.062))
    assert "rate=0.1 after 5 epochs" in str(r)
    strict = A.analyze(result, tolerance=0.0).recommendation
    assert (strict.quick_label, strict.quick_epochs) == ("rate=0.5", 30)
    assert "No setting comes within 0% of it in fewer epochs" in str(strict)


# -- repeats and confidence intervals -------------------------------------------------------------
def repeats(shift, spread, seeds=(1, 2, 3, 4, 5), epochs=30):
    """Two settings; each seed's curve has a seed effect shared by both (common random numbers)
    and setting b is shifted by `shift` plus independent noise of size `spread`."""
    rng = np.random.default_rng(0)
    base = v_curve(epochs, 10, 0.07, 0.2, 0.001)
    metrics = {"loss": [], "val_loss": []}
    variants = []
    for rate, extra in (("a", 0.0), ("b", shift)):
        for s in seeds:
            val = base + 0.01 * s / len(seeds) + extra + spread * rng.standard_normal()
            metrics["val_loss"].append(val)
            metrics["loss"].append(base / 2)
            variants.append({"dense.activation": rate, "seed": s})
    return make_result(metrics, variants, ["dense.activation", "seed"])


def test_paired_interval_matches_the_t_formula():
    a, b = {1: 1.0, 2: 2.0, 3: 4.0}, {1: 0.5, 2: 1.0, 3: 2.5}
    diff, low, high, n, paired = A.paired_interval(a, b)
    d = np.array([0.5, 1.0, 1.5])
    half = 4.302652729911275 * d.std(ddof=1) / math.sqrt(3)
    assert (diff, n, paired) == (pytest.approx(1.0), 3, True)
    assert (low, high) == (pytest.approx(1.0 - half), pytest.approx(1.0 + half))
    diff, low, high, n, paired = A.paired_interval({1: 1.0, 2: 2.0}, {3: 0.0, 4: 1.0})  # no shared seed
    assert paired is False and diff == pytest.approx(1.0) and low < 1.0 < high


def test_real_difference_is_significant():
    a = A.analyze(repeats(shift=0.01, spread=0.0005))
    assert a.repeats and list(a.groups["seeds"]) == [5, 5]
    c = a.comparisons.set_index("metric")
    assert c.loc["best_val_loss", "setting"] == "activation=b"
    assert c.loc["best_val_loss", "versus"] == "activation=a"
    assert c.loc["best_val_loss", "difference"] == pytest.approx(0.01, abs=0.001)
    assert c.loc["best_val_loss", "significant"]
    assert "a real difference" in " ".join(a.findings)


def test_no_difference_is_not_significant():
    a = A.analyze(repeats(shift=0.0, spread=0.002))
    assert not a.comparisons.significant.any()
    words = " ".join(a.findings)
    assert "not significant - the interval contains 0" in words
    assert (a.comparisons.ci_low < 0).all() and (a.comparisons.ci_high > 0).all()


def test_seed_groups():
    r = article_like(epochs=5, seeds=(1, 2))
    groups = A.seed_groups(r)
    assert [g.label for g in groups] == [f"rate={p}" for p in RATES]
    assert groups[1].indices == [2, 3] and groups[1].seeds == [1, 2]


# -- the article's findings -----------------------------------------------------------------------
def test_article_like_curves_reach_the_articles_findings():
    a = article_like().analyze()
    by_claim = {f.claim: f for f in a.article}
    assert len(a.article) == 9
    onset = next(f for c, f in by_claim.items() if "about epoch 8" in c)
    assert onset.verdict == AGREES and "onset at epoch" in onset.evidence
    slope = next(f for c, f in by_claim.items() if "slope" in c)
    assert slope.verdict == AGREES
    assert all(f.verdict in (AGREES, PARTLY) for f in a.article), [str(f) for f in a.article]
    tutorial = next(f for c, f in by_claim.items() if "epochs=5" in c)
    assert tutorial.verdict == PARTLY and "5 epochs are too few" in tutorial.evidence


def test_disagreement_is_reported():
    r = article_like(rates=(0.0, 0.2, 0.4, 0.6))
    # Rate 0.0 without overfitting, and the slopes reversed: the article's picture does not hold.
    r.metrics["val_loss"][0] = v_curve(100, None, 0.065, 0.14, 0.0)
    r.metrics["val_loss"][3] = v_curve(100, 8, 0.065, 0.14, 0.002)
    by = {f.claim: f.verdict for f in A.analyze(r).article}
    assert by[next(c for c in by if "about epoch 8" in c)] == DISAGREES
    assert by[next(c for c in by if "slope" in c)] == DISAGREES


def test_missing_rates_are_not_testable():
    a = article_like(epochs=12, rates=(0.0, 0.5)).analyze()
    by = {f.claim: f.verdict for f in a.article}
    assert by[next(c for c in by if "0.6 clearly worse" in c)] == UNTESTABLE
    assert by[next(c for c in by if "epochs=5" in c)] == UNTESTABLE
    assert by[next(c for c in by if "about epoch 8" in c)] == UNTESTABLE  # 12 epochs are too few
    assert A.analyze(article_like(epochs=12), article=False).article == []


# -- words, JSON, errors ---------------------------------------------------------------------------
def test_words_table_and_json():
    r = article_like(seeds=(1, 2, 3))
    # Rate 0.0's three seeds get clean V-shaped val_loss curves whose lowest point, and so onset,
    # is exactly epoch 7, 8 and 9; rate 0.8's curves (variants 12-14) fall to the end: no onset.
    for i, onset in enumerate((7, 8, 9)):
        r.metrics["val_loss"][i] = v_curve(100, onset, 0.065, 0.14, 0.0012)
    a = r.analyze()
    text = str(a)
    for part in ("What the curves say", "val_loss is the loss on the validation data", "Compared with the article",
                 "Table (one row per setting", "onset_epoch", "Definitions", "95% CI"):
        assert part in text, part
    data = a.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["recommendation"]["label"] == a.recommendation.label
    assert len(data["variants"]) == 15 and len(data["groups"]) == 5
    assert {"claim", "verdict", "evidence"} <= set(data["article"][0])
    onsets = [v["onset_epoch"] for v in data["variants"]]
    assert onsets[:3] == [7, 8, 9] and all(type(o) is int for o in onsets[:3]), onsets  # plain ints, in order
    assert onsets[12:] == [None, None, None], onsets  # null in JSON
    assert "Analysis(15 variants, 100 epochs" in repr(a)


def test_bad_input(config_error):
    r = article_like(epochs=5)
    no_val = make_result({"loss": r.metrics["loss"]}, r.variants, r.swept)
    config_error(A.NO_VAL_LOSS, A.analyze, no_val, mentions=("['loss']",))
    config_error(A.BAD_TOLERANCE, A.analyze, r, tolerance=-0.1, mentions=("-0.1",))
    config_error(A.BAD_SLOPE_AFTER, A.analyze, r, slope_after=0, mentions=("0",))
