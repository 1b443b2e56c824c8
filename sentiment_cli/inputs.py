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
import itertools
import logging
import sys
import zlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from sentiment_cli.errors import DataError

log = logging.getLogger("sentiment")
SNIFF_BYTES = 8192
# More NUL bytes than this in the first SNIFF_BYTES and a file without a byte-order mark is binary
# (random bytes hold one in 256; UTF-16 without a BOM one in two); fewer are a damaged export whose
# NULs are dropped and counted. data.refuse_binary applies the same rule, so every command agrees.
MAX_NULS = 8
# The longest CSV/TSV field and physical line (characters) any command reads; the csv module's
# default field cap is 128 KB. A review is never this long: a longer one is a broken file or a
# decompression bomb, and reading it would hold it several times over (the csv module's field
# buffer takes 4 bytes a character). Plain-text input (one review per line) has no such cap.
MAX_FIELD = 1 << 24
csv.field_size_limit(MAX_FIELD)


@dataclass
class InputStats:
    """What the reader tolerated, reported once the stream is consumed."""

    source: str
    rows: int = 0
    replaced: int = 0
    nuls: int = 0  # NUL characters removed
    encoding: str = "utf-8"
    notes: list[str] = field(default_factory=list)
    # With a label column: each row's label, appended as the row is read, taken by the writer in
    # the same order (one record per row, so the queue never holds more than the rows in flight).
    labels: deque[str] | None = None

    def report(self) -> None:
        if self.replaced:
            log.warning("%s: %d undecodable byte sequence(s) replaced with U+FFFD", self.source, self.replaced)
        if self.nuls:
            log.warning("%s: removed %d NUL character(s)", self.source, self.nuls)
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


def looks_binary(head: bytes) -> bool:
    """Whether the first bytes of a file without a byte-order mark are binary rather than text."""
    return head.count(0) > MAX_NULS


def text_stream(raw: BinaryIO, stats: InputStats, newline: str = "\n") -> io.TextIOWrapper:
    """Decode a byte stream: BOM-aware, binary refused, bad bytes replaced and counted.

    `newline` "\n": lines end at \n only (a lone \r inside a line is part of the text), "" for
    CSV, whose readers also end a row at a lone \r (as pandas does for evaluate).
    """
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    head = buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES]  # type: ignore[attr-defined]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        stats.encoding = "utf-16"
        stats.notes.append("read as UTF-16 (byte-order mark found)")
    elif looks_binary(head):
        raise DataError(f"{stats.source} looks binary ({head.count(0)} NUL bytes in the first {len(head)} bytes)",
                        "Give UTF-8 text, one review per line")
    else:
        stats.encoding = "utf-8-sig"
    return io.TextIOWrapper(buffered, encoding=stats.encoding, errors=_counting_handler(stats),  # type: ignore[arg-type]
                            newline=newline)


def _without_nuls(lines: Iterable[str], stats: InputStats) -> Iterator[str]:
    for line in lines:
        if "\x00" in line:
            stats.nuls += line.count("\x00")
            line = line.replace("\x00", "")
        yield line


def iter_lines(text: io.TextIOWrapper, stats: InputStats) -> Iterator[str]:
    """One text per line; LF and CRLF endings (a lone CR is text, not a line end); NULs dropped."""
    for line in _without_nuls(text, stats):
        line = line.removesuffix("\n").removesuffix("\r")
        stats.rows += 1
        yield line


# A row the CSV reader is handed after the last line. Input NULs are removed first, so no text can
# hold it: it comes back as a row of its own, unless a quote is still open and swallows it.
_END_OF_INPUT = "\x00end of input\x00"


def csv_rows(lines: Iterable[str], delimiter: str, n_fields: int, source: str,
             first_line: int = 2) -> Iterator[list[str]]:
    """The rows of a CSV body (the lines after its header), each with exactly `n_fields` fields.

    Blank lines are skipped. A row with more or fewer fields than the header (an unquoted
    delimiter or line break) and a quote still open at the end of the file are DataErrors naming
    the row's first line (`first_line` is the line number of the first body line); every command
    reads tables through this rule, so none swallows or shifts rows that another refuses.
    """
    reader = csv.reader(itertools.chain(lines, [_END_OF_INPUT + "\n"]), delimiter=delimiter)
    hint = f"Quote texts that contain the delimiter {delimiter!r} or a line break, and close every quote"
    start = first_line
    try:
        for row in reader:
            if row == [_END_OF_INPUT]:
                return
            if any(_END_OF_INPUT in value for value in row):
                raise DataError(f"{source} row starting on line {start} opens a quote that is never closed", hint)
            if row and len(row) != n_fields:
                # An unquoted delimiter, a quote never closed or a bare line break: columns are shifted.
                raise DataError(f"{source} row starting on line {start} has {len(row)} field"
                                f"{'s' if len(row) != 1 else ''} but the header has {n_fields}", hint)
            start = first_line + reader.line_num
            if row:
                yield row
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise DataError(f"{source} row starting on line {start} has a field of more than {MAX_FIELD:,} "
                            "characters", "Close every quote; give very long texts one per line as plain "
                            "text instead") from None
        raise DataError(f"{source} line {first_line + reader.line_num - 1}: {exc}", hint) from None


