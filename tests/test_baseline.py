"""The TF-IDF + logistic regression baseline: library, `sentiment baseline`, `train --baseline`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import TINY, invoke
from sentiment_cli.baseline import fit_baseline, train_baseline, words
from sentiment_cli.config import Config, load_config
from sentiment_cli.data import load_labeled
from sentiment_cli.errors import DataError


@pytest.fixture(scope="module")
def report(reviews_train: Path, reviews_test: Path) -> dict:
    return train_baseline(reviews_train, reviews_test)


def test_words_strip_html_like_the_tokenizer():
    assert words("A <b>great</b> film.<br /><br />Not bad, don't miss it") == \
        ["a", "great", "film", "not", "bad", "don't", "miss", "it"]


def test_report_has_the_evaluate_metrics_on_both_splits(report: dict):
    for split, n in (("validation", 60), ("test", 300)):  # 10% of 600 held out; 300 test rows
        scores = report[split]
        assert scores["n"] == n
        assert set(scores) >= {"accuracy", "precision", "recall", "f1", "roc_auc", "confusion_matrix",
                               "brier", "ece", "threshold"}
        assert sum(map(sum, scores["confusion_matrix"])) == n
    assert report["train_seconds"] > 0
    assert report["params"] == report["features"] + 1
    assert report["train_rows"] == 540
    assert report["labels"] == {"negative": "negative", "positive": "positive"}


def test_baseline_learns_from_600_real_reviews(report: dict):
    # About 0.83 on these 300 test reviews; a broken vectorizer or flipped labels scores ~0.5.
    assert report["test"]["accuracy"] > 0.75
    assert report["test"]["roc_auc"] > 0.85


def test_same_split_and_threshold_rule_as_the_config(reviews_train: Path):
    from sentiment_cli.training import split_validation

    data = load_labeled(reviews_train, "text", "label")
    cfg = load_config(None, ["training.validation_split=0.2", "training.seed=7", "training.threshold=f1"])
    out = fit_baseline(cfg, data)
    _, va = split_validation(data, 0.2, 7)
    assert out["validation"]["n"] == len(va) == 120
    # The held-out rows' true classes: row sums of the confusion matrix.
    assert [sum(r) for r in out["validation"]["confusion_matrix"]] == [int((data.y[va] == 0).sum()),
                                                                       int((data.y[va] == 1).sum())]
    assert out["threshold"] != 0.5  # chosen on validation by the F1 rule
    assert "test" not in out


def test_label_encoding_follows_load_labeled(reviews_train: Path, tmp_path: Path):
    df = pd.read_csv(reviews_train, dtype=str, keep_default_na=False)
    df["label"] = df["label"].map({"positive": "pos", "negative": "neg"})
    path = tmp_path / "posneg.csv"
    df.to_csv(path, index=False)
    out = train_baseline(path, cfg=Config())
    assert out["labels"] == {"negative": "neg", "positive": "pos"}
    assert out["validation"]["accuracy"] > 0.6


def test_wrong_column_is_a_data_error(reviews_train: Path):
    with pytest.raises(DataError, match="no column 'review'"):
        train_baseline(reviews_train, text_column="review")


def test_cli_json_and_table(reviews_train: Path, reviews_test: Path):
    result = invoke(["baseline", "--data", str(reviews_train), "--test-data", str(reviews_test),
                     "--format", "json", "--quiet"])
    data = json.loads(result.stdout)
    assert data["model"] == "tfidf+logreg" and data["test"]["n"] == 300
    table = invoke(["baseline", "--data", str(reviews_train), "--test-data", str(reviews_test), "--quiet"]).stdout
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[2:] if line.strip()}
    assert rows["metric"] == ["validation", "test"]
    # Same seeded fit, same numbers as the JSON run.
    assert rows["accuracy"] == [f"{data['validation']['accuracy']:.4f}", f"{data['test']['accuracy']:.4f}"]
    assert rows["n"] == ["60", "300"]


def test_cli_errors_are_one_line(tmp_path: Path, reviews_train: Path):
    result = invoke(["baseline", "--data", str(reviews_train), "--text-column", "review"], exit_code=1)
    assert result.stderr.startswith("sentiment: error: ") and "--text-column" in result.stderr
    assert "Traceback" not in result.output


def test_baseline_does_not_import_tensorflow(reviews_train: Path):
    code = ("import sys; from sentiment_cli.baseline import train_baseline; "
            f"train_baseline({str(reviews_train)!r}); print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_train_reports_the_baseline_on_the_same_split(tmp_path: Path, reviews_train: Path, reviews_test: Path):
    out = tmp_path / "m"
    result = invoke(["train", "--data", str(reviews_train), "--test-data", str(reviews_test), "--out", str(out),
                     "--quiet", "--no-plots", "--baseline", *TINY, "--set", "training.epochs=1"])
    summary = json.loads(result.stdout)
    assert summary["baseline"]["model"] == "tfidf+logreg"
    assert set(summary["baseline"]) >= {"validation_accuracy", "test_accuracy", "train_seconds"}
    metrics = json.loads((out / "metrics.json").read_text())
    base = metrics["baseline"]
    for split in ("validation", "test"):
        assert base[split]["n"] == metrics[split]["n"]
        assert [sum(r) for r in base[split]["confusion_matrix"]] == \
            [sum(r) for r in metrics[split]["confusion_matrix"]]
    assert summary["baseline"]["test_accuracy"] == base["test"]["accuracy"]
