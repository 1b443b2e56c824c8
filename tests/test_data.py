"""Reading labelled tables: formats, encodings, labels; survivable mess is survived and reported."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pytest

from conftest import TRAIN, head_rows
from sentiment_cli.data import LabelEncoding, choose_encoding, load_labeled
from sentiment_cli.errors import DataError


@pytest.fixture(scope="module")
def sample():
    return head_rows(TRAIN, 40)


def write(path: Path, df, **kwargs) -> Path:
    df.to_csv(path, index=False, **kwargs)
    return path


def test_reads_gzip_csv_and_maps_positive(sample, tmp_path):
    path = tmp_path / "x.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        sample.to_csv(fh, index=False)
    data = load_labeled(path, "text", "label")
    assert data.encoding == LabelEncoding(negative="negative", positive="positive")
    assert data.texts == sample["text"].tolist()
    np.testing.assert_array_equal(data.y, (sample["label"] == "positive").astype(int))


def test_tsv_and_semicolon_are_detected(sample, tmp_path):
    for name, sep in (("x.tsv", "\t"), ("x.txt", ";")):
        data = load_labeled(write(tmp_path / name, sample, sep=sep), "text", "label")
        assert len(data) == len(sample)


def test_quoted_newlines_commas_and_crlf(sample, tmp_path):
    df = sample.copy()
    df.loc[0, "text"] = 'He said "wow, great",\nand then\r\nleft.'
    path = write(tmp_path / "x.csv", df, lineterminator="\r\n")
    data = load_labeled(path, "text", "label")
    assert data.texts[0] == df.loc[0, "text"].replace("\r\n", "\n") or data.texts[0] == df.loc[0, "text"]
    assert len(data) == len(df)


@pytest.mark.parametrize("values, positive", [
    (["pos", "neg"], "pos"), (["1", "0"], "1"), (["True", "False"], "True"), (["good", "bad"], "good"),
])
def test_known_positive_names(values, positive):
    assert choose_encoding(values, None, "x").positive == positive


def test_unknown_label_names_pick_sorted_last_with_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="sentiment"):
        enc = choose_encoding(["alpha", "beta"], None, "x")
    assert enc == LabelEncoding(negative="alpha", positive="beta")
    assert "positive class" in caplog.text


def test_positive_label_setting_wins_and_is_checked():
    assert choose_encoding(["pos", "neg"], "neg", "x").positive == "neg"
    with pytest.raises(DataError, match="not among the labels"):
        choose_encoding(["pos", "neg"], "yes", "x")


def test_one_class_is_refused():
    with pytest.raises(DataError, match="only one label value"):
        choose_encoding(["pos", "pos"], None, "x")


def test_class_order_of_three_or_more_labels():
    # sorted names; numbers in numeric order (and ordinal); data.labels as given
    assert choose_encoding(["b", "c", "a", "b"], None, "x") == LabelEncoding("a", "b", "c")
    stars = choose_encoding(["10", "2", "1", "3"], None, "x")
    assert stars.classes == ("1", "2", "3", "10") and stars.ordinal
    assert not choose_encoding(["1", "2", "3"], None, "x", ordinal=False).ordinal
    given = choose_encoding(["neutral", "negative", "positive"], None, "x",
                            labels=["negative", "neutral", "positive"])
    assert given.classes == ("negative", "neutral", "positive") and not given.ordinal
    assert choose_encoding(["neg", "pos"], None, "x", labels=["pos", "neg"]) == LabelEncoding("pos", "neg")
    with pytest.raises(DataError, match="that data.labels does not list"):
        choose_encoding(["a", "b", "c"], None, "x", labels=["a", "b"])
    with pytest.raises(DataError, match="which 'x' never uses"):
        choose_encoding(["a", "b"], None, "x", labels=["a", "b", "z"])


def test_label_encoding_round_trips_and_binary_layout_is_unchanged():
    binary = LabelEncoding(negative="neg", positive="pos")
    assert binary.to_dict() == {"negative": "neg", "positive": "pos"}  # labels.json as before issue 11
    assert LabelEncoding.from_dict(binary.to_dict()) == binary == LabelEncoding("neg", "pos")
    three = LabelEncoding("1", "2", "3", ordinal=True)
    assert three.to_dict() == {"classes": ["1", "2", "3"], "ordinal": True}
    assert LabelEncoding.from_dict(three.to_dict()) == three
    with pytest.raises(AttributeError, match="no positive class"):
        three.positive
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(three)) == three and copy.deepcopy(binary) == binary


def test_labels_become_class_indices(tmp_path):
    path = tmp_path / "three.csv"
    path.write_text("text,label\na,neutral\nb,positive\nc,negative\nd,neutral\n", encoding="utf-8")
    data = load_labeled(path, "text", "label")
    assert data.encoding.classes == ("negative", "neutral", "positive")
    assert data.y.tolist() == [1, 2, 0, 1]
    other = tmp_path / "other.csv"
    other.write_text("text,label\na,Neutral\nb,mixed\n", encoding="utf-8")
    with pytest.raises(DataError, match="label value\\(s\\) 'mixed' the model was not trained on"):
        load_labeled(other, "text", "label", encoding=data.encoding)


def test_stray_whitespace_and_case_in_labels_are_repaired(sample, tmp_path, caplog):
    df = sample.copy()
    df.loc[0, "label"] = "Positive "
    df.loc[1, "label"] = " negative"
    with caplog.at_level(logging.WARNING, logger="sentiment"):
        data = load_labeled(write(tmp_path / "x.csv", df), "text", "label")
    assert data.encoding == LabelEncoding(negative="negative", positive="positive")
    assert data.y[0] == 1 and data.y[1] == 0
    assert "whitespace from 2 label" in caplog.text and "letter case" in caplog.text


def test_empty_texts_and_labels_are_skipped_and_counted(sample, tmp_path, caplog):
    df = sample.copy()
    df.loc[0, "text"] = ""
    df.loc[1, "text"] = "   "
    df.loc[2, "label"] = ""
    with caplog.at_level(logging.WARNING, logger="sentiment"):
        data = load_labeled(write(tmp_path / "x.csv", df), "text", "label")
    assert len(data) == len(df) - 3
    assert data.skipped_empty == 2 and data.skipped_no_label == 1
    assert "skipped 2 row(s) with an empty" in caplog.text


def test_undecodable_bytes_are_replaced_and_counted(sample, tmp_path, caplog):
    raw = sample.to_csv(index=False).encode("utf-8").replace(b"movie", b"mov\xff\xfeie", 3)
    path = tmp_path / "x.csv"
    path.write_bytes(raw)
    with caplog.at_level(logging.WARNING, logger="sentiment"):
        data = load_labeled(path, "text", "label")
    assert len(data) == len(sample)
    assert sum(t.count("\ufffd") for t in data.texts) >= 3
    assert "not valid utf-8" in caplog.text


def test_utf16_with_bom(sample, tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(sample.to_csv(index=False).encode("utf-16"))
    assert load_labeled(path, "text", "label").texts == sample["text"].tolist()


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"text,label\n", "no data rows"),
    (b"review,sentiment\ngood,positive\n", "no column 'text' \\(columns present: 'review', 'sentiment'\\)"),
])
def test_unusable_files(tmp_path, content, message):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_labeled(path, "text", "label")


def test_missing_and_directory_paths(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_labeled(tmp_path / "nope.csv", "text", "label")
    with pytest.raises(DataError, match="is a directory"):
        load_labeled(tmp_path, "text", "label")


def test_labels_unknown_to_a_trained_model_are_refused(sample, tmp_path):
    df = sample.copy()
    df["label"] = df["label"].map({"positive": "pos", "negative": "neg"})
    with pytest.raises(DataError, match="not trained on"):
        load_labeled(write(tmp_path / "x.csv", df), "text", "label",
                     encoding=LabelEncoding(negative="negative", positive="positive"))


@pytest.mark.parametrize("damage", [b"\xef\xbb\xbf", b"\xff"])  # a UTF-8 BOM; an undecodable byte
def test_clean_utf8_read_from_its_bytes_equals_the_decoded_path(tmp_path, damage):
    """Clean UTF-8 is parsed from its bytes (no str copy of the file); anything else is decoded and
    repaired first. Both must give the same rows."""
    body = ('text,label\r\n"Caf\u00e9 \u201cgood\u201d, really",positive\r\n"two\nlines \U0001f600",negative\r\n'
            'plain,positive\r\n')
    clean = tmp_path / "clean.csv"
    clean.write_bytes(body.encode("utf-8"))
    other = tmp_path / "other.csv"
    raw = body.encode("utf-8")
    other.write_bytes(damage + raw if damage.startswith(b"\xef") else raw.replace(b"plain", b"plain" + damage))
    a, b = load_labeled(clean, "text", "label"), load_labeled(other, "text", "label")
    assert a.texts[:2] == b.texts[:2] == ["Caf\u00e9 \u201cgood\u201d, really", "two\nlines \U0001f600"]
    assert a.texts[2] == "plain" and b.texts[2] in ("plain", "plain\ufffd")
    assert a.y.tolist() == b.y.tolist()


def test_whitespace_only_file_is_empty(tmp_path):
    for content in (b"  \r\n\n", "\u00a0\u2003\n".encode("utf-8")):
        path = tmp_path / "blank.csv"
        path.write_bytes(content)
        with pytest.raises(DataError, match="is empty"):
            load_labeled(path, "text", "label")
