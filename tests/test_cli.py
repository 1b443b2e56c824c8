"""The command line contract: help, version, exit codes, train -> evaluate -> predict end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY, invoke
from sentiment_cli import __version__
from sentiment_cli.artifacts import (CONFIG, HISTORY, LABELS, MANIFEST, METRICS, MODEL_KERAS, MODEL_ONNX,
                                     TOKENIZER)

COMMANDS = ["train", "evaluate", "predict", "config"]


def test_help_and_subcommand_help_do_not_import_tensorflow():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from sentiment_cli.cli import cli\n"
        f"for args in [['--help']] + [[c, '--help'] for c in {COMMANDS!r}]:\n"
        "    r = CliRunner().invoke(cli, args)\n"
        "    assert r.exit_code == 0, (args, r.output)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'pandas')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_version():
    assert __version__ in invoke(["--version"]).output


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "sentiment_cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "train" in out.stdout


def test_model_directory_is_complete(trained_model: Path):
    for name in (MODEL_KERAS, MODEL_ONNX, TOKENIZER, CONFIG, LABELS, METRICS, HISTORY, MANIFEST):
        assert (trained_model / name).is_file(), name
    manifest = json.loads((trained_model / MANIFEST).read_text())
    assert manifest["tool"] == "sentiment" and manifest["onnx"] is True
    assert len(manifest["data"]["train"]["sha256"]) == 64
    assert {"tensorflow", "keras", "python"} <= set(manifest["versions"])
    assert set(manifest["artifacts"]) >= {MODEL_KERAS, MODEL_ONNX, TOKENIZER, LABELS}
    metrics = json.loads((trained_model / METRICS).read_text())
    assert {"validation", "test"} <= set(metrics)
    assert metrics["validation"]["n"] == 60 and metrics["test"]["n"] == 300
    history = (trained_model / HISTORY).read_text().splitlines()
    assert history[0].startswith("epoch,") and "val_loss" in history[0] and len(history) >= 2


def test_tiny_model_learned_something(trained_model: Path, reviews_test: Path):
    report = json.loads(invoke(["evaluate", "--model", str(trained_model), "--data", str(reviews_test),
                                "--format", "json"]).stdout)
    assert set(report) >= {"accuracy", "precision", "recall", "f1", "roc_auc", "confusion_matrix", "n"}
    assert report["n"] == 300 and sum(map(sum, report["confusion_matrix"])) == 300
    assert report["roc_auc"] > 0.6  # 540 reviews, 2 tiny epochs: weak but clearly better than chance


def test_evaluate_gate_exit_codes(trained_model: Path, reviews_test: Path):
    args = ["evaluate", "--model", str(trained_model), "--data", str(reviews_test), "--format", "json"]
    invoke([*args, "--min-accuracy", "0.01"], exit_code=0)
    result = invoke([*args, "--min-accuracy", "0.999"], exit_code=1)
    assert "below --min-accuracy" in result.stderr
    assert json.loads(result.stdout)["n"] == 300  # the report is still printed


def test_evaluate_table(trained_model: Path, reviews_test: Path):
    out = invoke(["evaluate", "--model", str(trained_model), "--data", str(reviews_test)]).stdout
    for word in ("accuracy", "precision", "recall", "f1", "roc_auc", "confusion matrix"):
        assert word in out


def test_predict_stdin_formats_keep_order(trained_model: Path, reviews_test: Path):
    lines = ["An absolute masterpiece, moving and beautifully acted.", "Dull, boring, a waste of time.",
             "It was fine."]
    model = ["--model", str(trained_model)]
    text = invoke(["predict", *model], input="\n".join(lines) + "\n").stdout.splitlines()
    assert len(text) == 3 and all(l.split("\t")[0] in ("positive", "negative") for l in text)
    records = [json.loads(l) for l in invoke(["predict", *model, "--format", "json"],
                                             input="\n".join(lines)).stdout.splitlines()]
    assert [r["text"] for r in records] == lines and [r["id"] for r in records] == [0, 1, 2]
    assert all(0.0 <= r["score"] <= 1.0 and r["label"] in ("positive", "negative") for r in records)
    assert [l.split("\t")[1] for l in text] == [f"{r['score']:.4f}" for r in records]
    csv_out = invoke(["predict", *model, "--format", "csv"], input="\n".join(lines)).stdout.splitlines()
    assert csv_out[0] == "id,text,label,score,confidence,status" and len(csv_out) == 4


def test_predict_threshold_flag_moves_labels(trained_model: Path):
    model = ["--model", str(trained_model), "--format", "json"]
    low = json.loads(invoke(["predict", *model, "--threshold", "0"], input="whatever\n").stdout)
    high = json.loads(invoke(["predict", *model, "--threshold", "1"], input="whatever\n").stdout)
    assert low["label"] == "positive" and high["label"] == "negative"
    invoke(["predict", *model, "--threshold", "2"], input="x\n", exit_code=2)


def test_predict_csv_input_uses_trained_text_column(trained_model: Path, reviews_test: Path):
    out = invoke(["predict", "--model", str(trained_model), "--input", str(reviews_test), "--format", "json"]).stdout
    assert len(out.splitlines()) == 300


def test_errors_are_one_line_without_traceback(tmp_path: Path, reviews_train: Path):
    result = invoke(["predict", "--model", str(tmp_path / "nope")], input="x\n", exit_code=1)
    assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr and "Traceback" not in result.output
    result = invoke(["train", "--data", str(reviews_train), "--out", str(tmp_path / "m"),
                     "--set", "training.epochs=-1"], exit_code=2)
    assert "'training.epochs' is -1" in result.stderr and result.stderr.count("\n") == 1
    result = invoke(["train", "--data", str(reviews_train), "--out", str(tmp_path / "m"),
                     "--label-column", "sentiment"], exit_code=1)
    assert "no column 'sentiment' (columns present: 'text', 'label')" in result.stderr
    assert not (tmp_path / "m").exists()


def test_debug_shows_the_traceback(tmp_path: Path):
    from click.testing import CliRunner

    from sentiment_cli.cli import cli

    result = CliRunner().invoke(cli, ["--debug", "predict", "--model", str(tmp_path / "nope")], input="x\n")
    assert result.exit_code != 0 and type(result.exception).__name__ == "ArtifactError"


def test_existing_model_dir_needs_force(trained_model: Path, tmp_path: Path, reviews_train: Path):
    import shutil

    out = tmp_path / "m"
    shutil.copytree(trained_model, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    result = invoke(["train", "--data", str(reviews_train), "--out", str(out), *TINY], exit_code=1)
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("args", [["config", "--defaults"], ["config", "--config", "lecture"]])
def test_config_command_prints_valid_yaml(args):
    import yaml

    data = yaml.safe_load(invoke(args).stdout)
    assert set(data) == {"tokenizer", "model", "training", "data"}


def test_default_train_then_predict_without_flags(tmp_path: Path, reviews_train: Path, monkeypatch):
    """`sentiment train` writes ./sentiment-model, which `predict` then finds with no flags."""
    monkeypatch.chdir(tmp_path)
    invoke(["train", "--data", str(reviews_train), "--quiet", "--no-plots", *TINY,
            "--set", "training.epochs=1"])
    assert (tmp_path / "sentiment-model" / MANIFEST).is_file()
    # Exported to ONNX with no --test-data either (a model never called before export once was not).
    assert json.loads((tmp_path / "sentiment-model" / "metrics.json").read_text())["onnx"] is True
    out = invoke(["predict"], input="A great film.\n").stdout
    assert out.split("\t")[0] in ("positive", "negative")


def test_predict_csv_carries_the_true_label(trained_model: Path, reviews_test: Path, tmp_path: Path):
    import pandas as pd

    gold = pd.read_csv(reviews_test, dtype=str, keep_default_na=False)["label"].tolist()
    out = invoke(["predict", "--model", str(trained_model), "--input", str(reviews_test), "--format", "json"]).stdout
    records = [json.loads(line) for line in out.split("\n") if line]
    assert [r["true_label"] for r in records] == gold  # the model's label column, by default
    renamed = tmp_path / "renamed.csv"
    pd.read_csv(reviews_test).rename(columns={"text": "review", "label": "gold"}).head(20).to_csv(renamed, index=False)
    rows = invoke(["predict", "--model", str(trained_model), "--input", str(renamed), "--text-column", "review",
                   "--label-column", "gold", "--format", "csv"]).stdout.split("\n")
    assert rows[0] == "id,text,label,score,confidence,status,true_label" and rows[1].endswith(gold[0])
    invoke(["predict", "--model", str(trained_model), "--label-column", "label"], input="x\n", exit_code=2)
