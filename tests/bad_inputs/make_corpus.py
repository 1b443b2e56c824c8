"""Write the bad-input corpus (tests/bad_inputs/*) from real reviews of the bundled IMDB test split.

Each file reproduces one way a real export goes wrong (a Windows-1252 export, a spreadsheet saved
as UTF-16, tabs turned into spaces by an editor, ...). The files are committed so they can be read
and reproduced by hand (`sentiment evaluate --data tests/bad_inputs/crlf.csv`); this script is how
they were made, and tests/test_bad_inputs.py checks that re-running it gives the same bytes.
Deterministic: fixed rows, no clock, no randomness beyond a seeded generator.

    python tests/bad_inputs/make_corpus.py          # rewrite the corpus next to this file
"""

from __future__ import annotations

import csv
import gzip
import io
import random
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUNDLED_TEST = HERE.parent.parent / "data" / "imdb_test.csv.gz"
MAX_CHARS = 360  # keep each review short so the committed corpus stays small


def _shorten(text: str) -> str:
    if len(text) <= MAX_CHARS:
        return text
    cut = text[:MAX_CHARS]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > MAX_CHARS // 2 else cut[: cut.rfind(" ")] + " ..."


def load_reviews(n: int = 400) -> list[tuple[str, str]]:
    """The first `n` (text, label) rows of the bundled test split, texts shortened."""
    with gzip.open(BUNDLED_TEST, "rt", encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(fh)
        return [(_shorten(r["text"]), r["label"]) for _, r in zip(range(n), rows)]


def _pick(reviews: list[tuple[str, str]], n_pos: int, n_neg: int, *, start: int = 0,
          where=lambda text: True) -> list[tuple[str, str]]:
    """`n_pos` positive and `n_neg` negative reviews from `start` on, interleaved."""
    pos = [r for r in reviews[start:] if r[1] == "positive" and where(r[0])][:n_pos]
    neg = [r for r in reviews[start:] if r[1] == "negative" and where(r[0])][:n_neg]
    out = []
    for i in range(max(len(pos), len(neg))):
        out += pos[i:i + 1] + neg[i:i + 1]
    return out


def to_csv(rows: list[tuple[str, ...]], header: tuple[str, ...] = ("text", "label"), *,
           delimiter: str = ",", newline: str = "\n") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def build(out: Path) -> dict[str, bytes]:
    """Every corpus file as {name: bytes}; written into `out`."""
    reviews = load_reviews()
    good = _pick(reviews, 6, 6)
    files: dict[str, bytes] = {}

    def text(name: str, content: str, encoding: str = "utf-8") -> None:
        files[name] = content.encode(encoding)

    text("empty.csv", "")
    text("header_only.csv", "text,label\n")
    # A TSV opened in an editor that expanded tabs to spaces: no delimiter left that we know.
    text("wrong_delimiter.csv", "text    label\n" + "".join(f"{t}    {l}\n" for t, l in good))
    text("missing_text_column.csv", to_csv(good, ("review", "label")))
    text("missing_label_column.csv", to_csv(good, ("text", "sentiment")))
    text("one_class.csv", to_csv(_pick(reviews, 12, 0)))
    three = _pick(reviews, 4, 4, start=20) + [(t, "neutral") for t, _ in _pick(reviews, 2, 2, start=60)]
    text("three_classes.csv", to_csv(three))
    # Hand-typed labels: trailing spaces, a tab, capitalisation.
    spellings = {"positive": ["Positive ", "POSITIVE", "positive", " positive"],
                 "negative": [" negative", "Negative\t", "negative", "NEGATIVE "]}
    stray = [(t, spellings[l][i // 2 % 4]) for i, (t, l) in enumerate(_pick(reviews, 8, 8, start=40))]
    text("label_whitespace.csv", to_csv(stray))
    # Texts lost on the way: empty fields, pandas' "NaN", R's "NA", SQL's NULL.
    nan_rows = _pick(reviews, 5, 5, start=80) + [("", "positive"), ("NaN", "negative"), ("NA", "positive"),
                                                 ("NULL", "negative"), ("   ", "positive")]
    text("nan_texts.csv", to_csv(nan_rows))
    text("all_texts_empty.csv", to_csv([("", l) for _, l in good[:6]] + [("NaN", "positive"), (" ", "negative")]))
    # A Windows-1252 export: accents and smart quotes are not valid UTF-8.
    accented = _pick(reviews, 4, 4, where=lambda t: any(ord(c) > 127 for c in t))
    plain = _pick(reviews, 3, 3, start=100, where=lambda t: t.isascii())
    files["undecodable_bytes.csv"] = to_csv(accented + plain).encode("cp1252", errors="replace")
    # Excel "Unicode text" / PowerShell Out-File: UTF-16 with a byte-order mark, tab-separated.
    files["utf16_bom.tsv"] = to_csv(good, delimiter="\t").encode("utf-16")
    # NULs injected by a broken export tool into an otherwise fine file.
    nul = to_csv(_pick(reviews, 5, 5, start=120))
    files["nul_bytes.csv"] = nul.replace(". ", ".\x00 ", 3).encode("utf-8")
    text("crlf.csv", to_csv(_pick(reviews, 6, 6, start=140), newline="\r\n"))
    # Paragraph breaks kept as real newlines inside quoted fields (instead of IMDB's <br />).
    long = [(t, l) for t, l in load_reviews(200) if "<br /><br />" in t][:10]
    text("quoted_newlines.csv", to_csv([(t.replace("<br /><br />", "\n\n"), l) for t, l in long]))
    # Reviews pasted without quoting: commas inside the text shift the columns.
    ragged = "text,label\n" + "".join(f"{t},{l}\n" for t, l in _pick(reviews, 4, 4, start=160))
    text("unquoted_commas.csv", ragged)
    # A quote opened and never closed: the rest of the file would vanish into one field.
    unquoted = [r for r in good if '"' not in r[0]]
    text("unterminated_quote.csv", to_csv(unquoted[:3]) + f'"{unquoted[3][0]},{unquoted[3][1]}\n'
         + to_csv(unquoted[4:]).split("\n", 1)[1])
    text("numeric_labels.csv", to_csv([(t, "1" if l == "positive" else "0") for t, l in good]))
    text("binary_labels.csv", to_csv(good))  # fine on its own; the test pairs it with a wrong model
    full = gzip.compress(to_csv(_pick(reviews, 20, 20)).encode("utf-8"), mtime=0)
    files["truncated.csv.gz"] = full[: len(full) // 2]
    # An Excel workbook handed over instead of a CSV export.
    sheet = io.BytesIO()
    with zipfile.ZipFile(sheet, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("xl/sharedStrings.xml", date_time=(2024, 1, 1, 0, 0, 0))
        zf.writestr(info, "<sst>" + "".join(f"<si><t>{t}</t></si>" for t, _ in good) + "</sst>")
    files["reviews.xlsx"] = sheet.getvalue()
    text("reviews.txt", "".join(t.replace("\n", " ") + "\n" for t, _ in good))
    files["stdin_binary.bin"] = random.Random(5).randbytes(4096)
    text("invalid.yaml", "training:\n  epochs: 2\n    batch_size: 32\n")
    text("unknown_key.yaml", "training:\n  epoch: 2\n")
    text("wrong_type.yaml", "model:\n  units: sixteen\n")
    text("negative_epochs.yaml", "training:\n  epochs: -1\n")
    text("not_a_mapping.yaml", "- training\n- epochs: 2\n")
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    return files


if __name__ == "__main__":
    written = build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(f"wrote {len(written)} files")
