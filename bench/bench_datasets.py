"""Accuracy and training time across datasets: each contender trained and scored on each dataset.

Binary datasets (binary views; every file is read the way `sentiment train` reads it,
data.load_labeled, from a temporary .csv.gz of the split, with the positive label "positive"):

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

Multi-class datasets (multiclass views: every labelled row kept; read with data.load_labeled and
no positive label, so the classes are the file's label values, numeric ones in numeric order,
others sorted; run after the binary ones):

- semeval_3class: the same train and test files as semeval_binary, keeping negative / neutral /
  positive (classes in that order).
- phrasebank_3class: financial_phrasebank_50agree.csv.gz, all three classes, split 80/20
  stratified on the three labels, random_state=0.
- tripadvisor_5star: tripadvisor_hotel_reviews_5star.csv.gz, star ratings "1".."5" (five ordinal
  classes), split 80/20 stratified, random_state=0.

The files come from --datasets-dir (default ../shared/datasets/dev beside the repository, see its
README for sources and licences); a missing file skips its dataset with a logged note.

Contenders, one at a time (the machine has 2 cores; nothing runs in parallel):

- tfidf+logreg: sentiment_cli/baseline.py (fit_baseline with the default config's validation split),
- fasttext: fastText supervised (a benchmark-only extra: pip install '.[bench]'), wordNgrams=2,
  epoch=25, lr=1.0 (its tutorial's settings), dim=50, thread=2, seed=0, other settings its defaults, on every training row
  (no validation split), over the texts split into words as our tokenizer does (strip_html=True);
  threshold 0.5. Multi-class: one __label__<class name> per line, every class's probability
  (predict with k=-1) in class order, a class it never outputs at 0, a line it returns nothing
  for at 1/K each. With 2 threads fastText is not bit-for-bit repeatable. Its params count the
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

Multi-class scoring: every contender gives (n, K) class probabilities (training.predict_texts, the
baseline's multinomial logistic regression, fastText's k=-1), the predicted class is the most
probable one (no threshold; threshold, test_f1 and roc_auc are null in the JSON) and the row holds
metrics.multiclass_report's numbers: test_accuracy, macro_f1 (F1 averaged over the classes),
macro_recall (recall averaged over the classes: SemEval 2016/2017 task 4A's AvgRec), weighted_f1,
log_loss, brier, ece, per_class and the K x K confusion matrix; for the ordinal tripadvisor_5star
also mae, macro_mae (SemEval 2016 task 4C's MAE^M) and off_by_one_accuracy, in steps of one star.
Parts are scored by their most probable class too. The multi-class datasets are extra rows of the
table and have a second table of their own (macro-F1, macro-recall, MAE); the table's mean lines,
the JSON's mean_test_accuracy and the binary targets cover the binary datasets only (the
multi-class means are in the JSON's multiclass_means).

Targets (PASS/FAIL each; exit 1 on any FAIL in a full run, and on any contender error always).
On the binary datasets:
  1. on every binary dataset the default's test accuracy >= tfidf+logreg's and >= lecture's;
  2. on imdb the default trains in no more wall time than lecture;
  3. best >= tfidf+logreg on every binary dataset, and best's mean accuracy over them >= the
     baseline's mean + 0.01.
On the multi-class datasets ("the default beats the multinomial TF-IDF baseline on accuracy and
macro-F1 on all three multi-class dev datasets, and on SemEval reaches macro-averaged recall >= 0.60"):
  4. on every multi-class dataset the default's test accuracy >= tfidf+logreg's, and its macro-F1
     >= tfidf+logreg's;
  5. on semeval_3class the default's macro-averaged recall >= 0.60.

    python bench/bench_datasets.py                                  # everything: long, on 2 cores
    python bench/bench_datasets.py --quick                          # 400/200 rows, 1 epoch: smoke
    python bench/bench_datasets.py --quick --only blitzer_books semeval_binary --contenders default fasttext
    python bench/bench_datasets.py --only semeval_3class phrasebank_3class tripadvisor_5star  # multi-class
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
SEMEVAL_MIN_RECALL = 0.60  # the default's macro-averaged recall on semeval_3class (SemEval's AvgRec)
CONTENDERS = ("tfidf+logreg", "fasttext", "lecture", "default", "best")
# The fastText tutorial's text-classification settings (lr 1.0, 25 epochs, word bigrams); at its
# default lr of 0.1, 25 epochs underfit 1,600 reviews (0.695 on blitzer_books).
FASTTEXT_SETTINGS: dict[str, Any] = {"wordNgrams": 2, "epoch": 25, "lr": 1.0, "dim": 50, "thread": 2, "seed": 0}
FASTTEXT_DISTRIBUTIONS = ("fasttext-numpy2", "fasttext", "fasttext-wheel")


# -- datasets --------------------------------------------------------------------------------------
@dataclass
class Dataset:
    """One benchmark task: training and test rows of one view (binary or multiclass) of one source."""

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


def source_phrasebank(datasets_dir: Path, view: str = "binary") -> Split:
    path = datasets_dir / "financial_phrasebank_50agree.csv.gz"
    df = read_frame(path)
    # Split after the view is taken so the 80/20 is stratified over the classes kept.
    train, test = split_frame(VIEWS[view](df))
    return Split(train, test, "Financial PhraseBank 50Agree (Malo et al. 2014), 80/20", [path])


def source_tripadvisor(datasets_dir: Path) -> Split:
    path = datasets_dir / "tripadvisor_hotel_reviews_5star.csv.gz"
    train, test = split_frame(multiclass_view(read_frame(path)))
    return Split(train, test, "TripAdvisor hotel reviews 1-5 stars (Wang, Lu & Zhai 2011), 80/20", [path])


def binary_view(df: Any) -> Any:
    """Rows labelled negative or positive (neutral and anything else dropped)."""
    labels = df["label"].str.strip().str.casefold()
    return df[labels.isin([NEGATIVE, POSITIVE])]


def multiclass_view(df: Any) -> Any:
    """Every labelled row, all label values kept (negative/neutral/positive, "1".."5")."""
    return df[df["label"].str.strip() != ""]


# name -> (source function of datasets_dir, view). The multiclass views come last: a full run does
# the binary datasets first.
DATASETS: dict[str, tuple[Callable[[Path], Split], str]] = {
    "imdb": (source_imdb, "binary"),
    **{f"blitzer_{d}": (partial(source_blitzer, d), "binary") for d in ("books", "dvd", "electronics", "kitchen")},
    "semeval_binary": (source_semeval, "binary"),
    "phrasebank_binary": (source_phrasebank, "binary"),
    "semeval_3class": (source_semeval, "multiclass"),
    "phrasebank_3class": (partial(source_phrasebank, view="multiclass"), "multiclass"),
    "tripadvisor_5star": (source_tripadvisor, "multiclass"),
}
VIEWS: dict[str, Callable[[Any], Any]] = {"binary": binary_view, "multiclass": multiclass_view}


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
    # Binary views name their positive class; multiclass ones keep the file's classes in load_labeled's order.
    train = load_labeled(train_path, "text", "label", positive_label=POSITIVE if view == "binary" else None)
    test = load_labeled(test_path, "text", "label", encoding=train.encoding)
    train.source, test.source = f"{name}:train", f"{name}:test"
    return Dataset(name, train, test, split.note, view, [str(f) for f in split.files])


def subset(data: LabeledData, n: int, seed: int = SPLIT_SEED) -> LabeledData:
    """A sample of n rows (in their original order), or everything when n >= len: stratified on the
    class (any number of classes) unless a class has a single row or there are more classes than
    rows on either side, where train_test_split cannot stratify (then a plain random sample)."""
    if n >= len(data):
        return data
    from sklearn.model_selection import train_test_split

    counts = np.bincount(data.y)
    k = int(np.count_nonzero(counts))
    stratify = data.y if counts[counts > 0].min() >= 2 and min(n, len(data) - n) >= k else None
    idx, _ = train_test_split(np.arange(len(data)), train_size=n, random_state=seed, stratify=stratify)
    idx = np.sort(idx)
    return LabeledData(texts=[data.texts[i] for i in idx], y=data.y[idx], encoding=data.encoding,
                       source=f"{data.source}[{n} rows]")


def class_shares(data: LabeledData) -> dict[str, float]:
    """Each class's share of the rows, in class order."""
    counts = np.bincount(data.y, minlength=data.encoding.n_classes)
    return {c: round(float(n) / max(len(data), 1), 4) for c, n in zip(data.encoding.classes, counts)}


