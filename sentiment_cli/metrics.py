"""Classification metrics, threshold choice and calibration, from labels and scores. No Keras.

Everything works on plain numpy arrays of 0/1 labels and positive-class probabilities, so the same
code reports on the validation split at train time and on any file at evaluate time.
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


def apply_temperature(p: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale probabilities by a temperature on the logit scale (1.0 is the identity)."""
    if temperature == 1.0:
        return np.asarray(p)
    return 1.0 / (1.0 + np.exp(-logit(p) / temperature))


def fit_temperature(y: np.ndarray, p: np.ndarray) -> float:
    """Temperature T minimising the log-loss of sigmoid(logit(p)/T) on (y, p) (Guo et al., 2017)."""
    from scipy.optimize import minimize_scalar

    z = logit(p)
    y = np.asarray(y, dtype=np.float64)

    def nll(log_t: float) -> float:
        q = np.clip(1.0 / (1.0 + np.exp(-z / math.exp(log_t))), EPS, 1 - EPS)
        return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))

    res = minimize_scalar(nll, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
    return float(math.exp(res.x))
