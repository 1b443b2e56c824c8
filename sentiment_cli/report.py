"""Output formatting: evaluation tables and prediction records (text, JSON lines, CSV).

Kept apart from cli.py so the formats can be tested without a terminal, and kept light (no numpy
needed) because `predict` writes through it.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, Iterable, Iterator, TextIO

METRIC_ROWS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "brier", "ece")
CSV_FIELDS = ("id", "text", "label", "score", "confidence", "status")
# A K >= 3 model's records: no positive-class score; one p_<class> column per class after these.
MULTICLASS_CSV_FIELDS = ("id", "text", "label", "confidence", "status")
MULTICLASS_ROWS = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "macro_recall", "log_loss", "brier",
                   "ece", "mae", "macro_mae", "off_by_one_accuracy")
OPTIONAL_CSV_FIELDS = ("true_label",)  # a column only when the records carry it


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _with_extras(lines: list[str], report: dict[str, Any]) -> str:
    """`lines` plus the optional parts of a report (--unknown-labels wrong, --slices, --plots), as one text."""
    if report.get("unknown_labels"):
        lines += ["", f"{report['unknown_labels']} row(s) with a label the model was not trained on: counted as "
                      "wrong in accuracy, left out of the other metrics"]
    if "slices" in report:
        lines += ["", "slice                          n        accuracy"]
        for row in report["slices"]:
            lines.append(f"{row['slice']:<30} {row['n']:<8} {_num(row['accuracy'])}")
    if "plots" in report:
        lines += ["", "plots: " + ", ".join(report["plots"])]
    return "\n".join(lines) + "\n"


def format_multiclass(report: dict[str, Any]) -> str:
    """A K >= 3 model's evaluation: summary metrics, per-class scores, the K x K confusion matrix."""
    lines = [f"{name:<20} {_num(report.get(name))}" for name in MULTICLASS_ROWS if name in report]
    lines += [f"{'n':<20} {report['n']}", f"{'truncated':<20} {report.get('truncated', 0)}"]
    classes = list(report["per_class"])
    width = max([len(c) for c in classes] + [5]) + 2
    lines += ["", f"{'class':<{width}} precision  recall     f1         support"]
    for c, row in report["per_class"].items():
        lines.append(f"{c:<{width}} {_num(row['precision']):<10} {_num(row['recall']):<10} {_num(row['f1']):<10} "
                     f"{row['support']}")
    cm = report["confusion_matrix"]
    cell = max([len(str(v)) for r in cm for v in r] + [len(c) for c in classes]) + 2
    lines += ["", "confusion matrix (rows: true, columns: predicted)",
              " " * width + "".join(f"{c:>{cell}}" for c in classes)]
    lines += [f"{c:<{width}}" + "".join(f"{v:>{cell}}" for v in r) for c, r in zip(classes, cm)]
    return _with_extras(lines, report)


def format_evaluation(report: dict[str, Any]) -> str:
    """A human-readable table of an `api.evaluate` report."""
    if "per_class" in report:
        return format_multiclass(report)
    lines = [f"{name:<18} {_num(report.get(name))}" for name in METRIC_ROWS]
    lines += [f"{'n':<18} {report['n']}", f"{'threshold':<18} {report['threshold']:.4f}",
              f"{'truncated':<18} {report.get('truncated', 0)}"]
    (tn, fp), (fn, tp) = report["confusion_matrix"]
    width = max(len(str(v)) for v in (tn, fp, fn, tp)) + 2
    lines += ["", "confusion matrix    pred 0" + " " * (width - 2) + "pred 1",
              f"  true 0 (negative) {tn:>{width}}    {fp:>{width}}",
              f"  true 1 (positive) {fn:>{width}}    {tp:>{width}}"]
    if "sweep" in report:
        lines += ["", "threshold  precision  recall     f1         accuracy"]
        for row in report["sweep"]:
            mark = "  <- best F1" if row["best_f1"] else ""
            lines.append(f"{row['threshold']:<10.2f} {row['precision']:<10.4f} {row['recall']:<10.4f} "
                         f"{row['f1']:<10.4f} {row['accuracy']:<10.4f}{mark}")
    return _with_extras(lines, report)


def _text_line(record: dict[str, Any]) -> str:
    if record["status"] != "ok":
        return "-\t-"
    # label and the positive-class score (binary), or label and its probability (K >= 3)
    line = f"{record['label']}\t{record['score'] if 'scores' not in record else record['confidence']:.4f}"
    if "explanation" in record:
        exp = record["explanation"]
        pos = " ".join(f"{t['token']}({t['effect']:+.3f})" for t in exp["positive"])
        neg = " ".join(f"{t['token']}({t['effect']:+.3f})" for t in exp["negative"])
        line += f"\t+[{pos}]\t-[{neg}]"
    return line


class _ProgressLine(logging.Filter):
    """A `\r`-rewritten count on stderr that ends its line before any log message is printed.

    Installed as a filter of the "sentiment" logger while records are written, so a note logged
    mid-stream (or by the record generator once the input ends) never lands on the count's line.
    """

    def __init__(self) -> None:
        super().__init__()
        self.open = False
        self.shown = 0

    def show(self, n: int) -> None:
        sys.stderr.write(f"\rsentiment: scored {n:,} texts")
        sys.stderr.flush()
        self.open = True
        self.shown = n

    def close(self) -> None:
        if self.open:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.open = False

    def filter(self, record: logging.LogRecord) -> bool:
        self.close()
        return True