def shares_text(shares: dict[str, float]) -> str:
    """"negative 16% / neutral 48% / positive 36%"."""
    return " / ".join(f"{c} {100 * v:.0f}%" for c, v in shares.items())


def describe(ds: Dataset) -> dict[str, Any]:
    in_train = set(ds.train.texts)
    info = {"name": ds.name, "view": ds.view, "note": ds.note, "files": ds.files,
            "train_rows": len(ds.train), "test_rows": len(ds.test),
            "train_positive_rate": round(float(np.mean(ds.train.y)), 4),
            "test_positive_rate": round(float(np.mean(ds.test.y)), 4),
            "test_texts_in_train": int(sum(t in in_train for t in ds.test.texts)),
            "labels": ds.train.encoding.to_dict()}
    if not ds.train.encoding.binary:  # no positive class: each class's share instead
        info.update({"train_positive_rate": None, "test_positive_rate": None,
                     "train_class_shares": class_shares(ds.train), "test_class_shares": class_shares(ds.test)})
    return info


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


# multiclass_report's numbers copied into a multi-class row (beside test_accuracy and macro_f1);
# the ordinal ones only for an ordinal encoding (stars).
MULTICLASS_KEYS = ("macro_recall", "weighted_f1", "log_loss", "brier", "ece", "per_class")
ORDINAL_KEYS = ("mae", "macro_mae", "off_by_one_accuracy")


