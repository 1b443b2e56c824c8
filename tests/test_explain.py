"""Occlusion explanations (sentiment_cli/explain.py) against a model whose answer is known exactly.

A real tokenizer fitted on real reviews, and in place of the network a bag-of-words logistic
"model" (known weights per id plus a term per non-padding token), so every effect can be
recomputed by hand: masking semantics (OOV id vs removal), the maxlen window, repeated words,
ranking and the single batched call. The trained-model check ("awful" ranks first on a real
negative review) is in test_scores.py, beside the model it trains.
"""

from __future__ import annotations

import math
import numpy as np
import pytest

from conftest import TRAIN, head_rows
from sentiment_cli.data import LabelEncoding
from sentiment_cli.explain import explain
from sentiment_cli.predictor import Decision, Predictor
from sentiment_cli.tokenizer import Tokenizer

NUM_WORDS = 3000
WEIGHTS = {"awful": -2.0, "boring": -1.2, "great": 1.5, "wonderful": 1.0}
LENGTH_WEIGHT = 0.02  # per non-padding id: lets a test tell "replace by OOV" from "remove"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return head_rows(TRAIN, 400)["text"].tolist()


def make_predictor(texts: list[str], *, oov: str | None = "<OOV>", maxlen: int = 200,
                   truncating: str = "pre") -> tuple[Predictor, list[int]]:
    """A Predictor over a fake linear model, and a list recording each inference call's batch size."""
    tok = Tokenizer(num_words=NUM_WORDS, oov_token=oov, strip_html=True, maxlen=maxlen,
                    truncating=truncating).fit(texts)
    w = np.zeros(NUM_WORDS)
    for word, weight in WEIGHTS.items():
        assert tok.word_index_[word] < NUM_WORDS, f"{word!r} should be in the fitted vocabulary"
        w[tok.word_index_[word]] = weight
    calls: list[int] = []

    def runner(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return 1.0 / (1.0 + np.exp(-(w[x].sum(axis=1) + LENGTH_WEIGHT * (x != 0).sum(axis=1) - 1.0)))

    decision = Decision(LabelEncoding("negative", "positive"))
    return Predictor(tok, decision, runner, "fake"), calls


def logit_score(predictor: Predictor, ids: list[int]) -> float:
    return float(predictor.score_ids(np.asarray([ids]))[0])


def test_effects_are_score_differences_with_the_word_replaced_by_oov(texts: list[str]):
    predictor, calls = make_predictor(texts)
    text = "An awful, boring film. The lead is great but the script is awful."
    tok = predictor.tokenizer
    ids = tok.transform([text])[0]
    base = logit_score(predictor, ids)
    calls.clear()
    result = explain(predictor, text, k=10)
    assert len(calls) == 1, "all variants must be scored in one batched call"
    assert calls[0] == len(set(tok.words(text))) + 1  # every distinct in-vocabulary word + the original
    listed = {row["token"]: row for row in result["positive"] + result["negative"]}
    oov = tok.word_index_["<OOV>"]
    for word in ("awful", "boring", "great"):
        masked = [oov if w == word else i for w, i in zip(tok.words(text), ids)]
        assert listed[word]["effect"] == pytest.approx(base - logit_score(predictor, masked), abs=1e-6)
    assert listed["awful"]["count"] == 2
    assert set(listed) == {"awful", "boring", "great"}, "words without effect are not listed"


def test_ranking_signs_and_top_k(texts: list[str]):
    predictor, _ = make_predictor(texts)
    text = "Great cast, wonderful music, but an awful and boring story."
    result = explain(predictor, text, k=2)
    assert [r["token"] for r in result["negative"]] == ["awful", "boring"]
    assert [r["token"] for r in result["positive"]] == ["great", "wonderful"]
    neg = [r["effect"] for r in explain(predictor, text, k=50)["negative"]]
    pos = [r["effect"] for r in explain(predictor, text, k=50)["positive"]]
    assert all(e < 0 for e in neg) and neg == sorted(neg)
    assert all(e > 0 for e in pos) and pos == sorted(pos, reverse=True)


def test_repeated_word_is_masked_everywhere_and_reported_once(texts: list[str]):
    predictor, _ = make_predictor(texts)
    once = explain(predictor, "The film was awful.", k=5)["negative"][0]
    thrice = explain(predictor, "Awful. The film was awful, simply awful.", k=5)["negative"]
    assert [r["token"] for r in thrice].count("awful") == 1
    top = thrice[0]
    assert (top["token"], top["count"]) == ("awful", 3)
    assert abs(top["effect"]) > abs(once["effect"])


def test_only_words_inside_the_maxlen_window_count(texts: list[str]):
    filler = " ".join(texts[0].split()[:60])  # a real review's words, no weighted word among them
    assert not set(WEIGHTS) & set(filler.lower().split())
    text = f"awful {filler} great"
    pre, _ = make_predictor(texts, maxlen=30, truncating="pre")  # keeps the last 30 tokens
    post, _ = make_predictor(texts, maxlen=30, truncating="post")  # keeps the first 30
    tokens = lambda r: {row["token"] for row in r["positive"] + r["negative"]}  # noqa: E731
    seen_pre, seen_post = tokens(explain(pre, text, 50)), tokens(explain(post, text, 50))
    assert "great" in seen_pre and "awful" not in seen_pre
    assert "awful" in seen_post and "great" not in seen_post


def test_without_an_oov_token_the_word_is_removed(texts: list[str]):
    """Removal shortens the sequence: the length term drops too, unlike OOV replacement."""
    with_oov, _ = make_predictor(texts)
    without, _ = make_predictor(texts, oov=None)
    text = "The film was awful, qwertyuiop."  # the nonsense word is unknown: dropped, never a candidate
    base_with = logit_score(with_oov, with_oov.tokenizer.transform([text])[0])
    ids_without = without.tokenizer.transform([text])[0]
    base_without = logit_score(without, ids_without)

    def expected(base: float, drop_length: bool) -> float:
        z = math.log(base / (1 - base)) - WEIGHTS["awful"] - (LENGTH_WEIGHT if drop_length else 0.0)
        return base - 1.0 / (1.0 + math.exp(-z))

    got_with = next(r for r in explain(with_oov, text, 10)["negative"] if r["token"] == "awful")
    got_without = next(r for r in explain(without, text, 10)["negative"] if r["token"] == "awful")
    assert got_with["effect"] == pytest.approx(expected(base_with, False), abs=1e-6)
    assert got_without["effect"] == pytest.approx(expected(base_without, True), abs=1e-6)
    listed = [r["token"] for part in explain(without, text, 10).values() for r in part]
    assert "qwertyuiop" not in listed


def test_words_the_model_cannot_see_are_not_candidates(texts: list[str]):
    predictor, calls = make_predictor(texts)
    tok = predictor.tokenizer
    rare = next(w for w, i in tok.word_index_.items() if i >= NUM_WORDS)  # outside num_words: OOV
    result = explain(predictor, f"{rare} awful", k=5)
    assert [r["token"] for r in result["negative"] + result["positive"]] == ["awful"]
    assert calls == [2]
    assert explain(predictor, f"{rare} !!! ...", k=5) == {"positive": [], "negative": []}
    assert calls == [2], "nothing to explain: no inference call"