class RecordWriter:
    """Writes prediction records as they arrive, flushing every `flush_every` records.

    `progress` shows a running count on stderr; the caller enables it only for a terminal.
    """

    def __init__(self, out: TextIO, fmt: str, progress: bool = False,
                 classes: tuple[str, ...] | None = None) -> None:
        self.out = out
        self.fmt = fmt
        self.progress = progress
        # A K >= 3 model's classes: CSV then has p_<class> columns instead of score.
        self.classes = tuple(classes) if classes is not None and len(classes) > 2 else None
        self._fields: tuple[str, ...] | None = None  # CSV columns, fixed by the first record
        # JSON that an ASCII or cp1252 stdout can hold: \u escapes are exact, unlike "backslashreplace".
        encoding = (getattr(out, "encoding", None) or "utf-8").lower().replace("_", "-")
        self._ascii = not encoding.startswith("utf")

    def write_all(self, records: Iterable[dict[str, Any]], flush_every: int = 256) -> int:
        n = 0
        line = _ProgressLine() if self.progress else None
        logger = logging.getLogger("sentiment")
        if line is not None:
            logger.addFilter(line)
        try:
            for record in records:
                self.write(record)
                n += 1
                if n % flush_every == 0:
                    self.out.flush()
                    if line is not None:
                        line.show(n)
            self.out.flush()
            if line is not None and n >= flush_every and line.shown != n:
                line.show(n)
        finally:
            if line is not None:
                line.close()
                logger.removeFilter(line)
        return n

    def write(self, record: dict[str, Any]) -> None:
        if self.fmt == "json":
            write_json_line(self.out, record, ascii=self._ascii)
        elif self.fmt == "csv":
            if self._fields is None:
                base = CSV_FIELDS if self.classes is None else MULTICLASS_CSV_FIELDS
                self._fields = base + tuple(k for k in OPTIONAL_CSV_FIELDS if k in record)
                columns = self._fields + tuple(f"p_{c}" for c in self.classes or ())
                self.out.write(csv_line(columns))
            values = [_csv_value(record.get(k)) for k in self._fields]
            if self.classes is not None:
                scores = record.get("scores") or {}
                values += [_csv_value(scores.get(c)) for c in self.classes]
            write_csv_line(self.out, values)
        else:
            self.out.write(_text_line(record) + "\n")


# Characters that str.splitlines() and some JSON-lines readers treat as line ends: escape them so
# one record is always exactly one physical line.
_BREAKER_CHARS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_LINE_BREAKERS = str.maketrans({c: f"\\u{ord(c):04x}" for c in _BREAKER_CHARS})


def json_line(record: dict[str, Any], ascii: bool = False) -> str:
    return json.dumps(record, ensure_ascii=ascii).translate(_LINE_BREAKERS) + "\n"


def _no_breaks(text: str) -> str:
    return text.translate(_LINE_BREAKERS) if any(c in text for c in _BREAKER_CHARS) else text


def write_json_line(out: TextIO, record: dict[str, Any], ascii: bool = False) -> None:
    """`json_line(record)` written a value at a time: a 50 MB text is held escaped once, not
    four times (json.dumps' parts, their join, the translation, the newline)."""
    out.write("{")
    for i, (key, value) in enumerate(record.items()):
        out.write((", " if i else "") + json.dumps(key, ensure_ascii=ascii) + ": ")
        if isinstance(value, str) and len(value) > _SLICE:
            out.write('"')  # escaping is per character, so a slice at a time is exact
            for part in _slices(value):
                out.write(_no_breaks(json.dumps(part, ensure_ascii=ascii)[1:-1]))
            out.write('"')
        else:
            out.write(_no_breaks(json.dumps(value, ensure_ascii=ascii)))
    out.write("}\n")


_SLICE = 1 << 20  # characters of a long text escaped and written at a time


def _slices(text: str) -> Iterator[str]:
    for start in range(0, len(text), _SLICE):
        yield text[start:start + _SLICE]


_CSV_SPECIAL = ',"\r\n'


def csv_line(values: Iterable[Any]) -> str:
    """One CSV record ending in \\n, each field quoted when it holds a comma, quote, CR or LF.

    csv.writer (Python < 3.12) with lineterminator "\\n" leaves a lone CR unquoted, and every CSV
    reader then ends the row there: each later column shifts. Quoting it keeps one record one row.
    """
    fields = []
    for value in values:
        text = str(value)
        if any(c in text for c in _CSV_SPECIAL):
            text = '"' + text.replace('"', '""') + '"'
        fields.append(text)
    return ",".join(fields) + "\n"


def write_csv_line(out: TextIO, values: Iterable[Any]) -> None:
    """`csv_line(values)` written a field at a time (a long text is copied once, to quote it)."""
    for i, value in enumerate(values):
        text = str(value)
        if i:
            out.write(",")
        if any(c in text for c in _CSV_SPECIAL):
            out.write('"')
            for part in _slices(text):
                out.write(part.replace('"', '""'))
            out.write('"')
        else:
            out.write(text)
    out.write("\n")


def _csv_value(value: Any) -> Any:
    return "" if value is None else f"{value:.6f}" if isinstance(value, float) else value
