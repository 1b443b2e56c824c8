"""Many texts' id sequences as one flat integer array plus row offsets: the compact token store.

A list of Python int lists costs about 36 bytes a token (an 8-byte pointer and, for ids above 256,
a 28-byte int object): 500,000 IMDB reviews held that way take ~5 GB before training starts. Here a
token costs 4 bytes, a row 8, and every operation training needs (a subset of rows, each row's first
or last n ids, padding, a padded batch of rows) is one vectorised numpy step. numpy only: the module
is on the light path.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np

# Rows handled at a time where a step needs an int64 per token (positions): bounds its temporaries.
_BLOCK = 32_768


class TokenIds:
    """Row i's ids are `ids[offsets[i]:offsets[i + 1]]`. Rows are read-only views into `ids`,
    which are int32, or uint16 when every id is below 65,536 (`map` picks it: a vocabulary of up to
    65,535 ids, the default's 50,000 among them, then costs 2 bytes a token)."""

    __slots__ = ("ids", "offsets")

    def __init__(self, ids: np.ndarray, offsets: np.ndarray) -> None:
        ids = np.asarray(ids)
        self.ids = ids if ids.dtype in (np.int32, np.uint16) else ids.astype(np.int32)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        if self.offsets.ndim != 1 or len(self.offsets) < 1 or self.offsets[0] != 0 \
                or self.offsets[-1] != len(self.ids):
            raise ValueError("offsets must run from 0 to len(ids)")

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def from_lists(cls, sequences: Iterable[Sequence[int]]) -> "TokenIds":
        seqs = [np.asarray(s, dtype=np.int32).reshape(-1) for s in sequences]
        lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
        ids = np.concatenate(seqs) if seqs else np.zeros(0, np.int32)
        return cls(ids, np.concatenate([[0], np.cumsum(lengths)]))

    @classmethod
    def from_lengths(cls, ids: np.ndarray, lengths: np.ndarray) -> "TokenIds":
        return cls(ids, np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype=np.int64))]))

    @classmethod
    def concat(cls, parts: Sequence["TokenIds"]) -> "TokenIds":
        """The rows of every part, in order (empty parts add nothing)."""
        parts = [p for p in parts if len(p)] or list(parts[:1])
        if not parts:
            return cls(np.zeros(0, np.int32), np.zeros(1, np.int64))
        if len(parts) == 1:
            return parts[0]
        return cls.from_lengths(np.concatenate([p.ids for p in parts]),
                                np.concatenate([p.lengths for p in parts]))

    # -- reading -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per row (int64)."""
        return np.diff(self.offsets)

    def __getitem__(self, key: int | slice) -> "np.ndarray | TokenIds":
        """`t[i]`: row i's ids (a view); `t[a:b]`: those rows as a TokenIds (sharing `ids`' memory)."""
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                return self.take(np.arange(start, stop, step))
            stop = max(stop, start)
            lo, hi = self.offsets[start], self.offsets[stop]
            return TokenIds(self.ids[lo:hi], self.offsets[start:stop + 1] - lo)
        i = int(key)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(key)
        return self.ids[self.offsets[i]:self.offsets[i + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.ids[self.offsets[i]:self.offsets[i + 1]]

    def tolist(self) -> list[list[int]]:
        return [row.tolist() for row in self]

    def _gather(self, starts: np.ndarray, counts: np.ndarray) -> "TokenIds":
        """Rows of `counts[j]` ids from flat position `starts[j]`, in order, gathered _BLOCK rows at
        a time: the int64 positions of a block, not of every token, are what it costs besides."""
        out = np.empty(int(counts.sum()), dtype=self.ids.dtype)
        offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        for lo in range(0, len(counts), _BLOCK):
            c = counts[lo:lo + _BLOCK]
            begin = offsets[lo:lo + len(c)]
            local = np.repeat(starts[lo:lo + _BLOCK] - (begin - begin[0] if len(begin) else begin), c)
            local += np.arange(len(local), dtype=np.int64)
            out[offsets[lo]:offsets[lo] + len(local)] = self.ids[local]
        return TokenIds(out, offsets)

    def take(self, rows: Sequence[int] | np.ndarray) -> "TokenIds":
        """The given rows, in the given order (a copy)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        return self._gather(self.offsets[rows], self.lengths[rows])

    def window(self, n: int, last: bool) -> "TokenIds":
        """Each row's first (or, with `last`, last) `n` ids: what truncation to n keeps."""
        lengths = self.lengths
        if int(lengths.max(initial=0)) <= n:
            return self
        counts = np.minimum(lengths, n)
        return self._gather(self.offsets[1:] - counts if last else self.offsets[:-1], counts)

    def map(self, lut: np.ndarray) -> "TokenIds":
        """Every id replaced by `lut[id]`; ids mapped below 0 are dropped from their rows."""
        lut = np.asarray(lut)
        if len(lut) and lut.min() >= 0 and lut.max() < 1 << 16:
            lut = lut.astype(np.uint16)
        new = lut[self.ids]
        keep = new >= 0
        if keep.all():
            return TokenIds(new, self.offsets.copy())
        kept = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
        return TokenIds(new[keep], kept[self.offsets])

    def pad(self, maxlen: int, *, padding: str = "pre", truncating: str = "pre",
            empty: int | None = None, rows: np.ndarray | None = None) -> np.ndarray:
        """(n, maxlen) int32 rows with `pad_sequences` semantics; a row with no ids gets the single
        id `empty` when given (Tokenizer.pad's OOV rule). `rows`: only those rows, in that order."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        out = np.zeros((len(rows), maxlen), dtype=np.int32)
        for lo in range(0, len(rows), _BLOCK):
            block = rows[lo:lo + _BLOCK]
            lengths = self.lengths[block]
            counts = np.minimum(lengths, maxlen)
            starts = self.offsets[block] + (lengths - counts if truncating == "pre" else 0)
            values = self._gather(starts, counts)
            r = np.repeat(np.arange(len(block)), counts) + lo
            col = np.arange(len(values.ids)) - np.repeat(values.offsets[:-1], counts)
            if padding == "pre":
                col = col + np.repeat(maxlen - counts, counts)
            out[r, col] = values.ids
            if empty is not None and maxlen > 0:
                out[lo + np.flatnonzero(counts == 0), -1 if padding == "pre" else 0] = empty
        return out
