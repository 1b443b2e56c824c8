"""Scores people can act on, through the CLI on real reviews (issue 7).

One record per input (empty lines included), --line-buffered streaming, threshold rules (0.5, f1,
youden, --threshold, --sweep-threshold), calibration (Brier, ECE, reliability plot, temperature
scaling on every backend), class weighting, --explain, truncation counts and --slices.

Models: `trained_model` (conftest: tiny, threshold 0.5); `good_model` below, trained once for this
module on 2,000 real reviews, deliberately overconfident (no dropout, no early stopping) with
threshold=f1 and calibrate=temperature, and good enough for its explanations to make sense.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import TEST, TINY, TRAIN, head_rows, invoke
from sentiment_cli.predictor import Predictor
from sentiment_cli.slices import has_negation, slice_report
from sentiment_cli.tokenizer import Tokenizer

# Small but able to learn in seconds: GRU, no dropout, a brisk learning rate, no early stopping.
SMALL = ["--set", "training.early_stopping_patience=null", "--set", "tokenizer.num_words=5000",
         "--set", "model.cell=gru", "--set", "model.units=16", "--set", "model.embedding_dim=32",
         "--set", "model.dropout=0.0", "--set", "training.learning_rate=0.003",
         "--set", "training.batch_size=32", "--set", "training.validation_split=0.2"]
# The recurrent model alone: the wide & deep default's combiner is itself a logistic regression
# fitted on the validation rows, so it leaves temperature scaling little to correct there.
GOOD = [*SMALL, "--set", "training.epochs=5", "--set", "tokenizer.maxlen=120", "--set", "model.wide=none",
        "--set", "training.threshold=f1", "--set", "training.calibrate=temperature"]
NEGATIVE_WORDS = {"worst", "waste", "awful", "terrible", "horrible", "bad", "worse", "boring", "lame",
                  "stupid", "poor", "pathetic", "dull", "crap", "crappy", "annoying", "trash", "fails"}


def raw_onnx(model_dir: Path):
    """The model's ONNX scores before calibration, for id rows (with its n-gram inputs, if any)."""
    from sentiment_cli.predictor import Predictor, onnx_runner

    return onnx_runner(model_dir / "model.onnx", 1, Predictor.from_dir(model_dir).features)


@pytest.fixture(scope="module")
def good_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("good")
    data = root / "train2k.csv"
    head_rows(TRAIN, 2000).to_csv(data, index=False)
    invoke(["train", "--data", str(data), "--out", str(root / "model"), "--quiet", "--no-plots", *GOOD])
    return root / "model"


def labels_json(model: Path) -> dict:
    return json.loads((model / "labels.json").read_text())


def predict_json(model: Path, args: list[str], input: str | None = None) -> list[dict]:
    result = invoke(["predict", "--model", str(model), "--format", "json", *args], input=input)
    return [json.loads(line) for line in result.stdout.splitlines()]


def evaluate_json(model: Path, data: Path, *args: str) -> dict:
    return json.loads(invoke(["evaluate", "--model", str(model), "--data", str(data), "--format", "json",
                              *args]).stdout)


def train_tiny(tmp_path: Path, data: Path, name: str, *overrides: str) -> Path:
    out = tmp_path / name
    invoke(["train", "--data", str(data), "--out", str(out), "--quiet", "--no-plots", *TINY,
            *[x for o in overrides for x in ("--set", o)]])
    return out


def test_records_id_confidence_and_clipped_scores(good_model: Path, reviews_test: Path):
    records = predict_json(good_model, ["--input", str(reviews_test)])
    t = labels_json(good_model)["threshold"]
    assert [r["id"] for r in records] == list(range(300))
    for r in records:
        assert r["status"] == "ok" and 0.0 <= r["score"] <= 1.0
        positive = r["label"] == "positive"
        assert positive == (r["score"] >= t)
        assert r["confidence"] == pytest.approx(r["score"] if positive else 1.0 - r["score"])


def test_scores_are_clipped_to_unit_interval(trained_model: Path):
    """A runner that strays outside [0, 1] (float error, exotic export) is clipped, not passed on."""
    real = Predictor.from_dir(trained_model)
    strays = Predictor(real.tokenizer, real.decision, lambda x: np.array([1.0000002, -1e-7]), "fake")
    assert strays.score_ids(np.ones((2, 3), dtype=np.int32)).tolist() == [1.0, 0.0]


