"""`sentiment compare`: train several configs on the same data and tabulate them side by side.

The lecture's SimpleRNN vs GRU vs LSTM comparison, on real data and with one command. Every config
goes through api.train (same split, same metrics, a complete model directory each), so a row here
is exactly what `sentiment train --config X` would report. The TF-IDF baseline can join as a row.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any, Sequence

from sentiment_cli.config import load_config

log = logging.getLogger("sentiment")
COLUMNS = ("config", "accuracy", "f1", "roc_auc", "train_seconds", "params")


def _unique_names(labels: Sequence[str]) -> list[str]:
    """Directory-safe, unique names: 'gru', 'configs/gru.yaml' -> 'gru'; repeats get '-2', '-3'."""
    names: list[str] = []
    for label in labels:
        base = Path(label).stem or "config"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


def _row(name: str, metrics: dict[str, Any], model_dir: str | None) -> dict[str, Any]:
    split = "test" if "test" in metrics else "validation"
    scores = metrics[split]
    # K >= 3 classes: macro-F1 in the f1 column, no ROC AUC
    return {"config": name, "split": split, "accuracy": scores["accuracy"],
            "f1": scores["f1"] if "f1" in scores else scores["macro_f1"],
            "roc_auc": scores.get("roc_auc"), "validation_accuracy": metrics["validation"]["accuracy"],
            "train_seconds": metrics["train_seconds"], "params": metrics["params"],
            "epochs_run": metrics.get("epochs_run"), "model_dir": model_dir}


def compare(configs: Sequence[str | Path], data_path: str | Path, test_data: str | Path | None = None, *,
            labels: Sequence[str] | None = None, overrides: Sequence[str] = (),
            out_dir: str | Path | None = None, force: bool = False, baseline: bool = False,
            plots: bool = False, verbose: int | None = 0) -> dict[str, Any]:
    """Train each config (a YAML path; `overrides` apply to all) and return one row per config.

    Model directories go to `out_dir/<name>` when given, else to a temporary directory that is
    deleted afterwards. Metrics are on `test_data` when given, else on the validation split. With
    `baseline`, a TF-IDF + logistic regression row is added, fitted on the first config's split.
    All configs are validated before the first one trains, so a typo fails in a second.
    """
    from sentiment_cli import api

    if not configs:
        from sentiment_cli.errors import ConfigError

        raise ConfigError("no configs to compare", "Name one or more, e.g. sentiment compare simple_rnn gru lstm")
    names = _unique_names(labels or [str(c) for c in configs])
    loaded = [load_config(path, overrides) for path in configs]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sentiment-compare-") as scratch:
        root = Path(out_dir) if out_dir is not None else Path(scratch)
        for i, (name, cfg) in enumerate(zip(names, loaded), 1):
            log.info("[%d/%d] training %s", i, len(names), name)
            model_dir = root / name
            metrics = api.train(cfg, data_path, model_dir, test_data=test_data, force=force, plots=plots,
                                verbose=verbose)
            rows.append(_row(name, metrics, str(model_dir) if out_dir is not None else None))
    if baseline:
        from sentiment_cli.baseline import NAME, train_baseline

        log.info("fitting the %s baseline", NAME)
        report = train_baseline(data_path, test_data, cfg=loaded[0])
        rows.append(_row(NAME, report, None))
    return {"data": str(data_path), "test_data": str(test_data) if test_data is not None else None,
            "overrides": list(overrides), "rows": rows}


def format_comparison(result: dict[str, Any]) -> str:
    """One aligned table: config, accuracy, F1, ROC AUC, training seconds, parameters."""
    rows = result["rows"]
    split = rows[0]["split"] if rows else "test"
    width = max([len("config"), *(len(r["config"]) for r in rows)])
    header = (f"{'config':<{width}}  {'accuracy':>8}  {'f1':>6}  {'roc_auc':>7}  {'train_s':>8}  {'params':>10}")
    lines = [header, "-" * len(header)]
    for r in rows:
        auc = "-" if r["roc_auc"] is None else f"{r['roc_auc']:.4f}"
        lines.append(f"{r['config']:<{width}}  {r['accuracy']:>8.4f}  {r['f1']:>6.4f}  {auc:>7}  "
                     f"{r['train_seconds']:>8.1f}  {r['params']:>10,}")
    lines.append(f"(metrics on the {split} {'file' if split == 'test' else 'split'}; "
                 "train_s: fit time only)")
    return "\n".join(lines) + "\n"
