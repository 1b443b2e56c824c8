"""`sentiment check-data`: what is wrong with a labelled table before a model is trained on it.

Training quietly survives most of these (empty texts are skipped, labels stripped), which is why
they are worth a look: duplicates inflate accuracy, conflicting labels cap it, a test text that is
also in the training file measures memory instead of generalisation, and a file full of U+FFFD was
exported in the wrong encoding. Reading goes through data.read_table, so check-data sees a file
exactly as `train` and `evaluate` do; this module only counts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sentiment_cli.config import DataConfig
from sentiment_cli.data import MISSING_MARKERS, missing_texts, read_table

DEFAULT_TEXT = DataConfig().text_column
DEFAULT_LABEL = DataConfig().label_column
MIN_MINORITY_SHARE = 0.10  # below this the minority class is a problem worth a warning (two classes;
# with K the bound is this share of an even split, 0.2 / K)
RARE_CLASS_ROWS = 10  # as api.warn_rare_classes: fewer rows than this and a class can hardly be learned


def normalise(text: str) -> str:
    """The key near-duplicates share: whitespace runs collapsed, letter case folded."""
    return " ".join(text.split()).casefold()


def _length_stats(words: Any) -> dict[str, float | int | None]:
    if len(words) == 0:
        return {"min": None, "q1": None, "median": None, "q3": None, "max": None, "mean": None}
    q1, median, q3 = (float(words.quantile(q)) for q in (0.25, 0.5, 0.75))
    return {"min": int(words.min()), "q1": q1, "median": median, "q3": q3, "max": int(words.max()),
            "mean": round(float(words.mean()), 1)}


def check_file(path: str | Path, text_column: str = DEFAULT_TEXT,
               label_column: str = DEFAULT_LABEL) -> tuple[dict[str, Any], set[str]]:
    """One file's report, and the set of its normalised texts (for the leakage check)."""
    df = read_table(path, [text_column, label_column])
    texts, raw_labels = df[text_column], df[label_column]
    blank, marker = missing_texts(texts)
    labels = raw_labels.str.strip()
    no_label = (labels == "") | labels.isin(MISSING_MARKERS)
    present = ~(blank | marker)

    # Labels as training would read them: stripped, then spellings differing only in case merged.
    counts = labels[~no_label].value_counts()
    canonical: dict[str, str] = {}
    for value in counts.index:
        canonical.setdefault(value.casefold(), value)
    merged = labels[~no_label].map(lambda v: canonical[v.casefold()])
    balance = {str(k): int(v) for k, v in merged.value_counts().sort_index().items()}

    kept = texts[present]
    norm = kept.map(normalise)
    exact_dups = int(kept.duplicated().sum())
    near_dups = int(norm.duplicated().sum()) - exact_dups
    both = present & ~no_label
    pairs = (texts[both].map(normalise).to_frame("t")
             .assign(label=labels[both].map(lambda v: canonical[v.casefold()])))
    n_labels = pairs.groupby("t")["label"].nunique()
    conflicted = set(n_labels[n_labels > 1].index)
    words = kept.str.split().str.len()
    report = {
        "path": str(path),
        "rows": int(len(df)),
        "empty_texts": int(blank.sum()),
        "missing_texts": int(marker.sum()),
        "missing_labels": int(no_label.sum()),
        "exact_duplicates": exact_dups,
        "near_duplicates": near_dups,
        "conflicting_labels": {"texts": len(conflicted), "rows": int(pairs["t"].isin(conflicted).sum())},
        "labels": balance,
        "label_fixes": {"whitespace": int((labels != raw_labels).sum()),
                        "case": int((labels[~no_label] != merged).sum())},
        "length_words": _length_stats(words),
        "undecodable_rows": int(texts.str.contains("\ufffd", regex=False).sum()),
    }
    return report, set(norm)