def test_empty_lines_keep_every_later_result_in_place(trained_model: Path, reviews_test: Path):
    texts = pd.read_csv(reviews_test, dtype=str, keep_default_na=False)["text"].tolist()[:6]
    plain = predict_json(trained_model, [], input="\n".join(texts) + "\n")
    with_blanks = texts[:2] + [""] + texts[2:4] + ["   \t"] + texts[4:]
    got = predict_json(trained_model, ["--batch-size", "2"], input="\n".join(with_blanks) + "\n")
    assert [r["id"] for r in got] == list(range(len(with_blanks)))
    assert [r["status"] for r in got] == ["ok", "ok", "empty", "ok", "ok", "empty", "ok", "ok"]
    assert got[2]["label"] is None and got[2]["score"] is None and got[2]["confidence"] is None
    scored = [r for r in got if r["status"] == "ok"]
    assert [(r["text"], r["label"]) for r in scored] == [(r["text"], r["label"]) for r in plain]
    assert [r["score"] for r in scored] == pytest.approx([r["score"] for r in plain], abs=1e-6)
    for fmt, extra in (("text", 0), ("csv", 1)):  # csv has a header row
        out = invoke(["predict", "--model", str(trained_model), "--format", fmt],
                     input="\n".join(with_blanks) + "\n").stdout
        assert len(out.splitlines()) == len(with_blanks) + extra


