"""Accuracy and training time, side by side in one run: baseline, lecture, default, best.

Trains on the bundled split (data/imdb_train.csv.gz, scored on data/imdb_test.csv.gz):

- the TF-IDF + logistic regression baseline (sentiment_cli/baseline.py),
- the lecture recipe (configs/lecture.yaml),
- the default config (sentiment_cli/config.py),
- each of --configs (default: configs/best.yaml when it exists),

all through training.train (the code `sentiment train` runs, minus writing the model directory),
with a callback that scores the test split at every epoch end so time-to-accuracy can be read off;
that scoring time is excluded from the training time. CPU seconds are printed beside wall seconds
because the machine is shared: other jobs inflate wall time, not the work done.

Targets (PASS/FAIL each; exit 1 on any FAIL in a full run):
  1. the best config reaches test accuracy >= 0.91 and beats the baseline;
  2. the default config reaches >= 0.89 and trains in no more wall time than the lecture config;
  3. the default config reaches the lecture config's final test accuracy within half of the
     lecture config's training wall time (per-epoch test accuracy against cumulative wall time).

    python bench/bench_training.py                     # full data, ~10 minutes on 2 cores
    python bench/bench_training.py --quick             # 2,000 rows, 1 epoch: a smoke run
    python bench/bench_training.py --configs configs/best.yaml gru --repeats 3

Writes bench/out/training.json (training-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sentiment_cli.config import Config, load_config  # noqa: E402
from sentiment_cli.data import LabeledData, load_labeled  # noqa: E402

log = logging.getLogger("sentiment")
QUICK_ROWS = 2000
TARGET_BEST, TARGET_DEFAULT = 0.91, 0.89


def head(data: LabeledData, n: int | None) -> LabeledData:
    if n is None or n >= len(data):
        return data
    return LabeledData(texts=data.texts[:n], y=data.y[:n], encoding=data.encoding, source=f"{data.source}[:{n}]")


def epoch_scorer(test: LabeledData) -> tuple[Any, dict[str, Any]]:
    """(extra_callbacks factory for training.train, the record it fills in).

    At each epoch end: test accuracy at threshold 0.5 with the current weights, against the
    cumulative training wall and CPU seconds so far, the scoring itself excluded. The clock starts
    where training.train's does (after tokenizing, before word vectors and model building), so the
    last point's seconds match the run's training seconds and nothing done before the first epoch
    (word vectors, graph tracing) is left out.
    """
    record: dict[str, Any] = {"curve": [], "eval_seconds": 0.0}

    def factory(tokenizer: Any) -> list[Any]:
        import keras

        x_test = tokenizer.encode(test.texts)

        class ScoreTestSplit(keras.callbacks.Callback):
            # training.train calls this factory just before it starts its own clock.
            t0, c0 = time.perf_counter(), time.process_time()

            def on_train_begin(self, logs: dict | None = None) -> None:
                self.eval_wall = self.eval_cpu = 0.0

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                wall, cpu = time.perf_counter(), time.process_time()
                p = np.asarray(self.model.predict(x_test, batch_size=512, verbose=0)).reshape(-1)
                accuracy = float(np.mean((p >= 0.5).astype(int) == test.y))
                point = {"epoch": epoch + 1, "seconds": round(wall - self.t0 - self.eval_wall, 2),
                         "cpu_seconds": round(cpu - self.c0 - self.eval_cpu, 2), "test_accuracy": accuracy}
                record["curve"].append(point)
                self.eval_wall += time.perf_counter() - wall
                self.eval_cpu += time.process_time() - cpu
                record["eval_seconds"] = self.eval_wall
                log.info("  epoch %d: test accuracy %.4f after %.1fs of training (%.1f CPU s)", point["epoch"],
                         accuracy, point["seconds"], point["cpu_seconds"])

        return [ScoreTestSplit()]

    return factory, record


def train_neural(name: str, cfg: Config, data: LabeledData, test: LabeledData) -> dict[str, Any]:
    from sentiment_cli import training
    from sentiment_cli.metrics import classification_report

    factory, record = epoch_scorer(test)
    result = training.train(cfg, data, verbose=0, extra_callbacks=factory)
    p = training.predict_texts(result, test.texts)
    report = classification_report(test.y, p, result.threshold)
    return {"name": name, "test_accuracy": report["accuracy"], "test_f1": report["f1"],
            "roc_auc": report["roc_auc"], "validation_accuracy": float(np.mean((result.val_p >= result.threshold)
                                                                              == result.val_y)),
            "train_seconds": round(result.seconds - record["eval_seconds"], 2),
            "train_cpu_seconds": record["curve"][-1]["cpu_seconds"] if record["curve"] else None,
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch, "params": result.params, "curve": record["curve"]}


def train_baseline(cfg: Config, data: LabeledData, test: LabeledData) -> dict[str, Any]:
    from sentiment_cli.baseline import NAME, fit_baseline

    cpu0 = time.process_time()
    report = fit_baseline(cfg, data, test)  # CPU time includes scoring validation and test: small
    return {"name": NAME, "test_accuracy": report["test"]["accuracy"], "test_f1": report["test"]["f1"],
            "roc_auc": report["test"]["roc_auc"], "validation_accuracy": report["validation"]["accuracy"],
            "train_seconds": report["train_seconds"], "train_cpu_seconds": round(time.process_time() - cpu0, 2),
            "epochs_run": None, "best_epoch": None, "params": report["params"], "curve": []}


def median_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The first run's numbers (same seed: same accuracy) with the median training time."""
    row = dict(runs[0])
    times = [r["train_seconds"] for r in runs]
    row["train_seconds"] = round(statistics.median(times), 2)
    row["train_seconds_all"] = times
    row["accuracy_identical_across_repeats"] = len({r["test_accuracy"] for r in runs}) == 1
    if len(runs) > 1 and runs[0]["curve"]:
        # Per-epoch time: the median over repeats, epoch by epoch.
        row["curve"] = [dict(point, seconds=round(statistics.median(r["curve"][i]["seconds"] for r in runs), 2))
                        for i, point in enumerate(runs[0]["curve"])]
    return row


