"""The tokenizer and padding must match tf-keras / Keras exactly on real reviews."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import TEST, TRAIN, head_rows
from sentiment_cli.errors import ArtifactError, NotFittedError
from sentiment_cli.tokenizer import Tokenizer, pad_sequences


@pytest.fixture(scope="module")
def texts() -> tuple[list[str], list[str]]:
    return head_rows(TRAIN, 800)["text"].tolist(), head_rows(TEST, 300)["text"].tolist()


@pytest.mark.parametrize("oov", [None, "<OOV>"])
@pytest.mark.parametrize("num_words", [None, 500, 5000])
def test_texts_to_sequences_match_tf_keras(texts, oov, num_words):
    from tf_keras.preprocessing.text import Tokenizer as KerasTokenizer

    train, test = texts
    ref = KerasTokenizer(num_words=num_words, oov_token=oov)
    ref.fit_on_texts(train)
    ours = Tokenizer(num_words=num_words, oov_token=oov).fit(train)
    assert ours.word_index_ == ref.word_index
    assert ours.word_counts_ == dict(ref.word_counts)
    assert ours.word_docs_ == dict(ref.word_docs)
    assert ours.document_count_ == ref.document_count
    # Unseen test texts exercise the OOV and num_words paths.
    assert ours.transform(test) == ref.texts_to_sequences(test)
    assert ours.transform(train[:100]) == ref.texts_to_sequences(train[:100])


def test_custom_filters_lower_split_match_tf_keras(texts):
    from tf_keras.preprocessing.text import Tokenizer as KerasTokenizer

    train, test = texts
    kwargs = dict(num_words=2000, filters="!?.,", lower=False, split=" ", oov_token="UNK")
    ref = KerasTokenizer(**kwargs)
    ref.fit_on_texts(train)
    ours = Tokenizer(**kwargs).fit(train)
    assert ours.transform(test) == ref.texts_to_sequences(test)


def test_ties_break_in_first_seen_order():
    tok = Tokenizer().fit(["b a", "c"])  # all counts 1: order of first appearance
    assert tok.word_index_ == {"b": 1, "a": 2, "c": 3}


def test_strip_html_removes_br_tags():
    tok = Tokenizer(strip_html=True).fit(["Great<br /><br />film"])
    assert "br" not in tok.word_index_
    assert set(tok.word_index_) == {"great", "film"}
    assert "br" in Tokenizer().fit(["Great<br /><br />film"]).word_index_  # Keras behaviour kept by default


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize("maxlen", [None, 1, 7, 150])
def test_pad_sequences_matches_keras(texts, padding, truncating, maxlen):
    from keras.utils import pad_sequences as keras_pad

    seqs = Tokenizer(num_words=1000).fit(texts[0]).transform(texts[1][:50]) + [[]]
    got = pad_sequences(seqs, maxlen, padding=padding, truncating=truncating)
    want = keras_pad(seqs, maxlen=maxlen, padding=padding, truncating=truncating)
    assert got.dtype == want.dtype == np.int32
    np.testing.assert_array_equal(got, want)


def test_json_round_trip_is_exact(texts, tmp_path):
    tok = Tokenizer(num_words=3000, oov_token="<OOV>", strip_html=True, maxlen=50).fit(texts[0])
    tok.save(tmp_path / "t.json")
    back = Tokenizer.load(tmp_path / "t.json")
    assert back.get_params() == tok.get_params()
    assert back.word_index_ == tok.word_index_ and back.word_counts_ == tok.word_counts_
    np.testing.assert_array_equal(back.encode(texts[1]), tok.encode(texts[1]))
    assert json.loads((tmp_path / "t.json").read_text())["format"] == "sentiment-tokenizer"


def test_reads_tf_keras_json(texts):
    from tf_keras.preprocessing.text import Tokenizer as KerasTokenizer

    ref = KerasTokenizer(num_words=1000, oov_token="<OOV>")
    ref.fit_on_texts(texts[0])
    ours = Tokenizer.from_json(ref.to_json())
    assert ours.transform(texts[1]) == ref.texts_to_sequences(texts[1])


def test_unfitted_and_string_input_fail_clearly():
    with pytest.raises(NotFittedError, match="not fitted"):
        Tokenizer().transform(["a"])
    with pytest.raises(ValueError, match="string object received"):
        Tokenizer().fit("a single string")


def test_damaged_json_is_an_artifact_error():
    with pytest.raises(ArtifactError, match="not valid JSON"):
        Tokenizer.from_json("{nope")
    with pytest.raises(ArtifactError, match="unexpected layout"):
        Tokenizer.from_json('{"format": "sentiment-tokenizer", "config": {}}')


def test_symbols_are_words_of_their_own():
    """tokenizer.symbols: "!", "?", emoticons and emoji are tokens, which Keras' filters drop or glue."""
    tok = Tokenizer(strip_html=True, symbols=True)
    assert tok.words("Loved it!!! :) but the ending :-( ...") == \
        ["loved", "it", "!", "!", "!", ":)", "but", "the", "ending", ":-("]
    assert tok.words("Really?<br />❤️👍🏽Great =D (: :'(") == ["really", "?", "❤", "👍", "great", "=d", "(:", ":'("]
    # Not an emoticon inside a word, a time or a URL: Keras' splitting applies there.
    assert tok.words("b:) at 3:30 see http://t.co/x (a)") == ["b", "at", "3", "30", "see", "http", "t", "co", "x", "a"]
    assert Tokenizer(symbols=True, lower=False).words("Wow :D") == ["Wow", ":D"]
    # Off (the constructor's default, and lecture.yaml's): Keras' splitting exactly.
    assert Tokenizer(strip_html=True).words("Loved it!!! :) ❤️Great") == ["loved", "it", "❤️great"]