def test_line_buffered_answers_each_line_before_the_next_is_written(trained_model: Path, reviews_test: Path):
    texts = pd.read_csv(reviews_test, dtype=str, keep_default_na=False)["text"].tolist()[:3]
    lines = [texts[0], "", texts[1], texts[2]]
    proc = subprocess.Popen([sys.executable, "-m", "sentiment_cli", "predict", "--model", str(trained_model),
                             "--line-buffered", "--format", "json"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, encoding="utf-8")
    answers: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [answers.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    try:
        for i, line in enumerate(lines):
            proc.stdin.write(line + "\n")
            proc.stdin.flush()  # stdin stays open: a reader that waits for more input never answers
            try:
                record = json.loads(answers.get(timeout=60))
            except queue.Empty:
                pytest.fail(f"no answer to line {i} while stdin was still open")
            assert (record["id"], record["text"]) == (i, line)
            assert record["status"] == ("empty" if line == "" else "ok")
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


# -- thresholds ------------------------------------------------------------------------------------
def test_f1_threshold_is_stored_and_used_unless_overridden(good_model: Path, reviews_test: Path):
    from sklearn.metrics import f1_score

    t = labels_json(good_model)["threshold"]
    assert t != 0.5 and 0.0 < t < 1.0
    assert json.loads((good_model / "metrics.json").read_text())["threshold"] == t
    y_val, p_val = validation_scores(good_model, good_model.parent / "train2k.csv")
    best = max(f1_score(y_val, p_val >= c) for c in np.unique(p_val))
    assert f1_score(y_val, p_val >= t) >= best - 0.01, "t maximises F1 on the validation split"
    records = predict_json(good_model, ["--input", str(reviews_test)])
    between = [r for r in records if min(t, 0.5) <= r["score"] < max(t, 0.5)]
    assert between, "precondition: some scores fall between the stored threshold and 0.5"
    assert all((r["label"] == "positive") == (r["score"] >= t) for r in records)
    at_half = predict_json(good_model, ["--input", str(reviews_test), "--threshold", "0.5"])
    flipped = [a for a, b in zip(records, at_half) if a["label"] != b["label"]]
    assert len(flipped) == len(between)
    assert evaluate_json(good_model, reviews_test)["threshold"] == t
    assert evaluate_json(good_model, reviews_test, "--threshold", "0.5")["threshold"] == 0.5


def test_youden_threshold_is_chosen_on_validation_and_used(tmp_path: Path, reviews_test: Path):
    from sentiment_cli.metrics import choose_threshold

    data = tmp_path / "train1200.csv"
    head_rows(TRAIN, 1200).to_csv(data, index=False)
    model = tmp_path / "youden"
    invoke(["train", "--data", str(data), "--out", str(model), "--quiet", "--no-plots", *SMALL,
            "--set", "training.epochs=3", "--set", "tokenizer.maxlen=80", "--set", "training.threshold=youden"])
    t = labels_json(model)["threshold"]
    assert t != 0.5 and 0.0 < t < 1.0
    y_val, p_val = validation_scores(model, data)
    assert youden_j(y_val, p_val, t) >= youden_j(y_val, p_val, choose_threshold(y_val, p_val, "youden")) - 0.01
    records = predict_json(model, ["--input", str(reviews_test)])
    assert all((r["label"] == "positive") == (r["score"] >= t) for r in records)
    assert evaluate_json(model, reviews_test)["threshold"] == t


def held_out(model: Path, data: Path) -> tuple[np.ndarray, list[str]]:
    """Labels and texts of the rows training held out for validation, re-derived from the config."""
    from sentiment_cli.api import model_config
    from sentiment_cli.data import load_labeled
    from sentiment_cli.training import split_validation

    cfg = model_config(model)
    labeled = load_labeled(data, "text", "label")
    _, rows = split_validation(labeled, cfg.training.validation_split, cfg.training.seed)
    return labeled.y[rows], [labeled.texts[i] for i in rows]


def validation_scores(model: Path, data: Path) -> tuple[np.ndarray, np.ndarray]:
    """Held-out labels and the model's calibrated scores for them (what training chose on)."""
    y, texts = held_out(model, data)
    return y, Predictor.from_dir(model).predict_proba(texts)


def youden_j(y: np.ndarray, p: np.ndarray, t: float) -> float:
    pred = p >= t
    return float(pred[y == 1].mean() - pred[y == 0].mean())


def test_fixed_threshold_default_is_half(trained_model: Path):
    assert labels_json(trained_model)["threshold"] == 0.5


def test_sweep_threshold_table_and_json(good_model: Path, reviews_test: Path):
    report = evaluate_json(good_model, reviews_test, "--sweep-threshold")
    sweep = report["sweep"]
    assert [row["threshold"] for row in sweep] == pytest.approx([round(0.05 * i, 2) for i in range(1, 20)])
    best = [row for row in sweep if row["best_f1"]]
    assert len(best) == 1 and best[0]["f1"] == max(row["f1"] for row in sweep)
    at_half = evaluate_json(good_model, reviews_test, "--threshold", "0.5")
    row = next(r for r in sweep if r["threshold"] == pytest.approx(0.5))
    for key in ("precision", "recall", "f1", "accuracy"):
        assert row[key] == pytest.approx(at_half[key])
    table = invoke(["evaluate", "--model", str(good_model), "--data", str(reviews_test),
                    "--sweep-threshold"]).stdout
    marked = [line for line in table.splitlines() if "<- best F1" in line]
    assert len(marked) == 1 and marked[0].startswith(f"{best[0]['threshold']:.2f}")
    assert "precision  recall     f1         accuracy" in table


# -- calibration -----------------------------------------------------------------------------------
def test_temperature_scaling_lowers_validation_ece(good_model: Path):
    metrics = json.loads((good_model / "metrics.json").read_text())
    temperature = labels_json(good_model)["temperature"]
    assert temperature != 1.0 and metrics["temperature"] == temperature
    val = metrics["validation"]
    assert val["ece"] < val["ece_raw"], val
    # The same from the model's own scores on the held-out rows, raw (ONNX output) and calibrated.
    from sentiment_cli.metrics import expected_calibration_error
    from sentiment_cli.predictor import onnx_runner

    y_val, texts = held_out(good_model, good_model.parent / "train2k.csv")
    raw = raw_onnx(good_model)(Tokenizer.load(good_model / "tokenizer.json").encode(texts))
    calibrated = Predictor.from_dir(good_model).predict_proba(texts)
    ece_raw, ece = expected_calibration_error(y_val, raw), expected_calibration_error(y_val, calibrated)
    assert ece < ece_raw
    assert (ece_raw, ece) == pytest.approx((val["ece_raw"], val["ece"]), abs=0.01)


def test_brier_and_ece_match_the_predicted_scores(good_model: Path, reviews_test: Path):
    report = evaluate_json(good_model, reviews_test)
    y = (pd.read_csv(reviews_test, dtype=str, keep_default_na=False)["label"] == "positive").to_numpy(int)
    p = np.array([r["score"] for r in predict_json(good_model, ["--input", str(reviews_test)])])
    assert report["brier"] == pytest.approx(np.mean((p - y) ** 2), abs=1e-6)
    bins = np.clip(np.ceil(p * 10).astype(int) - 1, 0, 9)  # 10 equal-width bins, (lo, hi]
    ece = sum(abs(y[bins == b].mean() - p[bins == b].mean()) * (bins == b).mean() for b in range(10)
              if (bins == b).any())
    assert report["ece"] == pytest.approx(ece, abs=1e-6)
    table = invoke(["evaluate", "--model", str(good_model), "--data", str(reviews_test)]).stdout
    assert any(line.split()[:1] == ["brier"] for line in table.splitlines())
    assert any(line.split()[:1] == ["ece"] for line in table.splitlines())


def test_evaluate_plots_write_a_reliability_diagram(good_model: Path, reviews_test: Path, tmp_path: Path):
    report = evaluate_json(good_model, reviews_test, "--plots", str(tmp_path / "plots"))
    png = tmp_path / "plots" / "reliability.png"
    assert str(png) in report["plots"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_onnx_and_keras_give_the_same_calibrated_score(good_model: Path, reviews_test: Path):
    from sentiment_cli.metrics import apply_temperature
    from sentiment_cli.predictor import onnx_runner

    texts = pd.read_csv(reviews_test, dtype=str, keep_default_na=False)["text"].tolist()[:40]
    stdin = "\n".join(texts) + "\n"
    onnx = [r["score"] for r in predict_json(good_model, ["--backend", "onnx"], input=stdin)]
    keras = [r["score"] for r in predict_json(good_model, ["--backend", "keras"], input=stdin)]
    assert keras == pytest.approx(onnx, abs=1e-5)
    raw = raw_onnx(good_model)(Tokenizer.load(good_model / "tokenizer.json").encode(texts))
    calibrated = apply_temperature(raw.astype(np.float64), labels_json(good_model)["temperature"])
    assert onnx == pytest.approx(calibrated.tolist(), abs=1e-6)
    assert np.max(np.abs(calibrated - raw)) > 1e-3, "the temperature must actually change scores"


# -- class imbalance -------------------------------------------------------------------------------
def test_balanced_class_weight_raises_minority_recall(tmp_path: Path, reviews_test: Path):
    rows = head_rows(TRAIN, 3000)
    sample = pd.concat([rows[rows.label == "negative"].head(640), rows[rows.label == "positive"].head(160)])
    data = tmp_path / "imbalanced.csv"
    sample.sample(frac=1.0, random_state=0).to_csv(data, index=False)  # 80/20, positive is the minority
    none = evaluate_json(train_tiny(tmp_path, data, "none", "training.class_weight=none"), reviews_test)
    balanced = evaluate_json(train_tiny(tmp_path, data, "balanced", "training.class_weight=balanced"),
                             reviews_test)
    assert balanced["recall"] > none["recall"], (none["recall"], balanced["recall"])
    for report in (none, balanced):
        tn_fp, fn_tp = report["confusion_matrix"]
        recalls = (tn_fp[0] / sum(tn_fp), fn_tp[1] / sum(fn_tp))
        assert report["balanced_accuracy"] == pytest.approx(sum(recalls) / 2)


# -- explanations ----------------------------------------------------------------------------------
def real_review(prefix: str) -> str:
    texts = head_rows(TEST, 300)["text"]
    return next(t for t in texts if t.startswith(prefix))


def test_explain_ranks_a_negative_word_first_on_real_negative_reviews(good_model: Path):
    from sentiment_cli.explain import explain

    predictor = Predictor.from_dir(good_model)
    for prefix in ("Sugar &Spice is one of the worst movies", "This is the kind of movie which is loved"):
        text = real_review(prefix)
        result = explain(predictor, text, 3)
        assert predictor.predict_proba([text])[0] < 0.5
        assert result["negative"][0]["token"] in NEGATIVE_WORDS, result


def test_predict_explain_in_json_and_text(good_model: Path):
    text = real_review("Sugar &Spice is one of the worst movies")
    stdin = f"{text}\n\n"
    records = predict_json(good_model, ["--explain", "--top-k", "2"], input=stdin)
    assert [r["status"] for r in records] == ["ok", "empty"]
    exp = records[0]["explanation"]
    assert set(exp) == {"positive", "negative"} and len(exp["negative"]) <= 2 and len(exp["positive"]) <= 2
    assert exp["negative"][0]["token"] in NEGATIVE_WORDS
    assert all(set(row) >= {"token", "effect"} for row in exp["negative"] + exp["positive"])
    assert "explanation" not in records[1]
    line = invoke(["predict", "--model", str(good_model), "--explain", "--top-k", "2"],
                  input=stdin).stdout.splitlines()[0]
    label, score, pos, neg = line.split("\t")
    assert label == "negative" and pos.startswith("+[") and neg.startswith(f"-[{exp['negative'][0]['token']}(")


# -- truncation ------------------------------------------------------------------------------------
def test_truncation_is_counted_and_reported(trained_model: Path, reviews_test: Path, tmp_path: Path):
    frame = pd.read_csv(reviews_test, dtype=str, keep_default_na=False)
    long = pd.DataFrame({"text": [" ".join(frame["text"][i:i + 20]) for i in (0, 100)], "label": ["positive"] * 2})
    frame = pd.concat([frame, long], ignore_index=True)  # longer than even the wide branch reads
    reviews_test = tmp_path / "with_long.csv"
    frame.to_csv(reviews_test, index=False)
    texts = frame["text"].tolist()
    tok = Tokenizer.load(trained_model / "tokenizer.json")
    _, lengths = tok.encode_with_lengths(texts)
    long_ids = [i for i, n in enumerate(lengths) if n > tok.maxlen]
    assert 0 < len(long_ids) < len(texts)
    result = invoke(["predict", "--model", str(trained_model), "--input", str(reviews_test), "--format", "json"])
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in records if r.get("truncated")] == long_ids
    assert f"{len(long_ids)} text(s) were longer than the {tok.maxlen} tokens the model reads" in result.stderr
    result = invoke(["evaluate", "--model", str(trained_model), "--data", str(reviews_test), "--format", "json"])
    assert json.loads(result.stdout)["truncated"] == len(long_ids)
    assert f"{len(long_ids)} of {len(texts)} texts are longer than the {tok.maxlen} tokens" in result.stderr


# -- slices ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("I do not like it", True), ("NO. Just no.", True), ("Never again", True), ("Nothing works", True),
    ("neither funny nor sad", True), ("I don't like it", True), ("It wasn’t good", True),
    ("They haven´t got a clue", True), ("It isn`t", True), ("it wasn&#39;t good", True),
    ("A notable, knotty film with no-one in it", True),
    ("A notable, knotty film", False), ("Nonetheless a snowy nocturne", False), ("dont", False),
])
def test_negation_detection_on_raw_text(text: str, expected: bool):
    assert has_negation(text) is expected


