"""Every file in tests/bad_inputs/ (and a few damaged model directories) through the real CLI.

For each case: the exit code, exactly one `sentiment: error:` line on stderr naming the problem,
no traceback, and every file that existed before (inputs and the model directory) byte-identical
after. Survivable inputs must succeed and say on stderr what was tolerated.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from conftest import TINY, TRAIN

CORPUS = Path(__file__).parent / "bad_inputs"


# -- damage done to a model copy at test time -----------------------------------------------------
def _rehash(model: Path, name: str) -> None:
    """Record `name`'s current sha256 in the manifest, so only the damage itself is the problem."""
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["artifacts"][name] = hashlib.sha256((model / name).read_bytes()).hexdigest()
    (model / "manifest.json").write_text(json.dumps(manifest))


def corrupt_keras(tmp: Path) -> None:
    path = tmp / "model" / "model.keras"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])  # a download cut short
    _rehash(tmp / "model", "model.keras")


def corrupt_keras_unhashed(tmp: Path) -> None:
    path = tmp / "model" / "model.keras"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def tamper_tokenizer(tmp: Path) -> None:
    path = tmp / "model" / "tokenizer.json"
    data = json.loads(path.read_text())
    first, second = list(data["word_index"])[1:3]
    data["word_index"][first], data["word_index"][second] = data["word_index"][second], data["word_index"][first]
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1))