@pytest.mark.parametrize("indent", [1, None])  # our layout (read lazily) and any other (parsed whole)
def test_symbols_round_trip_and_older_files_split_as_before(indent, tmp_path):
    tok = Tokenizer(oov_token="<OOV>", symbols=True).fit(["good :) film!", "bad film :("])
    tok.save(tmp_path / "t.json")
    back = Tokenizer.load(tmp_path / "t.json")
    assert back.symbols is True and back.transform(["good :( !"]) == tok.transform(["good :( !"]) == [[3, 7, 5]]
    data = json.loads(tok.to_json())
    del data["config"]["symbols"]  # a tokenizer.json written before the setting existed
    old = Tokenizer.from_json(json.dumps(data, indent=indent))
    assert old.symbols is False and old.words("good :) film!") == ["good", "film"]
    data["config"]["symbols"] = "yes"
    with pytest.raises(ArtifactError, match="invalid setting symbols='yes'"):
        Tokenizer.from_json(json.dumps(data, indent=indent))


def test_symbols_long_texts_split_a_slice_at_a_time_or_whole(monkeypatch):
    """A text over LONG_TEXT characters gives the same ids read a slice at a time (cut at white
    space) or, with no white space separator at all, whole."""
    from sentiment_cli import tokenizer as tokenizer_module

    for kwargs in ({}, {"split": "|", "filters": ""}):
        sep = kwargs.get("split", " ")
        tok = Tokenizer(symbols=True, maxlen=5, oov_token="<OOV>", strip_html=True, **kwargs).fit(
            [sep.join(["good", "film", ":)", "!"])])
        text = sep.join(["good", ":)", "film!", "<br />", "x:)"] * 12)
        want = tok.encode_with_lengths([text])
        monkeypatch.setattr(tokenizer_module, "LONG_TEXT", 16)
        got = tok.encode_with_lengths([text])
        monkeypatch.undo()
        assert (got[0] == want[0]).all() and (got[1] == want[1]).all() and got[1][0] > 40
