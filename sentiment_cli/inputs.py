"""Streaming text input for `predict`: lines from stdin or a file, or one column of a CSV/TSV.

Reads incrementally (memory stays flat on a million-row file) and without pandas, which would cost
a third of a second of start-up on every `predict`. Encoding problems are survived and counted;
binary input is refused, the way grep refuses it.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import logging
import sys
import zlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from sentiment_cli.errors import DataError

log = logging.getLogger("sentiment")
SNIFF_BYTES = 8192
csv.field_size_limit(2**31 - 1)  # one review may be a 50 MB line; the default cap is 128 KB


@dataclass
class InputStats:
    """What the reader tolerated, reported once the stream is consumed."""

    source: str
    rows: int = 0
    replaced: int = 0
    encoding: str = "utf-8"
    notes: list[str] = field(default_factory=list)
    # With a label column: each row's label, appended as the row is read, taken by the writer in
    # the same order (one record per row, so the queue never holds more than the rows in flight).
    labels: deque[str] | None = None

    def report(self) -> None:
        if self.replaced:
            log.warning("%s: %d undecodable byte sequence(s) replaced with U+FFFD", self.source, self.replaced)
        for note in self.notes:
            log.warning("%s: %s", self.source, note)


def _counting_handler(stats: InputStats) -> str:
    def handler(exc: UnicodeDecodeError) -> tuple[str, int]:
        stats.replaced += 1
        return "\ufffd", exc.end

    name = f"sentiment-input-{id(stats)}"
    codecs.register_error(name, handler)
    return name


def open_binary(path: str | None) -> tuple[BinaryIO, str]:
    """stdin for None or '-', else the file (transparently gunzipped)."""
    if path is None or path == "-":
        return sys.stdin.buffer, "<stdin>"
    p = Path(path)
    if not p.exists():
        raise DataError(f"input file '{p}' does not exist", "Check the path given to --input")
    if p.is_dir():
        raise DataError(f"input path '{p}' is a directory", "Give a text or CSV file to --input")
    fh: BinaryIO = open(p, "rb")
    if fh.peek(2)[:2] == b"\x1f\x8b":  # type: ignore[attr-defined]
        fh = gzip.open(fh)  # type: ignore[assignment]
    return fh, str(p)


def text_stream(raw: BinaryIO, stats: InputStats) -> io.TextIOWrapper:
    """Decode a byte stream: BOM-aware, binary refused, bad bytes replaced and counted."""
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    head = buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES]  # type: ignore[attr-defined]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        stats.encoding = "utf-16"
        stats.notes.append("read as UTF-16 (byte-order mark found)")
    elif b"\x00" in head:
        raise DataError(f"{stats.source} looks binary (NUL bytes in the first {len(head)} bytes)",
                        "Give UTF-8 text, one review per line")
    else:
        stats.encoding = "utf-8-sig"
    return io.TextIOWrapper(buffered, encoding=stats.encoding, errors=_counting_handler(stats), newline="")  # type: ignore[arg-type]


def iter_lines(text: io.TextIOWrapper, stats: InputStats) -> Iterator[str]:
    """One text per line; CRLF and CR endings accepted; NULs dropped."""
    for line in text:
        line = line.rstrip("\r\n")
        if "\x00" in line:
            line = line.replace("\x00", "")
        stats.rows += 1
        yield line


def iter_csv_column(text: io.TextIOWrapper, column: str, stats: InputStats, path: str,
                    label_column: str | None = None) -> Iterator[str]:
    """The values of `column`, row by row; quoted newlines and delimiters inside quotes are fine.

    With `label_column` present in the header, each row's label goes to `stats.labels`.
    """
    first = text.readline()
    if not first.strip():
        raise DataError(f"{stats.source} is empty", "Give a CSV file with a header row")
    delimiter = next((d for d in (",", "\t", ";", "|") if column in _split(first, d)),
                     "\t" if path.lower().removesuffix(".gz").endswith(".tsv") else ",")
    header = _split(first, delimiter)
    if column not in header:
        present = ", ".join(repr(h if len(h) <= 40 else h[:40] + "...") for h in header[:8])
        present += f", ... ({len(header)} in all)" if len(header) > 8 else ""
        raise DataError(f"{stats.source} has no column {column!r} (columns present: {present})",
                        "Name the right column with --text-column")
    col = header.index(column)
    label_col = header.index(label_column) if label_column in header else None
    if label_col is not None:
        stats.labels = deque()
    reader = csv.reader(text, delimiter=delimiter)
    start = 2
    try:
        for row in reader:
            if len(row) > len(header):
                # An unquoted delimiter or a quote never closed: the columns after it are shifted.
                raise DataError(f"{stats.source} row starting on line {start} has {len(row)} fields but the "
                                f"header has {len(header)}",
                                f"Quote texts that contain the delimiter {delimiter!r}, and close every quote")
            start = reader.line_num + 2
            stats.rows += 1
            if stats.labels is not None:
                stats.labels.append(row[label_col].strip() if label_col < len(row) else "")
            yield row[col] if col < len(row) else ""
    except csv.Error as exc:
        raise DataError(f"{stats.source} line {reader.line_num}: {exc}", "Check the file's quoting") from None


def _split(line: str, delimiter: str) -> list[str]:
    try:
        return [h.strip().lstrip("\ufeff") for h in next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter))]
    except (csv.Error, StopIteration):
        return []


def is_table(path: str | None) -> bool:
    return path is not None and path.lower().removesuffix(".gz").endswith((".csv", ".tsv"))


def read_texts(path: str | None, text_column: str | None, stats: InputStats,
               label_column: str | None = None) -> Iterator[str]:
    """Texts from stdin/file: one per line, or the `text_column` of a CSV/TSV (see iter_csv_column)."""
    raw, stats.source = open_binary(path)
    with _damaged_gzip(stats):
        text = text_stream(raw, stats)
    if text_column is not None:
        return _guarded(iter_csv_column(text, text_column, stats, stats.source, label_column), stats)
    return _guarded(iter_lines(text, stats), stats)


@contextlib.contextmanager
def _damaged_gzip(stats: InputStats) -> Iterator[None]:
    """A .gz input is decompressed lazily, so its damage surfaces mid-stream: name it there."""
    try:
        yield
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{stats.source} is a damaged gzip file ({exc})", "Re-create or re-download it") from None


def _guarded(texts: Iterator[str], stats: InputStats) -> Iterator[str]:
    with _damaged_gzip(stats):
        yield from texts
