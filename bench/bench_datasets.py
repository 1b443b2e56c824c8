"""Accuracy and training time across datasets: each contender trained and scored on each dataset.

Datasets (binary views; every file is read the way `sentiment train` reads it, data.load_labeled,
from a temporary .csv.gz of the split, with the positive label "positive"):

- imdb: the bundled split, data/imdb_train.csv.gz (train) and data/imdb_test.csv.gz (test).
- blitzer_{books,dvd,electronics,kitchen}: blitzer_amazon_<domain>.csv.gz, split 80/20
  (sklearn train_test_split, stratified on the label, random_state=0).
- semeval_binary: SemEval Twitter message polarity with the neutral tweets dropped. Trained on the
  union of the train and dev files of 2013-2016: semeval2013_task2a_twitter_{train,dev},
  semeval2015_task10a_twitter_train, semeval2016_task4a_twitter_{train,dev,devtest}; tested on
  semeval2016_task4a_twitter_test. Left out: the 2013-2015 test sets (kept unseen for later
  cross-year views), the 2013 SMS and 2014 LiveJournal sets (other genres) and the 2014 sarcasm set.
  Texts are kept as published (no de-duplication; the JSON counts test texts also in training).
- phrasebank_binary: financial_phrasebank_50agree.csv.gz with the neutral sentences dropped,
  split 80/20 stratified, random_state=0.

The files come from --datasets-dir (default ../shared/datasets/dev beside the repository, see its
README for sources and licences); a missing file skips its dataset with a logged note.

Contenders, one at a time (the machine has 2 cores; nothing runs in parallel):

- tfidf+logreg: sentiment_cli/baseline.py (fit_baseline with the default config's validation split),
- fasttext: fastText supervised (a benchmark-only extra: pip install '.[bench]'), wordNgrams=2,
  epoch=25, lr=1.0 (its tutorial's settings), dim=50, thread=2, seed=0, other settings its defaults, on every training row
  (no validation split), over the texts split into words as our tokenizer does (strip_html=True);
  threshold 0.5. With 2 threads fastText is not bit-for-bit repeatable. Its params count the
  input matrix including the 2,000,000 hashed bigram buckets: most of them are never touched,
- lecture, default, best: configs/lecture.yaml, the schema defaults (with each --set), and
  configs/best.yaml, through training.train (the code `sentiment train` runs, minus writing the
  model directory), scored with training.predict_texts at the model's threshold,
- each --configs NAME=PATH.

Wall training seconds are training.train's own (after tokenizing, word vectors included); CPU
seconds are time.process_time from the same start to train's return (so they also cover scoring
the validation split, a small part). The baseline's wall clock covers fitting only, its CPU clock
also scoring; fastText's both cover train_supervised only. Macro-F1 averages the F1 of both
classes (test_f1 in the JSON is the positive class's). When a trained model reports parts
(TrainOutput.parts, copied into the JSON, and training.predict_parts: part -> test probabilities,
scored at threshold 0.5), each part's test accuracy is in the JSON and, for the default, in lines
under the table: what the recurrent part adds over the wide part alone.

Targets (PASS/FAIL each; exit 1 on any FAIL in a full run, and on any contender error always):
  1. on every dataset the default's test accuracy >= tfidf+logreg's and >= lecture's;
  2. on imdb the default trains in no more wall time than lecture;
  3. best >= tfidf+logreg on every dataset, and best's mean accuracy >= the baseline's mean + 0.01.

    python bench/bench_datasets.py                                  # everything: long, on 2 cores
    python bench/bench_datasets.py --quick                          # 400/200 rows, 1 epoch: smoke
    python bench/bench_datasets.py --quick --only blitzer_books semeval_binary --contenders default fasttext
    python bench/bench_datasets.py --only blitzer_dvd --set training.batch_size=32 --configs small=my.yaml

Writes bench/out/datasets.json (datasets-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sentiment_cli.config import Config, load_config  # noqa: E402
from sentiment_cli.data import LabeledData, load_labeled  # noqa: E402

log = logging.getLogger("sentiment")
DEFAULT_DATASETS_DIR = ROOT.parent / "shared" / "datasets" / "dev"
QUICK_TRAIN, QUICK_TEST = 400, 200
SPLIT_SEED, TEST_SIZE = 0, 0.2
POSITIVE, NEGATIVE = "positive", "negative"
BEST_MARGIN = 0.01  # best's mean accuracy over datasets must beat the baseline's by this much
CONTENDERS = ("tfidf+logreg", "fasttext", "lecture", "default", "best")
# The fastText tutorial's text-classification settings (lr 1.0, 25 epochs, word bigrams); at its
# default lr of 0.1, 25 epochs underfit 1,600 reviews (0.695 on blitzer_books).
FASTTEXT_SETTINGS: dict[str, Any] = {"wordNgrams": 2, "epoch": 25, "lr": 1.0, "dim": 50, "thread": 2, "seed": 0}
FASTTEXT_DISTRIBUTIONS = ("fasttext-numpy2", "fasttext", "fasttext-wheel")


# -- datasets --------------------------------------------------------------------------------------
@dataclass
class Dataset:
    """One benchmark task: training and test rows of one view (binary for now) of one source."""

    name: str
    train: LabeledData
    test: LabeledData
    note: str
    view: str = "binary"
    files: list[str] = field(default_factory=list)


@dataclass
class Split:
    """What a source function returns: each side a file to read as is, or a frame to write first."""

    train: Any  # Path or pandas.DataFrame with columns text,label
    test: Any
    note: str
    files: list[Path]


class MissingData(Exception):
    """A dataset's file is not there: the dataset is skipped, not the run."""


