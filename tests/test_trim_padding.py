"""Predict drops all-padding columns only where train time proved the scores unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import TEST, head_rows
from sentiment_cli import artifacts
from sentiment_cli.config import load_config
from sentiment_cli.predictor import LENGTH_GROUP, Predictor, row_lengths, trim_padding, trimming_is_exact

pytestmark = pytest.mark.filterwarnings("ignore:.*does not support masking")


def test_trim_padding_cuts_only_columns_that_are_padding_in_every_row():
    post = np.array([[5, 6, 0, 0, 0], [7, 0, 0, 0, 0]])
    np.testing.assert_array_equal(trim_padding(post, "post"), post[:, :2])
    pre = np.array([[0, 0, 0, 5, 6], [0, 0, 7, 8, 9]])
    np.testing.assert_array_equal(trim_padding(pre, "pre"), pre[:, 2:])
    assert trim_padding(np.zeros((3, 4), dtype=int), "post").shape == (3, 1)  # empty texts: one column
    inner = np.array([[5, 0, 6, 0]])  # a 0 inside a row (OOV-less drop) is not padding
    np.testing.assert_array_equal(trim_padding(inner, "post"), inner[:, :3])


def test_row_lengths_ignore_padding_on_either_side():
    np.testing.assert_array_equal(row_lengths(np.array([[5, 0, 6, 0], [7, 0, 0, 0], [0, 0, 0, 0]]), "post"),
                                  [3, 1, 0])
    np.testing.assert_array_equal(row_lengths(np.array([[0, 5, 0, 6], [0, 0, 0, 7]]), "pre"), [3, 1])


def test_long_batches_are_scored_by_length_in_order(trained_model: Path):
    """A batch larger than LENGTH_GROUP is sorted by length, scored in groups and put back in order."""
    texts = head_rows(TEST, 600)["text"].tolist()
    texts = [t if i % 3 else " ".join(t.split()[:5]) for i, t in enumerate(texts)]  # short and long mixed
    predictor = Predictor.from_dir(trained_model, backend="onnx")
    x = predictor.tokenizer.encode(texts)
    assert len(x) > 4 * LENGTH_GROUP and predictor.trim_padding
    widths = []
    run = predictor._run
    predictor._run = lambda b: (widths.append(b.shape[1]), run(b))[1]
    by_length = predictor.score_ids(x)
    assert len(widths) == -(-len(x) // LENGTH_GROUP) and min(widths) < max(widths) <= x.shape[1]
    predictor._run, predictor.trim_padding = run, False
    np.testing.assert_allclose(by_length, predictor.score_ids(x), atol=1e-6)


def test_trimming_is_exact_catches_a_width_dependent_model():
    x = np.array([[5, 6, 0, 0], [7, 0, 0, 0]])
    assert trimming_is_exact(lambda b: b.sum(axis=1) / 100.0, x, "post", 1e-9)
    assert not trimming_is_exact(lambda b: np.full(len(b), b.shape[1] / 100.0), x, "post", 1e-9)


def test_trained_masked_model_trims_and_scores_the_same(trained_model: Path):
    labels = artifacts.read_json(trained_model / artifacts.LABELS)
    assert labels["trim_padding"] is True  # the default config masks and post-pads
    texts = head_rows(TEST, 200)["text"].tolist()
    for backend in ("onnx", "keras"):
        predictor = Predictor.from_dir(trained_model, backend=backend)
        assert predictor.trim_padding
        widths, run = [], predictor._run
        predictor._run = lambda b: (widths.append(b.shape[1]), run(b))[1]
        short = ["great film", "awful", ""]
        trimmed = predictor.predict_proba(short)
        assert widths == [2]  # the batch was cut to its longest row, not maxlen
        predictor._run, predictor.trim_padding = run, False
        np.testing.assert_allclose(trimmed, predictor.predict_proba(short), atol=1e-6)
        predictor.trim_padding = True
        trimmed = predictor.predict_proba(texts[:1] + ["great", ""])
        predictor.trim_padding = False
        full = predictor.predict_proba(texts[:1] + ["great", ""])
        np.testing.assert_allclose(trimmed, full, atol=1e-6)
    predictor = Predictor.from_dir(trained_model)
    batches = [texts[i:i + 16] for i in range(0, len(texts), 16)]
    trimmed = np.concatenate([predictor.predict_proba(b) for b in batches])
    predictor.trim_padding = False
    np.testing.assert_allclose(trimmed, predictor.predict_proba(texts), atol=1e-6)


@pytest.mark.parametrize("overrides, expected", [
    (["model.mask=false"], False),  # padding is read: cutting it would change scores
    (["model.mask=true", "tokenizer.padding=pre", "model.pooling=max"], False),  # zeros reach the max
    (["model.mask=true", "tokenizer.padding=post"], True),
])
def test_train_time_decision_follows_the_config(tmp_path: Path, overrides: list[str], expected: bool):
    import keras

    from sentiment_cli.api import _trim_is_exact
    from sentiment_cli.model import build_model

    cfg = load_config(None, ["model.units=4", "model.embedding_dim=4", "tokenizer.maxlen=12", *overrides])
    keras.utils.set_random_seed(0)
    model = build_model(cfg.model, vocab_size=30, seed=0, padding=cfg.tokenizer.padding)
    rng = np.random.default_rng(0)
    rows = [rng.integers(2, 30, n).tolist() for n in (1, 3, 5, 12, 7, 2)]
    from sentiment_cli.tokenizer import pad_sequences

    sample = pad_sequences(rows, 12, padding=cfg.tokenizer.padding)
    assert _trim_is_exact(cfg, model, tmp_path, False, sample) is expected


def test_predict_help_states_the_batch_size_default():
    from click.testing import CliRunner

    from sentiment_cli.cli import cli
    from sentiment_cli.predictor import DEFAULT_BATCH_SIZE

    out = CliRunner().invoke(cli, ["predict", "--help"]).output
    assert f"(default: {DEFAULT_BATCH_SIZE};" in " ".join(out.split())  # the help says what the code uses
