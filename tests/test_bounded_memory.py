"""What keeps training's memory bounded on large files gives the results of the plain path:
chunked n-gram counting and matrices, chunked co-occurrences, the wide branch's and the word
vectors' row samples, batches padded from the token store, and texts released once tokenized."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TRAIN, head_rows
from sentiment_cli import ngrams, training, word_vectors
from sentiment_cli.config import load_config
from sentiment_cli.token_ids import TokenIds
from sentiment_cli.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def corpus() -> tuple[Tokenizer, TokenIds, np.ndarray]:
    frame = head_rows(TRAIN, 1500)
    tok = Tokenizer(num_words=3000, oov_token="<OOV>", strip_html=True).fit(frame["text"])
    ids = TokenIds.from_lists(tok.transform(frame["text"]))
    return tok, ids, (frame["label"] == "positive").to_numpy().astype(int)


def test_chunked_ngram_counts_and_matrix_equal_one_pass(corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    _, ids, _ = corpus
    whole = ngrams.NgramFeatures(vocab_size=3000, oov_id=1).fit(ids)
    r, c, w = whole.triples(ids)
    monkeypatch.setattr(ngrams, "_CHUNK", 97)
    monkeypatch.setattr(ngrams, "_MERGE", 5_000)  # many merges of partial counts
    chunked = ngrams.NgramFeatures(vocab_size=3000, oov_id=1).fit(ids)
    assert np.array_equal(chunked.keys_, whole.keys_) and np.array_equal(chunked.idf_, whole.idf_)
    a = chunked.to_csr(ids)
    a.sort_indices()
    coo = a.tocoo()
    assert np.array_equal(coo.row, r) and np.array_equal(coo.col, c) and np.allclose(coo.data, w, rtol=0, atol=0)


def test_nb_ratios_count_rows_containing_each_ngram(corpus) -> None:
    _, ids, y = corpus
    a = ngrams.NgramFeatures(vocab_size=3000, oov_id=1).fit(ids).to_csr(ids)
    present = (a > 0).astype(float)
    p = 1 + np.asarray(present[y == 1].sum(axis=0)).ravel()
    q = 1 + np.asarray(present[y == 0].sum(axis=0)).ravel()
    assert np.allclose(training.nb_ratios(a, y), np.log((p / p.sum()) / (q / q.sum())))


def test_wide_branch_beyond_its_row_limit_fits_a_seeded_sample(corpus) -> None:
    tok, ids, y = corpus
    tr, va = np.arange(1200), np.arange(1200, 1500)
    limit = int(ids.take(tr).lengths.sum()) * 3 // 4
    cfg = load_config(None, [f"model.wide_max_tokens={limit}", "model.wide_c=4", "model.wide_subwords=false"])
    capped = training.fit_wide(cfg, ids.take(tr), y[tr], ids.take(va), y[va], vocab_size=3000, oov_id=1)
    order = np.random.default_rng(cfg.training.seed).permutation(1200)
    sample = np.sort(order[:int(np.searchsorted(np.cumsum(ids.lengths[tr][order]), limit)) + 1])
    assert 800 < len(sample) < 1000
    plain = training.fit_wide(cfg, ids.take(tr[sample]), y[tr][sample], ids.take(va), y[va], vocab_size=3000, oov_id=1)
    assert np.array_equal(capped.coef, plain.coef) and np.array_equal(capped.val_logits, plain.val_logits)
    assert capped.features.n_columns == plain.features.n_columns


def test_the_subword_block_divides_the_wide_branchs_token_budget(corpus) -> None:
    """With model.wide_subwords the wide branch samples rows at wide_max_tokens / SUBWORD_EXPANSION
    tokens: with the block the matrix holds up to ~10 times the entries per token; memory stays bounded."""
    from sentiment_cli import auto

    tok, ids, y = corpus
    tr, va = np.arange(600), np.arange(600, 700)
    limit = int(ids.take(tr).lengths.sum()) * 3 // 4
    words = training.vocabulary_words(tok)
    cfg = load_config(None, [f"model.wide_max_tokens={limit * auto.SUBWORD_EXPANSION}", "model.wide_c=4",
                             "model.wide_subwords=true"])
    capped = training.fit_wide(cfg, ids.take(tr), y[tr], ids.take(va), y[va], vocab_size=3000, oov_id=1, words=words)
    order = np.random.default_rng(cfg.training.seed).permutation(600)
    sample = np.sort(order[:int(np.searchsorted(np.cumsum(ids.lengths[tr][order]), limit)) + 1])
    assert 350 < len(sample) < 500
    plain = training.fit_wide(cfg, ids.take(tr[sample]), y[tr][sample], ids.take(va), y[va], vocab_size=3000,
                              oov_id=1, words=words)
    assert len(capped.features.sub_idf_) > 0
    assert np.array_equal(capped.coef, plain.coef) and np.array_equal(capped.val_logits, plain.val_logits)


def test_chunked_cooccurrence_counts_are_the_one_pass_counts(corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    _, ids, _ = corpus
    whole = word_vectors.cooccurrence(ids, 3000, 5, skip=(0, 1))
    monkeypatch.setattr(word_vectors, "CHUNK_TOKENS", 10_000)
    assert len(word_vectors.row_chunks(ids.offsets, 10_000)) > 10
    chunked = word_vectors.cooccurrence(ids, 3000, 5, skip=(0, 1))
    assert abs(chunked - whole).max() < 1e-9 and chunked.nnz == whole.nnz
    assert word_vectors.cooccurrence(TokenIds.from_lists([]), 10, 2).nnz == 0


def test_word_vectors_beyond_their_token_limit_read_a_seeded_sample(corpus) -> None:
    _, ids, _ = corpus
    capped = word_vectors.ppmi_svd(ids, 2000, 8, window=5, seed=3, skip=(0, 1), max_tokens=50_000)
    order = np.random.default_rng(3).permutation(len(ids))
    n = int(np.searchsorted(np.cumsum(ids.lengths[order]), 50_000)) + 1
    assert 0 < n < len(ids)
    plain = word_vectors.ppmi_svd(ids.take(np.sort(order[:n])), 2000, 8, window=5, seed=3, skip=(0, 1),
                                  max_tokens=None)
    assert np.array_equal(capped, plain)
    everything = word_vectors.ppmi_svd(ids, 2000, 8, window=5, seed=3, skip=(0, 1), max_tokens=None)
    assert not np.array_equal(everything, capped)


def test_batches_padded_from_the_store_equal_cut_padded_rows(corpus) -> None:
    tok, ids, y = corpus
    for padding in ("pre", "post"):
        tok.maxlen, tok.padding, tok.truncating = 60, padding, "pre"
        lengths = np.clip(ids.lengths, 1, 60)
        kw = dict(batch_size=64, seed=4, bucketing=True, padding=padding)
        from_rows = training.make_dataset(tok.pad(ids), lengths, y.astype(np.float32), **kw)
        from_store = training.make_dataset(ids, lengths, y.astype(np.float32), tokenizer=tok, **kw)
        for (xa, ya), (xb, yb) in zip(from_rows, from_store, strict=True):
            assert np.array_equal(xa.numpy(), xb.numpy()) and np.array_equal(ya.numpy(), yb.numpy())


def test_released_texts_leave_a_sample_and_the_same_ids() -> None:
    texts = head_rows(TRAIN, 400)["text"].tolist()
    cfg = load_config(None, [])
    tr, va = np.arange(300), np.arange(300, 400)
    kept = list(texts)
    _, tok_a, tr_a, va_a, _, _ = training.tokenize_splits(cfg, kept, tr, va)
    released = list(texts)
    _, tok_b, tr_b, va_b, _, _ = training.tokenize_splits(cfg, released, tr, va, release_texts=True)
    assert len(kept) == 400 and released == texts[:training.KEPT_TEXTS]
    assert tok_a.word_index_ == tok_b.word_index_
    assert tr_a.tolist() == tr_b.tolist() and va_a.tolist() == va_b.tolist()
