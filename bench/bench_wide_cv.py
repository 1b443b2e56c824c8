"""Which linear model the wide branch should be, chosen on training rows only (5-fold CV).

    python bench/bench_wide_cv.py                    # ~12-16 minutes on 2 cores (IMDB is most of it)
    python bench/bench_wide_cv.py --only blitzer_kitchen semeval_binary

For each dev dataset of bench_datasets.py, its *training* rows (the test rows are never read) are
split into 5 stratified folds; on each fold the wide branch is fitted exactly as `train` fits it
(training.fit_wide on the rows `train` gives it: the default's auto settings, class weights
included, resolved on the fold's training rows, each text cut to model.wide_maxlen, C chosen by its
own inner cross-validation where there are at most 20,000 rows) once per `model.wide` mode, and
scored on the held-out fold: accuracy of the most probable class and log loss over all held-out
rows. This is how the default `model.wide: nb_tfidf+tfidf` was chosen (figures in the README).
Results in bench/out/bench_wide_cv.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_datasets as bd  # noqa: E402  (the same datasets and splits)

from sentiment_cli.config import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
MODES = ("nb_tfidf", "tfidf", "nb_tfidf+tfidf")
FOLDS, SEED = 5, 0


def fold_scores(name: str, datasets_dir: Path, tmp: Path) -> dict[str, dict[str, float]]:
    """{mode: {"accuracy", "log_loss"}} over FOLDS folds of the dataset's training rows."""
    from scipy.special import log_softmax
    from sklearn.model_selection import StratifiedKFold

    from sentiment_cli import auto, training

    ds = bd.load_dataset(name, datasets_dir, tmp)
    texts, y = list(ds.train.texts), np.asarray(ds.train.y)
    k = ds.train.encoding.n_classes
    base = load_config(None)
    # word n-grams only: the modes compared here, as they were measured
    base = dataclasses.replace(base, model=dataclasses.replace(base.model, wide_refit=False, wide_subwords=False))
    hits: dict[str, list[float]] = {m: [] for m in MODES}
    losses: dict[str, list[float]] = {m: [] for m in MODES}
    for tr, te in StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(np.zeros(len(y)), y):
        tok = training.tokenize_splits(base, texts, tr, te)
        oov = tok.tokenizer.word_index_.get(tok.tokenizer.oov_token)
        fold = auto.resolve_class_weight(tok.config, k, len(tr))  # as training.train resolves them
        fold = auto.resolve_wide_maxlen(auto.resolve_maxlen(fold, tok.tokenizer, tok.train_lengths), tok.train_lengths)
        width, last = fold.model.wide_maxlen, fold.tokenizer.truncating == "pre"
        rows_tr, rows_te = tok.train.window(width, last), tok.validation.window(width, last)
        for mode in MODES:
            cfg = dataclasses.replace(fold, model=dataclasses.replace(fold.model, wide=mode))
            wide = training.fit_wide(cfg, rows_tr, y[tr], rows_te, y[te],
                                     vocab_size=tok.tokenizer.vocabulary_size, oov_id=oov, n_classes=k)
            z = wide.val_logits + wide.intercept
            if k == 2:  # log p(y) = -log(1 + exp(-z)) for the positive class, of -z for the negative
                logp = -np.logaddexp(0.0, np.where(y[te] == 1, -z, z))
                hits[mode].extend((z > 0) == y[te])
            else:  # the one-vs-rest logits' softmax, as the branch's probabilities
                logp = log_softmax(z, axis=1)[np.arange(len(te)), y[te]]
                hits[mode].extend(z.argmax(axis=1) == y[te])
            losses[mode].extend(-logp)
    return {m: {"accuracy": float(np.mean(hits[m])), "log_loss": float(np.mean(losses[m]))} for m in MODES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(bd.DATASETS), help="Only these datasets.")
    parser.add_argument("--datasets-dir", type=Path, default=bd.DEFAULT_DATASETS_DIR)
    args = parser.parse_args(argv)
    names = args.only or list(bd.DATASETS)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        for name in names:
            start = time.perf_counter()
            try:
                rows[name] = fold_scores(name, args.datasets_dir, Path(tmp_name))
            except bd.MissingData as exc:
                print(f"skipped {name}: {exc}", file=sys.stderr)
                continue
            print(f"bench_wide_cv: {name} in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    head = "".join(f"{m:>24}" for m in MODES)
    print(f"{'dataset (5-fold CV, training rows)':<36}{head}\n{'':<36}" + "".join(f"{'acc   log loss':>24}" for _ in MODES))
    print("-" * (36 + 24 * len(MODES)))
    for name, r in rows.items():
        print(f"{name:<36}" + "".join(f"{r[m]['accuracy']:>15.4f}{r[m]['log_loss']:>9.4f}" for m in MODES))
    if rows:
        print("-" * (36 + 24 * len(MODES)))
        print(f"{f'mean ({len(rows)})':<36}" + "".join(
            f"{np.mean([r[m]['accuracy'] for r in rows.values()]):>15.4f}"
            f"{np.mean([r[m]['log_loss'] for r in rows.values()]):>9.4f}" for m in MODES))
        wins = sum(r["nb_tfidf+tfidf"]["accuracy"] >= r["nb_tfidf"]["accuracy"] for r in rows.values())
        print(f"nb_tfidf+tfidf at least nb_tfidf's accuracy on {wins} of {len(rows)} dataset(s)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_wide_cv.json").write_text(json.dumps({"folds": FOLDS, "seed": SEED, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
