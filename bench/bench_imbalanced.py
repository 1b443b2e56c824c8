"""Imbalanced training data: the default model against the TF-IDF baseline when one class is rare.

Users' data is rarely balanced: most product reviews are positive, most support messages are not
complaints. This benchmark takes each dev dataset of bench/bench_datasets.py (the same files, views
and splits; the seven binary ones and the three multi-class ones) and draws from its training split
a sample in which class 0 (negative; 1 star) is rare (its share --minority, default 0.1 and 0.05:
the shape of star-rated product reviews), at most --rows training rows (fewer when the other
classes have too few; with K >= 3 classes the others keep their shares among themselves, drawn at
random). The test split is kept whole, and every metric but ROC AUC is computed with test rows
weighted so that the rare class has the training sample's share (the other classes keep the test's
proportions among themselves): the test the user would see, with all the test's rows in play
instead of its rare class subsampled to a handful.

Metrics per contender (all on the weighted test split):
- roc_auc: how well the rare class is ranked against the rest (one-vs-rest for K >= 3; with two
  classes the ROC AUC), independent of the class shares and of any threshold;
- pr_auc: average precision of the rare class (how well the rare class is found);
- macro_f1, balanced_accuracy, accuracy: at the contender's own decision rule (two classes: the
  default's trained threshold, training.threshold, and the same rule on the baseline's validation
  split; K >= 3: the most probable class);
- log_loss: calibration at the training shares.

Contenders: tfidf+logreg (sentiment_cli/baseline.py, fit_baseline's model: the same vectorizer,
solver and validation split), default (the schema defaults through training.train, scored with
training.predict_texts), and each --set variant of it (NAME:KEY=VALUE[,KEY=VALUE]).
Each training sample is drawn once per dataset and minority share (seed --seed) and used by every
contender. Targets, for the binary rows and for the multi-class rows apart: on every row the default's
ROC AUC >= the baseline's - 0.01 and its mean ROC AUC and mean PR AUC over the rows >= the
baseline's. Exit 1 on a FAIL in a full run.

    python bench/bench_imbalanced.py                        # 10 datasets x 2 shares, ~9 min on 2 cores
    python bench/bench_imbalanced.py --only blitzer_books --minority 0.05 --variants balanced:training.class_weight=balanced
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_datasets import DATASETS, DEFAULT_DATASETS_DIR, load_dataset  # noqa: E402

from sentiment_cli.config import Config, load_config  # noqa: E402
from sentiment_cli.data import LabeledData  # noqa: E402

log = logging.getLogger("sentiment")
BINARY = [name for name, (_, view) in DATASETS.items() if view == "binary"]
RARE = 0  # the rare class: negative (binary, sentiment triples), the lowest rating (stars)
AUC_TOLERANCE = 0.01


def imbalanced_sample(data: LabeledData, minority: float, rows: int, seed: int) -> LabeledData:
    """Rows of `data` (original order) with class RARE at share `minority`: as many of the other
    classes' rows as `rows` allows and they hold (drawn at random, so they keep their shares among
    themselves), the rare class drawn to match."""
    rng = np.random.default_rng(seed)
    rare, rest = np.flatnonzero(data.y == RARE), np.flatnonzero(data.y != RARE)
    n_rest = min(len(rest), int(round(rows * (1 - minority))))
    n_rare = min(len(rare), max(2, int(round(n_rest * minority / (1 - minority)))))
    idx = np.sort(np.concatenate([rng.choice(rest, n_rest, replace=False), rng.choice(rare, n_rare, replace=False)]))
    counts = np.bincount(data.y[idx], minlength=data.encoding.n_classes)
    shares = " / ".join(f"{n} {c}" for n, c in zip(counts, data.encoding.classes))
    return LabeledData(texts=[data.texts[i] for i in idx], y=data.y[idx], encoding=data.encoding,
                       source=f"{data.source}[{shares}]")


def prior_weights(y: np.ndarray, minority: float) -> np.ndarray:
    """Per-row weights giving class RARE the share `minority` of the test split's total weight and
    the other classes the rest, in the test's own proportions among them."""
    rare = y == RARE
    return np.where(rare, minority / max(rare.sum(), 1), (1 - minority) / max((~rare).sum(), 1)) * len(y)


