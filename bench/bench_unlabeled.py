"""Accuracy with and without unlabelled text, side by side in one run (issue 12).

    python bench/bench_unlabeled.py            # ~10 minutes on 2 cores
    python bench/bench_unlabeled.py --only blitzer_books

For each small dev dataset, the default config trained three ways on the same training rows and
scored on the same test rows (splits as in bench_datasets.py):
  - `default`: the training texts alone start the embedding (PPMI + SVD);
  - `+unlabeled`: `train --unlabeled`, the word vectors also counted over unlabelled texts: for a
    Blitzer domain the other three domains' reviews and the bundled IMDB reviews (labels dropped),
    for the SemEval tweets the SemEval files that are neither its training nor its test files;
  - `+vectors`: `embedding_init=vectors` from one GloVe file written by `sentiment vectors` over the
    bundled IMDB reviews (api.vectors), with the default's embedding_dim.
Targets (issue 12): +unlabeled at least +2 points of test accuracy on at least three datasets, and
no loss over 0.5 points on any. Results in bench/out/bench_unlabeled.json.
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
BLITZER = ("books", "dvd", "electronics", "kitchen")
SEMEVAL_OTHER = ("semeval2013_task2a_sms_test", "semeval2013_task2a_twitter_test",
                 "semeval2014_task9a_livejournal_test", "semeval2014_task9a_twitter_sarcasm_test",
                 "semeval2014_task9a_twitter_test", "semeval2015_task10a_twitter_test")
IMDB = (ROOT / "data" / "imdb_train.csv.gz", ROOT / "data" / "imdb_test.csv.gz")
DATASETS = [f"blitzer_{d}" for d in BLITZER] + ["semeval_binary"]
GAIN, MAX_LOSS, MIN_WINS = 0.02, 0.005, 3


def write_lines(path: Path, texts: list[str]) -> Path:
    path.write_text("\n".join(t.replace("\r", " ").replace("\n", " ") for t in texts) + "\n", encoding="utf-8")
    return path


def unlabeled_for(name: str, datasets_dir: Path, tmp: Path) -> tuple[list[Path], str]:
    """The unlabelled files of dataset `name` (texts only), and a description."""
    if name.startswith("blitzer_"):
        domain = name.removeprefix("blitzer_")
        texts = [t for d in BLITZER if d != domain
                 for t in bd.read_frame(datasets_dir / f"blitzer_amazon_{d}.csv.gz")["text"].tolist()]
        return [write_lines(tmp / f"{name}_others.txt", texts), *IMDB], \
            f"{len(texts):,} reviews of the other Blitzer domains + the bundled IMDB reviews"
    texts = [t for f in SEMEVAL_OTHER for t in bd.read_frame(datasets_dir / f"{f}.csv.gz")["text"].tolist()]
    return [write_lines(tmp / f"{name}_others.txt", texts)], f"{len(texts):,} texts of the other SemEval test files"


def score(cfg, ds, **kwargs) -> tuple[float, float, float]:
    """(test accuracy, the recurrent branch's alone at 0.5, training seconds)."""
    from sentiment_cli import training

    start = time.perf_counter()
    result = training.train(cfg, ds.train, verbose=0, **kwargs)
    seconds = time.perf_counter() - start
    p = training.predict_texts(result, ds.test.texts)
    rec = training.predict_parts(result, ds.test.texts)["recurrent"]
    return float(np.mean((p >= result.threshold) == ds.test.y)), float(np.mean((rec >= 0.5) == ds.test.y)), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=DATASETS, help="Only these datasets.")
    parser.add_argument("--datasets-dir", type=Path, default=bd.DEFAULT_DATASETS_DIR)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="A config override for the +unlabeled run only, e.g. "
                        "tokenizer.vocabulary=training_and_unlabeled (repeatable).")
    args = parser.parse_args(argv)
    names = args.only or DATASETS
    cfg = load_config(None)
    cfg_more = load_config(None, args.overrides)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        from sentiment_cli import api

        vec_file = tmp / "imdb_vectors.txt"
        start = time.perf_counter()
        made = api.vectors(cfg, [str(p) for p in IMDB], vec_file)
        print(f"sentiment vectors over the bundled IMDB reviews: {made['words']:,} words x {made['dim']} "
              f"in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        with_vectors = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, embedding_init="vectors",
                                                                          vectors=str(vec_file)))
        for name in names:
            ds = bd.load_dataset(name, args.datasets_dir, tmp)
            files, note = unlabeled_for(name, args.datasets_dir, tmp)
            print(f"{name}: {len(ds.train):,} training rows; unlabelled: {note}", file=sys.stderr, flush=True)
            base, base_rec, t0 = score(cfg, ds)
            more, more_rec, t1 = score(cfg_more, ds, unlabeled=[str(f) for f in files])
            vec, vec_rec, t2 = score(with_vectors, ds)
            rows.append({"dataset": name, "default": base, "unlabeled": more, "vectors": vec,
                         "recurrent": {"default": base_rec, "unlabeled": more_rec, "vectors": vec_rec},
                         "seconds": [round(t0, 1), round(t1, 1), round(t2, 1)], "unlabeled_note": note})
            print(f"  default {base:.4f}  +unlabeled {more:.4f}  +vectors {vec:.4f}", file=sys.stderr, flush=True)
    lines = [f"{'dataset':<22}{'default':>9}{'+unlabeled':>12}{'delta':>9}{'+vectors':>10}{'delta':>9}"
             f"   recurrent branch alone: default / +unlabeled / +vectors   train s", "-" * 130]
    for r in rows:
        rec = r["recurrent"]
        lines.append(f"{r['dataset']:<22}{r['default']:>9.4f}{r['unlabeled']:>12.4f}{r['unlabeled'] - r['default']:>+9.4f}"
                     f"{r['vectors']:>10.4f}{r['vectors'] - r['default']:>+9.4f}   "
                     f"{rec['default']:.4f} / {rec['unlabeled']:.4f} / {rec['vectors']:.4f}{'':>26}"
                     + " / ".join(f"{s:.0f}" for s in r["seconds"]))
    for key, label in (("unlabeled", "+unlabeled"), ("vectors", "+vectors (IMDB file)")):
        wins = sum(r[key] - r["default"] >= GAIN for r in rows)
        worst = min((r[key] - r["default"] for r in rows), default=0.0)
        lines.append(f"{'PASS' if wins >= MIN_WINS else 'FAIL'}  {label}: >= +{GAIN:.2f} on at least {MIN_WINS} "
                     f"datasets: {wins} of {len(rows)}")
        lines.append(f"{'PASS' if worst >= -MAX_LOSS else 'FAIL'}  {label}: no loss over {MAX_LOSS:.3f}: "
                     f"worst {worst:+.4f}")
    print("\n".join(lines))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_unlabeled.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
