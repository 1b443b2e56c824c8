"""TF-IDF over word 1-2 grams (and, with model.wide_subwords, over the character n-grams of the
vocabulary's words: a second block, its own L2 norm), computed from token-id rows: the input of the
model's wide branch.

A linear model on bag-of-bigrams is what a recurrent model loses to on small or short-text data
(NBSVM, Wang & Manning 2012; fastText): it reads every word once and needs few examples. The wide
branch (model.py) is exactly such a linear model, inside the Keras graph, so the combination of the
two is one classifier, exported to ONNX and scored the same on both inference paths.

Features are computed from the id rows the model is given, not from the raw text: whatever
rewrites id rows (length trimming in predict, occlusion in explain) then rewrites the n-gram features
with them, and predict needs no second tokenizer. A linear branch pays almost nothing per token, so
its rows may be longer than the recurrent branch's (model.wide_maxlen): on 1,600 IMDB reviews of 500+
words, 5-fold CV accuracy of the n-gram branch was 0.84 reading the last 400 tokens and 0.86 reading
them whole. The rows are then `wide_maxlen` wide and `model_inputs` cuts the recurrent branch's
`maxlen` from each, as `pad_sequences` would have (`recurrent_rows`). The vocabulary is the set of n-grams seen
in at least `min_df` training rows (at most `max_features`, most frequent first). Values follow
scikit-learn's `TfidfVectorizer(sublinear_tf=True)`: (1 + ln count) * idf, idf = ln((1 + n) /
(1 + df)) + 1, each row scaled to unit L2 norm. numpy only: this module is on the light path.
"""

from __future__ import annotations

import base64
from typing import Any, Sequence, Union

import numpy as np

from sentiment_cli.token_ids import TokenIds

# Rows per chunk when counting document frequencies: bounds the int64 code space (row * key space).
_CHUNK = 2048
# Distinct per-row n-gram keys gathered before they are merged into counts (NgramFeatures.fit).
_MERGE = 4_000_000
# What the features read: padded id rows (n, width), or a list of id sequences (training).
Rows = Union[np.ndarray, TokenIds, Sequence[Sequence[int]]]


def _flat(x: Rows) -> tuple[np.ndarray, np.ndarray, int]:
    """(row of each token, its id, number of rows) of padded rows or of id sequences, in reading
    order. Padding (0) is never inside a row, so the tokens of a padded row are its nonzero ids."""
    if isinstance(x, np.ndarray):
        rows, cols = np.nonzero(x)
        return rows.astype(np.int64), x[rows, cols].astype(np.int64), len(x)
    if isinstance(x, TokenIds):
        return np.repeat(np.arange(len(x), dtype=np.int64), x.lengths), x.ids.astype(np.int64), len(x)
    lengths = np.fromiter(map(len, x), dtype=np.int64, count=len(x))
    ids = np.fromiter((i for seq in x for i in seq), dtype=np.int64, count=int(lengths.sum()))
    return np.repeat(np.arange(len(x), dtype=np.int64), lengths), ids, len(x)


def recurrent_rows(x: np.ndarray, maxlen: int, padding: str, truncating: str) -> np.ndarray:
    """The `maxlen` columns of padded rows `x` that `pad_sequences(maxlen)` would have kept.

    `x` holds each text's first or last `x.shape[1]` ids (per `truncating`), padded per `padding`;
    the result holds the first or last `maxlen` of those, padded the same way: exactly the rows
    padding the texts to `maxlen` gives (tests/test_ngrams.py). Rows at most `maxlen` wide (rows
    trimmed of their padding, short texts) are returned as they are.
    """
    width = x.shape[1]
    if width <= maxlen:  # every row keeps all its tokens, where they are
        return x
    n = np.count_nonzero(x, axis=1)
    k = np.minimum(n, maxlen)
    first = (width - n) if padding == "pre" else np.zeros_like(n)  # where each row's tokens start
    start = first + (n - k if truncating == "pre" else 0)  # the first token kept
    offset = (maxlen - k) if padding == "pre" else np.zeros_like(k)  # where it goes
    j = np.arange(maxlen)[None, :]
    src = start[:, None] + j - offset[:, None]
    keep = (j >= offset[:, None]) & (j < (offset + k)[:, None])
    out = np.take_along_axis(x, np.clip(src, 0, width - 1), axis=1)
    return np.where(keep, out, 0).astype(x.dtype)