def scores(y: np.ndarray, p: np.ndarray, threshold: float, w: np.ndarray) -> dict[str, float]:
    """The metrics above; `p` the positive class's probability (n,) or the classes' (n, K)."""
    from sklearn import metrics as skm

    if p.ndim == 1:
        pred, p_rare, p_all = (p >= threshold).astype(int), 1 - p, np.stack([1 - p, p], axis=1)
    else:
        pred, p_rare, p_all = p.argmax(axis=1), p[:, RARE], p
    rare = (y == RARE).astype(int)
    return {"roc_auc": float(skm.roc_auc_score(rare, p_rare)),
            "pr_auc": float(skm.average_precision_score(rare, p_rare, sample_weight=w)),
            "macro_f1": float(skm.f1_score(y, pred, average="macro", sample_weight=w, zero_division=0)),
            "balanced_accuracy": float(skm.balanced_accuracy_score(y, pred, sample_weight=w)),
            "accuracy": float(skm.accuracy_score(y, pred, sample_weight=w)),
            "log_loss": float(skm.log_loss(y, np.clip(p_all, 1e-7, 1.0), sample_weight=w,
                                           labels=list(range(p_all.shape[1])))),
            "threshold": float(threshold)}


def run_baseline(cfg: Config, train: LabeledData, test: LabeledData) -> tuple[np.ndarray, float, dict]:
    """fit_baseline's model (baseline.fit_model on the same validation split, the same threshold
    rule), whose test scores its report does not hold."""
    from sentiment_cli.baseline import fit_model, probabilities
    from sentiment_cli.metrics import choose_threshold
    from sentiment_cli.training import split_validation

    tr, va = split_validation(train, cfg.training.validation_split, cfg.training.seed)
    binary, k = train.encoding.binary, train.encoding.n_classes
    vec, clf = fit_model([train.texts[i] for i in tr], train.y[tr], binary, cfg.training.seed)
    p_va = probabilities(clf, vec.transform([train.texts[i] for i in va]), k)
    threshold = choose_threshold(train.y[va], p_va, cfg.training.threshold) if binary else 0.5
    return probabilities(clf, vec.transform(test.texts), k), threshold, {}


def run_model(cfg: Config, train: LabeledData, test: LabeledData) -> tuple[np.ndarray, float, dict]:
    from sklearn.metrics import roc_auc_score

    from sentiment_cli import training

    result = training.train(cfg, train, verbose=0)
    p = np.asarray(training.predict_texts(result, test.texts), dtype=np.float64)
    p = p.reshape(-1) if train.encoding.binary else p
    rare = (test.y == RARE).astype(int)

    def rare_p(q: np.ndarray) -> np.ndarray:
        return 1 - np.ravel(q) if train.encoding.binary else q[:, RARE]

    extra = {"choice": result.parts.get("combination"),
             "parts_roc_auc": {k: float(roc_auc_score(rare, rare_p(v)))
                               for k, v in training.predict_parts(result, test.texts).items()}}
    return p, float(result.threshold), extra


