"""Output formatting: evaluation tables and prediction records (text, JSON lines, CSV).

Kept apart from cli.py so the formats can be tested without a terminal, and kept light (no numpy
needed) because `predict` writes through it.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from typing import Any, Iterable, TextIO

METRIC_ROWS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "brier", "ece")
CSV_FIELDS = ("id", "text", "label", "score", "confidence", "status")
OPTIONAL_CSV_FIELDS = ("true_label",)  # a column only when the records carry it


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def format_evaluation(report: dict[str, Any]) -> str:
    """A human-readable table of an `api.evaluate` report."""
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
    if "slices" in report:
        lines += ["", "slice                          n        accuracy"]
        for row in report["slices"]:
            lines.append(f"{row['slice']:<30} {row['n']:<8} {_num(row['accuracy'])}")
    if "plots" in report:
        lines += ["", "plots: " + ", ".join(report["plots"])]
    return "\n".join(lines) + "\n"


def _text_line(record: dict[str, Any]) -> str:
    if record["status"] != "ok":
        return "-\t-"
    line = f"{record['label']}\t{record['score']:.4f}"
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

    def __init__(self, out: TextIO, fmt: str, progress: bool = False) -> None:
        self.out = out
        self.fmt = fmt
        self.progress = progress
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        self._fields: tuple[str, ...] | None = None  # CSV columns, fixed by the first record

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
            self.out.write(json_line(record))
        elif self._csv is not None:
            if self._fields is None:
                self._fields = CSV_FIELDS + tuple(k for k in OPTIONAL_CSV_FIELDS if k in record)
                self._csv.writerow(self._fields)
            self._csv.writerow([_csv_value(record.get(k)) for k in self._fields])
        else:
            self.out.write(_text_line(record) + "\n")


# Characters that str.splitlines() and some JSON-lines readers treat as line ends: escape them so
# one record is always exactly one physical line.
_LINE_BREAKERS = str.maketrans({c: f"\\u{ord(c):04x}" for c in "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


def json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False).translate(_LINE_BREAKERS) + "\n"


def _csv_value(value: Any) -> Any:
    return "" if value is None else f"{value:.6f}" if isinstance(value, float) else value
