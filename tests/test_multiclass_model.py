"""The K-class pieces without training: temperature on log-probabilities, the combiner's scaled
softmax, the wide & deep graph with K logits per branch, rare-class warnings."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from sentiment_cli.metrics import apply_temperature, fit_temperature, softmax
from sentiment_cli.training import fit_combiner, fit_scaled_softmax


def test_temperature_on_log_probabilities_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(4000, 4))
    y = np.array([rng.choice(4, p=row) for row in softmax(logits)])
    overconfident = softmax(logits * 2.5)  # the true probabilities are softmax(log p / 2.5)
    t = fit_temperature(y, overconfident)
    assert t == pytest.approx(2.5, rel=0.1)
    fixed = apply_temperature(overconfident, t)
    assert fixed.shape == (4000, 4) and np.allclose(fixed.sum(axis=1), 1.0)
    assert np.array_equal(fixed.argmax(axis=1), overconfident.argmax(axis=1))  # labels never change
    assert apply_temperature(overconfident, 1.0) is overconfident


def test_scaled_softmax_with_two_classes_is_logistic_regression() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    z1, z2 = rng.normal(size=300), rng.normal(size=300)
    y = (rng.random(300) < 1 / (1 + np.exp(-(1.5 * z1 - 0.7 * z2 + 0.3)))).astype(int)
    blocks = [np.stack([np.zeros(300), z], axis=1) for z in (z1, z2)]  # binary logits as (0, z)
    slopes, bias = fit_scaled_softmax(blocks, y, np.ones(300), intercept=True)
    lr = LogisticRegression(C=1.0).fit(np.stack([z1, z2], axis=1), y)
    np.testing.assert_allclose(slopes, lr.coef_.ravel(), atol=1e-3)
    assert bias[1] - bias[0] == pytest.approx(lr.intercept_[0], abs=1e-3)


def test_k_class_combiner_keeps_the_informative_branch() -> None:
    rng = np.random.default_rng(2)
    n, k = 600, 3
    y = rng.integers(0, k, n)
    informative = rng.normal(size=(n, k)) + 3.0 * np.eye(k)[y]
    noise = rng.normal(size=(n, k))
    kernel, bias, choice, losses = fit_combiner(informative, noise, y, seed=0, wide_intercept=np.zeros(k))
    assert choice == "wide" and kernel.shape == (2 * k, k) and bias.shape == (k,)
    assert np.all(kernel[k:] == 0) and kernel[0, 0] > 0
    assert losses["wide"] < losses["recurrent"]
    kernel, _, choice, _ = fit_combiner(noise, informative, y, seed=0, wide_intercept=np.zeros(k))
    assert choice == "recurrent" and np.all(kernel[:k] == 0)


def test_wide_deep_graph_with_k_logits_matches_numpy() -> None:
    from sentiment_cli.config import ModelConfig
    from sentiment_cli.model import build_model, build_wide_deep
    from sentiment_cli.ngrams import NgramFeatures, model_inputs
    from sentiment_cli.training import quiet_tensorflow

    quiet_tensorflow()
    cfg = ModelConfig(units=4, embedding_dim=4)
    k, vocab = 3, 30
    rng = np.random.default_rng(3)
    x = rng.integers(2, vocab, size=(8, 12)).astype(np.int32)
    features = NgramFeatures(vocab_size=vocab, oov_id=1, min_df=1).fit(x)
    wide_w = rng.normal(size=(features.n_columns, k))
    wide_w[0] = 0
    recurrent = build_model(cfg, vocab_size=vocab, seed=0, padding="post", n_classes=k)
    kernel = np.vstack([0.7 * np.eye(k), 0.4 * np.eye(k)])
    bias = np.array([0.1, -0.2, 0.1])
    model = build_wide_deep(cfg, recurrent, vocab_size=vocab, seed=0, padding="post", wide_weights=wide_w,
                            combiner=(kernel, bias))
    got = np.asarray(model.predict(model_inputs(x, features), verbose=0))
    p_rec = np.asarray(recurrent.predict(x, verbose=0))
    z_wide = np.asarray(features.to_csr(x) @ wide_w)
    want = softmax(0.7 * z_wide + 0.4 * np.log(p_rec) + bias)  # softmax ignores log p's shift per row
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_rare_classes_are_named_in_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    from sentiment_cli.api import warn_rare_classes
    from sentiment_cli.data import LabeledData, LabelEncoding

    data = LabeledData([f"t{i}" for i in range(45)], np.array([0] * 30 + [1] * 12 + [2] * 3),
                       LabelEncoding("negative", "neutral", "positive"), "x.csv")
    with caplog.at_level(logging.WARNING, logger="sentiment"):
        warn_rare_classes(data)
    assert "'positive' (3)" in caplog.text and "neutral" not in caplog.text


def test_validation_split_too_small_for_the_classes_is_a_data_error() -> None:
    from sentiment_cli.data import LabeledData, LabelEncoding
    from sentiment_cli.errors import DataError
    from sentiment_cli.training import split_validation

    data = LabeledData([f"t{i}" for i in range(24)], np.repeat([0, 1, 2], 8), LabelEncoding("a", "b", "c"), "x.csv")
    with pytest.raises(DataError, match="holds 2, fewer than its 3 classes") as err:
        split_validation(data, 0.1, 0)
    assert "validation_split to 0.13" in err.value.hint
    tr, va = split_validation(data, 0.13, 0)
    assert sorted(data.y[va].tolist()) == [0, 1, 2] and len(tr) == 21


def test_check_data_counts_k_classes_and_flags_rare_ones(tmp_path) -> None:
    from sentiment_cli.checks import check_data

    rows = ["text,label"] + [f"review number {i} about the room,{c}" for i, c in
                             enumerate(["positive"] * 40 + ["neutral"] * 20 + ["negative"] * 3)]
    path = tmp_path / "three.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = check_data(str(path), None, "text", "label")
    assert report["train"]["labels"] == {"positive": 40, "neutral": 20, "negative": 3}
    assert any("class 'negative' is 4.8% of the rows" in p for p in report["problems"])
    assert any("['negative'] have fewer than 10 rows" in p for p in report["problems"])