def parse_variant(text: str, parser: argparse.ArgumentParser) -> tuple[str, list[str]]:
    name, sep, sets = text.partition(":")
    if not sep or not name or not sets:
        parser.error(f"--variants {text!r}: expected NAME:KEY=VALUE[,KEY=VALUE]")
    return name, sets.split(",")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(DATASETS), metavar="NAME",
                        help=f"Datasets ({', '.join(DATASETS)}).")
    parser.add_argument("--minority", nargs="+", type=float, default=[0.1, 0.05], help="Minority shares.")
    parser.add_argument("--rows", type=int, default=2000, help="Training rows at most (default 2000).")
    parser.add_argument("--seed", type=int, default=0, help="Sampling seed.")
    parser.add_argument("--variants", nargs="*", default=[], metavar="NAME:KEY=VALUE,...",
                        help="Extra contenders: the default with these config overrides.")
    parser.add_argument("--no-default", action="store_true", help="Skip the default contender (variants only).")
    parser.add_argument("--datasets-dir", type=Path, default=DEFAULT_DATASETS_DIR)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "imbalanced.json")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from sentiment_cli.cli import setup_logging

    setup_logging()
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    contenders: dict[str, Any] = {"tfidf+logreg": None}
    if not args.no_default:
        contenders["default"] = load_config(None, [])
    for text in args.variants:
        name, sets = parse_variant(text, parser)
        contenders[name] = load_config(None, sets)
    base_cfg = load_config(None, [])

    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-imbalanced-") as tmp:
        for name in args.only or list(DATASETS):
            ds = load_dataset(name, args.datasets_dir, Path(tmp))
            for share in args.minority:
                train = imbalanced_sample(ds.train, share, args.rows, args.seed)
                w = prior_weights(ds.test.y, share)
                for contender, cfg in contenders.items():
                    t0 = time.perf_counter()
                    if cfg is None:
                        p, threshold, extra = run_baseline(base_cfg, train, ds.test)
                    else:
                        p, threshold, extra = run_model(cfg, train, ds.test)
                    row = {"dataset": name, "classes": train.encoding.n_classes, "minority": share,
                           "train_rows": len(train),
                           "train_minority_rows": int(np.sum(train.y == RARE)), "contender": contender,
                           **scores(ds.test.y, p, threshold, w), **extra,
                           "seconds": round(time.perf_counter() - t0, 1)}
                    rows.append(row)
                    log.info("bench: %s %.2f %s: roc_auc %.4f pr_auc %.4f macro_f1 %.4f (%s)", name, share,
                             contender, row["roc_auc"], row["pr_auc"], row["macro_f1"], extra.get("choice"))
    names = list(contenders)
    keys = ("roc_auc", "pr_auc", "macro_f1", "balanced_accuracy", "accuracy", "log_loss")
    groups = {"binary": [r for r in rows if r["classes"] == 2], "multi-class": [r for r in rows if r["classes"] > 2]}
    means: dict[str, dict[str, dict[str, float]]] = {}
    failures = []
    for group, members in groups.items():
        if not members:
            continue
        print(f"{group} (roc_auc, pr_auc: the rare class against the rest)")
        print(f"{'dataset':<20} {'share':>5} {'rows':>5} {'contender':<14} "
              + " ".join(f"{k:>9}" for k in keys) + "  choice")
        for r in members:
            print(f"{r['dataset']:<20} {r['minority']:>5.2f} {r['train_rows']:>5} {r['contender']:<14} "
                  + " ".join(f"{r[k]:>9.4f}" for k in keys) + f"  {r.get('choice') or ''}")
        means[group] = {c: {k: float(np.mean([r[k] for r in members if r["contender"] == c])) for k in keys}
                        for c in names}
        for c in names:
            print(f"{'mean':<20} {'':>5} {'':>5} {c:<14} " + " ".join(f"{means[group][c][k]:>9.4f}" for k in keys))
        if "default" not in contenders:
            continue
        m = means[group]
        base = {(r["dataset"], r["minority"]): r for r in members if r["contender"] == "tfidf+logreg"}
        worse = [f"{r['dataset']}@{r['minority']}" for r in members if r["contender"] == "default"
                 and r["roc_auc"] < base[(r["dataset"], r["minority"])]["roc_auc"] - AUC_TOLERANCE]
        checks = [(f"{group}: default ROC AUC >= baseline - {AUC_TOLERANCE} on every row", not worse,
                   ", ".join(worse)),
                  (f"{group}: default mean ROC AUC >= baseline's", m["default"]["roc_auc"] >= m["tfidf+logreg"]["roc_auc"], ""),
                  (f"{group}: default mean PR AUC >= baseline's", m["default"]["pr_auc"] >= m["tfidf+logreg"]["pr_auc"], "")]
        for text, ok, detail in checks:
            print(f"{'PASS' if ok else 'FAIL'}  {text}" + (f" (not on {detail})" if detail else ""))
            if not ok:
                failures.append(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "means": means, "failures": failures,
                                    "seconds": round(time.perf_counter() - started, 1)}, indent=1))
    print(f"({time.perf_counter() - started:.0f}s; JSON in {args.out})")
    full = not args.only and not args.no_default
    return 1 if failures and full else 0


if __name__ == "__main__":
    sys.exit(main())