def _distinct(codes: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.unique without its hashing, which is several times slower here)."""
    codes = np.sort(codes)
    return codes[np.concatenate([[True], codes[1:] != codes[:-1]])] if len(codes) else codes


class _KeyCounts:
    """How many times each key was added, over many batches of keys: batches are merged once
    they hold _MERGE keys, and at least as many as the merged table (so a table of millions of
    distinct keys is not re-sorted for every batch), so memory follows the distinct keys, not the
    occurrences."""

    def __init__(self) -> None:
        self._keys: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._pending = 0  # keys added since the last merge
        self._merged = 0  # distinct keys in the merged table

    def add(self, keys: np.ndarray) -> None:
        self._keys.append(keys)
        self._counts.append(np.ones(len(keys), dtype=np.int64))
        self._pending += len(keys)
        if self._pending > max(_MERGE, self._merged):
            self._merge()

    def _merge(self) -> None:
        keys, counts = np.concatenate(self._keys), np.concatenate(self._counts)
        order = np.argsort(keys, kind="stable")
        keys, counts = keys[order], counts[order]
        first = np.concatenate([[True], keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, bool)
        starts = np.flatnonzero(first)
        self._keys = [keys[starts]]
        self._counts = [np.add.reduceat(counts, starts) if len(starts) else counts]
        self._pending, self._merged = 0, len(starts)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted distinct keys, their counts)."""
        if not self._keys:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        self._merge()
        return self._keys[0], self._counts[0]


