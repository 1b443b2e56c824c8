"""Pretrained word vectors from a file, to start the embedding: GloVe, word2vec, fastText `.vec`.

A user with 2,000 labelled reviews often has a vector file they trust; starting the embedding from
it is the best-documented lift for a recurrent model on little data (Kim 2014; Dai & Le 2015), and
the keras.io "pretrained word embeddings" recipe is among the most copied. What its users trip
over is handled here: the file is read streaming and only the vocabulary's words are kept (memory
bounded by the vocabulary, not by a 1 GB file); words are matched exactly, then lower-cased; a word
without a vector starts from the vectors' mean plus small noise, not from zeros; and coverage is
measured and reported, with a warning when most of the vocabulary has no vector.

Formats, told apart by their first line: GloVe text (no header: `word v1 ... vD`), word2vec and
fastText text (a header `count dim`, then GloVe-like lines) and word2vec binary (the same header,
then per word: the word, a space, D little-endian float32, optionally a newline). gzip is allowed.
numpy only; no network.
"""

from __future__ import annotations

import gzip
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Sequence

import numpy as np

from sentiment_cli.errors import DataError
from sentiment_cli.token_ids import TokenIds

log = logging.getLogger("sentiment")

# Below this share of vocabulary words with a vector, `train` warns: the file and the tokenizer
# probably disagree (language, case, punctuation splitting).
LOW_COVERAGE = 0.5
# Words without a vector start at the mean vector plus noise of this many per-component standard
# deviations of the vectors found: close to the known words, but not all alike.
NOISE_SCALE = 0.1


@dataclass
class Coverage:
    """How much of the vocabulary and of the training tokens got a vector from the file."""

    words: int  # vocabulary words (ids below num_words, padding and OOV excluded)
    matched: int  # of those, with a vector (exact or lower-cased match)
    matched_lower: int  # of the matched, found only lower-cased
    tokens: int  # training tokens of those words
    tokens_matched: int
    dim: int
    file_words: int  # vectors read from the file

    def to_dict(self) -> dict[str, float | int]:
        return {"vocabulary_words": self.words, "words_with_vector": self.matched,
                "matched_lower_cased": self.matched_lower,
                "word_coverage": round(self.matched / self.words, 4) if self.words else 0.0,
                "token_coverage": round(self.tokens_matched / self.tokens, 4) if self.tokens else 0.0,
                "dim": self.dim, "file_vectors": self.file_words}


def _open(path: Path) -> IO[bytes]:
    if not path.is_file():
        raise DataError(f"vector file '{path}' does not exist", "Check model.vectors")
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _header(line: bytes) -> tuple[int, int] | None:
    """(count, dim) of a word2vec/fastText header line, or None (GloVe has none)."""
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _text_vectors(fh: IO[bytes], path: Path, first: bytes, lineno: int, dim: int | None,
                  wanted: set[str]) -> Iterator[tuple[str, np.ndarray | None, int]]:
    """(word, vector or None when not wanted, dim) per line of a text file, from `first` on."""
    line = first
    while line:
        stripped = line.rstrip(b"\r\n")
        if stripped.strip():
            head, _, rest = stripped.partition(b" ")
            word = head.decode("utf-8", errors="replace")
            if dim is None:
                dim = len(rest.split())
                if dim == 0:
                    raise DataError(f"'{path}' line {lineno}: no numbers after the word {word!r}",
                                    "Give a GloVe, word2vec or fastText vector file")
            vector = None
            if word in wanted or word.lower() in wanted:
                values = rest.split()
                if len(values) != dim:
                    # GloVe files hold a few words with spaces: the last `dim` fields are the vector.
                    fields = stripped.split(b" ")
                    if len(fields) > dim + 1:
                        word = b" ".join(fields[:-dim]).decode("utf-8", errors="replace")
                        values = fields[-dim:]
                    else:
                        raise DataError(f"'{path}' line {lineno}: {len(values)} numbers where the file's "
                                        f"vectors have {dim}", "Repair or re-export the vector file")
                try:
                    vector = np.array(values, dtype=np.float32)
                except ValueError:
                    raise DataError(f"'{path}' line {lineno}: a value that is not a number",
                                    "Repair or re-export the vector file") from None
                if not np.all(np.isfinite(vector)):
                    raise DataError(f"'{path}' line {lineno}: a value that is not finite",
                                    "Repair or re-export the vector file")
            yield word, vector, dim
        line = fh.readline()
        lineno += 1


def _binary_vectors(fh: IO[bytes], path: Path, count: int, dim: int,
                    wanted: set[str]) -> Iterator[tuple[str, np.ndarray | None, int]]:
    """(word, vector or None, dim) per entry of a word2vec binary file (after its header)."""
    size = 4 * dim
    for i in range(count):
        word = bytearray()
        while True:
            c = fh.read(1)
            if not c:
                raise DataError(f"'{path}' ends after {i} of the {count} vectors its header announces",
                                "Re-download or re-export the vector file")
            if c == b" ":
                break
            if c != b"\n" or word:  # a newline may end the previous vector
                word += c
        data = fh.read(size)
        if len(data) != size:
            raise DataError(f"'{path}' ends inside vector {i + 1} of {count}", "Re-download or re-export the vector file")
        text = word.decode("utf-8", errors="replace")
        vector = None
        if text in wanted or text.lower() in wanted:
            vector = np.frombuffer(data, dtype="<f4").astype(np.float32)
            if not np.all(np.isfinite(vector)):
                raise DataError(f"'{path}' vector {i + 1} ({text!r}) holds a value that is not finite",
                                "Repair or re-export the vector file")
        yield text, vector, dim


