"""Reading labelled review tables: CSV/TSV, gzip, messy encodings, and binary label mapping.

Real exports are messy (BOMs, UTF-16 from spreadsheets, stray bytes, NULs, CRLF, quoted newlines,
" Positive " labels). What can be survived is survived and reported as a warning with a count;
what cannot is a DataError naming the problem and the fix. No Keras here.
"""

from __future__ import annotations

import codecs
import gzip
import io
import logging
import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

import numpy as np

from sentiment_cli.errors import DataError

if TYPE_CHECKING:
    from sentiment_cli.large_table import TextStream

log = logging.getLogger("sentiment")

# Label values recognised as the positive class when data.positive_label is not set (casefolded).
POSITIVE_NAMES = ("positive", "pos", "1", "true", "yes", "good", "+")
DELIMITERS = (",", "\t", ";", "|")


class LabelEncoding:
    """The class names in index order: y = i means classes[i].

    Two classes are [negative, positive] (class 1 is positive: the sigmoid head's score); K >= 3
    are softmax columns. `ordinal`: the order is a rank (stars), so evaluate also reports errors in
    steps. Built as LabelEncoding("neg", "pos"), LabelEncoding(negative=..., positive=...) or
    LabelEncoding("1", "2", "3", ordinal=True).
    """

    __slots__ = ("classes", "ordinal")

    def __init__(self, *classes: str, negative: str | None = None, positive: str | None = None,
                 ordinal: bool = False) -> None:
        if negative is not None or positive is not None:
            classes = (*classes, str(negative), str(positive))
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(f"need two or more distinct class names, got {list(classes)}")
        object.__setattr__(self, "classes", tuple(str(c) for c in classes))
        object.__setattr__(self, "ordinal", bool(ordinal) and len(classes) > 2)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("LabelEncoding is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelEncoding) and (self.classes, self.ordinal) == (other.classes, other.ordinal)

    def __hash__(self) -> int:
        return hash((self.classes, self.ordinal))

    def __repr__(self) -> str:
        return f"LabelEncoding{self.classes!r}" + (" (ordinal)" if self.ordinal else "")

    def __reduce__(self) -> tuple[Any, ...]:  # pickle and copy: rebuilt through __init__ (immutable)
        return (_label_encoding, (self.classes, self.ordinal))

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def binary(self) -> bool:
        """Two classes: a sigmoid head, a decision threshold, a positive-class score."""
        return len(self.classes) == 2

    @property
    def negative(self) -> str:
        return self.classes[0] if self.binary else self._binary_only("negative")

    @property
    def positive(self) -> str:
        return self.classes[-1] if self.binary else self._binary_only("positive")

    def _binary_only(self, what: str) -> str:
        raise AttributeError(f"a {self.n_classes}-class encoding has no {what} class")

    def to_dict(self) -> dict[str, Any]:
        """labels.json's class entries: a binary model's are written as they always were."""
        if self.binary:
            return {"negative": self.negative, "positive": self.positive}
        return {"classes": list(self.classes), "ordinal": self.ordinal}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LabelEncoding":
        if "classes" in data:
            classes = data["classes"]
            if not isinstance(classes, list) or not all(isinstance(c, str) and c for c in classes):
                raise ValueError("'classes' must be a list of label values")
            return cls(*classes, ordinal=data.get("ordinal") is True)
        return cls(negative=str(data["negative"]), positive=str(data["positive"]))

    def name(self, is_positive: bool) -> str:
        """A binary model's label for a decision (score >= threshold)."""
        return self.positive if is_positive else self.negative


def _label_encoding(classes: tuple[str, ...], ordinal: bool) -> LabelEncoding:
    return LabelEncoding(*classes, ordinal=ordinal)


@dataclass
class LabeledData:
    """Texts with class indices, plus what was skipped or repaired on the way in. `texts` is a
    list, or for a large training file a large_table.TextStream (read from the file when iterated)."""

    texts: "list[str] | TextStream"
    y: np.ndarray
    encoding: LabelEncoding
    source: str
    skipped_empty: int = 0
    skipped_no_label: int = 0
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.y)  # training may drop the texts once tokenized (training.train's release_texts)