def time_to_accuracy(curve: list[dict[str, Any]], target: float) -> float | None:
    """Cumulative training seconds at the first epoch end with test accuracy >= target."""
    return next((p["seconds"] for p in curve if p["test_accuracy"] >= target), None)


def checks(rows: dict[str, dict[str, Any]], best_names: list[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []

    def add(target: str, ok: bool | None, detail: str) -> None:
        out.append({"target": target, "status": "SKIP" if ok is None else "PASS" if ok else "FAIL", "detail": detail})

    base, lecture, default = rows.get("tfidf+logreg"), rows.get("lecture"), rows["default"]
    bests = [rows[n] for n in best_names if n in rows]
    if bests:
        best = max(bests, key=lambda r: r["test_accuracy"])
        add(f"best config ({best['name']}) test accuracy >= {TARGET_BEST}", best["test_accuracy"] >= TARGET_BEST,
            f"{best['test_accuracy']:.4f}")
        add(f"best config ({best['name']}) beats the baseline", best["test_accuracy"] > base["test_accuracy"],
            f"{best['test_accuracy']:.4f} vs {base['test_accuracy']:.4f} "
            f"({best['test_accuracy'] - base['test_accuracy']:+.4f})")
    else:
        add(f"best config test accuracy >= {TARGET_BEST}", None, "no --configs given and no configs/best.yaml")
        add("best config beats the baseline", None, "no best config")
    add(f"default test accuracy >= {TARGET_DEFAULT}", default["test_accuracy"] >= TARGET_DEFAULT,
        f"{default['test_accuracy']:.4f}")
    if lecture is None:
        add("default trains in no more wall time than lecture", None, "configs/lecture.yaml not found")
        add("default reaches lecture's accuracy in half lecture's time", None, "configs/lecture.yaml not found")
        return out
    ratio = default["train_seconds"] / max(lecture["train_seconds"], 1e-9)
    add("default trains in no more wall time than lecture", default["train_seconds"] <= lecture["train_seconds"],
        f"{default['train_seconds']:.1f}s vs {lecture['train_seconds']:.1f}s (ratio {ratio:.2f})")
    reached = time_to_accuracy(default["curve"], lecture["test_accuracy"])
    budget = lecture["train_seconds"] / 2
    detail = (f"lecture's final {lecture['test_accuracy']:.4f} " +
              (f"reached at {reached:.1f}s, budget {budget:.1f}s (ratio {reached / lecture['train_seconds']:.2f} "
               "of lecture's time)" if reached is not None else "never reached"))
    add("default reaches lecture's accuracy in half lecture's time", reached is not None and reached <= budget,
        detail)
    return out


def format_table(rows: list[dict[str, Any]]) -> str:
    width = max(len("contender"), *(len(r["name"]) for r in rows))
    header = (f"{'contender':<{width}}  {'test_acc':>8}  {'test_f1':>7}  {'roc_auc':>7}  {'train_s':>8}  "
              f"{'cpu_s':>7}  {'epochs':>6}  {'params':>10}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['name']:<{width}}  {r['test_accuracy']:>8.4f}  {r['test_f1']:>7.4f}  {r['roc_auc']:>7.4f}  "
                     f"{r['train_seconds']:>8.1f}  {r['train_cpu_seconds'] or 0:>7.1f}  "
                     f"{r['epochs_run'] if r['epochs_run'] else '-':>6}  {r['params']:>10,}")
    for r in rows:
        if r["curve"]:
            points = "; ".join(f"e{p['epoch']} {p['test_accuracy']:.4f} @ {p['seconds']:.0f}s" for p in r["curve"])
            lines.append(f"  {r['name']} per epoch (test accuracy @ cumulative training s): {points}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="*", default=None, metavar="CONFIG",
                        help="Candidate 'best' configs (paths or bundled names); "
                        "default: configs/best.yaml if present.")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows and 1 epoch: a smoke run.")
    parser.add_argument("--repeats", type=int, default=1, help="Train every contender N times; median times.")
    parser.add_argument("--out", type=Path, default=None, help="JSON output (default: bench/out/training*.json).")
    args = parser.parse_args(argv)

    from sentiment_cli.cli import resolve_config_path, setup_logging

    setup_logging()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # predict-retracing notes every epoch
    rows_limit = QUICK_ROWS if args.quick else None
    extra = ["training.epochs=1"] if args.quick else []

    data = head(load_labeled(ROOT / "data" / "imdb_train.csv.gz", "text", "label"), rows_limit)
    test = head(load_labeled(ROOT / "data" / "imdb_test.csv.gz", "text", "label", encoding=data.encoding), rows_limit)
    log.info("bench: %d training rows, %d test rows%s", len(data), len(test), " (quick)" if args.quick else "")

    contenders: list[tuple[str, Config | None]] = [("tfidf+logreg", None)]
    lecture_path = ROOT / "configs" / "lecture.yaml"
    if lecture_path.exists():
        contenders.append(("lecture", load_config(lecture_path, extra)))
    contenders.append(("default", load_config(None, extra)))
    wanted = args.configs if args.configs is not None else (
        [str(ROOT / "configs" / "best.yaml")] if (ROOT / "configs" / "best.yaml").exists() else [])
    best_names = []
    for item in wanted:
        path = resolve_config_path(item)
        name = Path(item).stem if Path(item).stem not in dict(contenders) else f"{Path(item).stem}-candidate"
        contenders.append((name, load_config(path, extra)))
        best_names.append(name)

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in contenders}
    for repeat in range(args.repeats):
        for name, cfg in contenders:  # interleaved: every contender sees the same machine state
            log.info("bench: [%d/%d] %s", repeat + 1, args.repeats, name)
            row = train_baseline(Config(), data, test) if cfg is None else train_neural(name, cfg, data, test)
            runs[name].append(row)
    rows = {name: median_runs(r) for name, r in runs.items()}
    results = checks(rows, best_names)

    print(format_table(list(rows.values())))
    print()
    for check in results:
        print(f"{check['status']:<5} {check['target']}: {check['detail']}")
    if args.quick:
        print("(--quick: 2,000 rows and 1 epoch; the targets are meant for the full run)")

    out = args.out or ROOT / "bench" / "out" / ("training-quick.json" if args.quick else "training.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    from sentiment_cli.artifacts import library_versions

    out.write_text(json.dumps({"mode": "quick" if args.quick else "full", "train_rows": len(data),
                               "test_rows": len(test), "repeats": args.repeats, "cpus": os.cpu_count(),
                               "versions": library_versions(), "contenders": list(rows.values()),
                               "checks": results}, indent=2) + "\n")
    print(f"wrote {out}")
    failed = any(c["status"] == "FAIL" for c in results)
    return 0 if args.quick or not failed else 1


if __name__ == "__main__":
    sys.exit(main())