def test_negation_does_not_depend_on_how_the_tokenizer_splits_apostrophes():
    default = Tokenizer()  # Keras' default filters keep the ASCII apostrophe
    splitting = Tokenizer(filters=Tokenizer().filters + "'")
    assert default.words("I don't care") == ["i", "don't", "care"]
    assert splitting.words("I don't care") == ["i", "don", "t", "care"]
    assert has_negation("I don't care")  # decided on the raw text, whatever the tokenizer does


def test_slice_report_counts_and_accuracies():
    texts = ["good", "not good", "fine", "never fine", "ok", "ok", "bad", "no"]
    n_tokens = np.array([1, 2, 3, 4, 5, 6, 7, 8])
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.2, 0.8, 0.7, 0.1, 0.6, 0.3, 0.4])  # wrong: rows 1 and 5
    tok = Tokenizer(maxlen=6)
    rows = {r["slice"]: r for r in slice_report(texts, y, p, n_tokens, 0.5, tok)}
    assert rows["length q1 (1-2 tokens)"] == {"slice": "length q1 (1-2 tokens)", "n": 2, "accuracy": 0.5}
    assert rows["length q3 (5-6 tokens)"]["accuracy"] == 0.5
    assert rows["length q4 (7-8 tokens)"]["accuracy"] == 1.0
    assert rows["with negation"]["n"] == 3 and rows["with negation"]["accuracy"] == pytest.approx(2 / 3)
    assert rows["without negation"]["n"] == 5 and rows["without negation"]["accuracy"] == pytest.approx(4 / 5)
    assert rows["longer than maxlen (6)"]["n"] == 2


def test_evaluate_slices_table_and_json(trained_model: Path, reviews_test: Path):
    report = evaluate_json(trained_model, reviews_test, "--slices")
    texts = pd.read_csv(reviews_test, dtype=str, keep_default_na=False)["text"].tolist()
    rows = report["slices"]
    quartiles = [r for r in rows if r["slice"].startswith("length q")]
    assert len(quartiles) == 4 and sum(r["n"] for r in quartiles) == report["n"]
    assert all(r["n"] >= report["n"] // 5 for r in quartiles)
    weighted = sum(r["n"] * r["accuracy"] for r in quartiles) / report["n"]
    assert weighted == pytest.approx(report["accuracy"])
    by_name = {r["slice"]: r for r in rows}
    assert by_name["with negation"]["n"] == sum(map(has_negation, texts))
    assert by_name["with negation"]["n"] + by_name["without negation"]["n"] == report["n"]
    table = invoke(["evaluate", "--model", str(trained_model), "--data", str(reviews_test), "--slices"]).stdout
    for r in rows:
        assert any(line.startswith(r["slice"]) and line.split()[-1] == f"{r['accuracy']:.4f}"
                   for line in table.splitlines())
