"""A large training file read a chunk at a time (large_table.py) gives what reading it whole gives.

The threshold is lowered so that small real files take the chunked path: the same texts, labels,
skipped counts and warnings, or the same one-line error, for real reviews and every CSV/TSV of the
bad-input corpus; and training from the stream gives the same vocabulary and ids.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pytest

from sentiment_cli import large_table
from sentiment_cli.data import load_labeled
from sentiment_cli.errors import DataError
from sentiment_cli.large_table import TextStream

from conftest import TRAIN, head_rows

BAD = Path(__file__).parent / "bad_inputs"


@pytest.fixture
def stream_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(large_table, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(large_table, "CHUNK_ROWS", 7)  # many chunks, one ending mid-file


def both_ways(path: Path, caplog: pytest.LogCaptureFixture, **kwargs) -> tuple[object, object, list, list]:
    """load_labeled read whole and chunked: (result or error message) and the warnings of each."""
    out = []
    for stream in (False, True):
        caplog.clear()
        try:
            data = load_labeled(path, "text", "label", stream=stream, **kwargs)
            got = (list(data.texts), data.y.tolist(), data.encoding, data.skipped_empty, data.skipped_no_label,
                   data.notes, type(data.texts))
        except DataError as exc:
            got = ("error", str(exc), exc.hint)
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        out.append((got, warnings))
    return out[0][0], out[1][0], out[0][1], out[1][1]


def test_real_reviews_chunked_equal_whole(stream_everything, tmp_path, caplog) -> None:
    path = tmp_path / "reviews.csv.gz"
    df = head_rows(TRAIN, 150)
    df.loc[3, "text"] = "  "  # a blank text, a missing label and a marker text are skipped alike
    df.loc[10, "label"] = ""
    df.loc[20, "text"] = "NULL"
    df.loc[30, "label"] = " Positive "
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        df.to_csv(f, index=False)
    whole, chunked, w_whole, w_chunked = both_ways(path, caplog)
    assert whole[:-1] == chunked[:-1]
    assert whole[-1] is list and chunked[-1] is TextStream
    assert len(whole[0]) == 147 and w_whole == w_chunked


@pytest.mark.parametrize("name", sorted(p.name for p in BAD.iterdir() if p.suffix in (".csv", ".tsv", ".gz")))
def test_bad_inputs_chunked_equal_whole(stream_everything, name, caplog) -> None:
    whole, chunked, w_whole, w_chunked = both_ways(BAD / name, caplog)
    assert whole[:-1] == chunked[:-1] if whole[0] != "error" else whole == chunked
    assert w_whole == w_chunked


def test_broken_row_found_mid_file(stream_everything, tmp_path, caplog) -> None:
    rows = [f'"review number {i}, fine",pos' for i in range(40)]
    for broken, what in ((25, "review 25 has, an unquoted comma,neg"), (31, "short row")):
        lines = rows[:broken] + [what] + rows[broken:]
        path = tmp_path / f"broken{broken}.csv"
        path.write_text("text,label\n" + "\n".join(lines) + "\n", encoding="utf-8")
        whole, chunked, _, _ = both_ways(path, caplog)
        assert whole == chunked and whole[0] == "error" and f"line {broken + 2}" in whole[1]


def test_text_stream_indexes_and_sees_a_changed_file(stream_everything, tmp_path) -> None:
    path = tmp_path / "r.csv"
    head_rows(TRAIN, 30).to_csv(path, index=False)
    data = load_labeled(path, "text", "label", stream=True)
    texts = load_labeled(path, "text", "label").texts
    assert isinstance(data.texts, TextStream) and len(data.texts) == 30
    assert data.texts[:5] == texts[:5] and data.texts[12] == texts[12] and data.texts[-1] == texts[-1]
    assert list(data.texts) == list(data.texts) == texts  # read again on every pass
    path.write_text(path.read_text(encoding="utf-8") + "one more,pos\n", encoding="utf-8")
    with pytest.raises(DataError, match="changed while it was being read"):
        list(data.texts)


def test_small_files_are_read_whole(tmp_path) -> None:
    path = tmp_path / "r.csv"
    head_rows(TRAIN, 30).to_csv(path, index=False)
    assert isinstance(load_labeled(path, "text", "label", stream=True).texts, list)


def test_training_from_the_stream_same_vocabulary_and_ids(stream_everything, tmp_path) -> None:
    from sentiment_cli.config import load_config
    from sentiment_cli.training import split_validation, tokenize_splits

    path = tmp_path / "r.csv"
    head_rows(TRAIN, 200).to_csv(path, index=False)
    cfg = load_config(None)
    results = []
    for stream in (False, True):
        data = load_labeled(path, "text", "label", stream=stream)
        tr, va = split_validation(data, 0.1, 0)
        _, tok, ids_tr, ids_va, _, _ = tokenize_splits(cfg, data.texts, tr, va, release_texts=True)
        results.append((tok.word_index_, tok.word_counts_, tok.word_docs_, ids_tr.ids.tolist(),
                        ids_tr.offsets.tolist(), ids_va.ids.tolist(), ids_va.offsets.tolist()))
    assert results[0] == results[1]
    assert np.asarray(results[0][3]).size > 10_000


def test_damaged_gzip_found_mid_file(stream_everything, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(large_table, "PREFIX_BYTES", 4096)  # the damage lies past what is checked first
    path = tmp_path / "cut.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        head_rows(TRAIN, 100).to_csv(f, index=False)
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    assert large_table.layout_of(path, ["text", "label"]) is not None
    with pytest.raises(DataError, match="damaged gzip file"):
        load_labeled(path, "text", "label", stream=True)


def test_repaired_bytes_counted_across_read_boundaries(tmp_path) -> None:
    raw = "naïve café, ünïcode\n".encode("utf-8") * 3 + b"bad \xff\xfe here\x00\x00 and \xe2\x82 cut\n"
    path = tmp_path / "b.csv"
    path.write_bytes(raw)
    for size in (1, 2, 3, 7, 1 << 20):  # every split of a multi-byte character
        repaired = large_table._Repaired(open(path, "rb"), str(path))
        out = b"".join(iter(lambda: repaired.read(size), b""))  # reads of `size` bytes
        assert out == raw.replace(b"\x00", b"")
        assert (repaired.bad, repaired.nuls) == (3, 2), size  # as decode_text counts them


def test_train_from_a_large_file_same_model(tmp_path, reviews_train, monkeypatch) -> None:
    """api.train on a file read in chunks (texts streamed into tokenizing, the ONNX check's sample
    and --baseline read from the file) writes the model a whole read writes, number for number."""
    import json

    import keras

    from sentiment_cli import api
    from sentiment_cli.config import load_config

    settings = ["training.epochs=2", "tokenizer.num_words=3000", "tokenizer.maxlen=80", "model.units=16",
                "model.embedding_dim=16", "training.batch_size=32"]
    runs, passes, plain = [], [], large_table.chunks

    def counted(*args, **kwargs):
        passes.append(1)
        return plain(*args, **kwargs)

    monkeypatch.setattr(large_table, "chunks", counted)
    for name, threshold in (("whole", 1 << 62), ("chunked", 0)):
        monkeypatch.setattr(large_table, "STREAM_MIN_BYTES", threshold)
        monkeypatch.setattr(large_table, "CHUNK_ROWS", 97)
        out = tmp_path / name
        metrics = api.train(load_config(None, settings), reviews_train, out, plots=False, verbose=0, baseline=True)
        weights = keras.saving.load_model(out / "model.keras", compile=False).get_weights()
        runs.append((metrics["validation"], metrics["baseline"]["validation"], weights,
                     json.loads((out / "tokenizer.json").read_text())["word_index"]))
    assert len(passes) >= 3  # the chunked run read the file: labels, tokenizing, the baseline's texts
    (v1, b1, w1, t1), (v2, b2, w2, t2) = runs
    assert v1 == v2 and b1 == b2 and t1 == t2
    assert len(w1) == len(w2) and all(np.array_equal(x, y) for x, y in zip(w1, w2))
