"""The light inference path: `predict` and `evaluate` without TensorFlow, and `predict` as a filter.

What a shell pipeline relies on: no TensorFlow, Keras, pandas or scikit-learn import on `predict`
(checked in a fresh interpreter after a real CLI run), ONNX scores equal to Keras', a Keras
fallback when a directory has no ONNX file, one output row per input row in order, answers
before the input ends, and stderr left alone unless something needs saying. No timings here:
speed is measured by bench/bench_predict.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import TEST, head_rows, invoke
from sentiment_cli.artifacts import MANIFEST, MODEL_ONNX, sha256
from sentiment_cli.predictor import DEFAULT_THREADS, Predictor

HEAVY = ("tensorflow", "keras", "tf_keras", "pandas", "sklearn", "scipy", "matplotlib", "yaml")

# Runs the click command in-process in a fresh interpreter, then reports which heavy modules the
# run imported on the last line of stderr.
PROBE = r"""
import json, sys
watch = json.loads(sys.argv[2])
sys.argv = ["sentiment", *json.loads(sys.argv[1])]
from sentiment_cli.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
sys.stdout.flush()
heavy = [m for m in watch if m in sys.modules]
sys.stderr.write("\nPROBE " + json.dumps({"code": code, "heavy": heavy}) + "\n")
"""


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SENTIMENT_DEBUG"}


def probe(args: list[str], stdin: str | None = None) -> tuple[int, list[str], str]:
    """(exit code, heavy modules imported, stdout) of one CLI run in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)], input=stdin,
                          capture_output=True, text=True, env=env(), timeout=300)
    last = proc.stderr.rstrip().splitlines()[-1]
    assert last.startswith("PROBE "), proc.stderr
    result = json.loads(last[len("PROBE "):])
    return result["code"], result["heavy"], proc.stdout