def multiclass_fields(report: dict[str, Any], ordinal: bool) -> dict[str, Any]:
    """A multi-class row's scores from a metrics.multiclass_report dict: no threshold, F1 of a
    positive class or ROC AUC (null), the most probable class is the prediction."""
    row = {"test_accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "test_f1": None,
           "roc_auc": None, "threshold": None, "confusion_matrix": report.get("confusion_matrix")}
    row.update({k: report.get(k) for k in MULTICLASS_KEYS})
    if ordinal:
        row.update({k: report.get(k) for k in ORDINAL_KEYS})
    return row


def scored_row_multiclass(name: str, y: np.ndarray, proba: np.ndarray, encoding: Any) -> dict[str, Any]:
    """scored_row for K >= 3: (n, K) probabilities in encoding.classes order, argmax."""
    from sentiment_cli.metrics import multiclass_report

    report = multiclass_report(y, proba, list(encoding.classes), ordinal=encoding.ordinal)
    return {"contender": name, **multiclass_fields(report, encoding.ordinal)}


def predicted(p: np.ndarray, threshold: float) -> np.ndarray:
    """Class indices: score >= threshold for (n,) scores, the most probable class of (n, K) ones."""
    p = np.asarray(p, dtype=np.float64)
    return (p >= threshold).astype(int) if p.ndim == 1 else p.argmax(axis=1)