# -- bytes -> text ---------------------------------------------------------------------------------
def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic number."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file '{path}' does not exist", "Check the path")
    if path.is_dir():
        raise DataError(f"data path '{path}' is a directory", "Give a CSV or TSV file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read '{path}': {exc.strerror}", "Check the file's permissions") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise DataError(f"'{path}' is a damaged gzip file ({exc})", "Re-create or re-download it") from None
    return raw


class _Counter:
    """A codecs error handler that replaces bad bytes with U+FFFD and counts them."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, exc: UnicodeDecodeError) -> tuple[str, int]:
        self.count += 1
        return "\ufffd", exc.end


def decode_text(raw: bytes, source: str) -> str:
    """Bytes -> str: honour BOMs (UTF-8/16/32), replace undecodable bytes, drop NULs; warn with counts."""
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encoding = "utf-32"
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    counter = _Counter()
    handler = f"sentiment-count-{id(counter)}"
    codecs.register_error(handler, counter)
    text = raw.decode(encoding, errors=handler)
    if counter.count:
        log.warning("%s: %d byte sequence(s) were not valid %s and were replaced with U+FFFD",
                    source, counter.count, encoding.replace("-sig", ""))
    if encoding != "utf-8-sig":
        log.warning("%s: read as %s (byte-order mark found)", source, encoding.upper())
    nuls = text.count("\x00")
    if nuls:
        text = text.replace("\x00", "")
        log.warning("%s: removed %d NUL character(s)", source, nuls)
    return text


def _clean_utf8(raw: bytes) -> bool:
    """Whether decode_text would return `raw` read as UTF-8, unchanged (no BOM, no NUL, nothing to
    replace): checked a megabyte at a time, without building the file's str."""
    if raw.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in raw:
        return False  # (a UTF-32 byte-order mark starts with a UTF-16 one, or holds NULs)
    if raw.isascii():
        return True
    decoder, view, step = codecs.getincrementaldecoder("utf-8")(), memoryview(raw), 1 << 20
    try:
        for start in range(0, len(raw), step):
            decoder.decode(view[start:start + step])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


# -- text -> table ---------------------------------------------------------------------------------
def first_line_of(text: str) -> str:
    """The first line, without copying the rest (str.split would copy the whole file)."""
    end = text.find("\n")
    return (text if end < 0 else text[:end]).rstrip("\r")


def _header_fields(text: str, sep: str) -> list[str]:
    import csv

    first = first_line_of(text)
    try:
        return next(csv.reader([first], delimiter=sep))
    except (csv.Error, StopIteration):
        return []


def guess_delimiter(text: str, path: str | Path, wanted: Sequence[str]) -> str:
    """The delimiter whose header split contains all `wanted` columns; else by file extension."""
    for sep in DELIMITERS:
        header = [h.strip() for h in _header_fields(text, sep)]
        if all(w in header for w in wanted):
            return sep
    name = str(path).lower().removesuffix(".gz")
    return "\t" if name.endswith((".tsv", ".tab")) else ","