def file_problems(name: str, r: dict[str, Any]) -> list[str]:
    """Human-readable problems in one file report; empty when the file is clean."""
    problems = []
    missing = r["empty_texts"] + r["missing_texts"]
    if missing:
        problems.append(f"{name}: {missing} empty or missing text(s)")
    if r["missing_labels"]:
        problems.append(f"{name}: {r['missing_labels']} row(s) without a label")
    if r["exact_duplicates"]:
        problems.append(f"{name}: {r['exact_duplicates']} exact duplicate text(s)")
    if r["near_duplicates"]:
        problems.append(f"{name}: {r['near_duplicates']} near-duplicate text(s) (same up to whitespace/case)")
    if r["conflicting_labels"]["texts"]:
        c = r["conflicting_labels"]
        problems.append(f"{name}: {c['texts']} text(s) appear with conflicting labels ({c['rows']} rows)")
    n_classes = len(r["labels"])
    if n_classes < 2:
        problems.append(f"{name}: {n_classes} label value(s) {sorted(r['labels'])[:5]}; a classifier needs two "
                        "or more")
    else:
        total = sum(r["labels"].values())
        # The rarest class against an even share (1/K): 10% of a balanced two-class file.
        minority = min(r["labels"].values()) / total if total else 0.0
        if minority < MIN_MINORITY_SHARE * 2 / n_classes:
            rare = min(r["labels"], key=r["labels"].get)
            problems.append(f"{name}: labels are imbalanced (class {rare!r} is {minority:.1%} of the rows)"
                            if n_classes > 2 else f"{name}: labels are imbalanced (minority class {minority:.1%})")
        few = sorted(k for k, v in r["labels"].items() if v < RARE_CLASS_ROWS)
        if few and n_classes > 2:  # two classes: the imbalance check above, as it always was
            problems.append(f"{name}: class(es) {few[:5]} have fewer than {RARE_CLASS_ROWS} rows")
    fixes = r["label_fixes"]
    if fixes["whitespace"] or fixes["case"]:
        problems.append(f"{name}: label spellings vary ({fixes['whitespace']} with surrounding whitespace, "
                        f"{fixes['case']} differing only in case)")
    if r["undecodable_rows"]:
        problems.append(f"{name}: {r['undecodable_rows']} row(s) with undecodable bytes (U+FFFD)")
    return problems


def check_data(path: str | Path, test_path: str | Path | None = None, text_column: str = DEFAULT_TEXT,
               label_column: str = DEFAULT_LABEL) -> dict[str, Any]:
    """Report on a training file (and a test file: its own report plus train/test leakage).

    Returns {"train": {...}, "test": {...} | None, "leakage": {...} | None, "problems": [...]};
    "problems" is what `check-data --strict` fails on.
    """
    train, train_norm = check_file(path, text_column, label_column)
    report: dict[str, Any] = {"train": train, "test": None, "leakage": None}
    problems = file_problems("train", train)
    if test_path is not None:
        test, test_norm = check_file(test_path, text_column, label_column)
        shared = train_norm & test_norm
        report["test"] = test
        report["leakage"] = {"texts": len(shared)}
        problems += file_problems("test", test)
        if shared:
            problems.append(f"leakage: {len(shared)} test text(s) also appear in the training file")
    report["problems"] = problems
    return report


# -- formatting ------------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def format_table(report: dict[str, Any]) -> str:
    """The report as aligned text columns, one per file, then the list of problems."""
    files = [("train", report["train"])] + ([("test", report["test"])] if report["test"] else [])
    labels = sorted({k for _, r in files for k in r["labels"]})
    rows: list[tuple[str, list[str]]] = [
        ("file", [r["path"] for _, r in files]),
        ("rows", [_fmt(r["rows"]) for _, r in files]),
        ("empty texts", [_fmt(r["empty_texts"]) for _, r in files]),
        ("missing texts (NaN...)", [_fmt(r["missing_texts"]) for _, r in files]),
        ("missing labels", [_fmt(r["missing_labels"]) for _, r in files]),
        ("exact duplicates", [_fmt(r["exact_duplicates"]) for _, r in files]),
        ("near duplicates", [_fmt(r["near_duplicates"]) for _, r in files]),
        ("conflicting labels", [f"{_fmt(r['conflicting_labels']['texts'])} texts" for _, r in files]),
        ("undecodable rows", [_fmt(r["undecodable_rows"]) for _, r in files]),
    ]
    for label in labels:
        cells = []
        for _, r in files:
            n, total = r["labels"].get(label, 0), sum(r["labels"].values()) or 1
            cells.append(f"{n:,} ({n / total:.1%})")
        rows.append((f"label {label!r}", cells))
    for key in ("min", "q1", "median", "q3", "max", "mean"):
        rows.append((f"words {key}", [_fmt(r["length_words"][key]) for _, r in files]))
    if report["leakage"] is not None:
        rows.append(("test texts in train", ["", _fmt(report["leakage"]["texts"])]))
    head = max(len(name) for name, _ in rows)
    widths = [max(len(cells[i]) for _, cells in rows) for i in range(len(files))]
    lines = ["".ljust(head) + "  " + "  ".join(n.rjust(w) for (n, _), w in zip(files, widths))]
    for name, cells in rows:
        lines.append(name.ljust(head) + "  " + "  ".join(c.rjust(w) for c, w in zip(cells, widths)))
    problems = report["problems"]
    lines.append("")
    lines += [f"problems ({len(problems)}):"] + [f"  - {p}" for p in problems] if problems else ["no problems found"]
    return "\n".join(lines) + "\n"


def format_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False) + "\n"
