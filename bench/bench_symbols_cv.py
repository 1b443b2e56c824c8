"""Does keeping "!", "?", emoticons and emoji as words lift the linear (n-gram) branch? 5-fold CV.

Keras' Tokenizer filters turn "!", "?" and the characters of ":)" into separators and glue an emoji
to the word beside it, so "loved it!!! :)" reads as "loved it". `tokenizer.symbols` (on by default,
off in lecture.yaml) takes them out first as words of their own. This script measured that choice
before it became the default, with bench_subword_cv.py's scikit-learn stand-in for the wide branch
(1-2 gram TF-IDF of the tokenizer's words, the average of a plain and an NB-weighted L2 logistic
regression, one-vs-rest for K >= 3 classes; with the character n-gram block and C=2 on the short
texts, where model.wide_subwords: auto turns it on, words alone and C=4 on the reviews), 5-fold
stratified CV on each dev dataset's training rows (at most 6,000 of them; test rows never read):

- keras: the tokenizer's words as Keras splits them (strip_html on, symbols off);
- symbols: the same with symbols on.

About 6 minutes on 2 cores without IMDB. Output and what it says: README, "How the settings were
chosen". `--speed` instead times the splitting alone (Tokenizer.words on every text, median of 5
passes) on SemEval's 2016 test tweets and the bundled IMDB test reviews, symbols on against off: its
cost on the predict path, where splitting is most of the Python work.

    python bench/bench_symbols_cv.py [--only NAME ...]
    python bench/bench_symbols_cv.py --speed
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench_datasets as bd  # noqa: E402
import bench_subword_cv as bs  # noqa: E402

from sentiment_cli.tokenizer import Tokenizer  # noqa: E402

SPLITTERS = {"keras": Tokenizer(strip_html=True), "symbols": Tokenizer(strip_html=True, symbols=True)}
SHORT = ("semeval_binary", "phrasebank_binary", "semeval_3class", "phrasebank_3class")
SPEED_REPEATS = 5


def speed(datasets_dir: Path) -> int:
    """Texts split per second with symbols off and on, and their ratio."""
    corpora = {"semeval 2016 test tweets": datasets_dir / "semeval2016_task4a_twitter_test.csv.gz",
               "imdb test reviews": bd.ROOT / "data" / "imdb_test.csv.gz"}
    print(f"{'texts (Tokenizer.words, median of ' + str(SPEED_REPEATS) + ')':<44}{'rows':>8}{'keras/s':>11}"
          f"{'symbols/s':>11}{'ratio':>8}")
    for name, path in corpora.items():
        texts = bd.read_frame(path)["text"].tolist()
        rate = {}
        for tag, tok in SPLITTERS.items():
            seconds = []
            for _ in range(SPEED_REPEATS):
                start = time.perf_counter()
                for text in texts:
                    tok.words(text)
                seconds.append(time.perf_counter() - start)
            rate[tag] = len(texts) / float(np.median(seconds))
        print(f"{name:<44}{len(texts):>8,}{rate['keras']:>11,.0f}{rate['symbols']:>11,.0f}"
              f"{rate['symbols'] / rate['keras']:>8.2f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    names = [n for n in bd.DATASETS if n != "imdb"]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", choices=list(bd.DATASETS), default=names, metavar="NAME")
    ap.add_argument("--datasets-dir", type=Path, default=bd.DEFAULT_DATASETS_DIR)
    ap.add_argument("--speed", action="store_true", help="Time the splitting alone instead.")
    args = ap.parse_args(argv)
    if args.speed:
        return speed(args.datasets_dir)

    t0 = time.time()
    rows = {}
    print(f"{'dataset (5-fold CV, training rows)':<38}{'keras':>17}{'symbols':>20}{'delta':>9}")
    print(f"{'':<38}{'acc':>8}{'log loss':>9}{'acc':>11}{'log loss':>9}")
    print("-" * 83)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only:
            ds = bd.load_dataset(name, args.datasets_dir, Path(tmp))
            train = bd.subset(ds.train, bs.ROWS)
            texts, y, k = list(train.texts), np.asarray(train.y).astype(int), train.encoding.n_classes
            short = name in SHORT
            r = {}
            for tag, tok in SPLITTERS.items():
                out = bs.cross_validate(texts, y, k, 2.0 if short else bs.C, split=tok.words)
                r[tag] = out["words + subwords" if short else "words"]
            rows[name] = r
            print(f"{name:<38}{r['keras']['accuracy']:>8.4f}{r['keras']['log_loss']:>9.4f}"
                  f"{r['symbols']['accuracy']:>11.4f}{r['symbols']['log_loss']:>9.4f}"
                  f"{r['symbols']['accuracy'] - r['keras']['accuracy']:>+9.4f}", flush=True)
    print("-" * 83)
    mean = {t: {m: float(np.mean([r[t][m] for r in rows.values()])) for m in ("accuracy", "log_loss")} for t in SPLITTERS}
    print(f"{'mean (' + str(len(rows)) + ')':<38}{mean['keras']['accuracy']:>8.4f}{mean['keras']['log_loss']:>9.4f}"
          f"{mean['symbols']['accuracy']:>11.4f}{mean['symbols']['log_loss']:>9.4f}"
          f"{mean['symbols']['accuracy'] - mean['keras']['accuracy']:>+9.4f}")
    better = sum(r["symbols"]["accuracy"] > r["keras"]["accuracy"] for r in rows.values())
    lower = sum(r["symbols"]["log_loss"] < r["keras"]["log_loss"] for r in rows.values())
    print(f"symbols more accurate on {better} of {len(rows)}, lower log loss on {lower}; {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
