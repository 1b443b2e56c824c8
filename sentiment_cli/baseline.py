"""The bar every neural model has to clear: TF-IDF word 1-2 grams + logistic regression.

A linear model on bag-of-bigrams is strong on IMDB (about 0.89-0.90 accuracy) and trains in
seconds, so a recurrent model is only worth its cost if it beats this. It sees exactly what the
neural models see: the same stratified validation split (training.validation_split and seed), the
same word splitting as our tokenizer (HTML tags such as <br /> become spaces, Keras' filters, lower
case), the same label encoding (data.load_labeled), the same threshold rule and the same metrics
(metrics.classification_report). No TensorFlow here.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from sentiment_cli.config import Config
from sentiment_cli.data import LabeledData, load_labeled
from sentiment_cli.metrics import choose_threshold, evaluation_report
from sentiment_cli.tokenizer import Tokenizer

log = logging.getLogger("sentiment")
NAME = "tfidf+logreg"
# Sensible, fixed settings (no search on the test file): bigrams carry negation ("not good"),
# sublinear tf damps repeated words, min_df=2 drops typos, 200k features bound memory.
SETTINGS: dict[str, Any] = {"ngram_range": (1, 2), "sublinear_tf": True, "min_df": 2, "max_df": 0.95,
                            "max_features": 200_000, "C": 4.0}


# Our tokenizer's word splitting with strip_html on, whatever the config says: the baseline is
# one fixed yardstick, not a function of each config's preprocessing.
_SPLITTER = Tokenizer(strip_html=True)


def words(text: str) -> list[str]:
    """Split one review into words for the vectorizer (a module function: picklable)."""
    return _SPLITTER.words(text)


def fit_model(texts: list[str], y: np.ndarray, binary: bool, seed: int) -> tuple[Any, Any]:
    """(fitted TfidfVectorizer, fitted LogisticRegression) of SETTINGS on `texts`. Two classes:
    liblinear, as always; K >= 3: multinomial (softmax) logistic regression, lbfgs."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    settings = dict(SETTINGS)
    c = settings.pop("C")
    vectorizer = TfidfVectorizer(tokenizer=words, lowercase=False, token_pattern=None, dtype=np.float32, **settings)
    classifier = (LogisticRegression(C=c, solver="liblinear", max_iter=1000, random_state=seed) if binary
                  else LogisticRegression(C=c, solver="lbfgs", max_iter=2000, random_state=seed))
    classifier.fit(vectorizer.fit_transform(texts), y)
    return vectorizer, classifier


def fit_baseline(cfg: Config, data: LabeledData, test: LabeledData | None = None) -> dict[str, Any]:
    """Fit on the training part of `cfg`'s validation split; report validation (and test) metrics.

    Returns the same report shape as a model's metrics.json: `validation`, `test` (when given),
    `threshold`, `train_seconds` (vectorizer + solver fit, not data loading), `params`.
    """
    import sklearn.feature_extraction.text  # noqa: F401  (imported before the clock: train_seconds is fitting only)
    import sklearn.linear_model  # noqa: F401

    from sentiment_cli.training import split_validation

    tc = cfg.training
    tr_idx, va_idx = split_validation(data, tc.validation_split, tc.seed)
    binary = data.encoding.binary
    texts = data.texts if isinstance(data.texts, list) else list(data.texts)  # a large file's TextStream
    start = time.perf_counter()
    vectorizer, classifier = fit_model([texts[i] for i in tr_idx], data.y[tr_idx], binary, tc.seed)
    seconds = time.perf_counter() - start

    y_va = data.y[va_idx]
    p_va = probabilities(classifier, vectorizer.transform([texts[i] for i in va_idx]), data.encoding.n_classes)
    # the same rule the neural model uses; K >= 3: the most probable class
    threshold = choose_threshold(y_va, p_va, tc.threshold) if binary else 0.5
    n_features = len(vectorizer.vocabulary_)
    report: dict[str, Any] = {
        "model": NAME,
        "validation": evaluation_report(y_va, p_va, data.encoding, threshold),
        "threshold": threshold,
        "train_seconds": round(seconds, 2),
        "params": int((n_features + 1) * (1 if binary else data.encoding.n_classes)),  # weights + intercept(s)
        "features": int(n_features),
        "train_rows": len(tr_idx),
        "settings": {**{k: list(v) if isinstance(v, tuple) else v for k, v in SETTINGS.items()},
                     "strip_html": True},
    }
    if test is not None:
        p_te = probabilities(classifier, vectorizer.transform(test.texts), data.encoding.n_classes)
        report["test"] = evaluation_report(test.y, p_te, data.encoding, threshold)
    log.info("%s: %d features, fitted in %.1fs", NAME, n_features, seconds)
    return report


def probabilities(classifier: Any, x: Any, n_classes: int) -> np.ndarray:
    """`classifier`'s positive-class probability for rows `x` (two classes), or (n, K) in
    class-index order (a class the classifier never saw gets 0)."""
    p = classifier.predict_proba(x)
    if n_classes == 2:
        return p[:, 1]
    out = np.zeros((p.shape[0], n_classes))
    out[:, classifier.classes_] = p  # a class absent from the training part gets probability 0
    return out


def train_baseline(data_path: str | Path, test_data: str | Path | None = None, *, cfg: Config | None = None,
                   text_column: str | None = None, label_column: str | None = None) -> dict[str, Any]:
    """`sentiment baseline`: read the files like `train` does, then `fit_baseline`."""
    cfg = cfg or Config()
    dc = cfg.data
    text_column, label_column = text_column or dc.text_column, label_column or dc.label_column
    data = load_labeled(data_path, text_column, label_column, **dc.label_options())
    test = (load_labeled(test_data, text_column, label_column, encoding=data.encoding)
            if test_data is not None else None)
    report = fit_baseline(cfg, data, test)
    report["labels"] = data.encoding.to_dict()
    return report


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def format_baseline(report: dict[str, Any]) -> str:
    """A table of the baseline's validation (and test) metrics, one column per split."""
    from sentiment_cli.report import METRIC_ROWS, MULTICLASS_ROWS

    splits = [s for s in ("validation", "test") if s in report]
    multiclass = "per_class" in report[splits[0]]
    lines = [f"{NAME} baseline: {report['features']:,} features, trained in {report['train_seconds']:.2f}s "
             f"on {report['train_rows']:,} rows", "",
             f"{'metric':<18} " + " ".join(f"{s:>10}" for s in splits)]
    rows = [r for r in MULTICLASS_ROWS if r in report[splits[0]]] if multiclass else METRIC_ROWS
    for name in (*rows, "n"):
        lines.append(f"{name:<18} " + " ".join(f"{_num(report[s].get(name)):>10}" for s in splits))
    if not multiclass:
        lines.append(f"{'threshold':<18} " + " ".join(f"{report[s]['threshold']:>10.4f}" for s in splits))
    return "\n".join(lines) + "\n"