class NgramFeatures:
    """Id rows -> (n-gram column ids, TF-IDF weights), padded per batch; `fit` on training rows."""

    def __init__(self, *, vocab_size: int, oov_id: int | None, ngrams: int = 2, min_df: int = 2,
                 max_features: int = 200_000, recurrent: dict[str, Any] | None = None,
                 subwords: tuple[int, int] | None = None) -> None:
        if ngrams not in (1, 2):
            raise ValueError("ngrams must be 1 or 2")
        if subwords is not None and not (1 <= subwords[0] <= subwords[1]):
            raise ValueError("subwords must be (shortest, longest) character n-gram lengths, 1 <= shortest <= longest")
        self.vocab_size = int(vocab_size)
        self.oov_id = oov_id
        self.ngrams = ngrams
        self.min_df = int(min_df)
        self.max_features = int(max_features)
        # How model_inputs cuts the recurrent branch's rows from longer ones: {"maxlen", "padding",
        # "truncating"}, or None when both branches read the same rows.
        self.recurrent = recurrent
        self.keys_ = np.zeros(0, dtype=np.int64)  # sorted n-gram keys; column of keys_[i] is i + 1
        self.idf_ = np.zeros(0, dtype=np.float32)
        # Character n-grams of the vocabulary's words (2-5 with word boundaries, as scikit-learn's
        # char_wb), a second block with its own L2 norm after the word n-grams' columns: word id w
        # holds the block's columns sub_cols_[sub_indptr_[w]:sub_indptr_[w + 1]] (counts sub_counts_).
        self.subwords = None if subwords is None else (int(subwords[0]), int(subwords[1]))
        self.sub_indptr_ = np.zeros(self.vocab_size + 1, dtype=np.int64)
        self.sub_cols_ = np.zeros(0, dtype=np.int32)
        self.sub_counts_ = np.zeros(0, dtype=np.float32)
        self.sub_idf_ = np.zeros(0, dtype=np.float32)

    @property
    def n_columns(self) -> int:
        """Columns of the wide branch's weight table: one per n-gram and per subword, plus column 0
        (padding)."""
        return len(self.keys_) + len(self.sub_idf_) + 1

    # -- n-gram keys ---------------------------------------------------------------------------
    def _occurrences(self, x: Rows) -> tuple[np.ndarray, np.ndarray]:
        """(row, key) of every n-gram occurrence in `x`; padding and OOV ids take part in none.

        Unigram key: the word id. Bigram key: vocab_size + a * vocab_size + b, unique and int64.
        """
        rows, ids, _ = _flat(x)
        valid = ids > 0
        if self.oov_id is not None:
            valid &= ids != self.oov_id
        parts_r, parts_k = [rows[valid]], [ids[valid]]
        if self.ngrams == 2 and len(ids) > 1:
            pair = np.flatnonzero(valid[:-1] & valid[1:] & (rows[:-1] == rows[1:]))  # neighbours in one row
            v = self.vocab_size
            parts_r.append(rows[pair])
            parts_k.append(v + ids[pair] * v + ids[pair + 1])
        return np.concatenate(parts_r), np.concatenate(parts_k)

    def fit(self, x: Rows, words: Sequence[str | None] | None = None) -> "NgramFeatures":
        """Choose the n-gram vocabulary and idf from training id rows (or id sequences); with
        `subwords`, `words[i]` is the word of id i (the tokenizer's vocabulary)."""
        n = len(x)
        space = np.int64(self.vocab_size) * (self.vocab_size + 1)
        counted = _KeyCounts()
        for start in range(0, n, _CHUNK):
            rows, keys = self._occurrences(x[start:start + _CHUNK])
            counted.add(_distinct(rows.astype(np.int64) * space + keys) % space)  # once per row
        keys, df = counted.result()
        keep = df >= self.min_df
        keys, df = keys[keep], df[keep]
        if len(keys) > self.max_features:
            top = np.sort(np.lexsort((keys, -df))[: self.max_features])  # most frequent; ties by key
            keys, df = keys[top], df[top]
        self.keys_ = keys.astype(np.int64)
        self.idf_ = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
        if self.subwords is not None:
            if words is None:
                raise ValueError("subwords need the vocabulary's words")
            self._fit_subwords(x, words)
        return self

    def _fit_subwords(self, x: Rows, words: Sequence[str | None]) -> None:
        """Each vocabulary word's character n-grams; keep those in >= min_df training rows (at most
        max_features, the most frequent), their idf counted over rows as the word n-grams' is."""
        lo, hi = self.subwords  # type: ignore[misc]
        index: dict[str, int] = {}
        indptr, cols, counts = [0], [], []
        for i in range(self.vocab_size):
            word = words[i] if i < len(words) and i > 0 and i != self.oov_id else None
            grams: dict[int, int] = {}
            for gram in char_ngrams(word, lo, hi) if word else ():
                g = index.setdefault(gram, len(index))
                grams[g] = grams.get(g, 0) + 1
            cols += grams.keys()
            counts += grams.values()
            indptr.append(len(cols))
        self.sub_indptr_ = np.asarray(indptr, dtype=np.int64)
        self.sub_cols_ = np.asarray(cols, dtype=np.int32)
        self.sub_counts_ = np.asarray(counts, dtype=np.float32)
        df = np.zeros(len(index), dtype=np.int64)
        for start in range(0, len(x), _CHUNK):
            rows, grams, _ = self._subword_occurrences(x[start:start + _CHUNK])
            df += np.bincount(_distinct(rows * len(index) + grams) % max(len(index), 1), minlength=len(index))
        keep = np.flatnonzero(df >= self.min_df)
        if len(keep) > self.max_features:
            keep = np.sort(keep[np.lexsort((keep, -df[keep]))][: self.max_features])
        new = np.full(len(index), -1, dtype=np.int64)
        new[keep] = np.arange(len(keep))
        mapped = new[self.sub_cols_]
        kept = mapped >= 0
        owner = np.repeat(np.arange(self.vocab_size), np.diff(self.sub_indptr_))  # the word of each entry
        per_word = np.bincount(owner[kept], minlength=self.vocab_size)
        self.sub_indptr_ = np.concatenate([[0], np.cumsum(per_word)]).astype(np.int64)
        self.sub_cols_ = mapped[kept].astype(np.int32)
        self.sub_counts_ = self.sub_counts_[kept]
        self.sub_idf_ = (np.log((1.0 + len(x)) / (1.0 + df[keep])) + 1.0).astype(np.float32)

    def _subword_occurrences(self, x: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, subword, count in the word) of every subword of every vocabulary token of `x`."""
        rows, ids, _ = _flat(x)
        valid = (ids > 0) & (ids < self.vocab_size)
        rows, ids = rows[valid], ids[valid]
        starts, lengths = self.sub_indptr_[ids], self.sub_indptr_[ids + 1] - self.sub_indptr_[ids]
        total = int(lengths.sum())
        first = np.cumsum(lengths) - lengths  # where each token's subwords start in the output
        at = np.arange(total, dtype=np.int64) - np.repeat(first, lengths) + np.repeat(starts, lengths)
        return np.repeat(rows, lengths), self.sub_cols_[at].astype(np.int64), self.sub_counts_[at]

    # -- features ------------------------------------------------------------------------------
    def triples(self, x: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, weight) of every nonzero feature of `x`, sorted by row then column."""
        rows, keys = self._occurrences(x)
        pos = np.searchsorted(self.keys_, keys)
        pos = np.minimum(pos, max(len(self.keys_) - 1, 0))
        known = (self.keys_[pos] == keys) if len(self.keys_) else np.zeros(len(keys), dtype=bool)
        columns = pos[known] + 1
        width = np.int64(self.n_columns)
        codes, counts = np.unique(rows[known].astype(np.int64) * width + columns, return_counts=True)
        r, c = codes // width, codes % width
        w = (1.0 + np.log(counts)) * self.idf_[c - 1]
        norms = np.sqrt(np.bincount(r, weights=w * w, minlength=len(x)))
        w = w / norms[r]
        if len(self.sub_idf_):
            sr, sc, sw = self._subword_triples(x)
            order = np.argsort(np.concatenate([r * width + c, sr * width + sc]), kind="stable")
            r, c, w = (np.concatenate([r, sr])[order], np.concatenate([c, sc])[order],
                       np.concatenate([w, sw])[order])
        return r, c, w.astype(np.float32)

    def _subword_triples(self, x: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The subword block's (row, column, weight): sublinear tf * idf, each row's block L2-normed."""
        rows, grams, counts = self._subword_occurrences(x)
        n_sub = len(self.sub_idf_)
        codes, inverse = np.unique(rows * n_sub + grams, return_inverse=True)
        tf = np.bincount(inverse.reshape(-1), weights=counts, minlength=len(codes))
        r, g = codes // n_sub, codes % n_sub
        w = (1.0 + np.log(tf)) * self.sub_idf_[g]
        norms = np.sqrt(np.bincount(r, weights=w * w, minlength=len(x)))
        return r, g + len(self.keys_) + 1, w / norms[r]

    def transform(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids, weights), both (rows, F): each row's n-gram columns and their weights, 0-padded.

        F is the batch's most distinct n-grams in a row (at least 1), so a batch costs its own size.
        """
        r, c, w = self.triples(x)
        counts = np.bincount(r, minlength=len(x))
        width = max(int(counts.max(initial=0)), 1)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(x) else np.zeros(0, np.int64)
        pos = np.arange(len(r)) - starts[r]
        ids = np.zeros((len(x), width), dtype=np.int32)
        weights = np.zeros((len(x), width), dtype=np.float32)
        ids[r, pos] = c
        weights[r, pos] = w
        return ids, weights

    def to_csr(self, x: Rows) -> Any:
        """The same features as a scipy CSR matrix (rows x n_columns), for fitting the wide branch;
        built _CHUNK rows at a time, so the temporaries are a chunk's, not the whole data's."""
        from scipy.sparse import csr_matrix

        columns, weights, counts = [], [], []
        for start in range(0, len(x), _CHUNK):
            r, c, w = self.triples(x[start:start + _CHUNK])
            columns.append(c.astype(np.int32))
            weights.append(w.astype(np.float64))
            counts.append(np.bincount(r, minlength=min(_CHUNK, len(x) - start)))
        indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))]) if counts else np.zeros(1, np.int64)
        data = np.concatenate(weights) if weights else np.zeros(0)
        indices = np.concatenate(columns) if columns else np.zeros(0, np.int32)
        return csr_matrix((data, indices, indptr), shape=(len(x), self.n_columns))

    # -- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"kind": "tfidf_ngrams", "vocab_size": self.vocab_size, "oov_id": self.oov_id,
                "ngrams": self.ngrams, "min_df": self.min_df, "max_features": self.max_features,
                "recurrent": self.recurrent,
                "keys_int64_le": _b64(self.keys_, "<i8"), "idf_float32_le": _b64(self.idf_, "<f4"),
                **({} if self.subwords is None else {
                    "subwords": list(self.subwords), "sub_indptr_int64_le": _b64(self.sub_indptr_, "<i8"),
                    "sub_cols_int32_le": _b64(self.sub_cols_, "<i4"),
                    "sub_counts_float32_le": _b64(self.sub_counts_, "<f4"),
                    "sub_idf_float32_le": _b64(self.sub_idf_, "<f4")})}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NgramFeatures":
        """Raises ValueError/KeyError/TypeError on a malformed mapping (callers name the file)."""
        if data.get("kind") != "tfidf_ngrams":
            raise ValueError(f"unknown feature kind {data.get('kind')!r}")
        oov = data["oov_id"]
        self = cls(vocab_size=int(data["vocab_size"]), oov_id=None if oov is None else int(oov),
                   ngrams=int(data["ngrams"]), min_df=int(data["min_df"]), max_features=int(data["max_features"]),
                   recurrent=_recurrent_layout(data.get("recurrent")),
                   subwords=None if data.get("subwords") is None else tuple(data["subwords"]))
        self.keys_ = _unb64(data["keys_int64_le"], "<i8", np.int64)
        self.idf_ = _unb64(data["idf_float32_le"], "<f4", np.float32)
        if len(self.keys_) != len(self.idf_) or (len(self.keys_) > 1 and np.any(np.diff(self.keys_) <= 0)):
            raise ValueError("keys and idf do not match")
        if not np.all(np.isfinite(self.idf_)):
            raise ValueError("idf holds non-finite values")
        if self.subwords is not None:
            self.sub_indptr_ = _unb64(data["sub_indptr_int64_le"], "<i8", np.int64)
            self.sub_cols_ = _unb64(data["sub_cols_int32_le"], "<i4", np.int32)
            self.sub_counts_ = _unb64(data["sub_counts_float32_le"], "<f4", np.float32)
            self.sub_idf_ = _unb64(data["sub_idf_float32_le"], "<f4", np.float32)
            p, c = self.sub_indptr_, self.sub_cols_
            if (len(p) != self.vocab_size + 1 or p[0] != 0 or np.any(np.diff(p) < 0) or p[-1] != len(c)
                    or len(self.sub_counts_) != len(c) or (len(c) and (c.min() < 0 or c.max() >= len(self.sub_idf_)))):
                raise ValueError("subword tables do not match")
            if not (np.all(np.isfinite(self.sub_idf_)) and np.all(self.sub_counts_ > 0)):
                raise ValueError("subword idf or counts hold invalid values")
        return self


