"""Would character n-grams of the vocabulary's words lift the linear (n-gram) branch? 5-fold CV.

Measured before model.wide_subwords was built (it is now on by default for short texts, auto.py),
and kept to re-check that choice. Character n-grams beside word n-grams are a standard lift for a
linear text classifier on short or noisy text (misspellings, inflections, hashtags share their
pieces). The wide branch computes its features from token ids (sentiment_cli/ngrams.py), so the
form it could take is each vocabulary word's character n-grams (2-5, with word boundaries, as
scikit-learn's char_wb), summed over a text's tokens: words outside the vocabulary (the OOV id)
contribute none. This script stands in for the branch with scikit-learn, as
bench_unlabeled_wide.py does: 1-2 gram TF-IDF of our tokenizer's words, the average of a plain and
an NB-weighted L2 logistic regression (C=4: `nb_tfidf+tfidf`; with K >= 3 classes one such model
per class against the rest, rows weighted sqrt_balanced, a softmax over the K logits), and scores
by 5-fold stratified CV on each dev dataset's training rows (test rows never read):

- words: the word 1-2 grams alone (the branch as it is);
- words + subwords: the same with a second TF-IDF block (its own L2 norm) of the character n-grams
  of the fold's vocabulary words (in at least 2 of its training texts).

It also prints the stored entries per row of each block: the cost in liblinear's memory and in the
wide branch's per-row work at predict time. About 3 minutes on 2 cores without IMDB (--only imdb:
6,000 of its training rows). Output and what it says: README, "How the settings were chosen".

    python bench/bench_subword_cv.py [--only NAME ...] [--c 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench_datasets as bd  # noqa: E402
from bench_unlabeled_wide import nb_ratio  # noqa: E402

from sentiment_cli.baseline import words  # noqa: E402
from sentiment_cli.ngrams import char_ngrams  # noqa: E402
from sentiment_cli.training import class_weights, softmax  # noqa: E402

FOLDS, SEED, C, ROWS = 5, 0, 4.0, 6000
CHAR_N = (2, 5)


def subword_analyzer(vocabulary: set[str], split: Callable[[str], list[str]] = words) -> Callable[[str], list[str]]:
    """A text -> the character n-grams (CHAR_N, boundaries marked by spaces) of its vocabulary words."""
    def grams(text: str) -> list[str]:
        return [g for w in split(text) if w in vocabulary for g in char_ngrams(w, *CHAR_N)]
    return grams


def fit_mix(a: Any, y: np.ndarray, weight: np.ndarray | None, c: float) -> tuple[np.ndarray, float]:
    """nb_tfidf+tfidf on 0/1 labels: (weights per column, intercept), the two models' average."""
    from scipy.sparse import diags
    from sklearn.linear_model import LogisticRegression

    parts = []
    for scale in (np.ones(a.shape[1]), nb_ratio(a, y)):
        clf = LogisticRegression(C=c, solver="liblinear", max_iter=1000).fit(a @ diags(scale), y, sample_weight=weight)
        parts.append((clf.coef_.ravel() * scale, float(clf.intercept_[0])))
    return 0.5 * (parts[0][0] + parts[1][0]), 0.5 * (parts[0][1] + parts[1][1])


def fit_predict(a: Any, y: np.ndarray, b: Any, k: int, c: float) -> np.ndarray:
    """Class probabilities (n, K) of `b`'s rows from the model fitted on (a, y)."""
    if k == 2:
        coef, bias = fit_mix(a, y, None, c)
        p = 1 / (1 + np.exp(-(b @ coef + bias)))
        return np.stack([1 - p, p], axis=1)
    weight = class_weights(y, "sqrt_balanced", k)
    logits = []
    for j in range(k):
        coef, bias = fit_mix(a, (y == j).astype(int), weight, c)
        logits.append(b @ coef + bias)
    return softmax(np.stack(logits, axis=1))


