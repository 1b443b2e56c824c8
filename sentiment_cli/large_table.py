"""Training files too large to hold in memory, read in chunks of rows.

`data.read_table` holds a file's bytes and then every text as a Python str: about twice the file
at its peak, over 5 GB for 2,000,000 IMDB reviews. A training file of at least STREAM_MIN_BYTES
(gzip: its estimated uncompressed size) is read here instead, in chunks of CHUNK_ROWS rows, twice:
once for the labels and which rows are kept (`scan`, called by `data.load_labeled`), and once more
when training tokenizes the texts (`TextStream`), so only a chunk of texts is in memory at a time.
Each pass parses the file with pandas' C parser, a fraction of what tokenizing costs.

Same rows, labels and texts as `read_table` (tests/test_large_table.py); the same checks: a file
whose first megabyte is unusual (a byte-order mark other than UTF-8's, binary, no header line, a
missing column, blank) is left to `read_table`, which reads it whole and gives its precise error.
A row with more or fewer fields than the header, or a quote left open, is the same one-line error,
found by one more pass over the file's lines before it is used (`ragged_rows`), as read_table does.
"""

from __future__ import annotations

import codecs
import gzip
import io
import logging
import os
import zlib
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np

from sentiment_cli.errors import DataError

log = logging.getLogger("sentiment")

# Files at least this large are read in chunks: below it, holding the file costs under ~3 GB and one
# read is faster.
STREAM_MIN_BYTES = 1 << 30
# A gzip file's uncompressed size, estimated from its size on disk (review text compresses ~3-4x;
# the gzip trailer holds the size only modulo 4 GiB).
GZIP_RATIO = 4
# Rows per chunk: ~25 MB of IMDB reviews as Python strings.
CHUNK_ROWS = 20_000
# What is read to check the header, delimiter and encoding before streaming.
PREFIX_BYTES = 1 << 20