def _b64(a: np.ndarray, dtype: str) -> str:
    return base64.b64encode(a.astype(dtype).tobytes()).decode("ascii")


def _unb64(text: str, dtype: str, to: Any) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype).astype(to)


def char_ngrams(word: str, shortest: int, longest: int) -> list[str]:
    """`word`'s character n-grams of every length in [shortest, longest], a space marking each end
    (scikit-learn's char_wb for one word)."""
    t = f" {word} "
    return [t[j:j + k] for k in range(shortest, longest + 1) for j in range(len(t) - k + 1)]


def _recurrent_layout(value: Any) -> dict[str, Any] | None:
    """features.json's "recurrent" entry, checked (absent in models whose branches read the same rows)."""
    if value is None:
        return None
    if (not isinstance(value, dict) or not isinstance(value.get("maxlen"), int) or value["maxlen"] < 1
            or value.get("padding") not in ("pre", "post") or value.get("truncating") not in ("pre", "post")):
        raise ValueError("'recurrent' must hold maxlen (an integer >= 1), padding and truncating (pre or post)")
    return {"maxlen": value["maxlen"], "padding": value["padding"], "truncating": value["truncating"]}


def model_inputs(x: np.ndarray, features: NgramFeatures | None) -> Any:
    """What the Keras/ONNX model takes for id rows `x`: the rows alone, or with their n-gram features
    (the recurrent branch's rows cut from `x` when the wide branch reads longer ones)."""
    x = np.ascontiguousarray(x, dtype=np.int32)
    if features is None:
        return x
    ids, weights = features.transform(x)
    tokens = x if features.recurrent is None else np.ascontiguousarray(recurrent_rows(x, **features.recurrent))
    return {"token_ids": tokens, "ngram_ids": ids, "ngram_weights": weights}