# Signatures of files people export instead of CSV: named, so the message says what to do instead.
BINARY_SIGNATURES = ((b"PK\x03\x04", "a ZIP archive (an Excel .xlsx or .ods workbook?)"),
                     (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook"), (b"%PDF", "a PDF document"),
                     (b"PAR1", "a Parquet file"), (b"SQLite format 3", "an SQLite database"))
LONG_HEADER = 10_000  # characters; a header row is a few column names, not a review


def refuse_binary(raw: bytes, source: str) -> None:
    """Raise DataError for a workbook, archive or other binary file handed over as a table.

    A few NULs are a damaged export and are survived (decode_text drops them); many mean binary.
    UTF-16/32 text is full of NULs, so files with a byte-order mark are not judged here.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return
    hint = "Export it as CSV (UTF-8) with a header row, e.g. text,label"
    for magic, what in BINARY_SIGNATURES:
        if raw.startswith(magic):
            raise DataError(f"'{source}' is {what}, not a CSV/TSV file", hint)
    from sentiment_cli.inputs import SNIFF_BYTES, looks_binary

    head = raw[:SNIFF_BYTES]
    if looks_binary(head):  # the rule `predict` applies to its input
        raise DataError(f"'{source}' looks binary ({head.count(0)} NUL bytes in its first "
                        f"{len(head)} bytes), or is UTF-16 without a byte-order mark", hint)


def _shown(values: Sequence[str], n: int = 8, width: int = 40) -> str:
    """Column names for a message: at most `n`, each cut to `width` characters."""
    cut = [repr(v if len(v) <= width else v[:width] + "...") for v in values[:n]]
    return ", ".join(cut) + (f", ... ({len(values)} in all)" if len(values) > n else "")


def _missing_column_error(source: str, missing: str, header: list[str], first_line: str,
                          flag: str) -> DataError:
    """The clearest account of why `missing` is not a column: no header, wrong delimiter, or a typo."""
    if len(first_line) > LONG_HEADER:
        return DataError(f"'{source}' has no header row naming its columns (its first line is "
                         f"{len(first_line):,} characters long)",
                         "Give a CSV/TSV file whose first line names the columns, e.g. text,label")
    if len(header) <= 1 and missing in first_line:
        return DataError(f"'{source}' has no column {missing!r}: its header {first_line.strip()[:80]!r} "
                         "is not split by a comma, tab, semicolon or |",
                         "Separate the columns with one of those (and quote texts that contain it)")
    return DataError(f"'{source}' has no column {missing!r} (columns present: {_shown(header)})",
                     f"Name the right column with {flag}")


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")
_LINE_END = re.compile("\n")


def _ragged_error(text: str, sep: str, n_header: int, source: str) -> DataError | None:
    """The first row with more or fewer fields than the header, or a quote never closed, as the
    error `predict --input` gives for the same file (inputs.csv_rows); None if there is none."""
    body = _LINE_END.search(text)
    # Lines as a newline="" stream gives them (ending at \r\n, \r or \n), one at a time:
    # io.StringIO would hold the whole file again at 4 bytes a character.
    lines = (m.group() for m in _LINE.finditer(text, body.end()) if m.group()) if body else iter(())
    return _ragged_lines_error(lines, sep, n_header, source)


def _body_lines(raw: bytes) -> Iterator[str]:
    """The lines after the header of clean UTF-8 bytes (see _clean_utf8), decoded one at a time."""
    from sentiment_cli.inputs import _read_lines

    lines = _read_lines(io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", newline=""))
    next(lines, None)
    return lines


def _ragged_lines_error(lines: Iterable[str], sep: str, n_header: int, source: str) -> DataError | None:
    from sentiment_cli.inputs import bounded_lines, csv_rows

    try:
        for _ in csv_rows(bounded_lines(lines, f"'{source}'"), sep, n_header, f"'{source}'"):
            pass
    except DataError as exc:
        return exc
    return None


def read_table(path: str | Path, columns: Sequence[str]) -> "Any":
    """Read a delimited file into a DataFrame of strings; `columns` must all be present.

    The header is checked before pandas parses anything: a file without the columns (no header,
    wrong delimiter, a 50 MB first line) fails at once instead of becoming a frame of 500,000
    columns. A row with more fields than the header is an error, not a silently shifted row.
    """
    import warnings

    import pandas as pd

    source = str(path)
    raw = read_bytes(path)
    refuse_binary(raw, source)
    # Clean UTF-8 (the usual case) is checked and parsed from its bytes: the file is never also
    # held as a str, which costs up to 4 bytes a character (2 for IMDB's curly quotes). Anything
    # else is decoded (decode_text repairs and warns) and pandas reads the repaired text's UTF-8.
    clean = _clean_utf8(raw)
    if clean:
        end = raw.find(b"\n")
        text = raw[:end + 1 if end >= 0 else len(raw)].decode("utf-8")  # the header line
        blank = not raw or raw.isspace() or (len(raw) < 1 << 16 and not raw.decode("utf-8").strip())
    else:
        text = decode_text(raw, source)
        raw = b""
        blank = not text or text.isspace()
    if blank:
        raise DataError(f"'{source}' is empty", "Give a CSV file with a header row and data rows")
    sep = guess_delimiter(text, path, columns)
    first_line = first_line_of(text)
    header = [h.strip() for h in _header_fields(text, sep)]
    missing = [c for c in columns if c not in header]
    if missing:
        flag = "--text-column" if missing[0] == columns[0] else "--label-column"
        raise _missing_column_error(source, missing[0], header, first_line, flag)
    # Before pandas, which fills a short row's missing fields with "" and reads a quote left open
    # at the end as one last text: both are broken rows, refused here as `predict` refuses them.
    ragged = (_ragged_lines_error(_body_lines(raw), sep, len(header), source) if clean
              else _ragged_error(text, sep, len(header), source))
    if ragged is not None:
        raise ragged
    crlf = b"\r\n" in raw if clean else "\r\n" in text
    # From UTF-8 bytes: io.StringIO holds its text at 4 bytes a character.
    payload = raw if clean else text.encode("utf-8", errors="surrogatepass")
    del raw, text
    try:
        with warnings.catch_warnings():
            # pandas only warns when a row is longer than the header (and, by default, quietly turns
            # the extra leading fields into an index): every column after them would be shifted.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(io.BytesIO(payload), sep=sep, dtype=str,
                             keep_default_na=False, engine="c", skipinitialspace=False, index_col=False,
                             encoding="utf-8", encoding_errors="replace")
    except pd.errors.EmptyDataError:
        raise DataError(f"'{source}' has no columns", "Give a CSV file with a header row") from None
    except (pd.errors.ParserWarning, pd.errors.ParserError, ValueError) as exc:
        ragged = _ragged_lines_error(_body_lines(payload), sep, len(header), source)
        if ragged is not None:
            raise ragged from None
        reason = " ".join(str(exc).split()).replace("Error tokenizing data. C error: ", "")
        raise DataError(f"'{source}' is not a readable CSV/TSV file ({reason})",
                        f"Quote texts that contain the delimiter {sep!r}, and close every quote") from None
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise DataError(f"'{source}' has a header but no data rows", "Add rows below the header")
    del payload
    if crlf:
        log.info("%s: read Windows (CRLF) line endings", source)
    return df


# -- labels ----------------------------------------------------------------------------------------
def _normalise_labels(labels: "Any", source: str) -> tuple["Any", list[str]]:
    """Strip whitespace; fold case when values differ only by case. Returns (labels, notes)."""
    notes = []
    stripped = labels.str.strip()
    n_ws = int((stripped != labels).sum())
    if n_ws:
        notes.append(f"{source}: stripped surrounding whitespace from {n_ws} label(s)")
    distinct = set(stripped[stripped != ""].unique())
    folded = {v.casefold() for v in distinct}
    if len(folded) < len(distinct):
        # Use the most frequent spelling of each case-folded value as its canonical name.
        counts = stripped.value_counts()
        canonical: dict[str, str] = {}
        for value in counts.index:
            canonical.setdefault(value.casefold(), value)
        n_case = int(sum(1 for v in stripped if v and canonical[v.casefold()] != v))
        stripped = stripped.map(lambda v: canonical.get(v.casefold(), v) if v else v)
        notes.append(f"{source}: merged {n_case} label(s) that differed only in letter case")
    return stripped, notes


def _numeric(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def choose_encoding(values: Sequence[str], positive_label: str | None, source: str, *,
                    labels: Sequence[str] | None = None, ordinal: bool | None = None) -> LabelEncoding:
    """The classes of a training file's label values, in a stable order.

    Two values: which one is positive (data.positive_label, else a name such as "positive", else
    the larger sorted value), as always. Three or more: `labels` (data.labels) gives the order;
    else numeric labels ("1".."5") in numeric order, others sorted. Numeric labels are ordinal
    unless `ordinal` (data.ordinal) says otherwise.
    """
    distinct = sorted(set(values))
    if len(distinct) < 2:
        only = distinct[0] if distinct else "nothing"
        raise DataError(f"'{source}' has only one label value ({only!r}); a classifier needs two",
                        "Add examples of the other class")
    if labels is not None:
        missing = [v for v in distinct if v not in labels]
        if missing:
            shown = ", ".join(repr(v) for v in missing[:5])
            raise DataError(f"'{source}' has label value(s) {shown} that data.labels does not list",
                            "Add them to data.labels, or drop those rows")
        unused = [v for v in labels if v not in distinct]
        if unused:
            raise DataError(f"data.labels lists {', '.join(repr(v) for v in unused[:5])}, which '{source}' "
                            "never uses", "Remove it from data.labels, or add rows of that class")
        classes = list(labels)
    elif len(distinct) > 2:
        numbers = [_numeric(v) for v in distinct]
        classes = ([v for _, v in sorted(zip(numbers, distinct))] if all(n is not None for n in numbers)
                   else distinct)
    else:
        classes = None
    if classes is not None and len(classes) > 2:
        if positive_label is not None:
            log.warning("%s: data.positive_label is only used with two classes (there are %d)", source,
                        len(classes))
        numeric = all(_numeric(v) is not None for v in classes)
        return LabelEncoding(*classes, ordinal=numeric if ordinal is None else ordinal)
    if classes is not None:  # data.labels with two values: [negative, positive]
        return LabelEncoding(*classes)
    if positive_label is not None:
        if positive_label not in distinct:
            raise DataError(f"positive label {positive_label!r} is not among the labels {distinct}",
                            "Set data.positive_label to one of them")
        positive = positive_label
    else:
        named = [v for v in distinct if v.casefold() in POSITIVE_NAMES]
        if len(named) == 1:
            positive = named[0]
        else:
            positive = distinct[1]
            log.warning("%s: treating %r as the positive class (set data.positive_label to change it)",
                        source, positive)
    negative = distinct[0] if distinct[1] == positive else distinct[1]
    return LabelEncoding(negative=negative, positive=positive)


# What pandas reads as missing by default: exports write these where a value was lost.
MISSING_MARKERS = frozenset({"#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
                             "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})


def missing_texts(texts: "Any") -> tuple["Any", "Any"]:
    """Two boolean masks over a string Series: blank texts, and missing-value markers (NaN, NULL)."""
    stripped = texts.str.strip()
    return stripped == "", stripped.isin(MISSING_MARKERS)


@dataclass
class _Rows:
    """Per-row facts of a table's text and label columns (one chunk of a large file, or all)."""

    labels: Any  # label strings, missing-value markers blanked
    empty: np.ndarray  # blank texts
    marker: np.ndarray  # texts that are a missing-value marker (NaN, NULL)
    markers: Any  # those texts, stripped, indexed by row
    multiline: int  # texts with a line break


def _scan_rows(texts: Any, labels: Any) -> _Rows:
    empty, marker = missing_texts(texts)
    markers = texts[marker].str.strip().set_axis(np.flatnonzero(marker.to_numpy()))  # by position
    return _Rows(labels.mask(labels.str.strip().isin(MISSING_MARKERS), ""), empty.to_numpy(), marker.to_numpy(),
                 markers, int(texts.str.contains("\n", regex=False).sum()))


def _join_rows(parts: list[_Rows]) -> _Rows:
    """The chunks' facts as one table's, rows numbered through."""
    import pandas as pd

    starts = np.cumsum([0] + [len(p.empty) for p in parts])
    markers = [p.markers.set_axis(p.markers.index + start) for p, start in zip(parts, starts)]
    return _Rows(pd.concat([p.labels for p in parts], ignore_index=True),
                 np.concatenate([p.empty for p in parts]), np.concatenate([p.marker for p in parts]),
                 pd.concat(markers), sum(p.multiline for p in parts))


def _match_encoding(labels: "Any", encoding: LabelEncoding, source: str) -> "Any":
    """Spell labels as the model does when they differ only in letter case ('Positive' -> 'positive')."""
    known = {c.casefold(): c for c in encoding.classes}
    if len(known) < encoding.n_classes:
        return labels
    matched = labels.map(lambda v: known.get(v.casefold(), v))
    n = int((matched != labels).sum())
    if n:
        log.warning("%s: matched %d label(s) to the model's labels ignoring letter case", source, n)
    return matched


def load_labeled(path: str | Path, text_column: str, label_column: str, *,
                 positive_label: str | None = None, encoding: LabelEncoding | None = None,
                 labels: Sequence[str] | None = None, ordinal: bool | None = None,
                 unknown: str = "error", stream: bool = False) -> LabeledData:
    """Read texts and labels as class indices. Without `encoding` the classes come from the file
    (choose_encoding, with `positive_label`, `labels` and `ordinal` from the data config); with it
    (a trained model's) every label must be one of its classes, or with `unknown="wrong"` the
    rows of other labels get class -1 (evaluate counts them as wrong).

    `stream` (training): a large file (large_table.STREAM_MIN_BYTES) is read a chunk at a time and
    its texts are a large_table.TextStream, read again from the file when iterated."""
    source = str(path)
    class_order = None if labels is None else [str(v) for v in labels]
    layout = None
    if stream:
        from sentiment_cli import large_table

        layout = large_table.layout_of(path, [text_column, label_column])
    if layout is None:
        df = read_table(path, [text_column, label_column])
        texts = df[text_column]
        rows = _scan_rows(texts, df[label_column])
        del df
    else:  # a large file: read a chunk at a time, and the texts again as training tokenizes them
        log.info("%s: reading %d rows at a time (a large file)", source, large_table.CHUNK_ROWS)
        ragged = large_table.ragged_rows(layout)
        if ragged is not None:
            raise ragged
        rows = _join_rows([_scan_rows(df[text_column], df[label_column]) for df in large_table.chunks(layout)])
        if layout.crlf:
            log.info("%s: read Windows (CRLF) line endings", source)
    if rows.multiline:
        log.info("%s: %d text(s) contain line breaks (quoted fields spanning lines)", source, rows.multiline)
    labels, notes = _normalise_labels(rows.labels, source)
    no_label = (labels == "").to_numpy()
    empty, marker = rows.empty, rows.marker
    skipped_empty = int(((empty | marker) & ~no_label).sum())
    skipped_no_label = int(no_label.sum())
    keep = ~(empty | marker | no_label)
    if skipped_empty:
        markers = rows.markers[~no_label[rows.markers.index.to_numpy()]]
        why = f" ({len(markers)} of them {'/'.join(sorted(set(markers))[:4])})" if len(markers) else ""
        log.warning("%s: skipped %d row(s) with an empty or missing text%s", source, skipped_empty, why)
    if skipped_no_label:
        log.warning("%s: skipped %d row(s) with an empty or missing label", source, skipped_no_label)
    labels = labels[keep]
    if len(labels) == 0:
        raise DataError(f"'{source}' has no rows with both a text and a label",
                        f"Check that column {text_column!r} holds the review text")
    for note in notes:
        log.warning(note)
    if encoding is None:
        encoding = choose_encoding(labels.tolist(), positive_label, source, labels=class_order, ordinal=ordinal)
    else:
        labels = _match_encoding(labels, encoding, source)
        unseen = sorted(set(labels.unique()) - set(encoding.classes))
        if unseen and unknown == "wrong":
            log.warning("%s: %d row(s) with label value(s) %s the model was not trained on: counted as wrong",
                        source, int((~labels.isin(encoding.classes)).sum()), ", ".join(repr(v) for v in unseen[:5]))
        elif unseen:
            shown = ", ".join(repr(v) for v in unseen[:5])
            known = ", ".join(repr(c) for c in encoding.classes[:8]) + (", ..." if encoding.n_classes > 8 else "")
            raise DataError(f"'{source}' has label value(s) {shown} the model was not trained on "
                            f"(it knows {known})", "Use the same label values as the training data, or "
                            "--unknown-labels wrong to count those rows as wrong")
    index = {c: i for i, c in enumerate(encoding.classes)}
    y = labels.map(lambda v: index.get(v, -1)).to_numpy(dtype=np.int32)
    kept: list[str] | TextStream = (texts[keep].tolist() if layout is None
                                    else large_table.TextStream(layout, text_column, keep))
    return LabeledData(texts=kept, y=y, encoding=encoding, source=source,
                       skipped_empty=skipped_empty, skipped_no_label=skipped_no_label, notes=notes)
