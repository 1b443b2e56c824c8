"""The wide branch's features: TF-IDF over word 1-2 grams of id rows, as scikit-learn computes it.

Proven against `TfidfVectorizer(sublinear_tf=True)` on real reviews (the same n-grams written as
strings), so the linear model the wide branch carries is the well-known one; padded batches,
persistence and the NB log-count ratios are checked on their own.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import TRAIN, head_rows
from sentiment_cli.ngrams import NgramFeatures, model_inputs, recurrent_rows
from sentiment_cli.tokenizer import Tokenizer, pad_sequences


@pytest.fixture(scope="module")
def rows() -> tuple[Tokenizer, np.ndarray]:
    texts = head_rows(TRAIN, 300)["text"].tolist()
    tok = Tokenizer(num_words=2000, oov_token="<OOV>", strip_html=True, maxlen=120, padding="post").fit(texts)
    return tok, tok.encode(texts)


def _as_strings(x: np.ndarray, oov: int) -> list[list[str]]:
    """Each row's unigrams and bigrams as strings, skipping padding and OOV as NgramFeatures does."""
    out = []
    for row in x:
        ids = [int(i) for i in row]
        grams = [str(i) for i in ids if i not in (0, oov)]
        grams += [f"{a} {b}" for a, b in zip(ids, ids[1:]) if a not in (0, oov) and b not in (0, oov)]
        out.append(grams)
    return out


def test_matches_scikit_learn_tfidf(rows: tuple[Tokenizer, np.ndarray]) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    tok, x = rows
    feats = NgramFeatures(vocab_size=tok.vocabulary_size, oov_id=1, min_df=2).fit(x[:200])
    ref = TfidfVectorizer(analyzer=lambda g: g, sublinear_tf=True, min_df=2)
    ref.fit(_as_strings(x[:200], 1))
    assert len(feats.keys_) == len(ref.vocabulary_)
    ours = feats.to_csr(x[200:]).toarray()[:, 1:]
    theirs = ref.transform(_as_strings(x[200:], 1)).toarray()
    # Map scikit-learn's columns (sorted strings) onto ours (sorted keys).
    v = tok.vocabulary_size

    def key(gram: str) -> int:
        parts = [int(p) for p in gram.split()]
        return parts[0] if len(parts) == 1 else v + parts[0] * v + parts[1]

    order = np.argsort([key(g) for g in ref.get_feature_names_out()])
    np.testing.assert_allclose(ours, theirs[:, order], atol=1e-6)


def test_padded_batch_holds_the_same_features(rows: tuple[Tokenizer, np.ndarray]) -> None:
    tok, x = rows
    feats = NgramFeatures(vocab_size=tok.vocabulary_size, oov_id=1).fit(x)
    dense = feats.to_csr(x[:20]).toarray()
    ids, weights = feats.transform(x[:20])
    rebuilt = np.zeros_like(dense)
    for r in range(len(ids)):
        np.add.at(rebuilt[r], ids[r], weights[r])
    rebuilt[:, 0] = 0.0  # padding slots carry weight 0 at column 0
    np.testing.assert_allclose(rebuilt, dense, atol=1e-6)
    assert ids.shape[1] == max((dense > 0).sum(axis=1))  # as wide as the batch needs, no wider
    np.testing.assert_allclose(np.linalg.norm(weights, axis=1), 1.0, atol=1e-5)


def test_padding_trimmed_rows_give_the_same_features(rows: tuple[Tokenizer, np.ndarray]) -> None:
    tok, x = rows
    feats = NgramFeatures(vocab_size=tok.vocabulary_size, oov_id=1).fit(x)
    short = x[:5, :60]
    a = feats.to_csr(np.hstack([short, np.zeros((5, 60), dtype=short.dtype)])).toarray()
    np.testing.assert_array_equal(a, feats.to_csr(short).toarray())


def test_rows_without_known_ngrams_are_all_zero() -> None:
    feats = NgramFeatures(vocab_size=10, oov_id=1).fit(np.array([[2, 3, 0], [2, 3, 4]]))
    ids, weights = feats.transform(np.array([[0, 0, 0], [1, 1, 0], [9, 8, 0]]))
    assert ids.shape == (3, 1) and not ids.any() and not weights.any()
    assert np.isfinite(weights).all()