def as_scores(p: Any, n_classes: int) -> np.ndarray:
    """A model's test probabilities as (n,) for two classes, (n, K) for more."""
    p = np.asarray(p, dtype=np.float64)
    return p.reshape(-1) if n_classes == 2 else p.reshape(-1, n_classes)


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

    encoding = ds.train.encoding
    if encoding.binary:
        p = np.asarray(predict(result, ds.test.texts), dtype=np.float64).reshape(-1)
        row = scored_row(name, ds.test.y, p, result.threshold)
        val_accuracy = float(np.mean((np.asarray(result.val_p) >= result.threshold) == np.asarray(result.val_y)))
    else:  # (n, K) calibrated probabilities, the most probable class
        p = as_scores(predict(result, ds.test.texts), encoding.n_classes)
        row = scored_row_multiclass(name, ds.test.y, p, encoding)
        val_accuracy = float(np.mean(predicted(as_scores(result.val_p, encoding.n_classes), 0.5)
                                     == np.asarray(result.val_y)))
    row.update({
        "kind": "neural",
        "validation_accuracy": val_accuracy,
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
        if encoding.binary:
            row["parts_test_accuracy"] = {
                str(k): float(np.mean((np.asarray(v, dtype=np.float64).reshape(-1) >= 0.5).astype(int) == ds.test.y))
                for k, v in part_p.items()}
        else:  # each part's most probable class
            row["parts_test_accuracy"] = {
                str(k): float(np.mean(predicted(as_scores(v, encoding.n_classes), 0.5) == ds.test.y))
                for k, v in part_p.items()}
    del result
    return row


def run_baseline(cfg: Config, ds: Dataset) -> dict[str, Any]:
    from sentiment_cli.baseline import NAME, fit_baseline

    cpu0 = time.process_time()
    report = fit_baseline(cfg, ds.train, ds.test)  # CPU time includes scoring validation and test: small
    cpu = time.process_time() - cpu0
    test = report["test"]
    if not ds.train.encoding.binary:  # test: a multiclass_report of the multinomial regression
        return {"contender": NAME, "kind": "baseline", **multiclass_fields(test, ds.train.encoding.ordinal),
                "validation_accuracy": report["validation"]["accuracy"], "train_seconds": report["train_seconds"],
                "train_cpu_seconds": round(cpu, 2), "epochs_run": None, "params": report["params"]}
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


def fasttext_label(name: str) -> str:
    """A class name as a fastText label (whitespace would end the label)."""
    return "__label__" + "_".join(str(name).split())


def class_probabilities(labels: list[Any], probs: list[Any], classes: tuple[str, ...]) -> np.ndarray:
    """(n, K) from fastText's k=-1 answers, columns in class order: a class it never outputs gets 0,
    a line it returns nothing for (no words) 1/K each; clipped to [0, 1] (float32 sums)."""
    column = {fasttext_label(c): i for i, c in enumerate(classes)}
    if len(column) < len(classes):
        raise ValueError(f"class names {list(classes)} collide as fastText labels")
    out = np.zeros((len(labels), len(classes)), dtype=np.float64)
    for row, (lab, pr) in enumerate(zip(labels, probs)):
        if len(lab) == 0:
            out[row] = 1.0 / len(classes)
        for name, value in zip(lab, pr):
            if name in column:
                out[row, column[name]] = float(value)
    return np.clip(out, 0.0, 1.0)


def run_fasttext(fasttext: Any, ds: Dataset, tmp: Path) -> dict[str, Any]:
    from sentiment_cli.tokenizer import Tokenizer

    splitter = Tokenizer(strip_html=True)

    def line(text: str) -> str:
        return " ".join(splitter.words(text))

    encoding = ds.train.encoding
    path = tmp / f"{ds.name}_fasttext_train.txt"
    with open(path, "w", encoding="utf-8") as f:
        for text, y in zip(ds.train.texts, ds.train.y):
            label = f"__label__{int(y)}" if encoding.binary else fasttext_label(encoding.classes[int(y)])
            f.write(f"{label} {line(text)}\n")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    model = fasttext.train_supervised(str(path), verbose=0, **FASTTEXT_SETTINGS)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if encoding.binary:
        labels, probs = model.predict([line(t) for t in ds.test.texts], k=2)
        p = np.clip([positive_probability(dict(zip(lab, pr))) for lab, pr in zip(labels, probs)], 0.0, 1.0)
        row = scored_row("fasttext", ds.test.y, p, 0.5)
    else:  # every class's probability, the most probable class
        labels, probs = model.predict([line(t) for t in ds.test.texts], k=-1)
        row = scored_row_multiclass("fasttext", ds.test.y, class_probabilities(labels, probs, encoding.classes),
                                    encoding)
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


def checks(rows: list[dict[str, Any]], datasets: list[str],
           multiclass: list[str] | None = None) -> list[dict[str, str]]:
    """Targets 1-3 over the binary `datasets`, then 4-5 over the `multiclass` ones (module docstring)."""
    out: list[dict[str, str]] = []
    acc = {(r["dataset"], r["contender"]): r for r in rows if r.get("test_accuracy") is not None}

    def add(target: str, ok: bool | None, detail: str) -> None:
        out.append({"target": target, "status": "SKIP" if ok is None else "PASS" if ok else "FAIL", "detail": detail})

    def at_least(a: str, b: str, ds: str, metric: str = "test_accuracy", what: str = "test accuracy") -> None:
        ra, rb = acc.get((ds, a)), acc.get((ds, b))
        target = f"{ds}: {a} {what} >= {b}'s"
        if ra is None or rb is None:
            add(target, None, f"{a if ra is None else b} not run")
            return
        x, y = ra.get(metric), rb.get(metric)
        if x is None or y is None:
            add(target, None, f"no {what} for {a if x is None else b}")
            return
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
        if datasets or not multiclass:  # not reported at all for a run of multi-class datasets only
            add(target, None, "best or tfidf+logreg not run")
    else:
        mb, ml = mean_accuracy(rows, "best", both), mean_accuracy(rows, "tfidf+logreg", both)
        add(target, mb >= ml + BEST_MARGIN - 1e-12,
            f"{mb:.4f} vs {ml:.4f} ({mb - ml:+.4f}) over {len(both)} dataset(s)")
    for ds in multiclass or []:
        at_least("default", "tfidf+logreg", ds)
        at_least("default", "tfidf+logreg", ds, "macro_f1", "macro-F1")
    if "semeval_3class" in (multiclass or []):
        d = acc.get(("semeval_3class", "default"))
        target = f"semeval_3class: default macro-averaged recall >= {SEMEVAL_MIN_RECALL:.2f}"
        if d is None or d.get("macro_recall") is None:
            add(target, None, "default not run")
        else:
            x = d["macro_recall"]
            add(target, x >= SEMEVAL_MIN_RECALL, f"{x:.4f} ({x - SEMEVAL_MIN_RECALL:+.4f})")
    return out


def _f(value: Any, width: int, spec: str) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def format_table(rows: list[dict[str, Any]], datasets: list[str], contenders: list[str],
                 multiclass: list[str] | None = None) -> str:
    """The table: binary `datasets` then `multiclass` ones, one line per contender; mean lines over
    the binary datasets; then the multi-class table (format_multiclass_table)."""
    multiclass = list(multiclass or [])
    dw = max(len("dataset"), len("mean (8)"), *(len(d) for d in [*datasets, *multiclass]))
    cw = max(len("contender"), *(len(c) for c in contenders))
    header = (f"{'dataset':<{dw}}  {'contender':<{cw}}  {'acc':>6}  {'mF1':>6}  {'auc':>6}  {'val_acc':>7}  "
              f"{'train_s':>7}  {'cpu_s':>7}  {'ep':>2}  {'params':>11}")
    lines = [header, "-" * len(header)]

    def dataset_lines(ds: str) -> None:
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

    for ds in datasets:
        dataset_lines(ds)
    if multiclass:
        lines.append("  multi-class (the most probable class; mF1 averages the F1 of the K classes):")
    for ds in multiclass:
        dataset_lines(ds)
    lines.append("-" * len(header))
    if datasets or not multiclass:
        for c in contenders:
            done = [r for r in rows if r["contender"] == c and r["dataset"] in datasets
                    and r.get("test_accuracy") is not None]
            if not done:
                continue
            macro = [r["macro_f1"] for r in done if r.get("macro_f1") is not None]
            label = f"mean ({len(done)})"
            lines.append(f"{label:<{dw}}  {c:<{cw}}  {statistics.fmean(r['test_accuracy'] for r in done):>6.4f}  "
                         f"{_f(statistics.fmean(macro) if len(macro) == len(done) else None, 6, '.4f')}  "
                         f"{'':>6}  {'':>7}  {sum(r['train_seconds'] for r in done):>7.1f}  "
                         f"{sum(r['train_cpu_seconds'] for r in done):>7.1f}")
        lines.append(f"  mean: accuracy and macro-F1 averaged over the {'binary ' if multiclass else ''}datasets run, "
                     "train_s and cpu_s summed")
    with_parts = [r for r in rows if r["contender"] == "default" and r.get("parts_test_accuracy")]
    if with_parts:
        lines.append("  what the recurrent part adds: default's test accuracy minus its wide part's alone")
    for r in with_parts:
        parts = r["parts_test_accuracy"]
        shown = ", ".join(f"{k} {v:.4f}" for k, v in parts.items() if k != "combined")
        adds = f"{r['test_accuracy'] - parts['wide']:+.4f}" if "wide" in parts else "-"
        how = "alone, most probable class" if r["dataset"] in multiclass else "alone at 0.5"
        lines.append(f"  {r['dataset']:<{dw}}  {adds:>7}  (default {r['test_accuracy']:.4f}; {how}: {shown})")
    if multiclass:
        lines.extend(["", format_multiclass_table(rows, multiclass, contenders)])
    return "\n".join(lines)


def format_multiclass_table(rows: list[dict[str, Any]], datasets: list[str], contenders: list[str]) -> str:
    """The multi-class rows again with their own measures: macro-F1, macro-averaged recall
    (SemEval's AvgRec), weighted F1 and, for ordinal classes (stars), MAE, macro-MAE and the share
    within one step; mean lines over the multi-class datasets."""
    dw = max(len("dataset"), len("mean (8)"), *(len(d) for d in datasets))
    cw = max(len("contender"), *(len(c) for c in contenders))
    header = (f"{'dataset':<{dw}}  {'contender':<{cw}}  {'acc':>6}  {'mF1':>6}  {'mRecall':>7}  {'wF1':>6}  "
              f"{'MAE':>6}  {'mMAE':>6}  {'+-1':>6}")
    lines = [header, "-" * len(header)]
    for ds in datasets:
        first = True
        for r in (r for r in rows if r["dataset"] == ds):
            label = ds if first else ""
            first = False
            if r.get("status") in ("SKIP", "ERROR"):
                lines.append(f"{label:<{dw}}  {r['contender']:<{cw}}  {r['status']}"[:110])
                continue
            lines.append(f"{label:<{dw}}  {r['contender']:<{cw}}  {_f(r['test_accuracy'], 6, '.4f')}  "
                         f"{_f(r.get('macro_f1'), 6, '.4f')}  {_f(r.get('macro_recall'), 7, '.4f')}  "
                         f"{_f(r.get('weighted_f1'), 6, '.4f')}  {_f(r.get('mae'), 6, '.4f')}  "
                         f"{_f(r.get('macro_mae'), 6, '.4f')}  {_f(r.get('off_by_one_accuracy'), 6, '.4f')}")
    lines.append("-" * len(header))

    def mean_of(done: list[dict[str, Any]], key: str) -> float | None:
        values = [r[key] for r in done if r.get(key) is not None]
        return statistics.fmean(values) if values and len(values) == len(done) else None

    for c in contenders:
        done = [r for r in rows if r["contender"] == c and r["dataset"] in datasets
                and r.get("test_accuracy") is not None]
        if not done:
            continue
        label = f"mean ({len(done)})"
        lines.append(f"{label:<{dw}}  {c:<{cw}}  {_f(mean_of(done, 'test_accuracy'), 6, '.4f')}  "
                     f"{_f(mean_of(done, 'macro_f1'), 6, '.4f')}  {_f(mean_of(done, 'macro_recall'), 7, '.4f')}  "
                     f"{_f(mean_of(done, 'weighted_f1'), 6, '.4f')}")
    lines.append("  mRecall: recall averaged over the classes (SemEval's AvgRec); MAE, mMAE (averaged per "
                 "class) and +-1 (share at most one step off): ordinal classes only, in stars")
    return "\n".join(lines)


def multiclass_means(rows: list[dict[str, Any]], contenders: list[str], datasets: list[str]) -> dict[str, Any]:
    """Per contender: test accuracy, macro-F1 and macro-recall averaged over the multi-class
    datasets it scored (the JSON's multiclass_means)."""
    out: dict[str, Any] = {}
    for c in contenders:
        done = [r for r in rows if r["contender"] == c and r["dataset"] in datasets
                and r.get("test_accuracy") is not None]
        out[c] = {"datasets": [r["dataset"] for r in done],
                  **{k: (statistics.fmean(r[k] for r in done) if done and all(r.get(k) is not None for r in done)
                         else None) for k in ("test_accuracy", "macro_f1", "macro_recall")}}
    return out


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
    multiclass_names: set[str] = set()  # datasets whose training file has three or more classes
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
            if ds.train.encoding.binary:
                log.info("bench: [%d/%d] dataset %s: %d training rows, %d test rows (%.0f%% positive), %s",
                         i, len(names), name, len(ds.train), len(ds.test), 100 * info["train_positive_rate"],
                         ds.note)
            else:
                multiclass_names.add(name)
                log.info("bench: [%d/%d] dataset %s: %d training rows, %d test rows, %d classes (%s), %s",
                         i, len(names), name, len(ds.train), len(ds.test), ds.train.encoding.n_classes,
                         shares_text(info["train_class_shares"]), ds.note)
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

    datasets = [d["name"] for d in described if d["name"] not in multiclass_names]  # the binary ones
    multiclass = [d["name"] for d in described if d["name"] in multiclass_names]
    results = checks(rows, datasets, multiclass)
    print(format_table(rows, datasets, order, multiclass))
    for s in skipped:
        print(f"  skipped {s['name']}: {s['reason']}")
    if described:
        print("  data: training / test rows, positive share of test, test texts also in training; source"
              + ("; multi-class: each class's share of test after the source" if multiclass else ""))
    width = max((len(d["name"]) for d in described), default=0)
    for d in described:
        if d["name"] in multiclass_names:  # no positive share: each class's share of test after the source
            print(f"  {d['name']:<{width}}  {d['train_rows']:>6,} / {d['test_rows']:<6,}  "
                  f"{'-':>4}  {d['test_texts_in_train']:>4}  {d['note']}; test {shares_text(d['test_class_shares'])}")
            continue
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
    # over the binary datasets only, as before there were multi-class ones
    means = {c: mean_accuracy(rows, c, [r["dataset"] for r in rows if r["contender"] == c
                                        and r["dataset"] not in multiclass_names
                                        and r.get("test_accuracy") is not None]) for c in order}
    summary: dict[str, Any] = {
        "mode": "quick" if args.quick else "full", "cpus": os.cpu_count(), "versions": versions,
        "datasets_dir": str(args.datasets_dir), "split_seed": SPLIT_SEED, "test_size": TEST_SIZE,
        "overrides_default": args.overrides, "extra_configs": dict(parse_pairs(args.configs, "--configs", parser)),
        "fasttext_settings": FASTTEXT_SETTINGS, "seconds": round(time.perf_counter() - started, 1),
        "datasets": described, "skipped_datasets": skipped, "rows": rows,
        "mean_test_accuracy": means, "checks": results}
    if multiclass:
        summary["multiclass_means"] = multiclass_means(rows, order, multiclass)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {out}")
    failed = any(c["status"] == "FAIL" for c in results)
    return 1 if errors or (failed and not args.quick) else 0


if __name__ == "__main__":
    sys.exit(main())