def big_single_line(tmp: Path) -> None:
    """50 MB of real reviews on one line, no newline anywhere: a file with no header row."""
    with gzip.open(TRAIN, "rt", encoding="utf-8") as fh:
        chunk = fh.read(2_000_000).replace("\n", " ")
    size = 50 * 1024 * 1024
    with open(tmp / "big.csv", "w", encoding="utf-8") as out:
        for _ in range(size // len(chunk)):
            out.write(chunk)
        out.write(chunk[: size % len(chunk)])


def user_dir(tmp: Path) -> None:
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.txt").write_text("my thesis draft\n")


@dataclass
class Case:
    id: str
    args: list[str]  # {B} corpus copy, {M} model copy, {O} fresh --out, {T} the test's tmp dir
    expect: str  # substring of the error line, or of stderr when the input is survivable
    exit_code: int = 1
    stdin: str | None = None  # corpus file fed on stdin ("" for empty stdin)
    setup: Callable[[Path], None] | None = None

    @property
    def survivable(self) -> bool:
        return self.exit_code == 0


EVAL = ["evaluate", "--model", "{M}", "--format", "json", "--data"]
TRAIN_ARGS = ["train", "--out", "{O}", "--no-plots", *TINY, "--set", "training.epochs=1", "--data"]
PREDICT = ["predict", "--model", "{M}"]

CASES = [
    Case("missing_file", [*EVAL, "{B}/no_such_file.csv"], "no_such_file.csv' does not exist"),
    Case("directory_not_file", [*EVAL, "{B}"], "is a directory"),
    Case("empty_file", [*EVAL, "{B}/empty.csv"], "empty.csv' is empty"),
    Case("header_only", [*EVAL, "{B}/header_only.csv"], "has a header but no data rows"),
    Case("wrong_delimiter", [*EVAL, "{B}/wrong_delimiter.csv"], "is not split by a comma, tab, semicolon or |"),
    Case("missing_text_column", [*EVAL, "{B}/missing_text_column.csv"],
         "has no column 'text' (columns present: 'review', 'label')"),
    Case("missing_label_column", [*TRAIN_ARGS, "{B}/missing_label_column.csv"],
         "has no column 'label' (columns present: 'text', 'sentiment'). Name the right column with --label-column"),
    Case("one_class", [*TRAIN_ARGS, "{B}/one_class.csv"], "has only one label value ('positive')"),
    # Three classes train (issue 11); these 12 rows are too few to hold each class out for validation.
    Case("three_classes", [*TRAIN_ARGS, "{B}/three_classes.csv"],
         "has too few rows per class (4 / 4 / 4) for a validation split of 0.1"),
    Case("three_classes_vs_model", [*EVAL, "{B}/three_classes.csv"],
         "label value(s) 'neutral' the model was not trained on"),
    Case("numeric_labels_vs_model", [*EVAL, "{B}/numeric_labels.csv"],
         "label value(s) '0', '1' the model was not trained on"),
    Case("all_texts_empty", [*EVAL, "{B}/all_texts_empty.csv"], "has no rows with both a text and a label"),
    Case("fifty_mb_single_line", [*EVAL, "{T}/big.csv"], "has no header row naming its columns",
         setup=big_single_line),
    Case("unquoted_commas", [*EVAL, "{B}/unquoted_commas.csv"],
         "row starting on line 2 has 4 fields but the header has 2"),
    Case("unterminated_quote", [*EVAL, "{B}/unterminated_quote.csv"],
         "row starting on line 5 has 5 fields but the header has 2"),
    Case("unterminated_quote_predict", [*PREDICT, "--input", "{B}/unterminated_quote.csv"],
         "row starting on line 5 has 5 fields but the header has 2"),
    Case("truncated_gzip", [*EVAL, "{B}/truncated.csv.gz"], "is a damaged gzip file"),
    Case("truncated_gzip_predict", [*PREDICT, "--input", "{B}/truncated.csv.gz"], "is a damaged gzip file"),
    Case("excel_workbook", [*TRAIN_ARGS, "{B}/reviews.xlsx"], "is a ZIP archive (an Excel .xlsx"),
    Case("invalid_yaml", ["train", "--out", "{O}", "--config", "{B}/invalid.yaml", "--data", "{B}/crlf.csv"],
         "invalid YAML in", exit_code=2),
    Case("unknown_config_key", ["train", "--out", "{O}", "--config", "{B}/unknown_key.yaml"],
         "unknown config key 'training.epoch'", exit_code=2),
    Case("wrong_config_type", ["train", "--out", "{O}", "--config", "{B}/wrong_type.yaml"],
         "config key 'model.units' must be int, got str 'sixteen'", exit_code=2),
    Case("negative_epochs_yaml", ["train", "--out", "{O}", "--config", "{B}/negative_epochs.yaml"],
         "config key 'training.epochs' is -1, must be >= 1", exit_code=2),
    Case("negative_epochs_set", ["train", "--out", "{O}", "--set", "training.epochs=-3"],
         "config key 'training.epochs' is -3, must be >= 1", exit_code=2),
    Case("config_not_a_mapping", ["train", "--out", "{O}", "--config", "{B}/not_a_mapping.yaml"],
         "must be a mapping of sections", exit_code=2),
    Case("model_dir_missing", ["predict", "--model", "{T}/no_model"], "no_model' does not exist", stdin="reviews.txt"),
    Case("model_dir_foreign", ["predict", "--model", "{B}"], "is not a model directory (no valid manifest.json)",
         stdin="reviews.txt"),
    Case("model_corrupted_keras", [*PREDICT, "--backend", "keras"], "model.keras' (not a .keras zip archive)",
         stdin="reviews.txt", setup=corrupt_keras),
    Case("model_corrupted_keras_unhashed", [*PREDICT, "--backend", "keras"],
         "model.keras' does not match the sha256 in manifest.json", stdin="reviews.txt",
         setup=corrupt_keras_unhashed),
    Case("model_tampered_tokenizer", PREDICT, "tokenizer.json' does not match the sha256 in manifest.json",
         stdin="reviews.txt", setup=tamper_tokenizer),
    Case("stdin_binary_garbage", PREDICT, "<stdin> looks binary", stdin="stdin_binary.bin"),
    Case("out_is_users_directory", ["train", "--out", "{T}/mine", "--data", "{B}/crlf.csv"],
         "is not a model directory written by sentiment", setup=user_dir),
    Case("out_under_a_file", ["train", "--out", "{B}/reviews.txt/model", "--data", "{B}/crlf.csv"],
         "reviews.txt/model' is inside '"),
    # Survivable: the command succeeds and says what it tolerated.
    Case("labels_stray_whitespace_and_case", [*TRAIN_ARGS, "{B}/label_whitespace.csv"],
         "stripped surrounding whitespace from 10 label(s)", exit_code=0),
    Case("nan_texts", [*EVAL, "{B}/nan_texts.csv"],
         "skipped 5 row(s) with an empty or missing text (3 of them NA/NULL/NaN)", exit_code=0),
    Case("undecodable_bytes", [*EVAL, "{B}/undecodable_bytes.csv"], "replaced with U+FFFD", exit_code=0),
    Case("utf16_with_bom", [*EVAL, "{B}/utf16_bom.tsv"], "read as UTF-16 (byte-order mark found)", exit_code=0),
    Case("nul_bytes_in_table", [*EVAL, "{B}/nul_bytes.csv"], "removed 3 NUL character(s)", exit_code=0),
    # predict agrees with evaluate and check-data: a few NULs are a damaged export, dropped and counted.
    Case("nul_bytes_predict", [*PREDICT, "--input", "{B}/nul_bytes.csv"], "removed 3 NUL character(s)",
         exit_code=0),
    Case("crlf_line_endings", [*EVAL, "{B}/crlf.csv"], "read Windows (CRLF) line endings", exit_code=0),
    Case("quoted_newlines", [*EVAL, "{B}/quoted_newlines.csv"],
         "10 text(s) contain line breaks (quoted fields spanning lines)", exit_code=0),
    Case("utf16_predict", [*PREDICT, "--input", "{B}/utf16_bom.tsv"], "read as UTF-16", exit_code=0),
]


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, model_copy: Path, tmp_path: Path) -> None:
    from sentiment_cli.cli import cli

    corpus = tmp_path / "in"
    shutil.copytree(CORPUS, corpus, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    if case.setup:
        case.setup(tmp_path)
    out = tmp_path / "out"
    subst = {"{B}": str(corpus), "{M}": str(model_copy), "{O}": str(out), "{T}": str(tmp_path)}
    args = []
    for arg in case.args:
        for key, value in subst.items():
            arg = arg.replace(key, value)
        args.append(arg)
    stdin = None if case.stdin is None else b"" if case.stdin == "" else (corpus / case.stdin).read_bytes()
    before = _hashes(tmp_path)

    result = CliRunner().invoke(cli, args, input=stdin)

    stderr = result.stderr
    assert result.exit_code == case.exit_code, (result.exit_code, stderr[-2000:])
    assert "Traceback" not in result.output and "internal error" not in stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    after = _hashes(tmp_path)
    changed = [name for name, digest in before.items() if after.get(name) != digest]
    assert not changed, f"files changed or removed: {changed}"
    for folder in ("in", "model"):  # nothing new appears inside the inputs or the model directory
        assert {n for n in after if n.startswith(folder + "/")} == {n for n in before if n.startswith(folder + "/")}
    if case.survivable:
        assert case.expect in stderr, stderr
        assert result.stdout.strip(), "a survivable input must still produce results"
        assert "error:" not in stderr
    else:
        errors = [line for line in stderr.splitlines() if line.startswith("sentiment: error:")]
        assert len(errors) == 1, stderr
        assert stderr.rstrip().endswith(errors[0]), "the error is the last thing on stderr"
        assert case.expect in errors[0], errors[0]
        assert len(errors[0]) < 400, "one short line"
        if case.args[0] == "train" and "{O}" in case.args:
            assert not out.exists(), "a failed train must not leave a model directory behind"


def test_corpus_is_reproducible(tmp_path: Path) -> None:
    """The committed corpus is exactly what make_corpus.py writes (no hand-edited drift)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.build(tmp_path)
    assert len(written) >= 25
    for name, data in written.items():
        assert (CORPUS / name).read_bytes() == data, name
