"""Shared fixtures: small slices of the bundled real reviews and one tiny trained model.

The model is trained once per test session (a few seconds on 2 cores) and shared read-only; tests
that modify a model directory copy it first (`model_copy`).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "data" / "imdb_train.csv.gz"
TEST = ROOT / "data" / "imdb_test.csv.gz"

# Small enough to train in seconds, big enough to learn something from 540 reviews (ROC AUC about
# 0.75): a high learning rate and no dropout, because two epochs is all it gets.
TINY = ["--set", "training.epochs=2", "--set", "tokenizer.num_words=3000", "--set", "tokenizer.maxlen=80",
        "--set", "model.units=16", "--set", "model.embedding_dim=16", "--set", "training.batch_size=32",
        "--set", "training.learning_rate=0.01", "--set", "model.dropout=0", "--set", "model.embedding_dropout=0",
        "--set", "training.early_stopping_patience=null"]


def head_rows(path: Path, n: int) -> pd.DataFrame:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return pd.read_csv(fh, nrows=n, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def reviews_train(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 600 real reviews of the bundled train split, as a plain CSV."""
    path = tmp_path_factory.mktemp("data") / "train.csv"
    head_rows(TRAIN, 600).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def reviews_test(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 300 real reviews of the bundled test split."""
    path = tmp_path_factory.mktemp("data") / "test.csv"
    head_rows(TEST, 300).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory, reviews_train: Path, reviews_test: Path) -> Path:
    """A tiny model directory trained through the CLI once per session. Do not modify it."""
    from sentiment_cli.cli import cli

    out = tmp_path_factory.mktemp("models") / "tiny"
    result = CliRunner().invoke(cli, ["train", "--data", str(reviews_train), "--test-data", str(reviews_test),
                                      "--out", str(out), "--quiet", "--no-plots", *TINY])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def model_copy(trained_model: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model that a test may damage."""
    dst = tmp_path / "model"
    shutil.copytree(trained_model, dst)
    return dst


@pytest.fixture(autouse=True)
def sentiment_logger_reaches_caplog():
    """The CLI sets the 'sentiment' logger to its own stderr handler without propagation; undo that
    between tests so caplog sees library warnings whatever ran before."""
    import logging

    logger = logging.getLogger("sentiment")
    logger.handlers[:] = []
    logger.propagate = True
    yield


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(args: list[str], *, exit_code: int = 0, input: str | bytes | None = None):
    """Run the CLI in-process and assert its exit code (black's invokeBlack pattern)."""
    from sentiment_cli.cli import cli

    result = CliRunner().invoke(cli, args, input=input)
    assert result.exit_code == exit_code, (result.exit_code, result.output, result.exception)
    return result