def estimated_size(path: str | Path) -> int:
    """Bytes the file holds once gunzipped (estimated for gzip), 0 if it cannot be opened."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
    except OSError:
        return 0
    return size * GZIP_RATIO if gz else size


def _open(path: str | Path) -> BinaryIO:
    f = open(path, "rb")
    if f.read(2) == b"\x1f\x8b":
        f.seek(0)
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    f.seek(0)
    return f


class _Repaired(io.RawIOBase):
    """A file's bytes with NUL bytes dropped and byte sequences that are not UTF-8 counted.

    What decode_text does to a file read whole: pandas then replaces the counted sequences with
    U+FFFD (encoding_errors="replace"), as decode_text's handler does, and the NULs are gone.
    """

    def __init__(self, raw: BinaryIO, source: str) -> None:
        super().__init__()
        self._raw, self._source = raw, source
        self.bad = 0
        self.nuls = 0

        def count(exc: UnicodeDecodeError) -> tuple[str, int]:
            self.bad += 1
            return "\ufffd", exc.end

        self._handler = f"sentiment-stream-{id(self)}"
        codecs.register_error(self._handler, count)
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors=self._handler)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            try:
                data = self._raw.read(len(buffer))
            except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
                raise DataError(f"'{self._source}' is a damaged gzip file ({exc})" if isinstance(
                    self._raw, gzip.GzipFile) else f"cannot read '{self._source}' ({exc})",
                    "Re-create or re-download it") from None
            if not data:
                self._decoder.decode(b"", final=True)
                return 0
            if b"\x00" in data:
                self.nuls += data.count(b"\x00")
                data = data.replace(b"\x00", b"")
            if not data:
                continue  # a block of NULs only: read on (0 would mean the end of the file)
            if not data.isascii() or self._decoder.getstate()[0]:  # (or a sequence left open)
                self._decoder.decode(data)
            n = len(data)
            buffer[:n] = data
            return n

    def close(self) -> None:
        self._raw.close()
        super().close()


@dataclass(frozen=True)
class Layout:
    """What the first megabyte says about a file: its delimiter and (stripped) header."""

    path: str
    sep: str
    header: tuple[str, ...]
    crlf: bool
    size: int
    mtime: float


def layout_of(path: str | Path, columns: list[str]) -> Layout | None:
    """The layout of a large, ordinary CSV/TSV file with `columns`; None: read it with read_table
    (it is small, or its first megabyte is anything but plain UTF-8 text with that header)."""
    from sentiment_cli.data import LONG_HEADER, _header_fields, guess_delimiter
    from sentiment_cli.inputs import looks_binary

    if estimated_size(path) < STREAM_MIN_BYTES:
        return None
    try:
        with _open(path) as f:
            head = f.read(PREFIX_BYTES)
        stat = os.stat(path)
    except (OSError, EOFError):
        return None  # read_table names the problem
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or looks_binary(head[:8192]):
        return None
    head = head.removeprefix(codecs.BOM_UTF8)
    end = head.find(b"\n")
    if end < 0 or end > LONG_HEADER:
        return None
    text = head[:end + 1].decode("utf-8", errors="replace")
    sep = guess_delimiter(text, path, columns)
    header = tuple(h.strip() for h in _header_fields(text, sep))
    if not all(c in header for c in columns) or len(set(header)) < len(header) or not head[end + 1:].strip():
        return None
    return Layout(str(path), sep, header, b"\r\n" in head, stat.st_size, stat.st_mtime)


def chunks(layout: Layout, *, report: bool = True) -> Iterator[Any]:
    """The file's rows as DataFrames of strings of CHUNK_ROWS rows, columns named as the header.

    A row pandas cannot parse (more fields than the header, a quote left open) is a DataError (the
    one read_table gives); so is a file that changed since `layout_of` looked at it. Rows with
    fewer fields pandas fills with "": `ragged_rows` finds those first. `report`: warn
    about repaired bytes at the end (once per file: the first pass).
    """
    import warnings

    import pandas as pd

    source = layout.path
    stat = os.stat(source)
    if (stat.st_size, stat.st_mtime) != (layout.size, layout.mtime):
        raise DataError(f"'{source}' changed while it was being read", "Train again once the file is complete")
    repaired = _Repaired(_open(source), source)
    reader = io.BufferedReader(repaired, 1 << 20)

    def parsed(step: Any) -> Any:
        with warnings.catch_warnings():  # only around pandas: this generator yields in between
            warnings.simplefilter("error", pd.errors.ParserWarning)  # a row longer than the header
            try:
                return step()
            except (pd.errors.ParserWarning, pd.errors.ParserError, ValueError) as exc:
                raise _broken(layout, exc) from None

    try:
        frames = parsed(lambda: pd.read_csv(
            reader, sep=layout.sep, dtype=str, keep_default_na=False, engine="c", skipinitialspace=False,
            index_col=False, encoding="utf-8-sig", encoding_errors="replace", chunksize=CHUNK_ROWS))
        with frames:
            while (df := parsed(lambda: next(frames, None))) is not None:
                df.columns = list(layout.header)
                yield df
    finally:
        reader.close()
    if report and repaired.bad:
        log.warning("%s: %d byte sequence(s) were not valid utf-8 and were replaced with U+FFFD",
                    source, repaired.bad)
    if report and repaired.nuls:
        log.warning("%s: removed %d NUL character(s)", source, repaired.nuls)


def ragged_rows(layout: Layout) -> DataError | None:
    """The error read_table gives for the file's first row with more or fewer fields than the
    header, or a quote left open (None if there is none), from its lines read one at a time.

    pandas fills a short row's missing fields with "" (indistinguishable from empty fields), so
    this pass runs before the file is used, as read_table's does.
    """
    from sentiment_cli.data import _ragged_lines_error
    from sentiment_cli.inputs import _read_lines

    with io.TextIOWrapper(io.BufferedReader(_Repaired(_open(layout.path), layout.path)), encoding="utf-8-sig",
                          errors="replace", newline="") as text:
        lines = _read_lines(text)
        next(lines, None)
        return _ragged_lines_error(lines, layout.sep, len(layout.header), layout.path)


def _broken(layout: Layout, exc: Exception) -> DataError:
    """The error for a file pandas could not parse: its first broken row, or pandas' reason."""
    ragged = ragged_rows(layout)
    if ragged is not None:
        return ragged
    reason = " ".join(str(exc).split()).replace("Error tokenizing data. C error: ", "")
    return DataError(f"'{layout.path}' is not a readable CSV/TSV file ({reason})",
                     f"Quote texts that contain the delimiter {layout.sep!r}, and close every quote")


class TextStream:
    """The texts of a large file's kept rows, in order, read from the file each time they are
    iterated: what `LabeledData.texts` holds for such a file (data.load_labeled). Indexing reads
    up to the row asked for; training reads it once, in order, as it tokenizes."""

    def __init__(self, layout: Layout, column: str, keep: np.ndarray) -> None:
        self.layout, self.column, self.keep = layout, column, np.asarray(keep, dtype=bool)
        self._n = int(self.keep.sum())

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[str]:
        start = 0
        for df in chunks(self.layout, report=False):
            keep = self.keep[start:start + len(df)]
            start += len(df)
            yield from df[self.column][keep].tolist()
        if start != len(self.keep):
            raise DataError(f"'{self.layout.path}' changed while it was being read",
                            "Train again once the file is complete")

    def __getitem__(self, key: int | slice) -> Any:
        if isinstance(key, slice):
            start, stop, step = key.indices(self._n)
            return list(islice(self, start, stop, step)) if start < stop else []
        i = int(key) + (self._n if int(key) < 0 else 0)
        if not 0 <= i < self._n:
            raise IndexError("text index out of range")
        return next(islice(self, i, None))

    def __repr__(self) -> str:
        return f"TextStream({self.layout.path!r}, {self._n} texts)"
