"""Word vectors from co-occurrences (word_vectors.py) and how they start the embedding."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TRAIN, head_rows
from sentiment_cli.config import load_config
from sentiment_cli.word_vectors import TARGET_STD, cooccurrence, ppmi, ppmi_svd


def test_cooccurrence_weights_pairs_by_distance_and_never_crosses_reviews():
    counts = cooccurrence([[1, 2, 3], [3, 4]], vocab_size=5, window=2).toarray()
    want = np.zeros((5, 5))
    for a, b, w in [(1, 2, 1.0), (2, 3, 1.0), (1, 3, 0.5), (3, 4, 1.0)]:
        want[a, b] += w
        want[b, a] += w
    np.testing.assert_allclose(counts, want)  # no (2, 3) or (3, 3) pair across the two reviews


def test_cooccurrence_leaves_out_skipped_ids():
    counts = cooccurrence([[2, 1, 3]], vocab_size=4, window=1, skip=(0, 1)).toarray()
    assert counts.sum() == 0  # 2 and 3 were only ever next to the OOV id 1
    assert cooccurrence([[2, 1, 3]], vocab_size=4, window=2, skip=(0, 1)).toarray()[2, 3] == 0.5


def test_ppmi_matches_the_formula():
    import scipy.sparse as sp

    dense = np.array([[0, 4, 1, 0], [4, 0, 2, 1], [1, 2, 0, 3], [0, 1, 3, 0]], dtype=float)
    got = ppmi(sp.csr_matrix(dense)).toarray()
    rows, contexts = dense.sum(1), dense.sum(0) ** 0.75
    with np.errstate(divide="ignore"):
        pmi = np.log(dense * contexts.sum() / np.outer(rows, contexts))
    np.testing.assert_allclose(got, np.where(pmi > 0, pmi, 0.0), atol=1e-12)


@pytest.fixture(scope="module")
def sequences() -> tuple[list[list[int]], object]:
    """3,000 real reviews (about 700k tokens): enough co-occurrences for stable neighbours."""
    from sentiment_cli.tokenizer import Tokenizer

    texts = head_rows(TRAIN, 3000)["text"].tolist()
    tok = Tokenizer(num_words=2000, oov_token="<OOV>", strip_html=True).fit(texts)
    return tok.transform(texts), tok


def test_vectors_are_scaled_deterministic_and_zero_where_unseen(sequences):
    seqs, tok = sequences
    a = ppmi_svd(seqs, 2500, 16, window=5, seed=3, skip=(0, 1))
    b = ppmi_svd(seqs, 2500, 16, window=5, seed=3, skip=(0, 1))
    assert a.shape == (2500, 16) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not a[[0, 1]].any()  # padding and OOV ids are left to the random init
    assert not a[2000:].any()  # ids the tokenizer never emits (num_words=2000)
    seen = np.abs(a).sum(axis=1) > 0
    assert seen[2:2000].mean() > 0.99 and a[seen].std() == pytest.approx(TARGET_STD, rel=1e-3)


def test_vectors_put_related_words_closer_than_unrelated(sequences):
    """The property the embedding is started from: words used alike get alike vectors."""
    seqs, tok = sequences
    v = ppmi_svd(seqs, 2000, 32, window=5, seed=0, skip=(0, 1))
    ids = tok.word_index_

    def cos(a: str, b: str) -> float:
        x, y = v[ids[a]], v[ids[b]]
        return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))

    assert cos("great", "excellent") > cos("great", "and") + 0.2
    assert cos("bad", "awful") > cos("bad", "and") + 0.2
    assert cos("actor", "actress") > cos("actor", "awful")


def test_build_model_starts_from_given_rows_and_keeps_random_init_elsewhere():
    import keras

    from sentiment_cli.model import build_model

    cfg = load_config(None, ["model.units=4", "model.embedding_dim=3"]).model
    rows = np.zeros((10, 3), dtype=np.float32)
    rows[5] = [1.0, -2.0, 3.0]
    keras.utils.set_random_seed(0)
    plain = build_model(cfg, vocab_size=10, seed=1).get_layer("embedding").get_weights()[0]
    keras.utils.set_random_seed(0)
    started = build_model(cfg, vocab_size=10, seed=1, embedding=rows).get_layer("embedding").get_weights()[0]
    np.testing.assert_array_equal(started[5], rows[5])
    np.testing.assert_array_equal(np.delete(started, 5, axis=0), np.delete(plain, 5, axis=0))
    with pytest.raises(ValueError, match="shape"):
        build_model(cfg, vocab_size=11, seed=1, embedding=rows)