def read_frame(path: Path) -> Any:
    import pandas as pd

    if not path.exists():
        raise MissingData(f"{path} not found")
    return pd.read_csv(path, dtype=str, keep_default_na=False, compression="gzip")


def split_frame(df: Any) -> tuple[Any, Any]:
    """80/20, stratified on the label, fixed seed."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(df, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=df["label"])
    return train, test


def source_imdb(_: Path) -> Split:
    files = [ROOT / "data" / "imdb_train.csv.gz", ROOT / "data" / "imdb_test.csv.gz"]
    for f in files:
        if not f.exists():
            raise MissingData(f"{f} not found")
    return Split(files[0], files[1], "the bundled IMDB split (Maas et al. 2011)", files)


def source_blitzer(domain: str, datasets_dir: Path) -> Split:
    path = datasets_dir / f"blitzer_amazon_{domain}.csv.gz"
    train, test = split_frame(read_frame(path))
    return Split(train, test, f"Amazon {domain} (Blitzer et al. 2007), 80/20", [path])


SEMEVAL_TRAIN = ("semeval2013_task2a_twitter_train", "semeval2013_task2a_twitter_dev",
                 "semeval2015_task10a_twitter_train", "semeval2016_task4a_twitter_train",
                 "semeval2016_task4a_twitter_dev", "semeval2016_task4a_twitter_devtest")
SEMEVAL_TEST = "semeval2016_task4a_twitter_test"


def source_semeval(datasets_dir: Path) -> Split:
    import pandas as pd

    train_files = [datasets_dir / f"{name}.csv.gz" for name in SEMEVAL_TRAIN]
    test_file = datasets_dir / f"{SEMEVAL_TEST}.csv.gz"
    train = pd.concat([read_frame(f) for f in train_files], ignore_index=True)
    return Split(train, read_frame(test_file), "SemEval Twitter 2013-2016 train+dev, 2016 test",
                 [*train_files, test_file])


def source_phrasebank(datasets_dir: Path) -> Split:
    path = datasets_dir / "financial_phrasebank_50agree.csv.gz"
    df = read_frame(path)
    # Split after the view is taken so the 80/20 is stratified over the two classes kept.
    train, test = split_frame(binary_view(df))
    return Split(train, test, "Financial PhraseBank 50Agree (Malo et al. 2014), 80/20", [path])


def binary_view(df: Any) -> Any:
    """Rows labelled negative or positive (neutral and anything else dropped)."""
    labels = df["label"].str.strip().str.casefold()
    return df[labels.isin([NEGATIVE, POSITIVE])]


# name -> (source function of datasets_dir, view). A multi-class view is another entry whose view
# keeps every label (and a LabeledData that can hold more than two classes).
DATASETS: dict[str, tuple[Callable[[Path], Split], str]] = {
    "imdb": (source_imdb, "binary"),
    **{f"blitzer_{d}": (partial(source_blitzer, d), "binary") for d in ("books", "dvd", "electronics", "kitchen")},
    "semeval_binary": (source_semeval, "binary"),
    "phrasebank_binary": (source_phrasebank, "binary"),
}
VIEWS: dict[str, Callable[[Any], Any]] = {"binary": binary_view}


def materialize(side: Any, tmp: Path, stem: str, view: str) -> Path:
    """A path to read with load_labeled: the file itself, or the frame's view written as .csv.gz."""
    if isinstance(side, Path):
        return side
    path = tmp / f"{stem}.csv.gz"
    VIEWS[view](side)[["text", "label"]].to_csv(path, index=False,
                                               compression={"method": "gzip", "compresslevel": 1})
    return path


