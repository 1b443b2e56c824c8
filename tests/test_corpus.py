"""The one-pass tokenizer (corpus.py) and the flat token store (token_ids.py) against the plain
Tokenizer.fit / transform / pad path they replace in training, on real reviews."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TRAIN, head_rows
from sentiment_cli import corpus
from sentiment_cli.token_ids import TokenIds
from sentiment_cli.tokenizer import Tokenizer, pad_sequences


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return head_rows(TRAIN, 400)["text"].tolist() + ["!", "...", "", "good GOOD good"]


SETTINGS = [dict(num_words=None, oov_token="<OOV>"), dict(num_words=300, oov_token="<OOV>"),
            dict(num_words=300, oov_token=None), dict(num_words=None, oov_token=None, strip_html=True),
            dict(num_words=50, oov_token="the", lower=False)]  # an OOV token that is also a word


@pytest.mark.parametrize("settings", SETTINGS)
def test_one_pass_vocabulary_and_ids_equal_fit_then_transform(texts: list[str], settings: dict) -> None:
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(texts))[:300]  # fitted on a shuffled subset, as the training split is
    expected = Tokenizer(**settings).fit([texts[i] for i in rows])
    space = corpus.WordSpace()
    ids = corpus.tokenize(Tokenizer(**settings), texts, space, workers=1)
    tok = Tokenizer(**settings)
    corpus.fit_vocabulary(tok, space.words, ids.take(rows))
    lut = corpus.lookup_table(tok, space.words)
    assert tok.word_index_ == expected.word_index_
    assert list(tok.word_index_) == list(expected.word_index_)  # the same ids, in the same order
    assert tok.word_counts_ == expected.word_counts_
    assert list(tok.word_counts_) == list(expected.word_counts_)  # first-seen order, as Keras keeps it
    assert tok.word_docs_ == expected.word_docs_
    assert tok.document_count_ == expected.document_count_
    assert ids.map(lut).tolist() == expected.transform(texts)
    assert tok.to_dict()["word_index"] == expected.to_dict()["word_index"]


def test_worker_processes_give_the_same_ids(texts: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus, "CHUNK", 37)  # many chunks, merged in order from two processes
    monkeypatch.setattr(corpus, "PARALLEL_MIN", 100)
    one = corpus.WordSpace()
    a = corpus.tokenize(Tokenizer(oov_token="<OOV>"), texts, one, workers=1)
    # A list: all of it in the workers; a stream: its first 100 texts here, then the workers.
    for given in (texts, iter(texts)):
        two = corpus.WordSpace()
        b = corpus.tokenize(Tokenizer(oov_token="<OOV>"), given, two, workers=2)
        assert one.words == two.words
        assert np.array_equal(a.ids, b.ids) and np.array_equal(a.offsets, b.offsets)


@pytest.mark.parametrize("block", [3, 32_768])  # blocks of rows: many, or one
def test_token_ids_operations_match_lists(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from sentiment_cli import token_ids

    monkeypatch.setattr(token_ids, "_BLOCK", block)
    rng = np.random.default_rng(1)
    seqs = [rng.integers(1, 50, size=n).tolist() for n in [0, 1, 5, 12, 3, 0, 30]]
    t = TokenIds.from_lists(seqs)
    assert len(t) == len(seqs) and t.tolist() == seqs
    assert t.lengths.tolist() == [len(s) for s in seqs]
    assert t[3].tolist() == seqs[3] and t[-1].tolist() == seqs[-1]
    assert t[2:5].tolist() == seqs[2:5] and t[5:2].tolist() == []
    order = [6, 0, 3, 3]
    assert t.take(order).tolist() == [seqs[i] for i in order]
    assert t.window(4, last=True).tolist() == [s[-4:] for s in seqs]
    assert t.window(4, last=False).tolist() == [s[:4] for s in seqs]
    for padding in ("pre", "post"):
        for truncating in ("pre", "post"):
            got = t.pad(8, padding=padding, truncating=truncating)
            assert np.array_equal(got, pad_sequences(seqs, 8, padding=padding, truncating=truncating))
    blank = t.pad(4, padding="post", empty=1)
    assert blank[0].tolist() == [1, 0, 0, 0] and blank[1].tolist() == [seqs[1][0], 0, 0, 0]
    assert t.pad(4, rows=np.array([3, 1])).tolist() == pad_sequences([seqs[3], seqs[1]], 4).tolist()
    lut = np.arange(50, dtype=np.int32)
    lut[lut % 2 == 0] = -1
    assert t.map(lut).tolist() == [[i for i in s if i % 2] for s in seqs]
    assert TokenIds.concat([t[:2], t[2:]]).tolist() == seqs


def test_pad_of_tokenizer_and_store_agree_on_empty_rows() -> None:
    tok = Tokenizer(oov_token="<OOV>", maxlen=6, padding="post").fit(["good film", "bad"])
    seqs = tok.transform(["good film", "!", "bad bad bad bad bad bad bad"])
    assert np.array_equal(TokenIds.from_lists(seqs).pad(6, padding="post", empty=1), tok.pad(seqs))


def test_progress_shows_on_a_terminal_only(texts: list[str], monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    import io
    import logging

    from sentiment_cli import progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    caplog.set_level(logging.INFO, logger="sentiment")
    for stream, shown in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(progress.sys, "stderr", stream)
        p = progress.Progress("tokenizing texts", "texts", 400, every=0.0)
        p.update(200)
        p.update(200)
        p.close()
        assert ("400 of 400 texts" in stream.getvalue()) is shown
        assert stream.getvalue().endswith("\r\033[K") is shown


def test_release_empties_the_list_as_it_goes_and_changes_nothing(texts: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus, "CHUNK", 50)
    kept = corpus.tokenize(Tokenizer(oov_token="<OOV>"), list(texts), corpus.WordSpace(), workers=1)
    given = list(texts)
    released = corpus.tokenize(Tokenizer(oov_token="<OOV>"), given, corpus.WordSpace(), workers=1, release=True)
    assert given == [None] * len(texts)
    assert np.array_equal(kept.ids, released.ids) and np.array_equal(kept.offsets, released.offsets)


def test_without_worker_processes_the_same_ids_in_this_process(texts: list[str], monkeypatch: pytest.MonkeyPatch,
                                                                caplog) -> None:
    import concurrent.futures
    import logging

    def refuse(*args, **kwargs):
        raise PermissionError(13, "no semaphores here")

    monkeypatch.setattr(corpus, "PARALLEL_MIN", 100)
    monkeypatch.setattr(corpus, "CHUNK", 37)
    expected = corpus.tokenize(Tokenizer(oov_token="<OOV>"), texts, corpus.WordSpace(), workers=1)
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", refuse)
    caplog.set_level(logging.INFO, logger="sentiment")
    got = corpus.tokenize(Tokenizer(oov_token="<OOV>"), iter(texts), corpus.WordSpace(), workers=2)
    assert np.array_equal(expected.ids, got.ids) and np.array_equal(expected.offsets, got.offsets)
    assert "worker processes cannot start" in caplog.text
