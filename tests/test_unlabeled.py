"""`train --unlabeled`: texts without labels feed the word vectors, and the vocabulary when
tokenizer.vocabulary says so.

Never the labels or the validation split (the same rows are held out with and without it); the run stays reproducible; what was read is in metrics.json and the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TEST, TINY, head_rows, invoke


def _unlabelled(tmp_path: Path) -> Path:
    texts = head_rows(TEST, 400)["text"].str.replace("\n", " ").tolist()  # other reviews, labels dropped
    path = tmp_path / "unlabelled.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def _train(tmp_path: Path, data: Path, name: str, *extra: str) -> Path:
    out = tmp_path / name
    invoke(["train", "--data", str(data), "--out", str(out), "--quiet", "--no-plots", *TINY,
            "--set", "training.epochs=1", "--set", "model.wide=none", *extra])
    return out


def test_unlabeled_texts_change_the_word_vectors_only(tmp_path: Path, reviews_train: Path) -> None:
    unlabelled = _unlabelled(tmp_path)
    plain = _train(tmp_path, reviews_train, "plain")
    more = _train(tmp_path, reviews_train, "more", "--unlabeled", str(unlabelled))
    again = _train(tmp_path, reviews_train, "again", "--unlabeled", str(unlabelled))
    m_plain, m_more, m_again = (json.loads((d / "metrics.json").read_text()) for d in (plain, more, again))
    assert m_more["unlabeled"]["texts"] == 400 and m_more["unlabeled"]["tokens"] > 40_000
    assert "unlabeled" not in m_plain
    # The same validation rows (the tokenizer is fitted on the other rows: the same bytes) ...
    assert m_more["validation"]["n"] == m_plain["validation"]["n"]
    assert m_more["validation"]["confusion_matrix"][0][0] + m_more["validation"]["confusion_matrix"][0][1] == \
        m_plain["validation"]["confusion_matrix"][0][0] + m_plain["validation"]["confusion_matrix"][0][1]
    assert (more / "tokenizer.json").read_bytes() == (plain / "tokenizer.json").read_bytes()
    # ... but other starting vectors, so another model; and the run repeats exactly.
    assert (more / "model.onnx").read_bytes() != (plain / "model.onnx").read_bytes()
    assert m_again["validation"] == m_more["validation"]
    manifest = json.loads((more / "manifest.json").read_text())
    assert [u["path"] for u in manifest["data"]["unlabeled"]] == [str(unlabelled)]
    assert len(manifest["data"]["unlabeled"][0]["sha256"]) == 64


def test_unlabeled_csv_is_read_through_its_text_column(tmp_path: Path, reviews_train: Path) -> None:
    path = tmp_path / "unlabelled.csv.gz"
    head_rows(TEST, 120).rename(columns={"label": "stars"}).to_csv(path, index=False, compression="gzip")
    out = _train(tmp_path, reviews_train, "csv", "--unlabeled", str(path))
    assert json.loads((out / "metrics.json").read_text())["unlabeled"]["texts"] == 120


def test_a_missing_unlabeled_file_is_an_error_before_any_work(tmp_path: Path, reviews_train: Path) -> None:
    result = invoke(["train", "--data", str(reviews_train), "--out", str(tmp_path / "m"), *TINY,
                     "--unlabeled", str(tmp_path / "nope.txt")], exit_code=1)
    assert "text file" in result.output and "--unlabeled" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m").exists()


def test_vocabulary_from_unlabeled_texts_when_the_config_says_so(tmp_path: Path, reviews_train: Path) -> None:
    from sentiment_cli.tokenizer import Tokenizer

    texts = head_rows(TEST, 300)["text"].str.replace("\n", " ").tolist()
    texts[:5] = [t + " zorblaxian splendour" for t in texts[:5]]  # words no training review has
    path = tmp_path / "unlabelled.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    auto = ("--set", "tokenizer.num_words=auto", "--unlabeled", str(path))
    plain = _train(tmp_path, reviews_train, "plain", *auto)
    wide = _train(tmp_path, reviews_train, "wide", *auto, "--set", "tokenizer.vocabulary=training_and_unlabeled")
    tok_plain, tok_wide = (Tokenizer.from_json((d / "tokenizer.json").read_text()) for d in (plain, wide))
    oov = tok_wide.word_index_[tok_wide.oov_token]
    assert tok_plain.transform(["zorblaxian"]) == [[tok_plain.word_index_[tok_plain.oov_token]]]
    assert tok_wide.transform(["zorblaxian"])[0][0] != oov
    assert tok_wide.num_words > tok_plain.num_words and tok_wide.document_count_ == tok_plain.document_count_ + 300
    m_plain, m_wide = (json.loads((d / "metrics.json").read_text()) for d in (plain, wide))
    assert m_wide["unlabeled"]["vocabulary"] is True and m_plain["unlabeled"]["vocabulary"] is False
    assert m_wide["validation"]["n"] == m_plain["validation"]["n"]  # the same rows held out
    assert sum(m_wide["validation"]["confusion_matrix"][0]) == sum(m_plain["validation"]["confusion_matrix"][0])
