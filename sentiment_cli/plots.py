"""PNG plots for a model directory and for `evaluate --plots`, with a non-interactive backend.

Learning curves show over- or under-fitting at a glance; ROC, precision-recall, confusion matrix and
the reliability diagram show how a threshold and the calibration behave.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # never open a window; works on headless CI
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> str:
    from sentiment_cli.errors import WriteError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise WriteError(f"cannot write '{path}' ({exc.strerror or exc})",
                         "Free disk space, or choose a directory you can write to") from None
    finally:
        _pyplot().close(fig)
    return str(path)


def prepare_dir(directory: Path, flag: str) -> None:
    """Create `directory` for plots before any work, or fail at once naming `flag` and the fix."""
    from sentiment_cli.errors import WriteError

    if directory.exists() and not directory.is_dir():
        raise WriteError(f"{flag} '{directory}' is a file", f"Give {flag} a directory path")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot create {flag} directory '{directory}' ({exc.strerror or exc})",
                         f"Give {flag} a directory you can write to") from None
    if not os.access(directory, os.W_OK):
        raise WriteError(f"{flag} directory '{directory}' is not writable", f"Give {flag} a directory you can write to")


def learning_curves(path: Path, history: dict[str, list[float]]) -> str:
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        epochs = range(1, len(history.get(metric, [])) + 1)
        ax.plot(epochs, history.get(metric, []), "o-", label="train")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 1.5"
        ax.set_title(metric)
        ax.legend()
    return _save(fig, path)


def confusion(path: Path, y: np.ndarray, p: np.ndarray, threshold: float,
              classes: list[str] | None = None) -> str:
    """K x K counts: binary scores at `threshold`, (n, K) probabilities by argmax (`classes` names them)."""
    from sklearn.metrics import confusion_matrix

    from sentiment_cli.metrics import predicted_classes

    plt = _pyplot()
    names = classes if classes is not None and np.ndim(p) == 2 else ["negative", "positive"]
    k = len(names)
    cm = confusion_matrix(y, predicted_classes(p, threshold), labels=list(range(k)))
    size = max(4.0, 0.6 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", color="black")
    ax.set_xticks(list(range(k)), names, rotation=45 if k > 3 else 0)
    ax.set_yticks(list(range(k)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"threshold {threshold:.2f}" if k == 2 else "most probable class")
    return _save(fig, path)


def roc_pr(directory: Path, y: np.ndarray, p: np.ndarray) -> list[str]:
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    plt = _pyplot()
    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(fpr, tpr, label=f"AUC {auc(fpr, tpr):.3f}")
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend()
    out = [_save(fig, directory / "roc.png")]
    prec, rec, _ = precision_recall_curve(y, p)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(rec, prec)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    out.append(_save(fig, directory / "precision_recall.png"))
    return out


def reliability(path: Path, y: np.ndarray, p: np.ndarray, bins: int = 10) -> str:
    from sentiment_cli.metrics import expected_calibration_error, reliability_bins

    plt = _pyplot()
    top_label = np.ndim(p) == 2
    if top_label:  # K classes: top-label confidence against accuracy
        y, p = (p.argmax(axis=1) == y).astype(float), p.max(axis=1)
    rows = [r for r in reliability_bins(y, p, bins) if r["n"]]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.plot([r["mean_score"] for r in rows], [r["positive_rate"] for r in rows], "o-",
            label=f"model (ECE {expected_calibration_error(y, p, bins):.3f})")
    ax.set_xlabel("mean probability of the predicted class" if top_label else "mean predicted probability")
    ax.set_ylabel("fraction right" if top_label else "fraction positive")
    ax.legend()
    return _save(fig, path)


def training_plots(directory: Path, history: dict[str, list[float]], y: np.ndarray, p: np.ndarray,
                   threshold: float, classes: list[str] | None = None) -> list[str]:
    """Learning curves plus validation-split confusion, ROC and PR curves (ROC and PR: binary only)."""
    out = [learning_curves(directory / "learning_curves.png", history),
           confusion(directory / "confusion_matrix.png", y, p, threshold, classes)]
    return out + (roc_pr(directory, y, p) if np.ndim(p) == 1 else [])


def evaluation_plots(directory: Path, y: np.ndarray, p: np.ndarray, threshold: float,
                     classes: list[str] | None = None) -> list[str]:
    """Confusion matrix, ROC, PR and reliability diagram for an evaluated file (K >= 3 classes:
    the K x K confusion matrix and the top-label reliability diagram)."""
    out = [confusion(directory / "confusion_matrix.png", y, p, threshold, classes)]
    return (out + (roc_pr(directory, y, p) if np.ndim(p) == 1 else [])
            + [reliability(directory / "reliability.png", y, p)])
