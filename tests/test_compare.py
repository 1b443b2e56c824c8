"""`sentiment compare`: several configs trained on the same data, one table."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TINY, invoke
from sentiment_cli import artifacts
from sentiment_cli.compare import COLUMNS, _unique_names, format_comparison

ONE_EPOCH = [*TINY, "--set", "training.epochs=1"]


def test_unique_names():
    assert _unique_names(["gru", "configs/gru.yaml", "x/lstm.yml", "gru"]) == ["gru", "gru-2", "lstm", "gru-3"]


def test_compare_two_cells_and_the_baseline(tmp_path: Path, reviews_train: Path, reviews_test: Path):
    out_dir = tmp_path / "models"
    result = invoke(["compare", "--data", str(reviews_train), "--test-data", str(reviews_test), *ONE_EPOCH,
                     "--out-dir", str(out_dir), "--baseline", "--format", "json", "--quiet", "gru", "simple_rnn"])
    rows = json.loads(result.stdout)["rows"]
    assert [r["config"] for r in rows] == ["gru", "simple_rnn", "tfidf+logreg"]
    for row in rows:
        assert set(row) >= set(COLUMNS)
        assert row["split"] == "test" and 0.0 <= row["accuracy"] <= 1.0 and row["train_seconds"] > 0
    gru, rnn, base = rows
    # A GRU has three weight blocks per unit where a SimpleRNN has one: more parameters.
    assert gru["params"] > rnn["params"]
    assert base["accuracy"] > 0.75  # the baseline row is the real baseline, on the same test file
    for name in ("gru", "simple_rnn"):  # --out-dir keeps one complete model directory per config
        artifacts.check_model_dir(out_dir / name)
        metrics = json.loads((out_dir / name / "metrics.json").read_text())
        assert metrics["test"]["accuracy"] == next(r for r in rows if r["config"] == name)["accuracy"]
    assert json.loads((out_dir / "gru" / "metrics.json").read_text())["test"]["n"] == 300

    table = format_comparison(json.loads(result.stdout))
    lines = table.splitlines()
    assert lines[0].split() == ["config", "accuracy", "f1", "roc_auc", "train_s", "params"]
    assert [line.split()[0] for line in lines[2:5]] == ["gru", "simple_rnn", "tfidf+logreg"]


def test_default_is_a_temporary_directory(tmp_path: Path, reviews_train: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(["compare", "--data", str(reviews_train), *ONE_EPOCH, "--quiet", "lstm"])
    lines = result.stdout.splitlines()
    assert lines[2].split()[0] == "lstm"
    assert "validation split" in lines[-1]  # no --test-data: metrics on the validation split
    assert list(tmp_path.iterdir()) == []  # nothing left behind in the working directory


def test_a_bad_config_fails_before_any_training(tmp_path: Path, reviews_train: Path):
    out_dir = tmp_path / "models"
    result = invoke(["compare", "--data", str(reviews_train), "--out-dir", str(out_dir), "gru", "no_such_config"],
                    exit_code=2)
    assert "no_such_config" in result.stderr and "does not exist" in result.stderr
    assert not out_dir.exists()
    result = invoke(["compare", "--data", str(reviews_train), "--set", "model.cell=lstmm", "gru"], exit_code=2)
    assert "did you mean 'lstm'" in result.stderr
