"""Issue 12: can unlabelled text lift the n-gram branch through word neighbours? 5-fold CV.

bench_unlabeled_wide.py found no use of the unlabelled texts in the linear branch within 0.3
points (idf, self-training, LSA). This one tries query-expansion-style feature smoothing: word
vectors (the project's PPMI-SVD, 100 dimensions, window 10, over the labelled and unlabelled
texts, words seen at least 5 times) give each unigram column its 10 nearest words among the
columns (cosine, negative similarities clipped to 0) as a sparse matrix S; each text's TF-IDF row
x becomes x + a * x S, so a word seen only in test texts, or rarely in training, lends its weight
to the neighbours the model did learn. The map is linear (no renormalisation), so a model fitted
on the expanded rows folds into one weight per column, (I + a S) w: it would fit the existing
graph. A control builds S from vectors of the labelled texts alone (words seen at least twice),
to tell the unlabelled texts' share from the smoothing's. The stand-in for the branch and the
unlabelled pools are bench_unlabeled_wide.py's and bench_unlabeled.py's; test rows are never read.
Two more cases test whether a pool close to the labelled texts is what makes it help: imdb_1600,
1,600 seeded rows of the bundled IMDB training file labelled and 20,000 others of it as the pool
(the test file is not read), and `--blitzer-pool others`, a Blitzer domain's pool without the IMDB
reviews (the other three domains' 6,000). About 7 minutes for the default run on 2 cores. Output
and what it says: README, "Does text without labels help?".

    python bench/bench_unlabeled_expansion.py [--only blitzer_books ... imdb_1600] [--blitzer-pool others]
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
import bench_unlabeled as bu  # noqa: E402
from bench_unlabeled_wide import Mix, read_pool  # noqa: E402

from sentiment_cli.baseline import words as split_words  # noqa: E402
from sentiment_cli.word_vectors import ppmi_svd  # noqa: E402

FOLDS, SEED, DIM, WINDOW, NEIGHBOURS = 5, 0, 100, 10, 10
IMDB_SMALL, IMDB_LABELLED, IMDB_POOL = "imdb_1600", 1_600, 20_000
NAMES = [*bu.DATASETS, IMDB_SMALL]
ALPHAS, CONTROL_ALPHA = (0.3, 0.6, 1.0), 0.3


def word_vectors(texts: list[str], min_count: int) -> tuple[dict[str, int], np.ndarray]:
    """(word -> row, unit-length PPMI-SVD vectors) of the words of `texts` seen min_count times."""
    vocab: dict[str, int] = {}
    seqs = [[vocab.setdefault(w, len(vocab) + 1) for w in split_words(t)] for t in texts]
    counts = np.bincount(np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs if s]),
                         minlength=len(vocab) + 1)
    keep = counts >= min_count
    keep[0] = False
    remap = np.cumsum(keep) * keep  # kept words renumbered from 1; 0: dropped
    vec = ppmi_svd([[int(remap[i]) for i in s if remap[i]] for s in seqs], int(remap.max()) + 1, DIM,
                   window=WINDOW, seed=SEED, max_tokens=None)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True) + 1e-9
    return {w: int(remap[i]) for w, i in vocab.items() if remap[i]}, vec


def neighbour_matrix(columns: np.ndarray, row_of: dict[str, int], vec: np.ndarray):
    """(columns x columns) sparse S: each unigram column's NEIGHBOURS most similar unigram columns."""
    from scipy.sparse import csr_matrix

    uni = np.array([i for i, f in enumerate(columns) if " " not in f and f in row_of])
    v = vec[[row_of[columns[i]] for i in uni]]
    sim = v @ v.T
    np.fill_diagonal(sim, -1.0)
    nn = np.argpartition(-sim, NEIGHBOURS, axis=1)[:, :NEIGHBOURS]
    vals = np.take_along_axis(sim, nn, 1).clip(0)
    return csr_matrix((vals.ravel(), (np.repeat(uni, NEIGHBOURS), uni[nn.ravel()])),
                      shape=(len(columns), len(columns)))


def labelled_and_pool(name: str, datasets_dir: Path, blitzer_pool: str) -> tuple[list[str], np.ndarray, list[str]]:
    """(training texts, their 0/1 labels, unlabelled texts) of dataset `name`."""
    if name == IMDB_SMALL:  # in-domain: labelled rows and pool from the same file, disjoint
        frame = bd.read_frame(bu.IMDB[0])
        order = np.random.default_rng(SEED).permutation(len(frame))
        texts = frame["text"].to_numpy()
        y = (frame["label"].astype(str) == bd.POSITIVE).to_numpy().astype(int)
        lab, pool = order[:IMDB_LABELLED], order[IMDB_LABELLED:IMDB_LABELLED + IMDB_POOL]
        return [str(t) for t in texts[lab]], y[lab], [str(t) for t in texts[pool]]
    tmp = Path(tempfile.mkdtemp())
    ds = bd.load_dataset(name, datasets_dir, tmp)
    files = bu.unlabeled_for(name, datasets_dir, tmp)[0]
    if blitzer_pool == "others":
        files = [f for f in files if f not in bu.IMDB]
    return list(ds.train.texts), np.asarray(ds.train.y).astype(int), read_pool(files)


def run(name: str, datasets_dir: Path, blitzer_pool: str) -> dict[str, float]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold

    t0 = time.time()
    texts, y, pool = labelled_and_pool(name, datasets_dir, blitzer_pool)
    tf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=300_000, sublinear_tf=True,
                         tokenizer=split_words, lowercase=False, token_pattern=None).fit(texts)
    a = tf.transform(texts).tocsr()
    columns = tf.get_feature_names_out()
    expanded = {}
    for source, corpus, min_count, alphas in (("labelled + unlabelled", texts + pool, 5, ALPHAS),
                                              ("labelled only", texts, 2, (CONTROL_ALPHA,))):
        s = neighbour_matrix(columns, *word_vectors(corpus, min_count))
        for alpha in alphas:
            expanded[f"a={alpha}, vectors of {source}"] = (a + alpha * (a @ s)).tocsr()
    print(f"{name}: {len(texts)} labelled, {len(pool)} unlabelled texts; features in {time.time() - t0:.0f} s",
          flush=True)
    hits: dict[str, list[bool]] = {}
    for tr, te in StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(a, y):
        for key, x in {"base": a, **expanded}.items():
            hits.setdefault(key, []).extend((Mix(x[tr], y[tr]).logits(x[te]) > 0) == y[te])
    return {k: float(np.mean(h)) for k, h in hits.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", choices=NAMES, default=NAMES, metavar="NAME")
    ap.add_argument("--datasets-dir", type=Path, default=bd.DEFAULT_DATASETS_DIR)
    ap.add_argument("--blitzer-pool", choices=("others+imdb", "others"), default="others+imdb",
                    help="A Blitzer domain's unlabelled texts: the other domains' and the IMDB reviews "
                    "(bench_unlabeled.py's pool), or the other domains' alone.")
    args = ap.parse_args(argv)
    results = {name: run(name, args.datasets_dir, args.blitzer_pool) for name in args.only}
    keys = list(next(iter(results.values())))
    print(f"\n{'variant (' + str(FOLDS) + '-fold CV, training rows)':<44}"
          + "".join(f"{n.removeprefix('blitzer_')[:11]:>12}" for n in results))
    print("-" * (44 + 12 * len(results)))
    for key in keys:
        cells = [results[n][key] - (0 if key == "base" else results[n]["base"]) for n in results]
        print(f"{key:<44}" + "".join(f"{c:>12.4f}" if key == "base" else f"{c:>+12.4f}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
