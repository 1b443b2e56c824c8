"""`sentiment check-data`: counts on a file built from real reviews with known, planted problems."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import TEST, head_rows, invoke
from sentiment_cli.checks import check_data

BAD = "@@BAD-BYTE@@"


def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "label")) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8").replace(BAD.encode(), b"\xe9"))  # a Latin-1 byte
    return path


@pytest.fixture(scope="module")
def reviews() -> list[tuple[str, str]]:
    df = head_rows(TEST, 40)
    return list(zip(df["text"], df["label"]))


@pytest.fixture
def planted(tmp_path: Path, reviews: list[tuple[str, str]]) -> tuple[Path, Path, list[str]]:
    """A train and a test file with every kind of problem planted a known number of times."""
    r = reviews
    flip = {"positive": "negative", "negative": "positive"}
    clean = r[:10]
    train = clean + [
        r[0],                                          # exact duplicate
        ("  " + r[1][0].upper().replace(" ", "   "), r[1][1]),  # near duplicate (case, spaces)
        (r[2][0], flip[r[2][1]]),                      # same text, the other label
        ("", "positive"), ("NaN", "negative"),         # empty, and a NaN marker
        (r[10][0], ""),                                # no label
        (r[11][0], " Positive"),                       # stray whitespace and case
        (r[12][0] + " Caf" + BAD + " society.", r[12][1]),  # an undecodable byte
    ]
    test = [r[0], (r[4][0].lower(), r[4][1]), r[20], r[21]]  # two texts leak from train
    present = [t for t, _ in train if t.strip() and t != "NaN"]
    return write_csv(tmp_path / "train.csv", train), write_csv(tmp_path / "test.csv", test), present


def test_counts_every_planted_problem(planted: tuple[Path, Path, list[str]]) -> None:
    train_path, test_path, present = planted
    report = check_data(train_path, test_path)
    train = report["train"]
    assert train["rows"] == 18
    assert (train["empty_texts"], train["missing_texts"], train["missing_labels"]) == (1, 1, 1)
    assert train["exact_duplicates"] == 2  # r0 and r2 repeated verbatim
    assert train["near_duplicates"] == 1
    assert train["conflicting_labels"] == {"texts": 1, "rows": 2}
    assert train["label_fixes"] == {"whitespace": 1, "case": 1}
    assert train["undecodable_rows"] == 1
    assert sum(train["labels"].values()) == 18 - 1  # every labelled row, the stray one merged in
    assert set(train["labels"]) == {"positive", "negative"}
    words = np.array([len(t.replace(BAD, "\ufffd").split()) for t in present])
    stats = train["length_words"]
    assert (stats["min"], stats["max"]) == (words.min(), words.max())
    assert stats["median"] == pytest.approx(np.median(words))
    assert (stats["q1"], stats["q3"]) == pytest.approx(tuple(np.percentile(words, [25, 75])))
    assert stats["mean"] == pytest.approx(words.mean(), abs=0.05)
    assert report["leakage"] == {"texts": 2}
    assert report["test"]["rows"] == 4 and report["test"]["exact_duplicates"] == 0
    assert len(report["problems"]) == 8  # 7 in train, the leak; the small test file itself is fine
    problems = "\n".join(report["problems"])
    for needle in ("2 empty or missing", "1 row(s) without a label", "2 exact duplicate", "1 near-duplicate",
                   "1 text(s) appear with conflicting labels (2 rows)", "label spellings vary",
                   "1 row(s) with undecodable bytes", "leakage: 2 test text(s)"):
        assert needle in problems, (needle, problems)


def test_clean_real_reviews_have_no_problems(reviews_train: Path, reviews_test: Path) -> None:
    report = check_data(reviews_train, reviews_test)
    assert report["problems"] == []
    assert report["train"]["rows"] == 600 and report["test"]["rows"] == 300
    df = head_rows(TEST, 300)
    assert report["test"]["labels"] == df["label"].value_counts().sort_index().to_dict()


def test_cli_table_json_and_strict(planted: tuple[Path, Path, list[str]]) -> None:
    train_path, test_path, _ = planted
    args = ["check-data", str(train_path), "--test-data", str(test_path)]
    table = invoke(args)  # without --strict, problems are reported but do not fail
    assert "exact duplicates" in table.stdout and "test texts in train" in table.stdout
    assert "problems (8):" in table.stdout
    as_json = json.loads(invoke([*args, "--format", "json"]).stdout)
    assert as_json == json.loads(json.dumps(check_data(train_path, test_path)))
    strict = invoke([*args, "--strict"], exit_code=1)
    line = strict.stderr.strip().splitlines()[-1]  # after the decoder's warning about the bad byte
    assert line.startswith("sentiment: check-data found 8 problem(s): train: 2 empty or missing text(s)")
    assert "leakage: 2 test text(s)" in line


def test_cli_strict_passes_clean_data(reviews_train: Path) -> None:
    result = invoke(["check-data", str(reviews_train), "--strict"])
    assert result.stdout.rstrip().endswith("no problems found")
    assert "words median" in result.stdout


def test_cli_column_options(tmp_path: Path, reviews: list[tuple[str, str]]) -> None:
    path = write_csv(tmp_path / "export.csv", reviews[:6], header=("review", "sentiment"))
    report = json.loads(invoke(["check-data", str(path), "--text-column", "review", "--label-column",
                                "sentiment", "--format", "json"]).stdout)
    assert report["train"]["rows"] == 6
    missing = invoke(["check-data", str(path)], exit_code=1)
    assert missing.stderr.startswith("sentiment: error: ") and "has no column 'text'" in missing.stderr
    assert "Traceback" not in missing.output


def test_cli_missing_file(tmp_path: Path) -> None:
    result = invoke(["check-data", str(tmp_path / "nope.csv")], exit_code=1)
    assert result.stderr.strip().count("\n") == 0 and "nope.csv' does not exist" in result.stderr
