"""Pretrained word vectors (model.embedding_init=vectors): every file format, errors, coverage, training.

Small vector files are written by the tests themselves (GloVe text, word2vec text and binary,
fastText .vec, gzip), so each format is parsed from bytes as the tools that make them write them.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY, invoke
from sentiment_cli.errors import DataError
from sentiment_cli.tokenizer import Tokenizer
from sentiment_cli.vectors import embedding_from_file, read_vectors

TEXTS = ["the film was good", "the plot was bad", "good acting, bad script", "the end"]
# Words of the file: "the" and "good" exactly, "Bad" only capitalised, "zebra" not in the vocabulary.
VECTORS = {"the": [0.1, 0.2, 0.3], "good": [1.0, 0.0, -1.0], "Bad": [-1.0, 0.5, 1.0], "zebra": [9.0, 9.0, 9.0]}


def _tokenizer() -> Tokenizer:
    return Tokenizer(oov_token="<OOV>").fit(TEXTS)


def _glove(path: Path, vectors: dict[str, list[float]] = VECTORS, header: bool = False) -> Path:
    lines = [f"{len(vectors)} {len(next(iter(vectors.values())))}"] if header else []
    lines += [" ".join([w, *map(str, v)]) for w, v in vectors.items()]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def _word2vec_binary(path: Path, vectors: dict[str, list[float]] = VECTORS) -> Path:
    dim = len(next(iter(vectors.values())))
    data = f"{len(vectors)} {dim}\n".encode()
    for w, v in vectors.items():  # gensim's layout: word, space, float32s, newline
        data += w.encode("utf-8") + b" " + struct.pack(f"<{dim}f", *v) + b"\n"
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize("name, writer", [("glove.txt", _glove), ("glove.txt.gz", _glove),
                                          ("model.vec", lambda p: _glove(p, header=True)),
                                          ("w2v.txt", lambda p: _glove(p, header=True)),
                                          ("w2v.bin", _word2vec_binary), ("w2v.bin.gz", _word2vec_binary)])
def test_every_format_gives_the_same_vectors(tmp_path: Path, name: str, writer) -> None:
    exact, lower, dim, n = read_vectors(writer(tmp_path / name), {"the", "good", "bad"})
    assert dim == 3 and n == 4
    assert set(exact) == {"the", "good"} and set(lower) == {"bad"}
    np.testing.assert_allclose(exact["good"], [1.0, 0.0, -1.0])
    np.testing.assert_allclose(lower["bad"], [-1.0, 0.5, 1.0])


def test_the_embedding_takes_matched_vectors_and_starts_the_rest_near_their_mean(tmp_path: Path) -> None:
    tok = _tokenizer()
    seqs = tok.transform(TEXTS)
    matrix, coverage = embedding_from_file(_glove(tmp_path / "v.txt"), tok.word_index_, tok.vocabulary_size,
                                           dim=None, seed=0, sequences=seqs, skip=(0, 1))
    wi = tok.word_index_
    np.testing.assert_allclose(matrix[wi["the"]], VECTORS["the"])
    np.testing.assert_allclose(matrix[wi["bad"]], VECTORS["Bad"])  # lower-cased match
    assert not matrix[0].any()  # padding
    mean = np.mean([VECTORS["the"], VECTORS["good"], VECTORS["Bad"]], axis=0)
    missing = matrix[wi["film"]]
    assert np.abs(missing).sum() > 0 and np.linalg.norm(missing - mean) < 0.5  # not zeros, near the mean
    assert not np.allclose(matrix[wi["film"]], matrix[wi["plot"]])  # and not all alike
    # Coverage, by hand: 9 vocabulary words (the film was good plot bad acting script end; OOV
    # excluded), 3 with a vector; 14 training tokens, 7 of them with a vector (the x3, good x2, bad x2).
    assert coverage.words == 9 and coverage.matched == 3 and coverage.matched_lower == 1
    assert coverage.tokens == 14 and coverage.tokens_matched == 7
    assert coverage.to_dict()["word_coverage"] == pytest.approx(3 / 9, abs=1e-4)


def test_an_exact_match_wins_over_a_lower_cased_one(tmp_path: Path) -> None:
    tok = _tokenizer()
    path = _glove(tmp_path / "v.txt", {"Good": [5.0, 5.0, 5.0], "good": [1.0, 2.0, 3.0]})
    matrix, coverage = embedding_from_file(path, tok.word_index_, tok.vocabulary_size, dim=None, seed=0,
                                           sequences=tok.transform(TEXTS))
    np.testing.assert_allclose(matrix[tok.word_index_["good"]], [1.0, 2.0, 3.0])
    assert coverage.matched == 1 and coverage.matched_lower == 0


def test_a_dimension_other_than_embedding_dim_is_a_one_line_error(tmp_path: Path) -> None:
    tok = _tokenizer()
    path = _glove(tmp_path / "v.txt")
    with pytest.raises(DataError, match=r"have 3 dimensions and model.embedding_dim is 32") as exc:
        embedding_from_file(path, tok.word_index_, tok.vocabulary_size, dim=32, seed=0, sequences=[])
    assert "v.txt" in exc.value.message and "\n" not in exc.value.message


@pytest.mark.parametrize("bad_line, problem", [("good 1.0 2.0", "2 numbers where the file's vectors have 3"),
                                               ("good 1.0 x 2.0", "a value that is not a number"),
                                               ("good 1.0 nan 2.0", "not finite")])
def test_a_malformed_line_names_the_file_and_line(tmp_path: Path, bad_line: str, problem: str) -> None:
    path = tmp_path / "v.txt"
    path.write_text("the 0.1 0.2 0.3\nfilm 1 2 3\n" + bad_line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=problem) as exc:
        read_vectors(path, {"the", "good"})
    assert f"'{path}' line 3" in exc.value.message


def test_a_truncated_binary_file_is_an_error(tmp_path: Path) -> None:
    path = _word2vec_binary(tmp_path / "w.bin")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="ends inside vector 4 of 4"):
        read_vectors(path, {"the"})


def test_train_starts_from_the_file_and_a_frozen_embedding_keeps_it(tmp_path: Path, reviews_train: Path) -> None:
    words = {"good": [0.3] * 8, "bad": [-0.3] * 8, "the": [0.01 * i for i in range(8)], "movie": [0.1] * 8}
    path = _glove(tmp_path / "vectors.txt", words)
    out = tmp_path / "model"
    args = ["train", "--data", str(reviews_train), "--out", str(out), "--quiet", "--no-plots", *TINY,
            "--set", "training.epochs=1", "--set", "model.embedding_init=vectors", "--set", f"model.vectors={path}",
            "--set", "model.embedding_dim=auto", "--set", "model.embedding_trainable=false", "--set", "model.wide=none"]
    invoke(args)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["vectors"]["words_with_vector"] == 4 and metrics["vectors"]["dim"] == 8
    import yaml

    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["embedding_dim"] == 8  # resolved
    from sentiment_cli.predictor import load_keras_model

    embedding = load_keras_model(out / "model.keras").get_layer("embedding").get_weights()[0]
    tok = Tokenizer.load(out / "tokenizer.json")
    np.testing.assert_allclose(embedding[tok.word_index_["good"]], words["good"], rtol=1e-6)  # frozen


def test_vector_settings_that_cannot_train_are_one_line_errors(tmp_path: Path, reviews_train: Path) -> None:
    base = ["train", "--data", str(reviews_train), "--out", str(tmp_path / "m"), "--no-plots", *TINY]
    result = invoke([*base, "--set", "model.embedding_init=vectors"], exit_code=2)
    assert "needs model.vectors" in result.output and "Traceback" not in result.output
    result = invoke([*base, "--set", "model.embedding_init=vectors", "--set", f"model.vectors={tmp_path / 'none.txt'}"],
                    exit_code=1)
    assert "does not exist" in result.output
    result = invoke([*base, "--set", "model.embedding_dim=auto"], exit_code=2)
    assert "embedding_dim=auto takes the dimension of model.vectors" in result.output
    assert not (tmp_path / "m").exists()


# -- sentiment vectors: vectors from any text, written as GloVe ------------------------------------
def test_vectors_command_writes_glove_that_training_reads(tmp_path: Path, reviews_train: Path) -> None:
    import pandas as pd

    texts = pd.read_csv(reviews_train, dtype=str, keep_default_na=False)["text"].tolist()
    lines = tmp_path / "unlabelled.txt.gz"
    lines.write_bytes(gzip.compress(("\n".join(t.replace("\n", " ") for t in texts[:300]) + "\n").encode()))
    out = tmp_path / "vectors.txt"
    report = json.loads(invoke(["vectors", "--data", str(lines), "--data", str(reviews_train), "--out", str(out),
                                "--set", "model.embedding_dim=12", "--quiet"]).stdout)
    assert report["texts"] == 300 + len(texts) and report["dim"] == 12 and report["words"] > 1000
    exact, _, dim, n = read_vectors(out, {"film", "movie", "the"})
    assert dim == 12 and n == report["words"] and set(exact) == {"film", "movie", "the"}
    # Similar words end up closer than unrelated ones: the vectors carry co-occurrence.
    both, _, _, _ = read_vectors(out, {"film", "movie", "and"})
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert cos(both["film"], both["movie"]) > cos(both["film"], both["and"])

    import os

    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # readable as any file the user writes, not 0600
    before = out.read_bytes()
    result = invoke(["vectors", "--data", str(lines), "--out", str(out)], exit_code=1)
    assert "already exists" in result.output and out.read_bytes() == before  # nothing lost
    result = invoke(["vectors", "--data", str(lines), "--out", str(out), "--force", "--set",
                     "model.embedding_dim=auto"], exit_code=2)
    assert "embedding_dim=auto" in result.output and "Traceback" not in result.output
    assert out.read_bytes() == before


def test_a_binary_file_with_fewer_vectors_than_its_header_is_an_error(tmp_path: Path) -> None:
    path = _word2vec_binary(tmp_path / "w.bin")
    data = path.read_bytes()
    path.write_bytes(data.replace(b"4 3\n", b"5 3\n", 1))  # the header announces one vector more
    with pytest.raises(DataError, match="ends after 4 of the 5 vectors its header announces"):
        read_vectors(path, {"the"})
