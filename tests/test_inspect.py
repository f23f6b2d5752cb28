"""What a run's variants get wrong (layerlab.analysis.mistakes against hand-counted answers, the
predictions of one program against each model's own predict) and the commands over it:
`layerlab inspect` (figures, JSON) and `layerlab predict` (top 3, JSON, a figure per image, bad
pictures one line each while the others are answered)."""
import contextlib
import io
import json
import re
import sqlite3

import numpy as np
import pytest
from PIL import Image

import layerlab
from conftest import matches
from layerlab import cli, inspection, runs
from layerlab.analysis.mistakes import Mistakes
from tiny_study import tiny_study


def call(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_mistakes_against_hand_counted_answers(config_error):
    y = np.array([0, 1, 2, 2])
    p = np.zeros((2, 4, 3))
    p[0, np.arange(4), [0, 2, 2, 1]] = [0.9, 0.8, 0.6, 0.7]   # variant 0: wrong on 1 (0.8) and 3 (0.7)
    p[1, np.arange(4), [0, 1, 0, 1]] = [0.5, 0.9, 0.95, 0.6]  # variant 1: wrong on 2 (0.95) and 3 (0.6)
    m = Mistakes(p, y, ["a", "b"])
    assert m.confusion(0).tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    assert np.allclose(m.normalized(0), [[1, 0, 0], [0, 0, 1], [0, 0.5, 0.5]])
    per = m.per_class(0)
    assert per["support"].tolist() == [1, 1, 2]
    assert np.allclose(per["recall"], [1, 0, 0.5]) and np.allclose(per["precision"], [1, 0, 0.5])
    assert [e["index"] for e in m.misclassified(0)] == [1, 3]
    assert m.misclassified(1)[0] == {"index": 2, "true": 2, "predicted": 0, "confidence": 0.95}
    c = m.compare(0, 1)
    assert [e["index"] for e in c["a_only"]] == [2] and [e["index"] for e in c["b_only"]] == [1]
    assert c["confusion_difference"].tolist() == (m.confusion(1) - m.confusion(0)).tolist()
    assert m.hard_core().tolist() == [3]
    d = m.to_dict(1, vs=0)
    assert d["per_class"][1]["precision"] == 0.5 and json.dumps(d)
    assert d["comparison"]["right_only_in_variant"][0]["index"] == 1
    config_error(None, m.confusion, 2, mentions=("variant", "2"))
    config_error(None, Mistakes, p, np.array([0, 1, 3, 0]), mentions=("y",))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, real_mnist):
    folder = tmp_path_factory.mktemp("inspect")
    (folder / "s.toml").write_text(tiny_study(limit_train=1000, limit_test=300, epochs=2))
    store = folder / "runs.db"
    code, _, err = call("run", folder / "s.toml", "--store", store, "--quiet")
    assert code == 0, err
    return store


def test_one_program_predicts_every_variant_as_each_model_does(recorded):
    result = layerlab.load_run(1, store=recorded)
    m, x = inspection.inspect_run(result)
    assert x.shape == (300, 28, 28) and m.y.size == 300
    for i in range(len(result)):
        own = result.model(i).predict(x)  # the variant alone: the batched matmul may round differently
        assert np.allclose(m.probabilities[i], own, atol=1e-6) and np.array_equal(m.predicted[i], own.argmax(1))
        # the recorded val_accuracy is the same images' accuracy
        assert m.accuracy(i) == pytest.approx(result.metrics["val_accuracy"][i, -1], abs=1e-6)


def test_inspect_json_and_figures(recorded, tmp_path):
    code, out, err = call("inspect", 1, "--store", recorded, "--variant", 1, "--vs", 0, "--json",
                          "--out", tmp_path / "figs")
    assert code == 0, err
    d = json.loads(out)
    assert d["variant"] == 1 and np.array(d["confusion"]).sum() == 300
    wrong = d["misclassified"]
    assert len(wrong) == 300 - np.trace(np.array(d["confusion"]))
    assert set(wrong[0]) == {"index", "true", "predicted", "confidence"}
    assert [e["confidence"] for e in wrong] == sorted((e["confidence"] for e in wrong), reverse=True)
    c = d["comparison"]
    assert c["vs"] == 0 and np.array(c["confusion_difference"]).sum() == 0
    names = ["confusion", "per_class", "misclassified", "hard_core", "right_only_in_variant", "right_only_in_vs",
             "confusion_difference"]
    assert err.splitlines() == [str(tmp_path / "figs" / f"{n}.{f}") for n in names for f in ("png", "svg")]
    svg = (tmp_path / "figs" / "confusion.svg").read_bytes()
    code, _, _ = call("inspect", 1, "--store", recorded, "--variant", 1, "--out", tmp_path / "again")
    assert code == 0 and (tmp_path / "again" / "confusion.svg").read_bytes() == svg  # the same run, the same file


