"""Three classes and star ratings end to end, on real TripAdvisor reviews (tests/data/README.md):
train -> evaluate JSON -> predict JSON / CSV / text, ONNX and Keras scoring alike."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import TINY
from sentiment_cli.cli import cli

DATA = Path(__file__).resolve().parent / "data"
STARS_TRAIN, STARS_TEST = DATA / "tripadvisor_train.csv.gz", DATA / "tripadvisor_test.csv.gz"
# The default's wide branch decides most here; TINY keeps the recurrent one to seconds.
FAST = [*TINY, "--set", "tokenizer.maxlen=64"]
THREE = {"1": "negative", "2": "negative", "3": "neutral", "4": "positive", "5": "positive"}


def run(*args: str, stdin: str | None = None) -> "object":
    return CliRunner().invoke(cli, list(args), input=stdin)


@pytest.fixture(scope="module")
def stars_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stars") / "model"
    result = run("train", "--data", str(STARS_TRAIN), "--test-data", str(STARS_TEST), "--out", str(out),
                 "--quiet", *FAST)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def three_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("three")
    paths = []
    for name, source in (("train", STARS_TRAIN), ("test", STARS_TEST)):
        df = pd.read_csv(source, dtype=str, keep_default_na=False)
        df["label"] = df["label"].map(THREE)
        paths.append(folder / f"{name}.csv")
        df.to_csv(paths[-1], index=False)
    return paths[0], paths[1]


def test_stars_train_as_five_ordinal_classes(stars_model: Path) -> None:
    labels = json.loads((stars_model / "labels.json").read_text())
    assert labels["classes"] == ["1", "2", "3", "4", "5"] and labels["ordinal"] is True
    assert "threshold" not in labels and "positive" not in labels
    metrics = json.loads((stars_model / "metrics.json").read_text())
    assert metrics["onnx"] is True and metrics["classes"] == labels["classes"]
    test = metrics["test"]
    assert test["n"] == 200 and set(test["per_class"]) == set(labels["classes"])
    assert np.array(test["confusion_matrix"]).shape == (5, 5) and np.sum(test["confusion_matrix"]) == 200
    for key in ("mae", "macro_mae", "off_by_one_accuracy", "macro_f1", "macro_recall", "log_loss", "brier"):
        assert test[key] is not None
    # Better than always answering the commonest class (5 stars: 85 of 200 right, MAE 1.04).
    assert test["accuracy"] > 0.45 and test["mae"] < 0.95


def test_evaluate_json_gates_and_usage_errors(stars_model: Path) -> None:
    result = run("evaluate", "--model", str(stars_model), "--data", str(STARS_TEST), "--format", "json", "--quiet")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    saved = json.loads((stars_model / "metrics.json").read_text())["test"]
    assert report["accuracy"] == pytest.approx(saved["accuracy"]) and report["backend"] == "onnx"
    assert report["mae"] == pytest.approx(saved["mae"])
    passed = run("evaluate", "--model", str(stars_model), "--data", str(STARS_TEST), "--quiet",
                 "--min", "macro_f1=0.01", "--min-accuracy", "0.01")
    assert passed.exit_code == 0, passed.output
    failed = run("evaluate", "--model", str(stars_model), "--data", str(STARS_TEST), "--quiet", "--min", "macro_f1=0.99")
    assert failed.exit_code == 1 and "macro_f1" in failed.stderr and "below --min macro_f1=0.99" in failed.stderr
    for flag in (["--threshold", "0.3"], ["--sweep-threshold"]):
        usage = run("evaluate", "--model", str(stars_model), "--data", str(STARS_TEST), *flag)
        assert usage.exit_code == 2 and "applies to two-class models" in usage.stderr, usage.output
        assert len(usage.stderr.strip().splitlines()) == 1 and usage.stdout == ""
    unknown = run("evaluate", "--model", str(stars_model), "--data", str(STARS_TEST), "--min", "roc_auc=0.5", "--quiet")
    assert unknown.exit_code == 2 and "no such metric" in unknown.stderr and "macro_f1" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1 and unknown.stdout == ""


def test_predict_json_csv_and_text(stars_model: Path) -> None:
    texts = ["Dirty room, rude staff, never again.", "", "Lovely hotel, wonderful staff, perfect location."]
    stdin = "\n".join(texts) + "\n"
    as_json = run("predict", "--model", str(stars_model), "--format", "json", "--quiet", stdin=stdin)
    assert as_json.exit_code == 0, as_json.output
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [r["status"] for r in records] == ["ok", "empty", "ok"]
    for r in (records[0], records[2]):
        assert set(r["scores"]) == {"1", "2", "3", "4", "5"} and sum(r["scores"].values()) == pytest.approx(1, abs=1e-5)
        assert r["label"] == max(r["scores"], key=r["scores"].get) and r["confidence"] == r["scores"][r["label"]]
        assert "score" not in r
    assert records[1]["label"] is None and records[1]["scores"] is None
    assert int(records[2]["label"]) > int(records[0]["label"])  # praise gets more stars than complaints

    as_csv = run("predict", "--model", str(stars_model), "--format", "csv", "--quiet", stdin=stdin)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert list(rows[0]) == ["id", "text", "label", "confidence", "status", "p_1", "p_2", "p_3", "p_4", "p_5"]
    assert [r["label"] for r in rows] == [r["label"] or "" for r in records]
    assert float(rows[0]["p_1"]) == pytest.approx(records[0]["scores"]["1"], abs=1e-6)
    assert rows[1]["p_1"] == "" and rows[1]["status"] == "empty"

    as_text = run("predict", "--model", str(stars_model), "--quiet", stdin=stdin)
    lines = as_text.stdout.splitlines()
    assert lines[0] == f"{records[0]['label']}\t{records[0]['confidence']:.4f}" and lines[1] == "-\t-"

    refused = run("predict", "--model", str(stars_model), "--threshold", "0.3", stdin=stdin)
    assert refused.exit_code == 2 and refused.stdout == "" and "applies to two-class models" in refused.stderr

    explained = run("predict", "--model", str(stars_model), "--format", "json", "--explain", "--quiet",
                    stdin=texts[2] + "\n")
    exp = json.loads(explained.stdout)["explanation"]
    assert exp["positive"] and all(t["effect"] > 0 for t in exp["positive"])


def test_onnx_and_keras_score_alike(stars_model: Path) -> None:
    from sentiment_cli.predictor import Predictor

    texts = pd.read_csv(STARS_TEST, dtype=str, keep_default_na=False)["text"].tolist()[:64]
    onnx = Predictor.from_dir(stars_model, backend="onnx").predict_proba(texts)
    keras = Predictor.from_dir(stars_model, backend="keras").predict_proba(texts)
    assert onnx.shape == keras.shape == (64, 5)
    np.testing.assert_allclose(onnx, keras, atol=1e-5)


def test_three_classes_in_the_order_the_config_gives(three_files: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = three_files
    out = tmp_path / "model"
    result = run("train", "--data", str(train), "--test-data", str(test), "--out", str(out), "--quiet", *FAST,
                 "--set", "data.labels=[positive, neutral, negative]", "--set", "training.class_weight=balanced",
                 "--set", "training.calibrate=temperature")
    assert result.exit_code == 0, result.output
    labels = json.loads((out / "labels.json").read_text())
    assert labels["classes"] == ["positive", "neutral", "negative"] and labels["ordinal"] is False
    metrics = json.loads((out / "metrics.json").read_text())
    assert "mae" not in metrics["test"] and metrics["temperature"] > 0
    # Chance is 1/3 per class: balanced weights keep the small neutral class in play.
    assert metrics["test"]["macro_recall"] > 0.5, metrics["test"]
    baseline = run("baseline", "--data", str(train), "--test-data", str(test), "--format", "json", "--quiet")
    assert baseline.exit_code == 0, baseline.output
    assert set(json.loads(baseline.stdout)["test"]["per_class"]) == {"negative", "neutral", "positive"}
    unseen = tmp_path / "unseen.csv"
    unseen.write_text("text,label\nfine,mixed\n", encoding="utf-8")
    bad = run("evaluate", "--model", str(out), "--data", str(unseen))
    assert bad.exit_code == 1 and "'mixed' the model was not trained on" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    mixed = pd.read_csv(test, dtype=str, keep_default_na=False).head(20)
    mixed.loc[:4, "label"] = "mixed"  # 5 of 20 rows of a class the model never saw
    mixed.to_csv(unseen, index=False)
    known = run("evaluate", "--model", str(out), "--data", str(test), "--format", "json", "--quiet")
    counted = run("evaluate", "--model", str(out), "--data", str(unseen), "--unknown-labels", "wrong",
                  "--format", "json", "--quiet")
    assert counted.exit_code == 0, counted.output
    report = json.loads(counted.stdout)
    assert report["unknown_labels"] == 5 and report["n"] == 20
    assert sum(r["support"] for r in report["per_class"].values()) == 15
    right = sum(report["confusion_matrix"][i][i] for i in range(3))
    assert report["accuracy"] == pytest.approx(right / 20) and json.loads(known.stdout)["n"] == 200


def test_compare_check_data_and_slices_handle_stars(stars_model: Path, tmp_path: Path) -> None:
    compared = run("compare", "lstm", "--data", str(STARS_TRAIN), "--test-data", str(STARS_TEST), "--baseline",
                   "--format", "json", "--quiet", *FAST, "--set", "training.epochs=1", "--set", "model.wide=none")
    assert compared.exit_code == 0, compared.output
    rows = json.loads(compared.stdout)["rows"]
    assert len(rows) == 2 and all(0 < r["f1"] <= 1 and r["roc_auc"] is None for r in rows)  # f1: macro-F1
    checked = run("check-data", str(STARS_TRAIN), "--format", "json")
    assert checked.exit_code == 0 and set(json.loads(checked.stdout)["train"]["labels"]) == set("12345")
    sliced = run("evaluate", "--model", str(stars_model), "--data", str(STARS_TEST), "--slices",
                 "--plots", str(tmp_path / "plots"), "--format", "json", "--quiet")
    report = json.loads(sliced.stdout)
    assert sum(r["n"] for r in report["slices"][:4]) == 200 and all(r["accuracy"] is not None for r in report["slices"][:4])
    assert sorted(Path(p).name for p in report["plots"]) == ["confusion_matrix.png", "reliability.png"]


def test_mirrored_training_of_five_classes(tmp_path: Path) -> None:
    """The custom distributed loop (distribute._steps) with the softmax head and its loss."""
    from test_distribute import TWO_CPUS, child_env, run_all

    out = tmp_path / "model"
    cmd = [sys.executable, "-c", TWO_CPUS, "train", "--data", str(STARS_TRAIN), "--test-data", str(STARS_TEST),
           "--out", str(out), "--quiet", "--no-plots", *FAST, "--set", "training.distribution=mirrored"]
    [(rc, _, err)] = run_all([(cmd, child_env())], tmp_path)
    assert rc == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["devices"]["replicas"] == 2 and metrics["test"]["accuracy"] > 0.45
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 3 and all(np.isfinite(float(v)) for line in history[1:] for v in line.split(",")[1:])


def test_class_weight_auto_is_sqrt_balanced_for_k_classes_only(stars_model: Path, trained_model: Path) -> None:
    import yaml

    from sentiment_cli.training import class_weights

    assert yaml.safe_load((stars_model / "config.yaml").read_text())["training"]["class_weight"] == "sqrt_balanced"
    assert yaml.safe_load((trained_model / "config.yaml").read_text())["training"]["class_weight"] == "none"
    y = np.array([0] * 9 + [1] * 4 + [2] * 1)
    w = class_weights(y, "sqrt_balanced", 3)
    assert w.mean() == pytest.approx(1.0)
    assert w[0] / w[-1] == pytest.approx(1 / 3) and w[9] / w[-1] == pytest.approx(1 / 2)  # 1 / sqrt(count)
    balanced = class_weights(y, "balanced", 3)
    assert balanced[-1] == pytest.approx(14 / 3) and class_weights(y, "none", 3) is None


def test_labels_json_naming_other_classes_than_the_model_gives_is_refused(stars_model: Path, tmp_path: Path) -> None:
    import hashlib
    import shutil

    model = tmp_path / "model"
    shutil.copytree(stars_model, model)
    labels = json.loads((model / "labels.json").read_text())
    labels["classes"] = ["1", "2", "3"]  # the model still gives five scores per text
    (model / "labels.json").write_text(json.dumps(labels))
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["artifacts"]["labels.json"] = hashlib.sha256((model / "labels.json").read_bytes()).hexdigest()
    (model / "manifest.json").write_text(json.dumps(manifest))
    for backend in ("onnx", "keras"):
        result = run("predict", "--model", str(model), "--backend", backend, stdin="fine\n")
        assert result.exit_code == 1 and "gives 5 score(s) per text, but labels.json names 3 classes" in result.stderr
        assert result.stdout == ""
