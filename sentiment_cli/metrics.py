"""Classification metrics, threshold choice and calibration, from labels and scores. No Keras.

Everything works on plain numpy arrays of 0/1 labels and positive-class probabilities, so the same
code reports on the validation split at train time and on any file at evaluate time. For K >= 2
classes (negative/neutral/positive, 1-5 stars) the multiclass_* functions take class indices
0..K-1 and an (n, K) array of class probabilities instead.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

EPS = 1e-7


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-width probability bins: sum over bins of |accuracy - confidence| * share.

    Confidence here is the positive-class probability against the positive rate (the binary
    reliability-diagram convention), so it matches the reliability plot.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            ece += abs(y[sel].mean() - p[sel].mean()) * sel.mean()
    return float(ece)


def reliability_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for b in range(bins):
        sel = idx == b
        out.append({"low": float(edges[b]), "high": float(edges[b + 1]), "n": int(sel.sum()),
                    "mean_score": float(p[sel].mean()) if sel.any() else None,
                    "positive_rate": float(np.mean(y[sel])) if sel.any() else None})
    return out


def classification_report(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """accuracy, precision, recall, f1, roc_auc, confusion_matrix, n and calibration, as plain types."""
    from sklearn import metrics as skm

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    pred = (p >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    cm = skm.confusion_matrix(y, pred, labels=[0, 1])
    return {
        "n": int(len(y)),
        "threshold": float(threshold),
        "accuracy": float(skm.accuracy_score(y, pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, pred)) if both else None,
        "precision": float(skm.precision_score(y, pred, zero_division=0)),
        "recall": float(skm.recall_score(y, pred, zero_division=0)),
        "f1": float(skm.f1_score(y, pred, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(y, p)) if both else None,
        "confusion_matrix": cm.tolist(),  # rows: true negative/positive; columns: predicted
        "brier": float(skm.brier_score_loss(y, p)) if len(y) else None,
        "ece": expected_calibration_error(y, p),
    }


def choose_threshold(y: np.ndarray, p: np.ndarray, rule: str | float) -> float:
    """A fixed threshold, or the one maximising F1 or Youden's J (tpr - fpr) on (y, p)."""
    if not isinstance(rule, str):
        return float(rule)
    from sklearn import metrics as skm

    if rule == "f1":
        prec, rec, thr = skm.precision_recall_curve(y, p)
        f1 = 2 * prec[:-1] * rec[:-1] / np.maximum(prec[:-1] + rec[:-1], EPS)
        return float(thr[int(np.argmax(f1))])
    if rule == "youden":
        fpr, tpr, thr = skm.roc_curve(y, p)
        # thr[0] is +inf ("nothing is positive", J = 0): never a usable threshold, and argmax
        # lands there whenever no real threshold beats chance (J <= 0), e.g. an untrained model.
        best = 1 + int(np.argmax((tpr - fpr)[1:])) if len(thr) > 1 else 0
        return float(min(max(thr[best], EPS), 1.0))
    raise ValueError(f"unknown threshold rule {rule!r}")


def threshold_sweep(y: np.ndarray, p: np.ndarray, start: float = 0.05, stop: float = 0.95,
                    step: float = 0.05) -> list[dict[str, float]]:
    """Precision, recall, F1 and accuracy at evenly spaced thresholds; best F1 marked."""
    from sklearn import metrics as skm

    rows = []
    for t in np.round(np.arange(start, stop + step / 2, step), 4):
        pred = (p >= t).astype(int)
        rows.append({"threshold": float(t),
                     "precision": float(skm.precision_score(y, pred, zero_division=0)),
                     "recall": float(skm.recall_score(y, pred, zero_division=0)),
                     "f1": float(skm.f1_score(y, pred, zero_division=0)),
                     "accuracy": float(skm.accuracy_score(y, pred))})
    best = max(range(len(rows)), key=lambda i: rows[i]["f1"])
    for i, row in enumerate(rows):
        row["best_f1"] = i == best
    return rows


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (n, K) logits (or log-probabilities)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_proba(p: np.ndarray) -> np.ndarray:
    """Log-probabilities of (n, K) class probabilities: the logits softmax turns back into `p`."""
    return np.log(np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0))