def test_inspect_refuses_bad_variants_and_reads_best_weights(recorded):
    code, _, err = call("inspect", 1, "--store", recorded, "--variant", 7)
    assert code == 2 and err.startswith("layerlab: error: mistakes: variant: expected an index from 0 to 1")
    result = layerlab.load_run(1, store=recorded)
    assert np.all(np.argmin(result.metrics["val_loss"], axis=1) == 1)  # the best epoch is the last, kept
    last = call("inspect", 1, "--store", recorded, "--json")
    assert call("inspect", 1, "--store", recorded, "--which", "best", "--json") == last and last[0] == 0


def _seven(path):
    a = np.full((120, 90), 230, np.uint8)
    a[20:30, 15:75] = 10
    for r in range(30, 105):
        c = 75 - (r - 30) * 40 // 75
        a[r, c - 5:c + 5] = 10
    Image.fromarray(a).save(path)


def test_predict_answers_every_readable_image_and_says_which_failed(recorded, tmp_path):
    _seven(tmp_path / "seven.png")
    (tmp_path / "notes.png").write_text("not an image")
    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    paths = [tmp_path / "seven.png", tmp_path / "notes.png", tmp_path / "missing.png", tmp_path / "blank.png"]
    code, out, err = call("predict", 1, "--variant", 1, *paths, "--store", recorded, "--json", "--out", tmp_path / "o")
    assert code == 1
    answers = json.loads(out)
    assert [a["path"] for a in answers] == [str(p) for p in paths]
    good = answers[0]
    assert set(good) == {"path", "predictions"} and len(good["predictions"]) == 3
    assert set(good["predictions"][0]) == {"class", "label", "probability"}
    assert good["predictions"][0]["label"] == str(good["predictions"][0]["class"])
    probabilities = [p["probability"] for p in good["predictions"]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-6
    assert [set(a) for a in answers[1:]] == [{"path", "error"}] * 3
    errors = [line for line in err.splitlines() if line.startswith("layerlab: error:")]
    assert len(errors) == 3
    assert re.match(matches(layerlab.images.BLANK), answers[3]["error"])
    assert (tmp_path / "o" / "seven.png").stat().st_size > 0 and (tmp_path / "o" / "seven.svg").exists()
    # the same answer as the model's own predict on the prepared image
    model = layerlab.load_model(1, 1, store=recorded)
    expected = model.predict(layerlab.images.load_digits([paths[0]]))[0]
    assert good["predictions"][0]["probability"] == pytest.approx(float(expected.max()), abs=1e-6)
    code, out, err = call("predict", 1, paths[0], "--store", recorded)
    assert code == 0 and out.startswith(f"{paths[0]}: ") and out.count("(") == 3


def test_predict_reads_a_saved_keras_model_as_the_run_it_came_from(recorded, tmp_path):
    _seven(tmp_path / "seven.png")
    layerlab.load_model(1, 1, store=recorded).save(tmp_path / "m.keras")
    code, out, _ = call("predict", tmp_path / "m.keras", tmp_path / "seven.png", "--json")
    from_file = json.loads(out)[0]["predictions"]
    code_run, out_run, _ = call("predict", 1, tmp_path / "seven.png", "--variant", 1, "--json", "--store", recorded)
    assert code == code_run == 0
    assert [p["class"] for p in from_file] == [p["class"] for p in json.loads(out_run)[0]["predictions"]]
    for a, b in zip(from_file, json.loads(out_run)[0]["predictions"]):
        assert a["probability"] == pytest.approx(b["probability"], abs=1e-5)
    code, _, err = call("predict", tmp_path / "m.keras", tmp_path / "seven.png", "--variant", 0)
    assert code == 2 and err.count("\n") == 1 and "--variant" in err


def test_fashion_mnist_classes_are_named_in_predictions(recorded, tmp_path):
    _seven(tmp_path / "seven.png")
    model = layerlab.load_model(1, 0, store=recorded)
    names = inspection.class_names("fashion_mnist")
    (answer,) = inspection.predict_images(model, [tmp_path / "seven.png"], names)
    assert [p["label"] for p in answer["predictions"]] == [names[p["class"]] for p in answer["predictions"]]
    assert inspection.class_names("mnist") == [str(c) for c in range(10)]


def test_predict_bad_runs_are_one_line(recorded, tmp_path):
    _seven(tmp_path / "seven.png")
    code, _, err = call("predict", 1, "--variant", 2, tmp_path / "seven.png", "--store", recorded)
    assert code == 2 and re.match(matches(inspection.BAD_VARIANT), err[len("layerlab: error: "):].strip())
    code, _, err = call("predict", tmp_path / "missing.keras", tmp_path / "seven.png", "--store", recorded)
    assert code == 2 and "missing.keras" in err and len(err.splitlines()) == 1
    copy = tmp_path / "copy.db"
    copy.write_bytes(recorded.read_bytes())
    with contextlib.closing(sqlite3.connect(copy)) as db, db:
        db.execute("DELETE FROM checkpoints")
    code, _, err = call("predict", 1, tmp_path / "seven.png", "--store", copy)
    assert code == 2 and re.match(matches(runs.NO_CHECKPOINT), err[len("layerlab: error: "):].strip())
