"""The HTML report: self-contained, every user string escaped, and it renders in headless
Chromium without console errors (skipped with a message where Chromium is not installed)."""
import re
import shutil
import subprocess

import numpy as np
import pytest
from synthetic import article_like, make_result

from layerlab.analysis import analyze
from layerlab.figures import ARTICLE_YLIM
from layerlab.report import NO_ANALYSIS, render_html, write_report

HOSTILE = "<script>alert(1)</script>"
SUMMARY = 'Model: "sequential"\nflatten (Flatten)   (None, 784)   0'


@pytest.fixture(scope="module")
def hostile_result():
    """A run whose swept setting, and so every label, is a script tag."""
    base = article_like(epochs=12, rates=(0.0, 0.2))
    variants = [{"dense.activation": HOSTILE, "seed": 1}, {"dense.activation": "relu", "seed": 1}]
    return make_result(base.metrics, variants, ["dense.activation"])


@pytest.fixture(scope="module")
def page(hostile_result):
    return render_html(hostile_result, title=f"Title {HOSTILE}", study_text=f"study {HOSTILE} & more",
                       summary_text=SUMMARY)


def test_every_user_string_is_escaped(page):
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # title, study, tables, findings
    assert "<title>Title &lt;script&gt;" in page
    assert "study &lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page


def test_self_contained(page):
    assert 'http-equiv="Content-Security-Policy"' in page and "default-src 'none'" in page
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in page and "@import" not in page and "url(" not in page


def test_sections(page, hostile_result):
    for heading in ("Study", "Model", "Results at the last epoch", "Analysis", "Learning curves"):
        assert f"<h2>{heading}</h2>" in page
    assert page.count("<img ") == 5  # the overview and the four curves
    assert "Model: &quot;sequential&quot;" in page
    assert analyze(hostile_result).recommendation.label.replace("<", "&lt;").replace(">", "&gt;") in page


def test_article_study_report(tmp_path):
    result = article_like(epochs=30, seeds=(1, 2, 3))
    path = write_report(tmp_path / "sub" / "report.html", result, title="Dropout", ylims=ARTICLE_YLIM)
    page = path.read_text(encoding="utf-8")
    assert "Compared with the article" in page and 'class="text agrees"' in page
    assert "Differences between settings (95% confidence intervals over seeds)" in page
    assert "per setting, mean curve over its seeds" in page


def test_a_run_without_validation_data_gets_a_page_that_says_why_there_is_no_analysis():
    base = article_like(epochs=6, rates=(0.0, 0.2))
    result = make_result({k: base.metrics[k] for k in ("loss", "accuracy")}, base.variants, base.swept)
    page = render_html(result, title="no validation")
    assert "<h2>Analysis</h2><p>" + NO_ANALYSIS + "</p>" in page
    assert page.count("<img ") == 3  # the overview and the two training curves


def test_custom_figures_and_no_optional_sections(hostile_result):
    from layerlab.figures import learning_curve
    page = render_html(hostile_result, title="t", figures={"val_loss": learning_curve(hostile_result, "val_loss")})
    assert page.count("<img ") == 1
    assert "<h2>Study</h2>" not in page and "<h2>Model</h2>" not in page


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0"]


def chromium(path, tmp_path, *args):
    """Runs headless Chromium on a file; returns (stdout, the console messages it logged)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it for this test")
    profile = tmp_path / "profile"
    run = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, path.as_uri()],
                         capture_output=True, text=True, timeout=120)
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    return run.stdout, console


def test_renders_in_chromium_without_console_errors(tmp_path, hostile_result):
    path = write_report(tmp_path / "report.html", hostile_result, title=f"Report {HOSTILE}",
                        study_text=HOSTILE, summary_text=SUMMARY)
    dom, console = chromium(path, tmp_path, "--dump-dom")
    assert console == []
    assert "<h1>Report &lt;script&gt;alert(1)&lt;/script&gt;</h1>" in dom
    assert dom.count("<img ") == 5
    shot = tmp_path / "shot.png"
    _, console = chromium(path, tmp_path, f"--screenshot={shot}", "--window-size=1200,2400")
    assert console == [] and shot.read_bytes().startswith(b"\x89PNG")


def test_chromium_check_sees_console_errors(tmp_path):
    """The check above would notice a problem: a blocked remote image and a script both log."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
                   '<img src="https://example.invalid/x.png"><script>console.error("boom")</script>')
    _, console = chromium(bad, tmp_path, "--dump-dom")
    assert console, "Chromium logged no console messages: the render test cannot see errors"
    assert np.any(["Content Security Policy" in line for line in console])