def cli(args: list[str], *, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`python -m sentiment_cli ARGS` in a subprocess: fd-level stderr (native libraries) included."""
    return subprocess.run([sys.executable, "-m", "sentiment_cli", *args], input=stdin, capture_output=True,
                          text=True, env=env(), timeout=300)


@pytest.fixture(scope="module")
def reviews() -> list[str]:
    """3,000 real reviews of the bundled test split (none contains a line break)."""
    texts = head_rows(TEST, 3000)["text"].tolist()
    assert not any("\n" in t or "\r" in t for t in texts)
    return texts


def records(stdout: str) -> list[dict]:
    # split on "\n" only: reviews hold U+2028 and friends, which str.splitlines also breaks at
    return [json.loads(line) for line in stdout.split("\n") if line]


# -- no heavy imports ------------------------------------------------------------------------------
def test_predict_from_stdin_imports_no_heavy_module(trained_model: Path, reviews: list[str]):
    code, heavy, out = probe(["predict", "--model", str(trained_model), "--format", "json"],
                             stdin="\n".join(reviews[:20]) + "\n")
    assert code == 0
    assert len(records(out)) == 20
    assert heavy == []


def test_predict_from_csv_imports_no_heavy_module(trained_model: Path, reviews_test: Path):
    code, heavy, out = probe(["predict", "--model", str(trained_model), "--input", str(reviews_test),
                              "--format", "csv"])
    assert code == 0
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows[0][:2] == ["id", "text"] and [int(r[0]) for r in rows[1:]] == list(range(300))
    assert heavy == []  # the text column comes from labels.json: not even a YAML parser


def test_evaluate_imports_no_tensorflow(trained_model: Path, reviews_test: Path):
    code, heavy, out = probe(["evaluate", "--model", str(trained_model), "--data", str(reviews_test),
                              "--format", "json"])
    assert code == 0
    report = json.loads(out)
    assert report["n"] == 300 and report["backend"] == "onnx"
    assert not {"tensorflow", "keras", "tf_keras"} & set(heavy)  # pandas and sklearn are fine here


def test_evaluate_scores_every_row_against_its_own_label(trained_model: Path, reviews_test: Path):
    from sentiment_cli.api import evaluate
    from sentiment_cli.data import load_labeled
    from sentiment_cli.metrics import classification_report

    predictor = Predictor.from_dir(trained_model)
    assert predictor.threads == DEFAULT_THREADS  # batches scored concurrently when cores allow
    data = load_labeled(reviews_test, "text", "label", encoding=predictor.decision.encoding)
    want = classification_report(data.y, predictor.predict_proba(data.texts), predictor.decision.threshold)
    got = evaluate(trained_model, reviews_test, batch_size=7)  # many batches in flight, none aligned
    assert got["confusion_matrix"] == want["confusion_matrix"] and got["n"] == want["n"] == 300
    for key in ("accuracy", "roc_auc", "brier"):
        assert got[key] == pytest.approx(want[key], abs=1e-9), key


# -- ONNX is Keras ---------------------------------------------------------------------------------
def test_onnx_scores_equal_keras_on_real_reviews(trained_model: Path):
    import keras

    from sentiment_cli.metrics import apply_temperature

    texts = head_rows(TEST, 500)["text"].tolist()[300:]  # 200 reviews the fixture did not test on
    predictor = Predictor.from_dir(trained_model, backend="onnx")
    assert predictor.backend == "onnx"
    got = predictor.predict_proba(texts)

    model = keras.saving.load_model(trained_model / "model.keras", compile=False)
    from sentiment_cli.ngrams import model_inputs

    x = model_inputs(predictor.tokenizer.encode(texts), getattr(predictor, "features", None))
    raw = np.asarray(model.predict(x, verbose=0), dtype=np.float64).reshape(-1)
    want = np.clip(apply_temperature(raw, predictor.decision.temperature), 0.0, 1.0)
    assert len(got) == 200
    assert np.ptp(got) > 1e-3  # the scores differ between reviews: the comparison means something
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_manifest_records_the_onnx_export(trained_model: Path):
    manifest = json.loads((trained_model / MANIFEST).read_text())
    metrics = json.loads((trained_model / "metrics.json").read_text())
    assert manifest["onnx"] is True and metrics["onnx"] is True
    assert manifest["artifacts"][MODEL_ONNX] == sha256(trained_model / MODEL_ONNX)


def test_without_onnx_predicts_through_keras_with_one_note(model_copy: Path, trained_model: Path,
                                                           reviews: list[str], tmp_path: Path):
    (model_copy / MODEL_ONNX).unlink()
    manifest = json.loads((model_copy / MANIFEST).read_text())
    del manifest["artifacts"][MODEL_ONNX]
    (model_copy / MANIFEST).write_text(json.dumps(manifest))
    source = tmp_path / "reviews.txt"
    source.write_text("\n".join(reviews[:40]) + "\n", encoding="utf-8")

    fallback = cli(["predict", "--model", str(model_copy), "--input", str(source), "--format", "json", "--quiet"])
    assert fallback.returncode == 0, fallback.stderr
    note = fallback.stderr.splitlines()
    assert len(note) == 1 and "model.onnx" in note[0] and "Keras" in note[0], fallback.stderr

    light = invoke(["predict", "--model", str(trained_model), "--input", str(source), "--format", "json"])
    ours, theirs = records(light.stdout), records(fallback.stdout)
    assert [r["label"] for r in theirs] == [r["label"] for r in ours]
    np.testing.assert_allclose([r["score"] for r in theirs], [r["score"] for r in ours], rtol=0, atol=1e-5)


# -- the start-up shortcuts change nothing ---------------------------------------------------------
def test_tokenizer_read_lazily_encodes_like_a_full_parse(trained_model: Path, reviews: list[str],
                                                         monkeypatch: pytest.MonkeyPatch):
    from sentiment_cli.tokenizer import Tokenizer

    path = trained_model / "tokenizer.json"
    lazy = Tokenizer.load(path)
    assert "_deferred_json" in lazy.__dict__  # predict parsed only the ids below num_words
    monkeypatch.setattr(Tokenizer, "_from_own_json", classmethod(lambda cls, text: None))
    full = Tokenizer.load(path)
    assert "_deferred_json" not in full.__dict__
    assert lazy.get_params() == full.get_params() and lazy.vocabulary_size == full.vocabulary_size
    np.testing.assert_array_equal(lazy.encode_with_lengths(reviews[:500])[0], full.encode_with_lengths(reviews[:500])[0])
    # the rest of the vocabulary is still there, parsed on first use
    assert lazy.word_index_ == full.word_index_ and lazy.word_counts_ == full.word_counts_
    assert lazy.word_docs_ == full.word_docs_ and lazy.document_count_ == full.document_count_


@pytest.mark.parametrize("filters", ['!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n', "", "Ab\t\r\x1c"])
@pytest.mark.parametrize("lower", [True, False])
def test_ascii_word_split_equals_keras_rules(filters: str, lower: bool, reviews: list[str]):
    import random

    from sentiment_cli.tokenizer import text_to_word_sequence

    def keras_rules(text: str) -> list[str]:  # keras.preprocessing.text.text_to_word_sequence
        text = text.lower() if lower else text
        text = text.translate(str.maketrans({c: " " for c in filters}))
        return [w for w in text.split(" ") if w]

    rng = random.Random(7)
    ascii_chars = "aB c.D,\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x00!<br />"  # every whitespace str.split() knows
    texts = reviews[:200] + ["".join(rng.choice(chars) for _ in range(rng.randint(0, 30)))
                             for chars in (ascii_chars, ascii_chars + "é\xa0\u2028") for _ in range(1500)]
    assert 1500 < sum(t.isascii() for t in texts) < len(texts)  # the fast path and the general one
    for text in texts:
        assert text_to_word_sequence(text, filters, lower) == keras_rules(text), repr(text)


# -- streaming -------------------------------------------------------------------------------------
def test_one_row_per_input_line_in_order(trained_model: Path, reviews: list[str], tmp_path: Path):
    lines = list(reviews)
    for i in range(0, len(lines), 97):  # blank and whitespace-only lines among real reviews
        lines.insert(i, "" if i % 2 else "   ")
    source = tmp_path / "reviews.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    out = records(invoke(["predict", "--model", str(trained_model), "--input", str(source), "--format", "json",
                          "--batch-size", "100"]).stdout)
    assert len(lines) > 3000
    assert [r["id"] for r in out] == list(range(len(lines)))
    assert [r["text"] for r in out] == lines
    assert [r["status"] for r in out] == ["ok" if line.strip() else "empty" for line in lines]
    assert all(r["label"] in ("positive", "negative") for r in out if r["status"] == "ok")


def test_line_buffered_answers_each_line_before_the_next_arrives(trained_model: Path, reviews: list[str]):
    proc = subprocess.Popen([sys.executable, "-m", "sentiment_cli", "predict", "--model", str(trained_model),
                             "--line-buffered", "--format", "json"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env())
    answers: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [answers.put(line) for line in proc.stdout], daemon=True).start()
    try:
        for i, review in enumerate(reviews[:3]):
            proc.stdin.write(review + "\n")
            proc.stdin.flush()
            # stdin stays open: the answer has to come while more input may still follow.
            answer = json.loads(answers.get(timeout=120))  # a hang guard, not a timing assertion
            assert (answer["id"], answer["text"], answer["status"]) == (i, review, "ok")
        proc.stdin.close()
        assert proc.wait(timeout=120) == 0
        assert answers.empty()
    finally:
        proc.kill()


def test_overlapped_inference_gives_the_same_records(trained_model: Path, reviews: list[str],
                                                     monkeypatch: pytest.MonkeyPatch):
    from sentiment_cli.api import predict_records

    predictor = Predictor.from_dir(trained_model)
    texts = reviews[:500] + ["", "  "] + reviews[500:530]
    real = Predictor.score_ids
    threads: set[str] = set()

    def spy(self: Predictor, x):
        threads.add(threading.current_thread().name)
        return real(self, x)

    monkeypatch.setattr(Predictor, "score_ids", spy)
    plain = list(predict_records(predictor, iter(texts), batch_size=50, overlap=False))
    assert threads == {threading.main_thread().name}
    threads.clear()
    overlapped = list(predict_records(predictor, iter(texts), batch_size=50, overlap=True))
    assert threading.main_thread().name not in threads  # inference ran beside the reading thread
    assert overlapped == plain and [r["id"] for r in plain] == list(range(len(texts)))


# -- flags -----------------------------------------------------------------------------------------
def test_batch_size_sets_the_inference_batches(trained_model: Path, reviews: list[str], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch):
    source = tmp_path / "reviews.txt"
    source.write_text("\n".join(reviews[:300]) + "\n", encoding="utf-8")
    real = Predictor.score_ids
    sizes: list[int] = []

    def spy(self: Predictor, x):  # the one inference call per batch
        sizes.append(len(x))
        return real(self, x)

    monkeypatch.setattr(Predictor, "score_ids", spy)
    outputs = {}
    for batch in (1, 64, 1000):
        sizes.clear()
        result = invoke(["predict", "--model", str(trained_model), "--input", str(source), "--format", "json",
                         "--batch-size", str(batch)])
        expected = [batch] * (300 // batch) + ([300 % batch] if 300 % batch else [])
        assert sizes == expected
        outputs[batch] = records(result.stdout)
    for batch in (64, 1000):
        assert [r["label"] for r in outputs[batch]] == [r["label"] for r in outputs[1]]
        np.testing.assert_allclose([r["score"] for r in outputs[batch]], [r["score"] for r in outputs[1]],
                                   rtol=0, atol=1e-5)
    invoke(["predict", "--model", str(trained_model), "--batch-size", "0"], exit_code=2, input="good\n")


def test_threads_is_how_many_batches_are_scored_at_once(trained_model: Path, reviews: list[str],
                                                        monkeypatch: pytest.MonkeyPatch):
    import onnxruntime as ort

    intra: list[int] = []

    class Session(ort.InferenceSession):
        def __init__(self, path, sess_options=None, **kwargs):
            intra.append(sess_options.intra_op_num_threads)
            super().__init__(path, sess_options=sess_options, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", Session)
    real = Predictor.score_ids
    lock = threading.Lock()
    state: dict = {}

    def spy(self: Predictor, x):
        with lock:
            state["calls"] += 1
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
            first_two = state["calls"] <= 2
        try:
            if self.threads == 2 and first_two:
                state["meet"].wait()  # calls 1 and 2 must be inside at once (60 s hang guard)
            return real(self, x)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(Predictor, "score_ids", spy)
    stdin = "\n".join(reviews[:300]) + "\n"
    outs = []
    for flag, threads in ((["--threads", "1"], 1), (["--threads", "2"], 2), ([], DEFAULT_THREADS)):
        intra.clear()
        state.update(calls=0, now=0, max=0, meet=threading.Barrier(2, timeout=60))
        outs.append(invoke(["predict", "--model", str(trained_model), "--batch-size", "20", *flag],
                           input=stdin).stdout)
        assert intra == [1]  # one ONNX Runtime thread per call: the concurrency comes from the calls
        assert state["max"] == threads if flag else 1 <= state["max"] <= DEFAULT_THREADS
    assert outs[0] == outs[1] == outs[2] and len(outs[0].splitlines()) == 300
    invoke(["predict", "--model", str(trained_model), "--threads", "0"], exit_code=2, input=stdin)


def test_quiet_leaves_stderr_empty(trained_model: Path, reviews: list[str]):
    stdin = "\n".join(reviews[:49] + [" ".join(reviews[:20])]) + "\n"  # the last longer than the model reads
    loud = cli(["predict", "--model", str(trained_model)], stdin=stdin)
    quiet = cli(["predict", "--model", str(trained_model), "--quiet"], stdin=stdin)
    assert loud.returncode == quiet.returncode == 0
    assert "truncated" in loud.stderr  # without --quiet the note is there ...
    assert quiet.stderr == ""  # ... and --quiet removes it, with nothing native leaking through
    assert quiet.stdout == loud.stdout and len(quiet.stdout.splitlines()) == 50


# -- progress --------------------------------------------------------------------------------------
def test_no_progress_when_stderr_is_not_a_terminal(trained_model: Path, reviews: list[str]):
    result = cli(["predict", "--model", str(trained_model), "--batch-size", "50"], stdin="\n".join(reviews[:600]))
    assert result.returncode == 0
    assert "scored" not in result.stderr and "\r" not in result.stderr
    assert len(result.stdout.splitlines()) == 600


def _terminal_stderr(args: list[str], stdin: str, stdout_too: bool = False) -> tuple[str, str]:
    """Run the CLI with stderr (and optionally stdout) on a pseudo-terminal; (stdout, terminal text)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "sentiment_cli", *args], stdin=subprocess.PIPE,
                            stdout=slave if stdout_too else subprocess.PIPE, stderr=slave, text=True, env=env())
    os.close(slave)
    chunks: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(master, chunks), daemon=True)
    reader.start()
    out, _ = proc.communicate(stdin, timeout=300)
    reader.join(timeout=60)
    os.close(master)
    return out or "", b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def _drain(fd: int, chunks: list[bytes]) -> None:
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return
        if not data:
            return
        chunks.append(data)


def test_progress_on_a_terminal_keeps_its_own_line(trained_model: Path, reviews: list[str]):
    long = " ".join(reviews[:20])  # longer than the model reads: a note after the progress line
    out, term = _terminal_stderr(["predict", "--model", str(trained_model), "--batch-size", "50"],
                                 "\n".join(reviews[:599] + [long]) + "\n")
    assert len(out.splitlines()) == 600
    visible = [line.rsplit("\r", 1)[-1] for line in term.split("\n") if line]  # what the terminal shows
    assert visible.count("sentiment: scored 600 texts") == 1
    notes = [line for line in visible if "truncated" in line]
    assert len(notes) == 1 and notes[0].startswith("sentiment: ") and "scored" not in notes[0]  # own line


def test_no_progress_when_results_go_to_the_same_terminal(trained_model: Path, reviews: list[str]):
    _, term = _terminal_stderr(["predict", "--model", str(trained_model), "--batch-size", "50"],
                               "\n".join(reviews[:600]) + "\n", stdout_too=True)
    assert "scored" not in term
    assert term.count("\n") >= 600  # the results themselves