def predicted_classes(p: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Class indices: score >= threshold for a binary model's (n,) scores, argmax of (n, K) ones."""
    p = np.asarray(p)
    return (p >= threshold).astype(int) if p.ndim == 1 else p.argmax(axis=1)


def evaluation_report(y: np.ndarray, p: np.ndarray, encoding: Any, threshold: float = 0.5) -> dict[str, Any]:
    """The report for a model's classes: classification_report for two (scores and a threshold),
    multiclass_report for K >= 3 ((n, K) probabilities, argmax)."""
    if encoding.binary:
        return classification_report(y, p, threshold)
    return multiclass_report(y, p, list(encoding.classes), ordinal=encoding.ordinal)


def apply_temperature(p: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale probabilities by a temperature on the logit scale (1.0 is the identity): sigmoid of
    logit(p) / T for (n,) scores, softmax of log(p) / T for (n, K) probabilities."""
    if temperature == 1.0:
        return np.asarray(p)
    if np.ndim(p) == 2:
        return softmax(log_proba(p) / temperature)
    return 1.0 / (1.0 + np.exp(-logit(p) / temperature))


def fit_temperature(y: np.ndarray, p: np.ndarray) -> float:
    """Temperature T minimising the log-loss of sigmoid(logit(p)/T) on (y, p) (Guo et al., 2017);
    for (n, K) probabilities, of softmax(log(p)/T)."""
    from scipy.optimize import minimize_scalar

    if np.ndim(p) == 2:
        z2, rows, cols = log_proba(p), np.arange(len(y)), np.asarray(y, dtype=int)

        def nll(log_t: float) -> float:
            q = softmax(z2 / math.exp(log_t))
            return float(-np.mean(np.log(np.clip(q[rows, cols], EPS, 1.0))))

        res = minimize_scalar(nll, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
        return float(math.exp(res.x))
    z = logit(p)
    y = np.asarray(y, dtype=np.float64)

    def nll(log_t: float) -> float:
        q = np.clip(1.0 / (1.0 + np.exp(-z / math.exp(log_t))), EPS, 1 - EPS)
        return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))

    res = minimize_scalar(nll, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
    return float(math.exp(res.x))


def _check_multiclass(y: Any, proba: Any, classes: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(y, proba) as int (n,) and float (n, K) arrays, or a ValueError naming what is wrong."""
    y = np.asarray(y)
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 1 and proba.size == 0 and classes is not None:  # np.array([]) for no rows
        proba = proba.reshape(0, len(classes))
    if y.ndim != 1 or proba.ndim != 2 or len(y) != len(proba):
        raise ValueError(f"y must have shape (n,) and proba (n, K); got {y.shape} and {proba.shape}")
    k = proba.shape[1]
    if k < 2 or (classes is not None and len(classes) != k):
        names = len(classes) if classes is not None else k
        raise ValueError(f"proba has {k} columns and there are {names} class names; "
                         "need K >= 2 classes, one name per column")
    if not np.all(np.isfinite(proba)) or np.any(proba < 0) or np.any(proba > 1):
        raise ValueError("proba must hold probabilities in [0, 1] (softmax outputs, not logits)")
    if y.size and (y.dtype.kind not in "iub" and not np.all(np.mod(y.astype(float), 1) == 0)):
        raise ValueError("y must hold integer class indices 0..K-1")
    y = y.astype(int)
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"labels must be class indices 0..{k - 1}; "
                         f"got values in {int(y.min())}..{int(y.max())}")
    return y, proba


def multiclass_report(y: np.ndarray, proba: np.ndarray, classes: list[str], ordinal: bool = False,
                      bins: int = 10) -> dict[str, Any]:
    """Accuracy, F1, recall, confusion matrix and calibration for K classes, as plain types.

    Predicted class is argmax(proba) (ties go to the lowest index). balanced_accuracy and
    macro_recall are the same number, the mean recall over the classes present in y: SemEval
    2016/2017 task 4A calls it AvgRec, and a class with no examples has no recall to average.
    macro_f1 averages over the classes present in y or predicted (scikit-learn's default label
    set), so a class that is absent and never predicted does not count as F1 0. With ordinal=True
    (index order = rank, e.g. stars) it adds mae, macro_mae (SemEval 2016 task 4C: mean over the
    classes present in y of the MAE within the class, so the majority class cannot dominate) and
    off_by_one_accuracy. Empty input gives n 0 and None for every metric.
    """
    from sklearn import metrics as skm

    y, proba = _check_multiclass(y, proba, classes)
    k, n = len(classes), len(y)
    labels = list(range(k))
    pred = proba.argmax(axis=1)
    cm = skm.confusion_matrix(y, pred, labels=labels) if n else np.zeros((k, k), dtype=int)
    support = cm.sum(axis=1)
    report: dict[str, Any] = {"n": int(n)}
    if n == 0:
        report.update(dict.fromkeys(["accuracy", "balanced_accuracy", "macro_f1", "weighted_f1",
                                     "macro_recall"]))
        report["per_class"] = {str(c): {"precision": None, "recall": None, "f1": None, "support": 0}
                               for c in classes}
        report["confusion_matrix"] = cm.tolist()
        report.update(dict.fromkeys(["log_loss", "brier", "ece"]))
        if ordinal:
            report.update(dict.fromkeys(["mae", "macro_mae", "off_by_one_accuracy"]))
        return report
    prec, rec, f1, _ = skm.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    present = support > 0
    seen = present | (cm.sum(axis=0) > 0)
    onehot = np.eye(k)[y]
    report.update({
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(rec[present].mean()),
        "macro_f1": float(f1[seen].mean()),
        "weighted_f1": float(np.sum(f1 * support) / n),
        "macro_recall": float(rec[present].mean()),
        "per_class": {str(c): {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                               "support": int(support[i])} for i, c in enumerate(classes)},
        "confusion_matrix": cm.tolist(),  # rows: true class; columns: predicted, both in class order
        "log_loss": float(-np.mean(np.log(np.clip(proba[np.arange(n), y], EPS, 1.0)))),
        "brier": float(np.mean(np.sum((proba - onehot) ** 2, axis=1))),  # 0 (perfect) .. 2
        "ece": expected_calibration_error(pred == y, proba.max(axis=1), bins),
    })
    if ordinal:
        err = np.abs(pred - y)
        report["mae"] = float(err.mean())
        report["macro_mae"] = float(np.mean([err[y == c].mean() for c in np.flatnonzero(present)]))
        report["off_by_one_accuracy"] = float(np.mean(err <= 1))
    return report


def top_label_ece(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> float:
    """ECE of the top label: its probability against whether it is right (multiclass_report's "ece")."""
    y, proba = _check_multiclass(y, proba)
    return expected_calibration_error(proba.argmax(axis=1) == y, proba.max(axis=1), bins)


def top_label_reliability_bins(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Reliability bins for K classes: top-label confidence (max probability) against accuracy.

    The multi-class counterpart of reliability_bins, for the same plot; the bins below 1/K stay
    empty because the top probability can never be that low.
    """
    y, proba = _check_multiclass(y, proba)
    rows = reliability_bins((proba.argmax(axis=1) == y).astype(float), proba.max(axis=1), bins)
    return [{"low": r["low"], "high": r["high"], "n": r["n"], "mean_confidence": r["mean_score"],
             "accuracy": r["positive_rate"]} for r in rows]