def cross_validate(texts: list[str], y: np.ndarray, k: int, c: float = C,
                   split: Callable[[str], list[str]] = words) -> dict[str, dict[str, float]]:
    """5-fold CV of words and words + subwords; `split` turns a text into words (the baseline's
    Keras splitting unless given)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold

    hits: dict[str, list[float]] = {"words": [], "words + subwords": []}
    nll: dict[str, list[float]] = {name: [] for name in hits}
    nnz: dict[str, list[float]] = {"words": [], "subwords": []}
    for tr, te in StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(np.zeros(len(y)), y):
        x_tr, x_te = [texts[i] for i in tr], [texts[i] for i in te]
        vocabulary = {w for w, n in Counter(w for t in x_tr for w in set(split(t))).items() if n >= 2}
        wv = TfidfVectorizer(tokenizer=split, lowercase=False, token_pattern=None, ngram_range=(1, 2),
                             sublinear_tf=True, min_df=2, max_df=0.95, max_features=200_000)
        sv = TfidfVectorizer(analyzer=subword_analyzer(vocabulary, split), sublinear_tf=True, min_df=2,
                             max_features=300_000)
        w_tr, w_te = wv.fit_transform(x_tr), wv.transform(x_te)
        s_tr, s_te = sv.fit_transform(x_tr), sv.transform(x_te)
        nnz["words"].append(w_tr.nnz / w_tr.shape[0])
        nnz["subwords"].append(s_tr.nnz / s_tr.shape[0])
        for name, (a, b) in {"words": (w_tr, w_te),
                             "words + subwords": (hstack([w_tr, s_tr]).tocsr(), hstack([w_te, s_te]).tocsr())}.items():
            p = fit_predict(a, y[tr], b, k, c)
            hits[name].extend(p.argmax(axis=1) == y[te])
            nll[name].extend(-np.log(np.clip(p[np.arange(len(te)), y[te]], 1e-7, 1.0)))
    out = {name: {"accuracy": float(np.mean(hits[name])), "log_loss": float(np.mean(nll[name]))} for name in hits}
    out["nnz per row"] = {name: float(np.mean(v)) for name, v in nnz.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    names = [n for n in bd.DATASETS if n != "imdb"]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", choices=list(bd.DATASETS), default=names, metavar="NAME")
    ap.add_argument("--c", type=float, default=C, help=f"Logistic regression's C (default {C:g}).")
    ap.add_argument("--datasets-dir", type=Path, default=bd.DEFAULT_DATASETS_DIR)
    args = ap.parse_args(argv)

    t0 = time.time()
    results = {}
    print(f"{'dataset (' + str(FOLDS) + '-fold CV, training rows)':<38}{'words':>17}{'words + subwords':>20}"
          f"{'entries per row':>22}")
    print(f"{'':<38}{'acc':>8}{'log loss':>9}{'acc':>11}{'log loss':>9}{'words':>11}{'subwords':>11}")
    print("-" * 97)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only:
            ds = bd.load_dataset(name, args.datasets_dir, Path(tmp))
            train = bd.subset(ds.train, ROWS)
            r = results[name] = cross_validate(list(train.texts), np.asarray(train.y).astype(int),
                                               train.encoding.n_classes, args.c)
            w, s, e = r["words"], r["words + subwords"], r["nnz per row"]
            print(f"{name:<38}{w['accuracy']:>8.4f}{w['log_loss']:>9.4f}{s['accuracy']:>11.4f}{s['log_loss']:>9.4f}"
                  f"{e['words']:>11.0f}{e['subwords']:>11.0f}", flush=True)
    print("-" * 97)
    mean = {v: {m: float(np.mean([r[v][m] for r in results.values()])) for m in ("accuracy", "log_loss")}
            for v in ("words", "words + subwords")}
    print(f"{'mean (' + str(len(results)) + ')':<38}{mean['words']['accuracy']:>8.4f}{mean['words']['log_loss']:>9.4f}"
          f"{mean['words + subwords']['accuracy']:>11.4f}{mean['words + subwords']['log_loss']:>9.4f}")
    better = sum(r["words + subwords"]["accuracy"] > r["words"]["accuracy"] for r in results.values())
    print(f"words + subwords more accurate on {better} of {len(results)}; C={args.c:g}; {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
