"""Property-based tests: the tokenizer and the readers never fail in a way we did not plan for.

Hypothesis feeds arbitrary unicode to the tokenizer and arbitrary bytes (and CSV-shaped bytes in
several encodings) to the readers. The contract: a result, or a SentimentError with a message,
never another exception. Example counts are kept modest so the file runs in a few seconds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TEST, head_rows
from sentiment_cli.errors import SentimentError
from sentiment_cli.tokenizer import Tokenizer

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REVIEWS = head_rows(TEST, 30)["text"].tolist()


def fitted(num_words: int | None = 60, oov: str | None = "<OOV>", maxlen: int = 12, **kw) -> Tokenizer:
    return Tokenizer(num_words=num_words, oov_token=oov, maxlen=maxlen, strip_html=True, **kw).fit(REVIEWS)


TOKENIZERS = [fitted(), fitted(oov=None), fitted(num_words=None, padding="post", truncating="post"),
              fitted(num_words=2, maxlen=1, lower=False)]


@FAST
@given(text=st.text(), which=st.integers(0, len(TOKENIZERS) - 1))
def test_any_text_encodes_within_the_id_space(text: str, which: int) -> None:
    tok = TOKENIZERS[which]
    x = tok.encode([text])
    assert x.shape == (1, tok.maxlen) and x.dtype == np.int32
    assert x.min() >= 0 and x.max() < tok.vocabulary_size


@FAST
@given(texts=st.lists(st.text(max_size=200), max_size=6), which=st.integers(0, len(TOKENIZERS) - 1))
def test_encode_shape_is_n_by_maxlen(texts: list[str], which: int) -> None:
    tok = TOKENIZERS[which]
    x, lengths = tok.encode_with_lengths(texts)
    assert x.shape == (len(texts), tok.maxlen) and lengths.shape == (len(texts),)
    # With an OOV token a text with no tokens is read as one OOV id (Tokenizer.pad: never an all-padding row).
    least = 1 if tok.oov_token is not None else 0
    assert all(int((row != 0).sum()) == min(max(n, least), tok.maxlen) for row, n in zip(x, lengths))


@FAST
@given(texts=st.lists(st.text(max_size=80), min_size=1, max_size=8),
       num_words=st.one_of(st.none(), st.integers(2, 40)), oov=st.sampled_from([None, "<OOV>", "[unk]"]),
       lower=st.booleans(), maxlen=st.integers(1, 16), padding=st.sampled_from(["pre", "post"]),
       probe=st.lists(st.text(max_size=80), max_size=4))
def test_json_round_trip_is_exact(texts: list[str], num_words: int | None, oov: str | None, lower: bool,
                                  maxlen: int, padding: str, probe: list[str]) -> None:
    tok = Tokenizer(num_words=num_words, oov_token=oov, lower=lower, maxlen=maxlen, padding=padding).fit(texts)
    again = Tokenizer.from_json(tok.to_json())
    assert again.to_json() == tok.to_json()
    assert again.get_params() == tok.get_params()
    assert again.transform(texts + probe) == tok.transform(texts + probe)
    assert np.array_equal(again.encode(probe), tok.encode(probe))


# -- readers ---------------------------------------------------------------------------------------
CELL = st.lists(st.sampled_from(list("ab ,;\t\"'\n\r\x00é€\ufeff|") + ["good", "bad", "NaN", "positive"]),
                max_size=12).map("".join)


@st.composite
def csv_like(draw: st.DrawFn) -> bytes:
    """A header that usually names text/label, rows of awkward cells, in one of several encodings."""
    sep = draw(st.sampled_from([",", "\t", ";", "|", " "]))
    header = draw(st.sampled_from([["text", "label"], ["label", "text"], ["text"], ["review", "label"],
                                   ["text", "label", "extra"]]))
    rows = draw(st.lists(st.lists(CELL, min_size=0, max_size=4), max_size=8))
    quote = draw(st.booleans())
    lines = [sep.join(header)] + [sep.join(f'"{c}"' if quote else c for c in row) for row in rows]
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut]
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=600), csv_like()))
def test_any_bytes_give_a_table_or_a_clean_error(data: bytes) -> None:
    from sentiment_cli.data import load_labeled

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        path.write_bytes(data)
        try:
            result = load_labeled(path, "text", "label")
        except SentimentError as exc:
            assert str(exc).strip() and "\n" not in exc.message
        else:
            assert len(result.texts) == len(result.y) > 0
            assert set(np.unique(result.y)) <= set(range(result.encoding.n_classes))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=600), csv_like()), column=st.sampled_from([None, "text"]))
def test_predict_reader_gives_texts_or_a_clean_error(data: bytes, column: str | None) -> None:
    from sentiment_cli.inputs import InputStats, read_texts

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("in.csv" if column else "in.txt")
        path.write_bytes(data)
        stats = InputStats(source=str(path))
        try:
            texts = list(read_texts(str(path), column, stats))
        except SentimentError as exc:
            assert str(exc).strip()
        else:
            assert all(isinstance(t, str) for t in texts) and stats.rows == len(texts)