def bounded_lines(lines: Iterable[str], source: str, first_line: int = 2) -> Iterator[str]:
    """`lines`, refusing one longer than MAX_FIELD characters (see csv_rows) as soon as it is seen."""
    for number, line in enumerate(lines, first_line):
        if len(line) > MAX_FIELD:
            raise DataError(f"{source} line {number} is more than {MAX_FIELD:,} characters long",
                            "Give very long texts one per line as plain text instead")
        yield line


def _read_lines(text: io.TextIOWrapper) -> Iterator[str]:
    """The text's lines, none read past MAX_FIELD + 1 characters (bounded_lines then refuses it)."""
    while True:
        line = text.readline(MAX_FIELD + 1)
        if not line:
            return
        yield line
        if len(line) > MAX_FIELD:
            return


def iter_csv_column(text: io.TextIOWrapper, column: str, stats: InputStats, path: str,
                    label_column: str | None = None) -> Iterator[str]:
    """The values of `column`, row by row; quoted newlines and delimiters inside quotes are fine.

    With `label_column` present in the header, each row's label goes to `stats.labels`.
    """
    first = text.readline(MAX_FIELD + 1)
    if len(first) > MAX_FIELD:
        raise DataError(f"{stats.source} has no header row naming its columns (its first line is more than "
                        f"{MAX_FIELD:,} characters long)", "Give a CSV/TSV file whose first line names the columns")
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
    lines = bounded_lines(_without_nuls(_read_lines(text), stats), stats.source)
    for row in csv_rows(lines, delimiter, len(header), stats.source):
        stats.rows += 1
        if stats.labels is not None:
            stats.labels.append(row[label_col].strip())
        yield row[col]


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
        text = text_stream(raw, stats, newline="" if text_column is not None else "\n")
    if text_column is not None:
        return _guarded(iter_csv_column(text, text_column, stats, stats.source, label_column), stats)
    if stats.encoding == "utf-8-sig":
        return _guarded(iter_utf8_lines(text.detach(), stats), stats)
    return _guarded(iter_lines(text, stats), stats)


READ_CHUNK = 1 << 20  # bytes read at a time while a line is assembled


def iter_utf8_lines(raw: BinaryIO, stats: InputStats) -> Iterator[str]:
    """iter_lines for UTF-8 input, with memory bounded by the longest line, not a multiple of it.

    A text stream's readline holds a 50 MB line several times over while assembling it (its
    chunks, their join, a copy without the line end: about 250 MB). Here a line is gathered as
    bytes, in READ_CHUNK pieces, and decoded once, without its line end, straight from the buffer.
    """
    errors = _counting_handler(stats)
    first = True
    while True:
        data = bytearray()
        while True:
            piece = raw.readline(READ_CHUNK)
            if not piece:
                break
            data += piece
            if piece.endswith(b"\n"):
                break
        if not data:
            return
        start = len(codecs.BOM_UTF8) if first and data.startswith(codecs.BOM_UTF8) else 0
        first = False
        end = len(data) - 1 if data.endswith(b"\n") else len(data)
        if end > start and data[end - 1] == 0x0D:  # CRLF; a lone CR inside the line stays
            end -= 1
        if data.find(0, start, end) >= 0:
            stats.nuls += data.count(0, start, end)
            data = data[start:end].replace(b"\x00", b"")
            start, end = 0, len(data)
        line = str(memoryview(data)[start:end], "utf-8", errors)
        del data
        stats.rows += 1
        yield line


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


def iter_texts(paths: Iterable[str], text_column: str) -> Iterator[str]:
    """Texts of several files in turn, streaming: a CSV/TSV's `text_column`, else one text per line
    (gzip allowed); what each file's reader tolerated is reported when it is done."""
    for path in paths:
        stats = InputStats(str(path))
        yield from read_texts(str(path), text_column if is_table(str(path)) else None, stats)
        stats.report()