def test_max_features_keeps_the_most_frequent() -> None:
    x = np.array([[2, 3, 4], [2, 3, 5], [2, 6, 7], [2, 3, 0]])
    feats = NgramFeatures(vocab_size=10, oov_id=1, min_df=1, max_features=2).fit(x)
    # df: word 2 in 4 rows; word 3 and the bigram "2 3" (key 10 + 2 * 10 + 3) in 3: ties go by key.
    assert feats.keys_.tolist() == [2, 3]
    feats = NgramFeatures(vocab_size=10, oov_id=1, min_df=1, max_features=3).fit(x)
    assert feats.keys_.tolist() == [2, 3, 33]


def test_round_trips_through_json(rows: tuple[Tokenizer, np.ndarray]) -> None:
    tok, x = rows
    feats = NgramFeatures(vocab_size=tok.vocabulary_size, oov_id=1).fit(x)
    back = NgramFeatures.from_dict(json.loads(json.dumps(feats.to_dict())))
    for a, b in zip(feats.transform(x[:10]), back.transform(x[:10])):
        np.testing.assert_array_equal(a, b)
    inputs = model_inputs(x[:3], back)
    assert set(inputs) == {"token_ids", "ngram_ids", "ngram_weights"}
    assert model_inputs(x[:3], None).dtype == np.int32


@pytest.mark.parametrize("damage", [{"kind": "other"}, {"keys_int64_le": "AAAA"}, {"idf_float32_le": "!!"},
                                    {"recurrent": {"maxlen": 0, "padding": "post", "truncating": "pre"}},
                                    {"recurrent": {"maxlen": 8, "padding": "middle", "truncating": "pre"}}])
def test_damaged_features_are_refused(rows: tuple[Tokenizer, np.ndarray], damage: dict) -> None:
    tok, x = rows
    data = {**NgramFeatures(vocab_size=tok.vocabulary_size, oov_id=1).fit(x).to_dict(), **damage}
    with pytest.raises((ValueError, KeyError, TypeError)):
        NgramFeatures.from_dict(data)


def test_nb_ratios_point_to_the_class_a_gram_comes_from() -> None:
    from scipy.sparse import csr_matrix

    from sentiment_cli.training import nb_ratios

    a = csr_matrix(np.array([[1.0, 1, 0], [1, 1, 0], [1, 0, 1], [1, 0, 1]]))
    r = nb_ratios(a, np.array([1, 1, 0, 0]))
    assert r[1] > 0 > r[2] and abs(r[0]) < 1e-12


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
def test_recurrent_rows_are_what_padding_to_maxlen_gives(rows: tuple[Tokenizer, np.ndarray], padding: str,
                                                         truncating: str) -> None:
    """The wide branch reads rows of wide_maxlen ids; the recurrent branch's rows cut from them are
    exactly the rows the texts padded to maxlen give, whatever the padding and truncating."""
    tok, _ = rows
    seqs = tok.transform(head_rows(TRAIN, 300)["text"].tolist()) + [[], [5], [5, 6, 7]]
    for wide, maxlen in ((400, 80), (100, 80), (81, 80), (300, 16)):
        cut = [s[-wide:] if truncating == "pre" else s[:wide] for s in seqs]
        x = pad_sequences(seqs, wide, padding=padding, truncating=truncating)
        want = pad_sequences(cut, maxlen, padding=padding, truncating=truncating)
        np.testing.assert_array_equal(recurrent_rows(x, maxlen, padding, truncating), want)
    x = pad_sequences(seqs, 60, padding=padding, truncating=truncating)
    assert recurrent_rows(x, 80, padding, truncating) is x  # rows no wider than maxlen stay as they are


def test_sequences_and_padded_rows_give_the_same_features(rows: tuple[Tokenizer, np.ndarray]) -> None:
    tok, _ = rows
    seqs = tok.transform(head_rows(TRAIN, 300)["text"].tolist())
    x = pad_sequences(seqs, max(map(len, seqs)), padding="post")
    a = NgramFeatures(vocab_size=tok.vocabulary_size, oov_id=1).fit(seqs)
    b = NgramFeatures(vocab_size=tok.vocabulary_size, oov_id=1).fit(x)
    np.testing.assert_array_equal(a.keys_, b.keys_)
    assert abs(a.to_csr(seqs) - b.to_csr(x)).max() == 0