def load_dataset(name: str, datasets_dir: Path, tmp: Path) -> Dataset:
    source, view = DATASETS[name]
    split = source(datasets_dir)
    train_path = materialize(split.train, tmp, f"{name}_train", view)
    test_path = materialize(split.test, tmp, f"{name}_test", view)
    train = load_labeled(train_path, "text", "label", positive_label=POSITIVE)
    test = load_labeled(test_path, "text", "label", encoding=train.encoding)
    train.source, test.source = f"{name}:train", f"{name}:test"
    return Dataset(name, train, test, split.note, view, [str(f) for f in split.files])


def subset(data: LabeledData, n: int, seed: int = SPLIT_SEED) -> LabeledData:
    """A stratified sample of n rows (in their original order), or everything when n >= len."""
    if n >= len(data):
        return data
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(np.arange(len(data)), train_size=n, random_state=seed, stratify=data.y)
    idx = np.sort(idx)
    return LabeledData(texts=[data.texts[i] for i in idx], y=data.y[idx], encoding=data.encoding,
                       source=f"{data.source}[{n} rows]")


def describe(ds: Dataset) -> dict[str, Any]:
    in_train = set(ds.train.texts)
    return {"name": ds.name, "view": ds.view, "note": ds.note, "files": ds.files,
            "train_rows": len(ds.train), "test_rows": len(ds.test),
            "train_positive_rate": round(float(np.mean(ds.train.y)), 4),
            "test_positive_rate": round(float(np.mean(ds.test.y)), 4),
            "test_texts_in_train": int(sum(t in in_train for t in ds.test.texts)),
            "labels": ds.train.encoding.to_dict()}


# -- metrics ---------------------------------------------------------------------------------------
def macro_f1(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(np.asarray(y, dtype=int), (np.asarray(p) >= threshold).astype(int), average="macro",
                          labels=[0, 1], zero_division=0))


def macro_f1_from_confusion(cm: list[list[int]] | None) -> float | None:
    """Macro-F1 from a 2x2 confusion matrix [[tn, fp], [fn, tp]] (rows true, columns predicted)."""
    if not cm or len(cm) != 2:
        return None
    (tn, fp), (fn, tp) = cm
    f1_pos = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0
    f1_neg = 2 * tn / (2 * tn + fn + fp) if (2 * tn + fn + fp) else 0.0
    return float((f1_pos + f1_neg) / 2)


