"""Multi-class metrics (K >= 2 classes): checked against scikit-learn and against hand arithmetic."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from sentiment_cli.metrics import multiclass_report, top_label_reliability_bins

STARS = ["1", "2", "3", "4", "5"]
SENT = ["negative", "neutral", "positive"]


def _random(k: int, n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]  # better than chance, far from perfect
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


@pytest.mark.parametrize("k", [3, 5])
def test_matches_sklearn_on_random_data(k: int) -> None:
    y, proba = _random(k, seed=k)
    pred = proba.argmax(axis=1)
    r = multiclass_report(y, proba, [f"c{i}" for i in range(k)])
    assert r["n"] == len(y)
    assert r["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert r["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert r["macro_recall"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
    assert r["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert r["weighted_f1"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert r["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=range(k)).tolist()
    assert r["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=range(k)))
    prec, rec, f1, sup = skm.precision_recall_fscore_support(y, pred, labels=range(k), zero_division=0)
    for i in range(k):
        assert r["per_class"][f"c{i}"] == pytest.approx(
            {"precision": prec[i], "recall": rec[i], "f1": f1[i], "support": sup[i]})
    assert 0.3 < r["accuracy"] < 0.95  # the fixture is neither trivial nor hopeless
    assert "mae" not in r and "macro_mae" not in r and "off_by_one_accuracy" not in r


def test_argmax_ties_go_to_lowest_index() -> None:
    r = multiclass_report([1, 2], [[0.1, 0.45, 0.45], [1 / 3, 1 / 3, 1 / 3]], SENT)
    assert r["confusion_matrix"] == [[0, 0, 0], [0, 1, 0], [1, 0, 0]]


def test_ordinal_errors_by_hand() -> None:
    # true  = [0, 0, 0, 0, 2, 4]   (four 1-star reviews, one 3-star, one 5-star)
    # pred  = [0, 0, 1, 3, 2, 2]
    # |err| = [0, 0, 1, 3, 0, 2]
    proba = np.eye(5)[[0, 0, 1, 3, 2, 2]] * 0.6 + 0.08  # argmax = pred, rows sum to 1
    r = multiclass_report([0, 0, 0, 0, 2, 4], proba, STARS, ordinal=True)
    assert r["mae"] == pytest.approx(6 / 6)  # (0+0+1+3+0+2) / 6 = 1.0
    # per present class: star 1: (0+0+1+3)/4 = 1.0; star 3: 0/1 = 0.0; star 5: 2/1 = 2.0
    # macro_mae = (1.0 + 0.0 + 2.0) / 3 = 1.0 (equal to mae here; the second case tells them apart)
    assert r["macro_mae"] == pytest.approx(1.0)
    assert r["off_by_one_accuracy"] == pytest.approx(4 / 6)  # errors 0,0,1,0 are <= 1; 3 and 2 are not

    # true = [0, 0, 0, 4], pred = [0, 0, 0, 2]: |err| = [0, 0, 0, 2]
    # mae = 2/4 = 0.5; macro_mae = (0/3 + 2/1) / 2 = 1.0 (the lone 5-star review weighs as much as
    # all the 1-star ones); off_by_one = 3/4
    r = multiclass_report([0, 0, 0, 4], np.eye(5)[[0, 0, 0, 2]], STARS, ordinal=True)
    assert (r["mae"], r["macro_mae"], r["off_by_one_accuracy"]) == pytest.approx((0.5, 1.0, 0.75))


@pytest.mark.parametrize("k", [2, 3, 5])
def test_brier_perfect_and_uniform(k: int) -> None:
    y = np.arange(20) % k
    assert multiclass_report(y, np.eye(k)[y], [str(i) for i in range(k)])["brier"] == pytest.approx(0.0)
    uniform = np.full((20, k), 1 / k)
    # (1 - 1/k)^2 + (k-1) * (1/k)^2 = (k-1)/k
    assert multiclass_report(y, uniform, [str(i) for i in range(k)])["brier"] == pytest.approx((k - 1) / k)
    # maximally wrong: all mass on a wrong class gives 1 + 1 = 2
    wrong = np.eye(k)[(y + 1) % k]
    assert multiclass_report(y, wrong, [str(i) for i in range(k)])["brier"] == pytest.approx(2.0)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")  # sklearn's, on purpose
def test_class_never_predicted_and_class_absent_from_y() -> None:
    # y has no "positive" (index 2) at all; nothing is ever predicted "neutral" (index 1)
    y = np.array([0, 0, 0, 1, 1])
    pred = np.array([0, 0, 2, 0, 2])
    r = multiclass_report(y, np.eye(3)[pred] * 0.7 + 0.1, SENT)
    assert r["per_class"]["positive"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["per_class"]["neutral"]["precision"] == 0.0 and r["per_class"]["neutral"]["support"] == 2
    assert r["confusion_matrix"] == [[2, 0, 1], [1, 0, 1], [0, 0, 0]]  # row of zeros for "positive"
    # recall over present classes: negative 2/3, neutral 0/2 -> (2/3 + 0) / 2 = 1/3 (not /3 classes)
    assert r["macro_recall"] == pytest.approx(1 / 3)
    assert r["balanced_accuracy"] == pytest.approx(1 / 3)
    assert r["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    # "positive" was predicted although absent, so its F1 0 counts, as in scikit-learn
    assert r["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))


def test_class_absent_and_never_predicted_does_not_drag_macro_f1() -> None:
    y = np.array([0, 1, 0, 1])
    r = multiclass_report(y, np.eye(3)[y], SENT)
    assert r["macro_f1"] == pytest.approx(1.0) and r["macro_recall"] == pytest.approx(1.0)
    assert r["per_class"]["positive"]["support"] == 0
    assert r["confusion_matrix"][2] == [0, 0, 0]


def test_ece_small_when_calibrated_and_large_when_overconfident() -> None:
    rng = np.random.default_rng(7)
    n, k = 20000, 3
    conf = rng.uniform(1 / k + 0.01, 1.0, n)
    proba = np.empty((n, k))
    proba[:, 0] = conf
    proba[:, 1:] = ((1 - conf) / (k - 1))[:, None]
    # calibrated: class 0 (the top label) is right with probability exactly `conf`
    y = np.where(rng.uniform(size=n) < conf, 0, rng.integers(1, k, n))
    assert multiclass_report(y, proba, SENT)["ece"] < 0.02
    # overconfident: the model says ~0.99 but is right only half of the time
    proba_over = np.tile([0.99, 0.005, 0.005], (n, 1))
    y_over = np.where(rng.uniform(size=n) < 0.5, 0, 1)
    assert multiclass_report(y_over, proba_over, SENT)["ece"] == pytest.approx(0.49, abs=0.02)

    rows = top_label_reliability_bins(y, proba)
    assert [set(r) for r in rows] == [{"low", "high", "n", "mean_confidence", "accuracy"}] * 10
    assert sum(r["n"] for r in rows) == n
    assert rows[0]["n"] == rows[1]["n"] == rows[2]["n"] == 0 and rows[0]["accuracy"] is None  # conf > 1/3
    for r in rows:
        if r["n"] > 500:
            assert r["low"] <= r["mean_confidence"] <= r["high"]
            assert r["accuracy"] == pytest.approx(r["mean_confidence"], abs=0.05)


def test_report_is_json_serialisable() -> None:
    y, proba = _random(5, n=50)
    r = multiclass_report(y, proba, STARS, ordinal=True)
    back = json.loads(json.dumps(r))
    assert back["per_class"]["3"]["support"] == int(np.sum(y == 2))
    assert json.dumps(top_label_reliability_bins(y, proba))
    assert json.dumps(multiclass_report([], np.empty((0, 5)), STARS, ordinal=True))


@pytest.mark.parametrize("y, proba, classes, match", [
    ([0, 1], [[0.5, 0.5, 0.0]], SENT, "shape"),                      # n differs
    ([[0], [1]], [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], SENT, "shape"),  # y is a column
    ([0, 1], [0.5, 0.5], SENT, "shape"),                             # proba is 1-D
    ([0, 1], [[0.5, 0.5], [0.3, 0.7]], SENT, "classes"),             # K != len(classes)
    ([0, 0], [[1.0], [1.0]], ["only"], "K >= 2"),
    ([0, 3], [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], SENT, "0..2"),      # label too high
    ([-1, 0], [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], SENT, "0..2"),     # negative label
    ([0.5, 1], [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], SENT, "integer"),
    ([0, 1], [[2.0, -1.0, 0.0], [0.2, 0.3, 0.5]], SENT, "probabilities"),  # logits
])
def test_bad_inputs_raise(y, proba, classes, match) -> None:
    with pytest.raises(ValueError, match=match):
        multiclass_report(y, proba, classes)


def test_out_of_range_labels_raise_in_reliability_bins_too() -> None:
    with pytest.raises(ValueError, match="0..2"):
        top_label_reliability_bins([5], [[0.2, 0.3, 0.5]])


@pytest.mark.parametrize("proba", [np.empty((0, 3)), []])
def test_empty_input(proba) -> None:
    r = multiclass_report(np.array([], dtype=int), proba, SENT, ordinal=True)
    assert r["n"] == 0
    for key in ["accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "macro_recall", "log_loss",
                "brier", "ece", "mae", "macro_mae", "off_by_one_accuracy"]:
        assert r[key] is None, key
    assert r["confusion_matrix"] == [[0] * 3] * 3
    assert all(v["support"] == 0 and v["f1"] is None for v in r["per_class"].values())
    assert all(b["n"] == 0 for b in top_label_reliability_bins([], np.empty((0, 3))))