def read_vectors(path: str | Path, wanted: set[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int, int]:
    """(exact matches, lower-cased matches, dim, vectors in the file) for the words in `wanted`.

    Only wanted words are parsed into numbers; the rest of each line is skipped, so a 400,000-word
    file costs the reading of its lines, and memory the wanted words' vectors.
    """
    path = Path(path)
    exact: dict[str, np.ndarray] = {}
    lower: dict[str, np.ndarray] = {}
    n, dim = 0, 0
    with _open(path) as fh:
        first = fh.readline()
        header = _header(first)
        if header is not None and header[1] > 0:
            peek = fh.peek(4096)[:4096] if hasattr(fh, "peek") else b""
            binary = path.name.removesuffix(".gz").endswith(".bin") or b"\x00" in peek or _undecodable(peek)
            rows = (_binary_vectors(fh, path, header[0], header[1], wanted) if binary
                    else _text_vectors(fh, path, fh.readline(), 2, header[1], wanted))
        else:
            rows = _text_vectors(fh, path, first, 1, None, wanted)
        for word, vector, dim in rows:
            n += 1
            if vector is None:
                continue
            if word in wanted:
                exact.setdefault(word, vector)
            elif word.lower() in wanted:
                lower.setdefault(word.lower(), vector)
    if n == 0:
        raise DataError(f"vector file '{path}' holds no vectors", "Give a GloVe, word2vec or fastText vector file")
    return exact, lower, dim, n


def _undecodable(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(data) - 4  # a cut multi-byte character at the end is still text
    return False


def embedding_from_file(path: str | Path, word_index: dict[str, int], vocab_size: int, *,
                        dim: int | None, seed: int, sequences: Sequence[Sequence[int]],
                        skip: Sequence[int] = (0,)) -> tuple[np.ndarray, Coverage]:
    """(vocab_size, dim) float32 starting embedding for ids below `vocab_size`, and its coverage.

    `dim` None takes the file's dimension; a number must match it. Ids in `skip` (padding, OOV)
    and words without a vector start from the vectors' mean plus noise (NOISE_SCALE); the padding
    row stays zero (masked anyway).
    """
    ids = {w: i for w, i in word_index.items() if i < vocab_size and i not in skip}
    exact, lower, file_dim, n = read_vectors(path, set(ids))
    if dim is not None and dim != file_dim:
        raise DataError(f"the vectors in '{path}' have {file_dim} dimensions and model.embedding_dim is {dim}",
                        f"Set model.embedding_dim to {file_dim} or to auto")
    found = {ids[w]: v for w, v in lower.items()}
    found.update({ids[w]: v for w, v in exact.items()})  # an exact match wins over a lower-cased one
    rng = np.random.default_rng(seed)
    if found:
        known = np.stack(list(found.values()))
        mean, std = known.mean(axis=0), known.std(axis=0)
    else:
        mean, std = np.zeros(file_dim, np.float32), np.full(file_dim, 0.05, np.float32)
    matrix = (mean + NOISE_SCALE * std * rng.standard_normal((vocab_size, file_dim))).astype(np.float32)
    for i, v in found.items():
        matrix[i] = v
    matrix[0] = 0.0
    flat = sequences.ids if isinstance(sequences, TokenIds) else np.fromiter((i for s in sequences for i in s), np.int64)
    counts = np.bincount(flat, minlength=vocab_size)
    in_vocab = np.zeros(vocab_size, dtype=bool)
    in_vocab[list(ids.values())] = True
    has = np.zeros(vocab_size, dtype=bool)
    has[list(found)] = True
    coverage = Coverage(words=len(ids), matched=len(found), matched_lower=len(set(found) - {ids[w] for w in exact}),
                        tokens=int(counts[:vocab_size][in_vocab].sum()), tokens_matched=int(counts[:vocab_size][has].sum()),
                        dim=file_dim, file_words=n)
    c = coverage.to_dict()
    log.info("word vectors from '%s': %d of %d vocabulary words (%.0f%%, %d lower-cased) and %.0f%% of training "
             "tokens have one; %d dimensions, %d vectors in the file", path, coverage.matched, coverage.words,
             100 * c["word_coverage"], coverage.matched_lower, 100 * c["token_coverage"], file_dim, n)
    if c["word_coverage"] < LOW_COVERAGE:
        log.warning("only %.0f%% of the vocabulary has a vector in '%s': check that its language, case and "
                    "word splitting match the tokenizer's", 100 * c["word_coverage"], path)
    return matrix, coverage


def write_glove(path: Path, words: Sequence[str], matrix: np.ndarray) -> None:
    """GloVe text: one `word v1 ... vD` line per word, 6 significant digits (what read_vectors reads)."""
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for start in range(0, len(words), 4096):
            block = matrix[start:start + 4096]
            fh.write("".join(f"{w} {' '.join(f'{v:.6g}' for v in row)}\n" for w, row in zip(words[start:start + 4096], block)))