def scored_row(name: str, y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    from sentiment_cli.metrics import classification_report

    report = classification_report(y, p, threshold)
    return {"contender": name, "test_accuracy": report["accuracy"], "macro_f1": macro_f1(y, p, threshold),
            "test_f1": report["f1"], "roc_auc": report["roc_auc"], "threshold": float(threshold),
            "confusion_matrix": report["confusion_matrix"]}


# -- contenders ------------------------------------------------------------------------------------
def cpu_clock() -> tuple[Callable[[Any], list[Any]], dict[str, float]]:
    """(extra_callbacks factory for training.train, record): the factory notes the process CPU time
    when training.train calls it, just before it starts its own clock (after tokenizing)."""
    record: dict[str, float] = {}

    def factory(tokenizer: Any) -> list[Any]:
        record["start"] = time.process_time()
        return []

    return factory, record


def jsonable(value: Any) -> Any:
    """Plain JSON types for whatever a TrainOutput field holds (numpy scalars and arrays included)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def run_neural(name: str, cfg: Config, ds: Dataset) -> dict[str, Any]:
    from sentiment_cli import training

    factory, clock = cpu_clock()
    cpu0 = time.process_time()
    result = training.train(cfg, ds.train, verbose=0, extra_callbacks=factory)
    cpu_end = time.process_time()
    predict = getattr(training, "predict_texts", None)
    if predict is None:  # older training.py
        from sentiment_cli.metrics import apply_temperature

        def predict(r: Any, texts: list[str]) -> np.ndarray:
            return apply_temperature(training.predict_proba(r.model, r.tokenizer.encode(texts)), r.temperature)

    p = np.asarray(predict(result, ds.test.texts), dtype=np.float64).reshape(-1)
    row = scored_row(name, ds.test.y, p, result.threshold)
    row.update({
        "kind": "neural",
        "validation_accuracy": float(np.mean((np.asarray(result.val_p) >= result.threshold)
                                             == np.asarray(result.val_y))),
        "train_seconds": round(float(result.seconds), 2),
        "train_cpu_seconds": round(cpu_end - clock.get("start", cpu0), 2),
        "epochs_run": result.epochs_run, "best_epoch": getattr(result, "best_epoch", None),
        "params": int(result.params), "config": cfg.to_dict(),
    })
    parts = getattr(result, "parts", None)
    if isinstance(parts, dict) and parts:
        row["parts"] = jsonable(parts)  # as training.train reports them (validation accuracies and more)
    predict_parts = getattr(training, "predict_parts", None)
    if callable(predict_parts):
        part_p = predict_parts(result, ds.test.texts)
        row["parts_test_accuracy"] = {
            str(k): float(np.mean((np.asarray(v, dtype=np.float64).reshape(-1) >= 0.5).astype(int) == ds.test.y))
            for k, v in part_p.items()}
    del result
    return row


def run_baseline(cfg: Config, ds: Dataset) -> dict[str, Any]:
    from sentiment_cli.baseline import NAME, fit_baseline

    cpu0 = time.process_time()
    report = fit_baseline(cfg, ds.train, ds.test)  # CPU time includes scoring validation and test: small
    cpu = time.process_time() - cpu0
    test = report["test"]
    mf1 = test.get("macro_f1")
    if mf1 is None:
        mf1 = macro_f1_from_confusion(test.get("confusion_matrix"))
    return {"contender": NAME, "kind": "baseline", "test_accuracy": test["accuracy"], "macro_f1": mf1,
            "test_f1": test["f1"], "roc_auc": test["roc_auc"], "threshold": report.get("threshold"),
            "confusion_matrix": test.get("confusion_matrix"),
            "validation_accuracy": report["validation"]["accuracy"], "train_seconds": report["train_seconds"],
            "train_cpu_seconds": round(cpu, 2), "epochs_run": None, "params": report["params"]}


def import_fasttext() -> tuple[Any, str | None]:
    """(the fasttext module or None, the distribution and version that provided it)."""
    try:
        import fasttext
    except ImportError:
        return None, None
    from importlib import metadata

    for dist in FASTTEXT_DISTRIBUTIONS:
        try:
            return fasttext, f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return fasttext, "fasttext (unknown distribution)"


def positive_probability(scores: dict[str, float]) -> float:
    """P(__label__1) from fastText's top-k answer (0.5 when it returned nothing, e.g. no words)."""
    if "__label__1" in scores:
        return float(scores["__label__1"])
    return 1.0 - float(scores["__label__0"]) if "__label__0" in scores else 0.5


def run_fasttext(fasttext: Any, ds: Dataset, tmp: Path) -> dict[str, Any]:
    from sentiment_cli.tokenizer import Tokenizer

    splitter = Tokenizer(strip_html=True)

    def line(text: str) -> str:
        return " ".join(splitter.words(text))

    path = tmp / f"{ds.name}_fasttext_train.txt"
    with open(path, "w", encoding="utf-8") as f:
        for text, y in zip(ds.train.texts, ds.train.y):
            f.write(f"__label__{int(y)} {line(text)}\n")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    model = fasttext.train_supervised(str(path), verbose=0, **FASTTEXT_SETTINGS)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    labels, probs = model.predict([line(t) for t in ds.test.texts], k=2)
    p = np.clip([positive_probability(dict(zip(lab, pr))) for lab, pr in zip(labels, probs)], 0.0, 1.0)
    row = scored_row("fasttext", ds.test.y, p, 0.5)
    dim = model.get_dimension()
    n_input = model.get_input_matrix().shape[0] if hasattr(model, "get_input_matrix") else len(model.words)
    row.update({"kind": "fasttext", "validation_accuracy": None, "train_seconds": round(wall, 2),
                "train_cpu_seconds": round(cpu, 2), "epochs_run": None,
                "params": int(n_input * dim + len(model.labels) * dim), "words": len(model.words),
                "settings": dict(FASTTEXT_SETTINGS)})
    return row


# -- checks and output -----------------------------------------------------------------------------
def mean_accuracy(rows: list[dict[str, Any]], contender: str, datasets: list[str]) -> float | None:
    values = [r["test_accuracy"] for r in rows if r["contender"] == contender and r["dataset"] in datasets
              and r.get("test_accuracy") is not None]
    return statistics.fmean(values) if values and len(values) == len(datasets) else None


def checks(rows: list[dict[str, Any]], datasets: list[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    acc = {(r["dataset"], r["contender"]): r for r in rows if r.get("test_accuracy") is not None}

    def add(target: str, ok: bool | None, detail: str) -> None:
        out.append({"target": target, "status": "SKIP" if ok is None else "PASS" if ok else "FAIL", "detail": detail})

    def at_least(a: str, b: str, ds: str) -> None:
        ra, rb = acc.get((ds, a)), acc.get((ds, b))
        target = f"{ds}: {a} test accuracy >= {b}'s"
        if ra is None or rb is None:
            add(target, None, f"{a if ra is None else b} not run")
            return
        x, y = ra["test_accuracy"], rb["test_accuracy"]
        add(target, x >= y, f"{x:.4f} vs {y:.4f} ({x - y:+.4f})")

    for ds in datasets:
        at_least("default", "tfidf+logreg", ds)
        at_least("default", "lecture", ds)
    if "imdb" in datasets:
        d, lec = acc.get(("imdb", "default")), acc.get(("imdb", "lecture"))
        target = "imdb: default trains in no more wall time than lecture"
        if d is None or lec is None:
            add(target, None, "default or lecture not run")
        else:
            add(target, d["train_seconds"] <= lec["train_seconds"],
                f"{d['train_seconds']:.1f}s vs {lec['train_seconds']:.1f}s "
                f"(ratio {d['train_seconds'] / max(lec['train_seconds'], 1e-9):.2f})")
    for ds in datasets:
        at_least("best", "tfidf+logreg", ds)
    both = [ds for ds in datasets if (ds, "best") in acc and (ds, "tfidf+logreg") in acc]
    target = f"best's mean test accuracy >= tfidf+logreg's mean + {BEST_MARGIN}"
    if not both:
        add(target, None, "best or tfidf+logreg not run")
    else:
        mb, ml = mean_accuracy(rows, "best", both), mean_accuracy(rows, "tfidf+logreg", both)
        add(target, mb >= ml + BEST_MARGIN - 1e-12,
            f"{mb:.4f} vs {ml:.4f} ({mb - ml:+.4f}) over {len(both)} dataset(s)")
    return out


def _f(value: Any, width: int, spec: str) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def format_table(rows: list[dict[str, Any]], datasets: list[str], contenders: list[str]) -> str:
    dw = max(len("dataset"), len("mean (8)"), *(len(d) for d in datasets))
    cw = max(len("contender"), *(len(c) for c in contenders))
    header = (f"{'dataset':<{dw}}  {'contender':<{cw}}  {'acc':>6}  {'mF1':>6}  {'auc':>6}  {'val_acc':>7}  "
              f"{'train_s':>7}  {'cpu_s':>7}  {'ep':>2}  {'params':>11}")
    lines = [header, "-" * len(header)]
    for ds in datasets:
        first = True
        for r in (r for r in rows if r["dataset"] == ds):
            label = ds if first else ""
            first = False
            if r.get("status") in ("SKIP", "ERROR"):
                lines.append(f"{label:<{dw}}  {r['contender']:<{cw}}  {r['status']}: {r.get('reason', '')}"[:110])
                continue
            lines.append(f"{label:<{dw}}  {r['contender']:<{cw}}  {_f(r['test_accuracy'], 6, '.4f')}  "
                         f"{_f(r['macro_f1'], 6, '.4f')}  {_f(r['roc_auc'], 6, '.4f')}  "
                         f"{_f(r.get('validation_accuracy'), 7, '.4f')}  {_f(r['train_seconds'], 7, '.1f')}  "
                         f"{_f(r['train_cpu_seconds'], 7, '.1f')}  {_f(r.get('epochs_run'), 2, '')}  "
                         f"{_f(r['params'], 11, ',')}")
    lines.append("-" * len(header))
    for c in contenders:
        done = [r for r in rows if r["contender"] == c and r.get("test_accuracy") is not None]
        if not done:
            continue
        macro = [r["macro_f1"] for r in done if r.get("macro_f1") is not None]
        label = f"mean ({len(done)})"
        lines.append(f"{label:<{dw}}  {c:<{cw}}  {statistics.fmean(r['test_accuracy'] for r in done):>6.4f}  "
                     f"{_f(statistics.fmean(macro) if len(macro) == len(done) else None, 6, '.4f')}  "
                     f"{'':>6}  {'':>7}  {sum(r['train_seconds'] for r in done):>7.1f}  "
                     f"{sum(r['train_cpu_seconds'] for r in done):>7.1f}")
    lines.append("  mean: accuracy and macro-F1 averaged over the datasets run, train_s and cpu_s summed")
    with_parts = [r for r in rows if r["contender"] == "default" and r.get("parts_test_accuracy")]
    if with_parts:
        lines.append("  what the recurrent part adds: default's test accuracy minus its wide part's alone")
    for r in with_parts:
        parts = r["parts_test_accuracy"]
        shown = ", ".join(f"{k} {v:.4f}" for k, v in parts.items() if k != "combined")
        adds = f"{r['test_accuracy'] - parts['wide']:+.4f}" if "wide" in parts else "-"
        lines.append(f"  {r['dataset']:<{dw}}  {adds:>7}  (default {r['test_accuracy']:.4f}; alone at 0.5: {shown})")
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------------
def parse_pairs(items: list[str], what: str, parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            parser.error(f"{what} wants NAME=PATH, got {item!r}")
        pairs.append((name, value))
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_TRAIN} training / {QUICK_TEST} test rows per dataset and 1 epoch: a smoke run.")
    parser.add_argument("--only", nargs="+", choices=list(DATASETS), metavar="NAME",
                        help=f"Only these datasets ({', '.join(DATASETS)}).")
    parser.add_argument("--contenders", nargs="+", choices=list(CONTENDERS), metavar="NAME",
                        help=f"Only these built-in contenders ({', '.join(CONTENDERS)}); --configs are added.")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Config override for the default contender only (repeatable), e.g. model.units=64.")
    parser.add_argument("--configs", nargs="+", default=[], metavar="NAME=PATH",
                        help="Extra named contenders from YAML configs (paths or bundled config names).")
    parser.add_argument("--datasets-dir", type=Path, default=DEFAULT_DATASETS_DIR,
                        help=f"Folder of the dev datasets (default: {DEFAULT_DATASETS_DIR}).")
    parser.add_argument("--out", type=Path, default=None, help="JSON output (default: bench/out/datasets*.json).")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from sentiment_cli.cli import resolve_config_path, setup_logging

    setup_logging()
    logging.getLogger("tensorflow").setLevel(logging.ERROR)

    extra = ["training.epochs=1"] if args.quick else []
    wanted = list(args.contenders or CONTENDERS)
    # Neural contenders' configs, validated before any training starts.
    configs: dict[str, Config] = {}
    if "lecture" in wanted:
        configs["lecture"] = load_config(ROOT / "configs" / "lecture.yaml", extra)
    if "default" in wanted:
        configs["default"] = load_config(None, [*extra, *args.overrides])
    elif args.overrides:
        log.warning("bench: --set applies to the default contender, which is not run")
    if "best" in wanted:
        configs["best"] = load_config(ROOT / "configs" / "best.yaml", extra)
    extra_names = []
    for name, value in parse_pairs(args.configs, "--configs", parser):
        if name in CONTENDERS or name in extra_names:
            parser.error(f"--configs name {name!r} is taken")
        configs[name] = load_config(resolve_config_path(value), extra)
        extra_names.append(name)
    order = [c for c in CONTENDERS if c in wanted] + extra_names
    baseline_cfg = load_config(None, extra)  # the baseline's validation split: the plain default's

    fasttext, fasttext_version = (None, None)
    if "fasttext" in wanted:
        fasttext, fasttext_version = import_fasttext()
        if fasttext is None:
            log.warning("bench: no fastText binding importable; fasttext is skipped "
                        "(pip install '.[bench]')")
        else:
            log.info("bench: fastText from %s", fasttext_version)

    names = args.only or list(DATASETS)
    rows: list[dict[str, Any]] = []
    described: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-datasets-") as tmp_name:
        tmp = Path(tmp_name)
        for i, name in enumerate(names, 1):
            try:
                ds = load_dataset(name, args.datasets_dir, tmp)
            except MissingData as exc:
                log.warning("bench: skipping dataset %s: %s", name, exc)
                skipped.append({"name": name, "reason": str(exc)})
                continue
            if args.quick:
                ds.train, ds.test = subset(ds.train, QUICK_TRAIN), subset(ds.test, QUICK_TEST)
            info = describe(ds)
            described.append(info)
            log.info("bench: [%d/%d] dataset %s: %d training rows, %d test rows (%.0f%% positive), %s",
                     i, len(names), name, len(ds.train), len(ds.test), 100 * info["train_positive_rate"], ds.note)
            for contender in order:
                log.info("bench: %s / %s", name, contender)
                try:
                    if contender == "tfidf+logreg":
                        row = run_baseline(baseline_cfg, ds)
                    elif contender == "fasttext":
                        if fasttext is None:
                            row = {"contender": "fasttext", "status": "SKIP",
                                   "reason": "no fastText binding (pip install '.[bench]')"}
                        else:
                            row = run_fasttext(fasttext, ds, tmp)
                    else:
                        row = run_neural(contender, configs[contender], ds)
                except Exception as exc:  # noqa: BLE001 - one broken contender must not lose the others
                    log.error("bench: %s / %s failed:\n%s", name, contender, traceback.format_exc())
                    row = {"contender": contender, "status": "ERROR", "reason": f"{type(exc).__name__}: {exc}"}
                row = {"dataset": name, **row}
                row.setdefault("status", "OK")
                rows.append(row)
                if row["status"] == "OK":
                    log.info("bench: %s / %s: test accuracy %.4f, %.1fs (%.1f CPU s)", name, contender,
                             row["test_accuracy"], row["train_seconds"], row["train_cpu_seconds"])
                if contender in configs:
                    import keras

                    keras.backend.clear_session()
                    gc.collect()

    datasets = [d["name"] for d in described]
    results = checks(rows, datasets)
    print(format_table(rows, datasets, order))
    for s in skipped:
        print(f"  skipped {s['name']}: {s['reason']}")
    if described:
        print("  data: training / test rows, positive share of test, test texts also in training; source")
    width = max((len(d["name"]) for d in described), default=0)
    for d in described:
        print(f"  {d['name']:<{width}}  {d['train_rows']:>6,} / {d['test_rows']:<6,}  "
              f"{100 * d['test_positive_rate']:>3.0f}%  {d['test_texts_in_train']:>4}  {d['note']}")
    if args.overrides and "default" in configs:
        print(f"  default with --set {' --set '.join(args.overrides)}")
    print()
    for check in results:
        print(f"{check['status']:<5} {check['target']}: {check['detail']}")
    errors = [r for r in rows if r["status"] == "ERROR"]
    for r in errors:
        print(f"ERROR {r['dataset']} / {r['contender']}: {r['reason']}")
    if args.quick:
        print(f"(--quick: {QUICK_TRAIN} training / {QUICK_TEST} test rows and 1 epoch; "
              "the targets are meant for the full run)")

    out = args.out or ROOT / "bench" / "out" / ("datasets-quick.json" if args.quick else "datasets.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    from sentiment_cli.artifacts import library_versions

    versions = library_versions()
    if fasttext_version:
        versions["fasttext"] = fasttext_version
    means = {c: mean_accuracy(rows, c, [r["dataset"] for r in rows if r["contender"] == c
                                        and r.get("test_accuracy") is not None]) for c in order}
    out.write_text(json.dumps({
        "mode": "quick" if args.quick else "full", "cpus": os.cpu_count(), "versions": versions,
        "datasets_dir": str(args.datasets_dir), "split_seed": SPLIT_SEED, "test_size": TEST_SIZE,
        "overrides_default": args.overrides, "extra_configs": dict(parse_pairs(args.configs, "--configs", parser)),
        "fasttext_settings": FASTTEXT_SETTINGS, "seconds": round(time.perf_counter() - started, 1),
        "datasets": described, "skipped_datasets": skipped, "rows": rows,
        "mean_test_accuracy": means, "checks": results}, indent=2) + "\n")
    print(f"wrote {out}")
    failed = any(c["status"] == "FAIL" for c in results)
    return 1 if errors or (failed and not args.quick) else 0


if __name__ == "__main__":
    sys.exit(main())