def test_model_inputs_cut_the_recurrent_rows_and_keep_every_ngram(rows: tuple[Tokenizer, np.ndarray]) -> None:
    tok, _ = rows
    seqs = tok.transform(head_rows(TRAIN, 50)["text"].tolist())
    x = pad_sequences(seqs, 500, padding="post")
    feats = NgramFeatures(vocab_size=tok.vocabulary_size, oov_id=1,
                          recurrent={"maxlen": 40, "padding": "post", "truncating": "pre"}).fit(x)
    back = NgramFeatures.from_dict(json.loads(json.dumps(feats.to_dict())))
    inputs = model_inputs(x, back)
    np.testing.assert_array_equal(inputs["token_ids"], pad_sequences(seqs, 40, padding="post"))
    full = model_inputs(x, NgramFeatures.from_dict({**feats.to_dict(), "recurrent": None}))
    np.testing.assert_array_equal(inputs["ngram_ids"], full["ngram_ids"])  # the n-grams of all 500 ids


def _char_grams(word: str, lo: int = 2, hi: int = 5) -> list[str]:
    t = f" {word} "
    return [t[i:i + n] for n in range(lo, hi + 1) for i in range(len(t) - n + 1)]


def _subword_fit(tok: Tokenizer, x: np.ndarray) -> NgramFeatures:
    from sentiment_cli.training import SUBWORD_LENGTHS, vocabulary_words

    return NgramFeatures(vocab_size=tok.vocabulary_size, oov_id=1, min_df=2,
                         subwords=SUBWORD_LENGTHS).fit(x, vocabulary_words(tok))


def test_subwords_match_scikit_learn_char_tfidf_of_the_vocabulary_words(rows: tuple[Tokenizer, np.ndarray]) -> None:
    """The subword block is TfidfVectorizer(sublinear_tf=True) over the character 2-5 grams of each
    row's in-vocabulary words (OOV and padding contribute none), L2-normed on its own; the word
    n-gram block is unchanged by it."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    tok, x = rows
    feats = _subword_fit(tok, x[:200])
    plain = NgramFeatures(vocab_size=tok.vocabulary_size, oov_id=1, min_df=2).fit(x[:200])
    index_word = {i: w for w, i in tok.word_index_.items()}

    def grams(row: np.ndarray) -> list[str]:
        return [g for i in row if 1 < i < tok.vocabulary_size for g in _char_grams(index_word[int(i)])]

    ref = TfidfVectorizer(analyzer=grams, sublinear_tf=True, min_df=2).fit(list(x[:200]))
    assert len(feats.sub_idf_) == len(ref.vocabulary_)
    ours = feats.to_csr(x[200:]).toarray()
    n_words = len(plain.keys_) + 1
    np.testing.assert_allclose(ours[:, :n_words], plain.to_csr(x[200:]).toarray(), atol=1e-6)
    theirs = ref.transform(list(x[200:])).toarray()
    np.testing.assert_allclose(np.sort(feats.sub_idf_), np.sort(ref.idf_), rtol=1e-6)
    # The same matrix up to the order of its columns (ours are not sorted by gram string): columns
    # put in the order of their rounded values over the rows, then compared exactly.
    block = ours[:, n_words:]

    def by_profile(m: np.ndarray) -> np.ndarray:
        return m[:, np.lexsort(np.round(m, 4)[::-1])]

    np.testing.assert_allclose(by_profile(block), by_profile(theirs), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ours[:, n_words:], axis=1), 1.0, atol=1e-5)


def test_subword_features_round_trip_and_pad_alike(rows: tuple[Tokenizer, np.ndarray]) -> None:
    tok, x = rows
    feats = _subword_fit(tok, x)
    back = NgramFeatures.from_dict(json.loads(json.dumps(feats.to_dict())))
    for a, b in zip(feats.transform(x[:10]), back.transform(x[:10])):
        np.testing.assert_array_equal(a, b)
    ids, weights = feats.transform(x[:10])
    np.testing.assert_allclose(feats.to_csr(x[:10]).toarray()[np.arange(10)[:, None], ids] * (ids > 0),
                               weights, atol=1e-6)


@pytest.mark.parametrize("damage", [{"sub_indptr_int64_le": "AAAAAAAAAAA="}, {"sub_cols_int32_le": ""},
                                    {"sub_counts_float32_le": "!!"}, {"subwords": [3, 2]}])
def test_damaged_subword_tables_are_refused(rows: tuple[Tokenizer, np.ndarray], damage: dict) -> None:
    tok, x = rows
    data = {**_subword_fit(tok, x).to_dict(), **damage}
    with pytest.raises((ValueError, KeyError, TypeError)):
        NgramFeatures.from_dict(data)
